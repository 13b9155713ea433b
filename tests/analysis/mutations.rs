//! The fuzzers' stable, bounded cousin, run in CI: seeded mutations of valid files of every
//! format (`tests/fixtures/seeds/`, made by `tests/fixtures/bad/make_bad.py`): truncation at
//! many offsets, byte and bit flips, inflated length fields (binary integers and decimal
//! numbers in headers), deleted and repeated spans. Every reader must return `Ok` or a clean
//! `Err` on each: no panic, and no case may take more than a few seconds (a watchdog aborts
//! the run and names the case). Also replays every input the cargo-fuzz runs found
//! (`tests/fixtures/fuzz/<target>/`).

use crate::harness::Reader;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Random mutations per seed file, on top of the systematic truncations.
const MUTATIONS_PER_SEED: usize = 400;
/// Longest a single case may run before the watchdog calls it a hang.
const CASE_LIMIT: Duration = Duration::from_secs(10);

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The seed directory of each reader.
fn seeds_of(reader: Reader) -> &'static str {
    match reader {
        Reader::Safetensors => "safetensors",
        Reader::Npy => "npy",
        Reader::Npz => "npz",
        Reader::Torch => "torch",
        Reader::Idx => "idx",
        Reader::IdxGz => "idx_gz",
        Reader::Cifar10 => "cifar10",
        Reader::Cifar100 => "cifar100",
        Reader::AccuracyCsv => "accuracy_csv",
        Reader::Sidecar => "sidecar",
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// Large values a forged length field holds.
const INFLATED: [u64; 6] = [0xFFFF_FFFF, 0x7FFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 1 << 40, 1_000_000_000_000, 65_536];

/// One seeded mutation of `seed`, and what it did (to name a failing case).
fn mutate(seed: &[u8], rng: &mut ChaCha8Rng) -> (Vec<u8>, String) {
    let mut data = seed.to_vec();
    if data.is_empty() {
        return (data, "empty".into());
    }
    let at = rng.random_range(0..data.len());
    match rng.random_range(0..7) {
        0 => {
            let n = rng.random_range(1..=4);
            for _ in 0..n {
                let i = rng.random_range(0..data.len());
                data[i] = rng.random();
            }
            (data, format!("{n} random bytes from about {at}"))
        }
        1 => {
            data[at] ^= 1 << rng.random_range(0..8);
            (data, format!("a bit flipped at {at}"))
        }
        2 => {
            // A binary length field: 4 or 8 bytes, either endianness.
            let value = INFLATED[rng.random_range(0..INFLATED.len())];
            let width = if rng.random() { 4 } else { 8 };
            let bytes = if rng.random() { value.to_le_bytes() } else { value.to_be_bytes() };
            let end = (at + width).min(data.len());
            let src = if bytes[0] == 0 { &bytes[8 - width..] } else { &bytes[..width] };
            data[at..end].copy_from_slice(&src[..end - at]);
            (data, format!("{width}-byte field {value:#x} at {at}"))
        }
        3 => {
            // A decimal number in a text header (a JSON shape or offset, a .npy shape).
            let digits: Vec<usize> = (0..data.len()).filter(|&i| data[i].is_ascii_digit()).collect();
            let Some(&start) = digits.get(rng.random_range(0..digits.len().max(1))) else {
                return (data, "no digits".into());
            };
            let len = data[start..].iter().take_while(|b| b.is_ascii_digit()).count();
            let value = INFLATED[rng.random_range(0..INFLATED.len())].to_string();
            data.splice(start..start + len, value.bytes());
            (data, format!("number at {start} set to {value}"))
        }
        4 => {
            let len = rng.random_range(1..=64.min(data.len() - at));
            data.drain(at..at + len);
            (data, format!("{len} bytes deleted at {at}"))
        }
        5 => {
            let len = rng.random_range(1..=64.min(data.len() - at));
            let span = data[at..at + len].to_vec();
            data.splice(at..at, span);
            (data, format!("{len} bytes repeated at {at}"))
        }
        _ => {
            data.truncate(at);
            (data, format!("truncated at {at}"))
        }
    }
}

/// Truncation points: every offset of a small file, else the first 64, the last 64 and 64
/// spread between.
fn truncations(len: usize) -> Vec<usize> {
    if len <= 512 {
        return (0..len).collect();
    }
    let mut points: Vec<usize> =
        (0..64).chain(len - 64..len).chain((0..64).map(|i| 64 + i * (len - 128) / 64)).collect();
    points.sort_unstable();
    points.dedup();
    points
}

/// Runs `reader` on every case, each under the watchdog; returns the cases that panicked.
fn run_cases(reader: Reader, cases: impl Iterator<Item = (Vec<u8>, String)>) -> (usize, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let started = Arc::new(AtomicU64::new(0));
    let current = Arc::new(Mutex::new(String::new()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let epoch = Instant::now();
    let watchdog = {
        let (started, current, done) = (started.clone(), current.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let since = started.load(Ordering::Relaxed);
                if since > 0
                    && (epoch.elapsed().as_millis() as u64).saturating_sub(since) > CASE_LIMIT.as_millis() as u64
                {
                    eprintln!("{reader:?}: a case ran over {CASE_LIMIT:?} (a hang): {}", current.lock().unwrap());
                    std::process::abort();
                }
            }
        })
    };
    let mut failures = Vec::new();
    let mut count = 0;
    for (bytes, what) in cases {
        *current.lock().unwrap() = what.clone();
        started.store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        if catch_unwind(AssertUnwindSafe(|| reader.run_bytes(dir.path(), &bytes))).is_err() {
            failures.push(format!("{reader:?} panicked on {what}"));
        }
        started.store(0, Ordering::Relaxed);
        count += 1;
    }
    done.store(true, Ordering::Relaxed);
    watchdog.join().unwrap();
    (count, failures)
}

fn mutations_of(reader: Reader) {
    let seeds = files_in(&fixture_dir("seeds").join(seeds_of(reader)));
    assert!(!seeds.is_empty(), "{reader:?} has seeds");
    let mut cases: Vec<(Vec<u8>, String)> = Vec::new();
    for (i, path) in seeds.iter().enumerate() {
        let seed = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The seed itself must read: a mutation test of files no reader accepts tests nothing.
        // Seeds named `refused_*` are files the reader must refuse (a pickle naming code).
        let read = reader.run_bytes(tempfile::tempdir().unwrap().path(), &seed);
        assert_eq!(read.is_ok(), !name.starts_with("refused_"), "seed {name}: {read:?}");
        for at in truncations(seed.len()) {
            cases.push((seed[..at].to_vec(), format!("{name} truncated at {at}")));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0000 + i as u64);
        for k in 0..MUTATIONS_PER_SEED {
            // Some mutations stack, as a damaged file's faults do.
            let (mut data, mut what) = mutate(&seed, &mut rng);
            if k % 4 == 3 {
                let (again, also) = mutate(&data, &mut rng);
                (data, what) = (again, format!("{what}, then {also}"));
            }
            cases.push((data, format!("{name}: {what} (seed {i}, mutation {k})")));
        }
    }
    let (count, failures) = run_cases(reader, cases.into_iter());
    assert!(failures.is_empty(), "{} of {count} cases panicked:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn safetensors_survives_mutations() {
    mutations_of(Reader::Safetensors);
}

#[test]
fn npy_survives_mutations() {
    mutations_of(Reader::Npy);
}

#[test]
fn npz_survives_mutations() {
    mutations_of(Reader::Npz);
}

#[test]
fn torch_survives_mutations() {
    mutations_of(Reader::Torch);
}

#[test]
fn idx_survives_mutations() {
    mutations_of(Reader::Idx);
    mutations_of(Reader::IdxGz);
}

#[test]
fn cifar_survives_mutations() {
    mutations_of(Reader::Cifar10);
    mutations_of(Reader::Cifar100);
}

#[test]
fn sweep_inputs_survive_mutations() {
    mutations_of(Reader::AccuracyCsv);
    mutations_of(Reader::Sidecar);
}

/// Every input a cargo-fuzz run found (`tests/fixtures/fuzz/<target>/<file>`), replayed the
/// way its target feeds it.
#[test]
fn fuzz_findings_stay_fixed() {
    let root = fixture_dir("fuzz");
    let Ok(targets) = std::fs::read_dir(&root) else { return };
    let mut failures = Vec::new();
    let mut count = 0;
    for target in targets {
        let target = target.unwrap().path();
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        for input in files_in(&target).into_iter().filter(|p| p.extension().is_none_or(|e| e != "md")) {
            let data = std::fs::read(&input).unwrap();
            let cases = fuzz_cases(&name, &data);
            for (reader, bytes) in cases {
                let what = format!("{}", input.display());
                let (n, f) = run_cases(reader, std::iter::once((bytes, what)));
                count += n;
                failures.extend(f);
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} fuzz findings fail again:\n{}", failures.len(), failures.join("\n"));
}

/// What a fuzz target feeds its reader(s) for `data`: the same dispatch as `fuzz/fuzz_targets`.
fn fuzz_cases(target: &str, data: &[u8]) -> Vec<(Reader, Vec<u8>)> {
    let split = data.split_first().map(|(&m, rest)| (m, rest.to_vec()));
    match (target, split) {
        ("safetensors", _) => vec![(Reader::Safetensors, data.to_vec())],
        ("npy", _) => vec![(Reader::Npy, data.to_vec())],
        ("npz", _) => vec![(Reader::Npz, data.to_vec())],
        ("torch", _) => vec![(Reader::Torch, data.to_vec())],
        ("idx", Some((mode, rest))) => match mode % 3 {
            0 => vec![(Reader::Idx, rest)],
            1 => {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&rest).unwrap();
                vec![(Reader::IdxGz, gz.finish().unwrap())]
            }
            _ => vec![(Reader::IdxGz, rest)],
        },
        ("cifar", Some((mode, rest))) => vec![(if mode % 2 == 0 { Reader::Cifar10 } else { Reader::Cifar100 }, rest)],
        ("sweep_inputs", Some((mode, rest))) => {
            vec![(if mode % 2 == 0 { Reader::AccuracyCsv } else { Reader::Sidecar }, rest)]
        }
        (_, None) => vec![],
        (other, _) => panic!("tests/fixtures/fuzz/{other}: no such fuzz target"),
    }
}

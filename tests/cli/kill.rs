//! A child process writing outputs is killed (SIGKILL) at seeded random moments, 100 times in
//! all: `maskspec analyze --json --csv --summary-csv` with a cache over a small sweep, and
//! `maskspec train --out`. After each kill every output must be absent, the old version (a
//! previous run's file left in place), or complete and valid: byte for byte what an
//! uninterrupted run writes, or for the growing `log.csv` and `spectra.csv` a prefix of them. What else is left
//! must be a temporary (`.NAME.PID.tmp`) that no reader or walk takes for output.
//!
//! Interrupted instead (SIGINT, SIGTERM), the same must hold and no temporary is left: the
//! binary removes its own before it exits with 130.

#![cfg(unix)]

use maskspec::checkpoint::{self, LayerFilter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KILLS_PER_COMMAND: usize = 50;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Every file under `dir` (relative path → bytes).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn is_temporary(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Runs to completion; panics on failure.
fn run(args: &[OsString]) -> Duration {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_maskspec")).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    start.elapsed()
}

/// Starts the command and SIGKILLs it after `delay` (if it is still running).
fn run_and_kill(args: &[OsString], delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    child.wait().unwrap();
    killed
}

/// Checks one output directory after a kill against the complete outputs (`new`) and what
/// was there before (`old`); `growing` files may also hold a prefix of their lines.
fn check_outputs(
    dir: &Path,
    old: &BTreeMap<PathBuf, Vec<u8>>,
    new: &BTreeMap<PathBuf, Vec<u8>>,
    growing: &[&str],
    what: &str,
) -> usize {
    let mut temporaries = 0;
    for (path, bytes) in snapshot(dir) {
        if is_temporary(&path) {
            temporaries += 1;
            continue;
        }
        let ok = old.get(&path) == Some(&bytes)
            || new.get(&path).is_some_and(|full| same_output(&path, &bytes, full))
            || (growing.iter().any(|g| path.ends_with(g))
                && new.get(&path).is_some_and(|full| is_line_prefix(&bytes, full)));
        assert!(ok, "{what}: {} is neither absent, the old version nor a complete one", path.display());
    }
    temporaries
}

/// The same output, for a JSON report up to how many checkpoints came from the cache (an
/// old run's cache entries are valid for the new run).
fn same_output(path: &Path, bytes: &[u8], full: &[u8]) -> bool {
    if bytes == full {
        return true;
    }
    let json = |b: &[u8]| {
        let mut v: serde_json::Value = serde_json::from_slice(b).ok()?;
        let object = v.as_object_mut()?;
        object.remove("analyzed");
        object.remove("cached");
        Some(v)
    };
    path.extension().is_some_and(|e| e == "json")
        && !path.starts_with("cache")
        && json(bytes).is_some_and(|v| Some(v) == json(full))
}

/// `part` is `full` cut after one of its lines (and holds at least the header line).
fn is_line_prefix(part: &[u8], full: &[u8]) -> bool {
    full.starts_with(part) && part.ends_with(b"\n") && part.contains(&b'\n')
}

/// Starts the command, sends it `signal` (INT, TERM) after `delay`, and returns its exit
/// code if it was still running when the signal was sent.
fn run_and_interrupt(args: &[OsString], delay: Duration, signal: &str) -> Option<Option<i32>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    let sent = Command::new("kill").args(["-s", signal, &child.id().to_string()]).status().unwrap().success();
    let status = child.wait().unwrap();
    (running && sent).then_some(status.code())
}

/// A small sweep of six checkpoints under `dir`.
fn analyze_sweep(dir: &Path) -> PathBuf {
    let sweep = dir.join("sweep");
    for (name, to) in [
        ("golden/random_linear.safetensors", "a/step_1.safetensors"),
        ("golden/erk_model.safetensors", "a/step_2.safetensors"),
        ("golden/conv.safetensors", "b/step_1.safetensors"),
        ("golden/biregular.safetensors", "b/step_2.safetensors"),
        ("golden/random_linear.npz", "c/step_1.npz"),
        ("torch/nested_net.pt", "c/step_2.pt"),
    ] {
        std::fs::create_dir_all(sweep.join(to).parent().unwrap()).unwrap();
        std::fs::copy(fixture(name), sweep.join(to)).unwrap();
    }
    sweep
}

/// `analyze` writing all three outputs and a cache under `out`.
fn analyze_args(out: &Path, input: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["analyze".into(), "--quiet".into(), "--threads".into(), "2".into()];
    for (flag, file) in [("--json", "out.json"), ("--csv", "layers.csv"), ("--summary-csv", "summary.csv")] {
        args.push(flag.into());
        args.push(out.join(file).into());
    }
    args.extend(["--cache-dir".into(), out.join("cache").into(), input.into()]);
    args
}

#[test]
fn interrupted_analyze_leaves_old_or_complete_outputs_and_no_temporary() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = analyze_sweep(tmp.path());
    let reference = tmp.path().join("reference");
    let duration = run(&analyze_args(&reference, &sweep));
    let new = snapshot(&reference);
    let mut rng = ChaCha8Rng::seed_from_u64(83);
    let mut interrupted = 0;
    for i in 0..20 {
        let out = tmp.path().join(format!("run{i}"));
        let delay = duration.mul_f64(rng.random_range(0.0..0.8));
        let signal = if i % 2 == 0 { "INT" } else { "TERM" };
        let code = run_and_interrupt(&analyze_args(&out, &sweep), delay, signal);
        let what = format!("SIG{signal} {i} after {delay:?}");
        assert_eq!(check_outputs(&out, &BTreeMap::new(), &new, &[], &what), 0, "{what}: a temporary was left");
        match code {
            Some(Some(130)) => interrupted += 1,
            // The run finished between the check that it was running and the signal.
            Some(Some(0)) => assert_eq!(snapshot(&out).len(), new.len(), "{what}: exit 0 with outputs missing"),
            // The signal came before main installed its handler (a start slowed by load): the
            // default action ended the process before it could write anything.
            Some(None) => assert!(snapshot(&out).is_empty(), "{what}: killed by the signal after writing"),
            Some(other) => panic!("{what}: exit {other:?}, not 130"),
            None => {}
        }
        std::fs::remove_dir_all(&out).ok();
    }
    assert!(interrupted >= 5, "only {interrupted} of 20 runs were still running when interrupted");
}

#[test]
fn killed_analyze_leaves_old_or_complete_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = analyze_sweep(tmp.path());
    let args = analyze_args;
    // The complete outputs, and the old ones (a run over one file) left by an earlier run.
    let reference = tmp.path().join("reference");
    let duration = run(&args(&reference, &sweep));
    let old_dir = tmp.path().join("old");
    run(&args(&old_dir, &sweep.join("a/step_1.safetensors")));
    let (new, old) = (snapshot(&reference), snapshot(&old_dir));
    assert_eq!(new.len(), 3 + 6, "three outputs and one cache entry per checkpoint: {:?}", new.keys());

    let mut rng = ChaCha8Rng::seed_from_u64(81);
    let (mut killed, mut mid_write) = (0, 0);
    for i in 0..KILLS_PER_COMMAND {
        let out = tmp.path().join(format!("run{i}"));
        let before = if i % 2 == 0 {
            std::fs::create_dir_all(&out).unwrap();
            for (path, bytes) in &old {
                std::fs::create_dir_all(out.join(path).parent().unwrap()).unwrap();
                std::fs::write(out.join(path), bytes).unwrap();
            }
            old.clone()
        } else {
            BTreeMap::new()
        };
        let delay = duration.mul_f64(rng.random_range(0.0..0.8));
        killed += run_and_kill(&args(&out, &sweep), delay) as usize;
        mid_write += (check_outputs(&out, &before, &new, &[], &format!("kill {i} after {delay:?}")) > 0) as usize;
        // A later run over the same outputs and cache finishes with the complete outputs.
        if i % 10 == 9 {
            run(&args(&out, &sweep));
            let after = snapshot(&out);
            assert!(
                !after.keys().any(|p| is_temporary(p)),
                "rerun after kill {i} left temporaries: {:?}",
                after.keys()
            );
            assert_eq!(after.keys().collect::<Vec<_>>(), new.keys().collect::<Vec<_>>());
            for (path, bytes) in &after {
                assert!(same_output(path, bytes, &new[path]), "rerun after kill {i}: {}", path.display());
            }
        }
        std::fs::remove_dir_all(&out).ok();
    }
    eprintln!("analyze: {killed} of {KILLS_PER_COMMAND} runs killed while running, {mid_write} of them mid-write");
    assert!(killed >= KILLS_PER_COMMAND / 3, "only {killed} of the runs were still running when killed");
}

#[test]
fn killed_training_leaves_old_or_complete_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |out: &Path, seed: u64| -> Vec<OsString> {
        [
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "6",
            "--checkpoint-every",
            "1",
            "--threads",
            "1",
            "--width",
            "64",
            "--seed",
        ]
        .iter()
        .map(OsString::from)
        .chain([seed.to_string().into(), "--out".into(), out.into()])
        .collect()
    };
    let reference = tmp.path().join("reference");
    let duration = run(&args(&reference, 1));
    let old_dir = tmp.path().join("old");
    run(&args(&old_dir, 2));
    let (new, old) = (snapshot(&reference), snapshot(&old_dir));
    assert_eq!(new.len(), 7 + 2, "seven checkpoints, log.csv and spectra.csv: {:?}", new.keys());
    assert_ne!(new, old);

    let mut rng = ChaCha8Rng::seed_from_u64(82);
    let (mut killed, mut mid_write) = (0, 0);
    for i in 0..KILLS_PER_COMMAND {
        let out = tmp.path().join(format!("run{i}"));
        let before = if i % 2 == 0 {
            std::fs::create_dir_all(&out).unwrap();
            for (path, bytes) in &old {
                std::fs::write(out.join(path), bytes).unwrap();
            }
            old.clone()
        } else {
            BTreeMap::new()
        };
        let delay = duration.mul_f64(rng.random_range(0.0..0.8));
        killed += run_and_kill(&args(&out, 1), delay) as usize;
        let what = format!("kill {i} after {delay:?}");
        mid_write += (check_outputs(&out, &before, &new, &["log.csv", "spectra.csv"], &what) > 0) as usize;
        // What analyze would pick up from the directory is only complete checkpoints.
        if out.exists() {
            for file in checkpoint::find_checkpoints(std::slice::from_ref(&out)).unwrap().checkpoints {
                assert!(!is_temporary(&file), "{what}: the walk took {} for a checkpoint", file.display());
                let source = checkpoint::open(&file).unwrap_or_else(|e| panic!("{what}: {e}"));
                for spec in checkpoint::discover_layers(source.as_ref(), &LayerFilter::default()).unwrap() {
                    checkpoint::load_layer(source.as_ref(), &spec).unwrap_or_else(|e| panic!("{what}: {e}"));
                }
            }
        }
        std::fs::remove_dir_all(&out).ok();
    }
    eprintln!("train: {killed} of {KILLS_PER_COMMAND} runs killed while running, {mid_write} of them mid-write");
    assert!(killed >= KILLS_PER_COMMAND / 3, "only {killed} of the runs were still running when killed");
}

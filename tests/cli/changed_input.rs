//! A checkpoint rewritten in place or truncated by another process while `maskspec analyze`
//! reads it (a training job saving over it, a copy in progress). The process must never die
//! of it (a memory-mapped reader gets SIGBUS), and its numbers must be those of one whole
//! version of the file: either version's report, or an error saying the file changed.

#![cfg(unix)]

use maskspec::checkpoint::safetensors::{write, TensorBytes};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Twelve 384×384 layers at 80% sparsity, every value and mask from `seed`.
fn checkpoint(path: &Path, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = 384 * 384;
    let tensors: Vec<(String, TensorBytes)> = (0..12)
        .flat_map(|i| {
            let weight: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mask: Vec<bool> = (0..n).map(|_| rng.random_bool(0.2)).collect();
            [
                (format!("fc{i}.weight"), TensorBytes::f32(vec![384, 384], &weight)),
                (format!("fc{i}.weight_mask"), TensorBytes::mask_u8(vec![384, 384], &mask)),
            ]
        })
        .collect();
    write(path, &tensors, &BTreeMap::new()).unwrap();
}

fn analyze(file: &Path, json: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["analyze", "--quiet", "--no-cache", "--threads", "2", "--json"])
        .arg(json)
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The report's layers (without the run's timing).
fn layers(json: &Path) -> Value {
    let report: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    report["checkpoints"][0]["layers"].clone()
}

#[test]
fn a_file_changed_while_read_is_reported_as_changed_never_torn_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
    checkpoint(&a, 1);
    checkpoint(&b, 2);
    let (bytes_a, bytes_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(bytes_a.len(), bytes_b.len(), "the two versions share a header");

    let reference = |file: &Path, name: &str| {
        let json = dir.path().join(name);
        let start = Instant::now();
        let out = analyze(file, &json).wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (layers(&json), start.elapsed())
    };
    let (layers_a, duration) = reference(&a, "a.json");
    let (layers_b, _) = reference(&b, "b.json");
    assert_ne!(layers_a, layers_b);

    let target = dir.path().join("model.safetensors");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut changed = 0;
    for i in 0..16 {
        std::fs::write(&target, &bytes_a).unwrap();
        let json = dir.path().join(format!("run{i}.json"));
        let child = analyze(&target, &json);
        std::thread::sleep(duration.mul_f64(rng.random_range(0.05..0.7)));
        // In place, as a program that opens the file for writing without a rename does.
        let file = std::fs::OpenOptions::new().write(true).open(&target).unwrap();
        let truncate = i % 2 == 0;
        if truncate {
            file.set_len(bytes_a.len() as u64 / 3).unwrap();
        } else {
            // The data section, a few chunks at a time, as a slow writer would.
            for (k, chunk) in bytes_b.chunks(1 << 20).enumerate() {
                file.write_all_at(chunk, (k << 20) as u64).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            (&file).flush().unwrap();
        }
        let Output { status, stderr, .. } = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&stderr);
        let what = format!("run {i} ({}): {stderr}", if truncate { "truncated" } else { "rewritten" });
        assert!(status.code().is_some(), "{what}: killed by a signal ({status})");
        match status.code() {
            Some(0) => {
                let got = layers(&json);
                assert!(got == layers_a || got == layers_b, "{what}: numbers from neither version");
            }
            Some(1) => {
                assert!(stderr.contains("changed while it was read"), "{what}");
                changed += 1;
            }
            code => panic!("{what}: exit {code:?}"),
        }
    }
    assert!(changed >= 4, "only {changed} of 16 runs saw the file change; the test does not test");
}

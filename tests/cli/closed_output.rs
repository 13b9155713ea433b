//! Output that cannot be written: stdout into a pipe nobody reads (`| head -1` once head is
//! gone), stderr into a full device (`2>/dev/full`). Nothing panics, the run finishes and
//! writes its files, and the exit code still says a file failed.

use maskspec::checkpoint::safetensors::{write, TensorBytes};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// A directory holding one good checkpoint and one that is not a checkpoint.
fn sweep(dir: &Path) {
    let w: Vec<f32> = (0..12 * 16).map(|i| if i % 3 == 0 { (i as f32 * 0.37).sin() } else { 0.0 }).collect();
    write(&dir.join("good.safetensors"), &[("fc.weight".into(), TensorBytes::f32(vec![12, 16], &w))], &BTreeMap::new())
        .unwrap();
    std::fs::write(dir.join("bad.safetensors"), b"not tensors").unwrap();
}

fn analyze(dir: &Path, json: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_maskspec"));
    command.args(["analyze", "--no-cache", "--json"]).arg(json).arg(dir);
    command
}

fn written_checkpoints(json: &Path) -> usize {
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    report["checkpoints"].as_array().unwrap().len()
}

#[test]
fn a_closed_stdout_ends_the_table_quietly_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let json = dir.path().join("out.json");
    // A pipe whose reading end is closed before the binary starts: every write is EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = analyze(dir.path(), &json).stdout(writer).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "the bad file still fails the run: {stderr}");
    assert!(stderr.contains("bad.safetensors") && stderr.contains("1 failed"), "{stderr}");
    assert_eq!(written_checkpoints(&json), 1);

    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["pipeline", "--print-config"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && out.status.success(), "{stderr}");
}

#[test]
fn a_full_stderr_loses_only_the_messages() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let json = dir.path().join("out.json");
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = analyze(dir.path(), &json).stdout(Stdio::piped()).stderr(full).output().unwrap();
    // A panic would be exit code 101, its message lost to the full device.
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fc.weight"));
    assert_eq!(written_checkpoints(&json), 1);
}

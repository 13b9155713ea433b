//! Where results go. Output that cannot be written: stdout into a pipe nobody reads (`| head -1`
//! once head is gone), stderr into a full device (`2>/dev/full`): nothing panics, the run
//! finishes and writes its files, and the exit code still says a file failed. Outputs that
//! would destroy an input are refused before any work.

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

#[test]
fn an_output_that_would_overwrite_an_input_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let good = dir.path().join("good.safetensors");
    let before = std::fs::read(&good).unwrap();
    let cases: [(Vec<&std::ffi::OsStr>, &str); 3] = [
        (vec!["analyze".as_ref(), "--json".as_ref(), good.as_os_str(), good.as_os_str()], "is an input of this run"),
        (vec!["analyze".as_ref(), "--csv".as_ref(), good.as_os_str(), dir.path().as_os_str()], "is a checkpoint"),
        (
            vec![
                "analyze".as_ref(),
                "--json".as_ref(),
                "a.out".as_ref(),
                "--csv".as_ref(),
                "a.out".as_ref(),
                good.as_os_str(),
            ],
            "two outputs",
        ),
    ];
    for (args, expect) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_maskspec")).current_dir(dir.path()).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect) && out.stdout.is_empty(), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read(&good).unwrap(), before, "the checkpoint is untouched");
    assert!(!dir.path().join("a.out").exists());

    let table = dir.path().join("table.csv");
    std::fs::write(&table, "checkpoint,accuracy,x\na,0.5,1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .arg("correlate")
        .arg(&table)
        .arg("--csv")
        .arg(&table)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is an input of this run"));
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "checkpoint,accuracy,x\na,0.5,1\n");
}

#[test]
fn a_pipeline_out_that_holds_other_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), "mine").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["pipeline", "--quiet", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a maskspec output"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["thesis.tex"], "nothing written beside it");
}

#[test]
fn an_unwritable_cache_is_one_warning_and_an_unwritable_output_is_refused_first() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    std::fs::remove_file(dir.path().join("bad.safetensors")).unwrap();
    let blocker = dir.path().join("a_file");
    std::fs::write(&blocker, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["analyze", "--quiet", "--cache-dir"])
        .arg(blocker.join("cache"))
        .arg(dir.path().join("good.safetensors"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a cache is an optimization, not a result: {stderr}");
    assert_eq!(stderr.matches("warning: cannot write the cache").count(), 1, "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["analyze", "--no-cache", "--json"])
        .arg(blocker.join("out.json"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write") && !stderr.contains("cannot read"), "{stderr}");
    assert!(out.stdout.is_empty(), "refused before the analysis");
}

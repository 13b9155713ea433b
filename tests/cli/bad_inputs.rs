//! `tests/fixtures/bad/`: every malformed file of `manifest.json` (made by the committed
//! `make_bad.py`) through the real `maskspec analyze`, with good files beside them; plus what
//! git cannot hold (a FIFO, a name that is not UTF-8, an empty directory named like a
//! checkpoint, a symlink loop), made here. Each bad file must give its one-line error naming
//! it, the good files must be analyzed, and the run must end (a timeout) within bounded memory
//! (an address-space limit) with exit code 1. The training-data and accuracy-table files of
//! the manifest go through their own readers.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad")
}

#[derive(Debug)]
struct Expected {
    file: String,
    reader: String,
    expect: String,
}

fn manifest() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    entries
        .iter()
        .map(|e| Expected {
            file: e["file"].as_str().unwrap().into(),
            reader: e["reader"].as_str().unwrap().into(),
            expect: e["expect"].as_str().unwrap().into(),
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs the binary under an address-space limit, killing it after `timeout`.
fn run_bounded(args: &[&std::ffi::OsStr], timeout: Duration) -> (Option<i32>, String, String) {
    // 1 GiB of address space: the whole run needs a few hundred MB; any reader allocating what
    // a header claims (4 GiB, 4 TB) fails and the test sees it.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_maskspec"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).unwrap();
        String::from_utf8_lossy(&s).into_owned()
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > timeout {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (out_reader.join().unwrap(), err_reader.join().unwrap());
    assert!(status.is_some(), "maskspec did not finish within {timeout:?}; stderr so far:\n{stderr}");
    (status.unwrap().code(), stdout, stderr)
}

#[cfg(unix)]
#[test]
fn analyze_reports_every_bad_file_and_analyzes_the_good_ones() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bad");
    copy_tree(&fixtures(), &dir);

    // What git cannot hold, each with the error it must give.
    let mut extra: Vec<(PathBuf, &str)> = Vec::new();
    let fifo = dir.join("fifo.safetensors");
    if Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        // Opening a FIFO blocks until a writer comes: it must be skipped, not opened.
        extra.push((fifo, "SKIPPED"));
    }
    let not_utf8 = dir.join(std::ffi::OsStr::from_bytes(b"name_\xff\xfe.safetensors"));
    std::fs::write(&not_utf8, b"\x10\0\0\0\0\0\0\0{\"w\": [1, 2, 3]}").unwrap();
    extra.push((not_utf8, "not a valid safetensors file"));
    let looped = dir.join("loop.pt");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    extra.push((looped, "cannot read"));
    let empty_dir = tmp.path().join("empty_dir.pt");
    std::fs::create_dir(&empty_dir).unwrap();
    extra.push((empty_dir.clone(), "no checkpoint files"));

    let json = tmp.path().join("out.json");
    let args: Vec<&std::ffi::OsStr> = vec![
        "analyze".as_ref(),
        "--no-cache".as_ref(),
        "--quiet".as_ref(),
        "--json".as_ref(),
        json.as_os_str(),
        dir.as_os_str(),
        empty_dir.as_os_str(),
    ];
    let (code, _, stderr) = run_bounded(&args, Duration::from_secs(120));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(1), "exit code 1 when some files failed; stderr:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();

    let mut problems = Vec::new();
    let expected = manifest();
    let analyzed: Vec<&Expected> = expected.iter().filter(|e| e.reader == "analyze").collect();
    assert!(analyzed.len() >= 50, "at least 50 bad checkpoints, got {}", analyzed.len());
    for e in &analyzed {
        let path = dir.join(&e.file).display().to_string();
        let mine: Vec<&&str> = errors.iter().filter(|l| l.contains(&format!("error: {path}:"))).collect();
        match mine.as_slice() {
            [line] if line.contains(&e.expect) => {}
            [line] => problems.push(format!("{}: expected {:?} in {line}", e.file, e.expect)),
            lines => problems.push(format!("{}: {} error lines, expected 1: {lines:?}", e.file, lines.len())),
        }
    }
    for (path, expect) in &extra {
        let shown = path.display().to_string();
        let mine: Vec<&&str> = errors.iter().filter(|l| l.contains(&shown)).collect();
        match (expect, mine.as_slice()) {
            (&"SKIPPED", []) => {}
            (&"SKIPPED", lines) => problems.push(format!("{shown}: should be skipped, got {lines:?}")),
            (_, [line]) if line.contains(expect) => {}
            (_, lines) => problems.push(format!("{shown}: expected one line with {expect:?}, got {lines:?}")),
        }
    }
    let reported = analyzed.len() + extra.iter().filter(|(_, e)| *e != "SKIPPED").count();
    assert_eq!(errors.len(), reported, "one error line per bad file and nothing else:\n{stderr}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(stderr.contains(&format!("{reported} failed (listed above)")), "{stderr}");

    // Every good file is analyzed, every layer of it.
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let checkpoints = report["checkpoints"].as_array().unwrap();
    let names: Vec<&str> = checkpoints.iter().map(|c| c["checkpoint"].as_str().unwrap()).collect();
    for (good, layers) in
        [("good.safetensors", 2), ("good.npz", 1), ("good_fc.weight.npy", 1), ("good_nested_net.pt", 3)]
    {
        let path = dir.join(good).display().to_string();
        let at = names.iter().position(|n| *n == path).unwrap_or_else(|| panic!("{good} analyzed: {names:?}"));
        assert_eq!(checkpoints[at]["layers"].as_array().unwrap().len(), layers, "{good}");
    }
    // Only the good files are listed: a file with a layer that failed is not summarized.
    assert_eq!(checkpoints.len(), 4, "{names:?}");
}

#[test]
fn training_data_files_give_their_errors() {
    use maskspec::train::data::{read_cifar, read_idx};
    let mut problems = Vec::new();
    let out = tempfile::tempdir().unwrap();
    for e in manifest().iter().filter(|e| e.reader != "analyze" && e.reader != "accuracy_csv") {
        let path = fixtures().join(&e.file);
        let error = |e: maskspec::train::TrainError| e.to_string();
        let result = match e.reader.as_str() {
            "idx1" => read_idx(&path, 1).map(drop).map_err(error),
            "idx3" => read_idx(&path, 3).map(drop).map_err(error),
            "cifar10" => read_cifar(&path, 1, 10, "cifar10").map(drop).map_err(error),
            "cifar100" => read_cifar(&path, 2, 100, "cifar100").map(drop).map_err(error),
            // The whole trainer, on the directory holding the file, in bounded memory.
            "train_mnist" => {
                let dir = path.parent().unwrap();
                let args = ["train", "--dataset", "mnist", "--data"].map(std::ffi::OsStr::new);
                let args = [&args[..], &[dir.as_os_str(), "--out".as_ref(), out.path().as_os_str()]].concat();
                let (code, _, stderr) = run_bounded(&args, Duration::from_secs(60));
                let lines = stderr.lines().count();
                if code != Some(2) || lines != 1 {
                    problems.push(format!("{}: exit {code:?} with {lines} lines on stderr, not 2 and one", e.file));
                }
                Err(stderr)
            }
            other => panic!("unknown reader {other}"),
        };
        match result {
            Ok(()) => problems.push(format!("{}: read without error", e.file)),
            Err(message) => {
                if !message.contains(&path.display().to_string()) || !message.contains(&e.expect) {
                    problems.push(format!("{}: expected the path and {:?} in {message}", e.file, e.expect));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_bad_accuracy_table_is_fatal_and_names_the_line() {
    let good = fixtures().join("good.safetensors");
    for e in manifest().iter().filter(|e| e.reader == "accuracy_csv") {
        let table = fixtures().join(&e.file);
        let args =
            ["analyze".as_ref(), "--no-cache".as_ref(), good.as_os_str(), "--accuracy".as_ref(), table.as_os_str()];
        let (code, _, stderr) = run_bounded(&args, Duration::from_secs(60));
        assert_eq!(code, Some(2), "{}: {stderr}", e.file);
        let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
        assert!(line.contains(&table.display().to_string()) && line.contains(&e.expect), "{}: {stderr}", e.file);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_exit_codes_help_documents_hold() {
    let bin = env!("CARGO_BIN_EXE_maskspec");
    let help = String::from_utf8(Command::new(bin).arg("--help").output().unwrap().stdout).unwrap();
    assert!(help.contains("Exit status: 0 when everything was analyzed, 1 when some files"), "{help}");
    let good = fixtures().join("good.safetensors");
    let tmp = tempfile::tempdir().unwrap();
    // An output under a regular file cannot be created.
    let unwritable = good.join("out.json");
    let empty = fixtures().join("npy/empty.npy");
    let cases: [(Vec<&std::ffi::OsStr>, i32); 4] = [
        (vec![good.as_os_str()], 0),
        (vec![good.as_os_str(), empty.as_os_str()], 1),
        (vec![good.as_os_str(), "--no-such-flag".as_ref()], 2),
        (vec![good.as_os_str(), "--json".as_ref(), unwritable.as_os_str()], 2),
    ];
    for (args, code) in cases {
        let out =
            Command::new(bin).args(["analyze", "--quiet", "--cache-dir"]).arg(tmp.path()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

//! End-to-end tests of `maskspec analyze`, running the real binary: outputs that load as they
//! are, and every bad input of the issue giving one clear line while the rest of the run goes on.

use maskspec::checkpoint::safetensors::{write, TensorBytes};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn maskspec(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maskspec")).args(args).output().expect("the binary runs")
}

fn analyze(paths: &[&Path], extra: &[&str]) -> (i32, String, String) {
    // The cache has tests of its own (tests/sweep.rs); here every run analyzes afresh.
    let mut args: Vec<&std::ffi::OsStr> = vec!["analyze".as_ref(), "--no-cache".as_ref()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out = maskspec(&args);
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden").join(name)
}

fn save(path: &Path, tensors: &[(&str, TensorBytes)]) {
    let tensors: Vec<_> = tensors.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    write(path, &tensors, &BTreeMap::new()).unwrap();
}

fn linear(rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols).map(|i| if i % 3 == 0 { (i as f32 * 0.37).sin() } else { 0.0 }).collect()
}

/// A directory with one good checkpoint and one bad file; returns (dir, bad file).
fn with_bad(name: &str, make: impl FnOnce(&Path)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    save(&dir.path().join("good.safetensors"), &[("fc.weight", TensorBytes::f32(vec![12, 16], &linear(12, 16)))]);
    let bad = dir.path().join(name);
    make(&bad);
    (dir, bad)
}

/// The run goes on past the bad input: exit 1, the good file analyzed, and exactly one
/// error line that names the bad file and contains `expect`.
fn assert_reports(dir: &Path, bad: &Path, expect: &str) {
    let (code, stdout, stderr) = analyze(&[dir], &[]);
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(stdout.contains("good.safetensors") && stdout.contains("fc.weight"), "good file analyzed: {stdout}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert!(errors[0].contains(&bad.display().to_string()), "names the file: {}", errors[0]);
    assert!(errors[0].contains(expect), "says {expect:?}: {}", errors[0]);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_file_that_is_not_a_checkpoint() {
    let (dir, bad) = with_bad("notes.safetensors", |p| std::fs::write(p, b"these are my notes, not tensors").unwrap());
    assert_reports(dir.path(), &bad, "not a valid safetensors file");
}

#[test]
fn a_truncated_safetensors_file() {
    let (dir, bad) = with_bad("cut.safetensors", |p| {
        save(p, &[("w.weight", TensorBytes::f32(vec![20, 20], &linear(20, 20)))]);
        let bytes = std::fs::read(p).unwrap();
        std::fs::write(p, &bytes[..bytes.len() - 100]).unwrap();
    });
    assert_reports(dir.path(), &bad, "truncated");
}

#[test]
fn a_mask_whose_shape_differs_from_its_weight() {
    let (dir, bad) = with_bad("mismatch.safetensors", |p| {
        save(
            p,
            &[
                ("w.weight", TensorBytes::f32(vec![8, 8], &linear(8, 8))),
                ("w.weight_mask", TensorBytes::mask_u8(vec![8, 4], &[true; 32])),
            ],
        )
    });
    assert_reports(
        dir.path(),
        &bad,
        "tensor 'w.weight_mask': mask has shape [8, 4] but its weight 'w.weight' has [8, 8]",
    );
}

#[test]
fn nan_and_infinite_weights() {
    let (dir, bad) = with_bad("diverged.safetensors", |p| {
        let mut w = linear(8, 8);
        w[0] = f32::NAN;
        w[3] = f32::INFINITY;
        save(p, &[("w.weight", TensorBytes::f32(vec![8, 8], &w))])
    });
    assert_reports(dir.path(), &bad, "tensor 'w.weight': 2 of its weights are NaN or infinite");
}

/// One unreadable layer fails its checkpoint: a summary over the other layers would be a
/// number that looks right and is not. A cache hit fails the same way.
#[test]
fn a_checkpoint_with_one_bad_layer_is_not_summarized() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = linear(8, 8);
    w[0] = f32::NAN;
    let file = dir.path().join("half.safetensors");
    save(
        &file,
        &[
            ("a.weight", TensorBytes::f32(vec![12, 16], &linear(12, 16))),
            ("b.weight", TensorBytes::f32(vec![8, 8], &w)),
        ],
    );
    let cache = dir.path().join("cache");
    let json = dir.path().join("out.json");
    for run in ["first", "cached"] {
        let args: Vec<&std::ffi::OsStr> = vec![
            "analyze".as_ref(),
            "--cache-dir".as_ref(),
            cache.as_os_str(),
            "--json".as_ref(),
            json.as_os_str(),
            file.as_os_str(),
        ];
        let out = maskspec(&args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{run}: {stderr}");
        assert!(!stdout.contains("a.weight"), "{run}: no partial table: {stdout}");
        assert!(stderr.contains("tensor 'b.weight'") && stderr.contains("0 checkpoints"), "{run}: {stderr}");
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(report["checkpoints"].as_array().map(Vec::len), Some(0), "{run}: {report}");
    }
}

/// A directory of the sweep that cannot be listed is one error line; the walk goes on past it.
/// Permissions do not bind root, so as root the binary runs as `nobody` (setpriv).
#[test]
fn an_unreadable_subdirectory_is_one_error_and_the_walk_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let weights = || TensorBytes::f32(vec![12, 16], &linear(12, 16));
    for sub in ["a", "locked", "z"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        save(&dir.path().join(sub).join("run.safetensors"), &[("fc.weight", weights())]);
    }
    let open = |path: &Path, mode| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    open(dir.path(), 0o755);
    open(&dir.path().join("locked"), 0o000);
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    let mut command = if root {
        // A copy beside the sweep: the checkout may sit where nobody cannot reach.
        let binary = dir.path().join("maskspec");
        std::fs::copy(env!("CARGO_BIN_EXE_maskspec"), &binary).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&binary);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_maskspec"))
    };
    let out = command.args(["analyze", "--no-cache"]).arg(dir.path()).output().unwrap();
    open(&dir.path().join("locked"), 0o755);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("locked") && errors[0].contains("cannot list this directory"), "{}", errors[0]);
    for analyzed in ["a/run.safetensors", "z/run.safetensors"] {
        assert!(stdout.contains(analyzed), "{analyzed} analyzed: {stdout}");
    }
}

#[test]
fn one_and_three_dimensional_tensors() {
    // A file of biases only has no layer at all.
    let (dir, bad) = with_bad("biases.safetensors", |p| save(p, &[("b", TensorBytes::f32(vec![8], &[1.0; 8]))]));
    assert_reports(dir.path(), &bad, "no 2-D or 4-D weight tensors");
    // A 3-D tensor that carries a mask was meant as a layer: refused by name.
    let (dir, bad) = with_bad("conv1d.safetensors", |p| {
        save(
            p,
            &[
                ("c.weight", TensorBytes::f32(vec![4, 2, 3], &[1.0; 24])),
                ("c.weight_mask", TensorBytes::mask_u8(vec![4, 2, 3], &[true; 24])),
                ("fc.weight", TensorBytes::f32(vec![4, 4], &[1.0; 16])),
            ],
        )
    });
    assert_reports(dir.path(), &bad, "tensor 'c.weight': is 3-D [4, 2, 3]");
}

#[test]
fn an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = analyze(&[dir.path()], &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no checkpoint files"), "{stderr}");
}

#[test]
fn csv_and_json_outputs_load_and_agree() {
    let out = tempfile::tempdir().unwrap();
    let (csv, json, summary) = (out.path().join("l.csv"), out.path().join("a.json"), out.path().join("s.csv"));
    let (code, _, stderr) = analyze(
        &[&golden("erk_model.safetensors"), &golden("conv.safetensors")],
        &[
            "--quiet",
            "--csv",
            csv.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--summary-csv",
            summary.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4, "3 layers + 1 layer");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // Files are sorted, layers in checkpoint order: the CSV rows follow the JSON's.
    let json_layers: Vec<&serde_json::Value> =
        json["checkpoints"].as_array().unwrap().iter().flat_map(|c| c["layers"].as_array().unwrap()).collect();
    for (row, layer) in rows.iter().zip(json_layers) {
        assert_eq!(&row[col("layer")], layer["layer"].as_str().unwrap());
        let csv_mu: f64 = row[col("mu_hat")].parse().unwrap();
        assert_eq!(csv_mu, layer["mu_hat"].as_f64().unwrap(), "CSV keeps every digit");
        assert_eq!(row[col("ramanujan_gap_imdb")].is_empty(), layer["ramanujan_gap_imdb"].is_null());
    }
    assert_eq!(std::fs::read_to_string(&summary).unwrap().lines().count(), 3);
}

#[test]
fn include_and_exclude_select_layers() {
    let (code, stdout, _) = analyze(&[&golden("erk_model.safetensors")], &["--include", "l1.*", "--include", "l3.*"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("l1.weight") && stdout.contains("l3.weight") && !stdout.contains("l2.weight"));
    let (_, stdout, _) = analyze(&[&golden("erk_model.safetensors")], &["--exclude", "l2*"]);
    assert!(stdout.contains("l1.weight") && !stdout.contains("l2.weight"));
}

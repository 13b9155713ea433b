//! `maskspec pipeline` end to end through the real binary, on tiny sweeps: every output
//! exists, parses and agrees with its sources; a resumed run redoes exactly the unfinished
//! work; shards merge into the tables of one unsharded run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;

/// The issue's tiny sweep: 2 families, 1 sparsity, 1 seed, 1 epoch.
const TINY: &str = r#"
[training]
epochs = 1
checkpoint_every = 1
train_samples = 1000
[sweep]
dense = false
families = ["wide", "doped"]
sparsities = [0.9]
methods = ["static"]
seeds = [0]
[report]
bootstrap_resamples = 100
"#;

/// Four runs, enough points for the heatmaps, and the dense baseline.
const SMALL: &str = r#"
[training]
epochs = 1
checkpoint_every = 1
train_samples = 1000
[sweep]
dense = true
families = ["wide", "parallel"]
sparsities = [0.9]
methods = ["static"]
layouts = ["uniform", "erk"]
seeds = [0]
[report]
bootstrap_resamples = 100
"#;

fn pipeline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maskspec")).arg("pipeline").args(args).output().expect("maskspec runs")
}

fn run_sweep(config: &str, dir: &Path, out: &str, extra: &[&str]) -> Output {
    let path = dir.join("sweep.toml");
    std::fs::write(&path, config).unwrap();
    let out = dir.join(out);
    let mut args = vec!["--config", path.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(extra);
    pipeline(&args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    (header, rows)
}

fn metadata(path: &Path) -> BTreeMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    meta.metadata().clone().unwrap_or_default().into_iter().collect()
}

/// Rows keyed by (run, checkpoint file name, layer), every column but `checkpoint` (a path
/// relative to the pipeline's output there, as given on the command line here).
fn keyed_rows(path: &Path) -> BTreeMap<(String, String, String), BTreeMap<String, String>> {
    let (header, rows) = read_csv(path);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (checkpoint, run, layer) = (col("checkpoint"), col("run"), col("layer"));
    rows.into_iter()
        .map(|row| {
            let file = Path::new(&row[checkpoint]).file_name().unwrap().to_string_lossy().into_owned();
            let key = (row[run].clone(), file, row[layer].clone());
            let cells = header.iter().cloned().zip(row).filter(|(h, _)| h != "checkpoint").collect();
            (key, cells)
        })
        .collect()
}

#[test]
fn a_tiny_sweep_writes_every_output_and_they_agree() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_sweep(TINY, dir.path(), "out", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = dir.path().join("out");
    let runs = ["wide_s0.9_static_uniform_seed0", "doped_s0.9_static_uniform_seed0"];
    for run in runs {
        for file in ["epoch_0000.safetensors", "epoch_0001.safetensors", "log.csv", "trained.json", "analyzed.json"] {
            assert!(out.join("runs").join(run).join(file).is_file(), "{run}/{file}");
        }
    }
    for file in [
        "analysis/summary.csv",
        "analysis/layers.csv",
        "analysis/last.csv",
        "accuracy.csv",
        "correlations.csv",
        "timings.csv",
    ] {
        let (_, rows) = read_csv(&out.join(file));
        assert!(!rows.is_empty(), "{file} has no rows");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("analysis/analysis.json")).unwrap()).unwrap();
    assert_eq!(json["checkpoints"].as_array().unwrap().len(), 4);

    // The accuracy table is the last checkpoints' metadata (one seed: the mean is the value).
    let (header, rows) = read_csv(&out.join("accuracy.csv"));
    assert_eq!(
        header,
        [
            "family",
            "sparsity",
            "method",
            "layout",
            "pattern",
            "n",
            "accuracy_mean",
            "accuracy_sd",
            "vs_dense",
            "vs_dense_low",
            "vs_dense_high"
        ]
    );
    assert_eq!(rows.len(), 2);
    for (row, run) in rows.iter().zip(runs) {
        let meta = metadata(&out.join("runs").join(run).join("epoch_0001.safetensors"));
        assert_eq!(row[0], meta["family"]);
        assert_eq!(row[1].parse::<f64>().unwrap(), meta["sparsity"].parse::<f64>().unwrap());
        assert_eq!(row[2], meta["method"]);
        assert_eq!(row[4], meta["pattern"]);
        assert_eq!(row[5], "1");
        assert_eq!(row[6].parse::<f64>().unwrap(), meta["test_acc"].parse::<f64>().unwrap());
        assert_eq!(row[7], "", "no standard deviation from one seed");
    }

    // The analysis rows are `maskspec analyze` on the same files.
    let analyze_csv = dir.path().join("analyze.csv");
    let analyzed = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["analyze", "--no-cache", "-q", "--csv"])
        .arg(&analyze_csv)
        .arg(out.join("runs"))
        .output()
        .unwrap();
    assert!(analyzed.status.success(), "{}", stderr(&analyzed));
    let ours = keyed_rows(&out.join("analysis/layers.csv"));
    assert!(ours.len() >= 2 * 2 * 3, "2 runs × 2 checkpoints × at least 3 layers");
    assert_eq!(ours, keyed_rows(&analyze_csv));

    // Each figure report.md names is a file, embedded byte for byte in report.html.
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    let figures: Vec<&str> =
        markdown.lines().filter_map(|l| l.strip_prefix("![")).map(|l| l.split(']').next().unwrap()).collect();
    assert!(figures.contains(&"figures/evolution.png"), "{figures:?}");
    assert!(markdown.contains("figures/heatmap.png not drawn"), "two points cannot make a heatmap");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let images = embedded_images(&html);
    assert_eq!(images.len(), figures.len());
    for (figure, (alt, bytes)) in figures.iter().zip(&images) {
        assert_eq!(alt, figure);
        assert_eq!(bytes, &std::fs::read(out.join(figure)).unwrap(), "{figure}");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes.as_slice()));
        let info = decoder.read_info().unwrap().info().clone();
        assert!(info.width > 500 && info.height > 300, "{figure}: {}×{}", info.width, info.height);
    }
    for run in runs {
        assert!(markdown
            .contains(&format!("| {} | 0.9 | static | uniform | unstructured | 1 |", &run[..run.find('_').unwrap()])));
    }
}

/// Parses the page as XML (so every element is closed) and returns each <img>'s alt text and
/// decoded data-URI bytes.
fn embedded_images(html: &str) -> Vec<(String, Vec<u8>)> {
    let mut reader = quick_xml::Reader::from_str(html);
    let mut images = Vec::new();
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("report.html is not well formed: {e}")) {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Empty(tag) | quick_xml::events::Event::Start(tag)
                if tag.name().as_ref() == b"img" =>
            {
                let attr = |name: &[u8]| {
                    let a = tag.try_get_attribute(name).unwrap().unwrap();
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().into_owned()
                };
                let src = attr(b"src");
                let data = src.strip_prefix("data:image/png;base64,").expect("an embedded PNG");
                let bytes = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
                assert!(!bytes.is_empty());
                images.push((attr(b"alt"), bytes));
            }
            _ => {}
        }
    }
    images
}

fn mtimes(dir: &Path) -> BTreeMap<PathBuf, std::time::SystemTime> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            (path, modified)
        })
        .collect()
}

#[test]
fn a_resumed_pipeline_redoes_exactly_the_unfinished_work() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run_sweep(TINY, dir.path(), "out", &[]).status.success());
    let runs = dir.path().join("out/runs");
    let (a, b) = (runs.join("wide_s0.9_static_uniform_seed0"), runs.join("doped_s0.9_static_uniform_seed0"));
    let a_checkpoint = std::fs::read(a.join("epoch_0001.safetensors")).unwrap();
    let b_files = mtimes(&b);

    // Run a as if killed mid-training: no marker, a checkpoint cut in half.
    std::fs::remove_file(a.join("trained.json")).unwrap();
    std::fs::write(a.join("epoch_0001.safetensors"), &a_checkpoint[..a_checkpoint.len() / 2]).unwrap();
    let again = run_sweep(TINY, dir.path(), "out", &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("2 runs: 1 trained, 1 analyzed, 1 already done"), "{}", stderr(&again));
    assert_eq!(mtimes(&b), b_files, "the finished run is not touched");
    assert_eq!(std::fs::read(a.join("epoch_0001.safetensors")).unwrap(), a_checkpoint, "retrained bit for bit");

    // A file of a finished run that no longer matches its marker is not trusted either.
    let b_checkpoint = b.join("epoch_0000.safetensors");
    let bytes = std::fs::read(&b_checkpoint).unwrap();
    std::fs::write(&b_checkpoint, &bytes[..100]).unwrap();
    let third = run_sweep(TINY, dir.path(), "out", &[]);
    assert!(stderr(&third).contains("2 runs: 1 trained, 1 analyzed, 1 already done"), "{}", stderr(&third));
    assert_eq!(std::fs::read(&b_checkpoint).unwrap(), bytes);

    // A lost analysis is redone without retraining.
    std::fs::remove_file(a.join("analyzed.json")).unwrap();
    let fourth = run_sweep(TINY, dir.path(), "out", &[]);
    assert!(stderr(&fourth).contains("2 runs: 0 trained, 1 analyzed, 1 already done"), "{}", stderr(&fourth));
}

#[test]
fn two_shards_merge_into_the_tables_of_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = run_sweep(SMALL, dir.path(), "whole", &[]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    // 5 runs: shard 0 has runs 0, 2, 4 and shard 1 runs 1, 3.
    for (shard, expected) in [("0/2", "3 runs: 3 trained"), ("1/2", "2 runs: 2 trained")] {
        let out = format!("shard{}", &shard[..1]);
        let output = run_sweep(SMALL, dir.path(), &out, &["--shard", shard]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
        assert!(!dir.path().join(&out).join("report.html").exists(), "a shard writes no report");
    }
    let (s0, s1, merged) = (dir.path().join("shard0"), dir.path().join("shard1"), dir.path().join("merged"));
    let merge = pipeline(&["--merge", s0.to_str().unwrap(), s1.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert!(merge.status.success(), "{}", stderr(&merge));
    let tables =
        ["analysis/summary.csv", "analysis/layers.csv", "analysis/last.csv", "accuracy.csv", "correlations.csv"];
    for table in tables {
        let expected = std::fs::read(dir.path().join("whole").join(table)).unwrap();
        assert_eq!(std::fs::read(merged.join(table)).unwrap(), expected, "{table}");
    }
    assert!(merged.join("figures/heatmap.png").is_file());

    // One shard alone is reported on, and the runs it lacks are named.
    let part = dir.path().join("part");
    let partial = pipeline(&["--merge", s0.to_str().unwrap(), "--out", part.to_str().unwrap()]);
    assert_eq!(partial.status.code(), Some(1));
    assert!(
        stderr(&partial).contains(
            "not finished, left out of the report: wide_s0.9_static_uniform_seed0, parallel_s0.9_static_uniform_seed0"
        ),
        "{}",
        stderr(&partial)
    );
}

#[test]
fn a_different_sweep_in_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run_sweep(TINY, dir.path(), "out", &[]).status.success());
    let other = run_sweep(&TINY.replace("seeds = [0]", "seeds = [1]"), dir.path(), "out", &[]);
    assert_eq!(other.status.code(), Some(2));
    let message = stderr(&other);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("holds a different sweep than the one asked for"), "{message}");
}

#[test]
fn a_run_finished_for_another_sweep_is_redone_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run_sweep(TINY, dir.path(), "out", &[]).status.success());
    // The same run name, trained for two epochs by another sweep, copied in by hand.
    let longer = TINY.replace("epochs = 1", "epochs = 2");
    assert!(run_sweep(&longer, dir.path(), "other", &[]).status.success());
    let run = "runs/wide_s0.9_static_uniform_seed0";
    let (ours, theirs) = (dir.path().join("out").join(run), dir.path().join("other").join(run));
    std::fs::remove_dir_all(&ours).unwrap();
    std::fs::create_dir_all(&ours).unwrap();
    for entry in std::fs::read_dir(&theirs).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), ours.join(entry.file_name())).unwrap();
    }
    assert!(ours.join("epoch_0002.safetensors").exists());
    let again = run_sweep(TINY, dir.path(), "out", &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("2 runs: 1 trained, 1 analyzed, 1 already done"), "{}", stderr(&again));
    assert!(!ours.join("epoch_0002.safetensors").exists(), "the run is this sweep's again");
}

#[test]
fn a_bad_sweep_file_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_sweep("[sweep]\nmethods = [\"magic\"]\n", dir.path(), "out", &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("line 2") && message.contains("methods = [\"magic\"]"), "{message}");
    assert!(message.contains("unknown variant `magic`, expected one of `static`, `set`, `rigl`"), "{message}");
    assert!(!dir.path().join("out").exists(), "nothing written for a bad sweep file");
}

#[test]
fn print_config_prints_a_sweep_file_that_runs() {
    let output = pipeline(&["--print-config"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("[sweep]") && text.contains("families = [\"wide\", \"parallel\", \"factorized\", \"doped\"]")
    );
}

#[test]
fn a_pipeline_killed_at_any_moment_resumes_to_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run_sweep(SMALL, dir.path(), "whole", &[]).status.success());
    let config = dir.path().join("sweep.toml");
    for (attempt, delay_ms) in [40u64, 150, 400, 900].into_iter().enumerate() {
        let out = dir.path().join(format!("killed{attempt}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_maskspec"))
            .args(["pipeline", "-q", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL; it may have finished already, which is fine too
        child.wait().unwrap();
        let resumed = pipeline(&["-q", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(resumed.status.success(), "after a kill at {delay_ms} ms: {}", stderr(&resumed));
        for table in ["analysis/summary.csv", "analysis/layers.csv", "accuracy.csv", "correlations.csv"] {
            let expected = std::fs::read(dir.path().join("whole").join(table)).unwrap();
            assert_eq!(std::fs::read(out.join(table)).unwrap(), expected, "{table} after a kill at {delay_ms} ms");
        }
    }
}

/// A pipeline holding `--out` keeps a second out, whatever its sweep; a lock left by a dead
/// process is taken over. The first pipeline is stood in for by this test holding the lock.
#[test]
fn a_second_pipeline_on_one_out_is_refused_and_a_dead_ones_lock_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let lock_path = out.join(".maskspec.lock");
    std::fs::write(&lock_path, "pid 4242").unwrap();
    let held = std::fs::OpenOptions::new().read(true).write(true).open(&lock_path).unwrap();
    held.try_lock().unwrap();
    let refused = run_sweep(TINY, dir.path(), "out", &["--quiet"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("another maskspec pipeline (pid 4242) is writing"), "{}", stderr(&refused));
    assert!(!out.join("config.toml").exists(), "nothing written beside the holder");
    drop(held);
    // The holder is gone (its lock with it); its pid is still in the file.
    let done = run_sweep(TINY, dir.path(), "out", &["--quiet"]);
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(out.join("report.html").exists());
}

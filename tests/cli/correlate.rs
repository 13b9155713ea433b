//! `maskspec correlate` run as a binary on a summary CSV.

use crate::seeded;
use std::process::Command;

fn summary_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("summary.csv");
    let mut text = String::from("run,family,accuracy,density,ramanujan_gap\n");
    // accuracy rises with the gap exactly, so Pearson r must be 1.
    for i in 0..8 {
        let family = if i % 2 == 0 { "a" } else { "b" };
        text.push_str(&format!(
            "r{i},{family},{},{},{}\n",
            0.5 + 0.01 * i as f64,
            0.1 + 0.05 * ((i * 3) % 5) as f64,
            2.0 * i as f64
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn correlate_by_family_writes_one_row_per_group_plus_all() {
    let dir = tempfile::tempdir().unwrap();
    let input = summary_csv(dir.path());
    let out = dir.path().join("corr.csv");
    let status = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["correlate", input.to_str().unwrap(), "--by", "family", "--resamples", "200", "--csv"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 3, "{text}");
    assert!(lines.iter().any(|l| l.starts_with("ramanujan_gap,all,8,1") || l.contains(",all,8,0.99999")), "{text}");
}

#[test]
fn a_missing_column_is_named_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let input = summary_csv(dir.path());
    let output = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["correlate", input.to_str().unwrap(), "--metric", "weighted_gap"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("weighted_gap") && stderr.contains("ramanujan_gap"), "{stderr}");
}

/// runs/r{k}/step_{0,1}.safetensors: one 30×40 layer whose density grows with k, accuracy
/// in the metadata.
fn checkpoint_sweep(root: &std::path::Path) -> std::path::PathBuf {
    use maskspec::checkpoint::safetensors::{write, TensorBytes};
    let runs = root.join("runs");
    let mut next = seeded::stream(7);
    for k in 0..4 {
        let dir = runs.join(format!("r{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        for step in 0..2 {
            let keep = 0.2 + 0.1 * k as f64;
            let w: Vec<f32> = (0..30 * 40).map(|_| if next() < keep { (next() - 0.5) as f32 } else { 0.0 }).collect();
            let metadata = std::collections::BTreeMap::from([
                ("step".to_string(), step.to_string()),
                ("test_acc".to_string(), format!("{:.4}", 0.5 + 0.1 * next() + 0.05 * k as f64)),
            ]);
            let tensors = vec![("fc.weight".to_string(), TensorBytes::f32(vec![30, 40], &w))];
            write(&dir.join(format!("step_{step}.safetensors")), &tensors, &metadata).unwrap();
        }
    }
    runs
}

#[test]
fn correlate_on_checkpoints_equals_correlate_on_their_summary_csv() {
    let dir = tempfile::tempdir().unwrap();
    let runs = checkpoint_sweep(dir.path());
    let path = |name: &str| dir.path().join(name);
    let run = |args: &[&std::ffi::OsStr]| {
        let output = Command::new(env!("CARGO_BIN_EXE_maskspec")).args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    run(&[os("analyze"), runs.as_os_str(), os("--no-cache"), os("-q"), os("--summary-csv"), path("s.csv").as_os_str()]);
    let correlate = |input: &std::path::Path, out: &str| {
        let stdout = run(&[
            os("correlate"),
            input.as_os_str(),
            os("--resamples"),
            os("300"),
            os("--csv"),
            path(out).as_os_str(),
        ]);
        (stdout, std::fs::read_to_string(path(out)).unwrap())
    };
    let from_checkpoints = correlate(&runs, "direct.csv");
    let from_summary = correlate(&path("s.csv"), "via_summary.csv");
    assert_eq!(from_checkpoints, from_summary);
    // 8 checkpoints and a finite Pearson r in the ramanujan_gap row: a real comparison.
    let row = from_summary.1.lines().find(|l| l.starts_with("ramanujan_gap,all,")).unwrap().to_string();
    assert!(row.starts_with("ramanujan_gap,all,8,") && row.split(',').nth(3).unwrap().parse::<f64>().is_ok(), "{row}");
}

//! `maskspec correlate` run as a binary on a summary CSV.

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

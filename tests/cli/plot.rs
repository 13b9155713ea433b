//! `maskspec plot heatmap|scatter|evolution` run as a binary on a small synthetic sweep
//! analyzed by `maskspec analyze`: every figure as a PNG that decodes to its size and as an
//! SVG with the SPEC axis labels; bad columns and too few points as one-line fatal errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use maskspec::checkpoint::safetensors::{write, TensorBytes};

use crate::seeded::stream;

/// runs/s{sparsity}-{seed}/step_{0,100,200}.safetensors: two layers with random masks of
/// density about 1 − sparsity, redrawn at every step, and SPEC §6 metadata (run, step, sparsity,
/// test_acc). The last checkpoint of the run s0.5-1 has no accuracy.
fn make_sweep(root: &Path) -> PathBuf {
    let runs = root.join("runs");
    for (r, sparsity) in [0.5, 0.75, 0.85].into_iter().enumerate() {
        for seed in 0..2 {
            let run = format!("s{sparsity}-{seed}");
            let dir = runs.join(&run);
            std::fs::create_dir_all(&dir).unwrap();
            for (s, step) in [0, 100, 200].into_iter().enumerate() {
                let mut next = stream((r * 100 + seed * 10 + s) as u64 + 1);
                // Each input (column) keeps about (1 − sparsity)·rows weights, one more or
                // less at random: two large degree classes, so the nested means exist.
                let mut layer = |rows: usize, cols: usize| {
                    let mut weights = vec![0f32; rows * cols];
                    let base = ((1.0 - sparsity) * rows as f64).round() as usize;
                    for c in 0..cols {
                        let degree = base + (next() < 0.5) as usize;
                        let mut order: Vec<usize> = (0..rows).collect();
                        for k in 0..degree {
                            let pick = k + (next() * (rows - k) as f64) as usize;
                            order.swap(k, pick);
                            weights[order[k] * cols + c] = (next() * 2.0 - 1.0) as f32;
                        }
                    }
                    TensorBytes::f32(vec![rows, cols], &weights)
                };
                let tensors =
                    vec![("fc1.weight".to_string(), layer(40, 60)), ("fc2.weight".to_string(), layer(30, 40))];
                let mut metadata: BTreeMap<String, String> =
                    [("run", run.clone()), ("step", step.to_string()), ("sparsity", sparsity.to_string())]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                if !(run == "s0.5-1" && step == 200) {
                    let accuracy = 0.3 + 0.003 * step as f64 - 0.2 * sparsity + 0.02 * seed as f64;
                    metadata.insert("test_acc".into(), accuracy.to_string());
                }
                write(&dir.join(format!("step_{step}.safetensors")), &tensors, &metadata).unwrap();
            }
        }
    }
    runs
}

fn maskspec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maskspec")).args(args).output().unwrap()
}

fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

struct Sweep {
    _dir: tempfile::TempDir,
    root: PathBuf,
    runs: PathBuf,
    summary: PathBuf,
    json: PathBuf,
}

fn analyzed_sweep() -> Sweep {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let runs = make_sweep(&root);
    let (summary, json) = (root.join("summary.csv"), root.join("analysis.json"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    ok(maskspec(&["analyze", &s(&runs), "--no-cache", "-q", "--summary-csv", &s(&summary), "--json", &s(&json)]));
    Sweep { _dir: dir, root, runs, summary, json }
}

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width, info.height)
}

/// Well-formed enough for a browser: one <svg> root closed at the end, every element that is
/// opened closed, and the labels present.
fn check_svg(path: &Path, labels: &[&str]) -> String {
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..200.min(svg.len())]);
    for tag in ["text", "svg", "linearGradient", "defs"] {
        let opened = svg.matches(&format!("<{tag}")).count();
        let closed = svg.matches(&format!("</{tag}>")).count();
        assert_eq!(opened, closed, "<{tag}> opened {opened} times, closed {closed}");
    }
    for label in labels {
        assert!(svg.contains(label), "{} lacks {label}", path.display());
    }
    svg
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_figure_as_png_and_svg_from_csv_json_and_checkpoints() {
    let sweep = analyzed_sweep();
    let out = |name: &str| sweep.root.join(name);

    // Heatmap: the summary CSV to PNG, the JSON to SVG.
    let stderr = ok(maskspec(&["plot", "heatmap", path_str(&sweep.summary), "-o", path_str(&out("h.png"))]));
    assert_eq!(png_size(&out("h.png")), (2 * 860 + 240, 760));
    // The last checkpoint of each of 6 runs; one of them has no accuracy.
    assert!(stderr.contains("wrote") && stderr.contains("10 points from 6 rows"), "{stderr}");
    let skipped: Vec<&str> = stderr.lines().filter(|l| l.starts_with("skipped")).collect();
    assert_eq!(skipped.len(), 1, "{stderr}");
    assert!(skipped[0].contains("1 with a null ramanujan_gap_imdb, weighted_gap_imsg or accuracy"), "{stderr}");
    ok(maskspec(&["plot", "heatmap", path_str(&sweep.json), "-o", path_str(&out("h.svg"))]));
    check_svg(
        &out("h.svg"),
        &["ramanujan_gap_imdb (Δr_imdb)", "weighted_gap_imsg (λ_imsg)", "ramanujan_gap (Δr)", "weighted_gap (λ)"],
    );
    // One panel of any two fields, every checkpoint, a title.
    let stderr = ok(maskspec(&[
        "plot",
        "heatmap",
        path_str(&sweep.summary),
        "-o",
        path_str(&out("h1.png")),
        "--x",
        "mu_hat",
        "--y",
        "d_avg",
        "--all-checkpoints",
        "--title",
        "a sweep",
    ]));
    assert_eq!(png_size(&out("h1.png")), (860 + 240, 760 + 60));
    assert!(stderr.contains("17 points from 18 rows"), "{stderr}");

    // Scatter, grouped by sparsity by default.
    ok(maskspec(&["plot", "scatter", path_str(&sweep.summary), "-o", path_str(&out("s.png"))]));
    assert_eq!(png_size(&out("s.png")), (1200, 900));
    ok(maskspec(&[
        "plot",
        "scatter",
        path_str(&sweep.json),
        "-o",
        path_str(&out("s.svg")),
        "--metric",
        "weighted_gap",
        "--all-checkpoints",
    ]));
    check_svg(&out("s.svg"), &["weighted_gap (λ)", "sparsity = 0.75: r = ", "accuracy"]);

    // Evolution straight from the checkpoints, and from the per-layer JSON rows of one layer.
    ok(maskspec(&["plot", "evolution", path_str(&sweep.runs), "-o", path_str(&out("e.png"))]));
    assert_eq!(png_size(&out("e.png")), (1900, 860));
    ok(maskspec(&[
        "plot",
        "evolution",
        path_str(&sweep.json),
        "--layer",
        "fc1.weight",
        "-o",
        path_str(&out("e.svg")),
        "--x",
        "ramanujan_gap",
        "--y",
        "weighted_gap",
    ]));
    check_svg(&out("e.svg"), &["ramanujan_gap (Δr)", "weighted_gap (λ)", "training step", "s0.85-1"]);

    if let Some(keep) = std::env::var_os("MASKSPEC_KEEP_PLOTS") {
        for name in ["h.png", "h.svg", "h1.png", "s.png", "s.svg", "e.png", "e.svg"] {
            std::fs::copy(out(name), Path::new(&keep).join(format!("cli_{name}"))).unwrap();
        }
    }
}

#[test]
fn evolution_draws_the_spectra_logged_during_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut logs = Vec::new();
    for family in ["wide", "doped"] {
        let out = dir.path().join(family);
        let args = ["train", "--dataset", "digits", "--family", family, "--method", "rigl", "--epochs", "8"];
        ok(maskspec(&[&args[..], &["--out", path_str(&out)]].concat()));
        logs.push(out.join("spectra.csv"));
    }
    let figure = dir.path().join("e.png");
    let stderr = ok(maskspec(&["plot", "evolution", path_str(&logs[0]), path_str(&logs[1]), "-o", path_str(&figure)]));
    // Checkpoints at epochs 0, 5 and 8 and one mask update (step 100) a run; each run measured
    // from its initial checkpoint, so no note says otherwise.
    assert!(stderr.contains("8 points from 8 rows") && !stderr.contains("note:"), "{stderr}");
    assert_eq!(png_size(&figure).0, 1900);
}

#[test]
fn a_bad_column_is_one_line_naming_it_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "run,step,accuracy,ramanujan_gap,weighted_gap\na,1,0.5,1,2\nb,1,0.6,2,1\nc,1,0.7,3,3\n")
        .unwrap();
    let out = dir.path().join("x.png");
    for args in [
        vec!["scatter", "--metric", "no_such_metric"],
        vec!["heatmap", "--x", "ramanujan_gap", "--y", "no_such_metric"],
        vec!["heatmap", "--x", "ramanujan_gap", "--y", "weighted_gap", "--z", "no_such_metric"],
        vec!["evolution", "--x", "no_such_metric"],
    ] {
        let mut full = vec!["plot", args[0], path_str(&csv), "-o", path_str(&out)];
        full.extend(&args[1..]);
        let output = maskspec(&full);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{full:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("`no_such_metric`") && stderr.contains("columns: run, step, accuracy"), "{stderr}");
        assert!(!out.exists(), "no figure on a fatal error");
    }
    // The default panels need nested fields this table lacks: named too.
    let output = maskspec(&["plot", "heatmap", path_str(&csv), "-o", path_str(&out)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`ramanujan_gap_imdb`"));
}

#[test]
fn cells_that_are_not_numbers_are_counted_and_named_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(
        &csv,
        "run,step,accuracy,ramanujan_gap,weighted_gap\na,1,0.5,1,2\nb,1,high,2,1\nc,1,0.7,3,n/a\nd,1,0.8,4,5\ne,1,0.1,x,4\nf,1,0.3,5,3\n",
    )
    .unwrap();
    let out = dir.path().join("x.png");
    let stderr = ok(maskspec(&[
        "plot",
        "heatmap",
        path_str(&csv),
        "-o",
        path_str(&out),
        "--x",
        "ramanujan_gap",
        "--y",
        "weighted_gap",
        "--z",
        "accuracy",
    ]));
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(
        warnings,
        [
            "warning: column `ramanujan_gap`: 1 cell is not a number and counts as missing (first: row 5, \"x\")",
            "warning: column `weighted_gap`: 1 cell is not a number and counts as missing (first: row 3, \"n/a\")",
            "warning: column `accuracy`: 1 cell is not a number and counts as missing (first: row 2, \"high\")",
        ],
        "{stderr}"
    );
    // A scatter reads only its metric and accuracy.
    let stderr = ok(maskspec(&["plot", "scatter", path_str(&csv), "-o", path_str(&out), "--metric", "weighted_gap"]));
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(warnings[0].contains("`weighted_gap`") && warnings[1].contains("`accuracy`"), "{stderr}");
}

#[test]
fn a_heatmap_of_fewer_than_three_points_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "run,step,accuracy,ramanujan_gap,weighted_gap\na,1,0.5,1,2\nb,1,,2,1\nc,1,0.7,3,3\n").unwrap();
    let out = dir.path().join("x.png");
    let output = maskspec(&[
        "plot",
        "heatmap",
        path_str(&csv),
        "-o",
        path_str(&out),
        "--x",
        "ramanujan_gap",
        "--y",
        "weighted_gap",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("2 of 3 rows") && stderr.contains("at least 3"), "{stderr}");
    // An unknown figure format is refused before anything is read.
    let output = maskspec(&["plot", "heatmap", "missing.csv", "-o", "x.pdf"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(".png or .svg"));
}

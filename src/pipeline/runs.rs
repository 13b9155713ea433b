//! One run of the sweep in `OUT/runs/NAME/`: train it, then analyze its checkpoints, each step
//! closed by a marker file written last (atomically). A step whose marker is missing, or whose
//! files no longer match it, is redone from scratch, so a killed pipeline resumes exactly
//! where it stopped and never builds on a half-written file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::{RunSpec, SweepConfig};
use crate::analyze::{analyze_paths, AnalyzeOptions, Failure};
use crate::metrics::MetricParams;

/// Written when a run's training finished: what it reported and the files it left.
pub const TRAINED: &str = "trained.json";
/// Written when a run's checkpoints were analyzed.
pub const ANALYZED: &str = "analyzed.json";
/// The run's analysis, one row per checkpoint (`analyze --summary-csv`).
pub const SUMMARY_CSV: &str = "summary.csv";
/// The run's analysis, one row per checkpoint × layer (`analyze --csv`).
pub const LAYERS_CSV: &str = "layers.csv";
/// The run's analysis, every field (`analyze --json`).
pub const ANALYSIS_JSON: &str = "analysis.json";

/// A file a step produced, with its size, checked before the step is trusted again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub file: String,
    pub bytes: u64,
}

/// The marker of a finished training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    pub run: String,
    /// [`SweepConfig::hash`] of the sweep the run was trained for.
    pub sweep: String,
    pub test_acc: Option<f64>,
    pub val_acc: Option<f64>,
    pub train_loss: Option<f64>,
    pub train_flops: f64,
    pub steps: usize,
    pub seconds: f64,
    pub files: Vec<FileEntry>,
}

/// The marker of a finished analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analyzed {
    /// [`SweepConfig::hash`] of the sweep the run was analyzed for.
    pub sweep: String,
    pub seconds: f64,
    pub checkpoints: usize,
    pub layers: usize,
    /// Files or layers that could not be analyzed (the rest was).
    pub failures: Vec<String>,
    pub files: Vec<FileEntry>,
}

/// What happened to one run in this invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub trained_now: bool,
    pub analyzed_now: bool,
    pub trained: Trained,
    pub analyzed: Analyzed,
}

/// A run that could not be finished; the pipeline goes on with the others.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFailure {
    pub run: String,
    pub error: String,
}

pub fn run_dir(out: &Path, run: &str) -> PathBuf {
    out.join("runs").join(run)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn entry(dir: &Path, file: &Path) -> Result<FileEntry, String> {
    let bytes = std::fs::metadata(file).map_err(|e| format!("{}: {e}", file.display()))?.len();
    let file = file.strip_prefix(dir).unwrap_or(file).to_string_lossy().into_owned();
    Ok(FileEntry { file, bytes })
}

/// Whether every file a marker lists is still there with its size.
fn intact(dir: &Path, files: &[FileEntry]) -> bool {
    files.iter().all(|f| std::fs::metadata(dir.join(&f.file)).is_ok_and(|m| m.len() == f.bytes))
}

/// A marker that parses, was written for the sweep hashed `sweep`, and whose files are
/// intact; anything else means "redo".
fn read_marker<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    name: &str,
    sweep: &str,
    fields: impl Fn(&T) -> (&str, &[FileEntry]),
) -> Option<T> {
    let marker: T = serde_json::from_slice(&std::fs::read(dir.join(name)).ok()?).ok()?;
    let (written_for, files) = fields(&marker);
    (written_for == sweep && intact(dir, files)).then_some(marker)
}

pub fn read_trained(dir: &Path, sweep: &str) -> Option<Trained> {
    read_marker(dir, TRAINED, sweep, |t: &Trained| (&t.sweep, &t.files))
}

pub fn read_analyzed(dir: &Path, sweep: &str) -> Option<Analyzed> {
    read_marker(dir, ANALYZED, sweep, |a: &Analyzed| (&a.sweep, &a.files))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("markers are plain data");
    bytes.push(b'\n');
    crate::atomic::write(path, &bytes).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// Trains and analyzes `run` in `OUT/runs/NAME/`, skipping each step whose marker is valid.
pub fn run_one(config: &SweepConfig, run: &RunSpec, out: &Path) -> Result<RunOutcome, RunFailure> {
    let fail = |error: String| RunFailure { run: run.name.clone(), error };
    let dir = run_dir(out, &run.name);
    let sweep = config.hash();
    let (trained, trained_now) = match read_trained(&dir, &sweep) {
        Some(trained) => (trained, false),
        None => (train(config, run, &dir).map_err(fail)?, true),
    };
    let (analyzed, analyzed_now) = match read_analyzed(&dir, &sweep).filter(|_| !trained_now) {
        Some(analyzed) => (analyzed, false),
        None => (analyze(config, run, &dir, &trained).map_err(fail)?, true),
    };
    Ok(RunOutcome { trained_now, analyzed_now, trained, analyzed })
}

/// Trains from an empty directory: whatever an interrupted attempt left is removed first.
fn train(config: &SweepConfig, run: &RunSpec, dir: &Path) -> Result<Trained, String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: cannot clear an unfinished run: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let start = Instant::now();
    let summary =
        crate::train::train_run(&config.train_config(run, dir.to_path_buf()), None).map_err(|e| e.to_string())?;
    let mut files = summary.checkpoints.iter().map(|c| entry(dir, c)).collect::<Result<Vec<_>, _>>()?;
    files.push(entry(dir, &summary.log)?);
    let trained = Trained {
        run: summary.run,
        sweep: config.hash(),
        test_acc: finite(summary.test_acc),
        val_acc: finite(summary.val_acc),
        train_loss: finite(summary.train_loss),
        train_flops: summary.train_flops,
        steps: summary.steps,
        seconds: start.elapsed().as_secs_f64(),
        files,
    };
    write_json(&dir.join(TRAINED), &trained)?;
    Ok(trained)
}

/// The settings every run of a sweep is analyzed with.
pub fn analyze_options(config: &SweepConfig) -> AnalyzeOptions {
    AnalyzeOptions {
        params: MetricParams { nested: config.analysis.nested, convention: config.convention(), ..Default::default() },
        ..Default::default()
    }
}

/// Analyzes the run's checkpoints into its three analysis files. Checkpoints are named
/// `runs/NAME/FILE` in them, relative to the output directory, so that a sharded sweep merged
/// elsewhere gives the same tables as one run in one place.
fn analyze(config: &SweepConfig, run: &RunSpec, dir: &Path, trained: &Trained) -> Result<Analyzed, String> {
    let marker = dir.join(ANALYZED);
    if marker.exists() {
        std::fs::remove_file(&marker).map_err(|e| format!("{}: cannot remove: {e}", marker.display()))?;
    }
    let start = Instant::now();
    let checkpoints: Vec<PathBuf> =
        trained.files.iter().filter(|f| f.file.ends_with(".safetensors")).map(|f| dir.join(&f.file)).collect();
    let mut analysis = analyze_paths(&checkpoints, &analyze_options(config), None);
    if analysis.checkpoints.is_empty() {
        let why: Vec<String> = analysis.failures.iter().map(Failure::message).collect();
        return Err(format!("no checkpoint could be analyzed: {}", why.join("; ")));
    }
    for report in &mut analysis.checkpoints {
        let file = Path::new(&report.checkpoint).file_name().map(|f| f.to_string_lossy().into_owned());
        report.checkpoint = format!("runs/{}/{}", run.name, file.unwrap_or_default());
    }
    let outputs: [(&str, Vec<u8>); 3] = [
        (ANALYSIS_JSON, crate::export::json(&analysis)),
        (LAYERS_CSV, crate::export::layers_csv(&analysis)),
        (SUMMARY_CSV, crate::export::summary_csv(&analysis)),
    ];
    let mut files = Vec::new();
    for (name, bytes) in outputs {
        let path = dir.join(name);
        crate::atomic::write(&path, &bytes).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        files.push(FileEntry { file: name.to_string(), bytes: bytes.len() as u64 });
    }
    let analyzed = Analyzed {
        sweep: config.hash(),
        seconds: start.elapsed().as_secs_f64(),
        checkpoints: analysis.checkpoints.len(),
        layers: analysis.checkpoints.iter().map(|c| c.layers.len()).sum(),
        failures: analysis.failures.iter().map(Failure::message).collect(),
        files,
    };
    write_json(&marker, &analyzed)?;
    Ok(analyzed)
}

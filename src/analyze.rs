//! Paths → reports: every checkpoint under the given paths, every layer of each, in parallel
//! (rayon over files and over layers, so a single big checkpoint keeps both cores busy too).
//! A bad file or layer becomes a [`Failure`] and the run goes on.

use crate::checkpoint::{self, CheckpointError, LayerFilter, TensorSource};
use crate::metrics::{layer_metrics, summarize, CheckpointSummary, LayerMetrics, MetricParams};
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    pub filter: LayerFilter,
    pub params: MetricParams,
}

/// Everything known about one checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    pub checkpoint: String,
    /// The file's string metadata (safetensors header, PyTorch scalars).
    pub metadata: BTreeMap<String, String>,
    pub summary: CheckpointSummary,
    pub layers: Vec<LayerMetrics>,
}

/// A file or layer that could not be analyzed. `error` is the whole one-line message: it
/// starts with the file's path and names the tensor where there is one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    pub path: String,
    pub error: String,
}

impl Failure {
    fn new(path: &Path, error: impl ToString) -> Failure {
        Failure { path: path.display().to_string(), error: error.to_string() }
    }
}

/// The result of a run: reports in path order, then what failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Analysis {
    pub checkpoints: Vec<CheckpointReport>,
    pub failures: Vec<Failure>,
}

/// Analyzes every checkpoint under `paths` (files as given, directories walked recursively).
/// `progress`, when given, is told the number of files and advanced as each finishes.
pub fn analyze_paths(paths: &[PathBuf], options: &AnalyzeOptions, progress: Option<&ProgressBar>) -> Analysis {
    let mut failures = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        match checkpoint::find_checkpoints(std::slice::from_ref(path)) {
            Ok(found) if found.is_empty() => failures.push(Failure::new(
                path,
                format!(
                    "{}: no checkpoint files (.safetensors, .npz, .npy, .pt, .pth, .pth.tar) in this directory",
                    path.display()
                ),
            )),
            Ok(found) => files.extend(found),
            Err(e) => failures.push(Failure { path: path.display().to_string(), error: e.to_string() }),
        }
    }
    files.sort();
    files.dedup();
    if let Some(bar) = progress {
        bar.set_length(files.len() as u64);
    }
    let results: Vec<(Option<CheckpointReport>, Vec<Failure>)> = files
        .par_iter()
        .map(|file| {
            let result = analyze_file(file, options);
            if let Some(bar) = progress {
                bar.inc(1);
            }
            result
        })
        .collect();
    let mut checkpoints = Vec::new();
    for (report, file_failures) in results {
        checkpoints.extend(report);
        failures.extend(file_failures);
    }
    Analysis { checkpoints, failures }
}

/// One checkpoint: its report (if it could be opened) and the failures of it or its layers.
pub fn analyze_file(path: &Path, options: &AnalyzeOptions) -> (Option<CheckpointReport>, Vec<Failure>) {
    let source = match checkpoint::open(path) {
        Ok(source) => source,
        Err(e) => return (None, vec![Failure::new(path, e)]),
    };
    match analyze_source(source.as_ref(), options) {
        Ok((report, layer_errors)) => (Some(report), layer_errors.into_iter().map(|e| Failure::new(path, e)).collect()),
        Err(e) => (None, vec![Failure::new(path, e)]),
    }
}

/// Analyzes every selected layer of an open checkpoint. A layer that cannot be read is
/// left out of the report and returned as an error beside it.
pub fn analyze_source(
    source: &dyn TensorSource,
    options: &AnalyzeOptions,
) -> Result<(CheckpointReport, Vec<CheckpointError>), CheckpointError> {
    let specs = checkpoint::discover_layers(source, &options.filter)?;
    let results: Vec<Result<LayerMetrics, CheckpointError>> = specs
        .par_iter()
        .map(|spec| checkpoint::load_layer(source, spec).map(|layer| layer_metrics(&layer, &options.params)))
        .collect();
    let mut layers = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(m) => layers.push(m),
            Err(e) => errors.push(e),
        }
    }
    let report = CheckpointReport {
        checkpoint: source.path().display().to_string(),
        metadata: source.metadata().clone(),
        summary: summarize(&layers),
        layers,
    };
    Ok((report, errors))
}

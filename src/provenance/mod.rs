//! Where a checkpoint comes from: in a sweep directory (`runs/<run>/<checkpoint>`, any depth)
//! each checkpoint's run, its place in training and its accuracy (SPEC §6). This module
//! derives that information from names, metadata and side files; `analyze` attaches it to
//! each report. (The pipeline's sweep *file* is [`crate::pipeline::SweepConfig`].)

mod accuracy;
mod names;

pub use accuracy::{AccuracyError, AccuracyTable};

use crate::checkpoint::Format;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Where a checkpoint sits in a sweep, and how well it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// Metadata `run`, else the checkpoint's directory relative to the sweep root.
    pub run: Option<String>,
    /// Metadata / checkpoint-dict `step`, else from the file name.
    pub step: Option<u64>,
    pub epoch: Option<f64>,
    /// The run's initial checkpoint (step or epoch 0, or `init` in the name), the origin of
    /// distances from initialization.
    pub init: bool,
    /// A fraction in [0, 1] (values above 1 are percentages and were divided by 100).
    pub accuracy: Option<f64>,
    /// Which source gave it: `csv`, `metadata`, `sidecar` or `checkpoint`.
    pub accuracy_source: Option<&'static str>,
    /// SPEC §6 metadata a trainer records, passed through for grouping.
    pub family: Option<String>,
    pub sparsity: Option<f64>,
    pub method: Option<String>,
    pub layout: Option<String>,
    /// The mask structure the trainer was asked for (metadata `pattern`); the structure the
    /// masks have is the summary's `pattern`.
    pub sparsity_pattern: Option<String>,
    pub seed: Option<u64>,
}

/// The keys that hold an accuracy, in the order they are tried (SPEC §6).
const ACCURACY_KEYS: &[&str] = &["test_acc", "best_acc", "best_acc1", "acc", "accuracy", "val_acc", "metric"];

/// A stored accuracy as a fraction: above 1 it is a percentage.
pub fn as_fraction(value: f64) -> f64 {
    if value > 1.0 {
        value / 100.0
    } else {
        value
    }
}

fn accuracy_in(map: &BTreeMap<String, String>) -> Option<f64> {
    ACCURACY_KEYS
        .iter()
        .find_map(|k| map.get(*k)?.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .map(as_fraction)
}

/// The sidecar `NAME.json` beside a checkpoint `NAME.<ext>`: a JSON object whose
/// accuracy keys are read like metadata.
fn sidecar_accuracy(path: &Path) -> Option<f64> {
    let name = path.file_name()?.to_str()?;
    let sidecar = path.with_file_name(format!("{}.json", names::stem(name)));
    let text = std::fs::read_to_string(sidecar).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let object = value.as_object()?;
    ACCURACY_KEYS.iter().find_map(|k| object.get(*k)?.as_f64()).filter(|v| v.is_finite()).map(as_fraction)
}

/// Everything a sweep row needs about the checkpoint at `path`, found under `root` (the
/// directory the user named), with its string `metadata`.
pub fn describe(
    path: &Path,
    root: &Path,
    metadata: &BTreeMap<String, String>,
    accuracy_table: Option<&AccuracyTable>,
) -> CheckpointInfo {
    let number = |key: &str| metadata.get(key).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
    let text = |key: &str| metadata.get(key).filter(|v| !v.is_empty()).cloned();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let from_name = names::parse(&file_name);

    let run = text("run").or_else(|| {
        let dir = path.parent()?.strip_prefix(root).ok()?;
        (!dir.as_os_str().is_empty()).then(|| dir.to_string_lossy().into_owned())
    });
    let step = number("step").map(|s| s as u64).or(from_name.step);
    let epoch = number("epoch").or(from_name.epoch.map(|e| e as f64));
    let init = from_name.init || step == Some(0) || (step.is_none() && epoch == Some(0.0));

    // SPEC §6 order: the CSV, the checkpoint's metadata, a sidecar, a value in a PyTorch
    // checkpoint dict (which is what a .pt's metadata holds).
    let is_torch = crate::checkpoint::format_of(path).ok().flatten() == Some(Format::Torch);
    let (accuracy, accuracy_source) = if let Some(a) = accuracy_table.and_then(|t| t.lookup(path, root)) {
        (Some(a), Some("csv"))
    } else if let Some(a) = accuracy_in(metadata).filter(|_| !is_torch) {
        (Some(a), Some("metadata"))
    } else if let Some(a) = sidecar_accuracy(path) {
        (Some(a), Some("sidecar"))
    } else if let Some(a) = accuracy_in(metadata).filter(|_| is_torch) {
        (Some(a), Some("checkpoint"))
    } else {
        (None, None)
    };

    CheckpointInfo {
        run,
        step,
        epoch,
        init,
        accuracy,
        accuracy_source,
        family: text("family"),
        sparsity: number("sparsity"),
        method: text("method"),
        layout: text("layout"),
        sparsity_pattern: text("pattern"),
        seed: number("seed").map(|s| s as u64),
    }
}

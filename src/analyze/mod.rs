//! Paths → reports: every checkpoint under the given paths, every layer of each, in parallel
//! (rayon over files and over layers, so a single big checkpoint keeps every core busy too;
//! see [`schedule`]).
//! A bad file or layer becomes a [`Failure`] and the run goes on. With a [`Cache`], files
//! analyzed before (same path, size, mtime and settings) are not analyzed again.

pub mod cache;
mod schedule;

pub use cache::Cache;

use crate::checkpoint::{self, CheckpointError, LayerFilter, TensorSource};
use crate::metrics::{layer_metrics, summarize, CheckpointSummary, LayerMetrics, MetricParams};
use crate::provenance::{self, AccuracyTable, CheckpointInfo};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    pub filter: LayerFilter,
    pub params: MetricParams,
    /// `--accuracy FILE.csv`, the first source of accuracy (SPEC §6).
    pub accuracy: Option<AccuracyTable>,
    pub cache: Option<Cache>,
    /// `--masks FILE`: the masks of every checkpoint analyzed, by tensor name. Without it, a
    /// checkpoint's mask file is found by name ([`checkpoint::mask_companion`]).
    pub masks: Option<PathBuf>,
}

impl AnalyzeOptions {
    /// Everything that changes a layer's numbers, for the cache key.
    fn settings(&self) -> String {
        format!(
            "{} nested={} convention={:?} svd={:?}",
            self.filter.describe(),
            self.params.nested,
            self.params.convention,
            self.params.svd
        )
    }
}

/// Everything known about one checkpoint.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CheckpointReport {
    pub checkpoint: String,
    #[serde(flatten)]
    pub info: CheckpointInfo,
    /// The file's string metadata (safetensors header, PyTorch scalars).
    pub metadata: BTreeMap<String, String>,
    pub summary: CheckpointSummary,
    pub layers: Vec<LayerMetrics>,
}

/// A file or layer that could not be analyzed, and why. In JSON it is `{"path", "error"}`, the
/// error as its one-line message.
#[derive(Debug)]
pub struct Failure {
    pub path: PathBuf,
    pub error: FailureError,
}

/// Why a [`Failure`] happened. Every message is one line that starts with the file's path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailureError {
    /// The file, or one of its layers, could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{}: no checkpoint files in this directory (safetensors, NumPy .npy/.npz or what torch.save writes, by content)", path.display())]
    NoCheckpoints { path: PathBuf },
    /// A layer that could not be read when the cached entry was made, with the message of then.
    #[error("{message}")]
    Cached { message: String },
}

impl Failure {
    fn new(path: &Path, error: impl Into<FailureError>) -> Failure {
        Failure { path: path.to_path_buf(), error: error.into() }
    }

    /// The error as one line, whatever names the file itself put into the message.
    pub fn message(&self) -> String {
        one_line(&self.error.to_string())
    }
}

fn one_line(message: &str) -> String {
    message.replace('\r', "\\r").replace('\n', "\\n")
}

impl Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Failure", 2)?;
        out.serialize_field("path", &self.path.display().to_string())?;
        out.serialize_field("error", &self.message())?;
        out.end()
    }
}

/// The result of a run: reports in path order, what failed, and how much work was done.
#[derive(Debug, Default, Serialize)]
#[non_exhaustive]
pub struct Analysis {
    pub checkpoints: Vec<CheckpointReport>,
    pub failures: Vec<Failure>,
    /// Checkpoints whose layers were computed in this run.
    pub analyzed: usize,
    /// Checkpoints whose layers came from the cache.
    pub cached: usize,
    /// Files in the directories walked that are not checkpoints (by content and name).
    #[serde(serialize_with = "displayed")]
    pub skipped: Vec<PathBuf>,
    /// Why the cache could not be written, the first time it could not: the run goes on
    /// without it (every result is still computed and reported), so this is a warning.
    pub cache_unwritable: Option<String>,
}

/// Paths as text in JSON, whatever bytes their names hold.
fn displayed<S: serde::Serializer>(paths: &[PathBuf], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(paths.iter().map(|p| p.display().to_string()))
}

/// What [`analyze_paths`] tells a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnalyzeEvent {
    /// The walk is done: this many checkpoint files will be analyzed.
    Found { files: usize },
    /// A file was opened (or found in the cache) with this many layers to analyze.
    Layers { count: usize },
    /// This many more layers are analyzed (or failed, or came from the cache).
    LayersDone { count: usize },
    /// One more file is analyzed (or failed).
    FileDone,
}

/// Where [`AnalyzeEvent`]s go, if anywhere.
type Progress<'a> = Option<&'a (dyn Fn(AnalyzeEvent) + Sync)>;

fn tell(progress: Progress, event: AnalyzeEvent) {
    if let Some(progress) = progress {
        progress(event);
    }
}

/// Analyzes every checkpoint under `paths` (files as given, directories walked recursively).
/// `progress`, when given, hears how many files were found, each file's layers as it is
/// opened and as they finish, and each file finished (from the worker threads).
pub fn analyze_paths(paths: &[PathBuf], options: &AnalyzeOptions, progress: Progress) -> Analysis {
    let (mut failures, mut skipped) = (Vec::new(), Vec::new());
    // (file, the sweep root it was found under)
    let mut files: Vec<(PathBuf, PathBuf)> = Vec::new();
    for path in paths {
        match checkpoint::find_checkpoints(std::slice::from_ref(path)) {
            Ok(found) => {
                if found.checkpoints.is_empty() && found.unreadable.is_empty() {
                    failures.push(Failure::new(path, FailureError::NoCheckpoints { path: path.clone() }));
                }
                let root =
                    if path.is_dir() { path.clone() } else { path.parent().unwrap_or(Path::new("")).to_path_buf() };
                files.extend(found.checkpoints.into_iter().map(|f| (f, root.clone())));
                skipped.extend(found.skipped);
                failures.extend(found.unreadable.into_iter().map(|e| Failure::new(path, e)));
            }
            Err(e) => failures.push(Failure::new(path, e)),
        }
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    tell(progress, AnalyzeEvent::Found { files: files.len() });
    let cached = AtomicUsize::new(0);
    let cache_unwritable = OnceLock::new();
    let run = Run { options, cached: &cached, cache_unwritable: &cache_unwritable, progress };
    let size = |(file, _): &(PathBuf, PathBuf)| std::fs::metadata(file).map_or(0, |m| m.len());
    let results = schedule::costliest_first(&files, size, |(file, root)| {
        let result = run.file(file, root);
        tell(progress, AnalyzeEvent::FileDone);
        result
    });
    let mut checkpoints = Vec::new();
    for (report, file_failures) in results {
        checkpoints.extend(report);
        failures.extend(file_failures);
    }
    let cached = cached.into_inner();
    skipped.sort();
    skipped.dedup();
    Analysis {
        analyzed: checkpoints.len() - cached,
        cached,
        checkpoints,
        failures,
        skipped,
        cache_unwritable: cache_unwritable.into_inner(),
    }
}

/// One checkpoint on its own (its directory is the sweep root). A cache that cannot be
/// written is passed over in silence.
pub fn analyze_file(path: &Path, options: &AnalyzeOptions) -> (Option<CheckpointReport>, Vec<Failure>) {
    let (cached, cache_unwritable) = (AtomicUsize::new(0), OnceLock::new());
    let run = Run { options, cached: &cached, cache_unwritable: &cache_unwritable, progress: None };
    run.file(path, path.parent().unwrap_or(Path::new("")))
}

/// What every file of one run shares.
struct Run<'a> {
    options: &'a AnalyzeOptions,
    cached: &'a AtomicUsize,
    cache_unwritable: &'a OnceLock<String>,
    progress: Progress<'a>,
}

impl Run<'_> {
    /// One checkpoint: from the cache, or read and analyzed (and then cached).
    fn file(&self, path: &Path, root: &Path) -> (Option<CheckpointReport>, Vec<Failure>) {
        let Run { options, cached, cache_unwritable, progress } = *self;
        let masks = options.masks.clone().or_else(|| checkpoint::mask_companion(path));
        // The masks' file is part of what the numbers depend on.
        let settings = match &masks {
            Some(masks) => Cache::key(masks, &options.settings()).map(|k| format!("masks: {k}")),
            None => Some(options.settings()),
        };
        let key = options.cache.as_ref().zip(settings).and_then(|(_, settings)| Cache::key(path, &settings));
        let hit = options.cache.as_ref().zip(key.as_ref()).and_then(|(cache, key)| cache.load(key));
        let (entry, failures) = match hit {
            Some(entry) => {
                if entry.layer_errors.is_empty() {
                    cached.fetch_add(1, Ordering::Relaxed);
                }
                let count = entry.layers.len() + entry.layer_errors.len();
                tell(progress, AnalyzeEvent::Layers { count });
                tell(progress, AnalyzeEvent::LayersDone { count });
                let failures = (entry.layer_errors.iter())
                    .map(|message| Failure::new(path, FailureError::Cached { message: message.clone() }))
                    .collect();
                (entry, failures)
            }
            None => {
                let source = match &masks {
                    Some(masks) => checkpoint::open_with_masks(path, masks),
                    None => checkpoint::open(path),
                };
                let found = match source.and_then(|source| analyze_layers(source.as_ref(), options, progress)) {
                    Ok(found) => found,
                    Err(e) => return (None, vec![Failure::new(path, e)]),
                };
                let entry = cache::Entry {
                    key: key.clone().unwrap_or_default(),
                    metadata: found.metadata,
                    layers: found.layers,
                    layer_errors: found.errors.iter().map(|e| one_line(&e.to_string())).collect(),
                };
                let failures: Vec<Failure> = found.errors.into_iter().map(|e| Failure::new(path, e)).collect();
                if let (Some(cache), Some(_)) = (&options.cache, &key) {
                    if let Err(source) = cache.store(&entry) {
                        let _ = cache_unwritable.set(format!("{}: {source}", cache.dir().display()));
                    }
                }
                (entry, failures)
            }
        };
        // A checkpoint with a layer that could not be read is not reported: its summary would be
        // over fewer layers than the model has, a number that looks right and is not.
        if !entry.layer_errors.is_empty() {
            return (None, failures);
        }
        (Some(report(path, root, entry.metadata, entry.layers, options)), failures)
    }
}

fn report(
    path: &Path,
    root: &Path,
    metadata: BTreeMap<String, String>,
    layers: Vec<LayerMetrics>,
    options: &AnalyzeOptions,
) -> CheckpointReport {
    CheckpointReport {
        checkpoint: path.display().to_string(),
        info: provenance::describe(path, root, &metadata, options.accuracy.as_ref()),
        summary: summarize(&layers, options.params.convention),
        metadata,
        layers,
    }
}

/// What [`analyze_source`] finds in one open checkpoint.
#[non_exhaustive]
pub struct SourceAnalysis {
    pub metadata: BTreeMap<String, String>,
    /// The layers' metrics, in checkpoint order.
    pub layers: Vec<LayerMetrics>,
    /// Layers that could not be read (left out of `layers`).
    pub errors: Vec<CheckpointError>,
}

/// Analyzes every selected layer of an open checkpoint, on every core.
pub fn analyze_source(source: &dyn TensorSource, options: &AnalyzeOptions) -> Result<SourceAnalysis, CheckpointError> {
    analyze_layers(source, options, None)
}

/// [`analyze_source`], the biggest layers first (see [`schedule`]). A worker reads its next
/// layer while the others solve theirs, so about one layer per core is in memory at once.
fn analyze_layers(
    source: &dyn TensorSource,
    options: &AnalyzeOptions,
    progress: Progress,
) -> Result<SourceAnalysis, CheckpointError> {
    let specs = checkpoint::discover_layers(source, &options.filter)?;
    tell(progress, AnalyzeEvent::Layers { count: specs.len() });
    let size = |spec: &checkpoint::LayerSpec| source.tensors()[spec.weight].numel() as u64;
    let results = schedule::costliest_first(&specs, size, |spec| {
        let result = checkpoint::read_layer(source, spec).map(|layer| layer_metrics(&layer, &options.params));
        tell(progress, AnalyzeEvent::LayersDone { count: 1 });
        result
    });
    let mut layers = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(m) => layers.push(m),
            Err(e) => errors.push(e),
        }
    }
    // Numbers from a file rewritten under the reads would mix two versions of it; errors
    // from one cut short would blame the file.
    source.unchanged()?;
    Ok(SourceAnalysis { metadata: source.metadata().clone(), layers, errors })
}

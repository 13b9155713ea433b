//! The sweep file (TOML): what to train, how to analyze it and what to plot. Every key is
//! optional; [`DEFAULT_TOML`] is the default sweep, written out with comments for
//! `maskspec pipeline --print-config`, and a test keeps it equal to [`SweepConfig::default`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::metrics::{Convention, SUMMARY_FIELDS};
use crate::train::config::sparse_run_name;
use crate::train::data::DatasetKind;
use crate::train::{Family, Layout, MaskPattern, Method, TrainConfig};

/// The default sweep, as `--print-config` prints it.
pub const DEFAULT_TOML: &str = r#"# maskspec pipeline sweep file. Every key is optional: a key left out takes the value shown.

[training]
# The keys are `maskspec train`'s flags (--hidden-layers is hidden_layers).
# fashion (Fashion-MNIST at 14×14, built in), digits (8×8, built in), mnist (MNIST or
# Fashion-MNIST IDX files), cifar10, cifar100
dataset = "fashion"
# Directory holding the mnist/cifar files (raw or .gz); not used for fashion or digits.
# data = "/data/fashion-mnist"
# Fractions of each class held out for test (digits only: the others bring their own test set) and validation.
test_fraction = 0.2
val_fraction = 0.1
# Train on about this many samples of the training part, stratified (0: all): a quick trial.
train_samples = 0
# mlp or cnn: the dense network every family transforms (SPEC §7).
model = "mlp"
hidden_layers = 2
width = 128
# Output channels of the CNN's conv stages.
conv_channels = [32, 64]
epochs = 30
# A checkpoint at initialization, every this many epochs and at the end.
checkpoint_every = 5
batch_size = 64
# At 0.05 some Sparse Parallel RigL runs on fashion diverge (loss rising from epoch 4).
lr = 0.02
momentum = 0.9
nesterov = true
weight_decay = 0.0005
warmup_epochs = 2

[sweep]
# The dense baseline, trained once per seed.
dense = true
# Sparse-IFT families (SPEC §7): wide, parallel, factorized, doped.
families = ["wide", "parallel", "factorized", "doped"]
sparsities = [0.5, 0.75, 0.9]
# static, set or rigl (SPEC §8).
methods = ["static", "rigl"]
# uniform or erk.
layouts = ["uniform"]
# Mask structure: unstructured, blockRxC (R, C in 1, 2, 4, 8, 16), N:M or fan-in. An N:M
# pattern fixes the density, so it runs only at the sparsity 1 - N/M (2:4 at 0.5).
patterns = ["unstructured"]
seeds = [0, 1, 2]

[analysis]
# iclr2023 or neurips2023 (SPEC §9).
convention = "iclr2023"
# The nested regular subgraphs (the *_imdb / *_imsg fields).
nested = true

[report]
# Each pair is a heatmap panel: accuracy over (x, y), with the Pareto front.
heatmaps = [["ramanujan_gap_imdb", "weighted_gap_imsg"], ["ramanujan_gap", "weighted_gap"]]
# One scatter of accuracy against each metric, coloured by family.
scatters = ["ramanujan_gap_imdb", "weighted_gap_imsg", "ramanujan_gap", "weighted_gap"]
# The (x, y) of the evolution plot: each run's path over its checkpoints.
evolution = ["ramanujan_gap_imdb", "weighted_gap_imsg"]
# Correlations are also computed within each value of this column.
correlate_by = "sparsity"
bootstrap_resamples = 2000
seed = 0
"#;

/// Larger than any sweep file: a bigger file is refused before it is read into memory.
const MAX_SWEEP_FILE_BYTES: u64 = 1 << 20;

/// Most runs one sweep plans: far beyond what one machine trains, and few enough to plan.
const MAX_RUNS: usize = 100_000;

/// What went wrong with a sweep file; each names the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not a `source`: the message already says the cause, and a source is printed twice in
    // anyhow's error chain.
    #[error("{path}: cannot read: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("{path}: not a valid sweep file: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("sweep file: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SweepConfig {
    /// Everything about training but the grid: the flags of `maskspec train`.
    pub training: TrainConfig,
    pub sweep: SweepGrid,
    pub analysis: AnalysisConfig,
    pub report: ReportConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepGrid {
    pub dense: bool,
    pub families: Vec<Family>,
    pub sparsities: Vec<f64>,
    pub methods: Vec<Method>,
    pub layouts: Vec<Layout>,
    /// Left out of the stored sweep while it is the default, so that sweeps from before
    /// patterns existed keep their identity ([`SweepConfig::hash`]).
    #[serde(skip_serializing_if = "is_unstructured_only")]
    pub patterns: Vec<MaskPattern>,
    pub seeds: Vec<u64>,
}

fn is_unstructured_only(patterns: &[MaskPattern]) -> bool {
    patterns == [MaskPattern::Unstructured]
}

impl Default for SweepGrid {
    fn default() -> Self {
        SweepGrid {
            dense: true,
            families: vec![Family::Wide, Family::Parallel, Family::Factorized, Family::Doped],
            sparsities: vec![0.5, 0.75, 0.9],
            methods: vec![Method::Static, Method::Rigl],
            layouts: vec![Layout::Uniform],
            patterns: vec![MaskPattern::Unstructured],
            seeds: vec![0, 1, 2],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    pub convention: Convention,
    pub nested: bool,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig { convention: Convention::Iclr2023, nested: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    pub heatmaps: Vec<(String, String)>,
    pub scatters: Vec<String>,
    pub evolution: (String, String),
    pub correlate_by: String,
    pub bootstrap_resamples: usize,
    pub seed: u64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        let pair = |x: &str, y: &str| (x.to_string(), y.to_string());
        ReportConfig {
            heatmaps: vec![pair("ramanujan_gap_imdb", "weighted_gap_imsg"), pair("ramanujan_gap", "weighted_gap")],
            scatters: ["ramanujan_gap_imdb", "weighted_gap_imsg", "ramanujan_gap", "weighted_gap"]
                .map(String::from)
                .into(),
            evolution: pair("ramanujan_gap_imdb", "weighted_gap_imsg"),
            correlate_by: "sparsity".into(),
            bootstrap_resamples: 2000,
            seed: 0,
        }
    }
}

/// One training run of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Directory name under `runs/` and the checkpoints' `run` field.
    pub name: String,
    pub family: Family,
    pub sparsity: f64,
    pub method: Method,
    pub layout: Layout,
    pub pattern: MaskPattern,
    pub seed: u64,
}

impl SweepConfig {
    pub fn from_toml(text: &str, path: PathBuf) -> Result<SweepConfig, ConfigError> {
        let config: SweepConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path, message: e.to_string().trim().replace('\n', " ") })?;
        config.validate()?;
        Ok(config)
    }

    pub fn read(path: &std::path::Path) -> Result<SweepConfig, ConfigError> {
        let read = |cause| ConfigError::Read { path: path.to_path_buf(), cause };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > MAX_SWEEP_FILE_BYTES {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!("{size} bytes; a sweep file is a few hundred bytes (is this the right file?)"),
            });
        }
        let bytes = std::fs::read(path).map_err(read)?;
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        })?;
        SweepConfig::from_toml(&text, path.to_path_buf())
    }

    /// The sweep as TOML (no comments), as stored beside a run's outputs.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a sweep config is plain data")
    }

    /// The sweep's identity, recorded in every run marker: a run finished under another sweep
    /// (a run directory copied or merged from elsewhere) is never taken for one of this one.
    pub fn hash(&self) -> String {
        crate::fnv::fnv1a_hex(self.to_toml().as_bytes())
    }

    /// Every check that does not need the data: names, ranges, and that the grid is not empty.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let built_in = matches!(self.training.dataset, DatasetKind::Fashion | DatasetKind::Digits);
        if !built_in && self.training.data.is_none() {
            return bad(format!(
                "training.dataset = \"{}\" needs training.data, the directory of its files",
                self.training.dataset.as_str()
            ));
        }
        self.runs()?;
        let known = |field: &str| SUMMARY_FIELDS.contains(&field);
        let pairs = self.report.heatmaps.iter().chain(std::iter::once(&self.report.evolution));
        let fields = pairs.flat_map(|(x, y)| [x, y]).chain(&self.report.scatters);
        for field in fields {
            if !known(field) {
                return bad(format!(
                    "report: `{field}` is not a checkpoint-level metric; use one of: {}",
                    SUMMARY_FIELDS.join(", ")
                ));
            }
        }
        if self.report.bootstrap_resamples == 0 {
            return bad("report.bootstrap_resamples must be at least 1".into());
        }
        // The rest (epochs, fractions, sizes) is the trainer's to check, with its own messages.
        self.train_config(&self.runs()?[0], PathBuf::new()).validate().map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The runs in a fixed order (dense first, then family × sparsity × method × layout ×
    /// pattern, each over the seeds), so shard `i/n` always means the same runs. An N:M
    /// pattern is planned only at the sparsity it fixes.
    pub fn runs(&self) -> Result<Vec<RunSpec>, ConfigError> {
        let g = &self.sweep;
        let (families, methods, layouts) = (&g.families, &g.methods, &g.layouts);
        if families.contains(&Family::Dense) {
            return Err(ConfigError::Invalid("sweep.families: use `dense = true` for the dense baseline".into()));
        }
        if let Some(s) = g.sparsities.iter().find(|s| !(0.0..1.0).contains(*s)) {
            return Err(ConfigError::Invalid(format!("sweep.sparsities: {s} is not in [0, 1)")));
        }
        if g.seeds.is_empty() {
            return Err(ConfigError::Invalid("sweep.seeds is empty: give at least one seed".into()));
        }
        // Counted before any run is planned: a 1 MB file can list enough values for 10^10 runs.
        let patterns = &g.patterns;
        if let Some(p) =
            patterns.iter().find(|p| p.fixed_density().is_some_and(|d| !g.sparsities.iter().any(|s| fits(*s, d))))
        {
            return Err(ConfigError::Invalid(format!(
                "sweep.patterns: {p} keeps {} of the weights, so it needs sparsity {} in sweep.sparsities",
                p.fixed_density().unwrap_or_default(),
                1.0 - p.fixed_density().unwrap_or_default()
            )));
        }
        let planned = [families.len(), g.sparsities.len(), methods.len(), layouts.len(), patterns.len(), g.seeds.len()]
            .into_iter()
            .try_fold(1usize, usize::checked_mul)
            .and_then(|n| n.checked_add(if g.dense { g.seeds.len() } else { 0 }));
        if planned.is_none_or(|n| n > MAX_RUNS) {
            return Err(ConfigError::Invalid(format!(
                "[sweep] describes {} runs (families x sparsities x methods x layouts x patterns x seeds), more than the {MAX_RUNS} \
                 one sweep plans; split it into several sweeps",
                planned.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string())
            )));
        }
        let mut runs = Vec::new();
        if g.dense {
            for &seed in &g.seeds {
                let name = format!("dense_seed{seed}");
                runs.push(RunSpec {
                    name,
                    family: Family::Dense,
                    sparsity: 0.0,
                    method: Method::Static,
                    layout: Layout::Uniform,
                    pattern: MaskPattern::Unstructured,
                    seed,
                });
            }
        }
        for &family in families {
            for &sparsity in &g.sparsities {
                for &method in methods {
                    for &layout in layouts {
                        for &pattern in patterns {
                            if pattern.fixed_density().is_some_and(|d| !fits(sparsity, d)) {
                                continue;
                            }
                            for &seed in &g.seeds {
                                let name = sparse_run_name(family, sparsity, method, layout, pattern, seed);
                                runs.push(RunSpec { name, family, sparsity, method, layout, pattern, seed });
                            }
                        }
                    }
                }
            }
        }
        if runs.is_empty() {
            return Err(ConfigError::Invalid(
                "the sweep has no runs: set dense = true or give families, sparsities, methods, layouts and patterns"
                    .into(),
            ));
        }
        let mut names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::Invalid(format!("run `{}` appears twice: remove the repeated value", w[0])));
        }
        Ok(runs)
    }

    /// The trainer's configuration of one run, writing into `out`. Each run trains on one
    /// thread (runs go in parallel), which also makes its checkpoints bit-reproducible.
    pub fn train_config(&self, run: &RunSpec, out: PathBuf) -> TrainConfig {
        TrainConfig {
            run: Some(run.name.clone()),
            family: run.family,
            sparsity: run.sparsity,
            method: run.method,
            layout: run.layout,
            sparsity_pattern: run.pattern,
            seed: run.seed,
            out,
            threads: 1,
            ..self.training.clone()
        }
    }

    pub fn convention(&self) -> Convention {
        self.analysis.convention
    }
}

/// Whether `sparsity` leaves the `density` an N:M pattern keeps.
fn fits(sparsity: f64, density: f64) -> bool {
    (1.0 - sparsity - density).abs() < 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_is_the_default() {
        let parsed = SweepConfig::from_toml(DEFAULT_TOML, "default.toml".into()).unwrap();
        assert_eq!(parsed, SweepConfig::default());
    }

    #[test]
    fn the_default_sweep_is_dense_plus_four_families_three_sparsities_two_methods_three_seeds() {
        let runs = SweepConfig::default().runs().unwrap();
        assert_eq!(runs.len(), 3 + 4 * 3 * 2 * 3);
        assert_eq!(runs[0].name, "dense_seed0");
        assert_eq!(runs[3].name, "wide_s0.5_static_uniform_seed0");
    }

    #[test]
    fn patterns_multiply_the_grid_and_n_of_m_runs_only_at_its_sparsity() {
        let text = "[sweep]\ndense = false\nfamilies = [\"wide\"]\nmethods = [\"rigl\"]\nseeds = [0]\n\
                    patterns = [\"unstructured\", \"block4x4\", \"2:4\", \"fan-in\"]";
        let config = SweepConfig::from_toml(text, "s.toml".into()).unwrap();
        let names: Vec<String> = config.runs().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names.len(), 3 * 3 + 1, "{names:?}");
        assert!(names.contains(&"wide_s0.5_rigl_uniform_2of4_seed0".to_string()), "{names:?}");
        assert!(names.contains(&"wide_s0.9_rigl_uniform_block4x4_seed0".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("s0.9_rigl_uniform_2of4")));
        // The default grid is stored as before patterns existed: old sweeps keep their hash.
        assert!(!SweepConfig::default().to_toml().contains("patterns"));
        assert!(config.to_toml().contains("patterns = [\"unstructured\", \"block4x4\", \"2:4\", \"fan-in\"]"));
    }

    #[test]
    fn a_stored_config_reads_back_equal() {
        let mut config = SweepConfig::default();
        config.training.data = Some("/data/x".into());
        config.sweep.sparsities = vec![0.9];
        let back = toml::from_str::<SweepConfig>(&config.to_toml()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn mistakes_name_the_key() {
        let err = |text: &str| SweepConfig::from_toml(text, "s.toml".into()).unwrap_err().to_string();
        assert!(err("[sweep]\nfamilies = [\"wyde\"]").contains("unknown variant `wyde`, expected one of"));
        assert!(err("[sweep]\nsparsities = [1.5]").contains("1.5 is not in [0, 1)"));
        assert!(err("[sweep]\nseed = [1]").contains("unknown field `seed`"));
        assert!(err("[report]\nscatters = [\"gap\"]").contains("`gap` is not a checkpoint-level metric"));
        assert!(err("[training]\ndataset = \"mnist\"").contains("needs training.data"));
        assert!(err("[data]\nkind = \"mnist\"").contains("unknown field `data`"));
        assert!(err("[training]\nepochs = 0").contains("epochs"));
        assert!(err("[sweep]\nseeds = [0, 0]").contains("appears twice"));
        assert!(err("[sweep\n").starts_with("s.toml: not a valid sweep file"));
        // Sizes that would exhaust memory are refused by name before anything is built.
        let seeds: Vec<String> = (0..100_000).map(|s| s.to_string()).collect();
        let sparsities: Vec<String> = (0..1000).map(|k| format!("0.{k:04}")).collect();
        let huge = format!("[sweep]\nseeds = [{}]\nsparsities = [{}]", seeds.join(","), sparsities.join(","));
        assert!(err(&huge)
            .contains("runs (families x sparsities x methods x layouts x patterns x seeds), more than the 100000"));
        assert!(err("[sweep]\npatterns = [\"block3x3\"]").contains("block sides must be 1, 2, 4, 8 or 16"));
        assert!(err("[sweep]\npatterns = [\"1:4\"]\nsparsities = [0.5]")
            .contains("needs sparsity 0.75 in sweep.sparsities"));
        assert!(err("[training]\nwidth = 100000000").contains("--width 100000000 is more than the 8192"));
    }

    #[test]
    fn files_that_cannot_be_sweep_files_are_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::File::create(&big).unwrap().set_len(MAX_SWEEP_FILE_BYTES + 1).unwrap();
        assert!(SweepConfig::read(&big).unwrap_err().to_string().contains("a sweep file is a few hundred bytes"));
        let binary = dir.path().join("bin.toml");
        std::fs::write(&binary, b"[sweep]\n\xff\xfe").unwrap();
        assert!(SweepConfig::read(&binary).unwrap_err().to_string().contains("not UTF-8 text (byte 8)"));
        let missing = SweepConfig::read(&dir.path().join("none.toml")).unwrap_err().to_string();
        assert!(missing.contains("none.toml: cannot read"), "{missing}");
    }

    proptest::proptest! {
        /// Cut and flipped default files: a parsed config or a clean error, never a panic.
        #[test]
        fn mangled_sweep_files_give_an_error_or_a_config(cut in 0usize..DEFAULT_TOML.len(), flip in 0usize..DEFAULT_TOML.len(), byte: u8) {
            let mut bytes = DEFAULT_TOML.as_bytes()[..cut.max(flip + 1).min(DEFAULT_TOML.len())].to_vec();
            let at = flip.min(bytes.len() - 1);
            bytes[at] = byte;
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(config) = SweepConfig::from_toml(&text, "fuzz.toml".into()) {
                proptest::prop_assert!(!config.runs().unwrap().is_empty());
            }
        }
    }
}

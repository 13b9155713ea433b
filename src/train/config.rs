//! The one description of a training run. `maskspec train`'s flags flatten into it (with the
//! `cli` feature), the sweep file's `[training]` table deserializes into it, and its
//! [`Default`] is the only place a default is written, so the command line, the sweep file and
//! the library cannot drift apart. The key names are the flag names (`--hidden-layers` is
//! `hidden_layers`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::data::DatasetKind;
use super::{Family, Layout, MaskPattern, Method, TrainError};

/// Widest hidden layer trained: 8192² weights is 64 M per dense layer, far beyond what a CPU
/// sweep trains. The whole model is bounded by [`MAX_MODEL_WEIGHTS`].
const MAX_WIDTH: usize = 8192;

/// Most weights a model may have, every sparse layer counted at its full shape (its mask and
/// RigL's dense gradient are that size): about 2.7 GB of training state. Checked once the
/// layers are sized, before any is built.
pub const MAX_MODEL_WEIGHTS: usize = 1 << 27;

/// The network a family transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Fully connected: `--hidden-layers` × `--width`.
    Mlp,
    /// Conv–BN–ReLU–pool stages of `--conv-channels`, global average pooling, classifier.
    Cnn,
}

/// Everything one run depends on; no global state, so many runs can go in parallel.
///
/// The fields a sweep sets per run (name, family, sparsity, method, layout, seed, output
/// directory, threads) are not keys of the sweep file's `[training]` table: the sweep's grid
/// and the pipeline fill them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name stored in the checkpoints (default: FAMILY_sSPARSITY_METHOD_LAYOUT_seedN).
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub run: Option<String>,
    /// Sparse-IFT family replacing every dense layer (SPEC §7); `dense` is the baseline.
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Family::Dense))]
    pub family: Family,
    /// Sparsity s in [0, 1) of the sparse layers (ignored by `dense`).
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().sparsity))]
    pub sparsity: f64,
    /// Mask updates during training (SPEC §8): static, set or rigl.
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Method::Static))]
    pub method: Method,
    /// Initial distribution of nonzeros over the sparse layers: uniform or erk.
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Layout::Uniform))]
    pub layout: Layout,
    /// Structure of the sparse masks, kept through every DST update: unstructured, blockRxC
    /// (R, C in 1, 2, 4, 8, 16: whole tiles of outputs × inputs), N:M (every N of M
    /// consecutive inputs: the sparsity must be 1 − N/M; a layer at another density, such as
    /// Sparse Wide's first and last, keeps a constant fan-in) or fan-in (every output the same
    /// number of inputs).
    #[serde(skip)]
    #[cfg_attr(
        feature = "cli",
        arg(long, default_value = "unstructured", value_parser = str::parse::<MaskPattern>, value_name = "PATTERN")
    )]
    pub sparsity_pattern: MaskPattern,
    /// Seed of the data split, initialization, masks, batch order and DST growth.
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 0))]
    pub seed: u64,
    /// Output directory for `epoch_EEEE.safetensors` checkpoints and `log.csv`.
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(long))]
    pub out: PathBuf,
    /// Worker threads (0: all cores); 1 gives bit-identical checkpoints for a seed.
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 0))]
    pub threads: usize,

    /// Training epochs.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().epochs))]
    pub epochs: usize,
    /// Write a checkpoint every N epochs (0: only at initialization and at the end).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().checkpoint_every))]
    pub checkpoint_every: usize,
    /// Mini-batch size.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().batch_size))]
    pub batch_size: usize,
    /// Peak learning rate (cosine decay after a linear warm-up).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().lr))]
    pub lr: f64,
    /// SGD momentum.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().momentum))]
    pub momentum: f32,
    /// Nesterov momentum (`--no-nesterov` for plain momentum).
    #[cfg_attr(
        feature = "cli",
        arg(long = "no-nesterov", action = clap::ArgAction::SetFalse, help = "Plain momentum instead of Nesterov")
    )]
    pub nesterov: bool,
    /// L2 weight decay on weights (not biases).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().weight_decay))]
    pub weight_decay: f32,
    /// Epochs of linear learning-rate warm-up.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().warmup_epochs))]
    pub warmup_epochs: usize,

    /// Network the family transforms: mlp or cnn.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = ModelKind::Mlp))]
    pub model: ModelKind,
    /// Hidden layers of the dense MLP the family transforms.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().hidden_layers))]
    pub hidden_layers: usize,
    /// Width of each hidden layer of the dense MLP.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().width))]
    pub width: usize,
    /// Output channels of the CNN's conv stages, comma-separated (each stage halves H and W).
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', default_value = "32,64"))]
    pub conv_channels: Vec<usize>,

    /// Data set: the built-in Fashion-MNIST subset or digits, or MNIST / Fashion-MNIST IDX
    /// files, CIFAR-10 or CIFAR-100 binary files from --data.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = DatasetKind::Fashion))]
    pub dataset: DatasetKind,
    /// Directory holding the --dataset files (raw or .gz); fashion and digits are built in.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "cli", arg(long))]
    pub data: Option<PathBuf>,
    /// Fraction of each digit class held out for the test accuracy (the other data sets bring
    /// their own test set).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().test_fraction))]
    pub test_fraction: f64,
    /// Fraction of each class held out for the validation accuracy (0: none, `val_acc` is NaN).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().val_fraction))]
    pub val_fraction: f64,
    /// Train on at most about this many samples of the training part, stratified and seeded
    /// (0: all of them): a quick trial. Validation and test are unchanged.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainConfig::default().train_samples))]
    pub train_samples: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            run: None,
            family: Family::Dense,
            sparsity: 0.9,
            method: Method::Static,
            layout: Layout::Uniform,
            sparsity_pattern: MaskPattern::Unstructured,
            seed: 0,
            out: PathBuf::from("runs"),
            threads: 0,
            epochs: 30,
            checkpoint_every: 5,
            batch_size: 64,
            lr: 0.02,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            warmup_epochs: 2,
            model: ModelKind::Mlp,
            hidden_layers: 2,
            width: 128,
            conv_channels: vec![32, 64],
            dataset: DatasetKind::Fashion,
            data: None,
            test_fraction: 0.2,
            val_fraction: 0.1,
            train_samples: 0,
        }
    }
}

impl TrainConfig {
    /// The sparsity the run actually has: the dense baseline has none.
    pub fn effective_sparsity(&self) -> f64 {
        if self.family == Family::Dense {
            0.0
        } else {
            self.sparsity
        }
    }

    /// The name recorded in the checkpoints: `run`, else [`sparse_run_name`] of its fields.
    pub fn run_name(&self) -> String {
        self.run.clone().unwrap_or_else(|| {
            sparse_run_name(
                self.family,
                self.effective_sparsity(),
                self.method,
                self.layout,
                self.sparsity_pattern,
                self.seed,
            )
        })
    }

    /// Threads the run's kernels use: `threads`, or every core for 0.
    pub fn worker_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.epochs == 0 {
            return bad("--epochs must be at least 1".into());
        }
        if self.batch_size == 0 || self.width == 0 || self.hidden_layers == 0 {
            return bad("--batch-size, --width and --hidden-layers must be at least 1".into());
        }
        // Checked before a model is built: a width of 10^8 is a 10^16-weight layer.
        for (flag, value, most) in [
            ("--width", self.width, MAX_WIDTH),
            ("--hidden-layers", self.hidden_layers, 100),
            ("--batch-size", self.batch_size, 1 << 16),
            ("--epochs", self.epochs, 100_000),
        ] {
            if value > most {
                return bad(format!("{flag} {value} is more than the {most} maskspec trains"));
            }
        }
        if !(self.test_fraction > 0.0 && self.val_fraction >= 0.0 && self.test_fraction + self.val_fraction < 1.0) {
            return bad(format!(
                "--test-fraction {} and --val-fraction {} must leave training data (test > 0, val ≥ 0, sum < 1)",
                self.test_fraction, self.val_fraction
            ));
        }
        if let Some(density) = self.sparsity_pattern.fixed_density() {
            if self.family != Family::Dense && (1.0 - self.sparsity - density).abs() > 1e-9 {
                return bad(format!(
                    "--sparsity-pattern {} keeps {density} of the weights: use --sparsity {}, or another N:M",
                    self.sparsity_pattern,
                    1.0 - density
                ));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("--lr {} must be a positive number", self.lr));
        }
        Ok(())
    }
}

/// `FAMILY_sSPARSITY_METHOD_LAYOUT[_PATTERN]_seedN`, the pattern (as a file name: `2of4`)
/// only when it is not unstructured, so names from before patterns existed still mean the
/// same runs.
pub fn sparse_run_name(
    family: Family,
    sparsity: f64,
    method: Method,
    layout: Layout,
    pattern: MaskPattern,
    seed: u64,
) -> String {
    let pattern = match pattern {
        MaskPattern::Unstructured => String::new(),
        other => format!("_{}", other.file_name()),
    };
    format!("{}_s{sparsity}_{}_{}{pattern}_seed{seed}", family.as_str(), method.as_str(), layout.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_training_table_takes_the_flag_names_and_refuses_per_run_keys() {
        let cfg: TrainConfig =
            toml::from_str("epochs = 3\nhidden_layers = 1\ndataset = \"mnist\"\nnesterov = false").unwrap();
        assert_eq!((cfg.epochs, cfg.hidden_layers, cfg.dataset, cfg.nesterov), (3, 1, DatasetKind::Mnist, false));
        assert_eq!(cfg.batch_size, TrainConfig::default().batch_size);
        for per_run in ["family = \"wide\"", "seed = 1", "threads = 2", "run = \"x\"", "out = \"o\""] {
            let err = toml::from_str::<TrainConfig>(per_run).unwrap_err().to_string();
            assert!(err.contains("unknown field"), "{per_run}: {err}");
        }
        let err = toml::from_str::<TrainConfig>("model = \"transformer\"").unwrap_err().to_string();
        assert!(err.contains("unknown variant `transformer`"), "{err}");
    }

    #[test]
    fn run_names_and_threads() {
        let mut cfg = TrainConfig { family: Family::Wide, sparsity: 0.75, method: Method::Rigl, ..Default::default() };
        assert_eq!(cfg.run_name(), "wide_s0.75_rigl_uniform_seed0");
        cfg.sparsity_pattern = "2:4".parse().unwrap();
        assert_eq!(cfg.run_name(), "wide_s0.75_rigl_uniform_2of4_seed0");
        assert!(cfg.validate().unwrap_err().to_string().contains("use --sparsity 0.5"));
        cfg.sparsity = 0.5;
        assert!(cfg.validate().is_ok());
        cfg.sparsity_pattern = MaskPattern::Unstructured;
        cfg.family = Family::Dense;
        assert_eq!(cfg.run_name(), "dense_s0_rigl_uniform_seed0");
        cfg.run = Some("mine".into());
        assert_eq!(cfg.run_name(), "mine");
        assert!(cfg.worker_threads() >= 1);
        assert_eq!(TrainConfig { threads: 3, ..cfg }.worker_threads(), 3);
    }
}

//! The Sparse-IFT trainer on maskspec's own sparse kernels (SPEC §6–8).
//!
//! [`run`] is what `maskspec train` calls (flags in [`TrainArgs`], a progress bar on a
//! terminal); [`train_run`] is the same run without any terminal output, for the pipeline
//! to call many times in parallel (each run's thread count is part of its config).

pub mod cnn;
pub mod conv;
pub mod data;
pub mod dst;
pub mod kernels;
pub mod model;
pub mod optim;
pub mod sift;
pub mod trainer;

pub use dst::Method;
pub use sift::{Family, Layout};
pub use trainer::{train_run, train_step, ModelKind, Progress, TrainConfig, TrainSummary};

use std::io::IsTerminal;
use std::path::PathBuf;

/// What can go wrong in a training run; each variant names the thing to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("data set {name}: {reason}")]
    Data { name: String, reason: String },
    #[error("invalid training options: {0}")]
    Config(String),
    #[error("{path}: {source}; check that the output directory is writable")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error("run {run}: the loss became NaN or infinite in epoch {epoch}; lower --lr")]
    Diverged { run: String, epoch: usize },
}

/// `maskspec train`: one Sparse-IFT run on the embedded digits.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Sparse-IFT family replacing every dense layer (SPEC §7); `dense` is the baseline.
    #[arg(long, value_enum, default_value = "dense")]
    pub family: Family,
    /// Sparsity s in [0, 1) of the sparse layers (ignored by `dense`).
    #[arg(long, default_value_t = 0.9)]
    pub sparsity: f64,
    /// Mask updates during training (SPEC §8): static, set or rigl.
    #[arg(long, value_enum, default_value = "static")]
    pub method: Method,
    /// Initial distribution of nonzeros over the sparse layers: uniform or erk.
    #[arg(long, value_enum, default_value = "uniform")]
    pub layout: Layout,
    /// Seed of the data split, initialization, masks, batch order and DST growth.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Write a checkpoint every N epochs (0: only at initialization and at the end).
    #[arg(long, default_value_t = 10)]
    pub checkpoint_every: usize,
    /// Output directory for `epoch_EEEE.safetensors` checkpoints and `log.csv`.
    #[arg(long)]
    pub out: PathBuf,
    /// Run name stored in the checkpoints (default: family_sSPARSITY_method_layout_seedN).
    #[arg(long)]
    pub run: Option<String>,
    /// Network the family transforms: mlp or cnn.
    #[arg(long, value_enum, default_value = "mlp")]
    pub model: ModelKind,
    /// Output channels of the CNN's conv stages, comma-separated (each stage halves H and W).
    #[arg(long, value_delimiter = ',', default_value = "32,64")]
    pub conv_channels: Vec<usize>,
    /// Hidden layers of the dense MLP the family transforms.
    #[arg(long, default_value_t = 2)]
    pub hidden_layers: usize,
    /// Width of each hidden layer of the dense MLP.
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak learning rate (cosine decay after a linear warm-up).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Plain momentum instead of Nesterov.
    #[arg(long)]
    pub no_nesterov: bool,
    /// L2 weight decay on weights (not biases).
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// Epochs of linear learning-rate warm-up.
    #[arg(long, default_value_t = 2)]
    pub warmup_epochs: usize,
    /// Data set: the built-in digits, or MNIST / Fashion-MNIST IDX files, CIFAR-10 or
    /// CIFAR-100 binary files from --data.
    #[arg(long, value_enum, default_value = "digits")]
    pub dataset: data::DatasetKind,
    /// Directory holding the --dataset files (raw or .gz).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Fraction of each digit class held out for the test accuracy (MNIST/CIFAR bring their
    /// own test set).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Fraction of each class held out for the validation accuracy (0: none, `val_acc` is NaN).
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Worker threads (0: all cores); 1 gives bit-identical checkpoints for a seed.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl TrainArgs {
    pub fn config(&self) -> TrainConfig {
        let run = self.run.clone().unwrap_or_else(|| {
            let s = if self.family == Family::Dense { 0.0 } else { self.sparsity };
            format!("{}_s{s}_{}_{}_seed{}", self.family.as_str(), self.method.as_str(), self.layout.as_str(), self.seed)
        });
        TrainConfig {
            run,
            family: self.family,
            sparsity: self.sparsity,
            method: self.method,
            layout: self.layout,
            seed: self.seed,
            epochs: self.epochs,
            checkpoint_every: self.checkpoint_every,
            out: self.out.clone(),
            model: self.model,
            conv_channels: self.conv_channels.clone(),
            hidden_layers: self.hidden_layers,
            width: self.width,
            batch_size: self.batch_size,
            lr: self.lr,
            momentum: self.momentum,
            nesterov: !self.no_nesterov,
            weight_decay: self.weight_decay,
            warmup_epochs: self.warmup_epochs,
            dataset: self.dataset,
            data: self.data.clone(),
            test_fraction: self.test_fraction,
            val_fraction: self.val_fraction,
            threads: if self.threads == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                self.threads
            },
        }
    }
}

/// `maskspec train`: runs [`train_run`] with a progress bar (loss, ETA) on stderr when it is a
/// terminal.
pub fn run(args: &TrainArgs) -> Result<TrainSummary, TrainError> {
    let cfg = args.config();
    if !std::io::stderr().is_terminal() {
        return train_run(&cfg, None);
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps, {msg}, ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(cfg.run.clone());
    let report = |p: Progress| {
        bar.set_length(p.total_steps as u64);
        bar.set_position(p.step as u64);
        bar.set_message(p.message());
    };
    let summary = train_run(&cfg, Some(&report));
    bar.finish_and_clear();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        train: TrainArgs,
    }

    #[test]
    fn flags_parse_into_a_config() {
        let cli = Cli::try_parse_from([
            "train",
            "--family",
            "wide",
            "--sparsity",
            "0.75",
            "--method",
            "rigl",
            "--layout",
            "erk",
            "--seed",
            "3",
            "--epochs",
            "5",
            "--checkpoint-every",
            "2",
            "--out",
            "runs/x",
            "--threads",
            "1",
            "--no-nesterov",
        ])
        .unwrap();
        let cfg = cli.train.config();
        assert_eq!((cfg.family, cfg.method, cfg.layout), (Family::Wide, Method::Rigl, Layout::Erk));
        assert_eq!((cfg.sparsity, cfg.seed, cfg.epochs, cfg.checkpoint_every), (0.75, 3, 5, 2));
        assert_eq!(cfg.out, PathBuf::from("runs/x"));
        assert_eq!(cfg.run, "wide_s0.75_rigl_erk_seed3");
        assert!(!cfg.nesterov);
        assert_eq!(cfg.threads, 1);
    }

    #[test]
    fn defaults_and_bad_values() {
        let cfg = Cli::try_parse_from(["train", "--out", "o"]).unwrap().train.config();
        assert_eq!(cfg.family, Family::Dense);
        assert_eq!(cfg.run, "dense_s0_static_uniform_seed0");
        assert!(cfg.threads >= 1);
        assert!(Cli::try_parse_from(["train", "--out", "o", "--family", "huge"]).is_err());
        assert!(Cli::try_parse_from(["train"]).is_err(), "--out is required");
    }
}

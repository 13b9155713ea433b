//! The Sparse-IFT trainer on maskspec's own sparse kernels (SPEC §6–8).
//!
//! [`train_run`] trains one run as its [`TrainConfig`] says and reports each step to a callback
//! (the binary draws a progress bar from it); it writes nothing to the terminal, so the
//! pipeline calls it for many runs in parallel (each run's thread count is part of its config).

pub mod cnn;
pub mod config;
pub mod conv;
pub mod data;
pub mod dst;
pub mod kernels;
pub mod model;
pub mod optim;
pub mod pattern;
pub mod sift;
pub mod spectra;
pub mod trainer;

pub use config::{ModelKind, TrainConfig};
pub use dst::Method;
pub use pattern::MaskPattern;
pub use sift::{Family, Layout};
pub use trainer::{train_run, train_step, Progress, TrainSummary};

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

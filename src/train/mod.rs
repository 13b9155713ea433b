//! The Sparse-IFT trainer on maskspec's own sparse kernels (SPEC §6–8).

pub mod data;
pub mod kernels;

/// What can go wrong in a training run; each variant names the thing to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("data set {name}: {reason}")]
    Data { name: String, reason: String },
}

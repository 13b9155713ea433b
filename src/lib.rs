//! maskspec: spectral graph analysis of sparse neural-network masks.
//!
//! One layer, analyzed (every field is defined in `docs/SPEC.md`):
//!
//! ```
//! use maskspec::checkpoint::Layer;
//! use maskspec::metrics::{layer_metrics, MetricParams};
//!
//! let weight: Vec<f64> = (0..48).map(|i| if i % 3 == 0 { 0.0 } else { 1.0 + i as f64 / 10.0 }).collect();
//! let layer = Layer::new("fc.weight", vec![6, 8], weight, None)?; // mask: the nonzero weights
//! let metrics = layer_metrics(&layer, &MetricParams::default());
//! assert!(metrics.mu0.unwrap() >= metrics.mu_hat.unwrap());
//! # Ok::<(), maskspec::checkpoint::LayerError>(())
//! ```
//!
//! Files are read with [`checkpoint::open`] and [`checkpoint::load_layer`], or whole sweeps
//! with [`analyze::analyze_paths`]. The `cli` feature (on by default) adds the `maskspec`
//! binary; without it the library has no terminal dependencies.
//!
//! Data flows one way (`docs/SPEC.md` defines every number):
//! checkpoint files → [`checkpoint::Layer`] → [`graph::Csr`] biadjacency → [`spectral`]
//! singular values → [`metrics`] per layer and per checkpoint → [`export`] / [`stats`] / [`plot`].
//! The [`train`] module produces checkpoints on our own sparse kernels.

pub mod analyze;
pub mod atomic;
pub mod checkpoint;
pub mod export;
mod fnv;
pub mod graph;
pub mod metrics;
pub mod pipeline;
pub mod plot;
pub mod provenance;
pub mod spectral;
pub mod stats;
pub mod table;
pub mod train;

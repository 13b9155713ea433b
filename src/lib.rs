//! maskspec: spectral graph analysis of sparse neural-network masks.
//!
//! Data flows one way (see `DESIGN.md` of the project and `SPEC.md` for every number):
//! checkpoint files → [`checkpoint::Layer`] → [`graph::Csr`] biadjacency → [`spectral`]
//! singular values → [`metrics`] per layer and per checkpoint → [`export`] / [`stats`] / [`plot`].
//! The [`train`] module produces checkpoints on our own sparse kernels.

pub mod analyze;
pub mod atomic;
pub mod checkpoint;
pub mod export;
pub mod graph;
pub mod metrics;
pub mod pipeline;
pub mod plot;
pub mod spectral;
pub mod stats;
pub mod sweep;
pub mod table;
pub mod train;

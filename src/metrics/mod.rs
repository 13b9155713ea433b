//! SPEC §2–4: the metrics of one layer's graph, of its nested regular subgraphs, and the
//! checkpoint summary. Field names are SPEC's names, in the structs and in every output.

mod graph_metrics;
mod layer;
mod nested;
mod summary;

#[cfg(test)]
mod convention_tests;

pub use graph_metrics::{graph_metrics, GraphMetrics};
pub use layer::{layer_metrics, LayerMetrics};
pub use nested::{nested_metrics, NestedMetrics};
pub use summary::{summarize, CheckpointSummary, SUMMARY_FIELDS};

use crate::spectral::SvdParams;

/// Both mean degrees must reach this for the Ramanujan quantities (SPEC §2's gate).
pub const GATE: f64 = 3.0;
/// A degree class needs this many input nodes to form a nested subgraph (SPEC §3).
pub const MIN_CLASS: usize = 3;

/// Whose definitions the numbers follow (SPEC §9). The default is the ICLR 2023 code's;
/// `Neurips2023` reproduces the NeurIPS 2023 code (Hoang et al., "Don't just prune by
/// magnitude!"), whose published figures a user may want to compare with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Convention {
    #[default]
    #[cfg_attr(feature = "cli", value(name = "iclr2023"))]
    Iclr2023,
    #[cfg_attr(feature = "cli", value(name = "neurips2023"))]
    Neurips2023,
}

impl Convention {
    /// Whether a graph with mean degrees `d_in`, `d_out` passes the gate. NeurIPS 2023 gates
    /// `d_left ≥ 3 and d_right > 1`, its "left" side being the outputs on a full layer and
    /// the inputs in a nested subgraph.
    pub fn passes_gate(self, d_in: f64, d_out: f64, full_layer: bool) -> bool {
        match self {
            Convention::Iclr2023 => d_in >= GATE && d_out >= GATE,
            Convention::Neurips2023 => {
                let (left, right) = if full_layer { (d_out, d_in) } else { (d_in, d_out) };
                left >= GATE && right > 1.0
            }
        }
    }

    /// How many input nodes a degree class needs to form a nested subgraph.
    pub fn min_class(self) -> usize {
        match self {
            Convention::Iclr2023 => MIN_CLASS,
            Convention::Neurips2023 => 2,
        }
    }

    /// The factor each nested subgraph's Δr and λ are multiplied by: 1 for ICLR 2023, the
    /// Cheeger-type `max(n_in, n_out) / (n_in + n_out − 1)` for NeurIPS 2023.
    pub fn class_factor(self, n_in: usize, n_out: usize) -> f64 {
        match self {
            Convention::Iclr2023 => 1.0,
            Convention::Neurips2023 => n_in.max(n_out) as f64 / (n_in + n_out - 1) as f64,
        }
    }

    /// NeurIPS 2023 computes the weighted gap only for graphs that pass the gate, and counts
    /// a missing value as 0 in model means instead of skipping the layer.
    pub fn gates_everything(self) -> bool {
        self == Convention::Neurips2023
    }
}

/// How metrics are computed: solver settings, whether to compute the nested subgraphs, and
/// the convention.
#[derive(Debug, Clone)]
pub struct MetricParams {
    pub svd: SvdParams,
    pub nested: bool,
    pub convention: Convention,
}

impl Default for MetricParams {
    fn default() -> Self {
        MetricParams { svd: SvdParams::default(), nested: true, convention: Convention::default() }
    }
}

//! SPEC §2–4: the metrics of one layer's graph, of its nested regular subgraphs, and the
//! checkpoint summary. Field names are SPEC's names, in the structs and in every output.

mod graph_metrics;
mod layer;
mod nested;
mod summary;

pub use graph_metrics::{graph_metrics, GraphMetrics};
pub use layer::{layer_metrics, LayerMetrics};
pub use nested::{nested_metrics, NestedMetrics};
pub use summary::{summarize, CheckpointSummary, SUMMARY_FIELDS};

use crate::spectral::SvdParams;

/// Both mean degrees must reach this for the Ramanujan quantities (SPEC §2's gate).
pub const GATE: f64 = 3.0;
/// A degree class needs this many input nodes to form a nested subgraph (SPEC §3).
pub const MIN_CLASS: usize = 3;

/// How metrics are computed: solver settings and whether to compute the nested subgraphs.
#[derive(Debug, Clone)]
pub struct MetricParams {
    pub svd: SvdParams,
    pub nested: bool,
}

impl Default for MetricParams {
    fn default() -> Self {
        MetricParams { svd: SvdParams::default(), nested: true }
    }
}

use super::{graph_metrics, nested_metrics, MetricParams, NestedMetrics};
use crate::checkpoint::LayerView;
use crate::graph::{connected_components, BipartiteGraph};
use serde::{Deserialize, Serialize};

/// Every SPEC §2–3 field of one layer. `None` is null: a collapsed layer (`E = 0`) has only
/// its sizes; the Ramanujan quantities are null below the gate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LayerMetrics {
    pub layer: String,
    /// The weight's shape, e.g. `64x16x3x3`.
    pub shape: String,
    pub dim_in: usize,
    pub dim_out: usize,
    pub n_in: usize,
    pub n_out: usize,
    pub edges: usize,
    pub density: f64,
    /// The mask's structure: `unstructured`, `blockRxC`, `N:M`, `fan-in`, `dense` or `empty`.
    pub pattern: String,
    pub isolated_in: usize,
    pub isolated_out: usize,
    pub collapsed: bool,
    pub components: Option<usize>,
    pub d_in: Option<f64>,
    pub d_out: Option<f64>,
    pub d_avg: Option<f64>,
    pub gated: Option<bool>,
    pub mu0: Option<f64>,
    pub mu_hat: Option<f64>,
    pub bound_biregular: Option<f64>,
    pub bound_regular: Option<f64>,
    pub ramanujan_gap: Option<f64>,
    pub ramanujan_gap_norm: Option<f64>,
    pub regular_gap: Option<f64>,
    pub spectral_bound: Option<f64>,
    pub spectral_gap_bound: Option<f64>,
    pub spectral_gap_bound_norm: Option<f64>,
    pub weighted_mu0: Option<f64>,
    pub weighted_mu_hat: Option<f64>,
    pub weighted_gap: Option<f64>,
    pub expansion: Option<f64>,
    pub random_coef: Option<f64>,
    #[serde(flatten)]
    pub nested: NestedMetrics,
    pub full_spectrum_l2: Option<f64>,
}

/// All metrics of one layer: a [`Layer`](crate::checkpoint::Layer) a reader delivered, or a
/// [`LayerView`] over arrays the caller owns (read in place).
pub fn layer_metrics<'a>(layer: impl Into<LayerView<'a>>, params: &MetricParams) -> LayerMetrics {
    let layer = layer.into();
    let graph = BipartiteGraph::from_layer(layer);
    let (dim_in, dim_out) = (graph.dim_in, graph.dim_out);
    let mut m = LayerMetrics {
        layer: layer.name().to_string(),
        shape: layer.shape().iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x"),
        dim_in,
        dim_out,
        n_in: graph.n_in(),
        n_out: graph.n_out(),
        edges: graph.edges(),
        density: graph.edges() as f64 / (dim_in * dim_out) as f64,
        pattern: graph.pattern.to_string(),
        isolated_in: graph.isolated_in(),
        isolated_out: graph.isolated_out(),
        collapsed: graph.edges() == 0,
        ..Default::default()
    };
    if m.collapsed {
        return m;
    }
    let convention = params.convention;
    let g = graph_metrics(&graph.b, &params.svd, convention, true);
    let (n_in, n_out, e) = (g.n_in as f64, g.n_out as f64, g.edges as f64);
    // ICLR 2023's random coefficient with E (not that code's 2E), on the full layer only.
    let random_coef = g.gated.then(|| {
        let left = (g.mu_hat * g.mu_hat / 4.0 + 1.0) * (n_in * n_out).sqrt();
        let right = (e - (g.d_in / dim_out as f64) * n_in * n_out).abs();
        (left - right) / (dim_in * dim_out) as f64
    });
    m.d_in = Some(g.d_in);
    m.d_out = Some(g.d_out);
    m.d_avg = Some(g.d_avg);
    m.gated = Some(g.gated);
    m.mu0 = Some(g.mu0);
    m.mu_hat = Some(g.mu_hat);
    m.bound_biregular = Some(g.bound_biregular);
    m.bound_regular = Some(g.bound_regular);
    m.ramanujan_gap = g.ramanujan_gap;
    m.ramanujan_gap_norm = g.ramanujan_gap_norm;
    m.regular_gap = g.regular_gap;
    m.spectral_bound = g.spectral_bound;
    m.spectral_gap_bound = g.spectral_gap_bound;
    m.spectral_gap_bound_norm = g.spectral_gap_bound_norm;
    m.weighted_mu0 = Some(g.weighted_mu0);
    m.weighted_mu_hat = Some(g.weighted_mu_hat);
    m.weighted_gap = (g.gated || !convention.gates_everything()).then_some(g.weighted_gap);
    m.expansion = Some(g.expansion);
    m.random_coef = random_coef;
    // The component count is one thread's walk; it runs beside the nested subgraphs' solves.
    let (components, nested) = rayon::join(
        || connected_components(&graph.b),
        || if params.nested { nested_metrics(&graph.b, params) } else { NestedMetrics::default() },
    );
    m.components = Some(components);
    m.nested = nested;
    let terms = [m.ramanujan_gap, m.weighted_gap, m.nested.ramanujan_gap_imdb, m.nested.weighted_gap_imsg];
    let present: Vec<f64> = terms.into_iter().flatten().collect();
    m.full_spectrum_l2 = (!present.is_empty()).then(|| present.iter().map(|t| t * t).sum::<f64>().sqrt());
    m
}

use super::Convention;
use crate::graph::Csr;
use crate::spectral::{top_two_both, SvdParams};

/// SPEC §2 for one bipartite graph with no isolated nodes and at least one edge: what the
/// whole layer and each nested subgraph share.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GraphMetrics {
    pub n_in: usize,
    pub n_out: usize,
    pub edges: usize,
    pub d_in: f64,
    pub d_out: f64,
    pub d_avg: f64,
    pub mu0: f64,
    pub mu_hat: f64,
    pub weighted_mu0: f64,
    pub weighted_mu_hat: f64,
    pub weighted_gap: f64,
    pub bound_biregular: f64,
    pub bound_regular: f64,
    pub expansion: f64,
    pub gated: bool,
    /// The Ramanujan quantities: `Some` only when the graph passes the gate.
    pub ramanujan_gap: Option<f64>,
    pub ramanujan_gap_norm: Option<f64>,
    pub regular_gap: Option<f64>,
    pub spectral_bound: Option<f64>,
    pub spectral_gap_bound: Option<f64>,
    pub spectral_gap_bound_norm: Option<f64>,
}

/// Metrics of `b` (no isolated rows or columns, `nnz > 0`), gated as `convention` says for a
/// full layer (`full_layer`) or a nested subgraph.
pub fn graph_metrics(b: &Csr, svd: &SvdParams, convention: Convention, full_layer: bool) -> GraphMetrics {
    let (n_in, n_out, edges) = (b.n_cols, b.n_rows, b.nnz());
    let e = edges as f64;
    let (d_in, d_out) = (e / n_in as f64, e / n_out as f64);
    let d_avg = 2.0 * e / (n_in + n_out) as f64;
    let [plain, weighted] = top_two_both(b, svd);
    let (mu0, mu_hat) = (plain.sigma1, plain.sigma2);
    let bound_biregular = (d_in - 1.0).sqrt() + (d_out - 1.0).sqrt();
    let bound_regular = 2.0 * (d_avg - 1.0).sqrt();
    let gated = convention.passes_gate(d_in, d_out, full_layer);
    let gate = |v: f64| gated.then_some(v);
    let spectral_bound = if gated && mu0 >= 1.0 { Some(2.0 * (mu0 - 1.0).sqrt()) } else { None };
    GraphMetrics {
        n_in,
        n_out,
        edges,
        d_in,
        d_out,
        d_avg,
        mu0,
        mu_hat,
        weighted_mu0: weighted.sigma1,
        weighted_mu_hat: weighted.sigma2,
        weighted_gap: weighted.sigma1 - weighted.sigma2,
        bound_biregular,
        bound_regular,
        expansion: n_out as f64 / n_in as f64,
        gated,
        ramanujan_gap: gate(bound_biregular - mu_hat),
        ramanujan_gap_norm: gate((bound_biregular - mu_hat) / bound_biregular),
        regular_gap: gate(bound_regular - mu_hat),
        spectral_bound,
        spectral_gap_bound: spectral_bound.map(|s| s - mu_hat),
        spectral_gap_bound_norm: spectral_bound.map(|s| (s - mu_hat) / s),
    }
}

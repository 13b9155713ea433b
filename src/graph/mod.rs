//! A layer as a bipartite graph (SPEC §1): a CSR biadjacency built straight from the tensor
//! and its mask (rows = output nodes, columns = `in·kh·kw` input nodes), never a dense
//! `(in+out)²` adjacency.

mod components;
mod csr;
mod pattern;

pub use components::connected_components;
pub use csr::{Csr, CsrError};
pub use pattern::{detect_pattern, Pattern};

use crate::checkpoint::{with_slices, LayerView};

/// The non-isolated part of a layer's graph and what was dropped to get it.
#[derive(Debug, Clone)]
pub struct BipartiteGraph {
    /// Biadjacency of the non-isolated nodes; `values` hold `|W_ij|`.
    pub b: Csr,
    /// Original size of the layer's input side (`in·kh·kw`) and output side (`out`).
    pub dim_in: usize,
    pub dim_out: usize,
    /// Original column index of each kept input node (for degree classes and debugging).
    pub kept_in: Vec<usize>,
    /// The mask's structure, on the whole layer (isolated nodes included).
    pub pattern: Pattern,
}

impl BipartiteGraph {
    /// Builds the biadjacency of `layer` and drops its isolated input and output nodes.
    pub fn from_layer<'a>(layer: impl Into<LayerView<'a>>) -> BipartiteGraph {
        let layer = layer.into();
        let full =
            with_slices!(layer, |weight, keep| Csr::from_dense_mask(layer.n_rows(), layer.n_cols(), keep, weight));
        let pattern = detect_pattern(&full);
        let (b, kept_in) = full.without_isolated();
        BipartiteGraph { b, dim_in: layer.n_cols(), dim_out: layer.n_rows(), kept_in, pattern }
    }

    pub fn edges(&self) -> usize {
        self.b.nnz()
    }
    pub fn n_in(&self) -> usize {
        self.b.n_cols
    }
    pub fn n_out(&self) -> usize {
        self.b.n_rows
    }
    pub fn isolated_in(&self) -> usize {
        self.dim_in - self.n_in()
    }
    pub fn isolated_out(&self) -> usize {
        self.dim_out - self.n_out()
    }
}

/// Input nodes grouped by degree, ascending: `(k, columns of degree k)`; degree 0 excluded.
pub fn degree_classes(b: &Csr) -> Vec<(usize, Vec<usize>)> {
    let degrees = b.col_degrees();
    let mut classes: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (col, &d) in degrees.iter().enumerate() {
        if d > 0 {
            classes.entry(d).or_default().push(col);
        }
    }
    classes.into_iter().collect()
}

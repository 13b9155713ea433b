//! Top singular values of a sparse biadjacency. Placeholder exact path until the Lanczos
//! solver (branch `spectral`) lands: same signature, dense SVD only.

use crate::graph::Csr;

#[derive(Debug, Clone, Default)]
pub struct SvdParams {}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopTwo {
    pub sigma1: f64,
    pub sigma2: f64,
}

pub fn top_two(b: &Csr, weighted: bool, _params: &SvdParams) -> TopTwo {
    if b.nnz() == 0 {
        return TopTwo { sigma1: 0.0, sigma2: 0.0 };
    }
    let dense = b.to_dense(weighted);
    let m = faer::Mat::from_fn(b.n_rows, b.n_cols, |i, j| dense[i * b.n_cols + j]);
    let s = m.singular_values().unwrap_or_default();
    TopTwo { sigma1: s.first().copied().unwrap_or(0.0), sigma2: s.get(1).copied().unwrap_or(0.0) }
}

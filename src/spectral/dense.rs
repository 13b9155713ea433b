//! The exact path for small layers: a direct (Householder bidiagonalization) SVD of the dense
//! biadjacency. It never forms BᵀB, so a zero σ2 comes out at rounding level of σ1 rather than
//! at its square root.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{MatRef, Par};

use crate::graph::Csr;

/// The singular values of `b` (0/1 pattern if `!weighted`), nonincreasing, or `None` if the
/// dense SVD did not converge.
pub(crate) fn singular_values(b: &Csr, weighted: bool, parallel: bool) -> Option<Vec<f64>> {
    let (m, n) = (b.n_rows, b.n_cols);
    let dense = b.to_dense(weighted);
    let a = MatRef::from_row_major_slice(&dense, m, n);
    let par = if parallel { Par::rayon(0) } else { Par::Seq };
    let mut s = Diag::<f64>::zeros(m.min(n));
    let scratch = svd::svd_scratch::<f64>(m, n, ComputeSvdVectors::No, ComputeSvdVectors::No, par, Default::default());
    let mut buffer = MemBuffer::new(scratch);
    svd::svd(a, s.as_mut(), None, None, par, MemStack::new(&mut buffer), Default::default()).ok()?;
    Some(s.column_vector().iter().copied().collect())
}

//! The exact path for a small side `s`: the eigenvectors of its `s × s` Gram matrix, then a
//! Rayleigh–Ritz step with the matrix itself, certified by residuals.
//!
//! Why not `σ = √λ` directly: a backward-stable eigensolver leaves every `λ` off by about
//! `ε λ1`, so `√λ2` carries a relative error of about `ε (σ1/σ2)²`, and some metrics subtract
//! `mu_hat` from a number of the same size (SPEC's `spectral_gap_bound`), which turns 1e-13 into
//! 1e-9. The eigenvectors, though, are good to `ε λ1 / gap`, and the Ritz values of `B` on them
//! (singular values of `B` restricted to their span, computed without squaring) are good to the
//! square of that; a σ2 at rounding level of σ1 (a complete bipartite layer) stays there, as
//! the Ritz value is a norm of `B x`, not a square root. The residuals of the Ritz triplets bound
//! the error exactly as in the Lanczos path; when they do not meet the tolerance the caller
//! falls back to a method that never squares.
//!
//! Cost: `Σ deg²` over the long side to form the Gram matrix, a dense `s × s` eigensolve, and
//! two sparse products with three vectors, against hundreds of sparse products and their
//! reorthogonalization for Lanczos, or a dense SVD of the whole `m × n` matrix.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Mat, MatRef, Par};

use super::lanczos::error_bound;
use super::{Method, SolveInfo, SvdParams, TopTwo};
use crate::graph::Csr;

/// Ritz vectors taken from the Gram matrix: the two wanted and one more, so that the
/// gap of σ2 to the rest of the spectrum is measured on a Ritz value, not on a squared estimate.
const RITZ: usize = 3;

/// σ1 ≥ σ2 of `b` from the Gram matrix of its smaller side, or `None` when the residual
/// certificate does not reach `params.tolerance` (or the eigensolver fails). `b` has a nonzero
/// value and a smaller side of at least 2.
pub(crate) fn top_two(b: &Csr, weighted: bool, params: &SvdParams) -> Option<TopTwo> {
    // `long` has one row per node of the long side and a column per node of the short side,
    // so the Gram matrix is `longᵀ long`, a sum of the outer products of its rows.
    let transposed;
    let long = if b.n_rows < b.n_cols {
        transposed = b.transpose();
        &transposed
    } else {
        b
    };
    let s = long.n_cols;
    let value = |v: f64| if weighted { v } else { 1.0 };
    let gram = gram_lower(long, weighted);
    let par = if params.parallel { Par::rayon(0) } else { Par::Seq };
    let mut lambda = Diag::<f64>::zeros(s);
    let mut vectors = Mat::<f64>::zeros(s, s);
    let scratch = evd::self_adjoint_evd_scratch::<f64>(s, ComputeEigenvectors::Yes, par, Default::default());
    let mut buffer = MemBuffer::new(scratch);
    evd::self_adjoint_evd(
        MatRef::from_column_major_slice(&gram, s, s),
        lambda.as_mut(),
        Some(vectors.as_mut()),
        par,
        MemStack::new(&mut buffer),
        Default::default(),
    )
    .ok()?;
    // Eigenvalues come nondecreasing: the top ones are the last columns.
    let k = RITZ.min(s);
    let mut x = Mat::<f64>::zeros(s, k);
    for j in 0..k {
        for i in 0..s {
            x[(i, j)] = vectors[(i, s - 1 - j)];
        }
    }

    // W = long · X (long × k); its SVD W = P Θ Aᵀ gives the Ritz triplets (θ, P a, X a):
    // `long (X a_i) = θ_i p_i` by construction, so the whole residual is `longᵀ p_i − θ_i X a_i`.
    let mut w = Mat::<f64>::zeros(long.n_rows, k);
    for r in 0..long.n_rows {
        let (cols, vals) = long.row(r);
        for j in 0..k {
            w[(r, j)] = cols.iter().zip(vals).map(|(&c, &v)| value(v) * x[(c as usize, j)]).sum();
        }
    }
    let mut theta = Diag::<f64>::zeros(k);
    let mut p = Mat::<f64>::zeros(long.n_rows, k);
    let mut a = Mat::<f64>::zeros(k, k);
    let scratch = svd::svd_scratch::<f64>(
        long.n_rows,
        k,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::Thin,
        Par::Seq,
        Default::default(),
    );
    let mut buffer = MemBuffer::new(scratch);
    svd::svd(
        w.as_ref(),
        theta.as_mut(),
        Some(p.as_mut()),
        Some(a.as_mut()),
        Par::Seq,
        MemStack::new(&mut buffer),
        Default::default(),
    )
    .ok()?;
    let y = &x * &a;
    let mut back = Mat::<f64>::zeros(s, k);
    for r in 0..long.n_rows {
        let (cols, vals) = long.row(r);
        for (&c, &v) in cols.iter().zip(vals) {
            for j in 0..k {
                back[(c as usize, j)] += value(v) * p[(r, j)];
            }
        }
    }
    let residual: Vec<f64> =
        (0..k).map(|j| (0..s).map(|i| (back[(i, j)] - theta[j] * y[(i, j)]).powi(2)).sum::<f64>().sqrt()).collect();

    let sigma = [theta[0], if k > 1 { theta[1] } else { 0.0 }];
    if !(sigma[0].is_finite() && sigma[0] > 0.0) {
        return None;
    }
    // Distance of each Ritz value to the rest of the spectrum: Ritz values lie below the
    // singular values they approximate, so the one above is at least θ_{i−1} away; below,
    // σ_{i+1} is within its residual of θ_{i+1} (the same caveat as in Lanczos); and a
    // side longer than the other adds zero singular values of the augmented matrix.
    let mut bound = [0.0; 2];
    for i in 0..2.min(k) {
        let above = if i == 0 { f64::INFINITY } else { theta[i - 1] - theta[i] };
        let below = if i + 1 < k {
            theta[i] - theta[i + 1] - residual[i + 1]
        } else if s == k {
            theta[i]
        } else {
            0.0
        };
        bound[i] = error_bound(residual[i], above.min(below).min(theta[i]));
    }
    let floor = params.zero_floor * sigma[0];
    if !(0..2).all(|i| bound[i] <= params.tolerance * sigma[i].max(floor)) {
        return None;
    }
    Some(TopTwo {
        sigma1: sigma[0],
        sigma2: sigma[1],
        info: SolveInfo {
            method: Method::Gram,
            matvecs: 2 * k,
            restarts: 0,
            converged: true,
            residual: residual[..2.min(k)].iter().fold(0.0f64, |m, &r| m.max(r)) / sigma[0],
        },
    })
}

/// The lower triangle of `longᵀ long` (column-major, `s × s`): each row of `long` adds the
/// outer product of its entries. Pattern entries are counts, exact in f64.
fn gram_lower(long: &Csr, weighted: bool) -> Vec<f64> {
    let s = long.n_cols;
    let mut gram = vec![0.0; s * s];
    for r in 0..long.n_rows {
        let (cols, vals) = long.row(r);
        // Columns ascend within a row, so (j, i) with i ≥ j is in the lower triangle.
        for (e, &cj) in cols.iter().enumerate() {
            let column = &mut gram[cj as usize * s..(cj as usize + 1) * s];
            if weighted {
                let vj = vals[e];
                for (&ci, &vi) in cols[e..].iter().zip(&vals[e..]) {
                    column[ci as usize] += vi * vj;
                }
            } else {
                for &ci in &cols[e..] {
                    column[ci as usize] += 1.0;
                }
            }
        }
    }
    gram
}

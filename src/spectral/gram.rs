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
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Mat, MatRef, Par};

use super::lanczos::error_bound;
use super::symmetric_lanczos::{Ritz, SymmetricLanczos};
use super::{Method, SolveInfo, SvdParams, TopTwo};
use crate::graph::Csr;

/// Ritz vectors taken from the Gram matrix: the two wanted and one more, so that the
/// gap of σ2 to the rest of the spectrum is measured on a Ritz value, not on a squared estimate.
const RITZ: usize = 3;

/// The Gram basis is first checked at this size, then whenever it has grown by a quarter:
/// each check costs an eigendecomposition of the projection (~9 k³ flops), so checking
/// after every block would cost more than the products on a basis of a hundred vectors.
const FIRST_CHECK: usize = 12;

/// σ1 ≥ σ2 of `b` from the Gram matrix of its smaller side, or `None` when the residual
/// certificate does not reach `params.tolerance` even on the whole space (or the
/// eigensolver fails). `b` has a nonzero value and a smaller side of at least 2.
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
    let gram = gram_full(long, weighted);
    let mut lanczos =
        SymmetricLanczos::new(MatRef::from_column_major_slice(&gram, s, s), params.block_size, params.seed);
    let count = RITZ.min(s);
    let mut next_check = FIRST_CHECK.min(s);
    let mut previous: Option<Vec<f64>> = None;
    let mut matvecs = 0;
    loop {
        lanczos.step();
        let exhausted = lanczos.exhausted();
        let k = lanczos.dimension();
        if !exhausted && k < next_check {
            continue;
        }
        next_check = (k + k / 4).max(k + 1);
        if !exhausted {
            let values = lanczos.ritz_values(count)?;
            let settled = previous.as_ref().is_some_and(|old| settled(old, &values, params));
            previous = Some(values);
            if !settled {
                continue;
            }
        }
        let ritz = lanczos.ritz(count)?;
        if !exhausted && !predicted(&ritz, params) {
            continue;
        }
        matvecs += 2 * ritz.vectors.ncols();
        if let Some(mut result) = certify(long, weighted, &ritz.vectors, params) {
            result.info.matvecs = matvecs;
            return Some(result);
        }
        if exhausted {
            return None;
        }
    }
}

/// Whether the top two Ritz values have stopped moving since the last check: they grow
/// towards the eigenvalues, superlinearly once they converge, so the last move bounds what is
/// left of the error in practice. Only a hint of when to compute Ritz vectors: the
/// residuals decide.
fn settled(old: &[f64], new: &[f64], params: &SvdParams) -> bool {
    let floor = params.zero_floor * new[0].max(0.0).sqrt();
    (0..2.min(new.len())).all(|i| {
        let theta = new[i].max(0.0).sqrt();
        // λ = θ², so a move of Δλ is a move of Δλ / 2θ in θ (bounded by √Δλ near zero).
        let moved = (new[i] - old[i]).abs();
        let in_theta = if theta > 0.0 { (moved / (2.0 * theta)).min(moved.sqrt()) } else { moved.sqrt() };
        in_theta <= params.tolerance * theta.max(floor)
    })
}

/// Whether the Ritz pairs of the Gram matrix promise a certificate: a unit `x` with
/// `‖G x − λ x‖ = ρ` gives, with `B`, the residual `ρ/√λ` (the Ritz step reproduces `√λ`
/// and `Bᵀ (B x)/√λ − √λ x = (G x − λ x)/√λ`), so the bounds of [`certify`] can be predicted
/// before any product with `B`. Residuals at rounding level of `λ1` cannot shrink further:
/// then only the certificate can tell.
fn predicted(ritz: &Ritz, params: &SvdParams) -> bool {
    let lambda1 = ritz.values[0];
    if lambda1.is_nan() || lambda1 <= 0.0 || ritz.residuals.iter().all(|&r| r <= 64.0 * f64::EPSILON * lambda1) {
        return true;
    }
    let theta: Vec<f64> = ritz.values.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let residual: Vec<f64> =
        theta.iter().zip(&ritz.residuals).map(|(&t, &r)| if t > 0.0 { r / t } else { f64::INFINITY }).collect();
    // Half the tolerance: the certificate measures with real products and may find a little more.
    accepts(&bounds(&theta, &residual, false), &theta, 0.5 * params.tolerance, params.zero_floor)
}

/// Error bounds of the top two Ritz values from their residuals. Ritz values lie below the
/// singular values they approximate, so the one above is at least `θ_{i−1}` away; below,
/// `σ_{i+1}` is within its residual of `θ_{i+1}` (the same caveat as in Lanczos); and when
/// the Ritz values are all the singular values of the short side (`complete`), the only
/// other singular values of the augmented matrix are zeros.
fn bounds(theta: &[f64], residual: &[f64], complete: bool) -> [f64; 2] {
    let k = theta.len();
    let mut bound = [0.0; 2];
    for i in 0..2.min(k) {
        let above = if i == 0 { f64::INFINITY } else { theta[i - 1] - theta[i] };
        let below = if i + 1 < k {
            theta[i] - theta[i + 1] - residual[i + 1]
        } else if complete {
            theta[i]
        } else {
            0.0
        };
        bound[i] = error_bound(residual[i], above.min(below).min(theta[i]));
    }
    bound
}

/// Each of σ1, σ2 within `tolerance` relative, or absolute `tolerance · zero_floor · σ1`.
fn accepts(bound: &[f64; 2], theta: &[f64], tolerance: f64, zero_floor: f64) -> bool {
    let floor = zero_floor * theta[0];
    (0..2).all(|i| bound[i] <= tolerance * theta.get(i).copied().unwrap_or(0.0).max(floor))
}

/// The Rayleigh–Ritz step with `long` itself on the span of `x` (`s × k`), accepted only
/// when the residuals of its triplets, measured with real products, certify the tolerance.
fn certify(long: &Csr, weighted: bool, x: &Mat<f64>, params: &SvdParams) -> Option<TopTwo> {
    let (s, k) = (long.n_cols, x.ncols());
    let value = |v: f64| if weighted { v } else { 1.0 };
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
    let y = x * &a;
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
    let theta: Vec<f64> = (0..k).map(|j| theta[j]).collect();
    let sigma = [theta[0], theta.get(1).copied().unwrap_or(0.0)];
    if !(sigma[0].is_finite() && sigma[0] > 0.0) {
        return None;
    }
    if !accepts(&bounds(&theta, &residual, s == k), &theta, params.tolerance, params.zero_floor) {
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

/// `longᵀ long` (column-major `s × s`, both triangles, as the dense products want them).
fn gram_full(long: &Csr, weighted: bool) -> Vec<f64> {
    let s = long.n_cols;
    let mut gram = gram_lower(long, weighted);
    for j in 0..s {
        for i in j + 1..s {
            gram[i * s + j] = gram[j * s + i];
        }
    }
    gram
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

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
//! The eigenvectors come from Lanczos on the Gram matrix ([`SymmetricLanczos`]): first the
//! top one, then the top two of its orthogonal complement (where a repeated top value shows
//! again), each run stopped when its own residuals predict that the certificate will pass.
//!
//! Cost: `Σ deg²` over the long side to form the Gram matrix, `k` dense `s × s` products with
//! `k` well below `s` on the layers measured (the whole space at worst), and two sparse
//! products with three vectors per certificate, against hundreds of sparse products and the
//! reorthogonalization of both sides for Golub–Kahan, or a dense SVD of the whole matrix.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Accum, Mat, MatRef, Par};

use super::lanczos::error_bound;
use super::symmetric_lanczos::SymmetricLanczos;
use super::{SolveInfo, SvdMethod, SvdParams, TopTwo};
use crate::graph::Csr;

/// Ritz vectors taken from the Gram matrix: the two wanted and one more, so that the
/// gap of σ2 to the rest of the spectrum is measured on a Ritz value, not on a squared estimate.
const RITZ: usize = 3;

/// The Krylov basis is checked every `k / CHECK_SPACING` steps (at least every step): a
/// check costs `O(k)` per Newton step of each Ritz value (about eight of them) against `s²`
/// per Lanczos step; the overshoot is at most a quarter. Measured on ResNet-18: checking
/// twice as often gains nothing, half as often costs about 10%.
const CHECK_SPACING: usize = 4;

/// σ1 ≥ σ2 of `b` from the Gram matrix of its smaller side, or `None` when the residual
/// certificate does not reach `params.tolerance` even on the whole space. `b` has a nonzero
/// value and a smaller side of at least 2.
pub(crate) fn top_two(b: &Csr, weighted: bool, params: &SvdParams) -> Option<TopTwo> {
    let long = long_side(b);
    let gram = gram_full(gram_lower(&long, weighted), long.n_cols);
    solve(&long, weighted, &gram, params)
}

/// [`top_two`] of the pattern and of the values, sharing the transpose and the pass over
/// the entries that forms both Gram matrices.
pub(crate) fn top_two_both(b: &Csr, params: &SvdParams) -> [Option<TopTwo>; 2] {
    let long = long_side(b);
    let s = long.n_cols;
    let (pattern, weighted) = gram_lower_both(&long);
    let (pattern, weighted) = (gram_full(pattern, s), gram_full(weighted, s));
    [solve(&long, false, &pattern, params), solve(&long, true, &weighted, params)]
}

/// `b` with one row per node of its long side and a column per node of its short side, so
/// the Gram matrix is `longᵀ long`, a sum of the outer products of its rows.
fn long_side(b: &Csr) -> std::borrow::Cow<'_, Csr> {
    if b.n_rows < b.n_cols {
        std::borrow::Cow::Owned(b.transpose())
    } else {
        std::borrow::Cow::Borrowed(b)
    }
}

/// The Lanczos runs on the Gram matrix `gram` (`s × s`, both triangles) of `long` and the
/// certificate.
fn solve(long: &Csr, weighted: bool, gram: &[f64], params: &SvdParams) -> Option<TopTwo> {
    let s = long.n_cols;
    let gram = MatRef::from_column_major_slice(gram, s, s);
    let mut matvecs = 0;
    let mut attempt = |x: &Mat<f64>| {
        matvecs += 2 * x.ncols();
        certify(long, weighted, x, params).map(|mut result| {
            result.info.matvecs = matvecs;
            result
        })
    };

    // First the top eigenvector alone, to the linear bound: if the second run finds the same
    // eigenvalue again, no gap separates them and the certificate can only use the residual
    // itself. A separated top eigenvalue gets there in a few more steps.
    let mut first = SymmetricLanczos::new(gram, &[], params.seed);
    let top = loop {
        run_to_next_check(&mut first);
        let ritz = first.ritz(RITZ);
        if first.exhausted() {
            // The whole space: its Ritz pairs are every eigenpair, repeated ones included.
            return attempt(&first.vectors(&ritz));
        }
        let theta = sigmas(&ritz.values);
        let residual = sigma_residuals(&ritz.values, &ritz.residuals, &theta);
        if at_rounding_level(&ritz.values, &ritz.residuals) || residual[0] <= 0.5 * params.tolerance * theta[0] {
            break ritz;
        }
    };
    let locked = first.vectors(&top);
    let locked = &locked.col_as_slice(0)[..s];
    // Then the top two of its orthogonal complement, from a fresh random start: a repeated top
    // eigenvalue shows there again, which a single Krylov sequence cannot see.
    let mut second = SymmetricLanczos::new(gram, locked, params.seed ^ 0x5eed);
    loop {
        run_to_next_check(&mut second);
        let ritz = second.ritz(RITZ - 1);
        let exhausted = second.exhausted();
        let values: Vec<f64> = top.values[..1].iter().chain(&ritz.values).copied().collect();
        let residuals: Vec<f64> = top.residuals[..1].iter().chain(&ritz.residuals).copied().collect();
        if exhausted || predicted(&values, &residuals, params) {
            let rest = second.vectors(&ritz);
            let vectors = Mat::from_fn(s, 1 + rest.ncols(), |i, j| if j == 0 { locked[i] } else { rest[(i, j - 1)] });
            if let Some(result) = attempt(&vectors) {
                return Some(result);
            }
            if exhausted {
                return None;
            }
        }
    }
}

fn run_to_next_check(lanczos: &mut SymmetricLanczos) {
    let steps = (lanczos.dimension() / CHECK_SPACING).max(1);
    for _ in 0..steps {
        lanczos.step();
    }
}

/// Singular values from Gram eigenvalues, in descending order (the certificate recomputes
/// them without squaring; these only steer the iteration).
fn sigmas(values: &[f64]) -> Vec<f64> {
    let mut theta: Vec<f64> = values.iter().map(|&l| l.max(0.0).sqrt()).collect();
    theta.sort_by(|a, b| b.total_cmp(a));
    theta
}

/// A unit `x` with `‖G x − λ x‖ = ρ` gives, with `B`, the residual `ρ/√λ`: the Ritz step
/// reproduces `√λ`, and `Bᵀ (B x)/√λ − √λ x = (G x − λ x)/√λ`.
fn sigma_residuals(values: &[f64], residuals: &[f64], theta: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order.iter().zip(theta).map(|(&i, &t)| if t > 0.0 { residuals[i] / t } else { f64::INFINITY }).collect()
}

/// Residuals at rounding level of `λ1` cannot shrink further: only the certificate can tell.
fn at_rounding_level(values: &[f64], residuals: &[f64]) -> bool {
    let lambda1 = values.iter().copied().fold(0.0, f64::max);
    residuals.iter().all(|&r| r <= 64.0 * f64::EPSILON * lambda1)
}

/// Whether the Ritz pairs of the Gram matrix promise a certificate: the bounds of
/// [`certify`], predicted from Gram residuals before any product with `B`.
fn predicted(values: &[f64], residuals: &[f64], params: &SvdParams) -> bool {
    let lambda1 = values.iter().copied().fold(f64::NAN, f64::max);
    if lambda1.is_nan() || lambda1 <= 0.0 || at_rounding_level(values, residuals) {
        return true;
    }
    let theta = sigmas(values);
    let residual = sigma_residuals(values, residuals, &theta);
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
    // W = long · X (long × k); its SVD W = P Θ Aᵀ gives the Ritz triplets (θ, P a, X a):
    // `long (X a_i) = θ_i p_i` by construction, so the whole residual is `longᵀ p_i − θ_i X a_i`.
    let w = times(long, weighted, x.as_ref());
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
    let back = transpose_times(long, weighted, p.as_ref());
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
            method: SvdMethod::Gram,
            matvecs: 2 * k,
            restarts: 0,
            converged: true,
            residual: residual[..2.min(k)].iter().fold(0.0f64, |m, &r| m.max(r)) / sigma[0],
        },
    })
}

/// `long · x` (`long.n_rows × x.ncols()`), three columns of `x` at a time: each entry then reads
/// three adjacent values and keeps three sums in registers, where a column at a time is a
/// strided gather per column and a dynamic width keeps the sums in memory.
fn times(long: &Csr, weighted: bool, x: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(long.n_rows, x.ncols());
    for first in (0..x.ncols()).step_by(3) {
        match x.ncols() - first {
            1 => times_block::<1>(long, weighted, x, first, &mut out),
            2 => times_block::<2>(long, weighted, x, first, &mut out),
            _ => times_block::<3>(long, weighted, x, first, &mut out),
        }
    }
    out
}

fn times_block<const K: usize>(long: &Csr, weighted: bool, x: MatRef<'_, f64>, first: usize, out: &mut Mat<f64>) {
    let rows: Vec<[f64; K]> = (0..x.nrows()).map(|i| std::array::from_fn(|j| x[(i, first + j)])).collect();
    for r in 0..long.n_rows {
        let (cols, vals) = long.row(r);
        let mut sums = [0.0; K];
        for (&c, &v) in cols.iter().zip(vals) {
            let v = if weighted { v } else { 1.0 };
            for (sum, &xv) in sums.iter_mut().zip(&rows[c as usize]) {
                *sum += v * xv;
            }
        }
        for (j, sum) in sums.into_iter().enumerate() {
            out[(r, first + j)] = sum;
        }
    }
}

/// `longᵀ · p` (`long.n_cols × p.ncols()`), three columns at a time as in [`times`].
fn transpose_times(long: &Csr, weighted: bool, p: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(long.n_cols, p.ncols());
    for first in (0..p.ncols()).step_by(3) {
        match p.ncols() - first {
            1 => transpose_times_block::<1>(long, weighted, p, first, &mut out),
            2 => transpose_times_block::<2>(long, weighted, p, first, &mut out),
            _ => transpose_times_block::<3>(long, weighted, p, first, &mut out),
        }
    }
    out
}

fn transpose_times_block<const K: usize>(
    long: &Csr,
    weighted: bool,
    p: MatRef<'_, f64>,
    first: usize,
    out: &mut Mat<f64>,
) {
    let mut sums = vec![[0.0; K]; long.n_cols];
    for r in 0..long.n_rows {
        let (cols, vals) = long.row(r);
        let p_row: [f64; K] = std::array::from_fn(|j| p[(r, first + j)]);
        for (&c, &v) in cols.iter().zip(vals) {
            let v = if weighted { v } else { 1.0 };
            for (sum, &pv) in sums[c as usize].iter_mut().zip(&p_row) {
                *sum += v * pv;
            }
        }
    }
    for (i, row) in sums.iter().enumerate() {
        for (j, &sum) in row.iter().enumerate() {
            out[(i, first + j)] = sum;
        }
    }
}

/// `longᵀ long` (column-major `s × s`, both triangles, as the dense products want them) from
/// its lower triangle.
fn gram_full(mut gram: Vec<f64>, s: usize) -> Vec<f64> {
    // Tile by tile: a plain loop reads one triangle by columns and writes the other by rows,
    // a cache miss per entry once the matrix outgrows L1.
    const TILE: usize = 32;
    for jb in (0..s).step_by(TILE) {
        for ib in (jb..s).step_by(TILE) {
            for j in jb..(jb + TILE).min(s) {
                for i in ib.max(j + 1)..(ib + TILE).min(s) {
                    gram[i * s + j] = gram[j * s + i];
                }
            }
        }
    }
    gram
}

/// The lower triangle of `longᵀ long` (column-major, `s × s`), of the values when `weighted`,
/// else of the pattern, by the same route as [`gram_lower_both`].
fn gram_lower(long: &Csr, weighted: bool) -> Vec<f64> {
    match (bit_columns_pay(long), weighted) {
        (true, true) => weighted_gram_lower_dense(long),
        (true, false) => pattern_gram_lower_from_bits(long),
        (false, _) => gram_lower_by_pairs(long, weighted),
    }
}

/// [`gram_lower`] pair of entries by pair: each row of `long` adds the outer product of its
/// entries. Pattern entries are counts, exact in f64.
fn gram_lower_by_pairs(long: &Csr, weighted: bool) -> Vec<f64> {
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

/// The lower triangles of the pattern's and of the values' Gram matrices: in one pass over the
/// entry pairs, or, when [`bit_columns_pay`], the pattern's from bit columns and the values' by a
/// dense product.
fn gram_lower_both(long: &Csr) -> (Vec<f64>, Vec<f64>) {
    if bit_columns_pay(long) {
        return (pattern_gram_lower_from_bits(long), weighted_gram_lower_dense(long));
    }
    let s = long.n_cols;
    let mut pattern = vec![0.0; s * s];
    let mut weighted = vec![0.0; s * s];
    for r in 0..long.n_rows {
        let (cols, vals) = long.row(r);
        for (e, &cj) in cols.iter().enumerate() {
            let range = cj as usize * s..(cj as usize + 1) * s;
            let (counts, products) = (&mut pattern[range.clone()], &mut weighted[range]);
            let vj = vals[e];
            for (&ci, &vi) in cols[e..].iter().zip(&vals[e..]) {
                counts[ci as usize] += 1.0;
                products[ci as usize] += vi * vj;
            }
        }
    }
    (pattern, weighted)
}

/// The values' Gram matrix (lower triangle, column-major) of a matrix dense enough for bit
/// columns, as a dense product `Dᵀ D` (faer's GEMM, lower triangle only) instead of a scattered
/// update per pair of entries: on the nested subgraphs of a layer at density 0.5 (4096 rows),
/// nested 460 → 395 ms. The same sums in another order, so not bit-identical to the pairs.
fn weighted_gram_lower_dense(long: &Csr) -> Vec<f64> {
    let (n, s) = (long.n_rows, long.n_cols);
    // Row-major, so that each row of `long` fills a contiguous stretch.
    let mut rows = vec![0.0; n * s];
    for (r, row) in rows.chunks_exact_mut(s.max(1)).enumerate().take(n) {
        let (cols, vals) = long.row(r);
        for (&c, &v) in cols.iter().zip(vals) {
            row[c as usize] = v;
        }
    }
    let dense = MatRef::from_row_major_slice(&rows, n, s);
    let mut gram = Mat::<f64>::zeros(s, s);
    // Only the lower triangle is formed: half the work of the full product.
    triangular::matmul(
        gram.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        dense.transpose(),
        BlockStructure::Rectangular,
        dense,
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
    let mut lower = vec![0.0; s * s];
    for j in 0..s {
        for i in j..s {
            lower[j * s + i] = gram[(i, j)];
        }
    }
    lower
}

/// Whether a matrix is dense enough for the bit-column route: the pattern's Gram matrix counted
/// on columns stored as bits, the values' one as a dense product (one threshold for both, set
/// by the bits' cost; the dense product was measured only where it is now taken). A pair of
/// columns then costs `n_rows / 64` AND-and-popcounts plus a few instructions of its own, against about
/// `density²·n_rows` scattered adds when counting entry pair by entry pair: the bits win on the
/// nested subgraphs of a layer at density 0.5 (half their Gram time was counting) and lose on
/// those of a 64-row convolution at density 0.1 (measured on ResNet-18). The counts are
/// integers, exact either way.
fn bit_columns_pay(long: &Csr) -> bool {
    const PER_PAIR: f64 = 8.0;
    let density = long.nnz() as f64 / (long.n_rows * long.n_cols) as f64;
    density * density * long.n_rows as f64 >= long.n_rows.div_ceil(64) as f64 + PER_PAIR
}

/// The lower triangle (column-major) of the pattern's `longᵀ long`, from its columns as bits.
fn pattern_gram_lower_from_bits(long: &Csr) -> Vec<f64> {
    let (s, words) = (long.n_cols, long.n_rows.div_ceil(64));
    let mut columns = vec![0u64; s * words];
    for r in 0..long.n_rows {
        for &c in long.row(r).0 {
            columns[c as usize * words + r / 64] |= 1 << (r % 64);
        }
    }
    let mut gram = vec![0.0; s * s];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has popcnt.
        unsafe { count_pairs_popcnt(&columns, words, &mut gram) };
        return gram;
    }
    count_pairs(&columns, words, &mut gram);
    gram
}

/// `gram[j·s + i]` (i ≥ j): the rows that columns `i` and `j` share.
#[inline(always)]
fn count_pairs(columns: &[u64], words: usize, gram: &mut [f64]) {
    let s = columns.len() / words.max(1);
    for j in 0..s {
        let column_j = &columns[j * words..(j + 1) * words];
        for i in j..s {
            let column_i = &columns[i * words..(i + 1) * words];
            gram[j * s + i] = column_j.iter().zip(column_i).map(|(a, b)| (a & b).count_ones()).sum::<u32>() as f64;
        }
    }
}

/// [`count_pairs`] with the popcnt instruction (the portable count is a dozen instructions).
///
/// # Safety
/// The CPU has POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn count_pairs_popcnt(columns: &[u64], words: usize, gram: &mut [f64]) {
    count_pairs(columns, words, gram)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a matrix dense enough for bit columns, they count what the entry pairs count, and the
    /// dense product gives the values' matrix of the pairs; rows not a multiple of 64, empty rows
    /// and columns.
    #[test]
    fn bit_column_counts_equal_the_pair_counts() {
        let (n_rows, n_cols) = (331, 37);
        let triplets: Vec<_> = (0..n_rows)
            .flat_map(|r| (0..n_cols).map(move |c| (r, c)))
            .filter(|&(r, c)| r % 11 != 4 && c != 5 && (r * 7 + c * 13 + r * c) % 3 != 0)
            .map(|(r, c)| (r, c, ((r * 31 + c * 17) % 23) as f64 / 7.0 + 0.1))
            .collect();
        let long = Csr::from_triplets(n_rows, n_cols, &triplets).unwrap();
        assert!(bit_columns_pay(&long));
        let (pattern, weighted) = gram_lower_both(&long);
        assert_eq!(pattern, gram_lower_by_pairs(&long, false));
        assert_eq!((pattern.clone(), weighted.clone()), (gram_lower(&long, false), gram_lower(&long, true)));
        // The values' matrix then comes from a dense product: the same sums in another order.
        for (dense, pairs) in weighted.iter().zip(gram_lower_by_pairs(&long, true)) {
            assert!((dense - pairs).abs() <= 1e-13 * pairs.abs().max(1.0), "{dense} vs {pairs}");
        }
        let mut portable = vec![0.0; n_cols * n_cols];
        let words = n_rows.div_ceil(64);
        let mut columns = vec![0u64; n_cols * words];
        for &(r, c, _) in &triplets {
            columns[c * words + r / 64] |= 1 << (r % 64);
        }
        count_pairs(&columns, words, &mut portable);
        assert_eq!(pattern, portable);
    }
}

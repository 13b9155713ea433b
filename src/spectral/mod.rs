//! The top two singular values of a sparse biadjacency (SPEC §2): `mu0 = σ1(B)` and
//! `mu_hat = σ2(B)` of the 0/1 pattern, `weighted_mu0` / `weighted_mu_hat` of the `|w|` values.
//!
//! Three paths. The two that decide the digits never square (no `BᵀB` eigenvalues), so a zero
//! σ2 comes out at rounding level:
//! - [`SvdMethod::Gram`]: for a smaller side of at most [`SvdParams::dense_threshold`], the
//!   top eigenvectors of its Gram matrix (by Lanczos on that small dense matrix), refined by a
//!   Rayleigh–Ritz step with `B` itself and accepted only when the residuals certify the
//!   tolerance;
//! - [`SvdMethod::Dense`]: otherwise a direct SVD of the dense matrix when its smaller side is at
//!   most [`SvdParams::svd_threshold`] (and it is not huge: [`SvdParams::dense_max_entries`]);
//! - [`SvdMethod::Lanczos`]: block Golub–Kahan–Lanczos with thick restarts and full
//!   reorthogonalization on sparse products with `B` and `Bᵀ` (parallel over rows, no
//!   transpose built; CSR, or one bit per cell on layers at density ≥ 0.25 where the CPU has
//!   AVX-512), which finds repeated top singular values and stops on a residual bound,
//!   checked with real products.

mod bitmap;
mod dense;
mod gram;
mod lanczos;
mod shared_pass;
mod spmm;
mod symmetric_lanczos;

use crate::graph::Csr;

/// Tuning knobs of [`top_two`].
#[derive(Debug, Clone, PartialEq)]
pub struct SvdParams {
    /// Relative accuracy each of σ1, σ2 must reach (bounded from residuals, not estimated).
    pub tolerance: f64,
    /// A σ2 below `zero_floor · σ1` only needs absolute accuracy `tolerance · zero_floor · σ1`:
    /// relative digits of a value at rounding level of σ1 are noise in any method.
    pub zero_floor: f64,
    /// Budget of products with `B` or `Bᵀ` (one per vector); reaching it ends the solve with
    /// `converged = false`.
    pub max_matvecs: usize,
    /// Matrices whose smaller side is at most this take a small-side path (0 forces
    /// Lanczos): the certified Gram path, else the dense SVD within `svd_threshold`. The Gram
    /// matrix holds side² values (8 MB at 1024) and costs `Σ deg²` over the long side to
    /// form; its Lanczos products cost side² each, against two sparse products and the
    /// reorthogonalization of both long vectors per Golub–Kahan step (docs/performance.md)...
    pub dense_threshold: usize,
    /// ...whose cost grows as `side² · other side`: beyond this side Lanczos is cheaper...
    pub svd_threshold: usize,
    /// ...unless the dense matrix would hold more entries than this: a 256 × 100 000 layer
    /// costs hundreds of MB and seconds densely, while Lanczos spans its 256-dimensional
    /// side exactly in a few hundred sparse products.
    pub dense_max_entries: usize,
    /// Lanczos block size: the largest multiplicity of σ1 the solver is sure to see. Two is
    /// all `top_two` needs (σ2 = σ1 for two or more identical copies); larger blocks cost
    /// more products in total on random layers.
    pub block_size: usize,
    /// Lanczos basis (vectors per side) before a thick restart keeps half of it. Each new
    /// vector is orthogonalized against the whole basis twice, a pass over memory that a
    /// large basis no longer keeps in cache. A small basis restarts more often and needs a few
    /// more products; 32 is where the two costs balance on the layers measured in
    /// docs/performance.md.
    pub max_basis: usize,
    /// Rayon over rows in the sparse products and in the dense SVD; `false` is sequential
    /// (the results are identical either way, to the bit, for the Lanczos path).
    pub parallel: bool,
    /// Seed of the random starting block, so every run gives the same numbers.
    pub seed: u64,
}

impl Default for SvdParams {
    fn default() -> Self {
        SvdParams {
            tolerance: 1e-12,
            zero_floor: 1e-3,
            max_matvecs: 20_000,
            dense_threshold: 1024,
            svd_threshold: 256,
            dense_max_entries: 1 << 22,
            block_size: 2,
            max_basis: 32,
            parallel: true,
            seed: 0x6d61_736b_7370_6563,
        }
    }
}

/// Which path produced a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SvdMethod {
    Gram,
    Dense,
    Lanczos,
}

/// How a solve went.
#[derive(Debug, Clone, PartialEq)]
pub struct SolveInfo {
    pub method: SvdMethod,
    /// Products of one vector with `B` or `Bᵀ` (0 on the dense path; on the Gram path those of
    /// its certificates, not the forming of the Gram matrix nor the Lanczos products with it).
    pub matvecs: usize,
    /// Thick restarts of the Lanczos basis.
    pub restarts: usize,
    /// False if the budget ran out, the dense SVD failed, or the input holds NaN/inf.
    pub converged: bool,
    /// Lanczos and Gram: `max_i ‖(B v_i − σ_i u_i, Bᵀ u_i − σ_i v_i)‖ / σ1` over the two singular
    /// triplets, measured with real products. Dense: 0 (a direct, backward-stable SVD).
    pub residual: f64,
}

/// σ1 ≥ σ2 ≥ 0 and how they were found.
#[derive(Debug, Clone, PartialEq)]
pub struct TopTwo {
    pub sigma1: f64,
    pub sigma2: f64,
    pub info: SolveInfo,
}

/// σ1 ≥ σ2 of `b` (0/1 pattern if `!weighted`, else its values). An empty or zero matrix
/// gives 0, 0; one row or column gives σ2 = 0. Never panics; non-convergence (and NaN/inf
/// values, which give NaN) is reported in `info`, not hidden.
pub fn top_two(b: &Csr, weighted: bool, params: &SvdParams) -> TopTwo {
    direct(b, weighted, params)
        .unwrap_or_else(|| lanczos::top_two(b, &lanczos::Products::for_matrix(b, params), weighted, params))
}

/// The cases [`top_two`] settles without the iterative path: NaN/inf or zero input, the Gram
/// route, the dense SVD.
fn direct(b: &Csr, weighted: bool, params: &SvdParams) -> Option<TopTwo> {
    let exact = |sigma1, sigma2, converged| TopTwo {
        sigma1,
        sigma2,
        info: SolveInfo { method: SvdMethod::Dense, matvecs: 0, restarts: 0, converged, residual: 0.0 },
    };
    if weighted && b.values.iter().any(|v| !v.is_finite()) {
        return Some(exact(f64::NAN, f64::NAN, false));
    }
    let is_zero = if weighted { b.values.iter().all(|&v| v == 0.0) } else { b.nnz() == 0 };
    if b.n_rows.min(b.n_cols) == 0 || is_zero {
        return Some(exact(0.0, 0.0, true));
    }
    let side = b.n_rows.min(b.n_cols);
    if (2..=params.dense_threshold).contains(&side) {
        if let Some(result) = gram::top_two(b, weighted, params) {
            return Some(result);
        }
    }
    if side <= params.dense_threshold.min(params.svd_threshold)
        && b.n_rows.saturating_mul(b.n_cols) <= params.dense_max_entries
    {
        return Some(match dense::singular_values(b, weighted, params.parallel) {
            Some(s) => exact(s[0], s.get(1).copied().unwrap_or(0.0), true),
            None => exact(f64::NAN, f64::NAN, false),
        });
    }
    None
}

/// [`top_two`] of the pattern and of the values of `b`, in that order. On the Gram path the
/// two share the transpose and the pass over the entries that forms their Gram matrices; on
/// the iterative path, the storage its products run on.
pub fn top_two_both(b: &Csr, params: &SvdParams) -> [TopTwo; 2] {
    let side = b.n_rows.min(b.n_cols);
    let usable = b.values.iter().all(|v| v.is_finite()) && b.values.iter().any(|&v| v != 0.0);
    if usable && (2..=params.dense_threshold).contains(&side) {
        if let [Some(pattern), Some(weighted)] = gram::top_two_both(b, params) {
            return [pattern, weighted];
        }
    }
    let direct = [false, true].map(|weighted| direct(b, weighted, params));
    if direct.iter().all(Option::is_some) {
        return direct.map(|result| result.expect("checked above"));
    }
    let products = lanczos::Products::for_matrix(b, params);
    match direct {
        [None, None] => lanczos::top_two_both(b, &products, params),
        [pattern, weighted] => [
            pattern.unwrap_or_else(|| lanczos::top_two(b, &products, false, params)),
            weighted.unwrap_or_else(|| lanczos::top_two(b, &products, true, params)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn lanczos_params() -> SvdParams {
        SvdParams { dense_threshold: 0, parallel: false, ..SvdParams::default() }
    }

    /// All singular values from faer's dense SVD: the independent oracle.
    fn oracle(b: &Csr, weighted: bool) -> Vec<f64> {
        dense::singular_values(b, weighted, false).expect("dense SVD converges on test matrices")
    }

    fn random_sparse(rng: &mut ChaCha8Rng, n_rows: usize, n_cols: usize, density: f64) -> Csr {
        let mut triplets = Vec::new();
        for r in 0..n_rows {
            for c in 0..n_cols {
                if rng.random::<f64>() < density {
                    triplets.push((r, c, rng.random_range(0.01..2.0)));
                }
            }
        }
        Csr::from_triplets(n_rows, n_cols, &triplets).unwrap()
    }

    /// `copies` disjoint copies of `b` on the diagonal.
    fn block_diagonal(b: &Csr, copies: usize) -> Csr {
        let mut triplets = Vec::new();
        for k in 0..copies {
            for r in 0..b.n_rows {
                let (cols, vals) = b.row(r);
                for (&c, &v) in cols.iter().zip(vals) {
                    triplets.push((k * b.n_rows + r, k * b.n_cols + c as usize, v));
                }
            }
        }
        Csr::from_triplets(copies * b.n_rows, copies * b.n_cols, &triplets).unwrap()
    }

    fn euclidean(x: &[f64]) -> f64 {
        x.iter().map(|v| v * v).sum::<f64>().sqrt()
    }

    fn assert_close(got: f64, want: f64, sigma1: f64, what: &str) {
        let tolerance = (1e-9 * want).max(1e-12 * sigma1.max(1.0));
        assert!((got - want).abs() <= tolerance, "{what}: got {got}, want {want} (|diff| {:e})", (got - want).abs());
    }

    fn assert_matches_oracle(b: &Csr, weighted: bool, params: &SvdParams, what: &str) -> TopTwo {
        let s = oracle(b, weighted);
        let result = top_two(b, weighted, params);
        assert!(result.info.converged, "{what}: {:?}", result.info);
        assert_close(result.sigma1, s[0], s[0], what);
        assert_close(result.sigma2, s.get(1).copied().unwrap_or(0.0), s[0], what);
        result
    }

    #[test]
    fn lanczos_matches_dense_svd_on_random_sparse_matrices() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for &(m, n, density) in &[(40, 60, 0.1), (90, 35, 0.2), (120, 120, 0.05), (50, 300, 0.03)] {
            let b = random_sparse(&mut rng, m, n, density);
            for weighted in [false, true] {
                let result = assert_matches_oracle(&b, weighted, &lanczos_params(), &format!("{m}x{n} w={weighted}"));
                assert_eq!(result.info.method, SvdMethod::Lanczos);
                // The quadratic bound r²/gap ≤ tolerance·σ needs at most r ≤ √tolerance·σ1.
                assert!(result.info.residual <= 1e-5, "{:?}", result.info);
            }
        }
    }

    #[test]
    fn gram_path_matches_dense_svd_and_is_certified() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for &(m, n, density) in &[(40, 300, 0.1), (300, 40, 0.1), (120, 130, 0.05), (2, 50, 0.5), (200, 200, 0.9)] {
            let b = random_sparse(&mut rng, m, n, density);
            for weighted in [false, true] {
                let params = SvdParams { parallel: false, ..SvdParams::default() };
                let result = assert_matches_oracle(&b, weighted, &params, &format!("{m}x{n} w={weighted}"));
                assert_eq!(result.info.method, SvdMethod::Gram, "{m}x{n} w={weighted}");
                // Krylov eigenvectors of the Gram matrix, like Lanczos, are certified by the
                // quadratic bound r²/gap ≤ tolerance·σ, which needs only r ≤ √tolerance·σ1.
                assert!(result.info.residual <= 1e-5, "{:?}", result.info);
            }
        }
    }

    #[test]
    fn gram_path_keeps_a_zero_sigma2_at_rounding_level() {
        // σ2 = 0 exactly. The square root of the rounded second eigenvalue would be ~1e-7·σ1;
        // the Ritz value of `B` itself on that eigenvector is at rounding level of σ1.
        let (m, n) = (60, 90);
        let ones: Vec<_> = (0..m).flat_map(|r| (0..n).map(move |c| (r, c, 1.0))).collect();
        let all_ones = Csr::from_triplets(m, n, &ones).unwrap();
        let a: Vec<f64> = (0..m).map(|r| 1.0 + (r % 7) as f64).collect();
        let rank_one =
            Csr::from_triplets(m, n, &ones.iter().map(|&(r, c, _)| (r, c, a[r] * 0.1)).collect::<Vec<_>>()).unwrap();
        let params = SvdParams { parallel: false, ..SvdParams::default() };
        for (b, weighted, sigma1) in
            [(&all_ones, false, ((m * n) as f64).sqrt()), (&rank_one, true, euclidean(&a) * 0.1 * (n as f64).sqrt())]
        {
            let result = top_two(b, weighted, &params);
            assert_eq!(result.info.method, SvdMethod::Gram);
            assert_close(result.sigma1, sigma1, sigma1, "σ1");
            assert!(result.sigma2 <= 1e-12 * result.sigma1, "σ2 = {}", result.sigma2);
        }
    }

    #[test]
    fn both_at_once_equal_each_alone() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for &(m, n, density) in &[(40, 300, 0.1), (300, 60, 0.05), (3, 3, 0.9)] {
            let b = random_sparse(&mut rng, m, n, density);
            for params in [SvdParams { parallel: false, ..SvdParams::default() }, lanczos_params()] {
                let both = top_two_both(&b, &params);
                assert_eq!(both, [top_two(&b, false, &params), top_two(&b, true, &params)], "{m}x{n}");
            }
        }
        let zero_values = Csr::from_triplets(3, 4, &[(0, 1, 0.0), (2, 3, 0.0)]).unwrap();
        let [pattern, weighted] = top_two_both(&zero_values, &SvdParams::default());
        assert_close(pattern.sigma1, 1.0, 1.0, "pattern of a zero-valued layer");
        assert_eq!((weighted.sigma1, weighted.sigma2), (0.0, 0.0));
    }

    #[test]
    fn repeated_top_singular_value_is_found() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let base = random_sparse(&mut rng, 30, 45, 0.2);
        for copies in [2, 3] {
            let b = block_diagonal(&base, copies);
            for weighted in [false, true] {
                let result = assert_matches_oracle(&b, weighted, &lanczos_params(), &format!("{copies} copies"));
                assert_close(result.sigma2, result.sigma1, result.sigma1, "σ2 = σ1 for identical copies");
            }
        }
    }

    #[test]
    fn rank_one_and_all_ones_have_zero_sigma2() {
        // All ones: σ1 = √(mn) exactly, σ2 = 0; rank one with values: σ1 = ‖a‖‖c‖.
        let (m, n) = (70, 40);
        let ones: Vec<_> = (0..m).flat_map(|r| (0..n).map(move |c| (r, c, 1.0))).collect();
        let all_ones = Csr::from_triplets(m, n, &ones).unwrap();
        let a: Vec<f64> = (0..m).map(|r| 1.0 + (r % 5) as f64).collect();
        let c: Vec<f64> = (0..n).map(|k| 0.5 + (k % 3) as f64).collect();
        let outer: Vec<_> = (0..m).flat_map(|r| c.iter().enumerate().map(move |(k, _)| (r, k))).collect();
        let rank_one =
            Csr::from_triplets(m, n, &outer.iter().map(|&(r, k)| (r, k, a[r] * c[k])).collect::<Vec<_>>()).unwrap();
        let expected_rank_one = euclidean(&a) * euclidean(&c);
        for params in [SvdParams::default(), lanczos_params()] {
            let result = top_two(&all_ones, false, &params);
            assert!(result.info.converged);
            assert_close(result.sigma1, ((m * n) as f64).sqrt(), result.sigma1, "all ones σ1");
            assert!(result.sigma2 <= 1e-12 * result.sigma1, "all ones σ2 = {}", result.sigma2);
            let result = top_two(&rank_one, true, &params);
            assert_close(result.sigma1, expected_rank_one, result.sigma1, "rank one σ1");
            assert!(result.sigma2 <= 1e-12 * result.sigma1, "rank one σ2 = {}", result.sigma2);
        }
    }

    #[test]
    fn single_row_and_column_and_empty() {
        let row = Csr::from_triplets(1, 9, &[(0, 1, 3.0), (0, 4, 4.0)]).unwrap();
        for params in [SvdParams::default(), lanczos_params()] {
            for b in [row.clone(), row.transpose()] {
                let weighted = top_two(&b, true, &params);
                assert_close(weighted.sigma1, 5.0, 5.0, "‖(3, 4)‖");
                assert_eq!(weighted.sigma2, 0.0);
                let pattern = top_two(&b, false, &params);
                assert_close(pattern.sigma1, 2f64.sqrt(), 2.0, "√2");
                assert_eq!(pattern.sigma2, 0.0);
            }
            for b in [
                Csr::from_triplets(0, 5, &[]).unwrap(),
                Csr::from_triplets(4, 6, &[]).unwrap(),
                Csr::from_triplets(3, 3, &[(1, 1, 0.0)]).unwrap(),
            ] {
                let result = top_two(&b, true, &params);
                assert_eq!((result.sigma1, result.sigma2, result.info.converged), (0.0, 0.0, true));
            }
        }
    }

    #[test]
    fn non_finite_values_are_reported_not_hidden() {
        let b = Csr::from_triplets(2, 2, &[(0, 0, f64::NAN), (1, 1, 1.0)]).unwrap();
        let result = top_two(&b, true, &SvdParams::default());
        assert!(!result.info.converged && result.sigma1.is_nan());
        // The pattern ignores the values.
        assert_close(top_two(&b, false, &SvdParams::default()).sigma1, 1.0, 1.0, "pattern");
    }

    #[test]
    fn parallel_and_sequential_lanczos_agree_to_the_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let b = random_sparse(&mut rng, 900, 400, 0.02);
        let sequential = top_two(&b, true, &lanczos_params());
        let parallel = top_two(&b, true, &SvdParams { parallel: true, ..lanczos_params() });
        assert_eq!((sequential.sigma1, sequential.sigma2), (parallel.sigma1, parallel.sigma2));
    }

    #[test]
    fn exhausted_budget_is_reported() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let b = random_sparse(&mut rng, 300, 200, 0.05);
        let result = top_two(&b, true, &SvdParams { max_matvecs: 8, ..lanczos_params() });
        assert!(!result.info.converged, "{:?}", result.info);
        assert!(result.info.matvecs >= 8);
    }
}

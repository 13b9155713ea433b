//! Properties of `spectral::top_two` against an independent oracle (faer's dense SVD of the
//! dense matrix) and against exact answers (regular graphs, identical copies, rank one).

use faer::MatRef;
use maskspec::graph::Csr;
use maskspec::spectral::{top_two, SvdMethod, SvdParams};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every singular value of `b` (pattern or values), nonincreasing, from faer's dense SVD.
fn oracle(b: &Csr, weighted: bool) -> Vec<f64> {
    let dense = b.to_dense(weighted);
    MatRef::from_row_major_slice(&dense, b.n_rows(), b.n_cols()).singular_values().expect("dense SVD converges")
}

fn oracle_top_two(b: &Csr, weighted: bool) -> (f64, f64) {
    let s = oracle(b, weighted);
    (s.first().copied().unwrap_or(0.0), s.get(1).copied().unwrap_or(0.0))
}

fn lanczos() -> SvdParams {
    SvdParams { dense_threshold: 0, parallel: false, ..SvdParams::default() }
}

/// The default dispatch: the Gram path on a small side, with its fallbacks.
fn gram() -> SvdParams {
    SvdParams { parallel: false, ..SvdParams::default() }
}

fn dense() -> SvdParams {
    SvdParams {
        dense_threshold: usize::MAX,
        svd_threshold: usize::MAX,
        dense_max_entries: usize::MAX,
        parallel: false,
        ..SvdParams::default()
    }
}

/// 1e-9 relative, or 1e-12 of σ1 for values near zero (the contract).
fn close(got: f64, want: f64, sigma1: f64) -> bool {
    (got - want).abs() <= (1e-9 * want.abs()).max(1e-12 * sigma1.max(1.0))
}

fn random_sparse(seed: u64, n_rows: usize, n_cols: usize, density: f64) -> Csr {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut triplets = Vec::new();
    for r in 0..n_rows {
        for c in 0..n_cols {
            if rng.random::<f64>() < density {
                triplets.push((r, c, rng.random_range(0.0..3.0)));
            }
        }
    }
    Csr::from_triplets(n_rows, n_cols, &triplets).unwrap()
}

fn block_diagonal(b: &Csr, copies: usize) -> Csr {
    let mut triplets = Vec::new();
    for k in 0..copies {
        for r in 0..b.n_rows() {
            let (cols, vals) = b.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                triplets.push((k * b.n_rows() + r, k * b.n_cols() + c as usize, v));
            }
        }
    }
    Csr::from_triplets(copies * b.n_rows(), copies * b.n_cols(), &triplets).unwrap()
}

fn permuted(b: &Csr, seed: u64) -> Csr {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows: Vec<usize> = (0..b.n_rows()).collect();
    let mut cols: Vec<usize> = (0..b.n_cols()).collect();
    rows.shuffle(&mut rng);
    cols.shuffle(&mut rng);
    let mut triplets = Vec::new();
    for (r, &new_row) in rows.iter().enumerate() {
        let (cs, vals) = b.row(r);
        for (&c, &v) in cs.iter().zip(vals) {
            triplets.push((new_row, cols[c as usize], v));
        }
    }
    Csr::from_triplets(b.n_rows(), b.n_cols(), &triplets).unwrap()
}

/// Circulant biadjacency: output `i` is joined to inputs `i, i+1, …, i+d−1 (mod n)`;
/// every node has degree `d`, so σ1 = d exactly.
fn circulant(n: usize, d: usize) -> Csr {
    let triplets: Vec<_> = (0..n).flat_map(|i| (0..d).map(move |k| (i, (i + k) % n, 1.0))).collect();
    Csr::from_triplets(n, n, &triplets).unwrap()
}

/// `(out, in)` biregular: output `i` joined to inputs `i·r + k (mod in)`, `k < d_out`, with
/// `in = r·out`, so every input has degree `d_out / r` and σ1 = √(d_out · d_in).
fn biregular(n_out: usize, ratio: usize, d_out: usize) -> Csr {
    let n_in = n_out * ratio;
    let triplets: Vec<_> = (0..n_out).flat_map(|i| (0..d_out).map(move |k| (i, (i * ratio + k) % n_in, 1.0))).collect();
    Csr::from_triplets(n_out, n_in, &triplets).unwrap()
}

fn shape_and_density() -> impl Strategy<Value = (usize, usize, f64, u64)> {
    (1usize..48, 1usize..48, 0.02f64..0.6, any::<u64>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn both_paths_match_the_oracle((m, n, density, seed) in shape_and_density(), weighted in any::<bool>()) {
        let b = random_sparse(seed, m, n, density);
        let (s1, s2) = oracle_top_two(&b, weighted);
        for params in [lanczos(), gram(), dense()] {
            let result = top_two(&b, weighted, &params);
            prop_assert!(result.info.converged, "{:?}", result.info);
            prop_assert!(result.sigma1 >= result.sigma2 && result.sigma2 >= 0.0);
            prop_assert!(close(result.sigma1, s1, s1), "σ1 {} vs {} ({:?})", result.sigma1, s1, result.info);
            prop_assert!(close(result.sigma2, s2, s1), "σ2 {} vs {} ({:?})", result.sigma2, s2, result.info);
        }
    }

    #[test]
    fn identical_copies_give_a_repeated_top_value(
        (m, n, density, seed) in (2usize..20, 2usize..20, 0.1f64..0.7, any::<u64>()),
        copies in 2usize..4,
        weighted in any::<bool>(),
    ) {
        let base = random_sparse(seed, m, n, density);
        prop_assume!(base.nnz() > 0);
        let b = block_diagonal(&base, copies);
        let (s1, _) = oracle_top_two(&base, weighted);
        for params in [lanczos(), gram()] {
            let result = top_two(&b, weighted, &params);
            prop_assert!(result.info.converged, "{:?}", result.info);
            prop_assert!(close(result.sigma1, s1, s1), "σ1 {} vs {}", result.sigma1, s1);
            prop_assert!(close(result.sigma2, s1, s1), "σ2 {} vs σ1 {} of one copy", result.sigma2, s1);
        }
    }

    #[test]
    fn permuting_rows_and_columns_changes_nothing(
        (m, n, density, seed) in shape_and_density(),
        weighted in any::<bool>(),
    ) {
        let b = random_sparse(seed, m, n, density);
        let p = permuted(&b, seed ^ 0x9e37_79b9);
        for params in [lanczos(), gram(), dense()] {
            let (a, c) = (top_two(&b, weighted, &params), top_two(&p, weighted, &params));
            prop_assert!(close(a.sigma1, c.sigma1, a.sigma1) && close(a.sigma2, c.sigma2, a.sigma1), "{a:?} vs {c:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The Gram route on sides large enough that its Krylov basis stops well short of the
    /// whole space, with up to three identical copies (a top singular value repeated two or
    /// three times, which one Krylov sequence alone cannot see): it must take that route and
    /// land on the dense SVD's values.
    #[test]
    fn gram_route_matches_the_dense_svd_on_larger_sides(
        (m, n, density, seed) in (60usize..160, 60usize..400, 0.03f64..0.3, any::<u64>()),
        copies in 1usize..4,
        weighted in any::<bool>(),
    ) {
        let base = random_sparse(seed, m, n, density);
        prop_assume!(base.nnz() > 0);
        let b = block_diagonal(&base, copies);
        let (s1, s2) = oracle_top_two(&b, weighted);
        let result = top_two(&b, weighted, &gram());
        prop_assert_eq!(result.info.method, SvdMethod::Gram, "{:?}", result.info);
        prop_assert!(result.info.converged, "{:?}", result.info);
        prop_assert!(close(result.sigma1, s1, s1), "σ1 {} vs {} ({:?})", result.sigma1, s1, result.info);
        prop_assert!(close(result.sigma2, s2, s1), "σ2 {} vs {} ({:?})", result.sigma2, s2, result.info);
        if copies > 1 {
            prop_assert!(close(result.sigma2, result.sigma1, s1), "copies: σ2 {} vs σ1 {}", result.sigma2, result.sigma1);
        }
    }
}

#[test]
fn regular_and_biregular_graphs_have_sigma1_equal_to_the_degree() {
    for (n, d) in [(20, 3), (300, 4), (700, 7)] {
        let b = circulant(n, d);
        for params in [SvdParams::default(), lanczos()] {
            let result = top_two(&b, false, &params);
            assert!(result.info.converged);
            assert!(close(result.sigma1, d as f64, d as f64), "circulant {n}/{d}: {result:?}");
            let (_, s2) = oracle_top_two(&b, false);
            assert!(close(result.sigma2, s2, d as f64), "circulant {n}/{d}: σ2 {} vs {s2}", result.sigma2);
        }
    }
    // d_out = 12 over ratio 3: inputs of degree 4, σ1 = √(12·4).
    let b = biregular(400, 3, 12);
    for params in [SvdParams::default(), lanczos()] {
        let result = top_two(&b, false, &params);
        assert!(close(result.sigma1, 48f64.sqrt(), 7.0), "biregular: {result:?}");
    }
}

#[test]
fn complete_bipartite_layer_has_zero_sigma2_on_both_paths() {
    let (m, n) = (260, 300);
    let all: Vec<_> = (0..m).flat_map(|r| (0..n).map(move |c| (r, c, 1.0))).collect();
    let b = Csr::from_triplets(m, n, &all).unwrap();
    for params in [SvdParams::default(), gram(), lanczos(), dense()] {
        let result = top_two(&b, false, &params);
        assert!(result.info.converged);
        assert!(close(result.sigma1, ((m * n) as f64).sqrt(), 1.0));
        assert!(result.sigma2 <= 1e-12 * result.sigma1, "σ2 = {} ({:?})", result.sigma2, result.info);
    }
}

/// The default parameters (small side: Gram) and Lanczos on the same layer, with the path
/// each is expected to take.
fn default_and_lanczos(side: usize) -> [(SvdParams, SvdMethod); 2] {
    let gram = if side <= SvdParams::default().dense_threshold { SvdMethod::Gram } else { SvdMethod::Lanczos };
    [(SvdParams::default(), gram), (SvdParams { dense_threshold: 0, ..SvdParams::default() }, SvdMethod::Lanczos)]
}

#[test]
fn a_thin_but_huge_layer_never_densifies_and_is_exact() {
    // 40 × 200 000 is too big to densify: the Gram path works on the 40 × 40 side, Lanczos
    // spans it, and both must land on the exact values.
    let b = random_sparse(41, 40, 200_000, 0.001);
    let (s1, s2) = oracle_top_two(&b, true);
    for (params, method) in default_and_lanczos(40) {
        let result = top_two(&b, true, &params);
        assert_eq!(result.info.method, method);
        assert!(close(result.sigma1, s1, s1) && close(result.sigma2, s2, s1), "{result:?} vs {s1}, {s2}");
    }
}

#[test]
fn large_random_layers_match_the_dense_svd() {
    for (seed, m, n, density) in [(11, 300, 2000, 0.05), (12, 2000, 300, 0.1), (13, 320, 1800, 0.3)] {
        let b = random_sparse(seed, m, n, density);
        for weighted in [false, true] {
            let (s1, s2) = oracle_top_two(&b, weighted);
            for (params, method) in default_and_lanczos(m.min(n)) {
                let result = top_two(&b, weighted, &params);
                assert_eq!(result.info.method, method);
                assert!(result.info.converged, "{:?}", result.info);
                assert!(close(result.sigma1, s1, s1), "{m}x{n} σ1 {} vs {s1}", result.sigma1);
                assert!(close(result.sigma2, s2, s1), "{m}x{n} σ2 {} vs {s2}", result.sigma2);
            }
        }
    }
}

#[test]
fn weighted_copies_of_a_large_layer_keep_sigma2_equal_to_sigma1() {
    let base = random_sparse(21, 150, 400, 0.05);
    let (s1, _) = oracle_top_two(&base, true);
    for copies in [2, 3] {
        for (params, method) in default_and_lanczos(150 * copies) {
            let result = top_two(&block_diagonal(&base, copies), true, &params);
            assert_eq!(result.info.method, method);
            assert!(
                close(result.sigma1, s1, s1) && close(result.sigma2, s1, s1),
                "{copies} copies: {result:?} vs {s1}"
            );
        }
    }
}

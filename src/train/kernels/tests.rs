use super::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random `[rows, cols]` weight, mask at `density`, `[cols, batch]` input, `[rows, batch]` upstream gradient.
struct Case {
    rows: usize,
    cols: usize,
    batch: usize,
    weight: Vec<f32>,
    mask: Vec<bool>,
    x: Vec<f32>,
    dy: Vec<f32>,
}

fn case(rows: usize, cols: usize, batch: usize, density: f64, seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>();
    let weight = uniform(rows * cols);
    let x = uniform(cols * batch);
    let dy = uniform(rows * batch);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mask = (0..rows * cols).map(|_| rng.random_bool(density)).collect();
    Case { rows, cols, batch, weight, mask, x, dy }
}

/// The plain dense reference in f64: weights × mask, triple loops.
fn reference(c: &Case) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let w = |r: usize, j: usize| if c.mask[r * c.cols + j] { c.weight[r * c.cols + j] as f64 } else { 0.0 };
    let mut y = vec![0.0; c.rows * c.batch];
    let mut dx = vec![0.0; c.cols * c.batch];
    let mut dw = vec![0.0; c.rows * c.cols];
    for r in 0..c.rows {
        for j in 0..c.cols {
            for b in 0..c.batch {
                y[r * c.batch + b] += w(r, j) * c.x[j * c.batch + b] as f64;
                dx[j * c.batch + b] += w(r, j) * c.dy[r * c.batch + b] as f64;
                dw[r * c.cols + j] += c.dy[r * c.batch + b] as f64 * c.x[j * c.batch + b] as f64;
            }
        }
    }
    (y, dx, dw)
}

/// f32 sums of `terms` products of magnitude ≤ 1: the error bound scales with the length.
fn assert_close(got: &[f32], want: &[f64], terms: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let tol = 4.0 * f32::EPSILON as f64 * (terms as f64 + 1.0);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= tol, "{what}[{i}]: got {g}, want {w} (tol {tol})");
    }
}

/// Every kernel set this CPU runs against the dense reference.
fn check_all(c: &Case) {
    for k in Kernels::available() {
        check(c, &k);
    }
}

fn check(c: &Case, k: &Kernels) {
    let w = SparseWeights::from_dense_masked(c.rows, c.cols, &c.weight, &c.mask);
    assert_eq!(w.nnz(), c.mask.iter().filter(|&&m| m).count());
    let (y_ref, dx_ref, dw_ref) = reference(c);
    let mut y = vec![f32::NAN; c.rows * c.batch];
    forward_with(k, &w, &c.x, c.batch, &mut y);
    assert_close(&y, &y_ref, c.cols, "forward");
    let mut dx = vec![f32::NAN; c.cols * c.batch];
    input_grad_with(k, &w, &c.dy, c.batch, &mut dx);
    assert_close(&dx, &dx_ref, c.rows, "input gradient");
    let mut dw = vec![f32::NAN; w.nnz()];
    weight_grad_with(k, &w, &c.dy, &c.x, c.batch, &mut dw);
    // Only the mask's positions are computed: compare them against the dense gradient there.
    let dw_ref_masked: Vec<f64> = dw_ref.iter().zip(&c.mask).filter(|(_, &m)| m).map(|(&g, _)| g).collect();
    assert_close(&dw, &dw_ref_masked, c.batch, "weight gradient");
}

fn check_dense(c: &Case, threads: usize) {
    // The dense path on weights × mask must give the same numbers as the sparse reference.
    let masked: Vec<f32> = c.weight.iter().zip(&c.mask).map(|(&w, &m)| if m { w } else { 0.0 }).collect();
    let (y_ref, dx_ref, dw_ref) = reference(c);
    let mut y = vec![f32::NAN; c.rows * c.batch];
    dense_forward(&masked, c.rows, c.cols, &c.x, c.batch, &mut y, threads);
    assert_close(&y, &y_ref, c.cols, "dense forward");
    let mut dx = vec![f32::NAN; c.cols * c.batch];
    dense_input_grad(&masked, c.rows, c.cols, &c.dy, c.batch, &mut dx, threads);
    assert_close(&dx, &dx_ref, c.rows, "dense input gradient");
    let mut dw = vec![f32::NAN; c.rows * c.cols];
    dense_weight_grad(&c.dy, &c.x, c.rows, c.cols, c.batch, &mut dw, threads);
    assert_close(&dw, &dw_ref, c.batch, "dense weight gradient");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sparse_kernels_match_dense_reference(
        rows in 1usize..40, cols in 1usize..40, batch in 1usize..150, density in 0.0f64..=1.0, seed in any::<u64>()
    ) {
        let c = case(rows, cols, batch, density, seed);
        check_all(&c);
        check_dense(&c, 1);
    }
}

/// [`case`] with a mask of whole aligned `tile` blocks (those the edges clip included), each
/// kept with probability `density`.
fn tiled_case(rows: usize, cols: usize, batch: usize, tile: (usize, usize), density: f64, seed: u64) -> Case {
    let mut c = case(rows, cols, batch, 0.0, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x711e);
    let keep: Vec<bool> =
        (0..rows.div_ceil(tile.0) * cols.div_ceil(tile.1)).map(|_| rng.random_bool(density)).collect();
    for r in 0..rows {
        for j in 0..cols {
            c.mask[r * cols + j] = keep[r / tile.0 * cols.div_ceil(tile.1) + j / tile.1];
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Block masks take the grouped kernels (rows in groups of min(R, 4) for the forward and
    /// weight gradient, columns in groups of min(C, 4) for Wᵀ·δ), with the rows and columns
    /// the groups leave over, and the blocks the edges clip, going line by line.
    #[test]
    fn grouped_kernels_of_block_masks_match_dense_reference(
        r in 0usize..5, c in 0usize..5, rows in 1usize..70, cols in 1usize..70, batch in 1usize..150,
        density in 0.05f64..=1.0, seed in any::<u64>()
    ) {
        let tile = (1 << r, 1 << c);
        let case = tiled_case(rows, cols, batch, tile, density, seed);
        let w = SparseWeights::from_dense_masked(rows, cols, &case.weight, &case.mask);
        // A random tiling can share more than its tiles (a column of kept blocks), never less.
        prop_assert!(rows < tile.0.min(4) || w.row_group >= tile.0.min(4), "row group {}", w.row_group);
        prop_assert!(cols < tile.1.min(4) || w.col_group >= tile.1.min(4), "column group {}", w.col_group);
        check_all(&case);
    }
}

#[test]
fn block_masks_at_bench_shapes_use_groups_of_four() {
    // Batch 128 fills the grouped chunks; 130 leaves a remainder; 3240 columns make panels.
    for (rows, cols, batch) in [(64, 96, 128), (66, 98, 130), (8, 3240, 128), (3240, 8, 128)] {
        let c = tiled_case(rows, cols, batch, (4, 4), 0.2, 9);
        let w = SparseWeights::from_dense_masked(rows, cols, &c.weight, &c.mask);
        assert_eq!((w.row_group, w.col_group), (4, 4), "{rows}×{cols}");
        check_all(&c);
    }
    // Random unstructured masks share nothing: line by line.
    let c = case(64, 96, 128, 0.3, 2);
    let w = SparseWeights::from_dense_masked(64, 96, &c.weight, &c.mask);
    assert_eq!((w.row_group, w.col_group), (1, 1));
}

#[test]
fn full_chunks_and_remainders_at_bench_like_shape() {
    // Batch 128 = two full chunks; 130 adds a remainder; both paths and two threads.
    for batch in [128, 130] {
        let c = case(64, 96, batch, 0.1, 7);
        check_all(&c);
        check_dense(&c, 2);
    }
}

#[test]
fn panels_and_batch_tiles_of_wide_layers_match_the_reference() {
    // 3000 rows of the randomly accessed operand make three panels of PANEL rows; at batch 300
    // a panel does not fit one tile either, so the batch goes in windows (192 = three chunks,
    // then 108 = a chunk and a remainder): the forward (wide input) and Wᵀ·δ (wide output)
    // add up panels and windows.
    assert_eq!(batch_tiles(150, 3000), vec![(0, 64), (64, 128), (128, 150)]);
    assert_eq!(batch_tiles(128, 1024), vec![(0, 128)]);
    assert_eq!(batch_tiles(300, PANEL), vec![(0, 192), (192, 300)]);
    let w = case(2, 3000, 1, 0.5, 3);
    let sparse = SparseWeights::from_dense_masked(2, 3000, &w.weight, &w.mask);
    assert_eq!(panels(3000), 3);
    assert_eq!(sparse.seg.len(), 2 * 4);
    for (rows, cols) in [(40, 3000), (3000, 40)] {
        let c = case(rows, cols, 300, 0.05, 11);
        check_all(&c);
    }
}

#[test]
fn empty_rows_and_columns_give_zeros() {
    let mut c = case(5, 4, 3, 1.0, 1);
    c.mask = vec![false; 20];
    c.mask[6] = true; // row 1, column 2 only
    check_all(&c);
    let w = SparseWeights::from_dense_masked(5, 4, &c.weight, &c.mask);
    assert_eq!(w.mask(), c.mask);
    let dense = w.to_dense();
    assert_eq!(dense.iter().filter(|&&v| v != 0.0).count(), 1);
    assert_eq!(dense[6], c.weight[6]);
}

#[test]
fn a_positions_weight_gradient_does_not_depend_on_its_group() {
    // The dot kernel computes positions in groups, padding the last group of a row by repeating
    // a position: each position alone must give the very same bits. 21 positions = two groups
    // and a padded remainder of 5; batch 133 has a tail past the last full lane block.
    let c = case(1, 60, 133, 0.35, 5);
    let w = SparseWeights::from_dense_masked(1, 60, &c.weight, &c.mask);
    assert!(!w.nnz().is_multiple_of(8) && w.nnz() > 8, "a remainder after full groups ({})", w.nnz());
    for dot in Kernels::available().into_iter().map(|k| k.dot) {
        let mut grouped = vec![f32::NAN; w.nnz()];
        dot(&w.col_idx, &c.dy, &c.x, c.batch, &mut grouped);
        for (k, &j) in w.col_idx.iter().enumerate() {
            let mut alone = [f32::NAN];
            dot(&[j], &c.dy, &c.x, c.batch, &mut alone);
            assert_eq!(alone[0].to_bits(), grouped[k].to_bits(), "position {k}");
        }
    }
}

//! DST (SPEC §8): SET and RigL keep every layer's exact nonzero count after every update,
//! drop the smallest |w|, grow at previously inactive positions with weight and momentum 0;
//! RigL grows where the dense gradient is largest; static never changes a mask; a structured
//! pattern (blocks, N:M, fan-in) holds through every update.

use maskspec::train::dst::{self, Method, Schedule};
use maskspec::train::kernels::SparseWeights;
use maskspec::train::model::{Linear, Weights};
use maskspec::train::pattern::{MaskGrid, MaskPattern};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn sparse_layer(rows: usize, cols: usize, density: f64, seed: u64) -> Linear {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weight: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mask: Vec<bool> = (0..rows * cols).map(|_| rng.random_bool(density)).collect();
    let mut l = Linear::new(
        "fc".into(),
        cols,
        rows,
        Weights::Sparse(SparseWeights::from_dense_masked(rows, cols, &weight, &mask)),
        None,
    );
    l.velocity_w.iter_mut().for_each(|v| *v = 1.0);
    l
}

fn mask_and_dense(l: &Linear) -> (Vec<bool>, Vec<f32>) {
    let (w, m) = l.dense_weight_and_mask();
    (m, w)
}

#[test]
fn set_and_rigl_keep_exact_nonzeros_after_every_update() {
    for method in [Method::Set, Method::Rigl] {
        let mut layer = sparse_layer(30, 40, 0.1, 3);
        let nnz = layer.macs();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let schedule = Schedule { delta_t: 1, alpha: 0.3, t_end: 50 };
        let mut moved_total = 0;
        for step in 1..60 {
            let Some(fraction) = schedule.fraction(step) else { continue };
            let mut g = ChaCha8Rng::seed_from_u64(step as u64);
            layer.dense_grad = Some((0..1200).map(|_| g.random_range(-1.0f32..1.0)).collect());
            let before = mask_and_dense(&layer);
            let moved = dst::update(&mut layer, method, fraction, &mut rng);
            let after = mask_and_dense(&layer);
            assert_eq!(layer.macs(), nnz, "{method:?} step {step}");
            assert_eq!(after.0.iter().filter(|&&m| m).count(), nnz);
            assert_eq!(layer.velocity_w.len(), nnz);
            assert_eq!(layer.grad_w.len(), nnz);
            // Grown positions were inactive before and start at zero.
            let grown: Vec<usize> = (0..1200).filter(|&i| after.0[i] && !before.0[i]).collect();
            assert_eq!(grown.len(), moved);
            assert!(grown.iter().all(|&i| after.1[i] == 0.0));
            moved_total += moved;
        }
        assert!(moved_total > 0, "{method:?} never moved a weight");
    }
}

#[test]
fn drop_removes_smallest_magnitudes_and_rigl_grows_largest_gradients() {
    let mut layer = sparse_layer(10, 10, 0.3, 5);
    let (mask, dense) = mask_and_dense(&layer);
    let nnz = layer.macs();
    let k = (0.2f64 * nnz as f64).round() as usize;
    let mut active: Vec<usize> = (0..100).filter(|&i| mask[i]).collect();
    active.sort_by(|&a, &b| dense[a].abs().total_cmp(&dense[b].abs()));
    let grad: Vec<f32> = (0..100).map(|i| i as f32).collect();
    layer.dense_grad = Some(grad);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(dst::update(&mut layer, Method::Rigl, 0.2, &mut rng), k);
    let (after, after_w) = mask_and_dense(&layer);
    for &i in &active[..k] {
        assert!(!after[i], "position {i} had one of the {k} smallest |w| and must be dropped");
    }
    for &i in &active[k..] {
        assert!(after[i] && after_w[i] == dense[i], "survivor {i} keeps its weight");
    }
    // The k inactive positions with the largest gradient (here: the largest indices).
    let expected: Vec<usize> = (0..100).rev().filter(|&i| !mask[i]).take(k).collect();
    for &i in &expected {
        assert!(after[i], "position {i} has a top-{k} gradient and must grow");
    }
    // Survivors keep their momentum (1.0), grown ones start at 0.
    let Weights::Sparse(w) = &layer.weights else { panic!("still sparse") };
    let mut flat = Vec::new();
    for r in 0..10 {
        for p in w.row_ptr[r]..w.row_ptr[r + 1] {
            flat.push(r * 10 + w.col_idx[p] as usize);
        }
    }
    for (p, &i) in flat.iter().enumerate() {
        let want = if mask[i] { 1.0 } else { 0.0 };
        assert_eq!(layer.velocity_w[p], want, "momentum at {i}");
    }
}

#[test]
fn static_never_changes_the_mask() {
    let mut layer = sparse_layer(8, 8, 0.5, 1);
    let before = mask_and_dense(&layer);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(dst::update(&mut layer, Method::Static, 0.3, &mut rng), 0);
    assert_eq!(mask_and_dense(&layer), before);
}

#[test]
fn schedule_follows_spec_cosine_decay() {
    let s = Schedule::spec(1000);
    assert_eq!((s.delta_t, s.alpha, s.t_end), (100, 0.3, 750));
    assert_eq!(s.fraction(50), None);
    assert_eq!(s.fraction(800), None);
    let f = s.fraction(100).unwrap();
    let want = 0.15 * (1.0 + (std::f64::consts::PI * 100.0 / 750.0).cos());
    assert!((f - want).abs() < 1e-12);
    assert!(s.fraction(700).unwrap() < f);
}

/// A layer whose mask is drawn in `pattern` (blocks, N:M groups or constant fan-in).
fn patterned_layer(pattern: MaskPattern, rows: usize, cols: usize, density: f64, seed: u64) -> Linear {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weight: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mask = MaskGrid::new(pattern, rows, cols).random_mask(density, &mut rng);
    let weights = Weights::Sparse(SparseWeights::from_dense_masked(rows, cols, &weight, &mask));
    let mut layer = Linear::new("fc".into(), cols, rows, weights, None);
    layer.pattern = pattern;
    layer
}

#[test]
fn set_and_rigl_keep_every_pattern_through_every_update() {
    // 18 × 40: 4×4 blocks clip at the bottom; 2:4 groups and fan-in rows are whole.
    let patterns = ["block4x4", "block1x8", "block16x1", "2:4", "1:8", "fan-in"];
    for (pattern, method) in patterns.iter().flat_map(|p| [(p, Method::Set), (p, Method::Rigl)]) {
        let pattern: MaskPattern = pattern.parse().unwrap();
        let density = pattern.fixed_density().unwrap_or(0.3);
        let (rows, cols) = (18, 40);
        let grid = MaskGrid::new(pattern, rows, cols);
        let mut layer = patterned_layer(pattern, rows, cols, density, 11);
        let nnz = layer.macs();
        assert_eq!(nnz, grid.nonzeros(density));
        let schedule = Schedule { delta_t: 1, alpha: 0.5, t_end: 40 };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut moved_total = 0;
        for step in 1..40 {
            let Some(fraction) = schedule.fraction(step) else { continue };
            let mut g = ChaCha8Rng::seed_from_u64(step as u64);
            layer.dense_grad = Some((0..rows * cols).map(|_| g.random_range(-1.0f32..1.0)).collect());
            let (before, _) = mask_and_dense(&layer);
            moved_total += dst::update(&mut layer, method, fraction, &mut rng);
            let (after, _) = mask_and_dense(&layer);
            assert_eq!(layer.macs(), nnz, "{pattern} {method:?} step {step}");
            assert!(grid.same_counts(&after, &before), "{pattern} {method:?} step {step} broke the pattern");
        }
        assert!(moved_total > 0, "{pattern} {method:?} never moved a weight");
    }
}

#[test]
fn rigl_moves_whole_blocks_by_their_summed_scores() {
    let pattern = MaskPattern::Block { rows: 2, cols: 2 };
    let mut layer = patterned_layer(pattern, 8, 8, 0.5, 4);
    let (mask, _) = mask_and_dense(&layer);
    // One gradient-heavy inactive tile: RigL must grow exactly that one when one moves.
    let tile = (0..16).find(|&t| !mask[(t / 4) * 16 + (t % 4) * 2]).unwrap();
    let (r0, c0) = ((tile / 4) * 2, (tile % 4) * 2);
    let mut grad = vec![0.01f32; 64];
    for p in [(r0, c0), (r0, c0 + 1), (r0 + 1, c0), (r0 + 1, c0 + 1)] {
        grad[p.0 * 8 + p.1] = 1.0;
    }
    layer.dense_grad = Some(grad);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // 8 active tiles, fraction 1/8: one tile of 4 weights moves.
    assert_eq!(dst::update(&mut layer, Method::Rigl, 0.125, &mut rng), 4);
    let (after, _) = mask_and_dense(&layer);
    assert!(after[r0 * 8 + c0] && after[(r0 + 1) * 8 + c0 + 1], "the heaviest tile grew");
}

//! DST (SPEC §8): SET and RigL keep every layer's exact nonzero count after every update,
//! drop the smallest |w|, grow at previously inactive positions with weight and momentum 0;
//! RigL grows where the dense gradient is largest; static never changes a mask.

use maskspec::train::dst::{self, Method, Schedule};
use maskspec::train::kernels::SparseWeights;
use maskspec::train::model::{Linear, Weights};
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

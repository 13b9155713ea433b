//! Finite-difference gradient checks: softmax cross-entropy alone, then whole small MLPs of
//! every Sparse-IFT family (dense and sparse linear layers, ReLU, the parallel sum, the
//! factorized nonlinearity, the doped low-rank path), every parameter.

use maskspec::train::model::{softmax_cross_entropy, Mlp, Weights};
use maskspec::train::pattern::MaskPattern;
use maskspec::train::sift::{self, Family, MlpShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn softmax_cross_entropy_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (classes, batch) = (4, 3);
    let logits: Vec<f32> = (0..classes * batch).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    let labels = [2u8, 0, 3];
    let (_, grad, _) = softmax_cross_entropy(&logits, &labels, classes);
    let eps = 1e-3f32;
    for i in 0..logits.len() {
        let mut plus = logits.clone();
        plus[i] += eps;
        let mut minus = logits.clone();
        minus[i] -= eps;
        let fd = (softmax_cross_entropy(&plus, &labels, classes).0 - softmax_cross_entropy(&minus, &labels, classes).0)
            / (2.0 * eps as f64);
        assert!((fd - grad[i] as f64).abs() < 1e-4, "logit {i}: fd {fd} analytic {}", grad[i]);
    }
    // Rows of the probability gradient sum to zero per sample.
    for b in 0..batch {
        let s: f32 = (0..classes).map(|c| grad[c * batch + b]).sum();
        assert!(s.abs() < 1e-6);
    }
}

fn loss(model: &mut Mlp, x: &[f32], labels: &[u8], classes: usize) -> f64 {
    let logits = model.forward(x, labels.len(), 1);
    softmax_cross_entropy(&logits, labels, classes).0
}

/// The stored parameters of layer `l` (weights then bias) as mutable references by index.
fn param(model: &mut Mlp, layer: usize, index: usize) -> &mut f32 {
    let l = model.linears_mut().into_iter().nth(layer).expect("layer exists");
    let n_w = l.grad_w.len();
    if index < n_w {
        match &mut l.weights {
            Weights::Dense(w) | Weights::Masked { weight: w, .. } => &mut w[index],
            Weights::Sparse(s) => &mut s.values[index],
        }
    } else {
        &mut l.bias.as_mut().expect("bias exists")[index - n_w]
    }
}

fn check_family(family: Family) {
    let shape = MlpShape { inputs: 5, hidden: vec![6, 4], classes: 3 };
    let plan = sift::plan(&shape, family, 0.5, MaskPattern::Unstructured).unwrap();
    let mut model = sift::build(&plan, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // Biases away from 0 so ReLU kinks are rarely within the finite-difference step.
    for l in model.linears_mut() {
        if let Some(b) = &mut l.bias {
            b.iter_mut().for_each(|v| *v = rng.random_range(-0.5f32..0.5));
        }
    }
    let batch = 4;
    let x: Vec<f32> = (0..shape.inputs * batch).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let labels = [0u8, 2, 1, 2];

    let logits = model.forward(&x, batch, 1);
    let (_, dlogits, _) = softmax_cross_entropy(&logits, &labels, shape.classes);
    model.backward(&dlogits, batch, false, 1);
    let analytic: Vec<Vec<f32>> =
        model.linears().iter().map(|l| l.grad_w.iter().chain(&l.grad_b).copied().collect()).collect();
    assert!(analytic.iter().any(|g| g.iter().any(|&v| v != 0.0)));

    let eps = 1e-3f32;
    let mut checked = 0;
    for (layer, grads) in analytic.iter().enumerate() {
        for (index, &g) in grads.iter().enumerate() {
            let original = *param(&mut model, layer, index);
            *param(&mut model, layer, index) = original + eps;
            let up = loss(&mut model, &x, &labels, shape.classes);
            *param(&mut model, layer, index) = original - eps;
            let down = loss(&mut model, &x, &labels, shape.classes);
            *param(&mut model, layer, index) = original;
            let fd = (up - down) / (2.0 * eps as f64);
            let tol = 2e-3 + 1e-2 * fd.abs().max(g.abs() as f64);
            assert!((fd - g as f64).abs() <= tol, "{family:?} layer {layer} param {index}: fd {fd}, analytic {g}");
            checked += 1;
        }
    }
    assert_eq!(checked, analytic.iter().map(Vec::len).sum::<usize>());
}

#[test]
fn dense_mlp_gradients_match_finite_differences() {
    check_family(Family::Dense);
}

#[test]
fn sparse_wide_gradients_match_finite_differences() {
    check_family(Family::Wide);
}

#[test]
fn sparse_parallel_gradients_match_finite_differences() {
    check_family(Family::Parallel);
}

#[test]
fn sparse_factorized_gradients_match_finite_differences() {
    check_family(Family::Factorized);
}

#[test]
fn sparse_doped_gradients_match_finite_differences() {
    check_family(Family::Doped);
}

#[test]
fn dense_times_mask_path_matches_sparse_kernels_through_a_step() {
    use maskspec::train::optim::Sgd;
    use maskspec::train::train_step;
    let shape = MlpShape { inputs: 20, hidden: vec![30, 30], classes: 5 };
    let plan = sift::plan(&shape, Family::Wide, 0.9, MaskPattern::Unstructured).unwrap();
    let mut sparse = sift::build(&plan, 4);
    let mut masked = sparse.to_masked();
    assert_eq!(sparse.forward_macs(), masked.forward_macs());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let batch = 16;
    let x: Vec<f32> = (0..shape.inputs * batch).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let labels: Vec<u8> = (0..batch).map(|b| (b % 5) as u8).collect();
    let sgd = Sgd { momentum: 0.9, nesterov: true, weight_decay: 1e-3 };
    for _ in 0..3 {
        let (ls, cs) = train_step(&mut sparse, &x, &labels, 5, &sgd, 0.1, false, 1);
        let (lm, cm) = train_step(&mut masked, &x, &labels, 5, &sgd, 0.1, false, 1);
        assert!((ls - lm).abs() < 1e-5, "loss sparse {ls} masked {lm}");
        assert_eq!(cs, cm);
    }
    for (a, b) in sparse.linears().iter().zip(masked.linears()) {
        let ((wa, ma), (wb, mb)) = (a.dense_weight_and_mask(), b.dense_weight_and_mask());
        assert_eq!(ma, mb);
        for ((&p, &q), &m) in wa.iter().zip(&wb).zip(&ma) {
            assert!((p - q).abs() < 1e-5, "{}: sparse {p} masked {q}", a.name);
            assert!(m || q == 0.0, "{}: the masked path kept a zero off the mask", a.name);
        }
    }
}

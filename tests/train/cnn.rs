//! The small CNN (conv via im2col on the sparse kernels, BatchNorm, ReLU, max pooling, global
//! average pooling): finite-difference gradients for every family, iso-FLOP sizing counted
//! with spatial positions, learning on the digits, 4-D conv weights in checkpoints.

use maskspec::checkpoint::{self, discover_layers, load_layer, LayerFilter};
use maskspec::train::cnn::{Cnn, CnnShape};
use maskspec::train::data::DatasetKind;
use maskspec::train::model::{softmax_cross_entropy, Network, Weights};
use maskspec::train::{train_run, Family, MaskPattern, Method, ModelKind, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FAMILIES: [Family; 5] = [Family::Dense, Family::Wide, Family::Parallel, Family::Factorized, Family::Doped];

fn loss(model: &mut Cnn, x: &[f32], labels: &[u8], classes: usize) -> f64 {
    let logits = model.logits(x, labels.len(), true, 1);
    softmax_cross_entropy(&logits, labels, classes).0
}

fn param(model: &mut Cnn, layer: usize, index: usize) -> &mut f32 {
    let l = model.layers_mut().into_iter().nth(layer).expect("layer exists");
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

/// Normalization `k` of `stage`: its scale, then its shift.
fn norm_param(model: &mut Cnn, stage: usize, k: usize, index: usize) -> &mut f32 {
    let norm = &mut model.stages[stage].norms[k];
    let channels = norm.gamma.len();
    if index < channels {
        &mut norm.gamma[index]
    } else {
        &mut norm.beta[index - channels]
    }
}

#[test]
fn cnn_gradients_match_finite_differences_for_every_family() {
    for family in FAMILIES {
        let shape = CnnShape { image: (2, 4, 4), channels: vec![3, 4], classes: 3 };
        let plan = shape.plan(family, 0.5, MaskPattern::Unstructured).unwrap();
        let mut model = Cnn::build(&shape, &plan, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let batch = 5;
        let x: Vec<f32> = (0..32 * batch).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let labels = [0u8, 2, 1, 1, 0];
        let logits = model.logits(&x, batch, true, 1);
        let (_, dlogits, _) = softmax_cross_entropy(&logits, &labels, 3);
        model.backprop(&dlogits, batch, false, 1);
        let analytic: Vec<Vec<f32>> =
            model.layers().iter().map(|l| l.grad_w.iter().chain(&l.grad_b).copied().collect()).collect();
        let eps = 1e-3f32;
        let mut checked = 0;
        for (layer, grads) in analytic.iter().enumerate() {
            for (index, &g) in grads.iter().enumerate() {
                let original = *param(&mut model, layer, index);
                *param(&mut model, layer, index) = original + eps;
                let up = loss(&mut model, &x, &labels, 3);
                *param(&mut model, layer, index) = original - eps;
                let down = loss(&mut model, &x, &labels, 3);
                *param(&mut model, layer, index) = original;
                let fd = (up - down) / (2.0 * eps as f64);
                let tol = 2e-3 + 1e-2 * fd.abs().max(g.abs() as f64);
                assert!((fd - g as f64).abs() <= tol, "{family:?} layer {layer} param {index}: fd {fd}, analytic {g}");
                checked += 1;
            }
        }
        assert_eq!(checked, analytic.iter().map(Vec::len).sum::<usize>());

        // Every normalization's scale and shift (Sparse Parallel: one per branch).
        let expected_norms = if family == Family::Parallel { 2 } else { 1 };
        assert!(model.stages.iter().all(|s| s.norms.len() == expected_norms), "{family:?}");
        for stage in 0..model.stages.len() {
            for k in 0..model.stages[stage].norms.len() {
                let norm = &model.stages[stage].norms[k];
                let analytic: Vec<f32> = norm.grad_gamma.iter().chain(&norm.grad_beta).copied().collect();
                for (index, &g) in analytic.iter().enumerate() {
                    let original = *norm_param(&mut model, stage, k, index);
                    *norm_param(&mut model, stage, k, index) = original + eps;
                    let up = loss(&mut model, &x, &labels, 3);
                    *norm_param(&mut model, stage, k, index) = original - eps;
                    let down = loss(&mut model, &x, &labels, 3);
                    *norm_param(&mut model, stage, k, index) = original;
                    let fd = (up - down) / (2.0 * eps as f64);
                    let tol = 2e-3 + 1e-2 * fd.abs().max(g.abs() as f64);
                    assert!(
                        (fd - g as f64).abs() <= tol,
                        "{family:?} stage {stage} norm {k} param {index}: fd {fd}, analytic {g}"
                    );
                }
            }
        }
    }
}

#[test]
fn cnn_families_are_iso_flop_within_two_percent() {
    // The default digits CNN. (With 16 first-stage channels, Doped at s = 0.5 falls 2.04% short:
    // SPEC's floor in r = ⌊s·9·16/(9+16)⌋ = 2 on the 9-feature first conv.)
    let shape = CnnShape { image: (1, 8, 8), channels: TrainConfig::default().conv_channels, classes: 10 };
    assert_eq!(shape.channels, vec![32, 64]);
    let dense =
        Cnn::build(&shape, &shape.plan(Family::Dense, 0.0, MaskPattern::Unstructured).unwrap(), 0).macs() as f64;
    // conv1 3·3·1·32 at 64 positions + conv2 3·3·32·64 at 16 + fc 64·10.
    assert_eq!(dense, (9 * 32 * 64 + 9 * 32 * 64 * 16 + 640) as f64);
    for family in FAMILIES {
        for s in [0.5, 0.75, 0.9] {
            let model = Cnn::build(&shape, &shape.plan(family, s, MaskPattern::Unstructured).unwrap(), 0);
            let ratio = model.macs() as f64 / dense;
            assert!((ratio - 1.0).abs() <= 0.02, "{family:?} s={s}: ratio {ratio}");
        }
    }
}

#[test]
fn cnn_learns_digits_and_writes_4d_conv_layers() {
    for family in [Family::Dense, Family::Wide] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            model: ModelKind::Cnn,
            family,
            sparsity: 0.75,
            method: Method::Rigl,
            epochs: 10,
            checkpoint_every: 0,
            out: dir.path().to_path_buf(),
            threads: 2,
            dataset: DatasetKind::Digits,
            ..TrainConfig::default()
        };
        let summary = train_run(&cfg, None).unwrap();
        eprintln!("CNN {family:?}: test_acc {}", summary.test_acc);
        assert!(summary.test_acc >= 0.9, "CNN {family:?} test accuracy {}", summary.test_acc);
        let source = checkpoint::open(summary.checkpoints.last().unwrap()).unwrap();
        let specs = discover_layers(source.as_ref(), &LayerFilter::default()).unwrap();
        let conv1 = specs.iter().find(|s| s.name == "conv1.weight").unwrap();
        let layer = load_layer(source.as_ref(), conv1).unwrap();
        // Sparse Wide at s = 0.75 doubles the channels.
        let width = if family == Family::Wide { 64 } else { 32 };
        assert_eq!(layer.shape(), vec![width, 1, 3, 3]);
        assert!(source.tensors().iter().any(|t| t.name == "conv2.bn.running_var"));
    }
}

#[test]
fn parallel_branches_have_their_own_batchnorm_in_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        model: ModelKind::Cnn,
        family: Family::Parallel,
        sparsity: 0.75,
        conv_channels: vec![4, 8],
        epochs: 1,
        checkpoint_every: 0,
        out: dir.path().to_path_buf(),
        threads: 1,
        dataset: DatasetKind::Digits,
        ..TrainConfig::default()
    };
    let summary = train_run(&cfg, None).unwrap();
    let source = checkpoint::open(summary.checkpoints.last().unwrap()).unwrap();
    let tensor = |name: &str| -> Vec<f64> {
        let index = source.tensors().iter().position(|t| t.name == name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(source.tensors()[index].shape.len(), 1, "{name}");
        source.read_f64(index).unwrap()
    };
    // b = round(1/(1−0.75)) = 4 branches per conv stage, each with all four BN tensors.
    for (stage, channels) in [(1, 4usize), (2, 8)] {
        assert!(!source.tensors().iter().any(|t| t.name.starts_with(&format!("conv{stage}.bn."))));
        for field in ["weight", "bias", "running_mean", "running_var"] {
            let per_branch: Vec<Vec<f64>> =
                (0..4).map(|b| tensor(&format!("conv{stage}.branch{b}.bn.{field}"))).collect();
            assert!(per_branch.iter().all(|v| v.len() == channels));
            // The shifts get the same gradient (the summed output's) in every branch, so they
            // stay equal; the scales and statistics follow each branch's own outputs.
            if field == "bias" {
                continue;
            }
            for a in 0..4 {
                for b in a + 1..4 {
                    assert_ne!(per_branch[a], per_branch[b], "conv{stage} {field}: branches {a} and {b}");
                }
            }
        }
    }
}

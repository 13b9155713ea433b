//! Bench 2: one training step (forward, backward, SGD) of the Sparse Wide MLP at s = 0.9 on
//! our sparse kernels against the dense MLP it replaces (same FLOPs).
//! Bench 3: the same wide model trained as dense weights × mask on the dense GEMM path (what
//! PyTorch code does).

use criterion::{criterion_group, criterion_main, Criterion};
use maskspec::train::model::Mlp;
use maskspec::train::optim::Sgd;
use maskspec::train::sift::{self, Family, MlpShape};
use maskspec::train::train_step;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

const BATCH: usize = 128;

fn bench(c: &mut Criterion) {
    let threads = rayon::current_num_threads();
    let shape = MlpShape { inputs: 256, hidden: vec![1024, 1024], classes: 10 };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..shape.inputs * BATCH).map(|_| rng.random_range(0.0f32..1.0)).collect();
    let labels: Vec<u8> = (0..BATCH).map(|_| rng.random_range(0..10u8)).collect();
    let sgd = Sgd { momentum: 0.9, nesterov: true, weight_decay: 5e-4 };

    let dense = sift::build(&sift::plan(&shape, Family::Dense, 0.0).expect("valid plan"), 0);
    let wide = sift::build(&sift::plan(&shape, Family::Wide, 0.9).expect("valid plan"), 0);
    let wide_masked = wide.to_masked();

    let mut group = c.benchmark_group("mlp_step_256-1024x2-10_b128");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
    let mut run = |name: &str, model: &Mlp| {
        let mut model = model.clone();
        // Small learning rate: the weights stay sane however many iterations criterion runs.
        group.bench_function(name, |b| b.iter(|| train_step(&mut model, &x, &labels, 10, &sgd, 1e-4, false, threads)));
    };
    run("dense", &dense);
    run("sparse_wide_s0.9", &wide);
    run("sparse_wide_s0.9_dense_x_mask", &wide_masked);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Bench 1: one linear layer 1024×1024, batch 128, forward + input gradient + weight gradient,
//! sparse kernels at several sparsities against the dense (faer GEMM) path at the same shape.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use maskspec::train::kernels::{self, SparseWeights};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Duration;

const N: usize = 1024;
const BATCH: usize = 128;

fn bench(c: &mut Criterion) {
    let threads = rayon::current_num_threads();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let weight: Vec<f32> = (0..N * N).map(|_| rng.random_range(-0.05f32..0.05)).collect();
    let x: Vec<f32> = (0..N * BATCH).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let dy: Vec<f32> = (0..N * BATCH).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mut y = vec![0f32; N * BATCH];
    let mut dx = vec![0f32; N * BATCH];

    let mut group = c.benchmark_group("linear_1024x1024_b128");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));

    let mut dw_dense = vec![0f32; N * N];
    group.bench_function("dense", |b| {
        b.iter(|| {
            kernels::dense_forward(&weight, N, N, &x, BATCH, &mut y, threads);
            kernels::dense_input_grad(&weight, N, N, &dy, BATCH, &mut dx, threads);
            kernels::dense_weight_grad(&dy, &x, N, N, BATCH, &mut dw_dense, threads);
            black_box((&y, &dx, &dw_dense));
        })
    });

    for sparsity in [0.0, 0.5, 0.75, 0.9, 0.95, 0.99] {
        let mask: Vec<bool> = (0..N * N).map(|_| !rng.random_bool(sparsity)).collect();
        let w = SparseWeights::from_dense_masked(N, N, &weight, &mask);
        let mut dw = vec![0f32; w.nnz()];
        group.bench_with_input(BenchmarkId::new("sparse", sparsity), &w, |b, w| {
            b.iter(|| {
                kernels::sparse_forward(w, &x, BATCH, &mut y);
                kernels::sparse_input_grad(w, &dy, BATCH, &mut dx);
                kernels::sparse_weight_grad(w, &dy, &x, BATCH, &mut dw);
                black_box((&y, &dx, &dw));
            })
        });
    }
    group.finish();

    // Each kernel alone at s = 0.9, to see where the time goes.
    let mut parts = c.benchmark_group("linear_1024x1024_b128_s0.9_parts");
    parts.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let mask: Vec<bool> = (0..N * N).map(|_| !rng.random_bool(0.9)).collect();
    let w = SparseWeights::from_dense_masked(N, N, &weight, &mask);
    let mut dw = vec![0f32; w.nnz()];
    parts.bench_function("forward", |b| b.iter(|| kernels::sparse_forward(&w, &x, BATCH, black_box(&mut y))));
    parts.bench_function("input_grad", |b| b.iter(|| kernels::sparse_input_grad(&w, &dy, BATCH, black_box(&mut dx))));
    parts.bench_function("weight_grad", |b| {
        b.iter(|| kernels::sparse_weight_grad(&w, &dy, &x, BATCH, black_box(&mut dw)))
    });
    parts.finish();

    // The middle layer of bench 2's Sparse Wide MLP (1024 widened by √10 = 3238, density 0.1):
    // its activations (1.6 MB) no longer fit in L2, unlike the 1024² layer's.
    const WIDE: usize = 3238;
    let mut wide = c.benchmark_group("linear_3238x3238_b128_s0.9_parts");
    wide.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let weight: Vec<f32> = (0..WIDE * WIDE).map(|_| rng.random_range(-0.05f32..0.05)).collect();
    let mask: Vec<bool> = (0..WIDE * WIDE).map(|_| rng.random_bool(0.1)).collect();
    let w = SparseWeights::from_dense_masked(WIDE, WIDE, &weight, &mask);
    let x: Vec<f32> = (0..WIDE * BATCH).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let dy: Vec<f32> = (0..WIDE * BATCH).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let (mut y, mut dx, mut dw) = (vec![0f32; WIDE * BATCH], vec![0f32; WIDE * BATCH], vec![0f32; w.nnz()]);
    wide.bench_function("forward", |b| b.iter(|| kernels::sparse_forward(&w, &x, BATCH, black_box(&mut y))));
    wide.bench_function("input_grad", |b| b.iter(|| kernels::sparse_input_grad(&w, &dy, BATCH, black_box(&mut dx))));
    wide.bench_function("weight_grad", |b| {
        b.iter(|| kernels::sparse_weight_grad(&w, &dy, &x, BATCH, black_box(&mut dw)))
    });
    wide.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

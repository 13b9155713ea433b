//! Bench 1: one linear layer 1024×1024, batch 128, forward + input gradient + weight gradient,
//! sparse kernels at several sparsities against the dense (faer GEMM) path at the same shape.
//!
//! `linear_1024x1024_b128_s0.9_patterns`: the same step at s = 0.9 for each sparsity pattern
//! (blocks take the grouped kernels), against dense, side by side.
//!
//! `roofline_one_thread`: multiply-adds per second on one thread of faer's dense GEMM, of our
//! sparse forward on bench 2's widened layer, and of the loop every unstructured sparse kernel
//! is made of (for each stored weight: load its index and value, load that row of the operand,
//! one fused multiply-add), with the operand in L1 and in L2. It measures how close a sparse
//! step can come to a dense one of the same FLOPs on this machine.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use maskspec::train::kernels::{self, SparseWeights};
use maskspec::train::pattern::{MaskGrid, MaskPattern};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Duration;

const N: usize = 1024;
const BATCH: usize = 128;

/// The middle layer of bench 2's Sparse Wide MLP (1024 widened by √10 = 3238, density 0.1):
/// its activations (1.6 MB) no longer fit in L2, unlike the 1024² layer's.
const WIDE: usize = 3238;

/// A random [`WIDE`]² layer at density 0.1 and its `[WIDE, BATCH]` input.
fn wide_layer(rng: &mut ChaCha8Rng) -> (SparseWeights, Vec<f32>) {
    let weight: Vec<f32> = (0..WIDE * WIDE).map(|_| rng.random_range(-0.05f32..0.05)).collect();
    let mask: Vec<bool> = (0..WIDE * WIDE).map(|_| rng.random_bool(0.1)).collect();
    let w = SparseWeights::from_dense_masked(WIDE, WIDE, &weight, &mask);
    let x: Vec<f32> = (0..WIDE * BATCH).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    (w, x)
}

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

    let mut patterns = c.benchmark_group("linear_1024x1024_b128_s0.9_patterns");
    patterns.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    patterns.bench_function("dense", |b| {
        b.iter(|| {
            kernels::dense_forward(&weight, N, N, &x, BATCH, &mut y, threads);
            kernels::dense_input_grad(&weight, N, N, &dy, BATCH, &mut dx, threads);
            kernels::dense_weight_grad(&dy, &x, N, N, BATCH, &mut dw_dense, threads);
            black_box((&y, &dx, &dw_dense));
        })
    });
    for name in ["unstructured", "fan-in", "block1x4", "block4x1", "block2x2", "block4x4", "block8x8", "block16x16"] {
        let pattern: MaskPattern = name.parse().expect("a pattern");
        let mask = MaskGrid::new(pattern, N, N).random_mask(0.1, &mut ChaCha8Rng::seed_from_u64(3));
        let w = SparseWeights::from_dense_masked(N, N, &weight, &mask);
        let mut dw = vec![0f32; w.nnz()];
        patterns.bench_function(pattern.file_name(), |b| {
            b.iter(|| {
                kernels::sparse_forward(&w, &x, BATCH, &mut y);
                kernels::sparse_input_grad(&w, &dy, BATCH, &mut dx);
                kernels::sparse_weight_grad(&w, &dy, &x, BATCH, &mut dw);
                black_box((&y, &dx, &dw));
            })
        });
        if name == "block4x4" {
            patterns.bench_function("block4x4_forward", |b| {
                b.iter(|| kernels::sparse_forward(&w, &x, BATCH, black_box(&mut y)))
            });
            patterns.bench_function("block4x4_input_grad", |b| {
                b.iter(|| kernels::sparse_input_grad(&w, &dy, BATCH, black_box(&mut dx)))
            });
            patterns.bench_function("block4x4_weight_grad", |b| {
                b.iter(|| kernels::sparse_weight_grad(&w, &dy, &x, BATCH, black_box(&mut dw)))
            });
        }
    }
    patterns.finish();

    let mut wide = c.benchmark_group("linear_3238x3238_b128_s0.9_parts");
    wide.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let (w, x) = wide_layer(&mut rng);
    let dy: Vec<f32> = (0..WIDE * BATCH).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let (mut y, mut dx, mut dw) = (vec![0f32; WIDE * BATCH], vec![0f32; WIDE * BATCH], vec![0f32; w.nnz()]);
    wide.bench_function("forward", |b| b.iter(|| kernels::sparse_forward(&w, &x, BATCH, black_box(&mut y))));
    wide.bench_function("input_grad", |b| b.iter(|| kernels::sparse_input_grad(&w, &dy, BATCH, black_box(&mut dx))));
    wide.bench_function("weight_grad", |b| {
        b.iter(|| kernels::sparse_weight_grad(&w, &dy, &x, BATCH, black_box(&mut dw)))
    });
    wide.finish();
}

fn roofline(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut group = c.benchmark_group("roofline_one_thread");
    group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));

    let weight: Vec<f32> = (0..N * N).map(|_| rng.random_range(-0.05f32..0.05)).collect();
    let x: Vec<f32> = (0..N * BATCH).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mut y = vec![0f32; N * BATCH];
    group.throughput(Throughput::Elements((N * N * BATCH) as u64));
    group.bench_function("dense_gemm_1024x1024_b128", |b| {
        b.iter(|| kernels::dense_forward(&weight, N, N, &x, BATCH, black_box(&mut y), 1))
    });

    let (w, x) = wide_layer(&mut rng);
    let mut y = vec![0f32; WIDE * BATCH];
    group.throughput(Throughput::Elements((w.nnz() * BATCH) as u64));
    group.bench_function("sparse_forward_3238x3238_s0.9_b128", |b| {
        b.iter(|| pool.install(|| kernels::sparse_forward(&w, &x, BATCH, black_box(&mut y))))
    });

    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // 2²⁰ stored weights in one row, each times a random row of 16 f32 (one cache line).
        let weights = 1 << 20;
        let values: Vec<f32> = (0..weights).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        for (name, rows) in [("gather_fma_operand_in_l1_16KB", 256), ("gather_fma_operand_in_l2_202KB", WIDE)] {
            let index: Vec<u32> = (0..weights).map(|_| rng.random_range(0..rows as u32)).collect();
            let operand: Vec<f32> = (0..rows * 16).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            assert!(index.iter().all(|&i| (i as usize) < rows));
            group.throughput(Throughput::Elements((weights * 16) as u64));
            // SAFETY: AVX-512F detected above; every index is below `rows`.
            group.bench_function(name, |b| b.iter(|| unsafe { gather_fma(&index, &values, &operand) }));
        }
    }
    group.finish();
}

/// `Σ values[k] · operand[index[k], 0..16]` with four accumulators (one multiply-add's latency):
/// per stored weight one index load, one broadcast load and one fused multiply-add of a
/// 16-lane operand row read from memory.
///
/// # Safety
/// The CPU has AVX-512F and every index is below `operand.len() / 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gather_fma(index: &[u32], values: &[f32], operand: &[f32]) -> [f32; 16] {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 4];
    for (index, values) in index.chunks_exact(4).zip(values.chunks_exact(4)) {
        for q in 0..4 {
            // SAFETY: by the contract the row's 16 values are within `operand`. No bounds check
            // in the loop, as in the kernels, whose indices are checked when a layer is built.
            let row = unsafe { _mm512_loadu_ps(operand.as_ptr().add(index[q] as usize * 16)) };
            acc[q] = _mm512_fmadd_ps(_mm512_set1_ps(values[q]), row, acc[q]);
        }
    }
    let mut sums = [0f32; 16];
    // SAFETY: `sums` holds 16 values.
    unsafe {
        _mm512_storeu_ps(sums.as_mut_ptr(), _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
    };
    sums
}

criterion_group!(benches, bench, roofline);
criterion_main!(benches);

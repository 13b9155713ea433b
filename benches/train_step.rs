//! Bench 2: one training step (forward, backward, SGD) of the Sparse Wide MLP at s = 0.9 on
//! our sparse kernels against the dense MLP it replaces (same FLOPs).
//! Bench 3: the same wide model trained as dense weights × mask on the dense GEMM path (what
//! PyTorch code does).
//! Bench 4: the Sparse Wide MLP at s = 0.9 with 4×4 and 8×8 block masks (`--sparsity-pattern`),
//! whose grouped kernels load each operand row once per 4 rows or columns.
//!
//! Each is measured twice: wall clock on all threads, and CPU time on one thread, which the
//! other jobs on a shared machine can slow (caches, memory bandwidth) but not inflate the way
//! they stretch wall-clock medians (up to 4× at load 8).

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use maskspec::train::model::Mlp;
use maskspec::train::optim::Sgd;
use maskspec::train::pattern::MaskPattern;
use maskspec::train::sift::{self, Family, MlpShape};
use maskspec::train::train_step;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

const BATCH: usize = 128;

struct Models {
    x: Vec<f32>,
    labels: Vec<u8>,
    models: Vec<(&'static str, Mlp)>,
}

fn models() -> Models {
    let shape = MlpShape { inputs: 256, hidden: vec![1024, 1024], classes: 10 };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..shape.inputs * BATCH).map(|_| rng.random_range(0.0f32..1.0)).collect();
    let labels: Vec<u8> = (0..BATCH).map(|_| rng.random_range(0..10u8)).collect();
    let dense = sift::build(&sift::plan(&shape, Family::Dense, 0.0, MaskPattern::Unstructured).expect("valid plan"), 0);
    let wide = sift::build(&sift::plan(&shape, Family::Wide, 0.9, MaskPattern::Unstructured).expect("valid plan"), 0);
    let wide_masked = wide.to_masked();
    let blocked = |pattern: &str| {
        let pattern: MaskPattern = pattern.parse().expect("a pattern");
        let mut plan = sift::plan(&shape, Family::Wide, 0.9, pattern).expect("valid plan");
        sift::apply_pattern(&mut plan, pattern);
        sift::build(&plan, 0)
    };
    let models = vec![
        ("dense", dense),
        ("sparse_wide_s0.9", wide),
        ("sparse_wide_s0.9_dense_x_mask", wide_masked),
        ("sparse_wide_s0.9_block4x4", blocked("block4x4")),
        ("sparse_wide_s0.9_block8x8", blocked("block8x8")),
    ];
    Models { x, labels, models }
}

const SGD: Sgd = Sgd { momentum: 0.9, nesterov: true, weight_decay: 5e-4 };

fn wall(c: &mut Criterion) {
    let threads = rayon::current_num_threads();
    let Models { x, labels, models } = models();
    let mut group = c.benchmark_group("mlp_step_256-1024x2-10_b128");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
    for (name, model) in models {
        let mut model = model;
        // Small learning rate: the weights stay sane however many iterations criterion runs.
        group.bench_function(name, |b| b.iter(|| train_step(&mut model, &x, &labels, 10, &SGD, 1e-4, false, threads)));
    }
    group.finish();
}

fn cpu(c: &mut Criterion<CpuTime>) {
    let Models { x, labels, models } = models();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");
    let mut group = c.benchmark_group("mlp_step_256-1024x2-10_b128_one_thread_cpu");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
    for (name, model) in models {
        let mut model = model;
        group.bench_function(name, |b| {
            b.iter(|| pool.install(|| train_step(&mut model, &x, &labels, 10, &SGD, 1e-4, false, 1)))
        });
    }
    group.finish();
}

/// CPU time of every thread of this process (`/proc/self/task/*/schedstat`), in nanoseconds.
struct CpuTime;

fn process_cpu_ns() -> u64 {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux /proc for CPU time");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        process_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        process_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NsFormatter
    }
}

/// Nanoseconds shown as milliseconds of CPU time.
struct NsFormatter;

impl ValueFormatter for NsFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms CPU"
    }
    fn scale_throughputs(&self, _typical: f64, _throughput: &Throughput, _values: &mut [f64]) -> &'static str {
        "steps"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns CPU"
    }
}

criterion_group!(wall_clock, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(CpuTime);
    targets = cpu
}
criterion_main!(wall_clock, cpu_time);

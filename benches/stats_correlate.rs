//! Cost of the correlation table on a sweep-sized input.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use maskspec::stats::{
    bootstrap_interval, correlate, kendall, BootstrapOptions, Column, CorrelateInput, CorrelateOptions,
};

fn stream(mut state: u64) -> impl FnMut() -> f64 {
    move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn bench(c: &mut Criterion) {
    let mut next = stream(1);
    let rows = 1000;
    let accuracy: Vec<Option<f64>> = (0..rows).map(|_| Some(0.8 + 0.1 * next())).collect();
    let density: Vec<Option<f64>> = (0..rows).map(|_| Some(next())).collect();
    let metrics: Vec<Column> =
        (0..4).map(|k| Column { name: format!("m{k}"), values: (0..rows).map(|_| Some(next())).collect() }).collect();
    let input = CorrelateInput { metrics: &metrics, accuracy: &accuracy, density: Some(&density), groups: None };
    let options = CorrelateOptions { bootstrap: BootstrapOptions { resamples: 2000, seed: 0, ..Default::default() } };
    let mut group = c.benchmark_group("stats");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    group.bench_function("correlate_4_metrics_1000_rows_2000_resamples", |b| {
        b.iter(|| correlate(black_box(&input), &options).unwrap())
    });
    let x: Vec<f64> = (0..2000).map(|_| next()).collect();
    let y: Vec<f64> = (0..2000).map(|_| next()).collect();
    group.bench_function("kendall_2000", |b| b.iter(|| kendall(black_box(&x), black_box(&y)).unwrap()));
    // A million rows, a third of them tied in x (Knight's algorithm: O(n log n)).
    let x: Vec<f64> = (0..1_000_000).map(|_| (next() * 300_000.0).floor()).collect();
    let y: Vec<f64> = x.iter().map(|v| v + 100_000.0 * next()).collect();
    group.bench_function("kendall_1000000", |b| b.iter(|| kendall(black_box(&x), black_box(&y)).unwrap()));
    // The Pearson bootstrap of one metric over a million checkpoints: per resample, draw counts
    // and weighted sums (`correlate` runs one per metric and group).
    let options = BootstrapOptions { resamples: 100, seed: 0, ..Default::default() };
    group.bench_function("bootstrap_pearson_1000000_rows_100_resamples", |b| {
        b.iter(|| bootstrap_interval(black_box(&x), black_box(&y), &options).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

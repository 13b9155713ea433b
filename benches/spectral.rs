//! σ1 and σ2 alone (`spectral::top_two`) on seeded random layers: a 512×4608 layer at 10%
//! density (a ResNet-sized conv layer) and a 4096×11008 layer at 50% (an LLM MLP pruned to
//! 50%; the budget for every metric of that layer is 2 s). The matvec count of each
//! configuration is printed once before it is timed.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use maskspec::graph::Csr;
use maskspec::spectral::{top_two, SvdParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random layer of the given density with `|w|`, `w` uniform in (−1, 1), built row by row
/// (no triplet sort: the large layer has 22.5 M entries).
fn random_layer(seed: u64, n_rows: usize, n_cols: usize, density: f64) -> Csr {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut row_ptr = Vec::with_capacity(n_rows + 1);
    let mut col_idx = Vec::new();
    let mut values = Vec::new();
    row_ptr.push(0);
    for _ in 0..n_rows {
        for c in 0..n_cols {
            if rng.random::<f64>() < density {
                col_idx.push(c as u32);
                values.push(rng.random_range(-1.0f64..1.0).abs());
            }
        }
        row_ptr.push(col_idx.len());
    }
    Csr::new(n_rows, n_cols, row_ptr, col_idx, values).expect("a valid random layer")
}

fn bench_layer(c: &mut Criterion, name: &str, b: &Csr, parallel_modes: &[bool], measurement: Duration) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(measurement);
    for weighted in [false, true] {
        for &parallel in parallel_modes {
            let params = SvdParams { parallel, ..SvdParams::default() };
            let result = top_two(b, weighted, &params);
            let label =
                format!("{}_{}", if weighted { "weighted" } else { "pattern" }, if parallel { "par" } else { "seq" });
            println!(
                "{name}/{label}: sigma1 {:.12} sigma2 {:.12} matvecs {} restarts {} converged {} residual {:.1e}",
                result.sigma1,
                result.sigma2,
                result.info.matvecs,
                result.info.restarts,
                result.info.converged,
                result.info.residual
            );
            group.bench_function(label, |bench| bench.iter(|| black_box(top_two(black_box(b), weighted, &params))));
        }
    }
    group.finish();
}

fn spectral(c: &mut Criterion) {
    let conv = random_layer(1, 512, 4608, 0.10);
    bench_layer(c, "top_two_512x4608_d10", &conv, &[false, true], Duration::from_secs(3));
    let mlp = random_layer(2, 4096, 11008, 0.50);
    bench_layer(c, "top_two_4096x11008_d50", &mlp, &[true], Duration::from_secs(10));
}

criterion_group!(benches, spectral);
criterion_main!(benches);

//! Cost of the interpolation and of rendering a two-panel heatmap.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use maskspec::plot::{render_heatmap, HeatmapOptions, HeatmapPanel, ImageFormat, LinearInterpolator, Point};

fn cloud(seed: u64, n: usize) -> Vec<Point> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n).map(|_| Point { x: 6.0 * next(), y: 1.5 * next(), z: next() }).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("plot");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    let points = cloud(1, 2000);
    group.bench_function("interpolate_2000_points_grid_160x160", |b| {
        let xs: Vec<f64> = (0..160).map(|i| 6.0 * i as f64 / 159.0).collect();
        let ys: Vec<f64> = (0..160).map(|i| 1.5 * i as f64 / 159.0).collect();
        b.iter(|| LinearInterpolator::new(black_box(&points)).unwrap().grid(&xs, &ys))
    });
    let panels = vec![
        HeatmapPanel {
            x_field: "ramanujan_gap_imdb".into(),
            y_field: "weighted_gap_imsg".into(),
            points: cloud(2, 500),
        },
        HeatmapPanel { x_field: "ramanujan_gap".into(), y_field: "weighted_gap".into(), points: cloud(3, 500) },
    ];
    let options = HeatmapOptions::default();
    group.bench_function("heatmap_png_2x500_points", |b| {
        b.iter(|| render_heatmap(&panels, &options, ImageFormat::Png).unwrap())
    });
    group.bench_function("heatmap_svg_2x500_points", |b| {
        b.iter(|| render_heatmap(&panels, &options, ImageFormat::Svg).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Issue 3's analysis targets, on seeded random masks:
//! 1. a CIFAR ResNet-18 (width 64, 11M weights) at 90% sparsity, every layer, every metric with
//!    the nested subgraphs, unweighted and weighted (target ≤ 200 ms on 2 cores), both from
//!    layers in memory and end to end from a safetensors file;
//! 2. one 4096×11008 layer at 50% density (an LLM MLP pruned to 50%), every metric (target ≤ 2 s),
//!    with weights as a checkpoint stores them (exact f32) and with arbitrary f64 weights.
//!
//! Beside each, `whole_process`: `maskspec analyze FILE --no-cache --quiet` as a user runs it,
//! the process timed from spawn to exit (start, reading, solving, output, exit).

use criterion::{criterion_group, criterion_main, Criterion};
use maskspec::analyze::{analyze_file, AnalyzeOptions};
use maskspec::checkpoint::safetensors::{write, TensorBytes};
use maskspec::checkpoint::Layer;
use maskspec::metrics::{layer_metrics, MetricParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The layers written as a checkpoint stores them: f32 weights, u8 masks.
fn write_checkpoint(path: &Path, layers: &[Layer]) {
    let mut tensors = Vec::new();
    for l in layers {
        let w: Vec<f32> = l.weight().iter().map(|&v| v as f32).collect();
        tensors.push((l.name().to_string(), TensorBytes::f32(l.shape().to_vec(), &w)));
        tensors.push((format!("{}_mask", l.name()), TensorBytes::mask_u8(l.shape().to_vec(), l.mask())));
    }
    write(path, &tensors, &BTreeMap::new()).unwrap();
}

/// One run of the CLI on `path`, as a user types it.
fn analyze_process(path: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["analyze", "--no-cache", "--quiet"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the maskspec binary runs");
    assert!(status.success(), "maskspec analyze failed on {}", path.display());
}

/// Weight shapes of the CIFAR ResNet-18 of Sparse-IFT / ICLR 2023 at base width `w`.
fn resnet18_shapes(w: usize) -> Vec<(String, Vec<usize>)> {
    let mut shapes = vec![("conv1.weight".to_string(), vec![w, 3, 3, 3])];
    let mut c_in = w;
    for (stage, mult) in [1, 2, 4, 8].into_iter().enumerate() {
        let c = w * mult;
        for block in 0..2 {
            let p = format!("layer{}.{block}", stage + 1);
            let first_in = if block == 0 { c_in } else { c };
            shapes.push((format!("{p}.conv1.weight"), vec![c, first_in, 3, 3]));
            shapes.push((format!("{p}.conv2.weight"), vec![c, c, 3, 3]));
            if block == 0 && first_in != c {
                shapes.push((format!("{p}.shortcut.0.weight"), vec![c, first_in, 1, 1]));
            }
        }
        c_in = c;
    }
    shapes.push(("linear.weight".to_string(), vec![10, c_in]));
    shapes
}

fn random_layer(name: &str, shape: Vec<usize>, density: f64, rng: &mut ChaCha8Rng) -> Layer {
    let n: usize = shape.iter().product();
    let mask: Vec<bool> = (0..n).map(|_| rng.random_bool(density)).collect();
    let weight = mask.iter().map(|&m| if m { rng.random_range(-1.0..1.0) } else { 0.0 }).collect();
    Layer::new(name, shape, weight, Some(mask)).expect("a valid seeded layer")
}

fn resnet18(density: f64) -> Vec<Layer> {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    resnet18_shapes(64).into_iter().map(|(name, shape)| random_layer(&name, shape, density, &mut rng)).collect()
}

fn bench_resnet18(c: &mut Criterion) {
    let layers = resnet18(0.1);
    let weights: usize = layers.iter().map(|l| l.weight().len()).sum();
    eprintln!("ResNet-18 width 64: {} layers, {weights} weights", layers.len());
    let params = MetricParams::default();
    let mut group = c.benchmark_group("resnet18_w64_s90");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("all_metrics_in_memory", |b| {
        b.iter(|| layers.par_iter().map(|l| layer_metrics(l, &params)).collect::<Vec<_>>())
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resnet18.safetensors");
    write_checkpoint(&path, &layers);
    let options = AnalyzeOptions::default();
    group.bench_function("all_metrics_from_safetensors", |b| b.iter(|| analyze_file(&path, &options)));
    group.bench_function("whole_process", |b| b.iter(|| analyze_process(&path)));
    group.finish();
}

fn bench_llm_layer(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(4096);
    let layer = random_layer("mlp.up_proj.weight", vec![4096, 11008], 0.5, &mut rng);
    // The same layer as a checkpoint holds it: LLM weights are stored in bf16, f16 or f32, so
    // every value is exactly an f32 (the weighted products then stream half the bytes).
    let stored = Layer::new(
        layer.name(),
        layer.shape().to_vec(),
        layer.weight().iter().map(|&w| w as f32 as f64).collect(),
        Some(layer.mask().to_vec()),
    )
    .expect("the same layer, rounded to f32");
    let params = MetricParams::default();
    let mut group = c.benchmark_group("llm_mlp_4096x11008_d50");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("all_metrics_f32_weights", |b| b.iter(|| layer_metrics(&stored, &params)));
    group.bench_function("all_metrics_f64_weights", |b| b.iter(|| layer_metrics(&layer, &params)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.safetensors");
    write_checkpoint(&path, std::slice::from_ref(&stored));
    group.bench_function("whole_process", |b| b.iter(|| analyze_process(&path)));
    group.finish();
}

criterion_group!(benches, bench_resnet18, bench_llm_layer);
criterion_main!(benches);

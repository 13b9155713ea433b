//! A whole pruned LLM as a user runs it: `maskspec analyze --no-cache --quiet INDEX` on a
//! 24-block decoder of hidden 2048 and MLP 8192 (OPT-1.3B's shapes: q, k, v, out 2048 × 2048,
//! fc1 8192 × 2048, fc2 2048 × 8192; 144 layers, 1.2 B weights) stored in bf16 as Hugging Face
//! shards with their index, once pruned to 50% unstructured and once to 2:4. Every layer with
//! its nested subgraphs; the target is ≤ 60 s and ≤ 2 GB on 2 cores.
//!
//! Hyperfine-style: each model is analyzed `MASKSPEC_BENCH_RUNS` times (default 3) in a fresh
//! process, and the median wall time and the largest peak resident memory of any run are
//! reported. The
//! seeded models (2.4 GB each) are written once under `target/bench-data/` and reused.

use maskspec::checkpoint::safetensors::{write, TensorBytes};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BLOCKS: usize = 24;
const HIDDEN: usize = 2048;
const MLP: usize = 8192;
/// `save_pretrained(max_shard_size="2GB")`: the first shard fills up, the rest spills over.
const MAX_SHARD_BYTES: usize = 2_000_000_000;

#[derive(Clone, Copy)]
enum Pruning {
    /// Each weight kept with probability 1/2.
    Unstructured,
    /// Two of every four consecutive inputs kept (NVIDIA's 2:4).
    TwoOfFour,
}

fn layer_shapes() -> Vec<(String, Vec<usize>)> {
    let mut shapes = Vec::new();
    for block in 0..BLOCKS {
        let p = format!("model.decoder.layers.{block}");
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            shapes.push((format!("{p}.self_attn.{proj}.weight"), vec![HIDDEN, HIDDEN]));
        }
        shapes.push((format!("{p}.self_attn_layer_norm.weight"), vec![HIDDEN]));
        shapes.push((format!("{p}.fc1.weight"), vec![MLP, HIDDEN]));
        shapes.push((format!("{p}.fc2.weight"), vec![HIDDEN, MLP]));
        shapes.push((format!("{p}.final_layer_norm.weight"), vec![HIDDEN]));
    }
    shapes
}

/// A pruned weight's bf16 bytes (zeros off the mask, as a pruned model is saved) or a norm's.
fn tensor_bytes(shape: &[usize], pruning: Pruning, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let mut data = Vec::with_capacity(2 * n);
    let mut push = |v: f32| data.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes());
    if shape.len() == 1 {
        (0..n).for_each(|_| push(1.0));
        return data;
    }
    const TWO_OF_FOUR: [[bool; 4]; 6] = [
        [true, true, false, false],
        [true, false, true, false],
        [true, false, false, true],
        [false, true, true, false],
        [false, true, false, true],
        [false, false, true, true],
    ];
    let mut bits = 0u64;
    for i in 0..n {
        let kept = match pruning {
            Pruning::Unstructured => {
                if i % 64 == 0 {
                    bits = rng.next_u64();
                }
                bits >> (i % 64) & 1 == 1
            }
            Pruning::TwoOfFour => {
                if i % 4 == 0 {
                    bits = rng.random_range(0..6);
                }
                TWO_OF_FOUR[bits as usize][i % 4]
            }
        };
        // A weight that rounds to zero in bf16 would drop out of the mask: keep it off zero.
        let w: f32 =
            if kept { rng.random_range(0.005..0.05) * if rng.random_bool(0.5) { 1.0 } else { -1.0 } } else { 0.0 };
        push(w);
    }
    data
}

/// Writes the model (shards, then the index, then a marker) unless a complete one is there.
fn model(dir: &Path, pruning: Pruning) -> PathBuf {
    let index = dir.join("model.safetensors.index.json");
    let complete = dir.join(".complete");
    if complete.exists() {
        return index;
    }
    eprintln!("writing {} (once)", dir.display());
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let shapes = layer_shapes();
    let mut shards: Vec<Vec<usize>> = vec![Vec::new()];
    let mut bytes = 0;
    for (i, (_, shape)) in shapes.iter().enumerate() {
        let size = 2 * shape.iter().product::<usize>();
        if bytes + size > MAX_SHARD_BYTES && !shards.last().unwrap().is_empty() {
            shards.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        shards.last_mut().unwrap().push(i);
    }
    let mut weight_map = serde_json::Map::new();
    let total: usize = shapes.iter().map(|(_, s)| 2 * s.iter().product::<usize>()).sum();
    for (k, members) in shards.iter().enumerate() {
        let file = format!("model-{:05}-of-{:05}.safetensors", k + 1, shards.len());
        let tensors: Vec<(String, TensorBytes)> = members
            .par_iter()
            .map(|&i| {
                let (name, shape) = &shapes[i];
                let data = tensor_bytes(shape, pruning, 0x11_u64 << 32 | i as u64);
                (name.clone(), TensorBytes { dtype: safetensors::Dtype::BF16, shape: shape.clone(), data })
            })
            .collect();
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        write(&dir.join(&file), &tensors, &metadata).unwrap();
        for (name, _) in &tensors {
            weight_map.insert(name.clone(), file.clone().into());
        }
    }
    let index_json = serde_json::json!({ "metadata": { "total_size": total }, "weight_map": weight_map });
    std::fs::write(&index, serde_json::to_vec_pretty(&index_json).unwrap()).unwrap();
    std::fs::write(&complete, b"").unwrap();
    index
}

/// One run of the CLI, as a user types it: its wall time.
fn analyze_process(index: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .args(["analyze", "--no-cache", "--quiet"])
        .arg(index)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the maskspec binary runs");
    assert!(status.success(), "maskspec analyze failed on {}", index.display());
    start.elapsed()
}

/// The largest peak resident memory of any child waited for so far, in bytes.
fn children_peak_resident() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given, which lives through the call.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

fn main() {
    // `cargo bench` passes `--bench` (and a filter, if any): run only when selected.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.as_deref().is_some_and(|f| !"whole_model".contains(f)) {
        return;
    }
    let runs: usize = std::env::var("MASKSPEC_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    for (name, pruning) in [("llm24_d50_bf16", Pruning::Unstructured), ("llm24_2of4_bf16", Pruning::TwoOfFour)] {
        let index = model(&data.join(name), pruning);
        let mut times = Vec::new();
        for run in 0..runs {
            let time = analyze_process(&index);
            eprintln!("{name} run {}: {:.2} s", run + 1, time.as_secs_f64());
            times.push(time);
        }
        // Of every run so far (the models' peaks are alike: the biggest layers, two at a time).
        let peak = children_peak_resident();
        times.sort();
        println!(
            "whole_model/{name}: median {:.2} s (min {:.2}, max {:.2}, {runs} runs), peak resident {:.0} MB",
            times[times.len() / 2].as_secs_f64(),
            times[0].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
            peak as f64 / 1e6
        );
    }
}

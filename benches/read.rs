//! Reading a CIFAR ResNet-18 state dict (11.2 M f32 weights, 44.7 MB) into `Layer`s
//! (`discover_layers` + `load_layer`), from a PyTorch `.pt` and from the same weights in
//! `.safetensors`. The target: `.pt` within 2x of safetensors.
//!
//! And the same model in bf16 as Hugging Face shards it (two safetensors files and their
//! `model.safetensors.index.json`), against one bf16 file. The target: within 1.3x.
//!
//! torch is not available to a bench, so the `.pt` is written here with torch.save's own
//! layout: a protocol-2 pickle of an `OrderedDict` of `_rebuild_tensor_v2` calls, one stored
//! ZIP entry per storage under `archive/data/`, and `byteorder`/`version` entries. A file
//! written this way was checked to load with `torch.load(weights_only=True)` (torch 2.15).

use criterion::{criterion_group, criterion_main, Criterion};
use maskspec::checkpoint::safetensors::{write, TensorBytes};
use maskspec::checkpoint::{self, discover_layers, load_layer, LayerFilter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The parameters of torchvision-style ResNet-18 for CIFAR (3x3 stem, no max-pool), in
/// state-dict order; batch-norm statistics included, as a real checkpoint holds them.
fn resnet18_shapes() -> Vec<(String, Vec<usize>)> {
    let mut shapes = Vec::new();
    let bn = |shapes: &mut Vec<(String, Vec<usize>)>, prefix: &str, c: usize| {
        for p in ["weight", "bias", "running_mean", "running_var"] {
            shapes.push((format!("{prefix}.{p}"), vec![c]));
        }
    };
    shapes.push(("conv1.weight".into(), vec![64, 3, 3, 3]));
    bn(&mut shapes, "bn1", 64);
    let mut in_c = 64;
    for (stage, out_c) in [(1, 64), (2, 128), (3, 256), (4, 512)] {
        for block in 0..2 {
            let p = format!("layer{stage}.{block}");
            let first_in = if block == 0 { in_c } else { out_c };
            shapes.push((format!("{p}.conv1.weight"), vec![out_c, first_in, 3, 3]));
            bn(&mut shapes, &format!("{p}.bn1"), out_c);
            shapes.push((format!("{p}.conv2.weight"), vec![out_c, out_c, 3, 3]));
            bn(&mut shapes, &format!("{p}.bn2"), out_c);
            if block == 0 && first_in != out_c {
                shapes.push((format!("{p}.shortcut.0.weight"), vec![out_c, first_in, 1, 1]));
                bn(&mut shapes, &format!("{p}.shortcut.1"), out_c);
            }
        }
        in_c = out_c;
    }
    shapes.push(("linear.weight".into(), vec![10, 512]));
    shapes.push(("linear.bias".into(), vec![10]));
    shapes
}

/// A protocol-2 pickle of `OrderedDict((name, _rebuild_tensor_v2(...)) ...)`, as torch.save
/// writes a state dict of contiguous f32 tensors, storage `i` holding tensor `i`.
fn state_dict_pickle(shapes: &[(String, Vec<usize>)]) -> Vec<u8> {
    fn string(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        p.push(b'J');
        p.extend((v as i32).to_le_bytes());
    }
    let mut p = b"\x80\x02ccollections\nOrderedDict\n)R(".to_vec();
    for (i, (name, shape)) in shapes.iter().enumerate() {
        string(&mut p, name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        string(&mut p, "storage");
        p.extend(b"ctorch\nFloatStorage\n");
        string(&mut p, &i.to_string());
        string(&mut p, "cpu");
        int(&mut p, shape.iter().product());
        p.extend(b"tQ");
        int(&mut p, 0);
        p.push(b'(');
        shape.iter().for_each(|&d| int(&mut p, d));
        p.extend(b"t(");
        let mut stride = 1;
        let mut strides = vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            strides[d] = stride;
            stride *= shape[d];
        }
        strides.iter().for_each(|&s| int(&mut p, s));
        p.extend(b"t\x89ccollections\nOrderedDict\n)RtR");
    }
    p.extend(b"u.");
    p
}

fn write_pt(path: &Path, shapes: &[(String, Vec<usize>)], data: &[Vec<f32>]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(&state_dict_pickle(shapes)).unwrap();
    zip.start_file("archive/byteorder", stored).unwrap();
    zip.write_all(b"little").unwrap();
    for (i, values) in data.iter().enumerate() {
        zip.start_file(format!("archive/data/{i}"), stored).unwrap();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        zip.write_all(&bytes).unwrap();
    }
    zip.start_file("archive/version", stored).unwrap();
    zip.write_all(b"3\n").unwrap();
    zip.finish().unwrap();
}

/// Writes the two files once per run (under target/, so a run can be inspected afterwards).
fn fixtures() -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-read");
    std::fs::create_dir_all(&dir).unwrap();
    let shapes = resnet18_shapes();
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    // 90% of the conv/linear weights pruned to exact zeros, as in the sparse checkpoints
    // maskspec analyzes.
    let data: Vec<Vec<f32>> = shapes
        .iter()
        .map(|(_, s)| {
            let n: usize = s.iter().product();
            let sparse = s.len() > 1;
            (0..n).map(|_| if sparse && rng.random::<f32>() < 0.9 { 0.0 } else { rng.random::<f32>() - 0.5 }).collect()
        })
        .collect();
    let pt = dir.join("resnet18.pt");
    let st = dir.join("resnet18.safetensors");
    write_pt(&pt, &shapes, &data);
    let tensors: Vec<(String, TensorBytes)> =
        shapes.iter().zip(&data).map(|((n, s), v)| (n.clone(), TensorBytes::f32(s.clone(), v))).collect();
    write(&st, &tensors, &BTreeMap::new()).unwrap();
    let (one, index) = bf16_fixtures(&shapes, &data);
    (pt, st, one, index)
}

/// The same weights in bf16, as one file and as two shards with their index (the first
/// shard holds the tensors up to `layer3`, as a size-balanced split would).
fn bf16_fixtures(shapes: &[(String, Vec<usize>)], data: &[Vec<f32>]) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-read/bf16");
    std::fs::create_dir_all(dir.join("sharded")).unwrap();
    let bf16 = |shape: &[usize], values: &[f32]| TensorBytes {
        dtype: safetensors::Dtype::BF16,
        shape: shape.to_vec(),
        data: values.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect(),
    };
    let tensors: Vec<(String, TensorBytes)> =
        shapes.iter().zip(data).map(|((n, s), v)| (n.clone(), bf16(s, v))).collect();
    let one = dir.join("model.safetensors");
    write(&one, &tensors, &BTreeMap::new()).unwrap();
    let split = tensors.iter().position(|(n, _)| n.starts_with("layer3")).unwrap();
    let (first, second) = tensors.split_at(split);
    let mut weight_map = serde_json::Map::new();
    for (k, part) in [first, second].into_iter().enumerate() {
        let name = format!("model-{:05}-of-00002.safetensors", k + 1);
        let part: Vec<(String, TensorBytes)> = part
            .iter()
            .map(|(n, t)| (n.clone(), TensorBytes { dtype: t.dtype, shape: t.shape.clone(), data: t.data.clone() }))
            .collect();
        write(&dir.join("sharded").join(&name), &part, &BTreeMap::new()).unwrap();
        for (n, _) in &part {
            weight_map.insert(n.clone(), name.clone().into());
        }
    }
    let index = dir.join("sharded/model.safetensors.index.json");
    let json = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(&index, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    (one, index)
}

fn read_layers(path: &Path) -> usize {
    let source = checkpoint::open(path).unwrap();
    let specs = discover_layers(source.as_ref(), &LayerFilter::default()).unwrap();
    specs.iter().map(|spec| load_layer(source.as_ref(), spec).unwrap().weight().len()).sum()
}

fn bench_read(c: &mut Criterion) {
    let (pt, st, one, index) = fixtures();
    let weights = read_layers(&pt);
    assert_eq!(weights, read_layers(&st), "both files hold the same layers");
    let mut group = c.benchmark_group("read_resnet18_layers");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    group.bench_function("pt", |b| b.iter(|| black_box(read_layers(&pt))));
    group.bench_function("safetensors", |b| b.iter(|| black_box(read_layers(&st))));
    group.finish();

    assert_eq!(read_layers(&one), read_layers(&index), "the shards hold the whole model");
    let mut group = c.benchmark_group("read_resnet18_bf16");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    group.bench_function("one_file", |b| b.iter(|| black_box(read_layers(&one))));
    group.bench_function("two_shards", |b| b.iter(|| black_box(read_layers(&index))));
    group.finish();
}

criterion_group!(benches, bench_read);
criterion_main!(benches);

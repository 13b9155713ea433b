//! A sweep directory of 3 runs × 3 checkpoints in mixed formats (safetensors, npz, PyTorch),
//! one corrupt file, and accuracy from each of the four SPEC §6 sources; then the cache: a
//! second run analyzes nothing, a grown sweep analyzes only the new file.

use maskspec::analyze::{analyze_paths, Analysis, AnalyzeOptions, Cache, FailureError};
use maskspec::checkpoint::safetensors::{write, TensorBytes};
use maskspec::checkpoint::CheckpointError;
use maskspec::provenance::AccuracyTable;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

fn layer_weights(seed: usize) -> Vec<f32> {
    (0..24 * 32)
        .map(|i| if (i * 7 + seed).is_multiple_of(4) { ((i + seed) as f32 * 0.61).sin() } else { 0.0 })
        .collect()
}

fn save(path: &Path, seed: usize, metadata: &[(&str, &str)]) {
    let metadata: BTreeMap<String, String> = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let tensors = vec![("fc.weight".to_string(), TensorBytes::f32(vec![24, 32], &layer_weights(seed)))];
    write(path, &tensors, &metadata).unwrap();
}

/// runs/a: safetensors with SPEC §6 metadata (test_acc) and an init checkpoint;
/// runs/b: PyTorch files (accuracy from the CSV, from the dict's best_acc, from a sidecar);
/// runs/c: npz (sidecar), safetensors (CSV beats its metadata), and a corrupt file.
fn make_sweep(root: &Path) -> PathBuf {
    let (a, b, c) = (root.join("runs/a"), root.join("runs/b"), root.join("runs/c"));
    for dir in [&a, &b, &c] {
        std::fs::create_dir_all(dir).unwrap();
    }
    save(&a.join("step_0.safetensors"), 0, &[("run", "a"), ("step", "0"), ("test_acc", "0.1")]);
    save(&a.join("step_100.safetensors"), 1, &[("run", "a"), ("step", "100"), ("test_acc", "0.8")]);
    save(&a.join("step_200.safetensors"), 2, &[("run", "a"), ("step", "200"), ("test_acc", "91")]);
    std::fs::copy(fixture("torch/mlp_state_dict.pt"), b.join("init.pt")).unwrap();
    std::fs::copy(fixture("torch/prune_checkpoint.pt"), b.join("epoch_12.pt")).unwrap();
    std::fs::copy(fixture("torch/half_dataparallel.pt"), b.join("epoch_20.pt")).unwrap();
    std::fs::write(b.join("epoch_20.json"), r#"{"accuracy": 0.66}"#).unwrap();
    std::fs::copy(fixture("golden/random_linear.npz"), c.join("ckpt-10.npz")).unwrap();
    std::fs::write(c.join("ckpt-10.json"), r#"{"test_acc": 55.5, "note": "sidecar"}"#).unwrap();
    save(&c.join("ckpt-20.safetensors"), 3, &[("test_acc", "0.2")]);
    std::fs::write(c.join("ckpt-30.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{broken").unwrap();
    let table = root.join("accuracy.csv");
    std::fs::write(&table, "checkpoint,accuracy\ninit.pt,10.0\nc/ckpt-20.safetensors,0.7\n").unwrap();
    table
}

fn options(table: &Path, cache: Option<&Path>) -> AnalyzeOptions {
    AnalyzeOptions {
        accuracy: Some(AccuracyTable::read(table).unwrap()),
        cache: cache.map(|c| Cache::new(c.to_path_buf())),
        ..Default::default()
    }
}

fn row<'a>(analysis: &'a Analysis, suffix: &str) -> &'a maskspec::analyze::CheckpointReport {
    analysis.checkpoints.iter().find(|c| c.checkpoint.ends_with(suffix)).unwrap_or_else(|| panic!("no row {suffix}"))
}

#[test]
fn a_sweep_gives_one_row_per_checkpoint_with_run_step_and_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let table = make_sweep(dir.path());
    let runs = dir.path().join("runs");
    let analysis = analyze_paths(&[runs], &options(&table, None), None);

    assert_eq!(analysis.checkpoints.len(), 8, "9 files, one corrupt");
    assert_eq!(analysis.failures.len(), 1);
    assert!(analysis.failures[0].message().contains("ckpt-30.safetensors"), "{:?}", analysis.failures);
    // The library keeps the reader's typed error, not only its message.
    assert!(
        matches!(analysis.failures[0].error, FailureError::Checkpoint(CheckpointError::Malformed { .. })),
        "{:?}",
        analysis.failures[0].error
    );
    let expect =
        |suffix: &str, run: &str, step: Option<u64>, epoch: Option<f64>, init: bool, acc: f64, source: &str| {
            let r = row(&analysis, suffix);
            assert_eq!(r.info.run.as_deref(), Some(run), "{suffix} run");
            assert_eq!((r.info.step, r.info.epoch, r.info.init), (step, epoch, init), "{suffix} position");
            assert!(
                (r.info.accuracy.unwrap() - acc).abs() < 1e-12,
                "{suffix}: accuracy {:?} != {acc}",
                r.info.accuracy
            );
            assert_eq!(r.info.accuracy_source, Some(source), "{suffix} source");
            assert!(!r.layers.is_empty());
        };
    expect("a/step_0.safetensors", "a", Some(0), None, true, 0.1, "metadata");
    expect("a/step_100.safetensors", "a", Some(100), None, false, 0.8, "metadata");
    expect("a/step_200.safetensors", "a", Some(200), None, false, 0.91, "metadata");
    expect("b/init.pt", "b", None, None, true, 0.10, "csv");
    expect("b/epoch_12.pt", "b", None, Some(12.0), false, 0.7125, "checkpoint");
    expect("b/epoch_20.pt", "b", None, Some(20.0), false, 0.66, "sidecar");
    expect("c/ckpt-10.npz", "c", Some(10), None, false, 0.555, "sidecar");
    expect("c/ckpt-20.safetensors", "c", Some(20), None, false, 0.7, "csv");
}

#[test]
fn the_cache_makes_a_second_run_analyze_only_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let table = make_sweep(dir.path());
    let runs = dir.path().join("runs");
    let cache = dir.path().join("cache");
    let first = analyze_paths(std::slice::from_ref(&runs), &options(&table, Some(&cache)), None);
    assert_eq!((first.analyzed, first.cached), (8, 0));

    let second = analyze_paths(std::slice::from_ref(&runs), &options(&table, Some(&cache)), None);
    assert_eq!((second.analyzed, second.cached), (0, 8), "nothing new to analyze");
    assert_eq!(second.failures.len(), 1, "the corrupt file is still reported");
    let numbers = |a: &Analysis| serde_json::to_string(&a.checkpoints).unwrap();
    assert_eq!(numbers(&first), numbers(&second), "cached rows equal computed ones");

    // The sweep grows by one checkpoint, and an accuracy source changes: only the new file is
    // analyzed, and the accuracy (never cached) follows the new table.
    save(&runs.join("a/step_300.safetensors"), 4, &[("run", "a"), ("step", "300")]);
    std::fs::write(&table, "checkpoint,accuracy\ninit.pt,0.42\n").unwrap();
    let third = analyze_paths(std::slice::from_ref(&runs), &options(&table, Some(&cache)), None);
    assert_eq!((third.analyzed, third.cached), (1, 8));
    assert_eq!(row(&third, "b/init.pt").info.accuracy, Some(0.42));
}

/// What a progress display hears: every file found, each file's layers as it opens (or comes
/// from the cache), and every layer and file done, from whichever thread finished it.
#[test]
fn progress_counts_every_layer_of_every_file_computed_or_cached() {
    use maskspec::analyze::AnalyzeEvent;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let table = make_sweep(dir.path());
    let runs = dir.path().join("runs");
    let cache = dir.path().join("cache");
    for _ in 0..2 {
        let counts: [AtomicUsize; 4] = Default::default();
        let progress = |event: AnalyzeEvent| match event {
            AnalyzeEvent::Found { files } => counts[0].store(files, Ordering::SeqCst),
            AnalyzeEvent::Layers { count } => _ = counts[1].fetch_add(count, Ordering::SeqCst),
            AnalyzeEvent::LayersDone { count } => _ = counts[2].fetch_add(count, Ordering::SeqCst),
            AnalyzeEvent::FileDone => _ = counts[3].fetch_add(1, Ordering::SeqCst),
            _ => {}
        };
        let analysis = analyze_paths(std::slice::from_ref(&runs), &options(&table, Some(&cache)), Some(&progress));
        let layers: usize = analysis.checkpoints.iter().map(|c| c.layers.len()).sum();
        let [found, opened, done, files] = counts.map(AtomicUsize::into_inner);
        assert_eq!((found, files), (9, 9), "every file found is done, the corrupt one too");
        assert_eq!((opened, done), (layers, layers), "cached: {}", analysis.cached);
    }
}

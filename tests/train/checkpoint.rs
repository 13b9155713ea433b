//! Checkpoints (SPEC §6): written at initialization, every N epochs and at the end; metadata
//! keys exactly per SPEC; they analyze as they are (2-D layers with their masks); the CSV log;
//! the same seed on one thread gives bit-identical checkpoints.

use maskspec::checkpoint::{self, discover_layers, load_layer, LayerFilter};
use maskspec::train::data::DatasetKind;
use maskspec::train::{train_run, Family, Layout, Method, TrainConfig};
use std::path::Path;

fn tiny(family: Family, method: Method, out: &Path, seed: u64) -> TrainConfig {
    TrainConfig {
        family,
        method,
        layout: Layout::Erk,
        sparsity: 0.75,
        seed,
        epochs: 3,
        checkpoint_every: 2,
        width: 32,
        // 81 steps an epoch: the DST update at step 100 happens before T_end (0.75 of 243).
        batch_size: 16,
        out: out.to_path_buf(),
        threads: 1,
        dataset: DatasetKind::Digits,
        ..TrainConfig::default()
    }
}

const SPEC_KEYS: [&str; 15] = [
    "dataset",
    "epoch",
    "family",
    "layout",
    "maskspec_version",
    "method",
    "pattern",
    "run",
    "seed",
    "sparsity",
    "step",
    "test_acc",
    "train_flops",
    "train_loss",
    "val_acc",
];

#[test]
fn checkpoints_hold_spec_metadata_and_analyzable_layers() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train_run(&tiny(Family::Doped, Method::Set, dir.path(), 0), None).unwrap();
    let names: Vec<String> =
        summary.checkpoints.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["epoch_0000.safetensors", "epoch_0002.safetensors", "epoch_0003.safetensors"]);

    let mut previous_flops = -1.0;
    for (path, epoch) in summary.checkpoints.iter().zip([0usize, 2, 3]) {
        let source = checkpoint::open(path).unwrap();
        let meta = source.metadata();
        let keys: Vec<&str> = meta.keys().map(String::as_str).collect();
        assert_eq!(keys, SPEC_KEYS);
        assert_eq!(meta["epoch"], epoch.to_string());
        assert_eq!(meta["family"], "doped");
        assert_eq!(meta["method"], "set");
        assert_eq!(meta["layout"], "erk");
        assert_eq!(meta["pattern"], "unstructured");
        assert_eq!(meta["dataset"], "digits");
        assert_eq!(meta["sparsity"].parse::<f64>().unwrap(), 0.75);
        for acc in ["test_acc", "val_acc"] {
            let v: f64 = meta[acc].parse().unwrap();
            assert!((0.0..=1.0).contains(&v), "{acc} = {v}");
        }
        let flops: f64 = meta["train_flops"].parse().unwrap();
        assert!(flops > previous_flops);
        previous_flops = flops;
        if epoch == 0 {
            assert_eq!(meta["step"], "0");
            assert_eq!(flops, 0.0);
        }

        let specs = discover_layers(source.as_ref(), &LayerFilter::default()).unwrap();
        let layer_names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        for name in ["fc1.sparse.weight", "fc2.lowrank_u.weight", "fc3.lowrank_v.weight"] {
            assert!(layer_names.contains(&name), "{name} in {layer_names:?}");
        }
        for spec in &specs {
            assert!(spec.mask.is_some(), "{} has its explicit mask", spec.name);
            let layer = load_layer(source.as_ref(), spec).unwrap();
            assert_eq!(layer.shape().len(), 2);
            assert!(layer.weight().iter().zip(layer.mask()).all(|(&w, &m)| m || w == 0.0));
        }
        // fc1.sparse: 64 → 32 at its ERK density; its nonzeros are the mask's.
        let fc1 = specs.iter().find(|s| s.name == "fc1.sparse.weight").unwrap();
        let sparse = load_layer(source.as_ref(), fc1).unwrap();
        assert_eq!(sparse.shape(), vec![32, 64]);
        let nnz = sparse.mask().iter().filter(|&&m| m).count();
        assert!(nnz > 0 && nnz < 32 * 64);
    }
    let final_meta = checkpoint::open(summary.checkpoints.last().unwrap()).unwrap().metadata().clone();
    assert_eq!(final_meta["test_acc"].parse::<f64>().unwrap(), summary.test_acc);

    let log = std::fs::read_to_string(&summary.log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "epoch,step,lr,train_loss,train_acc,val_acc,test_acc,train_flops");
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with("3,"));
}

/// A checkpoint's whole file: header (metadata included) and every tensor.
fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn same_seed_on_one_thread_gives_bit_identical_checkpoints() {
    for (family, method) in
        [(Family::Wide, Method::Rigl), (Family::Parallel, Method::Set), (Family::Dense, Method::Static)]
    {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ra = train_run(&tiny(family, method, a.path(), 7), None).unwrap();
        let rb = train_run(&tiny(family, method, b.path(), 7), None).unwrap();
        assert_eq!(ra.checkpoints.len(), rb.checkpoints.len());
        for (pa, pb) in ra.checkpoints.iter().zip(&rb.checkpoints) {
            let (a, b) = (file_bytes(pa), file_bytes(pb));
            assert!(a == b, "{family:?} {method:?} {pa:?}: checkpoint bytes differ");
        }
        assert_eq!(std::fs::read(&ra.log).unwrap(), std::fs::read(&rb.log).unwrap());
        // DST really ran: the masks at the end differ from the initial ones.
        let masks = |p: &Path| {
            let source = checkpoint::open(p).unwrap();
            let specs = discover_layers(source.as_ref(), &LayerFilter::default()).unwrap();
            specs.iter().map(|s| load_layer(source.as_ref(), s).unwrap().mask().to_vec()).collect::<Vec<_>>()
        };
        let changed = masks(&ra.checkpoints[0]) != masks(ra.checkpoints.last().unwrap());
        assert_eq!(changed, method != Method::Static, "{family:?} {method:?}");
        // A different seed gives different weights.
        let c = tempfile::tempdir().unwrap();
        let rc = train_run(&tiny(family, method, c.path(), 8), None).unwrap();
        assert!(file_bytes(&ra.checkpoints[0]) != file_bytes(&rc.checkpoints[0]));
    }
}

#[test]
fn cnn_with_rigl_is_bit_identical_for_a_seed() {
    let run = |dir: &Path| {
        let cfg = TrainConfig {
            model: maskspec::train::ModelKind::Cnn,
            conv_channels: vec![4, 8],
            epochs: 2,
            ..tiny(Family::Doped, Method::Rigl, dir, 5)
        };
        train_run(&cfg, None).unwrap()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ra, rb) = (run(a.path()), run(b.path()));
    for (pa, pb) in ra.checkpoints.iter().zip(&rb.checkpoints) {
        assert!(file_bytes(pa) == file_bytes(pb), "{pa:?}: checkpoint bytes differ");
    }
}

#[test]
fn spectra_are_logged_at_every_checkpoint_and_mask_update_as_analyze_computes_them() {
    use maskspec::analyze::{analyze_paths, AnalyzeOptions};
    let dir = tempfile::tempdir().unwrap();
    let summary = train_run(&tiny(Family::Wide, Method::Rigl, dir.path(), 0), None).unwrap();
    let text = std::fs::read_to_string(dir.path().join("spectra.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), maskspec::train::spectra::HEADER.trim_end());
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let events = |kind: &str| rows.iter().filter(|r| r[3] == kind).collect::<Vec<_>>();
    // 81 steps an epoch, 243 in all, updates every 100 steps before 0.75 of them: step 100 only.
    let updates = events("update");
    assert_eq!(updates.iter().map(|r| r[1]).collect::<Vec<_>>(), ["100"]);
    let checkpoints = events("checkpoint");
    assert_eq!(checkpoints.len(), summary.checkpoints.len());
    for (row, path) in checkpoints.iter().zip(&summary.checkpoints) {
        let analysis = analyze_paths(std::slice::from_ref(path), &AnalyzeOptions::default(), None);
        let report = &analysis.checkpoints[0];
        assert_eq!(row[1], report.metadata["step"]);
        assert_eq!(row[4], (row[1] == "0").to_string());
        for (cell, field) in row[5..].iter().zip(maskspec::train::spectra::FIELDS) {
            let analyzed = report.summary.get(field).unwrap();
            let logged: f64 = cell.parse().unwrap();
            assert!((logged - analyzed).abs() <= 1e-9 * analyzed.abs().max(1.0), "{field}: {logged} vs {analyzed}");
        }
    }
    // The update changed the masks, so the logged spectra moved.
    assert_ne!(updates[0][5..], checkpoints[0][5..]);
}

#[test]
fn bad_options_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny(Family::Wide, Method::Static, dir.path(), 0);
    cfg.sparsity = 1.0;
    assert!(train_run(&cfg, None).unwrap_err().to_string().contains("--sparsity"));
    let mut cfg = tiny(Family::Wide, Method::Static, dir.path(), 0);
    cfg.epochs = 0;
    assert!(train_run(&cfg, None).is_err());
    let mut cfg = tiny(Family::Wide, Method::Static, dir.path(), 0);
    cfg.test_fraction = 0.9;
    cfg.val_fraction = 0.2;
    assert!(train_run(&cfg, None).is_err());
    // Every flag within its own limit, but 100 layers of 16384² (Sparse Wide at 75%) is far past
    // the model limit: refused before anything is allocated or written.
    let mut cfg = tiny(Family::Wide, Method::Static, dir.path(), 0);
    (cfg.width, cfg.hidden_layers) = (8192, 100);
    let message = train_run(&cfg, None).unwrap_err().to_string();
    assert!(message.contains("weights") && message.contains("lower --width"), "{message}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}

#[test]
fn progress_reports_every_step_up_to_total_with_finite_falling_losses() {
    use maskspec::train::Progress;
    use std::sync::Mutex;
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny(Family::Wide, Method::Rigl, dir.path(), 2);
    let seen = Mutex::new(Vec::<Progress>::new());
    let report = |p: Progress| seen.lock().unwrap().push(p);
    let summary = train_run(&cfg, Some(&report)).unwrap();
    let seen = seen.into_inner().unwrap();

    // One report per step, in order, ending exactly at the total the bar was sized with.
    assert_eq!(seen.len(), summary.steps);
    assert!(seen.iter().all(|p| p.total_steps == summary.steps));
    assert!(seen.iter().enumerate().all(|(i, p)| p.step == i + 1), "steps are 1, 2, …, total");
    assert_eq!(seen.last().unwrap().step, seen.last().unwrap().total_steps);
    // Every epoch reports the same number of steps (81 batches of the digits).
    let per_epoch = summary.steps / cfg.epochs;
    for (i, p) in seen.iter().enumerate() {
        assert_eq!(p.epoch, i / per_epoch + 1, "step {}", p.step);
    }
    assert!(seen.iter().all(|p| p.loss.is_finite() && p.loss > 0.0));
    // The losses are the batches' real losses: training lowers them.
    let mean = |ps: &[Progress]| ps.iter().map(|p| p.loss).sum::<f64>() / ps.len() as f64;
    let (first, last) = (mean(&seen[..per_epoch]), mean(&seen[seen.len() - per_epoch..]));
    assert!(last < 0.7 * first, "mean loss epoch 1 {first}, last epoch {last}");

    let shown = Progress { step: 5, total_steps: 10, epoch: 2, loss: 0.123456 }.message();
    assert_eq!(shown, "epoch 2 loss 0.1235");
}

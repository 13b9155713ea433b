//! The training loop: seeded data split and shuffles, SGD with a cosine schedule, DST updates,
//! checkpoints (SPEC §6) at initialization, every N epochs and at the end, and a per-epoch CSV.

use super::cnn::{Cnn, CnnShape};
use super::config::MAX_MODEL_WEIGHTS;
use super::data::{self, Dataset};
use super::dst::{self, Method, Schedule};
use super::model::{softmax_cross_entropy, Network};
use super::optim::{CosineSchedule, Sgd};
use super::sift::{self, MlpShape};
use super::spectra;
use super::{ModelKind, TrainConfig, TrainError};
use crate::checkpoint::safetensors::{write, TensorBytes};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One step's progress, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: usize,
    pub loss: f64,
}

impl Progress {
    /// What the progress bar shows beside the step count and ETA.
    pub fn message(&self) -> String {
        format!("epoch {} loss {:.4}", self.epoch, self.loss)
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    pub run: String,
    pub test_acc: f64,
    pub val_acc: f64,
    pub train_loss: f64,
    pub train_flops: f64,
    pub steps: usize,
    pub checkpoints: Vec<PathBuf>,
    pub log: PathBuf,
}

/// Loss and accuracy over a whole data set, in batches.
fn evaluate(model: &mut dyn Network, data: &Dataset, threads: usize) -> (f64, f64) {
    if data.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let (mut loss, mut correct) = (0.0, 0);
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(256) {
        data.gather(chunk, &mut x, &mut y);
        let logits = model.logits(&x, chunk.len(), false, threads);
        let (l, _, c) = softmax_cross_entropy(&logits, &y, data.classes);
        loss += l * chunk.len() as f64;
        correct += c;
    }
    (loss / data.len() as f64, correct as f64 / data.len() as f64)
}

/// Per-layer tensors in model order: `NAME.weight` `[out, in]` f32, `NAME.weight_mask` u8,
/// `NAME.bias`.
fn tensors(model: &dyn Network) -> Vec<(String, TensorBytes)> {
    let mut out = Vec::new();
    for l in model.layers() {
        let (w, m) = l.dense_weight_and_mask();
        let shape = l.shape.clone();
        out.push((format!("{}.weight", l.name), TensorBytes::f32(shape.clone(), &w)));
        out.push((format!("{}.weight_mask", l.name), TensorBytes::mask_u8(shape, &m)));
        if let Some(b) = &l.bias {
            out.push((format!("{}.bias", l.name), TensorBytes::f32(vec![l.outputs], b)));
        }
    }
    for (name, values) in model.extra_tensors() {
        out.push((name, TensorBytes::f32(vec![values.len()], &values)));
    }
    out
}

struct State {
    step: usize,
    epoch: usize,
    test_acc: f64,
    val_acc: f64,
    train_loss: f64,
    train_flops: f64,
}

fn write_checkpoint(cfg: &TrainConfig, dataset: &str, model: &dyn Network, s: &State) -> Result<PathBuf, TrainError> {
    let meta: BTreeMap<String, String> = [
        ("run", cfg.run_name()),
        ("step", s.step.to_string()),
        ("epoch", s.epoch.to_string()),
        ("test_acc", s.test_acc.to_string()),
        ("val_acc", s.val_acc.to_string()),
        ("train_loss", s.train_loss.to_string()),
        ("family", cfg.family.as_str().into()),
        ("sparsity", cfg.effective_sparsity().to_string()),
        ("method", cfg.method.as_str().into()),
        ("layout", cfg.layout.as_str().into()),
        ("pattern", cfg.sparsity_pattern.to_string()),
        ("seed", cfg.seed.to_string()),
        ("dataset", dataset.into()),
        ("train_flops", format!("{:.0}", s.train_flops)),
        ("maskspec_version", env!("CARGO_PKG_VERSION").into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let path = checkpoint_path(&cfg.out, s.epoch);
    write(&path, &tensors(model), &meta)?;
    Ok(path)
}

/// `OUT/epoch_EEEE.safetensors`: names sort in training order.
pub fn checkpoint_path(out: &Path, epoch: usize) -> PathBuf {
    out.join(format!("epoch_{epoch:04}.safetensors"))
}

const LOG_HEADER: &str = "epoch,step,lr,train_loss,train_acc,val_acc,test_acc,train_flops\n";

/// One SGD step on the batch `x` (`[features, batch]`) with `labels`: forward, softmax
/// cross-entropy, backward (with every sparse layer's dense gradient when `dense_grad`, for
/// RigL), update. Returns the batch's mean loss and its correct predictions.
#[allow(clippy::too_many_arguments)] // each is one independent knob of a step
pub fn train_step(
    model: &mut dyn Network,
    x: &[f32],
    labels: &[u8],
    classes: usize,
    sgd: &Sgd,
    lr: f32,
    dense_grad: bool,
    threads: usize,
) -> (f64, usize) {
    let batch = labels.len();
    let logits = model.logits(x, batch, true, threads);
    let (loss, dlogits, correct) = softmax_cross_entropy(&logits, labels, classes);
    model.backprop(&dlogits, batch, dense_grad, threads);
    model.sgd_step(sgd, lr);
    (loss, correct)
}

/// Refuses a model past [`MAX_MODEL_WEIGHTS`] before it is allocated: a wide network on large
/// images would otherwise end the process when memory runs out.
fn check_model_size(cfg: &TrainConfig, train: &Dataset, plan: &[sift::BlockPlan]) -> Result<(), TrainError> {
    let weights = (plan.iter().flat_map(|block| block.layers()))
        .map(|layer| layer.inputs.saturating_mul(layer.outputs))
        .fold(0usize, usize::saturating_add);
    if weights <= MAX_MODEL_WEIGHTS {
        return Ok(());
    }
    Err(TrainError::Config(format!(
        "the model would have {weights} weights ({} input features from {}, family {}), more than the \
         {MAX_MODEL_WEIGHTS} maskspec trains; lower --width or --hidden-layers (MLP) or --conv-channels (CNN)",
        train.features,
        train.name,
        cfg.family.as_str(),
    )))
}

/// Trains one run as `cfg` says; `progress` hears every step.
pub fn train_run(cfg: &TrainConfig, progress: Option<&(dyn Fn(Progress) + Sync)>) -> Result<TrainSummary, TrainError> {
    cfg.validate()?;
    let mut split = data::load(cfg.dataset, cfg.data.as_deref(), cfg.test_fraction, cfg.val_fraction, cfg.seed)?;
    split.train = data::stratified_sample(&split.train, cfg.train_samples, cfg.seed);
    if split.train.is_empty() || split.test.is_empty() {
        return Err(TrainError::Data {
            name: split.train.name.clone(),
            reason: "the split left no training or no test samples; lower --test-fraction / --val-fraction".into(),
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.worker_threads())
        .build()
        .map_err(|e| TrainError::Config(format!("cannot start {} threads: {e}", cfg.worker_threads())))?;
    pool.install(|| train_on(cfg, &split, progress))
}

fn train_on(
    cfg: &TrainConfig,
    split: &data::Split,
    progress: Option<&(dyn Fn(Progress) + Sync)>,
) -> Result<TrainSummary, TrainError> {
    let threads = cfg.worker_threads();
    let train = &split.train;
    let mlp = MlpShape { inputs: train.features, hidden: vec![cfg.width; cfg.hidden_layers], classes: train.classes };
    let cnn = CnnShape { image: train.image, channels: cfg.conv_channels.clone(), classes: train.classes };
    let mut plan = match cfg.model {
        ModelKind::Mlp => sift::plan(&mlp, cfg.family, cfg.effective_sparsity(), cfg.sparsity_pattern)?,
        ModelKind::Cnn => cnn.plan(cfg.family, cfg.effective_sparsity(), cfg.sparsity_pattern)?,
    };
    sift::apply_layout(&mut plan, cfg.layout);
    sift::apply_pattern(&mut plan, cfg.sparsity_pattern);
    check_model_size(cfg, train, &plan)?;
    // Independent seeded streams: split (cfg.seed), weights and masks, batch order, DST growth.
    let stream = |k: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(k);
        rng
    };
    let model_seed = stream(1).random::<u64>();
    let mut model: Box<dyn Network> = match cfg.model {
        ModelKind::Mlp => Box::new(sift::build(&plan, model_seed)),
        ModelKind::Cnn => Box::new(Cnn::build(&cnn, &plan, model_seed)),
    };
    let model = model.as_mut();
    let mut order_rng = stream(2);
    let mut dst_rng = stream(3);

    let steps_per_epoch = train.len().div_ceil(cfg.batch_size);
    let total_steps = steps_per_epoch * cfg.epochs;
    let lr = CosineSchedule { base: cfg.lr, warmup: cfg.warmup_epochs * steps_per_epoch, total: total_steps };
    let sgd = Sgd { momentum: cfg.momentum, nesterov: cfg.nesterov, weight_decay: cfg.weight_decay };
    let schedule = Schedule::spec(total_steps);
    let dst_active = cfg.method != Method::Static && model.layers().iter().any(|l| l.is_sparse());

    let (loss0, _) = evaluate(model, train, threads);
    let (_, val0) = evaluate(model, &split.val, threads);
    let (_, test0) = evaluate(model, &split.test, threads);
    let mut state = State { step: 0, epoch: 0, test_acc: test0, val_acc: val0, train_loss: loss0, train_flops: 0.0 };
    let mut checkpoints = vec![write_checkpoint(cfg, &train.name, model, &state)?];
    let log_path = cfg.out.join("log.csv");
    let mut log = String::from(LOG_HEADER);
    let spectra_path = cfg.out.join("spectra.csv");
    let mut spectra_log = String::from(spectra::HEADER);
    let run = cfg.run_name();
    spectra::push_row(&mut spectra_log, &run, 0, Some(0), "checkpoint", spectra::means(model));

    let mut indices: Vec<usize> = (0..train.len()).collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for epoch in 1..=cfg.epochs {
        indices.shuffle(&mut order_rng);
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        let mut epoch_lr = 0.0;
        for batch_idx in indices.chunks(cfg.batch_size) {
            let batch = batch_idx.len();
            train.gather(batch_idx, &mut x, &mut y);
            let fraction = if dst_active { schedule.fraction(state.step + 1) } else { None };
            let rigl = fraction.is_some() && cfg.method == Method::Rigl;
            epoch_lr = lr.lr(state.step);
            let (loss, c) = train_step(model, &x, &y, train.classes, &sgd, epoch_lr as f32, rigl, threads);
            // Forward + backward is 3× the forward's multiply-adds, 2 FLOPs each.
            state.train_flops += 6.0 * model.macs() as f64 * batch as f64;
            if let Some(fraction) = fraction {
                for l in model.layers_mut() {
                    if rigl && l.is_sparse() {
                        // The dense gradient RigL needs on update steps: one extra dense GEMM.
                        state.train_flops += 2.0 * (l.inputs * l.outputs * batch) as f64;
                    }
                    dst::update(l, cfg.method, fraction, &mut dst_rng);
                    l.dense_grad = None;
                }
            }
            state.step += 1;
            if fraction.is_some() {
                spectra::push_row(&mut spectra_log, &run, state.step, Some(epoch), "update", spectra::means(model));
            }
            loss_sum += loss * batch as f64;
            correct += c;
            if let Some(report) = progress {
                report(Progress { step: state.step, total_steps, epoch, loss });
            }
        }
        if !loss_sum.is_finite() {
            return Err(TrainError::Diverged { run: cfg.run_name(), epoch });
        }
        state.epoch = epoch;
        state.train_loss = loss_sum / train.len() as f64;
        let train_acc = correct as f64 / train.len() as f64;
        state.val_acc = evaluate(model, &split.val, threads).1;
        state.test_acc = evaluate(model, &split.test, threads).1;
        let _ = writeln!(
            log,
            "{epoch},{},{epoch_lr},{},{train_acc},{},{},{:.0}",
            state.step, state.train_loss, state.val_acc, state.test_acc, state.train_flops
        );
        crate::atomic::write(&log_path, log.as_bytes())
            .map_err(|source| TrainError::Io { path: log_path.clone(), source })?;
        let due = cfg.checkpoint_every > 0 && epoch % cfg.checkpoint_every == 0;
        if due || epoch == cfg.epochs {
            checkpoints.push(write_checkpoint(cfg, &train.name, model, &state)?);
            spectra::push_row(&mut spectra_log, &run, state.step, Some(epoch), "checkpoint", spectra::means(model));
        }
        crate::atomic::write(&spectra_path, spectra_log.as_bytes())
            .map_err(|source| TrainError::Io { path: spectra_path.clone(), source })?;
    }
    Ok(TrainSummary {
        run: cfg.run_name(),
        test_acc: state.test_acc,
        val_acc: state.val_acc,
        train_loss: state.train_loss,
        train_flops: state.train_flops,
        steps: state.step,
        checkpoints,
        log: log_path,
    })
}

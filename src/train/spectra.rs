//! The spectra a run logs while it trains (`spectra.csv` beside `log.csv`): the checkpoint
//! means of Δr, λ, Δr_imdb and λ_imsg (SPEC §4, computed as `analyze` computes them for a
//! checkpoint, with the default parameters) at every checkpoint and after every DST mask update.

use std::fmt::Write as _;

use super::model::Network;
use crate::checkpoint::Layer;
use crate::metrics::{layer_metrics, summarize, MetricParams};

/// The logged summary fields, in column order.
pub const FIELDS: [&str; 4] = ["ramanujan_gap", "weighted_gap", "ramanujan_gap_imdb", "weighted_gap_imsg"];

/// The header of `spectra.csv`: `event` is `checkpoint` or `update` (after a DST update), and
/// `init` marks the checkpoint at initialization, as in `analyze`'s tables, so that
/// `maskspec plot evolution runs/*/spectra.csv` measures each run from its start.
pub const HEADER: &str = "run,step,epoch,event,init,ramanujan_gap,weighted_gap,ramanujan_gap_imdb,weighted_gap_imsg\n";

/// The model's checkpoint means of [`FIELDS`]; `None` where no layer has a value (or a layer's
/// weights are not finite, as after a divergence the epoch's end reports).
pub fn means(model: &dyn Network) -> [Option<f64>; 4] {
    let params = MetricParams::default();
    let layers: Option<Vec<_>> = model
        .layers()
        .into_iter()
        .map(|l| {
            let (weight, mask) = l.dense_weight_and_mask();
            let weight = weight.into_iter().map(f64::from).collect();
            let layer = Layer::new(format!("{}.weight", l.name), l.shape.clone(), weight, Some(mask)).ok()?;
            Some(layer_metrics(&layer, &params))
        })
        .collect();
    let Some(layers) = layers else { return [None; 4] };
    let summary = summarize(&layers, params.convention);
    FIELDS.map(|field| summary.get(field))
}

/// Appends one row of `spectra.csv` to `log`; `epoch` is empty when unknown (a user's own
/// training loop, logging through the Python package).
pub fn push_row(log: &mut String, run: &str, step: usize, epoch: Option<usize>, event: &str, means: [Option<f64>; 4]) {
    let (run, event) = (crate::stats::csv_field(run), crate::stats::csv_field(event));
    let init = step == 0 && event == "checkpoint";
    let epoch = epoch.map(|e| e.to_string()).unwrap_or_default();
    let _ = write!(log, "{run},{step},{epoch},{event},{init}");
    for value in means {
        let _ = write!(log, ",{}", value.map(|v| v.to_string()).unwrap_or_default());
    }
    log.push('\n');
}

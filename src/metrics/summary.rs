use super::{Convention, LayerMetrics};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// The metrics a checkpoint summary averages over its layers (SPEC §4), in output order.
pub const SUMMARY_FIELDS: &[&str] = &[
    "ramanujan_gap",
    "ramanujan_gap_norm",
    "weighted_gap",
    "ramanujan_gap_imdb",
    "ramanujan_gap_norm_imdb",
    "weighted_gap_imsg",
    "spectral_gap_bound",
    "spectral_gap_bound_norm",
    "spectral_gap_bound_imdb",
    "regular_gap",
    "random_coef",
    "full_spectrum_l2",
    "mu0",
    "mu_hat",
    "weighted_mu0",
    "weighted_mu_hat",
    "bound_biregular",
    "bound_regular",
    "d_in",
    "d_out",
    "d_avg",
    "density",
    "expansion",
    "expansion_max",
    "expansion_mean",
];

/// A checkpoint's summary: per field, the mean over its layers skipping nulls, and how many
/// layers entered that mean (serialized as `FIELD` and `FIELD_layers`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckpointSummary {
    pub layers: usize,
    pub collapsed_layers: usize,
    /// The pattern every layer that has edges shares (`block4x4`, `2:4`, ...), `mixed` when
    /// they differ, `empty` when none has an edge.
    pub pattern: String,
    /// `(field, mean, layers)` in [`SUMMARY_FIELDS`] order.
    pub means: Vec<(&'static str, Option<f64>, usize)>,
}

impl CheckpointSummary {
    /// The mean of `field`, or `None` if no layer had it (or it is not a summary field).
    pub fn get(&self, field: &str) -> Option<f64> {
        self.means.iter().find(|(f, _, _)| *f == field).and_then(|(_, mean, _)| *mean)
    }
}

/// Field values of a layer by SPEC name, through its serde form, so the summary can never
/// drift from the struct.
fn numeric_fields(layer: &LayerMetrics) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(layer) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => unreachable!("LayerMetrics serializes to an object"),
    }
}

/// The checkpoint summary. Under NeurIPS 2023 a layer without a value (below the gate, no
/// nested subgraph) counts as 0 instead of being skipped.
pub fn summarize(layers: &[LayerMetrics], convention: Convention) -> CheckpointSummary {
    let values: Vec<_> = layers.iter().map(numeric_fields).collect();
    let null_as_zero = convention.gates_everything();
    let means = SUMMARY_FIELDS
        .iter()
        .map(|&field| {
            let xs: Vec<f64> = values
                .iter()
                .filter_map(|m| match m.get(field).and_then(|v| v.as_f64()) {
                    None if null_as_zero => Some(0.0),
                    value => value,
                })
                .collect();
            let mean = (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
            (field, mean, xs.len())
        })
        .collect();
    let mut patterns = layers.iter().filter(|l| !l.collapsed).map(|l| l.pattern.as_str());
    let first = patterns.next().unwrap_or("empty");
    let pattern = if patterns.all(|p| p == first) { first } else { "mixed" }.to_string();
    CheckpointSummary {
        layers: layers.len(),
        collapsed_layers: layers.iter().filter(|l| l.collapsed).count(),
        pattern,
        means,
    }
}

impl Serialize for CheckpointSummary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3 + 2 * self.means.len()))?;
        map.serialize_entry("layers", &self.layers)?;
        map.serialize_entry("collapsed_layers", &self.collapsed_layers)?;
        map.serialize_entry("pattern", &self.pattern)?;
        for (field, mean, count) in &self.means {
            map.serialize_entry(field, mean)?;
            map.serialize_entry(&format!("{field}_layers"), count)?;
        }
        map.end()
    }
}

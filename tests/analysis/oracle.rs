//! The oracle comparison shared by the golden tests: every field the oracle gives must agree
//! to 1e-9 relative (1e-12 absolute near 0).

use maskspec::checkpoint::{self, LayerFilter};
use maskspec::metrics::{layer_metrics, summarize, MetricParams};
use serde_json::{Map, Value};
use std::path::Path;

pub fn close(ours: f64, oracle: f64) -> bool {
    (ours - oracle).abs() <= 1e-12_f64.max(1e-9 * oracle.abs())
}

/// Fields that are ours alone (names, counts the oracle does not report).
const OURS_ONLY: &[&str] = &["layer", "shape", "nested_count", "layers", "collapsed_layers"];

/// Compares one object of ours with the oracle's; returns the disagreements. With
/// `strict_nulls`, a field the oracle leaves out must be null here too.
pub fn compare(
    context: &str,
    ours: &Map<String, Value>,
    oracle: &Map<String, Value>,
    strict_nulls: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, expected) in oracle {
        match (ours.get(key), expected) {
            (Some(Value::Number(a)), Value::Number(b)) => {
                let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                if !close(a, b) {
                    problems.push(format!("{context}.{key}: ours {a:e}, oracle {b:e}, diff {:e}", a - b));
                }
            }
            (Some(a), b) if a == b => {}
            (a, b) => problems.push(format!("{context}.{key}: ours {a:?}, oracle {b}")),
        }
    }
    if strict_nulls {
        for (key, value) in ours {
            if !oracle.contains_key(key) && !value.is_null() && !OURS_ONLY.contains(&key.as_str()) {
                problems.push(format!("{context}.{key}: ours {value}, oracle has no value (null)"));
            }
        }
    }
    problems
}

/// Analyzes every layer of `path` (no layer excluded) and compares it with the oracle's
/// `layers` object, and the checkpoint summary with `model` when given. Panics listing every
/// disagreement.
pub fn check_against_oracle(
    path: &Path,
    layers: &Map<String, Value>,
    model: Option<&Map<String, Value>>,
    params: &MetricParams,
    strict_nulls: bool,
) {
    let file = path.file_name().unwrap().to_string_lossy();
    let source = checkpoint::open(path).unwrap_or_else(|e| panic!("{e}"));
    let every_layer = LayerFilter::new(&[], &["__no_layer_is_excluded__".into()]).unwrap();
    let specs = checkpoint::discover_layers(source.as_ref(), &every_layer).unwrap();
    let mut ours = Vec::new();
    let mut problems = Vec::new();
    for spec in &specs {
        let layer = checkpoint::load_layer(source.as_ref(), spec).unwrap_or_else(|e| panic!("{e}"));
        let m = layer_metrics(&layer, params);
        let value = serde_json::to_value(&m).unwrap();
        match layers.get(&m.layer) {
            Some(Value::Object(o)) => {
                problems.extend(compare(&format!("{file}:{}", m.layer), value.as_object().unwrap(), o, strict_nulls))
            }
            _ => problems.push(format!("{file}: layer {} not in the oracle's output", m.layer)),
        }
        ours.push(m);
    }
    assert_eq!(ours.len(), layers.len(), "{file}: layer count");
    if let Some(model) = model {
        let summary = serde_json::to_value(summarize(&ours, params.convention)).unwrap();
        let mut summary = summary.as_object().unwrap().clone();
        // The oracle averages only a few fields; ours are checked where it has them.
        summary.retain(|k, _| model.contains_key(k));
        problems.extend(compare(&format!("{file}:model"), &summary, model, strict_nulls));
    }
    assert!(problems.is_empty(), "{} disagreements:\n{}", problems.len(), problems.join("\n"));
}

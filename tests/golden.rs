//! Every metric against the dense-SVD oracle (`shared/oracle/spectral_oracle.py`), whose output
//! for seeded inputs is committed in `tests/fixtures/golden/` (see `make_golden.py` there).
//! Agreement: 1e-9 relative, or 1e-12 absolute near 0. A field the oracle leaves out must be
//! null here, and the other way round.

use maskspec::checkpoint::{self, LayerFilter};
use maskspec::metrics::{layer_metrics, summarize, MetricParams};
use maskspec::spectral::SvdParams;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden").join(name)
}

fn close(ours: f64, oracle: f64) -> bool {
    (ours - oracle).abs() <= 1e-12_f64.max(1e-9 * oracle.abs())
}

/// Compares one object of ours with the oracle's; returns the disagreements.
fn compare(
    context: &str,
    ours: &serde_json::Map<String, Value>,
    oracle: &serde_json::Map<String, Value>,
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
    for (key, value) in ours {
        if !oracle.contains_key(key)
            && !value.is_null()
            && !["layer", "shape", "nested_count", "layers", "collapsed_layers"].contains(&key.as_str())
        {
            // Fields the oracle does not compute at model level are ours alone.
            if !context.ends_with("model") {
                problems.push(format!("{context}.{key}: ours {value}, oracle has no value (null)"));
            }
        }
    }
    problems
}

fn check(file: &str, expected: &str, params: &MetricParams) {
    let path = fixture(file);
    let oracle: Value = serde_json::from_str(&std::fs::read_to_string(fixture(expected)).unwrap()).unwrap();
    let source = checkpoint::open(&path).unwrap();
    let specs =
        checkpoint::discover_layers(source.as_ref(), &LayerFilter::new(&[], &["__none__".into()]).unwrap()).unwrap();
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    for spec in &specs {
        let layer = checkpoint::load_layer(source.as_ref(), spec).unwrap();
        let m = layer_metrics(&layer, params);
        let ours = serde_json::to_value(&m).unwrap();
        match oracle["layers"].get(&m.layer) {
            Some(Value::Object(o)) => {
                problems.extend(compare(&format!("{file}:{}", m.layer), ours.as_object().unwrap(), o))
            }
            _ => problems.push(format!("{file}: layer {} not in the oracle's output", m.layer)),
        }
        layers.push(m);
    }
    assert_eq!(layers.len(), oracle["layers"].as_object().unwrap().len(), "{file}: layer count");
    let summary = serde_json::to_value(summarize(&layers)).unwrap();
    problems.extend(compare(
        &format!("{file}:model"),
        summary.as_object().unwrap(),
        oracle["model"].as_object().unwrap(),
    ));
    assert!(problems.is_empty(), "{} disagreements:\n{}", problems.len(), problems.join("\n"));
}

/// The iterative (Lanczos) path on every graph, however small, where the default settings
/// would take the exact dense path: both must meet the oracle.
fn lanczos_only() -> MetricParams {
    MetricParams { svd: SvdParams { dense_threshold: 0, ..Default::default() }, ..Default::default() }
}

macro_rules! golden {
    ($($test:ident => $case:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check(concat!($case, ".safetensors"), concat!($case, ".expected.json"), &MetricParams::default());
            }
        )*
        mod lanczos_path {
            use super::*;
            $(
                #[test]
                fn $test() {
                    check(concat!($case, ".safetensors"), concat!($case, ".expected.json"), &lanczos_only());
                }
            )*
        }
    };
}

golden! {
    random_linear => "random_linear",
    conv_layer_pruned_in_place => "conv",
    erk_model_saved_with_torch_prune => "erk_model",
    biregular_graph => "biregular",
    two_disconnected_copies => "two_copies",
    below_the_gate => "below_gate",
    isolated_inputs_and_outputs => "isolated",
    collapsed_layer => "collapsed",
    bool_mask => "bool_mask",
    resnet18_width16 => "resnet18_w16",
}

#[test]
fn npz_reads_the_same_layer_as_safetensors() {
    check("random_linear.npz", "random_linear.expected.json", &MetricParams::default());
}

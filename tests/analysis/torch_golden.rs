//! The PyTorch fixtures made by real `torch.save` (in
//! `tests/fixtures/torch/`): every readable file gives the oracle's metrics in its
//! `.expected.json` to 1e-9 relative, and the checkpoint dict's scalars reach the metadata.

use crate::oracle;

use maskspec::checkpoint;
use maskspec::metrics::MetricParams;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch").join(name)
}

/// The expected file: layers at the top, or under `layers` beside scalars.
fn expected(name: &str) -> Map<String, Value> {
    let value: Value = serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
    value.as_object().unwrap().clone()
}

fn check(pt: &str, json: &str) {
    let expected = expected(json);
    let layers = match expected.get("layers") {
        Some(Value::Object(layers)) => layers.clone(),
        _ => expected,
    };
    // These files were made by an earlier oracle that did not print full_spectrum_l2 for
    // every layer: the values it gives must agree, absent ones are not compared.
    oracle::check_against_oracle(&fixture(pt), &layers, None, &MetricParams::default(), false);
}

#[test]
fn plain_state_dict() {
    check("mlp_state_dict.pt", "mlp_state_dict.expected.json");
}

#[test]
fn torch_prune_checkpoint_with_epoch_and_best_acc() {
    check("prune_checkpoint.pt", "prune_checkpoint.expected.json");
    let expected = expected("prune_checkpoint.expected.json");
    let source = checkpoint::open(&fixture("prune_checkpoint.pt")).unwrap();
    let metadata = source.metadata();
    assert_eq!(metadata["epoch"].parse::<f64>().unwrap(), expected["epoch"].as_f64().unwrap());
    assert_eq!(metadata["best_acc"].parse::<f64>().unwrap(), expected["best_acc"].as_f64().unwrap());
}

#[test]
fn half_precisions_under_dataparallel_prefix() {
    check("half_dataparallel.pt", "half_dataparallel.expected.json");
}

#[test]
fn legacy_serialization() {
    check("legacy_format.pt", "legacy_format.expected.json");
}

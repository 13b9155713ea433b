//! Every metric against the dense-SVD oracle (`tests/fixtures/golden/spectral_oracle.py`), whose output
//! for seeded inputs is committed in `tests/fixtures/golden/` (see `make_golden.py` there).
//! Agreement: 1e-9 relative, or 1e-12 absolute near 0. A field the oracle leaves out must be
//! null here, and the other way round.

use crate::oracle;

use maskspec::metrics::MetricParams;
use maskspec::spectral::SvdParams;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden").join(name)
}

fn check(file: &str, expected: &str, params: &MetricParams) {
    let oracle: Value = serde_json::from_str(&std::fs::read_to_string(fixture(expected)).unwrap()).unwrap();
    let (layers, model) = (oracle["layers"].as_object().unwrap(), oracle["model"].as_object());
    oracle::check_against_oracle(&fixture(file), layers, model, params, true);
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
    structured_masks => "structured",
}

#[test]
fn npz_reads_the_same_layer_as_safetensors() {
    check("random_linear.npz", "random_linear.expected.json", &MetricParams::default());
}

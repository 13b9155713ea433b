//! Checkpoints as real tools write them (`tests/fixtures/real/make_real.py`: torch.save,
//! safetensors and numpy in the shapes of Lightning, Hugging Face, timm, the PyTorch ImageNet
//! example, torch.compile, torch.ao, flax), through the real binary: each must give the layers
//! (names as users know them, shapes as [out, in(, kh, kw)], edge counts) and the accuracy that
//! `expected.json` lists, or the refusal it names. Never a silent misread.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn real(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real").join(path)
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(real("expected.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap().as_object().unwrap().clone()
}

/// Runs `analyze --json` on a case's files; (exit code, the JSON's checkpoints, stderr).
fn analyze(files: &[PathBuf], extra: &[&str]) -> (i32, Vec<Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = Command::new(env!("CARGO_BIN_EXE_maskspec"))
        .arg("analyze")
        .arg("--no-cache")
        .args(files)
        .args(extra)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let checkpoints = std::fs::read_to_string(&json)
        .ok()
        .map(|text| serde_json::from_str::<Value>(&text).unwrap()["checkpoints"].as_array().unwrap().clone())
        .unwrap_or_default();
    (out.status.code().unwrap(), checkpoints, stderr)
}

/// Checks one case of `expected.json`; the errors found, empty when it reads right.
fn check(name: &str, case: &Value) -> Vec<String> {
    let files: Vec<PathBuf> = case["files"].as_array().unwrap().iter().map(|f| real(f.as_str().unwrap())).collect();
    let (code, checkpoints, stderr) = analyze(&files, &[]);
    let mut errors = Vec::new();
    if let Some(refusal) = case.get("refused") {
        let refusal = refusal.as_str().unwrap();
        if code == 0 || !stderr.contains(refusal) || stderr.lines().filter(|l| l.starts_with("error:")).count() != 1 {
            errors.push(format!("{name}: expected one refusal mentioning '{refusal}', got exit {code}: {stderr}"));
        }
        return errors;
    }
    if code != 0 || checkpoints.len() != 1 {
        errors.push(format!("{name}: expected one checkpoint, got {} (exit {code}): {stderr}", checkpoints.len()));
        return errors;
    }
    let got: Vec<(String, String, u64)> = checkpoints[0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (l["layer"].as_str().unwrap().into(), l["shape"].as_str().unwrap().into(), l["edges"].as_u64().unwrap())
        })
        .collect();
    let want: Vec<(String, String, u64)> = case["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let shape = l["shape"].as_array().unwrap().iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
            (l["name"].as_str().unwrap().into(), shape, l["edges"].as_u64().unwrap())
        })
        .collect();
    if got != want {
        errors.push(format!("{name}: layers {got:?}, expected {want:?}"));
        return errors;
    }
    // σ1 of the graph and of |W|·M: a conv kernel transposed wrongly, or weights paired with
    // the wrong mask, keep the edge count but not these.
    for (layer, expected) in checkpoints[0]["layers"].as_array().unwrap().iter().zip(case["layers"].as_array().unwrap())
    {
        for field in ["mu0", "weighted_mu0"] {
            let Some(want) = expected.get(field).and_then(Value::as_f64) else { continue };
            let got = layer[field].as_f64().unwrap_or(f64::NAN);
            if (got - want).abs() > 1e-9 * want.abs() {
                errors.push(format!("{name}: {} {field} = {got}, expected {want}", expected["name"]));
            }
        }
    }
    if let Some(accuracy) = case.get("accuracy").and_then(Value::as_f64) {
        let read = checkpoints[0]["accuracy"].as_f64();
        if read.is_none_or(|read| (read - accuracy).abs() > 1e-6) {
            errors.push(format!("{name}: accuracy {read:?}, expected {accuracy}"));
        }
    }
    errors
}

/// The cases read right.
const READ: &[&str] = &[
    "compiled.pt",
    "defaultdict.pt",
    "flax_masked.npz",
    "flax_params.npz",
    "flax_params.safetensors",
    "full_model.pt",
    "hf_bin/pytorch_model.bin",
    "hf_sharded",
    "hf_sharded_bin",
    "imagenet_example_best.pth",
    "lightning.ckpt",
    "lightning_dp.ckpt",
    "separate",
    "separate_named",
    "sparse_bad_index.pt",
    "sparse_block.pt",
    "sparse_hybrid.pt",
    "sparse_more.pt",
    "sparse_tensors.pt",
    "timm_checkpoint.pth.tar",
    "timm_ema_only.pth.tar",
    "torch_ao_sparsifier.pt",
];

/// Cases refused for now, each in one line that says what to do instead (`expected.json`
/// holds what they must read as once they are read).
const REFUSED_FOR_NOW: &[(&str, &str)] = &[];

/// Cases still misread.
const MISREAD: &[&str] = &[];

#[test]
fn real_checkpoints_read_as_their_writers_meant() {
    let cases = expected();
    let mut listed: Vec<&str> =
        READ.iter().chain(MISREAD).copied().chain(REFUSED_FOR_NOW.iter().map(|c| c.0)).collect();
    listed.sort();
    assert_eq!(listed, cases.keys().map(String::as_str).collect::<Vec<_>>(), "every case has its list");
    let mut errors: Vec<String> = READ.iter().flat_map(|name| check(name, &cases[*name])).collect();
    for (name, refusal) in REFUSED_FOR_NOW {
        let files: Vec<PathBuf> =
            cases[*name]["files"].as_array().unwrap().iter().map(|f| real(f.as_str().unwrap())).collect();
        let (code, checkpoints, stderr) = analyze(&files, &[]);
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        if code != 1 || !checkpoints.is_empty() || lines.len() != 1 || !lines[0].contains(refusal) {
            errors.push(format!("{name}: expected one refusal naming '{refusal}', got exit {code}: {stderr}"));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// A directory walk takes checkpoints by content, whatever their names, and says how many
/// files it passed over as not checkpoints.
#[test]
fn a_walk_reads_by_content_and_counts_what_it_skips() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(real("hf_bin/pytorch_model.bin"), dir.path().join("last.ckpt")).unwrap();
    std::fs::copy(real("flax_params.npz"), dir.path().join("params.data")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "lr 0.1, 90 epochs\n").unwrap();
    std::fs::write(dir.path().join("hparams.yaml"), "lr: 0.1\n").unwrap();
    let (code, checkpoints, stderr) = analyze(&[dir.path().to_path_buf()], &[]);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = checkpoints.iter().map(|c| c["checkpoint"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("last.ckpt") && names[1].ends_with("params.data"), "{names:?}");
    assert!(stderr.contains("skipped 2 files that are not checkpoints"), "{stderr}");
}

/// `--layout torch` reads a weight named `kernel` as it is stored, untransposed.
#[test]
fn the_layout_flag_overrides_the_name() {
    let (code, checkpoints, stderr) = analyze(&[real("flax_params.npz")], &["--layout", "torch"]);
    assert_eq!(code, 0, "{stderr}");
    let shapes: Vec<&str> =
        checkpoints[0]["layers"].as_array().unwrap().iter().map(|l| l["shape"].as_str().unwrap()).collect();
    assert_eq!(shapes, ["3x3x4x8", "12x16"]);
}

/// `--masks FILE` pairs any two files by tensor name; naming the mask file of a pair analyzes
/// the pair.
#[test]
fn masks_from_a_file_of_their_own() {
    let cases = expected();
    let want = &cases["separate"];
    let flag = ["--masks", real("masks_flag/topology.safetensors").to_str().unwrap()].map(String::from);
    let flag: Vec<&str> = flag.iter().map(String::as_str).collect();
    let (code, checkpoints, stderr) = analyze(&[real("masks_flag/dense_init.safetensors")], &flag);
    assert_eq!((code, checkpoints.len()), (0, 1), "{stderr}");
    let edges: Vec<u64> =
        checkpoints[0]["layers"].as_array().unwrap().iter().map(|l| l["edges"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = want["layers"].as_array().unwrap().iter().map(|l| l["edges"].as_u64().unwrap()).collect();
    assert_eq!(edges, expected);
    let (code, checkpoints, stderr) = analyze(&[real("separate/masks.safetensors")], &[]);
    assert_eq!((code, checkpoints.len()), (0, 1), "{stderr}");
    assert!(checkpoints[0]["checkpoint"].as_str().unwrap().ends_with("weights.safetensors"), "{stderr}");
    // Masks that do not belong to the weights are one error, not a misread.
    let wrong = ["--masks", real("flax_params.safetensors").to_str().unwrap()].map(String::from);
    let wrong: Vec<&str> = wrong.iter().map(String::as_str).collect();
    let (code, _, stderr) = analyze(&[real("masks_flag/dense_init.safetensors")], &wrong);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("a mask file must use its weights' tensor names"), "{stderr}");
}

/// A sharded model is one checkpoint whether the user names its directory, its index or one of
/// its shards.
#[test]
fn shards_are_one_model_however_they_are_named() {
    for path in ["hf_sharded", "hf_sharded/model.safetensors.index.json", "hf_sharded/model-00002-of-00002.safetensors"]
    {
        let (code, checkpoints, stderr) = analyze(&[real(path)], &[]);
        assert_eq!((code, checkpoints.len()), (0, 1), "{path}: {stderr}");
        let c = &checkpoints[0];
        assert!(c["checkpoint"].as_str().unwrap().ends_with("model.safetensors.index.json"), "{path}: {c}");
        assert_eq!(c["layers"].as_array().unwrap().len(), 2, "{path}");
        assert_eq!(c["metadata"]["shards"], "2", "{path}");
    }
}

/// Shards and an index that disagree are one error naming the index, never a partial model.
#[test]
fn shards_that_disagree_with_their_index_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
        std::fs::copy(real("hf_sharded").join(shard), dir.path().join(shard)).unwrap();
    }
    let index = dir.path().join("model.safetensors.index.json");
    let write = |map: &str| std::fs::write(&index, format!("{{\"weight_map\": {{{map}}}}}")).unwrap();
    let one = r#""fc1.weight": "model-00001-of-00002.safetensors""#;
    for (map, error) in [
        (format!(r#"{one}, "fc2.weight": "model-00003-of-00003.safetensors""#), "cannot read"),
        (format!(r#"{one}, "fc9.weight": "model-00002-of-00002.safetensors""#), "the shards and their index disagree"),
        (format!(r#"{one}, "fc2.weight": "../elsewhere.safetensors""#), "not a file name beside the index"),
    ] {
        write(&map);
        let (code, checkpoints, stderr) = analyze(std::slice::from_ref(&index), &[]);
        assert_eq!((code, checkpoints.len()), (1, 0), "{map}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert!(lines.len() == 1 && lines[0].contains(error), "{map}: {stderr}");
    }
}

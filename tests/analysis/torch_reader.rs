//! The PyTorch reader against what `torch.load` + NumPy see in the same files
//! (`tests/fixtures/torch/*.tensors.json`, made by `make_fixtures.py`), against the oracle's
//! layer structure (`*.expected.json`), and on damaged and hostile files.

use maskspec::checkpoint::{self, discover_layers, load_layer, CheckpointError, Dtype, LayerFilter, TensorSource};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch").join(name)
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Opens fixture `name` (`NAME.pt`, or the `.pth.tar` the imagenet example writes).
fn open(name: &str) -> Box<dyn TensorSource> {
    let path = match name {
        "imagenet_example.pt" => fixture("imagenet_example.pth.tar"),
        _ => fixture(name),
    };
    checkpoint::open(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn dtype_name(dtype: Dtype) -> String {
    format!("{dtype:?}")
}

const READABLE: [&str; 11] = [
    "mlp_state_dict",
    "prune_checkpoint",
    "half_dataparallel",
    "legacy_format",
    "views",
    "views_protocol4",
    "views_legacy",
    "shared_storage",
    "masks_ints",
    "nested_net",
    "imagenet_example",
];

/// Every tensor's name (in file order), dtype, shape, values (exact samples, sum and sum
/// of squares, nonzero count) as torch.load + NumPy report them.
#[test]
fn tensors_match_what_torch_load_sees() {
    for name in READABLE {
        let expected = json(&format!("{name}.tensors.json"));
        let source = open(&format!("{name}.pt"));
        let names: Vec<&str> = source.tensors().iter().map(|t| t.name.as_str()).collect();
        let want: Vec<&str> = expected["order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(names, want, "{name}: tensor names or file order");
        for (index, info) in source.tensors().iter().enumerate() {
            let e = &expected["tensors"][&info.name];
            let context = format!("{name}: {}", info.name);
            assert_eq!(dtype_name(info.dtype), e["dtype"].as_str().unwrap(), "{context}: dtype");
            let shape: Vec<usize> =
                e["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(info.shape, shape, "{context}: shape");
            let values = source.read_f64(index).unwrap();
            assert_eq!(values.len(), info.numel(), "{context}: element count");
            for sample in e["samples"].as_array().unwrap() {
                let at = sample[0].as_u64().unwrap() as usize;
                assert_eq!(values[at], sample[1].as_f64().unwrap(), "{context}: element {at}");
            }
            let sum: f64 = values.iter().sum();
            let sum_sq: f64 = values.iter().map(|v| v * v).sum();
            let sum_abs: f64 = values.iter().map(|v| v.abs()).sum();
            // Only the summation order differs from math.fsum: n·eps of the absolute sum.
            let tol = 4.0 * f64::EPSILON * values.len() as f64;
            assert!((sum - e["sum"].as_f64().unwrap()).abs() <= tol * sum_abs.max(1.0), "{context}: sum {sum}");
            assert!(
                (sum_sq - e["sum_sq"].as_f64().unwrap()).abs() <= tol * sum_sq.max(1.0),
                "{context}: sum of squares {sum_sq}"
            );
            let nonzero = values.iter().filter(|v| **v != 0.0).count();
            assert_eq!(nonzero as u64, e["nonzero"].as_u64().unwrap(), "{context}: nonzeros");
        }
    }
}

/// The checkpoint dict's scalar entries, and nothing else, become the metadata, beside the key
/// of the nested state dict that was read (`state_dict_key`).
#[test]
fn scalar_entries_become_metadata() {
    for name in READABLE {
        let expected = json(&format!("{name}.tensors.json"));
        let source = open(&format!("{name}.pt"));
        let mut meta = source.metadata().clone();
        if let Some(key) = meta.remove("state_dict_key") {
            assert!(
                ["state_dict", "model", "model_state_dict", "net", "module"].contains(&key.as_str()),
                "{name}: {key}"
            );
        }
        let want = expected["metadata"].as_object().unwrap();
        assert_eq!(meta.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{name}: metadata keys");
        for (key, value) in want {
            match value {
                Value::Number(n) => {
                    assert_eq!(meta[key].parse::<f64>().unwrap(), n.as_f64().unwrap(), "{name}: {key}")
                }
                Value::String(s) => assert_eq!(&meta[key], s, "{name}: {key}"),
                other => panic!("{name}: {key}: unexpected {other}"),
            }
        }
    }
    let prune = open("prune_checkpoint.pt");
    assert_eq!(prune.metadata()["epoch"], "12");
    assert_eq!(prune.metadata()["best_acc"], "71.25");
    // pytorch/examples' imagenet keeps best_acc1 as a 0-d f32 tensor beside the state dict.
    let imagenet = open("imagenet_example.pt");
    assert_eq!(imagenet.metadata()["best_acc1"], "69.758");
}

/// Layers found by SPEC §1 discovery have the oracle's names and graph structure.
#[test]
fn layers_match_the_oracle_structure() {
    for name in ["mlp_state_dict", "prune_checkpoint", "half_dataparallel", "legacy_format"] {
        let expected = json(&format!("{name}.expected.json"));
        let layers = expected.get("layers").unwrap_or(&expected).as_object().unwrap();
        let source = open(&format!("{name}.pt"));
        let specs = discover_layers(source.as_ref(), &LayerFilter::default()).unwrap();
        let mut found: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        found.sort_unstable();
        assert_eq!(found, layers.keys().map(String::as_str).collect::<Vec<_>>(), "{name}: layer names");
        for spec in &specs {
            let layer = load_layer(source.as_ref(), spec).unwrap();
            let e = &layers[&spec.name];
            let (rows, cols) = (layer.n_rows(), layer.n_cols());
            let context = format!("{name}: {}", spec.name);
            assert_eq!(rows as u64, e["dim_out"].as_u64().unwrap(), "{context}: dim_out");
            assert_eq!(cols as u64, e["dim_in"].as_u64().unwrap(), "{context}: dim_in");
            let edges = layer.mask().iter().filter(|&&m| m).count();
            assert_eq!(edges as u64, e["edges"].as_u64().unwrap(), "{context}: edges");
            let out_degree: Vec<usize> =
                layer.mask().chunks(cols).map(|row| row.iter().filter(|&&m| m).count()).collect();
            let in_degree: Vec<usize> =
                (0..cols).map(|c| (0..rows).filter(|&r| layer.mask()[r * cols + c]).count()).collect();
            let isolated = |d: &[usize]| d.iter().filter(|&&k| k == 0).count() as u64;
            assert_eq!(isolated(&out_degree), e["isolated_out"].as_u64().unwrap(), "{context}: isolated_out");
            assert_eq!(isolated(&in_degree), e["isolated_in"].as_u64().unwrap(), "{context}: isolated_in");
        }
    }
    let expected = json("prune_checkpoint.expected.json");
    let source = open("prune_checkpoint.pt");
    let meta = source.metadata();
    assert_eq!(meta["epoch"].parse::<f64>().unwrap(), expected["epoch"].as_f64().unwrap());
    assert_eq!(meta["best_acc"].parse::<f64>().unwrap(), expected["best_acc"].as_f64().unwrap());
}

/// `weight_orig` × a bool `weight_mask` is one layer whose mask is the saved mask.
#[test]
fn a_bool_prune_mask_is_the_layer_mask() {
    let expected = json("masks_ints.tensors.json");
    let source = open("masks_ints.pt");
    let specs = discover_layers(source.as_ref(), &LayerFilter::default()).unwrap();
    let spec = specs.iter().find(|s| s.name == "fc.weight").expect("fc.weight is a layer");
    assert!(spec.weight_orig);
    assert_eq!(source.tensors()[spec.mask.unwrap()].dtype, Dtype::Bool);
    let layer = load_layer(source.as_ref(), spec).unwrap();
    let kept = layer.mask().iter().filter(|&&m| m).count() as u64;
    assert_eq!(kept, expected["tensors"]["fc.weight_mask"]["nonzero"].as_u64().unwrap());
    assert!(layer.weight().iter().zip(layer.mask()).all(|(w, &m)| m || *w == 0.0));
}

fn error_of(name: &str) -> CheckpointError {
    match checkpoint::open(&fixture(name)) {
        Ok(source) => {
            // A damage found only when the data is read is as good, if it is an error.
            let failed = (0..source.tensors().len()).find_map(|i| source.read_f64(i).err());
            failed.unwrap_or_else(|| panic!("{name} was read without error"))
        }
        Err(e) => e,
    }
}

fn assert_one_line_naming(error: &CheckpointError, file: &str) {
    let message = error.to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    assert!(message.contains(file), "does not name {file}: {message}");
}

#[test]
fn a_truncated_file_is_a_clear_error() {
    let error = error_of("truncated.pt");
    assert_one_line_naming(&error, "truncated.pt");
    assert!(matches!(error, CheckpointError::Malformed { .. }), "{error}");
}

#[test]
fn a_pickle_naming_os_system_is_refused() {
    let error = checkpoint::open(&fixture("os_system.pt")).err().expect("os_system.pt must be refused");
    assert_one_line_naming(&error, "os_system.pt");
    assert!(matches!(error, CheckpointError::Refused { .. }), "{error}");
    // CPython pickles os.system by its defining module, posix, on Linux.
    assert!(error.to_string().contains("posix.system"), "{error}");
}

/// 10^12 f32 elements claimed with 24 bytes in the archive, under a view of 10^12 elements
/// and under one of 6 (which those bytes could serve): refused at open, without allocating.
/// The same, in the legacy stream torch.save writes with `_use_new_zipfile_serialization=False`.
#[test]
fn a_legacy_pickle_naming_os_system_is_refused() {
    let error = checkpoint::open(&fixture("os_system_legacy.pt")).err().expect("os_system_legacy.pt must be refused");
    assert_one_line_naming(&error, "os_system_legacy.pt");
    assert!(matches!(error, CheckpointError::Refused { .. }), "{error}");
    assert!(error.to_string().contains("posix.system"), "{error}");
}

#[test]
fn names_that_collide_once_module_is_stripped_are_an_error() {
    let error = checkpoint::open(&fixture("module_collision.pt")).err().expect("module_collision.pt must be refused");
    assert_one_line_naming(&error, "module_collision.pt");
    let message = error.to_string();
    assert!(message.contains("'module.fc.weight'") && message.contains("'fc.weight'"), "{message}");
}

/// A uint16 storage is listed (discovery sees every tensor) and refused, by name, when read.
#[test]
fn an_unsigned_16_bit_weight_is_refused_when_read() {
    let source = open("uint16.pt");
    let names: Vec<&str> = source.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["fc.weight", "idx.weight"]);
    assert_eq!(source.read_f64(0).unwrap().len(), 30);
    let error = source.read_f64(1).unwrap_err();
    assert_one_line_naming(&error, "uint16.pt");
    assert!(error.to_string().contains("'idx.weight'"), "{error}");
}

#[test]
fn a_storage_claiming_a_terabyte_is_refused_at_once() {
    for name in ["huge_storage.pt", "huge_storage_small_view.pt"] {
        let started = Instant::now();
        let error = checkpoint::open(&fixture(name)).err().unwrap_or_else(|| panic!("{name} must be refused at open"));
        assert!(started.elapsed().as_secs_f64() < 1.0, "{name} took {:?}", started.elapsed());
        assert_one_line_naming(&error, name);
    }
}

#[test]
fn a_view_past_its_storage_is_an_error() {
    let error = error_of("view_past_storage.pt");
    assert_one_line_naming(&error, "view_past_storage.pt");
}

/// Junk under a PyTorch name: an error naming the file, never a panic.
#[test]
fn damaged_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(fixture("mlp_state_dict.pt")).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.pt", Vec::new()),
        ("text.pth", b"not a checkpoint at all\n".to_vec()),
        ("zip_header_only.pth.tar", b"PK\x03\x04\x14\x00\x00\x00".to_vec()),
        ("pickle_cut.pt", b"\x80\x02}q\x00(X\x03\x00\x00\x00abc".to_vec()),
        ("pre_0_1_10_tar.pt", [vec![0; 257], b"ustar".to_vec(), vec![0; 250]].concat()),
    ];
    // The archive cut at many points, including inside the central directory.
    let cuts: Vec<(String, Vec<u8>)> = [0.1, 0.5, 0.9, 0.99, 0.999]
        .iter()
        .map(|f| (format!("cut_{f}.pt"), whole[..(whole.len() as f64 * f) as usize].to_vec()))
        .collect();
    cases.extend(cuts.iter().map(|(n, b)| (n.as_str(), b.clone())));
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let outcome = checkpoint::open(&path).and_then(|source| {
            (0..source.tensors().len()).try_for_each(|i| source.read_f64(i).map(drop))?;
            discover_layers(source.as_ref(), &LayerFilter::default()).map(drop)
        });
        let error = outcome.err().unwrap_or_else(|| panic!("{name} was read as if whole"));
        assert_one_line_naming(&error, name);
    }
}

/// A flipped byte inside a storage: the archive's CRC catches it when the tensor is read.
#[test]
fn a_corrupted_storage_is_an_error_on_read() {
    let whole = std::fs::read(fixture("mlp_state_dict.pt")).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&whole)).unwrap();
    let start = archive.by_name("mlp_state_dict/data/0").unwrap().data_start() as usize;
    let mut flipped = whole.clone();
    flipped[start + 100] ^= 0xff;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flipped.pt");
    std::fs::write(&path, &flipped).unwrap();
    let source = checkpoint::open(&path).unwrap();
    let errors: Vec<CheckpointError> = (0..source.tensors().len()).filter_map(|i| source.read_f64(i).err()).collect();
    assert_eq!(errors.len(), 1, "exactly the damaged tensor fails: {errors:?}");
    assert_one_line_naming(&errors[0], "flipped.pt");
    assert!(errors[0].to_string().contains("fc1.weight"), "{}", errors[0]);
}

/// The entries of `views.pt`, so a test can rewrite its pickle and re-zip it with valid
/// CRCs (a flipped byte would otherwise only ever test the CRC check).
fn views_entries() -> Vec<(String, Vec<u8>)> {
    let whole = std::fs::read(fixture("views.pt")).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(whole)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            (entry.name().to_string(), bytes)
        })
        .collect()
}

fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), stored).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// A pickle with bytes overwritten (re-zipped, so only the pickle is damaged) is read or
    /// refused with an error naming the file; never a panic, never a huge allocation.
    #[test]
    fn a_damaged_pickle_never_panics(edits in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..6)) {
        let mut entries = views_entries();
        let pickle = &mut entries.iter_mut().find(|(n, _)| n.ends_with("data.pkl")).unwrap().1;
        for (at, byte) in edits {
            let at = at % pickle.len();
            pickle[at] = byte;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.pt");
        std::fs::write(&path, zip_of(&entries)).unwrap();
        let outcome = checkpoint::open(&path)
            .and_then(|source| (0..source.tensors().len()).try_for_each(|i| source.read_f64(i).map(drop)));
        if let Err(e) = outcome {
            assert_one_line_naming(&e, "damaged.pt");
        }
    }
}

//! Training data written by other tools (`tests/fixtures/data/make_data.py`: MNIST IDX files by
//! idx2numpy, gzipped by Python; CIFAR binary batches in the layout of the CIFAR pages) read by
//! our readers into the same arrays the writer held (`expected.json`).

use maskspec::train::data::{load, read_idx, Dataset, DatasetKind};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn data_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data").join(name)
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data_dir("expected.json")).unwrap()).unwrap()
}

fn bytes_of(value: &Value) -> Vec<u8> {
    match value {
        Value::Array(items) => items.iter().flat_map(bytes_of).collect(),
        Value::Number(n) => vec![u8::try_from(n.as_u64().unwrap()).unwrap()],
        other => panic!("not a byte array: {other}"),
    }
}

#[test]
fn idx_files_written_by_idx2numpy_read_back_exactly() {
    let expected = expected();
    for (part, suffix) in [("train", ".gz"), ("t10k", "")] {
        let want = &expected[format!("mnist/{part}")];
        let (dims, pixels) = read_idx(&data_dir(&format!("mnist/{part}-images-idx3-ubyte{suffix}")), 3).unwrap();
        let n = want["labels"].as_array().unwrap().len();
        assert_eq!(dims, [n, 28, 28], "{part}");
        assert_eq!(pixels, bytes_of(&want["images"]), "{part} images");
        let (dims, labels) = read_idx(&data_dir(&format!("mnist/{part}-labels-idx1-ubyte{suffix}")), 1).unwrap();
        assert_eq!((dims, labels), (vec![n], bytes_of(&want["labels"])), "{part} labels");
    }
}

/// Samples of `data` as raw bytes (undoing the /255 scaling exactly).
fn raw_pixels(data: &Dataset) -> Vec<u8> {
    data.x
        .iter()
        .map(|&v| {
            let b = (v * 255.0).round();
            assert_eq!(b / 255.0, v, "a pixel scaled by 1/255");
            b as u8
        })
        .collect()
}

#[test]
fn mnist_loads_as_the_writer_held_it() {
    let expected = expected();
    // No validation part, so the training part keeps every sample in file order.
    let split = load(DatasetKind::Mnist, Some(&data_dir("mnist")), 0.0, 0.0, 0).unwrap();
    for (part, data) in [("train", &split.train), ("t10k", &split.test)] {
        let want = &expected[format!("mnist/{part}")];
        assert_eq!((data.features, data.image, data.classes), (784, (1, 28, 28), 10));
        assert_eq!(raw_pixels(data), bytes_of(&want["images"]), "{part}");
        assert_eq!(data.y, bytes_of(&want["labels"]), "{part}");
    }
}

/// The records of `files` as the writer's HWC images would give them in our channel-major
/// order, and their labels.
fn cifar_expected(dir: &str, files: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let expected = expected();
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for file in files {
        let want = &expected[format!("{dir}/{file}")];
        for image in want["images_hwc"].as_array().unwrap() {
            let hwc = bytes_of(image);
            for c in 0..3 {
                for r in 0..32 {
                    for col in 0..32 {
                        pixels.push(hwc[(r * 32 + col) * 3 + c]);
                    }
                }
            }
        }
        labels.extend(bytes_of(&want["labels"]));
    }
    (pixels, labels)
}

#[test]
fn cifar_binary_batches_load_channel_major_in_file_order() {
    let split = load(DatasetKind::Cifar10, Some(&data_dir("cifar10")), 0.0, 0.0, 0).unwrap();
    let batches = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    let (pixels, labels) = cifar_expected("cifar10", &batches);
    assert_eq!((split.train.features, split.train.image, split.train.classes), (3072, (3, 32, 32), 10));
    assert_eq!(raw_pixels(&split.train), pixels);
    assert_eq!(split.train.y, labels);
    let (pixels, labels) = cifar_expected("cifar10", &["test_batch.bin"]);
    assert_eq!((raw_pixels(&split.test), split.test.y.clone()), (pixels, labels));

    let split = load(DatasetKind::Cifar100, Some(&data_dir("cifar100")), 0.0, 0.0, 0).unwrap();
    let (pixels, labels) = cifar_expected("cifar100", &["train.bin"]);
    assert_eq!(split.train.classes, 100);
    assert_eq!((raw_pixels(&split.train), split.train.y.clone()), (pixels, labels), "the fine label is the class");
    let (pixels, labels) = cifar_expected("cifar100", &["test.bin"]);
    assert_eq!((raw_pixels(&split.test), split.test.y.clone()), (pixels, labels));
}

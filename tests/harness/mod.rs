//! Every reader maskspec has, applied to one file the way the tool applies it. Shared by the
//! stable mutation test (`tests/mutations.rs`) and the cargo-fuzz targets (`fuzz/`, which
//! include this file by path), so both exercise exactly the same code. A reader passes when
//! it returns (`Ok` or a clean `Err`); a panic, a hang or a huge allocation is the failure.

#![allow(dead_code)] // each includer uses the readers it fuzzes

use maskspec::checkpoint::{self, LayerFilter};
use maskspec::metrics::{layer_metrics, MetricParams};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layers up to this many weights are also analyzed, so a reader's odd but accepted shapes
/// (empty dimensions, one row, all zeros) reach the graph and spectral code; bigger ones would
/// only slow the fuzzer down.
const ANALYZE_UP_TO: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Safetensors,
    Npy,
    Npz,
    Torch,
    /// IDX labels (rank 1) and images (rank 3); `.gz` names go through gzip.
    Idx,
    IdxGz,
    Cifar10,
    Cifar100,
    AccuracyCsv,
    Sidecar,
}

impl Reader {
    pub const ALL: [Reader; 10] = [
        Reader::Safetensors,
        Reader::Npy,
        Reader::Npz,
        Reader::Torch,
        Reader::Idx,
        Reader::IdxGz,
        Reader::Cifar10,
        Reader::Cifar100,
        Reader::AccuracyCsv,
        Reader::Sidecar,
    ];

    /// The name the bytes are written under: readers choose their format by name.
    pub fn file_name(self) -> &'static str {
        match self {
            Reader::Safetensors => "model.safetensors",
            Reader::Npy => "fc.weight.npy",
            Reader::Npz => "model.npz",
            Reader::Torch => "model.pt",
            Reader::Idx => "train-images-idx3-ubyte",
            Reader::IdxGz => "train-images-idx3-ubyte.gz",
            Reader::Cifar10 => "data_batch_1.bin",
            Reader::Cifar100 => "train.bin",
            Reader::AccuracyCsv => "accuracy.csv",
            Reader::Sidecar => "step_10.json",
        }
    }

    /// Runs the reader on `path`; `Err` carries the reader's one-line message.
    pub fn run(self, path: &Path) -> Result<(), String> {
        match self {
            Reader::Safetensors | Reader::Npy | Reader::Npz | Reader::Torch => read_checkpoint(path),
            Reader::Idx | Reader::IdxGz => {
                // The same bytes as labels and as images: each rank has its own header checks.
                let labels = maskspec::train::data::read_idx(path, 1).map(drop);
                let images = maskspec::train::data::read_idx(path, 3).map(drop);
                labels.or(images).map_err(|e| e.to_string())
            }
            Reader::Cifar10 => {
                maskspec::train::data::read_cifar(path, 1, 10, "cifar10").map(drop).map_err(|e| e.to_string())
            }
            Reader::Cifar100 => {
                maskspec::train::data::read_cifar(path, 2, 100, "cifar100").map(drop).map_err(|e| e.to_string())
            }
            Reader::AccuracyCsv => {
                let table = maskspec::provenance::AccuracyTable::read(path).map_err(|e| e.to_string())?;
                let dir = path.parent().unwrap_or(Path::new(""));
                table.lookup(&dir.join("a/step_1.pt"), dir);
                Ok(())
            }
            Reader::Sidecar => {
                // The sidecar of a checkpoint NAME.safetensors is NAME.json beside it.
                let checkpoint = path.with_extension("safetensors");
                let dir = path.parent().unwrap_or(Path::new(""));
                maskspec::provenance::describe(&checkpoint, dir, &BTreeMap::new(), None);
                Ok(())
            }
        }
    }

    /// Writes `bytes` as this reader's file in `dir` and runs the reader on it.
    pub fn run_bytes(self, dir: &Path, bytes: &[u8]) -> Result<(), String> {
        let path = dir.join(self.file_name());
        std::fs::write(&path, bytes).expect("the scratch directory is writable");
        self.run(&path)
    }
}

/// What `maskspec analyze` does with a checkpoint: open it, find its layers, read each, and
/// analyze the small ones.
pub fn read_checkpoint(path: &Path) -> Result<(), String> {
    let source = checkpoint::open(path).map_err(|e| e.to_string())?;
    let _ = source.metadata();
    let specs = checkpoint::discover_layers(source.as_ref(), &LayerFilter::default()).map_err(|e| e.to_string())?;
    let params = MetricParams::default();
    let mut first_error = None;
    for spec in &specs {
        match checkpoint::load_layer(source.as_ref(), spec) {
            Ok(layer) if layer.weight().len() <= ANALYZE_UP_TO => drop(layer_metrics(&layer, &params)),
            Ok(_) => {}
            Err(e) => first_error = first_error.or(Some(e.to_string())),
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// A scratch directory for one fuzzing process, in memory when /dev/shm exists.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() { base.to_path_buf() } else { std::env::temp_dir() };
    let dir = base.join(format!("maskspec-fuzz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

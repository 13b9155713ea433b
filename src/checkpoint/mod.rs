//! Checkpoint files → [`Layer`]s.
//!
//! Every reader (one file per format) opens a file as a [`TensorSource`]: the named tensors in
//! file order, their dtypes and shapes, read and converted on demand so that a multi-GB file
//! is never held in memory whole, plus the file's string metadata. [`discover_layers`] then
//! applies SPEC §1's mask discovery by name, the same for every format, and
//! [`load_layer`] materializes one layer at a time.

mod budget;
mod detect;
mod error;
mod layers;
mod names;
pub mod numpy;
mod paired;
pub mod safetensors;
mod sharded;
mod stamp;
pub mod torch;
mod values;
mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use detect::Format;
pub use error::CheckpointError;
pub use layers::{discover_layers, load_layer, read_layer, LayerFilter, LayerSpec, StoredLayer, WeightLayout};
pub use names::strip_wrappers;
pub use paired::{mask_companion, open_with_masks, weights_of_masks};
pub use sharded::{index_of_shard, is_index_name, open_sharded};
pub(crate) use values::map_values;
pub use values::TensorValues;
pub(crate) use view::with_slices;
pub use view::{LayerView, MaskElement, MaskValues, WeightElement, WeightValues};

/// Element types a checkpoint tensor may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::Bool | Dtype::U8 | Dtype::I8 => 1,
        }
    }
}

/// Name, type and shape of one tensor of a checkpoint, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Elements the shape holds; `usize::MAX` for a shape whose product overflows (no reader
    /// accepts one, and no buffer can match it).
    pub fn numel(&self) -> usize {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).unwrap_or(usize::MAX)
    }
}

/// What every reader produces. Implementations validate sizes against the file when they
/// open it, so `read` never allocates what a header merely claims.
pub trait TensorSource: Send + Sync {
    /// The file this came from (for error messages).
    fn path(&self) -> &Path;
    /// The tensors, in file order.
    fn tensors(&self) -> &[TensorInfo];
    /// Tensor `index` of [`tensors`](Self::tensors), row-major (C order), in the narrowest
    /// type that holds its values exactly.
    fn read(&self, index: usize) -> Result<TensorValues, CheckpointError>;
    /// [`read`](Self::read), converted to f64.
    fn read_f64(&self, index: usize) -> Result<Vec<f64>, CheckpointError> {
        self.read(index).map(TensorValues::into_f64)
    }
    /// String metadata: safetensors' header metadata, or a PyTorch checkpoint's scalar
    /// entries (`epoch`, `best_acc`, ...) as decimal strings. Empty when the format has none.
    fn metadata(&self) -> &BTreeMap<String, String>;
    /// An error ([`CheckpointError::Changed`]) if a file this reads from was rewritten,
    /// truncated or replaced since it was opened: what was read may be torn.
    fn unchanged(&self) -> Result<(), CheckpointError>;
}

/// One layer, as every reader delivers it: a weight of shape `[out, in]` or
/// `[out, in, kh, kw]` (row-major) and its 0/1 mask of the same shape. Built only through
/// [`Layer::new`], so every `Layer` has a valid shape, matching lengths and finite kept weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    name: String,
    shape: Vec<usize>,
    weight: Vec<f64>,
    mask: Vec<bool>,
}

/// Why [`Layer::new`] refused its parts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    #[error("shape {shape:?} is neither [out, in] nor [out, in, kh, kw]")]
    Rank { shape: Vec<usize> },
    #[error("holds {values} values but its shape {shape:?} says {expected}")]
    Length { values: usize, shape: Vec<usize>, expected: usize },
    #[error("mask holds {mask} values but its weight has {weight}; a mask must match its weight element for element")]
    MaskLength { mask: usize, weight: usize },
    #[error(
        "{count} of its weights are NaN or infinite; the run that wrote it diverged, analyze an earlier checkpoint"
    )]
    NonFinite { count: usize },
}

impl Layer {
    /// A layer of `weight` (row-major, of `shape`) and its `mask`; without a mask, every
    /// nonzero weight is an edge (SPEC §1). Weights off the mask may be anything; those it
    /// keeps must be finite.
    pub fn new(
        name: impl Into<String>,
        shape: Vec<usize>,
        weight: Vec<f64>,
        mask: Option<Vec<bool>>,
    ) -> Result<Layer, LayerError> {
        let name = name.into();
        LayerView::new(&name, &shape, WeightValues::F64(&weight), mask.as_deref().map(MaskValues::Bool))?;
        let mask = mask.unwrap_or_else(|| weight.iter().map(|&w| w != 0.0).collect());
        Ok(Layer { name, shape, weight, mask })
    }

    /// The tensor's name (with `weight_orig` reported as `weight`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `[out, in]` or `[out, in, kh, kw]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The effective weight, row-major (`weight_orig * weight_mask` under `torch.nn.utils.prune`).
    pub fn weight(&self) -> &[f64] {
        &self.weight
    }
    /// Which weights are edges of the graph.
    pub fn mask(&self) -> &[bool] {
        &self.mask
    }

    /// Rows of the biadjacency: output nodes.
    pub fn n_rows(&self) -> usize {
        self.shape[0]
    }
    /// Columns of the biadjacency: `in·kh·kw` input nodes.
    pub fn n_cols(&self) -> usize {
        self.shape[1..].iter().product()
    }
}

/// The format a file's name says it holds: how a file whose content is no known format is
/// read, so that a damaged `.safetensors` gets the safetensors reader's error.
fn format_by_name(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".safetensors") {
        Some(Format::Safetensors)
    } else if name.ends_with(".npz") {
        Some(Format::Npz)
    } else if name.ends_with(".npy") {
        Some(Format::Npy)
    } else if [".pt", ".pth", ".pth.tar"].iter().any(|ext| name.ends_with(ext)) {
        Some(Format::Torch)
    } else {
        None
    }
}

/// The format `path` holds: by content, else by name (see [`format_by_name`]).
pub fn format_of(path: &Path) -> Result<Option<Format>, CheckpointError> {
    let detected = Format::detect(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
    Ok(detected.or_else(|| format_by_name(path)))
}

/// Opens a checkpoint of any supported format, recognized by its content, with its tensors
/// named as users know them (wrapper prefixes taken off: [`strip_wrappers`]).
pub fn open(path: &Path) -> Result<Box<dyn TensorSource>, CheckpointError> {
    if is_index_name(path) {
        return open_sharded(path);
    }
    let source: Box<dyn TensorSource> = match format_of(path)? {
        Some(Format::Safetensors) => Box::new(safetensors::SafetensorsFile::open(path)?),
        Some(Format::Npz) => Box::new(numpy::NumpyFile::open_npz(path)?),
        Some(Format::Npy) => Box::new(numpy::NumpyFile::open_npy(path)?),
        Some(Format::Torch) => Box::new(torch::TorchFile::open(path)?),
        None => return Err(CheckpointError::UnknownFormat { path: path.to_path_buf() }),
    };
    names::user_names(source)
}

/// What [`find_checkpoints`] found: the checkpoint files, and the files of the directories it
/// walked that are none (listed so that a run can say what it left out).
#[derive(Debug, Default)]
pub struct Found {
    pub checkpoints: Vec<PathBuf>,
    pub skipped: Vec<PathBuf>,
    /// Directories under a walked one that could not be listed: the walk goes on past them.
    pub unreadable: Vec<CheckpointError>,
}

/// Checkpoint files under `paths`: files are taken as given, directories walked recursively
/// (regular files and links to them only) for files whose content is a checkpoint, or whose
/// name says so (a damaged one is then reported, not passed over). Sorted, so outputs diff
/// cleanly.
pub fn find_checkpoints(paths: &[PathBuf]) -> Result<Found, CheckpointError> {
    let mut found = Found::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| CheckpointError::Io { path: path.clone(), source })?;
        if meta.is_dir() {
            // The directory the user named must be readable; one found inside it is reported
            // and passed over.
            std::fs::read_dir(path).map_err(|source| CheckpointError::Io { path: path.clone(), source })?;
            walk(path, &mut found);
        } else if meta.is_file() {
            // A file of masks named for its weights is read with them, a shard through the
            // index that lists it.
            let model = weights_of_masks(path).or_else(|| index_of_shard(path));
            found.checkpoints.push(model.unwrap_or_else(|| path.clone()));
        } else {
            // Opening a FIFO would block until some writer came; a device could be endless.
            return Err(CheckpointError::Refused {
                path: path.clone(),
                reason: "is not a regular file (a FIFO, socket or device); pass checkpoint files or directories".into(),
            });
        }
    }
    for list in [&mut found.checkpoints, &mut found.skipped] {
        list.sort();
        list.dedup();
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Found) {
    let listed = std::fs::read_dir(dir).and_then(|entries| {
        entries.map(|entry| entry.and_then(|e| Ok((e.path(), e.file_type()?)))).collect::<std::io::Result<Vec<_>>>()
    });
    let entries = match listed {
        Ok(entries) => entries,
        Err(source) => {
            found.unreadable.push(CheckpointError::UnreadableDirectory { path: dir.to_path_buf(), source });
            return;
        }
    };
    // Shards are read through their index, as one model.
    let paths: Vec<PathBuf> = entries.iter().map(|(p, _)| p.clone()).collect();
    let shards = sharded::listed_shards(&paths);
    for (path, kind) in entries {
        if kind.is_dir() {
            walk(&path, found);
            continue;
        }
        // A link to a file is read; one to a directory is not followed (no cycles), and a
        // broken or looping one is listed so its error is reported. FIFOs, sockets and devices
        // are passed over unopened: opening a FIFO would block until a writer came.
        let is_file = kind.is_file() || (kind.is_symlink() && std::fs::metadata(&path).map_or(true, |t| t.is_file()));
        // Masks read with their weights and shards read through their index are no
        // checkpoints of their own.
        if !is_file || weights_of_masks(&path).is_some() || shards.contains(&path) {
            continue;
        }
        // A file being written (or left by a killed writer) is passed over whatever it holds.
        let checkpoint = !crate::atomic::is_temporary(&path)
            && (is_index_name(&path)
                || format_by_name(&path).is_some()
                || Format::detect(&path).map_or(true, |f| f.is_some()));
        if checkpoint {
            found.checkpoints.push(path);
        } else {
            found.skipped.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Layer, LayerError};

    #[test]
    fn a_layer_is_checked_when_built() {
        let layer = Layer::new("w", vec![2, 3], vec![0.0, 1.0, 2.0, 0.0, 0.0, -1.0], None).unwrap();
        assert_eq!(layer.mask(), [false, true, true, false, false, true]);
        assert_eq!((layer.n_rows(), layer.n_cols()), (2, 3));
        let conv = Layer::new("c", vec![2, 1, 2, 2], vec![1.0; 8], Some(vec![true; 8])).unwrap();
        assert_eq!(conv.n_cols(), 4);
        assert_eq!(Layer::new("b", vec![6], vec![1.0; 6], None), Err(LayerError::Rank { shape: vec![6] }));
        assert_eq!(
            Layer::new("w", vec![2, 3], vec![1.0; 5], None),
            Err(LayerError::Length { values: 5, shape: vec![2, 3], expected: 6 })
        );
        assert_eq!(
            Layer::new("w", vec![2, 3], vec![1.0; 6], Some(vec![true; 4])),
            Err(LayerError::MaskLength { mask: 4, weight: 6 })
        );
        let nan_kept = Layer::new("w", vec![1, 2], vec![f64::NAN, 1.0], Some(vec![true, true]));
        assert_eq!(nan_kept, Err(LayerError::NonFinite { count: 1 }));
        // A NaN the mask drops is no edge and does no harm.
        assert!(Layer::new("w", vec![1, 2], vec![f64::NAN, 1.0], Some(vec![false, true])).is_ok());
    }
}

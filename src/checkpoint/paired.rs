//! Masks saved in a file of their own: one checkpoint of weights, one of masks with the same
//! tensor names, read as one checkpoint whose masks are `NAME_mask` (SPEC §1).

use super::{open, CheckpointError, TensorInfo, TensorSource, TensorValues};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The file of masks that belongs to the weights in `path`, by name, if it exists:
/// `X.masks.EXT` beside `X.EXT`, and `masks.EXT` beside `weights.EXT`.
pub fn mask_companion(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let (stem, ext) = name.split_once('.')?;
    if stem.is_empty() || ext.starts_with("masks.") {
        return None;
    }
    let companion = if stem == "weights" { format!("masks.{ext}") } else { format!("{stem}.masks.{ext}") };
    let companion = path.with_file_name(companion);
    companion.is_file().then_some(companion)
}

/// The weights beside `path` whose mask file it is, if any (then it is read with them, not on
/// its own): the inverse of [`mask_companion`].
pub fn weights_of_masks(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let weights = match name.strip_prefix("masks.") {
        Some(ext) => format!("weights.{ext}"),
        None => {
            let (stem, ext) = name.split_once(".masks.")?;
            format!("{stem}.{ext}")
        }
    };
    let weights = path.with_file_name(weights);
    weights.is_file().then_some(weights)
}

/// A checkpoint of weights and the checkpoint of their masks, as one source: the weights'
/// tensors, then each mask as `NAME_mask`.
struct Paired {
    weights: Box<dyn TensorSource>,
    masks: Box<dyn TensorSource>,
    tensors: Vec<TensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl TensorSource for Paired {
    fn path(&self) -> &Path {
        self.weights.path()
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read(&self, index: usize) -> Result<TensorValues, CheckpointError> {
        let n = self.weights.tensors().len();
        if index < n {
            self.weights.read(index)
        } else {
            self.masks.read(index - n)
        }
    }
    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
    fn unchanged(&self) -> Result<(), CheckpointError> {
        self.weights.unchanged().and(self.masks.unchanged())
    }
}

/// Opens the weights at `weights` with the masks at `masks`. A mask without a weight of its
/// name is an error: the files do not belong together.
pub fn open_with_masks(weights: &Path, masks: &Path) -> Result<Box<dyn TensorSource>, CheckpointError> {
    let (weights, masks) = (open(weights)?, open(masks)?);
    let names: HashSet<&str> = weights.tensors().iter().map(|t| t.name.as_str()).collect();
    let mut tensors = weights.tensors().to_vec();
    for t in masks.tensors() {
        if !names.contains(t.name.as_str()) {
            return Err(CheckpointError::tensor(
                masks.path(),
                &t.name,
                format!(
                    "is a mask with no weight of that name in {}; a mask file must use its weights' tensor names",
                    weights.path().display()
                ),
            ));
        }
        tensors.push(TensorInfo { name: format!("{}_mask", t.name), ..t.clone() });
    }
    let mut metadata = weights.metadata().clone();
    metadata.insert("masks_file".into(), masks.path().display().to_string());
    Ok(Box::new(Paired { weights, masks, tensors, metadata }))
}

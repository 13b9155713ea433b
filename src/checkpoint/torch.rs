//! PyTorch `.pt` / `.pth` / `.pth.tar` (issue 4). Until that reader lands, such files are
//! refused with a clear message rather than misread.

use super::{CheckpointError, TensorInfo, TensorSource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct TorchFile {
    path: PathBuf,
    tensors: Vec<TensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl TorchFile {
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        Err(CheckpointError::malformed(
            path,
            "PyTorch",
            "PyTorch checkpoints are not read yet; convert with safetensors.torch.save_file",
        ))
    }
}

impl TensorSource for TorchFile {
    fn path(&self) -> &Path {
        &self.path
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, _index: usize) -> Result<Vec<f64>, CheckpointError> {
        unreachable!("a TorchFile is never constructed before the PyTorch reader exists")
    }
    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

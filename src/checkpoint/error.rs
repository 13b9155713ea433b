use std::path::PathBuf;

/// Why a checkpoint (or one tensor of it) could not be read. Every message is one line that
/// names the file, the tensor where there is one, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{}: cannot list this directory ({source}); the checkpoints in it are left out", path.display())]
    UnreadableDirectory { path: PathBuf, source: std::io::Error },

    #[error("{}: not a checkpoint maskspec reads: by its content it is neither safetensors, NumPy (.npy, .npz) nor what torch.save writes", path.display())]
    UnknownFormat { path: PathBuf },

    #[error("{}: not a valid {format} file ({reason}); is it truncated or of another format?", path.display())]
    Malformed { path: PathBuf, format: &'static str, reason: String },

    #[error("{}: tensor '{tensor}': {reason}", path.display())]
    Tensor { path: PathBuf, tensor: String, reason: String },

    #[error("{}: no 2-D or 4-D weight tensors to analyze (check --include/--exclude, or that this is a model checkpoint)", path.display())]
    NoLayers { path: PathBuf },

    #[error("{}: changed while it was read (its size, time or identity differ from when it was opened); analyze it again once whatever writes it has finished", path.display())]
    Changed { path: PathBuf },

    /// A well-formed file maskspec will not read (a PyTorch pickle naming code to run, a
    /// container it does not support); `reason` says why and what to do instead.
    #[error("{}: {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
}

impl CheckpointError {
    pub fn malformed(path: &std::path::Path, format: &'static str, reason: impl Into<String>) -> Self {
        CheckpointError::Malformed { path: path.to_path_buf(), format, reason: reason.into() }
    }

    pub fn tensor(path: &std::path::Path, tensor: &str, reason: impl Into<String>) -> Self {
        CheckpointError::Tensor { path: path.to_path_buf(), tensor: tensor.to_string(), reason: reason.into() }
    }
}

//! What a reader may lay out from data the file does not hold byte for byte: a view that
//! repeats its storage (stride 0), a compressed entry, a sparse tensor made dense. Their size
//! is a claim, so it is bounded before anything is allocated; and the buffers they need are
//! reserved fallibly, so memory running out is an error naming the tensor, never an abort.
//! A tensor the file does hold byte for byte is bounded by the file itself.

use super::CheckpointError;
use std::path::Path;

/// Most elements laid out from data the file does not hold: 2^28 is a 16384 x 16384 layer,
/// far above the masks maskspec analyzes, and 2 GiB as f64.
pub const MAX_EXPANDED_ELEMENTS: usize = 1 << 28;

/// Refuses a tensor of `numel` elements needing `bytes` bytes once laid out, when that is more
/// than the file's `file_len` bytes could hold and more than [`MAX_EXPANDED_ELEMENTS`].
pub fn check_expansion(
    path: &Path,
    tensor: &str,
    numel: usize,
    bytes: u64,
    file_len: u64,
) -> Result<(), CheckpointError> {
    if bytes <= file_len || numel <= MAX_EXPANDED_ELEMENTS {
        return Ok(());
    }
    Err(CheckpointError::tensor(
        path,
        tensor,
        format!(
            "lays out {numel} elements from a {file_len}-byte file (a view that repeats its storage, or compressed \
             data); maskspec lays out at most {MAX_EXPANDED_ELEMENTS} elements that the file does not hold"
        ),
    ))
}

/// An empty vector with room for `n` values, or an error if memory runs out.
pub fn reserve<T>(path: &Path, tensor: &str, n: usize) -> Result<Vec<T>, CheckpointError> {
    let mut values = Vec::new();
    values.try_reserve_exact(n).map_err(|_| {
        CheckpointError::tensor(
            path,
            tensor,
            format!("needs {n} values in memory, more than this machine could give; read it where there is more"),
        )
    })?;
    Ok(values)
}

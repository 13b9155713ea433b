//! torch sparse tensors (`to_sparse()` COO, `to_sparse_csr()`, `to_sparse_csc()`), laid out
//! dense: a layer is a dense weight and its mask, and a sparse tensor is both at once. Its
//! values become the weight (zero where nothing is stored) and its pattern, every stored
//! entry whatever its value, the mask.

use super::super::budget::{self, MAX_EXPANDED_ELEMENTS};
use super::super::{CheckpointError, Dtype};
use super::read_values;
use pytorch_reader::{SparseLayout, SparseTensor};
use std::path::Path;

/// The dense shape's element count, refused beyond [`MAX_EXPANDED_ELEMENTS`]: a dense size is
/// a claim the file does not back with bytes.
pub fn dense_len(path: &Path, sparse: &SparseTensor) -> Result<usize, CheckpointError> {
    let numel = sparse.size.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    match numel {
        Some(n) if n <= MAX_EXPANDED_ELEMENTS => Ok(n),
        _ => Err(CheckpointError::tensor(
            path,
            &sparse.name,
            format!(
                "is a sparse tensor of dense shape {:?}, more than the {MAX_EXPANDED_ELEMENTS} elements maskspec lays out",
                sparse.size
            ),
        )),
    }
}

/// The sparse tensor in C order: its values summed where an index repeats (as `coalesce()`
/// does) when `pattern` is false, else 1 at every stored entry.
pub fn densify(
    path: &Path,
    sparse: &SparseTensor,
    values_dtype: Dtype,
    pattern: bool,
) -> Result<Vec<f64>, CheckpointError> {
    let bad = |what: String| CheckpointError::tensor(path, &sparse.name, format!("is a sparse tensor whose {what}"));
    let len = dense_len(path, sparse)?;
    let mut dense = budget::reserve(path, &sparse.name, len)?;
    dense.resize(len, 0.0);

    let values = if pattern { Vec::new() } else { read_values(path, &sparse.values, values_dtype)?.into_f64() };
    let indices: Vec<Vec<i64>> =
        sparse.indices.iter().map(|t| read_indices(path, &sparse.name, t)).collect::<Result<_, _>>()?;
    let nnz = sparse.values.shape()[0];
    let mut place = |k: usize, flat: usize| {
        if pattern {
            dense[flat] = 1.0;
        } else {
            dense[flat] += values[k];
        }
    };
    let in_range = |i: i64, extent: usize| usize::try_from(i).ok().filter(|&i| i < extent);

    match sparse.layout {
        SparseLayout::Coo => {
            let coords = &indices[0];
            let ndim = sparse.size.len();
            if coords.len() != ndim * nnz {
                return Err(bad(format!(
                    "indices hold {} entries for {nnz} values of {ndim} dimensions",
                    coords.len()
                )));
            }
            for k in 0..nnz {
                let mut flat = 0usize;
                for (d, &extent) in sparse.size.iter().enumerate() {
                    let i = coords[d * nnz + k];
                    let i = in_range(i, extent).ok_or_else(|| {
                        bad(format!("index {i} in dimension {d} is outside its size {:?}", sparse.size))
                    })?;
                    flat = flat * extent + i;
                }
                place(k, flat);
            }
        }
        SparseLayout::Csr | SparseLayout::Csc => {
            let (outer, inner) = match sparse.layout {
                SparseLayout::Csr => (sparse.size[0], sparse.size[1]),
                _ => (sparse.size[1], sparse.size[0]),
            };
            let (pointers, plain) = (&indices[0], &indices[1]);
            let ends_right = pointers.first() == Some(&0) && pointers.last() == Some(&(nnz as i64));
            if pointers.len() != outer + 1
                || plain.len() != nnz
                || !ends_right
                || pointers.windows(2).any(|w| w[0] > w[1])
            {
                return Err(bad(format!(
                    "compressed indices ({} of them, for {outer} rows and {nnz} values) are not a valid CSR/CSC index",
                    pointers.len()
                )));
            }
            for (o, bounds) in pointers.windows(2).enumerate() {
                let (start, end) = (bounds[0] as usize, bounds[1] as usize);
                for (k, &i) in plain.iter().enumerate().take(end).skip(start) {
                    let i = in_range(i, inner)
                        .ok_or_else(|| bad(format!("index {i} is outside its size {:?}", sparse.size)))?;
                    let flat = if sparse.layout == SparseLayout::Csr { o * inner + i } else { i * outer + o };
                    place(k, flat);
                }
            }
        }
    }
    Ok(dense)
}

/// An index tensor, which torch writes as int64 (int32 when asked for).
fn read_indices(path: &Path, name: &str, tensor: &pytorch_reader::Tensor) -> Result<Vec<i64>, CheckpointError> {
    let bytes = tensor.read().map_err(|e| {
        CheckpointError::tensor(path, name, format!("cannot read its indices ({e}); the file is truncated or corrupt"))
    })?;
    match tensor.dtype() {
        pytorch_reader::DType::I64 => {
            Ok(bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect())
        }
        pytorch_reader::DType::I32 => {
            Ok(bytes.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap()))).collect())
        }
        other => Err(CheckpointError::tensor(
            path,
            name,
            format!("is a sparse tensor with {other:?} indices; torch writes int64 or int32"),
        )),
    }
}

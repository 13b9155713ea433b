//! NumPy `.npy` (one array; the layer is named after the file) and `.npz` (a zip of `.npy`
//! entries, stored or deflated, as `np.savez` / `np.savez_compressed` write them).
//! Only each array's header is read when the file is opened; its data when a layer needs it.

use super::{CheckpointError, Dtype, TensorInfo, TensorSource};
use npyz::{DType, Endianness, NpyFile, Order, TypeChar};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// How an array's bytes are laid out, from its `.npy` header.
#[derive(Debug, Clone)]
struct Layout {
    big_endian: bool,
    fortran: bool,
    /// Byte length of the `.npy` header inside its entry.
    header_len: usize,
}

pub struct NumpyFile {
    path: PathBuf,
    /// `None` for a bare `.npy`; the entry names of a `.npz` otherwise.
    entries: Option<Vec<String>>,
    tensors: Vec<TensorInfo>,
    layouts: Vec<Layout>,
    metadata: BTreeMap<String, String>,
}

fn format_name(npz: bool) -> &'static str {
    if npz {
        "npz"
    } else {
        "npy"
    }
}

/// Parses one `.npy` header from `reader` (which holds `total_len` bytes in all) and checks
/// that the data that follows has exactly the size the header claims.
fn read_header(
    path: &Path,
    npz: bool,
    name: &str,
    reader: impl Read,
    total_len: u64,
) -> Result<(TensorInfo, Layout), CheckpointError> {
    let malformed =
        |reason: String| CheckpointError::malformed(path, format_name(npz), format!("array '{name}': {reason}"));
    let mut counting = CountingReader { inner: reader, count: 0 };
    let npy = NpyFile::new(&mut counting).map_err(|e| malformed(e.to_string()))?;
    let unsupported = || {
        CheckpointError::tensor(
            path,
            name,
            format!(
                "has NumPy dtype {:?}, which is not a plain bool/int/float; save it as float32 or float64",
                npy.dtype()
            ),
        )
    };
    let DType::Plain(ts) = npy.dtype() else { return Err(unsupported()) };
    let dtype = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 8) => Dtype::F64,
        (TypeChar::Float, 4) => Dtype::F32,
        (TypeChar::Float, 2) => Dtype::F16,
        (TypeChar::Bool, 1) => Dtype::Bool,
        (TypeChar::Uint, 1) => Dtype::U8,
        (TypeChar::Int, 1) => Dtype::I8,
        (TypeChar::Int, 2) => Dtype::I16,
        (TypeChar::Int, 4) => Dtype::I32,
        (TypeChar::Int, 8) => Dtype::I64,
        _ => return Err(unsupported()),
    };
    let shape = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| malformed(format!("dimension {d} too large"))))
        .collect::<Result<Vec<_>, _>>()?;
    let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let data_len = numel
        .and_then(|n| n.checked_mul(dtype.size()))
        .ok_or_else(|| malformed(format!("shape {shape:?} overflows")))?;
    let layout = Layout {
        big_endian: ts.endianness() == Endianness::Big,
        fortran: npy.order() == Order::Fortran,
        header_len: counting.count,
    };
    if (layout.header_len as u64).checked_add(data_len as u64) != Some(total_len) {
        return Err(malformed(format!(
            "header claims shape {shape:?} ({data_len} bytes) but {} bytes follow it; the file is truncated or corrupt",
            total_len.saturating_sub(layout.header_len as u64)
        )));
    }
    Ok((TensorInfo { name: name.to_string(), dtype, shape }, layout))
}

/// Counts the bytes the header parser consumed, to find where the data starts.
struct CountingReader<R> {
    inner: R,
    count: usize,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n;
        Ok(n)
    }
}

impl NumpyFile {
    pub fn open_npy(path: &Path) -> Result<Self, CheckpointError> {
        let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        // Unbuffered on purpose: the header parser must not read past the header.
        let (info, layout) = read_header(path, false, &name, file, len)?;
        Ok(NumpyFile {
            path: path.to_path_buf(),
            entries: None,
            tensors: vec![info],
            layouts: vec![layout],
            metadata: BTreeMap::new(),
        })
    }

    pub fn open_npz(path: &Path) -> Result<Self, CheckpointError> {
        let mut archive = open_archive(path)?;
        let mut entries = Vec::new();
        let mut tensors = Vec::new();
        let mut layouts = Vec::new();
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(|e| CheckpointError::malformed(path, "npz", e.to_string()))?;
            if entry.is_dir() {
                continue;
            }
            let entry_name = entry.name().to_string();
            let name = entry_name.strip_suffix(".npy").unwrap_or(&entry_name).to_string();
            let size = entry.size();
            let (info, layout) = read_header(path, true, &name, entry, size)?;
            entries.push(entry_name);
            tensors.push(info);
            layouts.push(layout);
        }
        Ok(NumpyFile { path: path.to_path_buf(), entries: Some(entries), tensors, layouts, metadata: BTreeMap::new() })
    }
}

fn open_archive(path: &Path) -> Result<zip::ZipArchive<BufReader<File>>, CheckpointError> {
    let file = File::open(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| CheckpointError::malformed(path, "npz", e.to_string()))
}

impl TensorSource for NumpyFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn read_f64(&self, index: usize) -> Result<Vec<f64>, CheckpointError> {
        let info = &self.tensors[index];
        let layout = &self.layouts[index];
        let read_err =
            |e: std::io::Error| CheckpointError::tensor(&self.path, &info.name, format!("cannot read its data: {e}"));
        let bytes = match &self.entries {
            None => std::fs::read(&self.path).map_err(read_err)?,
            Some(entries) => {
                let mut archive = open_archive(&self.path)?;
                let mut entry = archive
                    .by_name(&entries[index])
                    .map_err(|e| CheckpointError::malformed(&self.path, "npz", e.to_string()))?;
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut bytes).map_err(read_err)?;
                bytes
            }
        };
        let mut data =
            bytes.get(layout.header_len..).ok_or_else(|| read_err(std::io::ErrorKind::UnexpectedEof.into()))?.to_vec();
        if layout.big_endian {
            for element in data.chunks_exact_mut(info.dtype.size()) {
                element.reverse();
            }
        }
        let mut values = Vec::new();
        info.dtype.decode_le(&data, &mut values);
        if layout.fortran && info.shape.len() > 1 {
            values = fortran_to_c(&values, &info.shape);
        }
        Ok(values)
    }

    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

/// Reorders a column-major (Fortran) array into row-major (C) order.
fn fortran_to_c(values: &[f64], shape: &[usize]) -> Vec<f64> {
    let rank = shape.len();
    let mut f_strides = vec![1usize; rank];
    for d in 1..rank {
        f_strides[d] = f_strides[d - 1] * shape[d - 1];
    }
    let mut out = Vec::with_capacity(values.len());
    let mut index = vec![0usize; rank];
    for _ in 0..values.len() {
        out.push(values[index.iter().zip(&f_strides).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..rank).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fortran_to_c;

    #[test]
    fn fortran_order_becomes_row_major() {
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        assert_eq!(fortran_to_c(&[1., 4., 2., 5., 3., 6.], &[2, 3]), vec![1., 2., 3., 4., 5., 6.]);
    }
}

//! `.safetensors`: memory-mapped, so a multi-GB file is never read into RAM whole; a layer's
//! bytes are decoded when that layer is analyzed. Also the writer the trainer uses.

use super::{CheckpointError, Dtype, TensorInfo, TensorSource};
use memmap2::Mmap;
use safetensors::tensor::{Metadata, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

const FORMAT: &str = "safetensors";

pub struct SafetensorsFile {
    path: PathBuf,
    map: Mmap,
    /// Byte offset of the data section (8-byte length + JSON header).
    data_start: usize,
    /// Per tensor, in file (offset) order: its info and its byte range within the data section.
    tensors: Vec<TensorInfo>,
    ranges: Vec<(usize, usize)>,
    metadata: BTreeMap<String, String>,
}

fn dtype_of(dtype: safetensors::Dtype) -> Option<Dtype> {
    use safetensors::Dtype as S;
    Some(match dtype {
        S::F64 => Dtype::F64,
        S::F32 => Dtype::F32,
        S::F16 => Dtype::F16,
        S::BF16 => Dtype::BF16,
        S::BOOL => Dtype::Bool,
        S::U8 => Dtype::U8,
        S::I8 => Dtype::I8,
        S::I16 => Dtype::I16,
        S::I32 => Dtype::I32,
        S::I64 => Dtype::I64,
        _ => return None,
    })
}

impl SafetensorsFile {
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; a file truncated under us by another process could
        // fault, which is the documented hazard of every memory-mapped reader.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        // read_metadata checks every offset against the file's length before we touch data.
        let (header_len, meta): (usize, Metadata) =
            SafeTensors::read_metadata(&map).map_err(|e| CheckpointError::malformed(path, FORMAT, e.to_string()))?;
        let mut entries: Vec<(String, TensorInfo, (usize, usize))> = Vec::new();
        for (name, info) in meta.tensors() {
            // Types we cannot decode (fp8, complex, ...) are listed with a placeholder and
            // refused only if a layer needs them.
            let dtype = dtype_of(info.dtype);
            let tinfo = TensorInfo { name: name.clone(), dtype: dtype.unwrap_or(Dtype::U8), shape: info.shape.clone() };
            let range = if dtype.is_some() { info.data_offsets } else { (usize::MAX, usize::MAX) };
            entries.push((name, tinfo, range));
        }
        entries.sort_by_key(|(name, _, range)| (range.0, name.clone()));
        let metadata = meta.metadata().clone().unwrap_or_default().into_iter().collect();
        let (tensors, ranges) = entries.into_iter().map(|(_, t, r)| (t, r)).unzip();
        Ok(SafetensorsFile { path: path.to_path_buf(), map, data_start: 8 + header_len, tensors, ranges, metadata })
    }
}

impl TensorSource for SafetensorsFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn read_f64(&self, index: usize) -> Result<Vec<f64>, CheckpointError> {
        let (start, end) = self.ranges[index];
        let info = &self.tensors[index];
        if start == usize::MAX {
            return Err(CheckpointError::tensor(
                &self.path,
                &info.name,
                "has a dtype maskspec does not read (it reads f64/f32/f16/bf16/bool/u8/i8/i16/i32/i64); convert the checkpoint",
            ));
        }
        let bytes = &self.map[self.data_start + start..self.data_start + end];
        let mut out = Vec::new();
        info.dtype.decode_le(bytes, &mut out);
        Ok(out)
    }

    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

/// A tensor to write: little-endian bytes of `dtype` in row-major order.
#[derive(Debug, Clone)]
pub struct TensorBytes {
    pub dtype: safetensors::Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl TensorBytes {
    pub fn f32(shape: Vec<usize>, values: &[f32]) -> Self {
        TensorBytes {
            dtype: safetensors::Dtype::F32,
            shape,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    pub fn f64(shape: Vec<usize>, values: &[f64]) -> Self {
        TensorBytes {
            dtype: safetensors::Dtype::F64,
            shape,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// A 0/1 mask as u8, as SPEC §6 writes `NAME_mask`.
    pub fn mask_u8(shape: Vec<usize>, mask: &[bool]) -> Self {
        TensorBytes { dtype: safetensors::Dtype::U8, shape, data: mask.iter().map(|&m| m as u8).collect() }
    }
}

/// Writes a `.safetensors` checkpoint atomically (temporary name, then rename), with
/// `metadata` as safetensors' string-to-string header map (SPEC §6).
pub fn write(
    path: &Path,
    tensors: &[(String, TensorBytes)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let views = tensors
        .iter()
        .map(|(name, t)| {
            TensorView::new(t.dtype, t.shape.clone(), &t.data)
                .map(|v| (name.as_str(), v))
                .map_err(|e| CheckpointError::tensor(path, name, format!("cannot be written: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| CheckpointError::malformed(path, FORMAT, e.to_string()))?;
    crate::atomic::write(path, &bytes).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })
}

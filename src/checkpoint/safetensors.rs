//! `.safetensors`: the header is read at open, and a layer's bytes with one positioned read
//! when that layer is analyzed, so a multi-GB file is never in RAM whole. Not memory-mapped:
//! a mapped file truncated by another process kills the reader with SIGBUS, a read returns
//! an error. Also the writer the trainer uses.

use super::stamp::{self, FileStamp};
use super::{CheckpointError, Dtype, TensorInfo, TensorSource, TensorValues};
use safetensors::tensor::Metadata;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

const FORMAT: &str = "safetensors";

/// The largest header the safetensors crate itself accepts.
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Bytes read per call when decoding a tensor: a multiple of every element size.
const READ_CHUNK_BYTES: usize = 1 << 20;

pub struct SafetensorsFile {
    path: PathBuf,
    file: File,
    stamp: FileStamp,
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
        stamp::open_with(path, Self::open_stamped)
    }

    fn open_stamped(path: &Path, stamp: FileStamp) -> Result<Self, CheckpointError> {
        let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
        let malformed = |reason: String| CheckpointError::malformed(path, FORMAT, reason);
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut prefix = [0u8; 8];
        read_exact_at(&file, &mut prefix, 0)
            .map_err(|_| malformed(format!("it is {file_len} bytes, shorter than the 8-byte header length")))?;
        let header_len = u64::from_le_bytes(prefix);
        if header_len > MAX_HEADER_BYTES || 8 + header_len > file_len {
            return Err(malformed(format!(
                "its header claims {header_len} bytes; the file has {file_len} and the format allows {MAX_HEADER_BYTES}"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        read_exact_at(&file, &mut header, 8).map_err(io)?;
        // Deserializing checks that the offsets are contiguous and agree with shapes and
        // dtypes; the data they describe must then fill the file exactly.
        let meta: Metadata = serde_json::from_slice(&header).map_err(|e| malformed(e.to_string()))?;
        let data_len = meta.tensors().values().map(|info| info.data_offsets.1 as u64).max().unwrap_or(0);
        if 8 + header_len + data_len != file_len {
            return Err(malformed(format!(
                "its header describes {data_len} bytes of data but {} follow it",
                file_len - 8 - header_len
            )));
        }
        let header_len = header_len as usize;
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
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            file,
            stamp,
            data_start: 8 + header_len,
            tensors,
            ranges,
            metadata,
        })
    }
}

impl TensorSource for SafetensorsFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn read(&self, index: usize) -> Result<TensorValues, CheckpointError> {
        let (start, end) = self.ranges[index];
        let info = &self.tensors[index];
        if start == usize::MAX {
            return Err(CheckpointError::tensor(
                &self.path,
                &info.name,
                "has a dtype maskspec does not read (it reads f64/f32/f16/bf16/bool/u8/i8/i16/i32/i64); convert the checkpoint",
            ));
        }
        let cannot_read =
            |e: std::io::Error| CheckpointError::tensor(&self.path, &info.name, format!("cannot read: {e}"));
        let mut out = TensorValues::reserve(&self.path, &info.name, info.dtype, (end - start) / info.dtype.size())?;
        // Decoded a chunk at a time: the decoded copy is the only full-size buffer.
        let mut chunk = vec![0u8; READ_CHUNK_BYTES.min(end - start)];
        let mut at = start;
        while at < end {
            let bytes = &mut chunk[..READ_CHUNK_BYTES.min(end - at)];
            read_exact_at(&self.file, bytes, (self.data_start + at) as u64)
                .map_err(|e| self.stamp.explain(cannot_read(e)))?;
            info.dtype.decode_le(bytes, &mut out);
            at += bytes.len();
        }
        Ok(out)
    }

    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    fn unchanged(&self) -> Result<(), CheckpointError> {
        self.stamp.unchanged()
    }
}

/// Fills `buf` from `offset` without moving a cursor, so layers can be read in parallel.
#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
///
/// The header is written here rather than by `safetensors::serialize`, which orders tensors
/// by dtype and takes its metadata from a `HashMap`: here tensors keep the caller's (model)
/// order and metadata keys are sorted, so the same checkpoint is the same bytes every time.
pub fn write(
    path: &Path,
    tensors: &[(String, TensorBytes)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata).expect("strings serialize"));
    }
    let mut offset = 0usize;
    for (name, t) in tensors {
        let expected = t.shape.iter().product::<usize>() * t.dtype.bitsize() / 8;
        if expected != t.data.len() || name == "__metadata__" || header.contains_key(name) {
            let reason = format!(
                "cannot be written: shape {:?} of {:?} needs {expected} bytes, got {}, or the name is taken",
                t.shape,
                t.dtype,
                t.data.len()
            );
            return Err(CheckpointError::tensor(path, name, reason));
        }
        let entry =
            serde_json::json!({ "dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.data.len()] });
        header.insert(name.clone(), entry);
        offset += t.data.len();
    }
    let mut header = serde_json::to_vec(&header).expect("JSON of plain data");
    // The format pads the header with spaces so the data starts 8-byte aligned.
    header.resize(header.len().next_multiple_of(8), b' ');
    crate::atomic::write_with(path, |w| {
        use std::io::Write;
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        tensors.iter().try_for_each(|(_, t)| w.write_all(&t.data))
    })
    .map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{discover_layers, load_layer, LayerFilter};

    fn sample() -> (Vec<(String, TensorBytes)>, BTreeMap<String, String>) {
        let tensors = vec![
            ("fc2.weight".to_string(), TensorBytes::f32(vec![2, 3], &[1.0, 0.0, -2.5, 0.0, 3.0, 4.0])),
            ("fc2.weight_mask".to_string(), TensorBytes::mask_u8(vec![2, 3], &[true, false, true, false, true, true])),
            ("fc10.weight".to_string(), TensorBytes::f64(vec![1, 2], &[0.5, -0.25])),
        ];
        let metadata = [("step", "10"), ("run", "r"), ("test_acc", "0.5")].map(|(k, v)| (k.into(), v.into())).into();
        (tensors, metadata)
    }

    #[test]
    fn written_files_read_back_in_model_order_with_their_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let (tensors, metadata) = sample();
        write(&path, &tensors, &metadata).unwrap();
        let file = SafetensorsFile::open(&path).unwrap();
        let names: Vec<&str> = file.tensors().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["fc2.weight", "fc2.weight_mask", "fc10.weight"]);
        assert_eq!(file.metadata(), &metadata);
        let specs = discover_layers(&file, &LayerFilter::default()).unwrap();
        let layer = load_layer(&file, &specs[0]).unwrap();
        assert_eq!(layer.weight, [1.0, 0.0, -2.5, 0.0, 3.0, 4.0]);
        assert_eq!(layer.mask, [true, false, true, false, true, true]);
        assert_eq!(file.read_f64(2).unwrap(), [0.5, -0.25]);
    }

    #[test]
    fn layers_are_read_in_their_stored_precision_with_the_numbers_of_the_owned_layer() {
        use crate::checkpoint::{read_layer, MaskValues, WeightValues};
        use crate::metrics::{layer_metrics, MetricParams};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let (tensors, metadata) = sample();
        write(&path, &tensors, &metadata).unwrap();
        let file = SafetensorsFile::open(&path).unwrap();
        let specs = discover_layers(&file, &LayerFilter::default()).unwrap();
        let stored = read_layer(&file, &specs[0]).unwrap();
        let view = stored.view();
        assert!(matches!(view.weight(), WeightValues::F32(w) if w == [1.0, 0.0, -2.5, 0.0, 3.0, 4.0]));
        assert!(matches!(view.mask(), Some(MaskValues::U8(m)) if m == [1, 0, 1, 0, 1, 1]));
        let params = MetricParams::default();
        for spec in &specs {
            let (stored, owned) = (read_layer(&file, spec).unwrap(), load_layer(&file, spec).unwrap());
            assert_eq!(layer_metrics(&stored, &params), layer_metrics(&owned, &params));
        }
    }

    #[test]
    fn the_same_checkpoint_is_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (tensors, metadata) = sample();
        let (a, b) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
        write(&a, &tensors, &metadata).unwrap();
        write(&b, &tensors, &metadata).unwrap();
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }

    #[test]
    fn a_tensor_whose_bytes_disagree_with_its_shape_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bad = vec![("w".to_string(), TensorBytes::f32(vec![3, 3], &[1.0; 4]))];
        let err = write(&dir.path().join("x.safetensors"), &bad, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("tensor 'w'"), "{err}");
        assert!(!dir.path().join("x.safetensors").exists());
    }
}

//! NumPy `.npy` (one array; the layer is named after the file) and `.npz` (a zip of `.npy`
//! entries, stored or deflated, as `np.savez` / `np.savez_compressed` write them).
//! Only each array's header is read when the file is opened; its data when a layer needs it.

use super::stamp::{self, FileStamp};
use super::{budget, map_values, CheckpointError, Dtype, TensorInfo, TensorSource, TensorValues};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Largest `.npy` header read. NumPy itself refuses headers above 10,000 bytes unless told
/// otherwise (`max_header_size`), and a plain array's header is about 128; the limit keeps a
/// forged 4 GiB header length from being allocated.
const MAX_HEADER_TEXT: usize = 10_000;

/// Deflate expands at most 1032:1, so an entry claiming more than that of its compressed size
/// is lying about its size; refused before anything is decompressed.
const MAX_DEFLATE_RATIO: u64 = 1032;

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
    stamp: FileStamp,
}

fn format_name(npz: bool) -> &'static str {
    if npz {
        "npz"
    } else {
        "npy"
    }
}

/// A value of the header dict, as far as the three keys NumPy writes need.
#[derive(Debug, PartialEq)]
enum HeaderValue {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
    /// A list: a structured (record) dtype, which maskspec does not read.
    List,
}

/// Parses the header text NumPy writes (`{'descr': '<f4', 'fortran_order': False, 'shape':
/// (3, 4), }`) without recursion, so no nesting in a forged header can exhaust the stack.
fn parse_header_dict(text: &str) -> Result<Vec<(String, HeaderValue)>, String> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let skip_ws = |at: &mut usize| {
        while *at < bytes.len() && bytes[*at].is_ascii_whitespace() {
            *at += 1;
        }
    };
    let expect = |at: &mut usize, ch: u8| {
        skip_ws(at);
        if bytes.get(*at) == Some(&ch) {
            *at += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {} of the header", ch as char, *at))
        }
    };
    let string = |at: &mut usize| -> Result<String, String> {
        skip_ws(at);
        let quote = *bytes.get(*at).filter(|&&q| q == b'\'' || q == b'"').ok_or("expected a quoted string")?;
        let end = bytes[*at + 1..].iter().position(|&b| b == quote).ok_or("unterminated string in the header")?;
        let s = text[*at + 1..*at + 1 + end].to_string();
        *at += end + 2;
        Ok(s)
    };
    expect(&mut at, b'{')?;
    let mut entries = Vec::new();
    loop {
        skip_ws(&mut at);
        if bytes.get(at) == Some(&b'}') {
            break;
        }
        let key = string(&mut at)?;
        expect(&mut at, b':')?;
        skip_ws(&mut at);
        let value = match bytes.get(at) {
            Some(b'\'' | b'"') => HeaderValue::Str(string(&mut at)?),
            Some(b'[') => {
                // Skip to the matching bracket: only its presence matters.
                let mut depth = 0usize;
                for (i, &b) in bytes[at..].iter().enumerate() {
                    depth = match b {
                        b'[' | b'(' => depth + 1,
                        b']' | b')' => depth.saturating_sub(1),
                        _ => depth,
                    };
                    if depth == 0 {
                        at += i + 1;
                        break;
                    }
                }
                if depth != 0 {
                    return Err("unterminated list in the header".into());
                }
                HeaderValue::List
            }
            Some(b'(') => {
                at += 1;
                let mut dims = Vec::new();
                // Numbers and commas alternate: `(3, 4)`, `(3,)`, `()`.
                let mut after_number = false;
                loop {
                    skip_ws(&mut at);
                    match bytes.get(at) {
                        Some(b')') => {
                            at += 1;
                            break;
                        }
                        Some(b',') if after_number => {
                            at += 1;
                            after_number = false;
                        }
                        Some(b'0'..=b'9') if !after_number => {
                            after_number = true;
                            let len = bytes[at..].iter().take_while(|b| b.is_ascii_digit()).count();
                            let dim = text[at..at + len]
                                .parse::<u64>()
                                .map_err(|_| format!("dimension {} is too large", &text[at..at + len]))?;
                            dims.push(dim);
                            at += len;
                            // Python 2 wrote long integers with an L suffix.
                            if bytes.get(at) == Some(&b'L') {
                                at += 1;
                            }
                        }
                        _ => return Err(format!("the shape is not a tuple of integers (byte {at})")),
                    }
                }
                HeaderValue::Tuple(dims)
            }
            _ if bytes[at..].starts_with(b"True") => {
                at += 4;
                HeaderValue::Bool(true)
            }
            _ if bytes[at..].starts_with(b"False") => {
                at += 5;
                HeaderValue::Bool(false)
            }
            _ => return Err(format!("cannot read the value of '{key}' (byte {at})")),
        };
        entries.push((key, value));
        skip_ws(&mut at);
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b'}') => {}
            _ => return Err(format!("expected ',' or '}}' at byte {at} of the header")),
        }
    }
    Ok(entries)
}

/// Reads one `.npy` header from `reader` (which holds `total_len` bytes in all), bounded by
/// `total_len` and [`MAX_HEADER_TEXT`] before anything is allocated, and checks that the data
/// that follows has exactly the size the header claims.
fn read_header(
    path: &Path,
    npz: bool,
    name: &str,
    mut reader: impl Read,
    total_len: u64,
) -> Result<(TensorInfo, Layout), CheckpointError> {
    let malformed =
        |reason: String| CheckpointError::malformed(path, format_name(npz), format!("array '{name}': {reason}"));
    let eof = |e: std::io::Error| malformed(format!("the header ends early ({e})"));
    let mut pre = [0u8; 12];
    reader.read_exact(&mut pre[..10]).map_err(eof)?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(malformed("it does not start with the .npy magic \\x93NUMPY".into()));
    }
    let (text_len, pre_len) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10),
        2 | 3 => {
            reader.read_exact(&mut pre[10..]).map_err(eof)?;
            (u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize, 12)
        }
        v => return Err(malformed(format!("format version {v}.{} is not 1, 2 or 3", pre[7]))),
    };
    if text_len > MAX_HEADER_TEXT || (pre_len + text_len) as u64 > total_len {
        return Err(malformed(format!(
            "the header claims {text_len} bytes, more than the file holds or the {MAX_HEADER_TEXT} NumPy reads"
        )));
    }
    let mut text = vec![0u8; text_len];
    reader.read_exact(&mut text).map_err(eof)?;
    // Version 3 is UTF-8; 1 and 2 are latin-1, which for the keys and values NumPy writes is ASCII.
    let text = std::str::from_utf8(&text).map_err(|_| malformed("the header is not text".into()))?;
    let entries = parse_header_dict(text).map_err(malformed)?;
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| malformed(format!("the header has no '{key}'")))
    };
    let unsupported = |descr: &str| {
        CheckpointError::tensor(
            path,
            name,
            format!("has NumPy dtype {descr}, which is not a plain bool/int/float; save it as float32 or float64"),
        )
    };
    let descr = match get("descr")? {
        HeaderValue::Str(s) => s.as_str(),
        HeaderValue::List => return Err(unsupported("a structured (record) dtype")),
        _ => return Err(malformed("'descr' is not a dtype string".into())),
    };
    // The byte-order character first; checked as a byte, since a forged descr may start with
    // a multi-byte character that a string split would cut in half.
    let big_endian = match descr.as_bytes().first() {
        Some(b'<' | b'|' | b'=') => false,
        Some(b'>') => true,
        _ => return Err(unsupported(&format!("'{descr}'"))),
    };
    let kind = &descr[1..];
    let dtype = match kind {
        "f8" => Dtype::F64,
        "f4" => Dtype::F32,
        "f2" => Dtype::F16,
        "b1" => Dtype::Bool,
        "u1" => Dtype::U8,
        "i1" => Dtype::I8,
        "i2" => Dtype::I16,
        "i4" => Dtype::I32,
        "i8" => Dtype::I64,
        _ => return Err(unsupported(&format!("'{descr}'"))),
    };
    let fortran = match get("fortran_order")? {
        HeaderValue::Bool(b) => *b,
        _ => return Err(malformed("'fortran_order' is not True or False".into())),
    };
    let HeaderValue::Tuple(dims) = get("shape")? else {
        return Err(malformed("'shape' is not a tuple".into()));
    };
    let shape = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| malformed(format!("dimension {d} too large"))))
        .collect::<Result<Vec<_>, _>>()?;
    let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let data_len = numel
        .and_then(|n| n.checked_mul(dtype.size()))
        .ok_or_else(|| malformed(format!("shape {shape:?} overflows")))?;
    let layout = Layout { big_endian, fortran, header_len: pre_len + text_len };
    if (layout.header_len as u64).checked_add(data_len as u64) != Some(total_len) {
        return Err(malformed(format!(
            "header claims shape {shape:?} ({data_len} bytes) but {} bytes follow it; the file is truncated or corrupt",
            total_len.saturating_sub(layout.header_len as u64)
        )));
    }
    Ok((TensorInfo { name: name.to_string(), dtype, shape }, layout))
}

impl NumpyFile {
    pub fn open_npy(path: &Path) -> Result<Self, CheckpointError> {
        stamp::open_with(path, Self::open_npy_stamped)
    }

    fn open_npy_stamped(path: &Path, stamp: FileStamp) -> Result<Self, CheckpointError> {
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
            stamp,
        })
    }

    pub fn open_npz(path: &Path) -> Result<Self, CheckpointError> {
        stamp::open_with(path, Self::open_npz_stamped)
    }

    fn open_npz_stamped(path: &Path, stamp: FileStamp) -> Result<Self, CheckpointError> {
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
            check_entry_size(path, &entry)?;
            let (info, layout) = read_header(path, true, &name, entry, size)?;
            entries.push(entry_name);
            tensors.push(info);
            layouts.push(layout);
        }
        Ok(NumpyFile {
            path: path.to_path_buf(),
            entries: Some(entries),
            tensors,
            layouts,
            metadata: BTreeMap::new(),
            stamp,
        })
    }
}

/// Refuses an entry whose claimed size its compressed bytes cannot hold, before anything is
/// decompressed: a stored entry holds exactly its compressed size, a deflated one at most
/// [`MAX_DEFLATE_RATIO`] times it (the zip reader refuses every other method).
fn check_entry_size(path: &Path, entry: &zip::read::ZipFile<'_, impl Read>) -> Result<(), CheckpointError> {
    let (size, compressed) = (entry.size(), entry.compressed_size());
    let most = match entry.compression() {
        zip::CompressionMethod::Stored => compressed,
        _ => compressed.saturating_mul(MAX_DEFLATE_RATIO),
    };
    if size > most {
        return Err(CheckpointError::malformed(
            path,
            "npz",
            format!(
                "entry '{}' claims {size} bytes but its {compressed} compressed bytes can hold at most {most}",
                entry.name()
            ),
        ));
    }
    Ok(())
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

    fn read(&self, index: usize) -> Result<TensorValues, CheckpointError> {
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
                // The size was checked against the compressed bytes at open; reading one byte
                // past it tells a lying entry from an honest one. Inflated past the file's own
                // size, it is bounded like every expansion.
                let size = entry.size();
                let file_len = std::fs::metadata(&self.path).map_err(read_err)?.len();
                budget::check_expansion(&self.path, &info.name, info.numel(), size, file_len)?;
                let mut bytes = budget::reserve(&self.path, &info.name, usize::try_from(size).unwrap_or(usize::MAX))?;
                (&mut entry).take(size.saturating_add(1)).read_to_end(&mut bytes).map_err(read_err)?;
                bytes
            }
        };
        let expected = info.numel() * info.dtype.size();
        let mut data = bytes
            .get(layout.header_len..)
            .filter(|data| data.len() == expected)
            .ok_or_else(|| {
                CheckpointError::tensor(
                    &self.path,
                    &info.name,
                    format!(
                        "its data is {} bytes where its header promised {expected}; the file changed since it was opened or is corrupt",
                        bytes.len().saturating_sub(layout.header_len)
                    ),
                )
            })?
            .to_vec();
        if layout.big_endian {
            for element in data.chunks_exact_mut(info.dtype.size()) {
                element.reverse();
            }
        }
        let mut values = TensorValues::reserve(&self.path, &info.name, info.dtype, info.numel())?;
        info.dtype.decode_le(&data, &mut values);
        if layout.fortran && info.shape.len() > 1 {
            values = map_values!(values, |v| fortran_to_c(&v, &info.shape));
        }
        Ok(values)
    }

    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    fn unchanged(&self) -> Result<(), CheckpointError> {
        self.stamp.unchanged()
    }
}

/// Reorders a column-major (Fortran) array into row-major (C) order.
fn fortran_to_c<T: Copy>(values: &[T], shape: &[usize]) -> Vec<T> {
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
    use super::{fortran_to_c, parse_header_dict, HeaderValue};

    #[test]
    fn headers_of_every_numpy_era_parse() {
        let parse = |text: &str| parse_header_dict(text).unwrap();
        let current = parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n");
        assert_eq!(
            current,
            [
                ("descr".into(), HeaderValue::Str("<f4".into())),
                ("fortran_order".into(), HeaderValue::Bool(false)),
                ("shape".into(), HeaderValue::Tuple(vec![3, 4]))
            ]
        );
        // Python 2 wrote long integers with an L; keys may come in any order, quotes either way.
        let old = parse("{\"shape\": (3L,), \"fortran_order\": True, \"descr\": \"|b1\"}");
        assert_eq!(old[0].1, HeaderValue::Tuple(vec![3]));
        assert_eq!(parse("{'shape': (), }")[0].1, HeaderValue::Tuple(vec![]));
        assert_eq!(parse("{'descr': [('a', '<f4'), ('b', '<i4')], }")[0].1, HeaderValue::List);
        for bad in ["", "{'shape': (3, -4), }", "{'shape': (3 4), }", "{'descr' '<f4'}", "{'descr': '<f4"] {
            assert!(parse_header_dict(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fortran_order_becomes_row_major() {
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        assert_eq!(fortran_to_c(&[1., 4., 2., 5., 3., 6.], &[2, 3]), vec![1., 2., 3., 4., 5., 6.]);
    }
}

//! PyTorch `.pt` / `.pth` / `.pth.tar`, as `torch.save` writes them, read without Python and
//! without running the pickle.
//!
//! Reads: the ZIP container of PyTorch 1.6 and later and the legacy pickle stream of 0.1.10
//! to 1.5 (and a bare pickle, which holds no tensors); storages of f64/f32/f16/bf16/bool/
//! u8/i8/i16/i32/i64; views with a storage offset and any strides (transposed,
//! non-contiguous), materialized in C order; tensors sharing a storage; tensors in nested
//! dicts (named by their dotted path) and in lists (by index); `nn.Parameter`s; sparse COO,
//! CSR and CSC tensors, laid out dense with their pattern listed as `NAME_mask`. The state
//! dict is taken from the top of the file or from the first of [`STATE_DICT_KEYS`] that holds
//! a dict. The checkpoint dict's scalar entries (`epoch`, `best_acc`, ...) become the
//! metadata, numbers as decimal strings; so do one-element tensors beside a nested state dict
//! (pytorch/examples' imagenet script saves `best_acc1` as one), and Lightning's best score.
//! A `torch.ao.pruning` sparsifier's saved masks beside the state dict are listed too.
//!
//! Parsing, size checks and view gathering are the Burn team's `pytorch-reader` crate:
//! every length a file declares is checked against what the file holds before anything is
//! allocated. What it does not do is done here, by `scan`, a walk over the pickle's
//! opcodes before the crate parses it (nothing is ever run):
//! - any global outside what state dicts use is refused, by name (a pickle that would call
//!   `os.system` under `torch.load`); the crate would keep it as an opaque object;
//! - a storage whose persistent id claims more elements than its archive entry holds is
//!   refused, even when the views on it are small enough for the crate to accept;
//! - the crate returns tensors as a map, so their file order is recovered from the order
//!   their keys first appear in the pickle.
//!
//! Not read: the TAR container of PyTorch before 0.1.10, big-endian files, block and hybrid
//! sparse tensors, quantized and nested tensors, unsigned 16/32/64-bit storages (listed, refused when a layer needs
//! one), full-model saves (`torch.save(model)`: they name the model's classes), and NumPy
//! scalars stored as checkpoint entries (left out of the metadata). Each is refused with a
//! message that says what to do.

mod scan;
mod sparse;

use super::stamp::{self, FileStamp};
use super::{budget, CheckpointError, Dtype, TensorInfo, TensorSource, TensorValues};
use pytorch_reader::{PickleValue, PytorchReader};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

const FORMAT: &str = "PyTorch";

/// Keys a training script nests its state dict under, in the order they are tried: the main
/// model's before an EMA copy (timm saves both, `state_dict` and `state_dict_ema`).
const STATE_DICT_KEYS: [&str; 6] = ["state_dict", "model", "model_state_dict", "net", "module", "state_dict_ema"];

/// Largest pickle accepted: a state dict's pickle holds names and shapes, a few kB per
/// tensor, so this is far above any real one while bounding what a forged entry costs.
const MAX_PICKLE_BYTES: u64 = 100 * 1024 * 1024;

pub struct TorchFile {
    path: PathBuf,
    /// Its length when opened: a tensor needing more bytes than this is laid out from data
    /// the file does not hold byte for byte, and is bounded (see `budget`).
    file_len: u64,
    stamp: FileStamp,
    tensors: Vec<TensorInfo>,
    /// Per tensor, how it is read.
    handles: Vec<Handle>,
    metadata: BTreeMap<String, String>,
}

/// How one listed tensor is read.
enum Handle {
    /// A tensor as stored, and whether its dtype is one maskspec decodes.
    Dense { tensor: pytorch_reader::Tensor, readable: bool },
    /// A sparse tensor laid out dense: its values, or with `pattern` its stored entries as
    /// 1s (listed as its mask, `NAME_mask`).
    Sparse { tensor: pytorch_reader::SparseTensor, readable: bool, pattern: bool },
}

/// The container, from the first bytes of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Zip,
    Legacy,
    Tar,
    Pickle,
    Unknown,
}

/// Whether a file starting with `head` is what `torch.save` writes outside a ZIP archive: the
/// legacy format (its magic number), a TAR of PyTorch before 0.1.10, or a pickle of protocol 2
/// to 5. Protocols 0 and 1 start with common text characters, so a file of theirs is only
/// read as PyTorch when its name says so.
pub(super) fn is_pickle_checkpoint(head: &[u8]) -> bool {
    match container_of(head) {
        Container::Legacy | Container::Tar => true,
        Container::Pickle => head.first() == Some(&0x80) && head.get(1).is_some_and(|p| (2..=5).contains(p)),
        Container::Zip | Container::Unknown => false,
    }
}

fn container_of(head: &[u8]) -> Container {
    // 0x1950a86a20f9469cfc6c, the legacy magic number, as protocols 2 and up write it (a
    // LONG1) and as protocols 0 and 1 do (decimal text).
    const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    const LEGACY_MAGIC_TEXT: &[u8] = b"119547037146038801333356";
    let start = &head[..head.len().min(64)];
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Container::Zip
    } else if head.get(257..262) == Some(b"ustar") {
        Container::Tar
    } else if start.windows(LEGACY_MAGIC.len()).any(|w| w == LEGACY_MAGIC)
        || start.windows(LEGACY_MAGIC_TEXT.len()).any(|w| w == LEGACY_MAGIC_TEXT)
    {
        Container::Legacy
    } else if matches!(head.first(), Some(0x80 | b'(' | b'}' | b']' | b'c')) {
        // What a pickle's first opcode is, whichever protocol wrote it.
        Container::Pickle
    } else {
        Container::Unknown
    }
}

impl TorchFile {
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        stamp::open_with(path, Self::open_stamped)
    }

    fn open_stamped(path: &Path, stamp: FileStamp) -> Result<Self, CheckpointError> {
        let order = check_pickles(path)?;
        let malformed = |e: pytorch_reader::PytorchError| {
            use pytorch_reader::{PickleError, PytorchError};
            match &e {
                // Not damage: a well-formed file whose tensors the reader cannot build.
                PytorchError::Pickle(PickleError::UnsupportedType(what)) if what.contains("sparse tensor") => {
                    CheckpointError::Refused {
                        path: path.to_path_buf(),
                        reason: format!(
                            "holds a {what}, which maskspec does not read; save it with .to_sparse() \
                             (element-wise COO) or .to_dense(), whose pattern is the mask"
                        ),
                    }
                }
                _ => CheckpointError::malformed(path, FORMAT, e.to_string()),
            }
        };

        let root = PytorchReader::read_pickle_data(path, None).map_err(malformed)?;
        let PickleValue::Dict(root) = root else {
            return Err(CheckpointError::malformed(
                path,
                FORMAT,
                "its top-level object is not a dict; save model.state_dict() or a dict holding it",
            ));
        };
        let state_dict_key =
            STATE_DICT_KEYS.iter().copied().find(|key| matches!(root.get(*key), Some(PickleValue::Dict(_))));
        let mut metadata: BTreeMap<String, String> = root
            .iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    PickleValue::Int(i) => i.to_string(),
                    PickleValue::Float(f) => f.to_string(),
                    PickleValue::Bool(b) => b.to_string(),
                    PickleValue::String(s) => s.clone(),
                    _ => return None,
                };
                Some((key.clone(), text))
            })
            .collect();

        if let Some(key) = state_dict_key {
            // Which dict was read, for a file that holds several (a model and its EMA).
            metadata.insert("state_dict_key".into(), key.into());
        }
        let mut beside = Vec::new();
        let reader = match state_dict_key {
            Some(key) => {
                // Beside a nested state dict, a one-element tensor is a scalar the training
                // script kept as a tensor (pytorch/examples' imagenet saves best_acc1 so).
                let everything = PytorchReader::new(path).map_err(malformed)?;
                for (name, tensor) in everything.tensors() {
                    if !name.contains('.') && tensor.num_elements() == 1 {
                        if let Some(text) = scalar_text(path, tensor)? {
                            metadata.insert(name.clone(), text);
                        }
                    }
                }
                lightning_best_score(path, &root, &everything, &mut metadata)?;
                beside = sparsifier_masks(&root, &everything);
                PytorchReader::with_top_level_key(path, key)
            }
            None => PytorchReader::new(path),
        }
        .map_err(malformed)?;

        let mut listed: Vec<(Vec<usize>, TensorInfo, Handle)> = Vec::new();
        for tensor in reader.sparse_tensors().values() {
            sparse::dense_len(path, tensor)?;
            let (dtype, readable) = dtype_of(tensor.values.dtype());
            let rank = order.rank(&tensor.name);
            for pattern in [false, true] {
                let (name, dtype) =
                    if pattern { (format!("{}_mask", tensor.name), Dtype::Bool) } else { (tensor.name.clone(), dtype) };
                if reader.get(&name).is_some() {
                    return Err(CheckpointError::tensor(
                        path,
                        &tensor.name,
                        format!("is a sparse tensor beside a mask '{name}'; its pattern is its mask, so save one of the two"),
                    ));
                }
                let info = TensorInfo { name, dtype, shape: tensor.size.clone() };
                listed.push((rank.clone(), info, Handle::Sparse { tensor: tensor.clone(), readable, pattern }));
            }
        }
        for tensor in reader.into_tensors().into_values().chain(beside) {
            let (dtype, readable) = dtype_of(tensor.dtype());
            let info = TensorInfo { name: tensor.name.clone(), dtype, shape: tensor.shape().to_vec() };
            listed.push((order.rank(&tensor.name), info, Handle::Dense { tensor, readable }));
        }
        listed.sort_by(|(ra, a, _), (rb, b, _)| ra.cmp(rb).then_with(|| a.name.cmp(&b.name)));
        let (tensors, handles) = listed.into_iter().map(|(_, info, handle)| (info, handle)).unzip();
        let file_len =
            std::fs::metadata(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?.len();
        Ok(TorchFile { path: path.to_path_buf(), file_len, stamp, tensors, handles, metadata })
    }
}

/// The masks of a `torch.ao.pruning` sparsifier saved beside the model: its `state_dict()`,
/// `{"state": {FQN: {"mask": tensor}}, "groups": [...]}`, under any key. Listed under their
/// path in the file (`sparsifier.state.fc1.weight.mask`), which layer discovery pairs with
/// the weight `fc1.weight`.
fn sparsifier_masks(root: &HashMap<String, PickleValue>, everything: &PytorchReader) -> Vec<pytorch_reader::Tensor> {
    let is_sparsifier = |value: &PickleValue| matches!(value, PickleValue::Dict(d) if matches!(d.get("state"), Some(PickleValue::Dict(_))) && matches!(d.get("groups"), Some(PickleValue::List(_))));
    let keys: Vec<&String> = root.iter().filter(|(_, value)| is_sparsifier(value)).map(|(key, _)| key).collect();
    let mut masks: Vec<pytorch_reader::Tensor> = everything
        .tensors()
        .values()
        .filter(|t| {
            keys.iter().any(|key| t.name.strip_prefix(key.as_str()).is_some_and(|rest| rest.starts_with(".state.")))
                && t.name.ends_with(".mask")
        })
        .cloned()
        .collect();
    masks.sort_by(|a, b| a.name.cmp(&b.name));
    masks
}

/// PyTorch Lightning's ModelCheckpoint callback keeps the best value of the metric it
/// monitors (`best_model_score`, a tensor) under `callbacks`; it becomes the metadata entry of
/// that metric's name (`val_acc`, ...) unless the checkpoint has one already, and
/// `best_model_score` / `monitor` too. Whether it is an accuracy is the accuracy keys' call.
fn lightning_best_score(
    path: &Path,
    root: &HashMap<String, PickleValue>,
    everything: &PytorchReader,
    metadata: &mut BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let Some(PickleValue::Dict(callbacks)) = root.get("callbacks") else { return Ok(()) };
    let mut keys: Vec<&String> = callbacks.keys().filter(|k| k.starts_with("ModelCheckpoint")).collect();
    keys.sort();
    for key in keys {
        let Some(PickleValue::Dict(state)) = callbacks.get(key) else { continue };
        let Some(PickleValue::String(monitor)) = state.get("monitor") else { continue };
        let score = match state.get("best_model_score") {
            Some(PickleValue::Float(f)) => Some(f.to_string()),
            _ => match everything.get(&format!("callbacks.{key}.best_model_score")) {
                Some(tensor) if tensor.num_elements() == 1 => scalar_text(path, tensor)?,
                _ => None,
            },
        };
        if let Some(score) = score {
            metadata.entry(monitor.clone()).or_insert_with(|| score.clone());
            metadata.insert("best_model_score".into(), score);
            metadata.insert("monitor".into(), monitor.clone());
            break;
        }
    }
    Ok(())
}

/// A one-element tensor's value: floats as the shortest decimal that reads back to the same
/// value in their own precision (so an f32 69.758 is "69.758"), integers exactly. `None` for
/// a dtype maskspec does not decode: metadata is optional, the file is still read.
fn scalar_text(path: &Path, tensor: &pytorch_reader::Tensor) -> Result<Option<String>, CheckpointError> {
    let (dtype, readable) = dtype_of(tensor.dtype());
    if !readable {
        return Ok(None);
    }
    let value = read_values(path, tensor, dtype)?.into_f64();
    Ok(value.first().map(|&v| match dtype {
        Dtype::F64 => v.to_string(),
        Dtype::F32 | Dtype::F16 | Dtype::BF16 => (v as f32).to_string(),
        _ => (v as i64).to_string(),
    }))
}

/// A stored tensor's values. The reader hands back native-endian bytes, and refuses
/// big-endian files, so on the little-endian hosts maskspec builds for these are
/// little-endian.
fn read_values(path: &Path, tensor: &pytorch_reader::Tensor, dtype: Dtype) -> Result<TensorValues, CheckpointError> {
    let bytes = tensor.read().map_err(|e| {
        CheckpointError::tensor(
            path,
            &tensor.name,
            format!("cannot read its data ({e}); the file is truncated or corrupt"),
        )
    })?;
    let mut values = TensorValues::reserve(path, &tensor.name, dtype, tensor.num_elements())?;
    dtype.decode_le(&bytes, &mut values);
    Ok(values)
}

/// Our dtype, and whether we decode it (unsigned 16/32/64-bit storages are only listed).
fn dtype_of(dtype: pytorch_reader::DType) -> (Dtype, bool) {
    use pytorch_reader::DType as T;
    match dtype {
        T::F64 => (Dtype::F64, true),
        T::F32 => (Dtype::F32, true),
        T::F16 => (Dtype::F16, true),
        T::BF16 => (Dtype::BF16, true),
        T::Bool => (Dtype::Bool, true),
        T::U8 => (Dtype::U8, true),
        T::I8 => (Dtype::I8, true),
        T::I16 => (Dtype::I16, true),
        T::I32 => (Dtype::I32, true),
        T::I64 => (Dtype::I64, true),
        T::U16 | T::U32 | T::U64 => (Dtype::U8, false),
    }
}

/// Where each string first appears in the state dict's pickle.
struct KeyOrder {
    first: HashMap<String, usize>,
}

impl KeyOrder {
    fn new(strings: Vec<String>) -> Self {
        let mut first = HashMap::new();
        for (i, s) in strings.into_iter().enumerate() {
            first.entry(s).or_insert(i);
        }
        KeyOrder { first }
    }

    /// Sort key of a tensor's dotted name. In a flat state dict the whole name is a key;
    /// in nested dicts it is a path of keys, each placed by its first appearance, the
    /// outer key first. A part that never appears (a list index) sorts after its siblings.
    fn rank(&self, name: &str) -> Vec<usize> {
        let mut rank = Vec::new();
        let mut rest = name;
        while !rest.is_empty() {
            if let Some(&at) = self.first.get(rest) {
                rank.push(at);
                break;
            }
            let prefix =
                rest.match_indices('.').filter_map(|(dot, _)| self.first.get(&rest[..dot]).map(|&at| (at, dot))).min();
            match prefix {
                Some((at, dot)) => {
                    rank.push(at);
                    rest = &rest[dot + 1..];
                }
                None => {
                    rank.push(usize::MAX);
                    break;
                }
            }
        }
        rank
    }
}

/// A pickle that would take more memory to read than its size allows (`scan::budget_for`).
fn over_budget(path: &Path, budget: usize) -> CheckpointError {
    CheckpointError::Refused {
        path: path.to_path_buf(),
        reason: format!(
            "its pickle would take more than {} MiB to read, more than a state dict stored in this file could \
             (a flood of MARKs, memo entries or copies of one string); it is damaged or made to exhaust memory",
            budget >> 20
        ),
    }
}

/// Bytes of a legacy file read before its pickles are scanned (more if they need it).
const LEGACY_FIRST_READ: u64 = 1 << 20;

/// Scans the five pickles of a legacy file (magic number, protocol version, system info, the
/// object, its storage keys) and returns the object's strings. The storages after them may be
/// gigabytes, so the file is read only as far as the pickles go: `first_read` bytes, then
/// doubling. Not mapped: a mapped file truncated by another process kills us with SIGBUS.
fn legacy_object_strings(
    path: &Path,
    first_read: u64,
    failed: &dyn Fn(scan::ScanError) -> CheckpointError,
) -> Result<Vec<String>, CheckpointError> {
    let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut bytes = Vec::new();
    (&mut file).take(first_read).read_to_end(&mut bytes).map_err(io)?;
    let (mut at, mut object, mut index) = (0, Vec::new(), 0);
    while index < 5 {
        match scan::scan(&bytes, at, scan::budget_for(len as usize)) {
            Ok(scanned) => {
                at = scanned.end;
                if index == 3 {
                    object = scanned.strings;
                }
                index += 1;
            }
            Err(scan::ScanError::Truncated(reason)) if (bytes.len() as u64) < len => {
                let more = bytes.len().max(1) as u64;
                if (&mut file).take(more).read_to_end(&mut bytes).map_err(io)? == 0 {
                    return Err(failed(scan::ScanError::Truncated(reason)));
                }
            }
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(object)
}

/// Walks every pickle of the file that `torch.load` would run, refusing what a state dict
/// never names, and returns the order of the object pickle's strings.
fn check_pickles(path: &Path) -> Result<KeyOrder, CheckpointError> {
    let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
    let mut head = Vec::new();
    std::fs::File::open(path).map_err(io)?.take(512).read_to_end(&mut head).map_err(io)?;
    let refused = |what: String| CheckpointError::Refused {
        path: path.to_path_buf(),
        reason: format!(
            "its pickle names {what}, which no state dict holds; maskspec reads state dicts only and runs nothing. \
             If you trust the file, re-save it with torch.save(torch.load(f, weights_only=False)['state_dict'])"
        ),
    };
    let failed = |e: scan::ScanError| match e {
        scan::ScanError::Malformed(reason) | scan::ScanError::Truncated(reason) => {
            CheckpointError::malformed(path, FORMAT, reason)
        }
        scan::ScanError::Forbidden(what) => refused(what),
        scan::ScanError::OverBudget { budget } => over_budget(path, budget),
    };
    // `stored`: the bytes the pickle takes in the file, which its budget is proportional to.
    let walk =
        |bytes: &[u8], start: usize, stored: usize| scan::scan(bytes, start, scan::budget_for(stored)).map_err(failed);
    match container_of(&head) {
        Container::Zip => check_zip(path, walk),
        Container::Legacy => Ok(KeyOrder::new(legacy_object_strings(path, LEGACY_FIRST_READ, &failed)?)),
        Container::Pickle => {
            let bytes = std::fs::read(path).map_err(io)?;
            Ok(KeyOrder::new(walk(&bytes, 0, bytes.len())?.strings))
        }
        Container::Unknown => Err(CheckpointError::malformed(
            path,
            FORMAT,
            if head.is_empty() { "the file is empty" } else { "it starts with neither a ZIP archive nor a pickle" },
        )),
        Container::Tar => Err(CheckpointError::Refused {
            path: path.to_path_buf(),
            reason: "is a TAR checkpoint of PyTorch before 0.1.10, which maskspec does not read; \
                     re-save it with a current torch.save"
                .into(),
        }),
    }
}

/// Walks every `data.pkl` at the archive's top or one directory down (`torch.save` writes
/// one; the reader takes the shallowest, so all are checked), and checks each storage its
/// persistent ids declare against the archive entry holding it.
fn check_zip(
    path: &Path,
    walk: impl Fn(&[u8], usize, usize) -> Result<scan::Scan, CheckpointError>,
) -> Result<KeyOrder, CheckpointError> {
    let malformed = |reason: String| CheckpointError::malformed(path, FORMAT, reason);
    let file = std::fs::File::open(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| malformed(e.to_string()))?;
    let roots: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.strip_suffix("data.pkl"))
        .filter(|root| root.is_empty() || root.ends_with('/'))
        .map(str::to_string)
        .collect();
    if roots.is_empty() {
        return Err(malformed("the archive has no data.pkl".into()));
    }
    let mut strings = Vec::new();
    for root in roots {
        let name = format!("{root}data.pkl");
        let entry = archive.by_name(&name).map_err(|e| malformed(e.to_string()))?;
        if entry.size() > MAX_PICKLE_BYTES {
            return Err(malformed(format!(
                "its {name} claims {} bytes, more than the {MAX_PICKLE_BYTES} any state dict needs",
                entry.size()
            )));
        }
        let stored = usize::try_from(entry.compressed_size()).unwrap_or(usize::MAX);
        if entry.size() > scan::budget_for(stored) as u64 {
            return Err(over_budget(path, scan::budget_for(stored)));
        }
        let mut pickle = Vec::with_capacity(entry.size() as usize);
        entry
            .take(MAX_PICKLE_BYTES)
            .read_to_end(&mut pickle)
            .map_err(|e| malformed(format!("cannot read {name}: {e}")))?;
        let scanned = walk(&pickle, 0, stored)?;
        for claim in &scanned.storages {
            let entry_name = format!("{root}data/{}", claim.key);
            let held = archive.by_name(&entry_name).map(|e| e.size()).map_err(|_| {
                // Debug quoting: the key comes from the file and may hold newlines.
                malformed(format!(
                    "storage {:?} is named by the pickle but the archive has no {entry_name:?}",
                    claim.key
                ))
            })?;
            let Some(element_size) = claim.element_size else { continue };
            let claimed = u64::try_from(claim.numel).ok().and_then(|n| n.checked_mul(element_size as u64));
            if claimed.is_none_or(|bytes| bytes > held) {
                return Err(malformed(format!(
                    "storage {:?} claims {} elements of {element_size} bytes but the archive holds {held} bytes for it",
                    claim.key, claim.numel
                )));
            }
        }
        strings.extend(scanned.strings);
    }
    Ok(KeyOrder::new(strings))
}

impl TensorSource for TorchFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    fn read(&self, index: usize) -> Result<TensorValues, CheckpointError> {
        let info = &self.tensors[index];
        let (stored, readable) = match &self.handles[index] {
            Handle::Dense { tensor, readable } => (tensor, *readable),
            Handle::Sparse { tensor, readable, pattern } => (&tensor.values, *readable || *pattern),
        };
        if !readable {
            return Err(CheckpointError::tensor(
                &self.path,
                &info.name,
                format!(
                    "has dtype {:?}, which maskspec does not read (it reads f64/f32/f16/bf16/bool/u8/i8/i16/i32/i64); convert it with .float()",
                    stored.dtype()
                ),
            ));
        }
        match &self.handles[index] {
            Handle::Dense { tensor, .. } => {
                let bytes = tensor.byte_len() as u64;
                budget::check_expansion(&self.path, &info.name, tensor.num_elements(), bytes, self.file_len)?;
                read_values(&self.path, tensor, info.dtype)
            }
            Handle::Sparse { tensor, pattern, .. } => {
                let (values_dtype, _) = dtype_of(tensor.values.dtype());
                sparse::densify(&self.path, tensor, values_dtype, *pattern).map(TensorValues::F64)
            }
        }
    }

    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    fn unchanged(&self) -> Result<(), CheckpointError> {
        self.stamp.unchanged()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_file_read_in_small_steps_gives_the_same_pickles() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch/legacy_format.pt");
        let failed = |e: scan::ScanError| CheckpointError::malformed(&path, FORMAT, format!("{e:?}"));
        let whole = legacy_object_strings(&path, LEGACY_FIRST_READ, &failed).unwrap();
        assert!(whole.iter().any(|s| s.ends_with(".weight")), "{whole:?}");
        assert_eq!(legacy_object_strings(&path, 3, &failed).unwrap(), whole);
        let cut = tempfile::NamedTempFile::new().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(cut.path(), &bytes[..200]).unwrap();
        assert!(legacy_object_strings(cut.path(), 3, &failed).is_err());
    }

    #[test]
    fn flat_keys_rank_by_first_appearance() {
        let order = KeyOrder::new(["b.weight", "storage", "0", "a.weight", "b.weight"].map(String::from).to_vec());
        assert!(order.rank("b.weight") < order.rank("a.weight"));
        // A name built from nested keys ranks by its outer key first.
        let nested = KeyOrder::new(["z", "weight", "bias", "a", "bias", "weight"].map(String::from).to_vec());
        assert_eq!(nested.rank("z.bias"), vec![0, 2]);
        assert!(nested.rank("z.bias") < nested.rank("a.weight"));
        assert!(nested.rank("z.weight") < nested.rank("z.bias"));
        assert_eq!(nested.rank("missing"), vec![usize::MAX]);
    }

    #[test]
    fn containers_are_told_apart_by_their_first_bytes() {
        assert_eq!(container_of(b"PK\x03\x04rest"), Container::Zip);
        assert_eq!(container_of(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."), Container::Legacy);
        assert_eq!(container_of(b"\x80\x02}q\x00."), Container::Pickle);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(container_of(&tar), Container::Tar);
        assert_eq!(container_of(b"hello"), Container::Unknown);
        assert_eq!(container_of(b""), Container::Unknown);
    }
}

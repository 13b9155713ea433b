//! One model in several files: Hugging Face's shards (`model-00001-of-00002.safetensors`, ...,
//! or `pytorch_model-0000K-of-0000N.bin`) with the index that maps each tensor to its shard
//! (`model.safetensors.index.json`: `{"weight_map": {"name": "shard file"}}`), read as one
//! checkpoint named after its index.

use super::{open, CheckpointError, TensorInfo, TensorSource, TensorValues};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Largest index read: a weight map lists a few hundred bytes per tensor, so this is far above
/// any real model's while bounding what a forged file costs.
const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;

/// Whether `path` is named like a shard index (`*.index.json`).
pub fn is_index_name(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".index.json"))
}

/// The shard files an index names, in the order of their names, read from `index`.
fn shards_of(index: &Path) -> Result<(Vec<PathBuf>, BTreeMap<String, String>), CheckpointError> {
    let io = |source| CheckpointError::Io { path: index.to_path_buf(), source };
    let malformed = |reason: String| CheckpointError::malformed(index, "shard index", reason);
    let len = std::fs::metadata(index).map_err(io)?.len();
    if len > MAX_INDEX_BYTES {
        return Err(malformed(format!("it is {len} bytes; an index of shards is at most {MAX_INDEX_BYTES}")));
    }
    let text = std::fs::read_to_string(index).map_err(io)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    let Some(map) = value.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(malformed("it has no \"weight_map\" object of tensor names to shard files".into()));
    };
    let mut weight_map = BTreeMap::new();
    for (name, file) in map {
        let Some(file) = file.as_str().filter(|f| !f.contains('/') && !f.contains('\\') && !f.starts_with('.')) else {
            return Err(malformed(format!("tensor '{name}' maps to {file}, not a file name beside the index")));
        };
        weight_map.insert(name.clone(), file.to_string());
    }
    let mut files: Vec<&String> = weight_map.values().collect();
    files.sort();
    files.dedup();
    let dir = index.parent().unwrap_or(Path::new(""));
    Ok((files.into_iter().map(|f| dir.join(f)).collect(), weight_map))
}

/// The index beside `shard` that lists it, if there is one.
pub fn index_of_shard(shard: &Path) -> Option<PathBuf> {
    let name = shard.file_name()?.to_str()?;
    let dir = shard.parent()?;
    let mut indexes: Vec<PathBuf> = std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| dir.join(e.file_name()))
        .filter(|p| is_index_name(p))
        .collect();
    indexes.sort();
    indexes.into_iter().find(|index| shards_of(index).is_ok_and(|(_, map)| map.values().any(|f| f == name)))
}

/// The shards an index in this directory lists (so a walk reads them through their index).
pub fn listed_shards(dir_entries: &[PathBuf]) -> Vec<PathBuf> {
    dir_entries
        .iter()
        .filter(|p| is_index_name(p))
        .filter_map(|index| shards_of(index).ok())
        .flat_map(|(s, _)| s)
        .collect()
}

/// The shards of one model as one source: every shard's tensors, shard after shard.
struct Sharded {
    index: PathBuf,
    shards: Vec<Box<dyn TensorSource>>,
    /// Per tensor: its shard and its index there.
    at: Vec<(usize, usize)>,
    tensors: Vec<TensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl TensorSource for Sharded {
    fn path(&self) -> &Path {
        &self.index
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read(&self, index: usize) -> Result<TensorValues, CheckpointError> {
        let (shard, i) = self.at[index];
        self.shards[shard].read(i)
    }
    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
    fn unchanged(&self) -> Result<(), CheckpointError> {
        self.shards.iter().try_for_each(|shard| shard.unchanged())
    }
}

/// Opens the model an index describes. Every tensor of the weight map must be in the shard it
/// names, and no tensor may be in two shards.
pub fn open_sharded(index: &Path) -> Result<Box<dyn TensorSource>, CheckpointError> {
    let (files, weight_map) = shards_of(index)?;
    let mut shards = Vec::with_capacity(files.len());
    let (mut at, mut tensors) = (Vec::new(), Vec::new());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut metadata = BTreeMap::new();
    for (s, file) in files.iter().enumerate() {
        let shard = open(file)?;
        for (i, t) in shard.tensors().iter().enumerate() {
            if let Some(other) = seen.insert(t.name.clone(), s) {
                return Err(CheckpointError::tensor(
                    index,
                    &t.name,
                    format!("is in two shards, {} and {}", files[other].display(), file.display()),
                ));
            }
            at.push((s, i));
            tensors.push(t.clone());
        }
        for (key, value) in shard.metadata() {
            metadata.entry(key.clone()).or_insert_with(|| value.clone());
        }
        shards.push(shard);
    }
    for (name, file) in &weight_map {
        let strip = super::strip_wrappers(name);
        if !seen.contains_key(name.as_str()) && !seen.contains_key(strip) {
            return Err(CheckpointError::tensor(
                index,
                name,
                format!("is mapped to {file}, which does not hold it; the shards and their index disagree"),
            ));
        }
    }
    metadata.insert("shards".into(), files.len().to_string());
    Ok(Box::new(Sharded { index: index.to_path_buf(), shards, at, tensors, metadata }))
}

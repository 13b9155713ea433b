//! The cache that makes a re-run over a grown sweep cheap: one small JSON file per analyzed
//! checkpoint, named by a hash of the checkpoint's identity (canonical path, size, mtime) and
//! of everything that changes the numbers (maskspec's version, the layer filter, the solver
//! settings). Each entry is written atomically as soon as its checkpoint is done, so a killed
//! run keeps everything it finished. Only the expensive part is cached (the layers' metrics);
//! run, step and accuracy are derived afresh, since sidecars and tables may change.

use crate::metrics::LayerMetrics;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The full key, checked on load so a hash collision can never return another file's numbers.
    pub key: String,
    pub metadata: BTreeMap<String, String>,
    pub layers: Vec<LayerMetrics>,
    /// Layers that could not be read (their one-line errors): the same file fails the same way.
    pub layer_errors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// FNV-1a: a stable 64-bit hash for file names (std's hasher may change between releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// The directory the entries are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `$XDG_CACHE_HOME/maskspec`, else `$HOME/.cache/maskspec`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("maskspec"))
    }

    /// The key of `path` as it is now under `settings`, or `None` if the file cannot be
    /// stat'ed (then it is analyzed and reported as usual, never cached).
    pub fn key(path: &Path, settings: &str) -> Option<String> {
        let canonical = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&canonical).ok()?;
        let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        Some(format!(
            "maskspec {}|{}|{}|{mtime}|{settings}",
            env!("CARGO_PKG_VERSION"),
            canonical.display(),
            meta.len()
        ))
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{:016x}.json", fnv1a(key)))
    }

    /// The entry for `key`, if one was stored; an unreadable or foreign entry is a miss.
    pub fn load(&self, key: &str) -> Option<Entry> {
        let bytes = std::fs::read(self.entry_path(key)).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.key == key).then_some(entry)
    }

    /// Stores an entry atomically. A cache that cannot be written only costs speed: the
    /// error is returned for the caller to mention, never to fail the analysis.
    pub fn store(&self, entry: &Entry) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        crate::atomic::write(&self.entry_path(&entry.key), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_misses_and_an_unchanged_one_hits() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.safetensors");
        std::fs::write(&file, b"one").unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        let key = Cache::key(&file, "s").unwrap();
        assert!(cache.load(&key).is_none());
        let entry =
            Entry { key: key.clone(), metadata: BTreeMap::new(), layers: vec![], layer_errors: vec!["x".into()] };
        cache.store(&entry).unwrap();
        assert_eq!(cache.load(&key).unwrap().layer_errors, ["x"]);
        assert!(cache.load(&Cache::key(&file, "other settings").unwrap()).is_none());
        std::fs::write(&file, b"grown").unwrap();
        assert!(cache.load(&Cache::key(&file, "s").unwrap()).is_none(), "size changed");
    }
}

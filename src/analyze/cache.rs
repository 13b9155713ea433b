//! The cache that makes a re-run over a grown sweep cheap: one small JSON file per analyzed
//! checkpoint, named by a hash of the checkpoint's identity (canonical path, size, mtime) and
//! of everything that changes the numbers (maskspec's version, the layer filter, the solver
//! settings). Each entry is written atomically as soon as its checkpoint is done, so a killed
//! run keeps everything it finished. Only the expensive part is cached (the layers' metrics);
//! run, step and accuracy are derived afresh, since sidecars and tables may change.
//!
//! An entry is trusted only if it is a regular file under [`MAX_ENTRY_BYTES`] whose checksum
//! matches its content and whose key is the one asked for: a FIFO or a link to `/dev/zero`
//! put in its place, or a number edited by hand, is a miss (the file is analyzed again),
//! never a hang or a wrong result.

use crate::fnv::fnv1a_hex;
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

/// An entry as stored: the entry and the FNV-1a hash of its JSON.
#[derive(Serialize, Deserialize)]
struct Stored {
    checksum: String,
    entry: Entry,
}

/// Largest entry file read: an entry holds a few hundred bytes per layer.
const MAX_ENTRY_BYTES: u64 = 64 << 20;

fn checksum(entry: &Entry) -> Option<String> {
    Some(fnv1a_hex(serde_json::to_string(entry).ok()?.as_bytes()))
}

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
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
        // The path's own bytes, escaped (Debug): two names that differ only in bytes that are
        // not UTF-8 must not share a key, as they would through a lossy `display()`.
        Some(format!(
            "maskspec {}|{:?}|{}|{mtime}|{settings}",
            env!("CARGO_PKG_VERSION"),
            canonical.as_os_str(),
            meta.len()
        ))
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", fnv1a_hex(key.as_bytes())))
    }

    /// The entry for `key`, if one was stored; an unreadable, damaged or foreign entry, or
    /// anything but a regular file of sensible size, is a miss.
    pub fn load(&self, key: &str) -> Option<Entry> {
        use std::io::Read;
        let path = self.entry_path(key);
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_ENTRY_BYTES {
            return None;
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&path).ok()?.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes).ok()?;
        let stored: Stored = serde_json::from_slice(&bytes).ok()?;
        let intact = checksum(&stored.entry).is_some_and(|sum| sum == stored.checksum);
        (intact && stored.entry.key == key).then_some(stored.entry)
    }

    /// Stores an entry atomically. A cache that cannot be written only costs speed: the
    /// error is returned for the caller to mention, never to fail the analysis.
    pub fn store(&self, entry: &Entry) -> std::io::Result<()> {
        let checksum = checksum(entry).ok_or_else(|| std::io::Error::other("the entry does not serialize"))?;
        let bytes = serde_json::to_vec(&Stored { checksum, entry: entry.clone() }).map_err(std::io::Error::other)?;
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

    #[cfg(unix)]
    #[test]
    fn damaged_or_foreign_entries_are_misses_and_never_hang() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        // Names that differ only in bytes that are not UTF-8 get different keys.
        let names = [b"a\xff.safetensors".as_slice(), b"a\xfe.safetensors"];
        let keys: Vec<String> = names
            .iter()
            .map(|n| {
                let file = dir.path().join(std::ffi::OsStr::from_bytes(n));
                std::fs::write(&file, b"same").unwrap();
                Cache::key(&file, "s").unwrap()
            })
            .collect();
        assert_ne!(keys[0], keys[1]);
        let key = &keys[0];
        let entry =
            Entry { key: key.clone(), metadata: BTreeMap::new(), layers: vec![], layer_errors: vec!["x".into()] };
        cache.store(&entry).unwrap();
        let stored = cache.entry_path(key);
        assert!(cache.load(key).is_some());
        // A number edited by hand: the checksum no longer matches.
        let text = std::fs::read_to_string(&stored).unwrap();
        std::fs::write(&stored, text.replace("\"x\"", "\"y\"")).unwrap();
        assert!(cache.load(key).is_none(), "an edited entry is not trusted");
        // A FIFO or a link to an endless device in its place: a miss, at once.
        std::fs::remove_file(&stored).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(&stored).status().unwrap().success());
        assert!(cache.load(key).is_none());
        std::fs::remove_file(&stored).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &stored).unwrap();
        assert!(cache.load(key).is_none());
    }
}

//! What a checkpoint file was when a reader opened it, to tell a file rewritten or truncated
//! while it was read (a training job still saving it, a copy in progress) from a damaged one.
//! Its numbers would come from torn bytes: half the old tensors and half the new.

use super::CheckpointError;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone)]
pub struct FileStamp {
    path: PathBuf,
    seen: Seen,
}

/// Size, modification time and (on Unix) device and inode: a rename over the path changes
/// the inode, a rewrite in place the time, a truncation the size.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    identity: (u64, u64),
}

fn seen(path: &Path) -> std::io::Result<Seen> {
    let metadata = std::fs::metadata(path)?;
    #[cfg(unix)]
    let identity = {
        use std::os::unix::fs::MetadataExt;
        (metadata.dev(), metadata.ino())
    };
    #[cfg(not(unix))]
    let identity = (0, 0);
    Ok(Seen { len: metadata.len(), modified: metadata.modified().ok(), identity })
}

impl FileStamp {
    /// Taken before the first byte of `path` is read.
    pub fn take(path: &Path) -> Result<FileStamp, CheckpointError> {
        let seen = seen(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
        Ok(FileStamp { path: path.to_path_buf(), seen })
    }

    /// An error if the file at the path is not the one stamped.
    pub fn unchanged(&self) -> Result<(), CheckpointError> {
        match seen(&self.path) {
            Ok(now) if now == self.seen => Ok(()),
            _ => Err(CheckpointError::Changed { path: self.path.clone() }),
        }
    }

    /// `error` as it should be reported: a read that failed because the file changed under it
    /// (cut short, offsets past a new end) says so rather than calling the file damaged.
    pub fn explain(&self, error: CheckpointError) -> CheckpointError {
        match self.unchanged() {
            Ok(()) => error,
            Err(changed) => changed,
        }
    }
}

/// Opens `path` with `open`, which keeps the stamp to check later reads against; an error
/// from a file that changed while it was opened says so.
pub fn open_with<T>(
    path: &Path,
    open: impl FnOnce(&Path, FileStamp) -> Result<T, CheckpointError>,
) -> Result<T, CheckpointError> {
    let stamp = FileStamp::take(path)?;
    open(path, stamp.clone()).map_err(|e| stamp.explain(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_a_truncation_and_a_rename_over_the_file_are_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        std::fs::write(&path, b"0123456789").unwrap();
        let stamp = FileStamp::take(&path).unwrap();
        stamp.unchanged().unwrap();

        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(4).unwrap();
        assert!(matches!(stamp.unchanged(), Err(CheckpointError::Changed { .. })));

        std::fs::write(&path, b"0123456789").unwrap();
        let stamp = FileStamp::take(&path).unwrap();
        let other = dir.path().join("new");
        std::fs::write(&other, b"0123456789").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let err = stamp.unchanged().unwrap_err();
        assert!(err.to_string().contains("changed while"), "{err}");
    }
}

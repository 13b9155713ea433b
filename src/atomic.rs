//! Every file maskspec writes goes to a temporary name in the same directory first and is
//! renamed into place, so a killed run leaves the old file or the new one, never a torn one.
//! A symlink is written through (its target is replaced, the link stays); a FIFO or device
//! (`/dev/stdout`, `/dev/null`) is written to as a stream, since it cannot be replaced; a
//! directory is refused.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The temporaries being written right now, for [`exit_removing_temporaries`].
static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every temporary this process is writing and exits with `code`. For a binary's
/// SIGINT/SIGTERM handler: the targets keep their old content, and no `.NAME.PID.tmp` is left.
/// The list stays locked until the process is gone, so no other thread creates a temporary
/// after the removal.
pub fn exit_removing_temporaries(code: i32) -> ! {
    let in_flight = IN_FLIGHT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for tmp in in_flight.iter() {
        let _ = fs::remove_file(tmp);
    }
    std::process::exit(code)
}

/// Creates the temporary `tmp` and lists it, under one lock: a signal handler's
/// [`exit_removing_temporaries`] either sees it listed or runs before it exists.
fn create_tracked(tmp: &Path) -> io::Result<fs::File> {
    let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let file = fs::File::create(tmp)?;
    in_flight.push(tmp.to_path_buf());
    Ok(file)
}

fn untrack(tmp: &Path) {
    let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(at) = in_flight.iter().position(|p| p == tmp) {
        in_flight.swap_remove(at);
    }
}

/// The temporary sibling a file is written to before the rename.
fn temporary_name(path: &Path) -> PathBuf {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{file}.{}.tmp", std::process::id()))
}

/// Whether `path` is named like a temporary of [`write`]: a file some writer (maybe killed) has
/// not renamed into place, which is never a result to read.
pub fn is_temporary(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |w| w.write_all(bytes))
}

/// Where a write to `path` goes: the file a symlink (or chain of them) ends at, so the link
/// is never replaced by a regular file.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    // As the kernel does, give up on a chain too long to be anything but a loop.
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other(format!("{}: too many levels of symbolic links", path.display())))
}

/// Streams into `path` atomically: `fill` writes the content; on any error the temporary
/// file is removed and `path` is untouched.
pub fn write_with(path: &Path, fill: impl FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>) -> io::Result<()> {
    let path = &resolve(path)?;
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory; name a file to write"));
        }
        Ok(meta) if !meta.is_file() => {
            // A FIFO or device cannot be replaced, and a partial write to it is what streams do.
            let mut w = io::BufWriter::new(fs::OpenOptions::new().write(true).open(path)?);
            fill(&mut w)?;
            return w.flush();
        }
        _ => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let tmp = temporary_name(path);
    let result = (|| {
        let mut w = io::BufWriter::new(create_tracked(&tmp)?);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    untrack(&tmp);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        remove_stale_temporaries(path);
    }
    result
}

/// Removes the temporaries a killed earlier writer of `path` left (`.NAME.PID.tmp` of a
/// process no longer running), so a killed run's debris does not outlive the next write.
/// Only where running processes can be seen in `/proc`; best effort, as failure costs nothing.
fn remove_stale_temporaries(path: &Path) {
    let proc = Path::new("/proc/self");
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else { return };
    if !proc.exists() {
        return;
    }
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!(".{}.", file.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(pid) = name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".tmp")) else { continue };
        if pid
            .parse::<u32>()
            .is_ok_and(|pid| pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        write(&path, b"old").unwrap();
        let err = write_with(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("killed"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_write_removes_what_a_dead_writer_left_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        // No process has pid u32::MAX - 1 (Linux caps pids at 2^22); this process is alive.
        let dead = dir.path().join(format!(".out.csv.{}.tmp", u32::MAX - 1));
        let alive = dir.path().join(format!(".out.csv.{}.tmp", std::process::id()));
        let other = dir.path().join(".other.csv.1.tmp");
        for p in [&dead, &other] {
            fs::write(p, b"torn").unwrap();
        }
        let parent = dir.path().join(format!(".out.csv.{}.tmp", std::os::unix::process::parent_id()));
        fs::write(&parent, b"being written").unwrap();
        write(&path, b"new").unwrap();
        assert!(!dead.exists(), "a dead writer's temporary is removed");
        assert!(parent.exists() && other.exists(), "a live writer's and another file's stay");
        assert!(!alive.exists(), "our own temporary was renamed into place");
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn links_are_written_through_devices_streamed_and_directories_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.csv");
        fs::write(&target, b"old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("real.csv", &link).unwrap();
        write(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
        assert_eq!(fs::read(&target).unwrap(), b"new");
        // A dangling link creates its target.
        let dangling = dir.path().join("dangling.csv");
        std::os::unix::fs::symlink("made.csv", &dangling).unwrap();
        write(&dangling, b"made").unwrap();
        assert_eq!(fs::read(dir.path().join("made.csv")).unwrap(), b"made");
        // /dev/null takes the bytes and stays a device.
        write(Path::new("/dev/null"), b"gone").unwrap();
        assert!(!fs::metadata("/dev/null").unwrap().is_file());
        assert_eq!(write(dir.path(), b"x").unwrap_err().kind(), io::ErrorKind::IsADirectory);
        let looped = dir.path().join("loop.csv");
        std::os::unix::fs::symlink("loop.csv", &looped).unwrap();
        assert!(write(&looped, b"x").is_err());
    }
}

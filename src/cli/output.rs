//! stdout and stderr that never panic. `println!` panics when a write fails, as it does into a
//! closed pipe (`maskspec analyze DIR | head -1`) or a full device (`2>/dev/full`). Here output
//! that cannot be written is dropped instead: the run goes on, finishes and writes its files,
//! and its exit code still says whether anything failed.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout has refused a write: a closed pipe stays closed, so the rest is not tried.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout as it is.
pub fn stdout(text: &str) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes `line` and a newline to stderr, or nothing if stderr cannot take it.
pub fn stderr(line: &str) {
    let mut err = std::io::stderr().lock();
    // Nowhere is left to report a failed write to stderr.
    let _ = err.write_all(line.as_bytes()).and_then(|()| err.write_all(b"\n"));
}

/// `eprintln!` that never panics.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::stderr(&format!($($arg)*))
    };
}
pub(crate) use say;

//! The sweep's text inputs: the `--accuracy` CSV and a checkpoint's sidecar NAME.json; the
//! first byte picks which.
#![no_main]

#[path = "../../tests/harness/mod.rs"]
mod harness;

use harness::Reader;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| harness::scratch_dir("sweep_inputs"));
    let Some((&mode, rest)) = data.split_first() else { return };
    let reader = if mode % 2 == 0 { Reader::AccuracyCsv } else { Reader::Sidecar };
    let _ = reader.run_bytes(dir, rest);
});

//! The safetensors reader, as `maskspec analyze` runs it, on arbitrary bytes.
#![no_main]

#[path = "../../tests/harness/mod.rs"]
mod harness;

use harness::Reader;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| harness::scratch_dir("safetensors"));
    let _ = Reader::Safetensors.run_bytes(dir, data);
});

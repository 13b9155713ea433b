//! The CIFAR-10 and CIFAR-100 binary readers; the first byte picks which.
#![no_main]

#[path = "../../tests/harness/mod.rs"]
mod harness;

use harness::Reader;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| harness::scratch_dir("cifar"));
    let Some((&mode, rest)) = data.split_first() else { return };
    let reader = if mode % 2 == 0 { Reader::Cifar10 } else { Reader::Cifar100 };
    let _ = reader.run_bytes(dir, rest);
});

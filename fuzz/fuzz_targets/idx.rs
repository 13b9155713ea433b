//! The IDX reader (MNIST), raw and gzipped. The first byte picks how the rest is fed: as a raw
//! IDX file, gzip-compressed here (so the fuzzer explores IDX headers behind the decompressor),
//! or as the bytes of a `.gz` file itself.
#![no_main]

#[path = "../../tests/harness/mod.rs"]
mod harness;

use harness::Reader;
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::sync::OnceLock;

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| harness::scratch_dir("idx"));
    let Some((&mode, rest)) = data.split_first() else { return };
    let _ = match mode % 3 {
        0 => Reader::Idx.run_bytes(dir, rest),
        1 => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(rest).unwrap();
            Reader::IdxGz.run_bytes(dir, &gz.finish().unwrap())
        }
        _ => Reader::IdxGz.run_bytes(dir, rest),
    };
});

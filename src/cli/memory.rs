//! How the process's allocator holds memory.
//!
//! glibc gives each thread that allocates while others do an arena of its own, up to eight
//! per core, and an arena keeps what is freed into it for its next allocations. Analysis
//! threads come and go (a layer's weighted solve runs on a thread of its own), so a long run
//! spreads its layers' buffers over every arena: a 144-layer bf16 model peaked at 1.98 GB
//! resident with glibc's default against 0.60 GB with one arena per core, at the same speed
//! (docs/performance.md).

/// One arena per core, unless the user chose otherwise with `MALLOC_ARENA_MAX`.
pub fn one_arena_per_core() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // SAFETY: mallopt only sets a tunable; it is called before any thread is started.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, i32::try_from(cores.max(2)).unwrap_or(i32::MAX));
        }
    }
}

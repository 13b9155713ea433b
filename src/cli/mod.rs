//! The binary's own modules: the flags of `train` and `pipeline`, the terminal's progress
//! display, output that never panics and how the process's allocator holds memory. The library underneath never draws or prints; it reports through callbacks.

pub mod memory;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod train;

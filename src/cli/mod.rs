//! The binary's own modules: the flags of `train` and `pipeline`, the terminal's progress
//! display and output that never panics. The library underneath never draws or prints; it reports through callbacks.

pub mod output;
pub mod pipeline;
pub mod progress;
pub mod train;

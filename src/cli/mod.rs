//! The binary's own modules: the flags of `train` and `pipeline` and the terminal's progress
//! display. The library underneath never draws or prints; it reports through callbacks.

pub mod pipeline;
pub mod progress;
pub mod train;

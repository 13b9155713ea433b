//! The real `maskspec` binary end to end: each command on good and malformed inputs, the
//! pipeline with its resume, shards and merge, and runs killed at seeded moments.

#[path = "../seeded/mod.rs"]
mod seeded;

mod analyze;
mod bad_inputs;
mod changed_input;
mod correlate;
mod kill;
mod outputs;
mod pipeline;
mod plot;
mod real_checkpoints;

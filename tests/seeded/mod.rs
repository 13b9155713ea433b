//! The seeded pseudo-random stream the figure and table tests draw their synthetic sweeps from
//! (a 64-bit LCG: no dependency, the same numbers on every platform).

/// A deterministic stream in [0, 1).
pub fn stream(mut state: u64) -> impl FnMut() -> f64 {
    move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

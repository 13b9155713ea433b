//! The structure of a layer's mask (SPEC §2 `pattern`), read off its biadjacency (rows are
//! outputs, columns are inputs, `in·kh·kw` of them for a convolution), so that sweeps of
//! structured masks can be grouped by it.

use super::Csr;
use rayon::prelude::*;
use std::fmt;

/// Block sides and group sizes looked for, largest block first.
const SIDES: [usize; 5] = [16, 8, 4, 2, 1];
const GROUPS: [usize; 4] = [2, 4, 8, 16];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// No edge.
    Empty,
    /// Every weight kept.
    Dense,
    /// Every group of `m` consecutive inputs of every output keeps exactly `n` (the smallest
    /// `m` that holds: a 2:4 mask is also 4:8).
    NOfM {
        n: usize,
        m: usize,
    },
    /// The mask is constant on aligned `rows × cols` tiles (the largest that holds), not 1×1.
    Block {
        rows: usize,
        cols: usize,
    },
    /// Every output keeps the same number of inputs.
    FanIn,
    Unstructured,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Empty => write!(f, "empty"),
            Pattern::Dense => write!(f, "dense"),
            Pattern::NOfM { n, m } => write!(f, "{n}:{m}"),
            Pattern::Block { rows, cols } => write!(f, "block{rows}x{cols}"),
            Pattern::FanIn => write!(f, "fan-in"),
            Pattern::Unstructured => write!(f, "unstructured"),
        }
    }
}

/// The most specific pattern `b` has: empty, dense, N:M, block, fan-in, else unstructured.
pub fn detect_pattern(b: &Csr) -> Pattern {
    let (rows, cols, nnz) = (b.n_rows, b.n_cols, b.nnz());
    if nnz == 0 {
        return Pattern::Empty;
    }
    if nnz == rows * cols {
        return Pattern::Dense;
    }
    if let Some((n, m)) = GROUPS.iter().find_map(|&m| n_of_m(b, m).map(|n| (n, m))) {
        return Pattern::NOfM { n, m };
    }
    let block_cols = SIDES.into_iter().find(|&c| cols.is_multiple_of(c) && aligned_runs(b, c)).unwrap_or(1);
    let block_rows = SIDES.into_iter().find(|&r| rows.is_multiple_of(r) && repeated_rows(b, r)).unwrap_or(1);
    if block_rows * block_cols > 1 {
        return Pattern::Block { rows: block_rows, cols: block_cols };
    }
    let fan_in = b.row(0).0.len();
    if (0..rows).into_par_iter().all(|r| b.row(r).0.len() == fan_in) {
        return Pattern::FanIn;
    }
    Pattern::Unstructured
}

/// `n` if every group of `m` consecutive columns of every row holds exactly `n < m` entries.
fn n_of_m(b: &Csr, m: usize) -> Option<usize> {
    if !b.n_cols.is_multiple_of(m) || b.n_cols == m {
        return None;
    }
    let groups = b.n_cols / m;
    let first = b.row(0).0.len();
    let n = first / groups;
    if n == 0 || n >= m || n * groups != first {
        return None;
    }
    // Columns ascend within a row: the k-th entry must fall in group k / n.
    let holds = (0..b.n_rows).into_par_iter().all(|r| {
        let row = b.row(r).0;
        row.len() == first && row.iter().enumerate().all(|(k, &c)| c as usize / m == k / n)
    });
    holds.then_some(n)
}

/// Every row's entries come in whole runs of `c` columns starting at multiples of `c`.
fn aligned_runs(b: &Csr, c: usize) -> bool {
    c == 1
        || (0..b.n_rows).into_par_iter().all(|r| {
            let row = b.row(r).0;
            row.len().is_multiple_of(c)
                && row
                    .chunks_exact(c)
                    .all(|run| (run[0] as usize).is_multiple_of(c) && run[c - 1] == run[0] + (c as u32 - 1))
        })
}

/// Rows come in groups of `r` (starting at multiples of `r`) with identical columns.
fn repeated_rows(b: &Csr, r: usize) -> bool {
    r == 1 || (0..b.n_rows).into_par_iter().all(|row| row.is_multiple_of(r) || b.row(row).0 == b.row(row - row % r).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(rows: usize, cols: usize, keep: impl Fn(usize, usize) -> bool) -> Csr {
        let mask: Vec<bool> = (0..rows * cols).map(|i| keep(i / cols, i % cols)).collect();
        let weight: Vec<f64> = mask.iter().map(|&k| f64::from(u8::from(k))).collect();
        Csr::from_dense_mask(rows, cols, &mask, &weight)
    }

    /// A well-mixed number per cell, so that `hash(..) % k` looks random in both indices.
    fn hash(r: usize, c: usize) -> usize {
        let mixed = ((r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (c as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
            .wrapping_mul(0x1656_67B1_9E37_79F9);
        (mixed >> 32) as usize
    }

    #[test]
    fn each_structure_is_named_for_what_it_is() {
        let name = |b: Csr| detect_pattern(&b).to_string();
        assert_eq!(name(csr(8, 16, |_, _| false)), "empty");
        assert_eq!(name(csr(8, 16, |_, _| true)), "dense");
        // 2:4 with the kept pair varying by row and group.
        let two_of_four = |r: usize, c: usize| {
            let pairs = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]];
            pairs[hash(r, c / 4) % 6].contains(&(c % 4))
        };
        assert_eq!(name(csr(12, 32, two_of_four)), "2:4");
        assert_eq!(name(csr(12, 32, |r, c| (c % 8) == hash(r, c / 8) % 8)), "1:8");
        // Tiles of 4 × 4 kept or dropped at random.
        assert_eq!(name(csr(16, 32, |r, c| hash(r / 4, c / 4).is_multiple_of(3))), "block4x4");
        assert_eq!(name(csr(16, 32, |r, c| hash(r, c / 4).is_multiple_of(3))), "block1x4");
        assert_eq!(name(csr(16, 32, |r, c| hash(r / 8, c).is_multiple_of(3))), "block8x1");
        // The same number of inputs per output, anywhere.
        assert_eq!(name(csr(10, 30, |r, c| (c + 7 * r) % 30 < 9)), "fan-in");
        assert_eq!(name(csr(16, 32, |r, c| hash(r, c).is_multiple_of(3))), "unstructured");
        // One stray edge breaks a block.
        assert_eq!(name(csr(16, 32, |r, c| hash(r / 4, c / 4).is_multiple_of(3) || (r, c) == (5, 5))), "unstructured");
    }
}

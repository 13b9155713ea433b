//! Sparse matrix times a thin block of vectors, the only place the iterative solver touches
//! the matrix. Blocks are row-major (`q` values per row, contiguous) so one pass over the CSR
//! serves every vector of the block: the product is memory-bound, and streaming the matrix
//! once for `q` vectors is what makes the block solver cheap.
//!
//! Narrower copies of the matrix (`u16` columns, `f32` values) make a single product faster in
//! isolation but the whole solve slower (docs/performance.md), so there is one CSR type.

use rayon::prelude::*;

use crate::graph::Csr;

/// Rows per rayon task: enough work per task to hide scheduling, small enough to balance
/// rows of very different degrees across both cores.
const ROWS_PER_TASK: usize = 256;

/// `y = A x` where `x` is `a.n_cols × q` and `y` is `a.n_rows × q`, both row-major.
/// Each output row is summed sequentially in CSR order, so the parallel path gives the same
/// bits as the sequential one.
pub(crate) fn spmm(a: &Csr, weighted: bool, x: &[f64], q: usize, y: &mut [f64], parallel: bool) {
    debug_assert_eq!(x.len(), a.n_cols * q);
    debug_assert_eq!(y.len(), a.n_rows * q);
    match (q, weighted) {
        (1, false) => run::<1, false>(a, x, y, parallel),
        (1, true) => run::<1, true>(a, x, y, parallel),
        (2, false) => run::<2, false>(a, x, y, parallel),
        (2, true) => run::<2, true>(a, x, y, parallel),
        (3, false) => run::<3, false>(a, x, y, parallel),
        (3, true) => run::<3, true>(a, x, y, parallel),
        (4, false) => run::<4, false>(a, x, y, parallel),
        (4, true) => run::<4, true>(a, x, y, parallel),
        (_, false) => run_any::<false>(a, x, q, y, parallel),
        (_, true) => run_any::<true>(a, x, q, y, parallel),
    }
}

/// Independent accumulators per output row: one running sum per row makes every entry wait
/// for the previous addition (latency-bound, measured ~4 cycles per entry); four chains
/// keep the adders busy. The summation order is fixed, so results do not depend on threads.
const CHAINS: usize = 4;

fn run<const Q: usize, const WEIGHTED: bool>(a: &Csr, x: &[f64], y: &mut [f64], parallel: bool) {
    let x_row = |c: u32| -> &[f64] { &x[c as usize * Q..c as usize * Q + Q] };
    let rows = |first_row: usize, out: &mut [f64]| {
        for (i, y_row) in out.chunks_exact_mut(Q).enumerate() {
            let (cols, vals) = a.row(first_row + i);
            let mut acc = [[0.0f64; Q]; CHAINS];
            let col_chunks = cols.chunks_exact(CHAINS);
            let val_chunks = vals.chunks_exact(CHAINS);
            let (col_tail, val_tail) = (col_chunks.remainder(), val_chunks.remainder());
            for (cs, vs) in col_chunks.zip(val_chunks) {
                for chain in 0..CHAINS {
                    let xs = x_row(cs[chain]);
                    let v = if WEIGHTED { vs[chain] } else { 1.0 };
                    for j in 0..Q {
                        acc[chain][j] += v * xs[j];
                    }
                }
            }
            for (&c, &v) in col_tail.iter().zip(val_tail) {
                let xs = x_row(c);
                let v = if WEIGHTED { v } else { 1.0 };
                for j in 0..Q {
                    acc[0][j] += v * xs[j];
                }
            }
            for j in 0..Q {
                y_row[j] = (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]);
            }
        }
    };
    if parallel {
        y.par_chunks_mut(ROWS_PER_TASK * Q).enumerate().for_each(|(t, out)| rows(t * ROWS_PER_TASK, out));
    } else {
        rows(0, y);
    }
}

fn run_any<const WEIGHTED: bool>(a: &Csr, x: &[f64], q: usize, y: &mut [f64], parallel: bool) {
    let rows = |first_row: usize, out: &mut [f64]| {
        for (i, y_row) in out.chunks_exact_mut(q).enumerate() {
            y_row.fill(0.0);
            let (cols, vals) = a.row(first_row + i);
            for (k, &c) in cols.iter().enumerate() {
                let x_row = &x[c as usize * q..c as usize * q + q];
                let v = if WEIGHTED { vals[k] } else { 1.0 };
                for (acc, &xv) in y_row.iter_mut().zip(x_row) {
                    *acc += v * xv;
                }
            }
        }
    };
    if parallel {
        y.par_chunks_mut(ROWS_PER_TASK * q).enumerate().for_each(|(t, out)| rows(t * ROWS_PER_TASK, out));
    } else {
        rows(0, y);
    }
}

/// Most row blocks of a transposed product, each scattering into a buffer of its own.
const MAX_SCATTER_BLOCKS: usize = 8;

/// Workspace of `Aᵀ` products: one buffer per block of rows. The block count is a function
/// of the matrix alone (not of the thread count), so the sums, and hence the bits, are the
/// same however the blocks run; it stays small enough that each block's entries outnumber
/// its buffer (a 1 × 10⁷ layer must not get 8 buffers of 10⁷).
pub(crate) struct Scatter {
    blocks: usize,
    buffers: Vec<f64>,
}

impl Scatter {
    /// Room for products of `a`ᵀ with blocks of up to `max_q` vectors.
    pub(crate) fn new(a: &Csr, max_q: usize) -> Scatter {
        let blocks = (a.nnz() / (4 * a.n_cols.max(1))).clamp(1, MAX_SCATTER_BLOCKS);
        Scatter { blocks, buffers: vec![0.0; blocks * a.n_cols * max_q] }
    }
}

/// `y = Aᵀ x` without building `Aᵀ`: `x` is `a.n_rows × q`, `y` is `a.n_cols × q`, both
/// row-major; `scatter` was made for `a`. Each block of rows
/// scatters into its own buffer and the buffers are summed in block order. Transposing a
/// large layer costs as much as several products and doubles its memory; this costs a few
/// passes over `y`.
pub(crate) fn spmm_transposed(
    a: &Csr,
    weighted: bool,
    x: &[f64],
    q: usize,
    y: &mut [f64],
    scatter: &mut Scatter,
    parallel: bool,
) {
    let blocks = scatter.blocks;
    let len = a.n_cols * q;
    debug_assert_eq!(x.len(), a.n_rows * q);
    debug_assert_eq!(y.len(), len);
    debug_assert!(scatter.buffers.len() >= blocks * len);
    let block_rows = a.n_rows.div_ceil(blocks);
    let scatter_rows = |block: usize, buffer: &mut [f64]| {
        buffer.fill(0.0);
        let first = (block * block_rows).min(a.n_rows);
        let last = ((block + 1) * block_rows).min(a.n_rows);
        match (q, weighted) {
            (1, false) => scatter_kernel::<1, false>(a, x, first..last, buffer),
            (1, true) => scatter_kernel::<1, true>(a, x, first..last, buffer),
            (2, false) => scatter_kernel::<2, false>(a, x, first..last, buffer),
            (2, true) => scatter_kernel::<2, true>(a, x, first..last, buffer),
            (4, false) => scatter_kernel::<4, false>(a, x, first..last, buffer),
            (4, true) => scatter_kernel::<4, true>(a, x, first..last, buffer),
            _ => {
                for r in first..last {
                    let (cols, vals) = a.row(r);
                    let x_row = &x[r * q..r * q + q];
                    for (&c, &v) in cols.iter().zip(vals) {
                        let v = if weighted { v } else { 1.0 };
                        let target = &mut buffer[c as usize * q..c as usize * q + q];
                        for (t, &xv) in target.iter_mut().zip(x_row) {
                            *t += v * xv;
                        }
                    }
                }
            }
        }
    };
    let buffers = &mut scatter.buffers[..blocks * len];
    let reduce = |offset: usize, out: &mut [f64], buffers: &[f64]| {
        for (i, value) in out.iter_mut().enumerate() {
            *value = (0..blocks).map(|b| buffers[b * len + offset + i]).sum();
        }
    };
    if parallel {
        buffers.par_chunks_mut(len).enumerate().for_each(|(block, buffer)| scatter_rows(block, buffer));
        let buffers = &*buffers;
        y.par_chunks_mut(ROWS_PER_TASK * q)
            .enumerate()
            .for_each(|(t, out)| reduce(t * ROWS_PER_TASK * q, out, buffers));
    } else {
        for (block, buffer) in buffers.chunks_mut(len).enumerate() {
            scatter_rows(block, buffer);
        }
        reduce(0, y, buffers);
    }
}

/// `buffer += A[rows]ᵀ x[rows]` for a block of `Q` vectors: the row's `x` values stay in
/// registers while its entries are scattered.
fn scatter_kernel<const Q: usize, const WEIGHTED: bool>(
    a: &Csr,
    x: &[f64],
    rows: std::ops::Range<usize>,
    buffer: &mut [f64],
) {
    for r in rows {
        let (cols, vals) = a.row(r);
        let mut x_row = [0.0f64; Q];
        x_row.copy_from_slice(&x[r * Q..r * Q + Q]);
        for (k, &c) in cols.iter().enumerate() {
            let target = &mut buffer[c as usize * Q..c as usize * Q + Q];
            if WEIGHTED {
                let v = vals[k];
                for j in 0..Q {
                    target[j] += v * x_row[j];
                }
            } else {
                for j in 0..Q {
                    target[j] += x_row[j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense reference: `y = A x` on the dense form of `a`, written independently of the kernel.
    fn dense_product(a: &Csr, weighted: bool, x: &[f64], q: usize) -> Vec<f64> {
        let dense = a.to_dense(weighted);
        let mut y = vec![0.0; a.n_rows * q];
        for r in 0..a.n_rows {
            for c in 0..a.n_cols {
                for j in 0..q {
                    y[r * q + j] += dense[r * a.n_cols + c] * x[c * q + j];
                }
            }
        }
        y
    }

    #[test]
    fn matches_dense_product_for_every_block_width() {
        // 700 rows spans several rayon tasks; irregular pattern with empty rows.
        let (n_rows, n_cols) = (700, 90);
        let mut triplets = Vec::new();
        for r in 0..n_rows {
            for c in 0..n_cols {
                if (r * 7 + c * 13) % 11 < 3 && r % 17 != 0 {
                    triplets.push((r, c, ((r * 31 + c * 17) % 23) as f64 / 7.0 + 0.1));
                }
            }
        }
        let a = Csr::from_triplets(n_rows, n_cols, &triplets).unwrap();
        for q in 1..=6 {
            let x: Vec<f64> = (0..n_cols * q).map(|i| ((i * 37) % 19) as f64 - 9.0).collect();
            for weighted in [false, true] {
                let expected = dense_product(&a, weighted, &x, q);
                for parallel in [false, true] {
                    let mut y = vec![f64::NAN; n_rows * q];
                    spmm(&a, weighted, &x, q, &mut y, parallel);
                    for (got, want) in y.iter().zip(&expected) {
                        assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "q={q} {got} vs {want}");
                    }
                }
                // Aᵀ (xᵗ) against the dense product with the explicit transpose.
                let xt: Vec<f64> = (0..n_rows * q).map(|i| ((i * 29) % 13) as f64 - 6.0).collect();
                let expected = dense_product(&a.transpose(), weighted, &xt, q);
                let mut results = Vec::new();
                for parallel in [false, true] {
                    let mut y = vec![f64::NAN; n_cols * q];
                    let mut scatter = Scatter::new(&a, q);
                    assert!(scatter.blocks > 1, "the test must exercise the block sums");
                    scatter.buffers.fill(f64::NAN);
                    spmm_transposed(&a, weighted, &xt, q, &mut y, &mut scatter, parallel);
                    for (got, want) in y.iter().zip(&expected) {
                        assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "ᵀ q={q} {got} vs {want}");
                    }
                    results.push(y);
                }
                assert_eq!(results[0], results[1], "parallel and sequential bits differ");
            }
        }
    }
}

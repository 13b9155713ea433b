//! Sparse matrix times a thin block of vectors, the only place the iterative solver touches
//! the matrix. Blocks are row-major (`q` values per row, contiguous) so one pass over the CSR
//! serves every vector of the block: the product is memory-bound, and streaming the matrix
//! once for `q` vectors is what makes the block solver cheap.

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

fn run<const Q: usize, const WEIGHTED: bool>(a: &Csr, x: &[f64], y: &mut [f64], parallel: bool) {
    let rows = |first_row: usize, out: &mut [f64]| {
        for (i, y_row) in out.chunks_exact_mut(Q).enumerate() {
            let (cols, vals) = a.row(first_row + i);
            let mut acc = [0.0f64; Q];
            for (k, &c) in cols.iter().enumerate() {
                let x_row = &x[c as usize * Q..c as usize * Q + Q];
                if WEIGHTED {
                    let v = vals[k];
                    for j in 0..Q {
                        acc[j] += v * x_row[j];
                    }
                } else {
                    for j in 0..Q {
                        acc[j] += x_row[j];
                    }
                }
            }
            y_row.copy_from_slice(&acc);
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
        let a = Csr::from_triplets(n_rows, n_cols, &triplets);
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
            }
        }
    }
}

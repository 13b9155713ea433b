//! The trainer's kernels. Activations are stored feature-major, `[features, batch]` row-major,
//! so every inner loop runs over the batch on contiguous memory and vectorizes whatever the
//! sparsity pattern is; a sparse layer only ever touches its mask's positions.
//!
//! - [`SparseWeights`]: the mask's positions in CSR order (rows = outputs) plus a transposed
//!   index, so the input gradient is parallel over inputs without atomics.
//! - Forward `Y = W·X`, input gradient `dX = Wᵀ·dY`, weight gradient at the mask's positions
//!   only (SDDMM) `dW_k = dY[o,:]·X[j,:]`.
//! - The dense path (`dense_*`) is faer's GEMM on the same layout: dense layers and the baseline.
//!
//! Each sparse kernel is compiled twice, once for AVX2+FMA (picked at run time when the CPU has
//! it) and once portable; every row is computed by one thread in a fixed order, so results do
//! not depend on the thread count.

mod simd;

pub use simd::has_avx2_fma;
use simd::{DotFn, GatherFn};

use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// A sparse `[rows, cols]` weight matrix holding only its mask's positions.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseWeights {
    pub rows: usize,
    pub cols: usize,
    /// CSR row pointers (`rows + 1`).
    pub row_ptr: Vec<usize>,
    /// Column (input) index of each stored weight.
    pub col_idx: Vec<u32>,
    /// The stored weights, aligned with `col_idx`.
    pub values: Vec<f32>,
    /// Transposed index: for input `j`, `t_ptr[j]..t_ptr[j+1]` lists its outputs (`t_row`) and
    /// the position of that weight in `values` (`t_pos`).
    t_ptr: Vec<usize>,
    t_row: Vec<u32>,
    t_pos: Vec<u32>,
}

impl SparseWeights {
    /// The positions where `mask` is set, with their values from the dense row-major `weight`.
    pub fn from_dense_masked(rows: usize, cols: usize, weight: &[f32], mask: &[bool]) -> Self {
        assert_eq!(weight.len(), rows * cols, "weight must be [rows, cols]");
        assert_eq!(mask.len(), rows * cols, "mask must be [rows, cols]");
        let mut row_ptr = Vec::with_capacity(rows + 1);
        let mut col_idx = Vec::new();
        let mut values = Vec::new();
        row_ptr.push(0);
        for r in 0..rows {
            for c in 0..cols {
                if mask[r * cols + c] {
                    col_idx.push(c as u32);
                    values.push(weight[r * cols + c]);
                }
            }
            row_ptr.push(col_idx.len());
        }
        let mut w = SparseWeights {
            rows,
            cols,
            row_ptr,
            col_idx,
            values,
            t_ptr: Vec::new(),
            t_row: Vec::new(),
            t_pos: Vec::new(),
        };
        w.build_transpose();
        w
    }

    fn build_transpose(&mut self) {
        let mut t_ptr = vec![0usize; self.cols + 1];
        for &c in &self.col_idx {
            t_ptr[c as usize + 1] += 1;
        }
        for j in 0..self.cols {
            t_ptr[j + 1] += t_ptr[j];
        }
        let mut next = t_ptr.clone();
        let mut t_row = vec![0u32; self.col_idx.len()];
        let mut t_pos = vec![0u32; self.col_idx.len()];
        for r in 0..self.rows {
            for k in self.row_ptr[r]..self.row_ptr[r + 1] {
                let c = self.col_idx[k] as usize;
                t_row[next[c]] = r as u32;
                t_pos[next[c]] = k as u32;
                next[c] += 1;
            }
        }
        self.t_ptr = t_ptr;
        self.t_row = t_row;
        self.t_pos = t_pos;
    }

    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Dense row-major `[rows, cols]` copy (zeros off the mask).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut dense = vec![0.0; self.rows * self.cols];
        for r in 0..self.rows {
            for k in self.row_ptr[r]..self.row_ptr[r + 1] {
                dense[r * self.cols + self.col_idx[k] as usize] = self.values[k];
            }
        }
        dense
    }

    /// The mask as a dense row-major `[rows, cols]` 0/1 array.
    pub fn mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.rows * self.cols];
        for r in 0..self.rows {
            for k in self.row_ptr[r]..self.row_ptr[r + 1] {
                mask[r * self.cols + self.col_idx[k] as usize] = true;
            }
        }
        mask
    }
}

/// Rows per rayon task: enough work per task that scheduling stays negligible.
fn min_rows(batch: usize) -> usize {
    (4096 / batch.max(1)).max(1)
}

/// Bytes of the randomly accessed operand (`rows × tile` f32) one pass may touch: within a
/// core's L2 (1 MiB on the machines measured), so a wide layer is not served from L3
/// (measured: forward of a 3238² layer at 10% density 16.4 → 13.8 ms).
const TILE_BYTES: usize = 768 * 1024;

/// Batch windows `[b0, b1)` processed one after the other: the whole batch when the operand
/// with `src_rows` rows fits [`TILE_BYTES`], else multiples of 64 columns (the kernels' chunk).
fn batch_tiles(batch: usize, src_rows: usize) -> Vec<(usize, usize)> {
    let fit = TILE_BYTES / (4 * src_rows.max(1));
    let tile = if fit >= batch { batch } else { (fit / 64 * 64).max(64) };
    (0..batch).step_by(tile.max(1)).map(|b0| (b0, (b0 + tile).min(batch))).collect()
}

/// `y = W·x` with `x` `[cols, batch]` and `y` `[rows, batch]`.
pub fn sparse_forward(w: &SparseWeights, x: &[f32], batch: usize, y: &mut [f32]) {
    forward_with(simd::gather_rows(), w, x, batch, y)
}

fn forward_with(kernel: GatherFn, w: &SparseWeights, x: &[f32], batch: usize, y: &mut [f32]) {
    assert_eq!(x.len(), w.cols * batch);
    assert_eq!(y.len(), w.rows * batch);
    if batch == 0 {
        return;
    }
    for (b0, b1) in batch_tiles(batch, w.cols) {
        y.par_chunks_mut(batch).with_min_len(min_rows(b1 - b0)).enumerate().for_each(|(r, out)| {
            let range = w.row_ptr[r]..w.row_ptr[r + 1];
            kernel(&w.col_idx[range.clone()], &w.values[range], x, batch, b0, &mut out[b0..b1]);
        });
    }
}

/// `dx = Wᵀ·dy` with `dy` `[rows, batch]` and `dx` `[cols, batch]`.
pub fn sparse_input_grad(w: &SparseWeights, dy: &[f32], batch: usize, dx: &mut [f32]) {
    input_grad_with(simd::gather_rows(), w, dy, batch, dx)
}

fn input_grad_with(kernel: GatherFn, w: &SparseWeights, dy: &[f32], batch: usize, dx: &mut [f32]) {
    assert_eq!(dy.len(), w.rows * batch);
    assert_eq!(dx.len(), w.cols * batch);
    if batch == 0 {
        return;
    }
    // The weights in transposed order, gathered once: read through `t_pos` inside the kernel
    // they were random reads into a multi-MB array per position and batch tile (measured 3×
    // slower than the forward on a 3238² layer).
    let t_values: Vec<f32> = w.t_pos.par_iter().map(|&p| w.values[p as usize]).collect();
    for (b0, b1) in batch_tiles(batch, w.rows) {
        dx.par_chunks_mut(batch).with_min_len(min_rows(b1 - b0)).enumerate().for_each(|(c, out)| {
            let range = w.t_ptr[c]..w.t_ptr[c + 1];
            kernel(&w.t_row[range.clone()], &t_values[range], dy, batch, b0, &mut out[b0..b1]);
        });
    }
}

/// The weight gradient at the mask's positions only: `dw[k] = dy[row(k),:] · x[col(k),:]`,
/// aligned with `w.values`.
pub fn sparse_weight_grad(w: &SparseWeights, dy: &[f32], x: &[f32], batch: usize, dw: &mut [f32]) {
    weight_grad_with(simd::dot_rows(), w, dy, x, batch, dw)
}

fn weight_grad_with(kernel: DotFn, w: &SparseWeights, dy: &[f32], x: &[f32], batch: usize, dw: &mut [f32]) {
    assert_eq!(dy.len(), w.rows * batch);
    assert_eq!(x.len(), w.cols * batch);
    assert_eq!(dw.len(), w.nnz());
    // Split dw by rows so each task owns its rows' gradients.
    let mut parts: Vec<(usize, &mut [f32])> = Vec::with_capacity(w.rows);
    let mut rest = dw;
    for r in 0..w.rows {
        let (head, tail) = rest.split_at_mut(w.row_ptr[r + 1] - w.row_ptr[r]);
        parts.push((r, head));
        rest = tail;
    }
    // One pass over the whole batch: measured faster than batch tiles here, since 8 positions
    // share each pass over `dy_row` and tiles would walk the indices again.
    parts.into_par_iter().with_min_len(min_rows(batch)).for_each(|(r, out)| {
        let range = w.row_ptr[r]..w.row_ptr[r + 1];
        kernel(&w.col_idx[range], &dy[r * batch..(r + 1) * batch], x, batch, out);
    });
}

fn par(threads: usize) -> Par {
    if threads <= 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    }
}

/// Dense `y = W·x`: `w` `[rows, cols]`, `x` `[cols, batch]`, `y` `[rows, batch]` (faer GEMM).
pub fn dense_forward(w: &[f32], rows: usize, cols: usize, x: &[f32], batch: usize, y: &mut [f32], threads: usize) {
    let w = MatRef::from_row_major_slice(w, rows, cols);
    let x = MatRef::from_row_major_slice(x, cols, batch);
    let y = MatMut::from_row_major_slice_mut(y, rows, batch);
    faer::linalg::matmul::matmul(y, Accum::Replace, w, x, 1.0f32, par(threads));
}

/// Dense `dx = Wᵀ·dy`.
pub fn dense_input_grad(w: &[f32], rows: usize, cols: usize, dy: &[f32], batch: usize, dx: &mut [f32], threads: usize) {
    let w = MatRef::from_row_major_slice(w, rows, cols);
    let dy = MatRef::from_row_major_slice(dy, rows, batch);
    let dx = MatMut::from_row_major_slice_mut(dx, cols, batch);
    faer::linalg::matmul::matmul(dx, Accum::Replace, w.transpose(), dy, 1.0f32, par(threads));
}

/// Dense `dw = dy·xᵀ` (`[rows, cols]`).
pub fn dense_weight_grad(
    dy: &[f32],
    x: &[f32],
    rows: usize,
    cols: usize,
    batch: usize,
    dw: &mut [f32],
    threads: usize,
) {
    let dy = MatRef::from_row_major_slice(dy, rows, batch);
    let x = MatRef::from_row_major_slice(x, cols, batch);
    let dw = MatMut::from_row_major_slice_mut(dw, rows, cols);
    faer::linalg::matmul::matmul(dw, Accum::Replace, dy, x.transpose(), 1.0f32, par(threads));
}

#[cfg(test)]
mod tests;

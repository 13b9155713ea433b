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
//! - Block patterns: lines (outputs, or inputs for `Wᵀ·δ`) that share their positions, in
//!   aligned groups of 4 or 2, go through grouped kernels that load each operand row once for
//!   the whole group ([`SparseWeights::row_group`], found from the mask itself).
//!
//! Each sparse kernel is compiled for AVX-512F, for AVX2+FMA and portable (the widest the CPU
//! has is picked at run time); every row is computed by one thread in a fixed order, so results
//! do not depend on the thread count.

mod simd;

pub use simd::has_avx2_fma;
use simd::{GroupSlices, Kernels, GROUP_SIZES};
use std::sync::OnceLock;

use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// A sparse `[rows, cols]` weight matrix holding only its mask's positions.
///
/// The input gradient reads a transposed copy of `values`: after changing `values`, call
/// [`SparseWeights::sync_transposed`] before [`sparse_input_grad`].
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
    /// `values` in transposed order (`values[t_pos[i]]`), kept between steps: gathering it
    /// into a fresh 4 MB vector on every input gradient cost an allocation, page faults and
    /// an unmap each step.
    t_values: Vec<f32>,
    /// Where each row's entries cross into the next panel of [`PANEL`] columns: row `r`'s
    /// entries in column panel `p` are `seg[r·(pc+1) + p]..seg[r·(pc+1) + p + 1]`, with `pc`
    /// the number of column panels (columns are sorted within a row).
    seg: Vec<usize>,
    /// The same for the transposed index over panels of rows.
    t_seg: Vec<usize>,
    /// Size of the aligned groups of rows that share their columns (4, 2, or 1 for none): a
    /// block pattern's tile height. The forward and weight gradient run such groups together.
    pub row_group: usize,
    /// The same for columns sharing their rows (a tile's width), for the input gradient.
    pub col_group: usize,
}

/// Rows of the randomly accessed operand one pass reads (the columns of `W` in the forward and
/// weight gradient, its rows in the input gradient). A layer wider than this is processed in panels
/// so the operand's rows stay in L2 (1 MiB) at batch 128. It helps the input gradient most; the
/// forward and weight gradient still read a 512-byte operand row from L2 per stored weight.
pub const PANEL: usize = 1024;

fn panels(n: usize) -> usize {
    n.div_ceil(PANEL).max(1)
}

/// Split points of every line (`ptr[l]..ptr[l+1]`, sorted `idx` within a line) at multiples of
/// [`PANEL`]: `panels(n) + 1` per line.
fn segments(ptr: &[usize], idx: &[u32], n: usize) -> Vec<usize> {
    let np = panels(n);
    let mut seg = Vec::with_capacity((ptr.len() - 1) * (np + 1));
    for line in ptr.windows(2) {
        let entries = &idx[line[0]..line[1]];
        seg.push(line[0]);
        for p in 1..np {
            seg.push(line[0] + entries.partition_point(|&i| (i as usize) < p * PANEL));
        }
        seg.push(line[1]);
    }
    seg
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
            t_values: Vec::new(),
            seg: Vec::new(),
            t_seg: Vec::new(),
            row_group: 1,
            col_group: 1,
        };
        w.build_transpose();
        w.seg = segments(&w.row_ptr, &w.col_idx, cols);
        w.t_seg = segments(&w.t_ptr, &w.t_row, rows);
        w.row_group = shared_group(&w.row_ptr, &w.col_idx);
        w.col_group = shared_group(&w.t_ptr, &w.t_row);
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
        self.t_values = vec![0.0; self.t_pos.len()];
        self.sync_transposed();
    }

    /// Copies `values` into the transposed order the input gradient reads.
    pub fn sync_transposed(&mut self) {
        let values = &self.values;
        self.t_values.par_iter_mut().zip(&self.t_pos).with_min_len(1 << 14).for_each(|(t, &p)| *t = values[p as usize]);
    }

    fn transposed_in_sync(&self) -> bool {
        self.t_values.iter().zip(&self.t_pos).all(|(&t, &p)| t.to_bits() == self.values[p as usize].to_bits())
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

/// The largest of [`GROUP_SIZES`] such that every aligned group of that many lines (the last,
/// shorter one excepted) lists the same positions, else 1.
fn shared_group(ptr: &[usize], idx: &[u32]) -> usize {
    let lines = ptr.len() - 1;
    let line = |l: usize| &idx[ptr[l]..ptr[l + 1]];
    GROUP_SIZES
        .into_iter()
        .find(|&g| lines >= g && (0..lines / g * g).all(|l| l % g == 0 || line(l) == line(l - l % g)))
        .unwrap_or(1)
}

fn kernels() -> &'static Kernels {
    static DETECTED: OnceLock<Kernels> = OnceLock::new();
    DETECTED.get_or_init(Kernels::detect)
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
    forward_with(kernels(), w, x, batch, y)
}

/// One side of a sparse matrix as the gather kernels read it: lines (`ptr`, `idx` sorted
/// within a line, `values`), their panel split points `seg`, and the size of the groups of
/// lines that share their positions.
struct Lines<'a> {
    ptr: &'a [usize],
    idx: &'a [u32],
    values: &'a [f32],
    seg: &'a [usize],
    group: usize,
}

/// `out[line, :] = Σ values · src[idx, :]` over each line's entries, panel by panel of `src`
/// rows: a line adds each later panel to what the earlier ones stored, in the order one pass
/// would, so results depend neither on the panels nor on the thread count. Full groups of
/// lines sharing their positions go through the grouped kernel, the rest line by line.
fn gather_panels(k: &Kernels, lines: &Lines, src: &[f32], src_rows: usize, batch: usize, out: &mut [f32]) {
    if batch == 0 {
        return;
    }
    let np = panels(src_rows);
    let group = lines.group;
    let range = |l: usize, p: usize| lines.seg[l * (np + 1) + p]..lines.seg[l * (np + 1) + p + 1];
    for (b0, b1) in batch_tiles(batch, src_rows.min(PANEL)) {
        for p in 0..np {
            let tasks = (min_rows(b1 - b0) / group).max(1);
            out.par_chunks_mut(group * batch).with_min_len(tasks).enumerate().for_each(|(q, out)| {
                let l0 = q * group;
                if group > 1 && out.len() == group * batch {
                    let r = range(l0, p);
                    if p == 0 || !r.is_empty() {
                        let stride = lines.ptr[l0 + 1] - lines.ptr[l0];
                        let values = &lines.values[lines.ptr[l0]..lines.ptr[l0 + group]];
                        let slices = GroupSlices {
                            idx: &lines.idx[r.clone()],
                            values: &values[r.start - lines.ptr[l0]..],
                            stride,
                            lines: group,
                        };
                        (k.gather_group)(&slices, src, batch, (b0, b1), p > 0, out);
                    }
                    return;
                }
                for (g, out) in out.chunks_mut(batch).enumerate() {
                    let r = range(l0 + g, p);
                    if p == 0 || !r.is_empty() {
                        (k.gather)(&lines.idx[r.clone()], &lines.values[r], src, batch, b0, p > 0, &mut out[b0..b1]);
                    }
                }
            });
        }
    }
}

fn forward_with(k: &Kernels, w: &SparseWeights, x: &[f32], batch: usize, y: &mut [f32]) {
    assert_eq!(x.len(), w.cols * batch);
    assert_eq!(y.len(), w.rows * batch);
    let lines = Lines { ptr: &w.row_ptr, idx: &w.col_idx, values: &w.values, seg: &w.seg, group: w.row_group };
    gather_panels(k, &lines, x, w.cols, batch, y);
}

/// `dx = Wᵀ·dy` with `dy` `[rows, batch]` and `dx` `[cols, batch]`.
pub fn sparse_input_grad(w: &SparseWeights, dy: &[f32], batch: usize, dx: &mut [f32]) {
    input_grad_with(kernels(), w, dy, batch, dx)
}

fn input_grad_with(k: &Kernels, w: &SparseWeights, dy: &[f32], batch: usize, dx: &mut [f32]) {
    assert_eq!(dy.len(), w.rows * batch);
    assert_eq!(dx.len(), w.cols * batch);
    // The weights in transposed order, contiguous: read through `t_pos` inside the kernel
    // they were random reads into a multi-MB array per position and batch tile (measured 3×
    // slower than the forward on a 3238² layer).
    debug_assert!(w.transposed_in_sync(), "values changed without sync_transposed");
    let lines = Lines { ptr: &w.t_ptr, idx: &w.t_row, values: &w.t_values, seg: &w.t_seg, group: w.col_group };
    gather_panels(k, &lines, dy, w.rows, batch, dx);
}

/// The weight gradient at the mask's positions only: `dw[k] = dy[row(k),:] · x[col(k),:]`,
/// aligned with `w.values`.
pub fn sparse_weight_grad(w: &SparseWeights, dy: &[f32], x: &[f32], batch: usize, dw: &mut [f32]) {
    weight_grad_with(kernels(), w, dy, x, batch, dw)
}

fn weight_grad_with(k: &Kernels, w: &SparseWeights, dy: &[f32], x: &[f32], batch: usize, dw: &mut [f32]) {
    assert_eq!(dy.len(), w.rows * batch);
    assert_eq!(x.len(), w.cols * batch);
    assert_eq!(dw.len(), w.nnz());
    // Split dw by groups of rows so each task owns its rows' gradients.
    let group = w.row_group;
    let mut parts: Vec<(usize, &mut [f32])> = Vec::with_capacity(w.rows.div_ceil(group));
    let mut rest = dw;
    for r0 in (0..w.rows).step_by(group) {
        let end = (r0 + group).min(w.rows);
        let (head, tail) = rest.split_at_mut(w.row_ptr[end] - w.row_ptr[r0]);
        parts.push((r0, head));
        rest = tail;
    }
    // The whole batch per pass (several positions share each pass over `dy_row`), panel by
    // panel of `x` rows so they stay in L2; each position is computed once, so the result does
    // not depend on the panels.
    let np = panels(w.cols);
    let seg = |r: usize, p: usize| (w.seg[r * (np + 1) + p], w.seg[r * (np + 1) + p + 1]);
    for p in 0..np {
        parts.par_iter_mut().with_min_len((min_rows(batch) / group).max(1)).for_each(|(r0, out)| {
            let (r0, lines) = (*r0, (w.rows - *r0).min(group));
            if lines == group && group > 1 {
                let (start, end) = seg(r0, p);
                let stride = w.row_ptr[r0 + 1] - w.row_ptr[r0];
                let dy = &dy[r0 * batch..(r0 + group) * batch];
                (k.dot_group)(&w.col_idx[start..end], dy, x, batch, stride, &mut out[start - w.row_ptr[r0]..]);
                return;
            }
            for r in r0..r0 + lines {
                let (start, end) = seg(r, p);
                let local = start - w.row_ptr[r0]..end - w.row_ptr[r0];
                (k.dot)(&w.col_idx[start..end], &dy[r * batch..(r + 1) * batch], x, batch, &mut out[local]);
            }
        });
    }
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

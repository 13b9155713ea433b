//! Products of the iterative solver for layers dense enough that one bit per cell costs less
//! than a column index per entry (an LLM MLP pruned to 50% holds a bit per cell in 5.6 MB, its
//! `u32` column indices in 90 MB).
//!
//! A plain product reads only the bits; a weighted one streams the values once, as `f32` when
//! they all are exactly `f32` (weights read from f32, f16 or bf16 tensors). The kernels are
//! AVX-512: a byte of bits is a mask register, the pattern product is a masked add of the
//! vector's values, and the weighted one expands the row's next values into the set lanes.
//! Products with `Bᵀ` scatter each row into a buffer that stays in L2; a stored transpose
//! gathered slightly faster (21 against 28 ms per weighted product on that layer) but cost
//! 0.5 s and the values' memory again to build. Without AVX-512 the CSR products are used
//! (one bit at a time is slower than a column index).

use std::borrow::Cow;

use rayon::prelude::*;

use crate::graph::Csr;

/// Rows per rayon task (the same granularity as the CSR products).
const ROWS_PER_TASK: usize = 256;

/// Whether this CPU runs the bit-row kernels.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A row's values as stored: `f32` when every value of the matrix is one exactly (weights
/// read from f32, f16 or bf16 tensors), halving what a weighted product streams.
enum Values<'a> {
    F64(Cow<'a, [f64]>),
    F32(Vec<f32>),
}

impl Values<'_> {
    fn of(values: Cow<'_, [f64]>) -> Values<'_> {
        if values.iter().all(|&v| (v as f32) as f64 == v) {
            Values::F32(values.iter().map(|&v| v as f32).collect())
        } else {
            Values::F64(values)
        }
    }
}

/// A matrix as one bit per cell (`words` 64-bit words per row, column `c` at bit `c % 64` of
/// word `c / 64`) plus its values in row order, indexed by `row_ptr` as in CSR.
pub(crate) struct BitRows<'a> {
    rows: usize,
    cols: usize,
    words: usize,
    bits: Vec<u64>,
    row_ptr: Cow<'a, [usize]>,
    values: Values<'a>,
}

impl<'a> BitRows<'a> {
    /// The rows of `b`, sharing its values unless they fit `f32`.
    pub(crate) fn rows_of(b: &'a Csr) -> BitRows<'a> {
        let words = b.n_cols.div_ceil(64);
        let mut bits = vec![0u64; b.n_rows * words];
        bits.par_chunks_mut(words.max(1)).enumerate().take(b.n_rows).for_each(|(r, row_bits)| {
            for &c in b.row(r).0 {
                row_bits[c as usize / 64] |= 1 << (c % 64);
            }
        });
        BitRows {
            rows: b.n_rows,
            cols: b.n_cols,
            words,
            bits,
            row_ptr: Cow::Borrowed(&b.row_ptr),
            values: Values::of(Cow::Borrowed(&b.values)),
        }
    }

    /// Columns the kernels see: whole words, so every byte of bits has its 8 values.
    fn width(&self) -> usize {
        self.words * 64
    }

    /// `y = A x` (`x`: `cols × q`, `y`: `rows × q`, row-major, `q` of 1 or 2), the 0/1 pattern
    /// unless `weighted`. Each row is summed by one thread in a fixed order, so the bits do not
    /// depend on `parallel`. Only called when [`available`].
    pub(crate) fn product(&self, weighted: bool, x: &[f64], q: usize, y: &mut [f64], parallel: bool) {
        assert!(q == 1 || q == 2, "bit-row products take blocks of one or two vectors");
        debug_assert_eq!(x.len(), self.cols * q);
        debug_assert_eq!(y.len(), self.rows * q);
        // The kernels take the vectors one after the other (a byte of bits then covers 8
        // consecutive values of each), padded to whole words.
        let width = self.width();
        let mut vectors = vec![0.0; q * width];
        for (c, values) in x.chunks_exact(q).enumerate() {
            for (j, &v) in values.iter().enumerate() {
                vectors[j * width + c] = v;
            }
        }
        let rows = |first_row: usize, out: &mut [f64]| {
            for (i, y_row) in out.chunks_exact_mut(q).enumerate() {
                let r = first_row + i;
                let bits = &self.bits[r * self.words..(r + 1) * self.words];
                let start = self.row_ptr[r];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `available()` (AVX-512F) is checked before a BitRows product is chosen;
                // `vectors` holds `q` vectors of `width` values; the values from `start` on
                // hold the row's, one per set bit, in order.
                unsafe {
                    match &self.values {
                        Values::F64(values) => avx512::row(bits, &values[start..], &vectors, weighted, y_row),
                        Values::F32(values) => avx512::row(bits, &values[start..], &vectors, weighted, y_row),
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (bits, start, &vectors, weighted);
                    unreachable!("bit-row products need AVX-512");
                }
            }
        };
        if parallel {
            y.par_chunks_mut(ROWS_PER_TASK * q).enumerate().for_each(|(t, out)| rows(t * ROWS_PER_TASK, out));
        } else {
            rows(0, y);
        }
    }

    /// `y = Aᵀ x` (`x`: `rows × q`, `y`: `cols × q`) from the rows of `A`: each of a fixed
    /// number of row blocks scatters into a buffer of its own (`q` vectors of `width`, in L2)
    /// and the buffers are summed in block order, so the bits do not depend on `parallel`.
    /// Only called when [`available`].
    pub(crate) fn product_transposed(&self, weighted: bool, x: &[f64], q: usize, y: &mut [f64], parallel: bool) {
        assert!(q == 1 || q == 2, "bit-row products take blocks of one or two vectors");
        debug_assert_eq!(x.len(), self.rows * q);
        debug_assert_eq!(y.len(), self.cols * q);
        let width = self.width();
        let len = q * width;
        let blocks = SCATTER_BLOCKS.min(self.rows.max(1));
        let block_rows = self.rows.div_ceil(blocks);
        let mut buffers = vec![0.0; blocks * len];
        let scatter = |block: usize, buffer: &mut [f64]| {
            for r in (block * block_rows).min(self.rows)..((block + 1) * block_rows).min(self.rows) {
                let bits = &self.bits[r * self.words..(r + 1) * self.words];
                let start = self.row_ptr[r];
                let x_row = &x[r * q..(r + 1) * q];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `product`; `buffer` holds `q` vectors of `width` values.
                unsafe {
                    match &self.values {
                        Values::F64(values) => avx512::scatter_row(bits, &values[start..], x_row, weighted, buffer),
                        Values::F32(values) => avx512::scatter_row(bits, &values[start..], x_row, weighted, buffer),
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (bits, start, x_row, weighted, &buffer);
                    unreachable!("bit-row products need AVX-512");
                }
            }
        };
        let reduce = |first_col: usize, out: &mut [f64], buffers: &[f64]| {
            for (i, value) in out.iter_mut().enumerate() {
                let (c, j) = (first_col + i / q, i % q);
                *value = (0..blocks).map(|b| buffers[b * len + j * width + c]).sum();
            }
        };
        if parallel {
            buffers.par_chunks_mut(len).enumerate().for_each(|(block, buffer)| scatter(block, buffer));
            let buffers = &buffers;
            y.par_chunks_mut(ROWS_PER_TASK * q)
                .enumerate()
                .for_each(|(t, out)| reduce(t * ROWS_PER_TASK, out, buffers));
        } else {
            for (block, buffer) in buffers.chunks_mut(len).enumerate() {
                scatter(block, buffer);
            }
            reduce(0, y, &buffers);
        }
    }
}

/// Row blocks of a transposed product, each scattering into its own buffer.
const SCATTER_BLOCKS: usize = 4;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// A stored value type: loads of up to 8 consecutive values as `f64` lanes.
    pub(super) trait Load: Copy {
        /// 8 values from `p` (all readable).
        unsafe fn load8(p: *const Self) -> __m512d;
        /// The first `n < 8` values from `p`, zeros above.
        unsafe fn load_first(p: *const Self, n: u32) -> __m512d;
    }

    impl Load for f64 {
        #[inline(always)]
        unsafe fn load8(p: *const f64) -> __m512d {
            unsafe { _mm512_loadu_pd(p) }
        }
        #[inline(always)]
        unsafe fn load_first(p: *const f64, n: u32) -> __m512d {
            unsafe { _mm512_maskz_loadu_pd(((1u32 << n) - 1) as u8, p) }
        }
    }

    impl Load for f32 {
        #[inline(always)]
        unsafe fn load8(p: *const f32) -> __m512d {
            unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn load_first(p: *const f32, n: u32) -> __m512d {
            unsafe { _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p))) }
        }
    }

    /// The stored values of a byte's set bits, expanded into its set lanes (zeros elsewhere):
    /// loads the next 8 values (a masked load only within 8 of the end of `values`, which
    /// holds `len` of them) and advances `next` by the byte's popcount.
    #[inline(always)]
    unsafe fn expanded<V: Load>(k: u8, values: *const V, len: usize, next: &mut usize) -> __m512d {
        let n = k.count_ones();
        unsafe {
            let stored =
                if *next + 8 <= len { V::load8(values.add(*next)) } else { V::load_first(values.add(*next), n) };
            *next += n as usize;
            _mm512_maskz_expand_pd(k, stored)
        }
    }

    /// One row's sums into `out` (`q = out.len()` values); `values` starts with the row's;
    /// `x` holds the `q` vectors one after the other.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row<V: Load>(bits: &[u64], values: &[V], x: &[f64], weighted: bool, out: &mut [f64]) {
        unsafe {
            match (out.len(), weighted) {
                (1, false) => row_of::<V, 1, false>(bits, values, x, out),
                (1, true) => row_of::<V, 1, true>(bits, values, x, out),
                (_, false) => row_of::<V, 2, false>(bits, values, x, out),
                (_, true) => row_of::<V, 2, true>(bits, values, x, out),
            }
        }
    }

    /// Two accumulators per vector alternate by byte so consecutive adds do not wait on each
    /// other; the order of the sums is fixed.
    #[target_feature(enable = "avx512f")]
    unsafe fn row_of<V: Load, const Q: usize, const WEIGHTED: bool>(
        bits: &[u64],
        values: &[V],
        x: &[f64],
        out: &mut [f64],
    ) {
        let mut acc = [[_mm512_setzero_pd(); 2]; Q];
        let mut next = 0usize;
        let width = x.len() / Q;
        let (len, values, x) = (values.len(), values.as_ptr(), x.as_ptr());
        for (w, &word) in bits.iter().enumerate() {
            if word == 0 {
                continue;
            }
            for byte in 0..8 {
                let k = (word >> (8 * byte)) as u8;
                let column = w * 64 + byte * 8;
                let a = byte & 1;
                // SAFETY (caller): each vector of `x` holds 8 values for every byte of `bits`,
                // and `values` one per set bit, read in order.
                unsafe {
                    if WEIGHTED {
                        let v = expanded(k, values, len, &mut next);
                        for (j, acc) in acc.iter_mut().enumerate() {
                            acc[a] = _mm512_fmadd_pd(v, _mm512_loadu_pd(x.add(j * width + column)), acc[a]);
                        }
                    } else {
                        for (j, acc) in acc.iter_mut().enumerate() {
                            acc[a] = _mm512_mask_add_pd(acc[a], k, acc[a], _mm512_loadu_pd(x.add(j * width + column)));
                        }
                    }
                }
            }
        }
        for (o, acc) in out.iter_mut().zip(&acc) {
            let mut lanes = [0.0f64; 8];
            // SAFETY: `lanes` holds 8 values.
            unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), _mm512_add_pd(acc[0], acc[1])) };
            *o = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        }
    }

    /// `out += x_row · row` (each of the row's `q = x_row.len()` values of `x` times its stored
    /// values, or ones), into `q` vectors one after the other.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scatter_row<V: Load>(
        bits: &[u64],
        values: &[V],
        x_row: &[f64],
        weighted: bool,
        out: &mut [f64],
    ) {
        unsafe {
            match (x_row.len(), weighted) {
                (1, false) => scatter_row_of::<V, 1, false>(bits, values, x_row, out),
                (1, true) => scatter_row_of::<V, 1, true>(bits, values, x_row, out),
                (_, false) => scatter_row_of::<V, 2, false>(bits, values, x_row, out),
                (_, true) => scatter_row_of::<V, 2, true>(bits, values, x_row, out),
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn scatter_row_of<V: Load, const Q: usize, const WEIGHTED: bool>(
        bits: &[u64],
        values: &[V],
        x_row: &[f64],
        out: &mut [f64],
    ) {
        let mut next = 0usize;
        let width = out.len() / Q;
        let (len, values, out) = (values.len(), values.as_ptr(), out.as_mut_ptr());
        let xs: [__m512d; Q] = std::array::from_fn(|j| _mm512_set1_pd(x_row[j]));
        for (w, &word) in bits.iter().enumerate() {
            if word == 0 {
                continue;
            }
            for byte in 0..8 {
                let k = (word >> (8 * byte)) as u8;
                let column = w * 64 + byte * 8;
                // SAFETY (caller): each vector of `out` holds 8 values for every byte of `bits`,
                // and `values` one per set bit, read in order.
                unsafe {
                    if WEIGHTED {
                        let v = expanded(k, values, len, &mut next);
                        for (j, &x) in xs.iter().enumerate() {
                            let p = out.add(j * width + column);
                            _mm512_storeu_pd(p, _mm512_fmadd_pd(v, x, _mm512_loadu_pd(p)));
                        }
                    } else {
                        for (j, &x) in xs.iter().enumerate() {
                            let p = out.add(j * width + column);
                            _mm512_storeu_pd(p, _mm512_mask_add_pd(_mm512_loadu_pd(p), k, _mm512_loadu_pd(p), x));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random matrix with empty rows, full rows and a width that is not a multiple of 64.
    fn matrix(n_rows: usize, n_cols: usize, density: f64, f32_values: bool, seed: u64) -> Csr {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut triplets = Vec::new();
        for r in 0..n_rows {
            let row_density = match r % 7 {
                0 => 0.0,
                1 => 1.0,
                _ => density,
            };
            for c in 0..n_cols {
                if rng.random_bool(row_density) {
                    let v: f64 = rng.random_range(0.01..2.0);
                    triplets.push((r, c, if f32_values { v as f32 as f64 } else { v }));
                }
            }
        }
        Csr::from_triplets(n_rows, n_cols, &triplets)
    }

    /// `A x` from the dense form, written independently of the kernels.
    fn dense_product(dense: &[f64], n_rows: usize, n_cols: usize, x: &[f64], q: usize) -> Vec<f64> {
        let mut y = vec![0.0; n_rows * q];
        for r in 0..n_rows {
            for c in 0..n_cols {
                for j in 0..q {
                    y[r * q + j] += dense[r * n_cols + c] * x[c * q + j];
                }
            }
        }
        y
    }

    fn transpose(dense: &[f64], n_rows: usize, n_cols: usize) -> Vec<f64> {
        let mut t = vec![0.0; n_rows * n_cols];
        for r in 0..n_rows {
            for c in 0..n_cols {
                t[c * n_rows + r] = dense[r * n_cols + c];
            }
        }
        t
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{what}: {g} vs {w}");
        }
    }

    #[test]
    fn products_match_the_dense_products() {
        if !available() {
            eprintln!("no AVX-512 on this CPU: the bit-row products are never chosen here");
            return;
        }
        // 700 rows span several rayon tasks and scatter blocks; 203 columns end mid-word.
        let (n_rows, n_cols) = (700, 203);
        for (f32_values, density) in [(false, 0.3), (true, 0.3), (false, 0.05), (true, 0.9)] {
            let b = matrix(n_rows, n_cols, density, f32_values, 7);
            let rows = BitRows::rows_of(&b);
            assert_eq!(matches!(rows.values, Values::F32(_)), f32_values, "values stored as f32 iff exact");
            for weighted in [false, true] {
                let dense = b.to_dense(weighted);
                let dense_t = transpose(&dense, n_rows, n_cols);
                for q in 1..=2 {
                    let what = format!("f32 {f32_values} density {density} weighted {weighted} q {q}");
                    let x: Vec<f64> = (0..n_cols * q).map(|i| ((i * 37) % 19) as f64 - 9.5).collect();
                    let xt: Vec<f64> = (0..n_rows * q).map(|i| ((i * 29) % 13) as f64 - 6.5).collect();
                    let (want, want_t) =
                        (dense_product(&dense, n_rows, n_cols, &x, q), dense_product(&dense_t, n_cols, n_rows, &xt, q));
                    let mut results = Vec::new();
                    for parallel in [false, true] {
                        let mut y = vec![f64::NAN; n_rows * q];
                        rows.product(weighted, &x, q, &mut y, parallel);
                        assert_close(&y, &want, &what);
                        let mut yt = vec![f64::NAN; n_cols * q];
                        rows.product_transposed(weighted, &xt, q, &mut yt, parallel);
                        assert_close(&yt, &want_t, &format!("ᵀ {what}"));
                        results.push((y, yt));
                    }
                    assert_eq!(results[0], results[1], "parallel and sequential bits differ: {what}");
                }
            }
        }
    }
}

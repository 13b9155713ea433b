//! Products of the iterative solver for layers dense enough that one bit per cell costs less
//! than a column index per entry (an LLM MLP pruned to 50% holds a bit per cell in 5.6 MB, its
//! `u32` column indices in 90 MB).
//!
//! A plain product reads only the bits; a weighted one streams the values once, as `f32` when
//! they all are exactly `f32` (weights read from f32, f16 or bf16 tensors). The kernels are
//! AVX-512: a byte of bits is a mask register, the pattern product is a masked add of the
//! vector's values, and the weighted one expands the row's next values into the set lanes.
//! Products with `Bᵀ` scatter each row into a buffer that stays in L2; a stored transpose
//! gathers faster but costs more to build than it saves, and the values' memory again. Without AVX-512 the CSR products are used
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
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("popcnt")
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
        if values.par_iter().all(|&v| (v as f32) as f64 == v) {
            Values::F32(values.par_iter().map(|&v| v as f32).collect())
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

    /// `(rows, cols)`.
    pub(crate) fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Columns the kernels see: whole words, so every byte of bits has its 8 values.
    fn width(&self) -> usize {
        self.words * 64
    }

    /// How many rows from `r` (of `left`) a kernel takes at once: `full` when that many are
    /// left and the values are readable 8 past the last one's (the kernels then load 8 values
    /// at a time without a check), else one, checked.
    fn group(&self, r: usize, left: usize, full: usize) -> usize {
        if left >= full && self.row_ptr[r + full] + 8 <= self.row_ptr[self.rows] {
            full
        } else {
            1
        }
    }

    /// Rows `r..r + group` as the kernels take them.
    #[cfg(target_arch = "x86_64")]
    fn group_of<'v, V>(&'v self, r: usize, group: usize, values: &'v [V]) -> avx512::Group<'v, V> {
        avx512::Group {
            bits: &self.bits[r * self.words..(r + group) * self.words],
            starts: &self.row_ptr[r..r + group],
            values,
        }
    }

    /// `y = A x` (`x`: `cols × q`, `y`: `rows × q`, row-major, `q` of 1 or 2), the 0/1 pattern
    /// unless `weighted`. Only called when [`available`].
    pub(crate) fn product(&self, weighted: bool, x: &[f64], q: usize, y: &mut [f64], parallel: bool) {
        let block = Block { x, q, y };
        if weighted {
            self.products(None, Some(block), parallel)
        } else {
            self.products(Some(block), None, parallel)
        }
    }

    /// `y = Aᵀ x` (`x`: `rows × q`, `y`: `cols × q`), as [`BitRows::product`].
    pub(crate) fn product_transposed(&self, weighted: bool, x: &[f64], q: usize, y: &mut [f64], parallel: bool) {
        let block = Block { x, q, y };
        if weighted {
            self.products_transposed(None, Some(block), parallel)
        } else {
            self.products_transposed(Some(block), None, parallel)
        }
    }

    /// `y = A x` for a block of the pattern and one of the values in one pass over the bits,
    /// each row summed by one thread in a fixed order: the bits of each result depend neither
    /// on `parallel` nor on whether the other block came along.
    pub(crate) fn products(&self, plain: Option<Block>, weighted: Option<Block>, parallel: bool) {
        let (qp, qw) = (plain.as_ref().map_or(0, |b| b.q), weighted.as_ref().map_or(0, |b| b.q));
        check_blocks(qp, qw);
        let q = qp + qw;
        // The kernels take the vectors one after the other (a byte of bits then covers 8
        // consecutive values of each), padded to whole words: the pattern's, then the values'.
        let width = self.width();
        let mut vectors = vec![0.0; q * width];
        for (first, block) in [(0, &plain), (qp, &weighted)] {
            if let Some(block) = block {
                debug_assert_eq!(block.x.len(), self.cols * block.q);
                for (c, values) in block.x.chunks_exact(block.q).enumerate() {
                    for (j, &v) in values.iter().enumerate() {
                        vectors[(first + j) * width + c] = v;
                    }
                }
            }
        }
        let mut sums = vec![0.0; self.rows * q];
        let rows = |first_row: usize, out: &mut [f64]| {
            let n = out.len() / q;
            let mut i = 0;
            while i < n {
                let group = self.group(first_row + i, n - i, ROW_GROUP);
                let (r, out) = (first_row + i, &mut out[i * q..(i + group) * q]);
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `available()` (AVX-512F) is checked before a BitRows product is chosen;
                // `vectors` holds `q` vectors of `width` values; `group` is checked.
                unsafe {
                    match &self.values {
                        Values::F64(values) => avx512::rows(self.group_of(r, group, values), &vectors, qp, out),
                        Values::F32(values) => avx512::rows(self.group_of(r, group, values), &vectors, qp, out),
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (r, &vectors, out);
                    unreachable!("bit-row products need AVX-512");
                }
                i += group;
            }
        };
        if parallel {
            sums.par_chunks_mut(ROWS_PER_TASK * q).enumerate().for_each(|(t, out)| rows(t * ROWS_PER_TASK, out));
        } else {
            rows(0, &mut sums);
        }
        deal(&sums, q, [(0, plain), (qp, weighted)]);
    }

    /// `y = Aᵀ x` for a block of the pattern and one of the values in one pass over the rows
    /// of `A`: each of a fixed number of row blocks scatters into a buffer of its own (the
    /// vectors of `width` values, in L2) and the buffers are summed in block order, so the bits
    /// depend neither on `parallel` nor on whether the other block came along.
    pub(crate) fn products_transposed(&self, plain: Option<Block>, weighted: Option<Block>, parallel: bool) {
        let (qp, qw) = (plain.as_ref().map_or(0, |b| b.q), weighted.as_ref().map_or(0, |b| b.q));
        check_blocks(qp, qw);
        let q = qp + qw;
        // Each row's `q` values of `x`, the pattern's then the values'.
        let mut x = vec![0.0; self.rows * q];
        for (first, block) in [(0, &plain), (qp, &weighted)] {
            if let Some(block) = block {
                debug_assert_eq!(block.x.len(), self.rows * block.q);
                for (r, values) in block.x.chunks_exact(block.q).enumerate() {
                    x[r * q + first..r * q + first + block.q].copy_from_slice(values);
                }
            }
        }
        let width = self.width();
        let len = q * width;
        let blocks = SCATTER_BLOCKS.min(self.rows.max(1));
        let block_rows = self.rows.div_ceil(blocks);
        let mut buffers = vec![0.0; blocks * len];
        let scatter = |block: usize, buffer: &mut [f64]| {
            let (first, end) = ((block * block_rows).min(self.rows), ((block + 1) * block_rows).min(self.rows));
            let mut r = first;
            while r < end {
                let group = self.group(r, end - r, SCATTER_GROUP);
                let x_rows = &x[r * q..(r + group) * q];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `products`; `buffer` holds `q` vectors of `width` values.
                unsafe {
                    match &self.values {
                        Values::F64(values) => {
                            avx512::scatter_rows(self.group_of(r, group, values), x_rows, qp, buffer)
                        }
                        Values::F32(values) => {
                            avx512::scatter_rows(self.group_of(r, group, values), x_rows, qp, buffer)
                        }
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (x_rows, &buffer);
                    unreachable!("bit-row products need AVX-512");
                }
                r += group;
            }
        };
        let mut sums = vec![0.0; self.cols * q];
        let reduce = |first_col: usize, out: &mut [f64], buffers: &[f64]| {
            for (i, value) in out.iter_mut().enumerate() {
                let (c, j) = (first_col + i / q, i % q);
                *value = (0..blocks).map(|b| buffers[b * len + j * width + c]).sum();
            }
        };
        if parallel {
            buffers.par_chunks_mut(len).enumerate().for_each(|(block, buffer)| scatter(block, buffer));
            let buffers = &buffers;
            sums.par_chunks_mut(ROWS_PER_TASK * q)
                .enumerate()
                .for_each(|(t, out)| reduce(t * ROWS_PER_TASK, out, buffers));
        } else {
            for (block, buffer) in buffers.chunks_mut(len).enumerate() {
                scatter(block, buffer);
            }
            reduce(0, &mut sums, &buffers);
        }
        deal(&sums, q, [(0, plain), (qp, weighted)]);
    }
}

/// A block of `q` (1 or 2) row-major vectors `x` and where its product goes.
pub(crate) struct Block<'x> {
    pub(crate) x: &'x [f64],
    pub(crate) q: usize,
    pub(crate) y: &'x mut [f64],
}

fn check_blocks(qp: usize, qw: usize) {
    assert!(qp <= 2 && qw <= 2 && qp + qw > 0, "bit-row products take blocks of one or two vectors");
}

/// Copies each block's columns of the row-major `sums` (`q` per row) into its `y`.
fn deal(sums: &[f64], q: usize, blocks: [(usize, Option<Block>); 2]) {
    for (first, block) in blocks {
        if let Some(block) = block {
            debug_assert_eq!(block.y.len() / block.q, sums.len() / q);
            for (y_row, sums_row) in block.y.chunks_exact_mut(block.q).zip(sums.chunks_exact(q)) {
                y_row.copy_from_slice(&sums_row[first..first + block.q]);
            }
        }
    }
}

/// Row blocks of a transposed product, each scattering into its own buffer.
const SCATTER_BLOCKS: usize = 4;

/// Rows a forward kernel sums at once: each load of the vectors' values serves them all (the
/// vectors, 4 × 86 KB on an LLM layer, are read from L2, whose bandwidth bounded one row at a
/// time), while every row still sums in its own order.
const ROW_GROUP: usize = 2;

/// Rows a transposed kernel scatters at once: each load and store of the buffer serves them
/// all, and each value of the buffer still receives the rows in order.
const SCATTER_GROUP: usize = 4;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Consecutive rows for a kernel: their bits (the same number of words each), where each
    /// row's values start, and all of the matrix's values.
    pub(super) struct Group<'a, V> {
        pub(super) bits: &'a [u64],
        pub(super) starts: &'a [usize],
        pub(super) values: &'a [V],
    }

    /// A stored value type: loads of up to 8 consecutive values as `f64` lanes.
    pub(super) trait Load: Copy {
        /// 8 values from `p`.
        ///
        /// # Safety
        /// The CPU has AVX-512F and the 8 values from `p` are readable.
        unsafe fn load8(p: *const Self) -> __m512d;
        /// The first `n < 8` values from `p`, zeros above.
        ///
        /// # Safety
        /// The CPU has AVX-512F and the first `n` values from `p` are readable (the masked
        /// load touches no others).
        unsafe fn load_first(p: *const Self, n: u32) -> __m512d;
    }

    impl Load for f64 {
        #[inline(always)]
        unsafe fn load8(p: *const f64) -> __m512d {
            // SAFETY: the caller guarantees AVX-512F and 8 readable values.
            unsafe { _mm512_loadu_pd(p) }
        }
        #[inline(always)]
        unsafe fn load_first(p: *const f64, n: u32) -> __m512d {
            // SAFETY: the caller guarantees AVX-512F and `n` readable values; lanes above `n`
            // are masked off and not read.
            unsafe { _mm512_maskz_loadu_pd(((1u32 << n) - 1) as u8, p) }
        }
    }

    impl Load for f32 {
        #[inline(always)]
        unsafe fn load8(p: *const f32) -> __m512d {
            // SAFETY: the caller guarantees AVX-512F and 8 readable values.
            unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn load_first(p: *const f32, n: u32) -> __m512d {
            // SAFETY: the caller guarantees AVX-512F and `n` readable values; lanes above `n`
            // are masked off and not read.
            unsafe { _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p))) }
        }
    }

    /// The stored values of a byte's set bits, expanded into its set lanes (zeros elsewhere):
    /// loads the next 8 values and advances `next` by the byte's popcount. `CHECKED` loads
    /// only the values below `len` (within 8 of the end); otherwise the caller has checked
    /// that 8 are readable.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `values` points to `len` readable values, `*next + popcount(k) <=
    /// len`, and without `CHECKED` also `*next + 8 <= len`.
    #[inline(always)]
    unsafe fn expanded<V: Load, const CHECKED: bool>(k: u8, values: *const V, len: usize, next: &mut usize) -> __m512d {
        let n = k.count_ones();
        // SAFETY: the loads stay below `len` by the contract above (a checked load near the end
        // reads only the byte's `n` values).
        unsafe {
            let stored = if !CHECKED || *next + 8 <= len {
                V::load8(values.add(*next))
            } else {
                V::load_first(values.add(*next), n)
            };
            *next += n as usize;
            _mm512_maskz_expand_pd(k, stored)
        }
    }

    /// Calls `f(k, column, parity)` for each byte position of the `R` rows (`words` 64-bit
    /// words each) where a row has a set bit, in order: `k` holds each row's byte, `column` is
    /// the byte's first column, `parity` alternates from byte to byte (so a kernel can
    /// alternate accumulators). Inlined into each kernel, whose AVX-512 the closure inherits.
    /// The eight calls of a word are written out so that `parity` is a constant at each: an
    /// accumulator indexed by a runtime parity lives on the stack, and its adds then wait on
    /// store forwarding.
    #[inline(always)]
    fn for_each_byte<const R: usize>(bits: &[u64], mut f: impl FnMut([u8; R], usize, usize)) {
        let words = bits.len() / R;
        for w in 0..words {
            let word: [u64; R] = std::array::from_fn(|i| bits[i * words + w]);
            if word.iter().all(|&word| word == 0) {
                continue;
            }
            let column = w * 64;
            let mut byte = |b: usize, parity: usize| {
                f(std::array::from_fn(|i| (word[i] >> (8 * b)) as u8), column + 8 * b, parity)
            };
            byte(0, 0);
            byte(1, 1);
            byte(2, 0);
            byte(3, 1);
            byte(4, 0);
            byte(5, 1);
            byte(6, 0);
            byte(7, 1);
        }
    }

    /// Calls `$kernel::<V, R, CHECKED, QP, QW>` for `qp` pattern and `q − qp` weighted vectors.
    macro_rules! by_block_widths {
        ($kernel:ident, $r:expr, $checked:expr, $qp:expr, $q:expr, ($($arg:expr),*)) => {
            match ($qp, $q - $qp) {
                (0, 1) => $kernel::<V, $r, $checked, 0, 1>($($arg),*),
                (0, _) => $kernel::<V, $r, $checked, 0, 2>($($arg),*),
                (1, 0) => $kernel::<V, $r, $checked, 1, 0>($($arg),*),
                (1, 1) => $kernel::<V, $r, $checked, 1, 1>($($arg),*),
                (1, _) => $kernel::<V, $r, $checked, 1, 2>($($arg),*),
                (_, 0) => $kernel::<V, $r, $checked, 2, 0>($($arg),*),
                (_, 1) => $kernel::<V, $r, $checked, 2, 1>($($arg),*),
                (_, _) => $kernel::<V, $r, $checked, 2, 2>($($arg),*),
            }
        };
    }

    /// Calls `$kernel` for a group of `$full` rows (read unchecked) or a single row (checked),
    /// with `qp` pattern and `q − qp` weighted vectors.
    macro_rules! by_group {
        ($kernel:ident, $full:expr, $rows:expr, $qp:expr, $q:expr, ($($arg:expr),*)) => {
            if $rows == $full {
                by_block_widths!($kernel, { $full }, false, $qp, $q, ($($arg),*))
            } else {
                by_block_widths!($kernel, 1, true, $qp, $q, ($($arg),*))
            }
        };
    }

    /// The sums of a group of rows into `out` (`q` per row: `qp` pattern vectors then the
    /// weighted ones); `x` holds the vectors one after the other. A group of
    /// [`super::ROW_GROUP`] rows is read unchecked, a single row checked.
    ///
    /// # Safety
    /// The CPU has AVX-512F and POPCNT; `x` holds `q` vectors of 64 × `words` values each
    /// (`words` the group's words per row); each row's set bits count its values from its
    /// start in `group.values`; a full group of rows is more than 8 values from the end of
    /// `group.values` (`BitRows::group` chooses groups so).
    #[target_feature(enable = "avx512f,popcnt")]
    pub(super) unsafe fn rows<V: Load>(group: Group<V>, x: &[f64], qp: usize, out: &mut [f64]) {
        let (rows, q) = (group.starts.len(), out.len() / group.starts.len());
        // SAFETY: this function's contract is the kernel's.
        unsafe { by_group!(rows_of, super::ROW_GROUP, rows, qp, q, (group, x, out)) }
    }

    /// Two accumulators per row and vector alternate by byte so consecutive adds do not wait
    /// on each other; each row's sums run in the same order whatever group it is in. A pass
    /// serving both blocks reads each byte of bits and each stored value once.
    // Indices across rows and vectors (`acc[i][j]`) read better than zipped iterators here.
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "avx512f,popcnt")]
    unsafe fn rows_of<V: Load, const R: usize, const CHECKED: bool, const QP: usize, const QW: usize>(
        group: Group<V>,
        x: &[f64],
        out: &mut [f64],
    ) {
        let mut acc = [[[_mm512_setzero_pd(); 2]; 4]; R];
        let mut next: [usize; R] = std::array::from_fn(|i| group.starts[i]);
        let width = x.len() / (QP + QW);
        let (len, values, x) = (group.values.len(), group.values.as_ptr(), x.as_ptr());
        for_each_byte::<R>(group.bits, |k, column, a| {
            // SAFETY: by `rows`' contract each vector of `x` holds 8 values for every byte of
            // `bits`, and `values` one per set bit from each row's start, read in order.
            unsafe {
                for j in 0..QP {
                    let xj = _mm512_loadu_pd(x.add(j * width + column));
                    for i in 0..R {
                        acc[i][j][a] = _mm512_mask_add_pd(acc[i][j][a], k[i], acc[i][j][a], xj);
                    }
                }
                if QW > 0 {
                    let v: [__m512d; R] =
                        std::array::from_fn(|i| expanded::<V, CHECKED>(k[i], values, len, &mut next[i]));
                    for j in QP..QP + QW {
                        let xj = _mm512_loadu_pd(x.add(j * width + column));
                        for i in 0..R {
                            acc[i][j][a] = _mm512_fmadd_pd(v[i], xj, acc[i][j][a]);
                        }
                    }
                }
            }
        });
        for (out_row, acc) in out.chunks_exact_mut(QP + QW).zip(&acc) {
            for (o, acc) in out_row.iter_mut().zip(acc) {
                let mut lanes = [0.0f64; 8];
                // SAFETY: `lanes` holds 8 values.
                unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), _mm512_add_pd(acc[0], acc[1])) };
                *o = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
            }
        }
    }

    /// `out += x_rows · rows` for a group of rows: each row's values of `x` (`qp` pattern ones
    /// then the weighted ones) times the row's ones or stored values, into the vectors of
    /// `out`, one after the other. A group of [`super::SCATTER_GROUP`] rows is read unchecked,
    /// a single row checked.
    ///
    /// # Safety
    /// As for [`rows`], with `out` (not `x`) holding the `q` vectors of 64 × `words` values.
    #[target_feature(enable = "avx512f,popcnt")]
    pub(super) unsafe fn scatter_rows<V: Load>(group: Group<V>, x_rows: &[f64], qp: usize, out: &mut [f64]) {
        let (rows, q) = (group.starts.len(), x_rows.len() / group.starts.len());
        // SAFETY: this function's contract is the kernel's.
        unsafe { by_group!(scatter_rows_of, super::SCATTER_GROUP, rows, qp, q, (group, x_rows, out)) }
    }

    /// Each value of `out` is loaded once per group and receives the group's rows in order,
    /// so its sum runs in the same order as one row at a time.
    // Indices across rows and vectors (`xs[i][j]`) read better than zipped iterators here.
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "avx512f,popcnt")]
    unsafe fn scatter_rows_of<V: Load, const R: usize, const CHECKED: bool, const QP: usize, const QW: usize>(
        group: Group<V>,
        x_rows: &[f64],
        out: &mut [f64],
    ) {
        let q = QP + QW;
        let mut next: [usize; R] = std::array::from_fn(|i| group.starts[i]);
        let width = out.len() / q;
        let (len, values, out) = (group.values.len(), group.values.as_ptr(), out.as_mut_ptr());
        let xs: [[__m512d; 4]; R] = std::array::from_fn(|i| {
            std::array::from_fn(|j| _mm512_set1_pd(if j < q { x_rows[i * q + j] } else { 0.0 }))
        });
        for_each_byte::<R>(group.bits, |k, column, _| {
            // SAFETY: by `scatter_rows`' contract each vector of `out` holds 8 values for every
            // byte of `bits`, and `values` one per set bit from each row's start, read in order.
            unsafe {
                for j in 0..QP {
                    let p = out.add(j * width + column);
                    let mut sum = _mm512_loadu_pd(p);
                    for i in 0..R {
                        sum = _mm512_mask_add_pd(sum, k[i], sum, xs[i][j]);
                    }
                    _mm512_storeu_pd(p, sum);
                }
                if QW > 0 {
                    let v: [__m512d; R] =
                        std::array::from_fn(|i| expanded::<V, CHECKED>(k[i], values, len, &mut next[i]));
                    for j in QP..QP + QW {
                        let p = out.add(j * width + column);
                        let mut sum = _mm512_loadu_pd(p);
                        for i in 0..R {
                            sum = _mm512_fmadd_pd(v[i], xs[i][j], sum);
                        }
                        _mm512_storeu_pd(p, sum);
                    }
                }
            }
        });
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
        Csr::from_triplets(n_rows, n_cols, &triplets).unwrap()
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
    /// Rows are summed in groups; a row's bits must not depend on which group it fell in:
    /// dropping the first row shifts every group by one.
    #[test]
    fn a_rows_sums_do_not_depend_on_its_group() {
        if !available() {
            eprintln!("no AVX-512 on this CPU: the bit-row products are never chosen here");
            return;
        }
        let (n_rows, n_cols) = (301, 203);
        for f32_values in [false, true] {
            let b = matrix(n_rows, n_cols, 0.4, f32_values, 11);
            let triplets: Vec<_> = (1..n_rows)
                .flat_map(|r| {
                    let (cols, values) = b.row(r);
                    cols.iter().zip(values).map(move |(&c, &v)| (r - 1, c as usize, v)).collect::<Vec<_>>()
                })
                .collect();
            let shifted = Csr::from_triplets(n_rows - 1, n_cols, &triplets).unwrap();
            let (rows, shifted_rows) = (BitRows::rows_of(&b), BitRows::rows_of(&shifted));
            for (weighted, q) in [(false, 1), (false, 2), (true, 1), (true, 2)] {
                let x: Vec<f64> = (0..n_cols * q).map(|i| ((i * 37) % 19) as f64 / 3.0 - 2.5).collect();
                let (mut y, mut y_shifted) = (vec![f64::NAN; n_rows * q], vec![f64::NAN; (n_rows - 1) * q]);
                rows.product(weighted, &x, q, &mut y, true);
                shifted_rows.product(weighted, &x, q, &mut y_shifted, true);
                assert_eq!(y[q..], y_shifted[..], "f32 {f32_values} weighted {weighted} q {q}");
            }
        }
    }

    #[test]
    fn a_shared_pass_gives_the_bits_of_separate_products() {
        if !available() {
            eprintln!("no AVX-512 on this CPU: the bit-row products are never chosen here");
            return;
        }
        let (n_rows, n_cols) = (300, 130);
        for f32_values in [false, true] {
            let b = matrix(n_rows, n_cols, 0.4, f32_values, 3);
            let rows = BitRows::rows_of(&b);
            for (qp, qw) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
                for transposed in [false, true] {
                    let (n_in, n_out) = if transposed { (n_rows, n_cols) } else { (n_cols, n_rows) };
                    let xp: Vec<f64> = (0..n_in * qp).map(|i| ((i * 37) % 19) as f64 - 9.5).collect();
                    let xw: Vec<f64> = (0..n_in * qw).map(|i| ((i * 23) % 17) as f64 - 8.5).collect();
                    let (mut yp, mut yw) = (vec![f64::NAN; n_out * qp], vec![f64::NAN; n_out * qw]);
                    let (mut sp, mut sw) = (vec![f64::NAN; n_out * qp], vec![f64::NAN; n_out * qw]);
                    let both = (Block { x: &xp, q: qp, y: &mut yp }, Block { x: &xw, q: qw, y: &mut yw });
                    if transposed {
                        rows.products_transposed(Some(both.0), Some(both.1), true);
                        rows.product_transposed(false, &xp, qp, &mut sp, true);
                        rows.product_transposed(true, &xw, qw, &mut sw, true);
                    } else {
                        rows.products(Some(both.0), Some(both.1), true);
                        rows.product(false, &xp, qp, &mut sp, true);
                        rows.product(true, &xw, qw, &mut sw, true);
                    }
                    assert_eq!((yp, yw), (sp, sw), "f32 {f32_values} qp {qp} qw {qw} transposed {transposed}");
                }
            }
        }
    }
}

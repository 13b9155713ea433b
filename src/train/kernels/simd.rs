//! The inner loops, written once and compiled three times: for AVX-512F, for AVX2+FMA (the
//! widest the CPU has is chosen at run time) and portable. All run over the batch on
//! contiguous memory in fixed-size chunks so the compiler keeps the accumulators in vector
//! registers.
//!
//! Two shapes of loop: one line (an output, or an input for `Wᵀ·δ`) at a time, one operand
//! load per multiply-add whatever the mask; and a *group* of `G` lines that share their
//! positions (the rows of a block pattern's tile, or its columns), where each operand load
//! serves `G` multiply-adds, as the rows of a dense GEMM's micro-kernel do.

/// Batch elements accumulated per pass of [`gather`]: 64 f32 = 8 AVX registers.
const CHUNK: usize = 64;
/// Partial sums per position in [`dot`]: one AVX register.
const LANES: usize = 8;
/// Mask positions [`dot`] computes together: 8 accumulators hide the FMA latency and each
/// load of `dy_row` serves 8 positions (measured 5× faster than one 32-lane dot at a time).
const GROUP: usize = 8;

trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// One rounding: only used where the CPU has FMA (otherwise `f32::mul_add` is a slow libm call).
struct Fused;
impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

struct Separate;
impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `out[:] (+)= Σ_n values[n] · src[idx[n], b0..b0+out.len()]` over rows of `src`
/// (`[_, batch]`), adding to `out` when the flag says so.
pub(super) type GatherFn = fn(&[u32], &[f32], &[f32], usize, usize, bool, &mut [f32]);
/// `out[n] = dy_row · x[idx[n], :]`.
pub(super) type DotFn = fn(&[u32], &[f32], &[f32], usize, &mut [f32]);
/// [`GatherFn`] for the `G` lines of a group at once ([`GroupSlices`]): `out` holds the
/// group's `[G, batch]` rows, written (or added to) in the batch window `b0..b1`.
pub(super) type GroupGatherFn = fn(&GroupSlices, &[f32], usize, (usize, usize), bool, &mut [f32]);
/// [`DotFn`] for a group: `out[g·stride + n] = dy[g, :] · x[idx[n], :]` with `dy` the group's
/// `[G, batch]` rows.
pub(super) type GroupDotFn = fn(&[u32], &[f32], &[f32], usize, usize, &mut [f32]);

/// The shared positions of a group of lines and their values: line `g`'s value at position
/// `n` is `values[g·stride + n]` (a group's lines hold the same number of positions, stored one
/// line after the other as CSR stores them).
pub(super) struct GroupSlices<'a> {
    pub idx: &'a [u32],
    pub values: &'a [f32],
    pub stride: usize,
    /// Lines in the group: 2 or 4.
    pub lines: usize,
}

/// Group sizes the grouped kernels are compiled for, largest first.
pub(super) const GROUP_SIZES: [usize; 2] = [4, 2];

#[inline(always)]
fn gather<A: MulAdd>(
    idx: &[u32],
    values: &[f32],
    src: &[f32],
    batch: usize,
    window: usize,
    add: bool,
    out: &mut [f32],
) {
    let mut off = 0;
    while off < out.len() {
        let len = CHUNK.min(out.len() - off);
        let b0 = window + off;
        let mut acc = [0f32; CHUNK];
        if add {
            acc[..len].copy_from_slice(&out[off..off + len]);
        }
        if len == CHUNK {
            for (&i, &v) in idx.iter().zip(values) {
                let start = i as usize * batch + b0;
                let s: &[f32; CHUNK] = src[start..start + CHUNK].try_into().expect("a CHUNK-long slice");
                for (a, &s) in acc.iter_mut().zip(s) {
                    *a = A::mul_add(v, s, *a);
                }
            }
        } else {
            for (&i, &v) in idx.iter().zip(values) {
                let start = i as usize * batch + b0;
                for (a, &s) in acc[..len].iter_mut().zip(&src[start..start + len]) {
                    *a = A::mul_add(v, s, *a);
                }
            }
        }
        out[off..off + len].copy_from_slice(&acc[..len]);
        off += len;
    }
}

#[inline(always)]
fn dot<A: MulAdd>(idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]) {
    let full = batch - batch % LANES;
    let row = |i: u32| &x[i as usize * batch..(i as usize + 1) * batch];
    let mut groups_out = out.chunks_exact_mut(GROUP);
    let mut groups_idx = idx.chunks_exact(GROUP);
    for (o, ids) in (&mut groups_out).zip(&mut groups_idx) {
        let rows: [&[f32]; GROUP] = std::array::from_fn(|q| row(ids[q]));
        let mut acc = [[0f32; LANES]; GROUP];
        let mut b = 0;
        while b < full {
            let d: &[f32; LANES] = dy_row[b..b + LANES].try_into().expect("a LANES-long slice");
            for (a, r) in acc.iter_mut().zip(&rows) {
                let s: &[f32; LANES] = r[b..b + LANES].try_into().expect("a LANES-long slice");
                for ((a, &d), &s) in a.iter_mut().zip(d).zip(s) {
                    *a = A::mul_add(d, s, *a);
                }
            }
            b += LANES;
        }
        for ((o, a), r) in o.iter_mut().zip(&acc).zip(&rows) {
            *o = finish::<A, LANES>(a, &dy_row[full..], &r[full..]);
        }
    }
    for (o, &i) in groups_out.into_remainder().iter_mut().zip(groups_idx.remainder()) {
        let r = row(i);
        let mut acc = [0f32; LANES];
        for (d, s) in dy_row[..full].chunks_exact(LANES).zip(r[..full].chunks_exact(LANES)) {
            for ((a, &d), &s) in acc.iter_mut().zip(d).zip(s) {
                *a = A::mul_add(d, s, *a);
            }
        }
        *o = finish::<A, LANES>(&acc, &dy_row[full..], &r[full..]);
    }
}

/// Sums the partial sums pairwise (rounding that does not grow with LANES) plus the tail.
#[inline(always)]
fn finish<A: MulAdd, const L: usize>(acc: &[f32; L], dy_tail: &[f32], x_tail: &[f32]) -> f32 {
    let mut acc = *acc;
    let mut width = L;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    let mut tail = 0f32;
    for (d, s) in dy_tail.iter().zip(x_tail) {
        tail = A::mul_add(*d, *s, tail);
    }
    acc[0] + tail
}

/// One vector register of `LANES` f32, what the grouped kernels are written in: left to
/// itself the compiler vectorized some groups across their lines instead of the batch
/// (measured 1.3-4x slower than line by line), depending on how many lines and positions a
/// group had and on what else it inlined.
trait Vector: Copy {
    const LANES: usize;
    fn zero() -> Self;
    fn splat(v: f32) -> Self;
    /// The first `LANES` values of `s`.
    fn load(s: &[f32]) -> Self;
    /// Into the first `LANES` values of `out`.
    fn store(self, out: &mut [f32]);
    /// `self + a·b`.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// The sum of the lanes.
    fn sum(self) -> f32;
    /// `c + a·b` on one value, rounded as [`Vector::mul_add`] rounds.
    fn scalar_mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// The portable vector: plain arrays, which the compiler maps to whatever the target has.
#[derive(Clone, Copy)]
struct Lanes([f32; LANES]);

impl Vector for Lanes {
    const LANES: usize = LANES;
    #[inline(always)]
    fn zero() -> Self {
        Lanes([0.0; LANES])
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Lanes([v; LANES])
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        Lanes(s[..LANES].try_into().expect("a LANES-long slice"))
    }
    #[inline(always)]
    fn store(self, out: &mut [f32]) {
        out[..LANES].copy_from_slice(&self.0);
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Lanes(std::array::from_fn(|l| Separate::mul_add(a.0[l], b.0[l], self.0[l])))
    }
    #[inline(always)]
    fn sum(self) -> f32 {
        finish::<Separate, LANES>(&self.0, &[], &[])
    }
    #[inline(always)]
    fn scalar_mul_add(a: f32, b: f32, c: f32) -> f32 {
        Separate::mul_add(a, b, c)
    }
}

/// The grouped gather: `C` vectors of batch of all `G` lines per pass, so each load of a row
/// of `src` serves `G` multiply-adds (with `G = 4` and `C = 2` on AVX2: 8 accumulators, 2
/// operand loads and 4 broadcast weights per position; `C = 3` measured 25% slower, its 12
/// accumulators leave no register free). What the passes leave over goes one vector at a time,
/// then value by value.
#[inline(always)]
fn gather_group<V: Vector, const G: usize, const C: usize>(
    group: &GroupSlices,
    src: &[f32],
    batch: usize,
    (b0, b1): (usize, usize),
    add: bool,
    out: &mut [f32],
) {
    let n = group.idx.len();
    let lines: [&[f32]; G] = std::array::from_fn(|g| &group.values[g * group.stride..][..n]);
    let mut b = b0;
    while b + C * V::LANES <= b1 {
        gather_pass::<V, G, C>(&lines, group.idx, src, batch, b, add, out);
        b += C * V::LANES;
    }
    while b + V::LANES <= b1 {
        gather_pass::<V, G, 1>(&lines, group.idx, src, batch, b, add, out);
        b += V::LANES;
    }
    for b in b..b1 {
        for (g, line) in lines.iter().enumerate() {
            let mut acc = if add { out[g * batch + b] } else { 0.0 };
            for (&i, &v) in group.idx.iter().zip(*line) {
                acc = V::scalar_mul_add(v, src[i as usize * batch + b], acc);
            }
            out[g * batch + b] = acc;
        }
    }
}

/// `C` vectors of batch from `b` of the group's `G` lines.
#[inline(always)]
fn gather_pass<V: Vector, const G: usize, const C: usize>(
    lines: &[&[f32]; G],
    idx: &[u32],
    src: &[f32],
    batch: usize,
    b: usize,
    add: bool,
    out: &mut [f32],
) {
    let ch = C * V::LANES;
    let mut acc = [[V::zero(); C]; G];
    if add {
        for (g, acc) in acc.iter_mut().enumerate() {
            let out = &out[g * batch + b..][..ch];
            *acc = std::array::from_fn(|c| V::load(&out[c * V::LANES..]));
        }
    }
    for (k, &i) in idx.iter().enumerate() {
        let row = &src[i as usize * batch + b..][..ch];
        let s: [V; C] = std::array::from_fn(|c| V::load(&row[c * V::LANES..]));
        for (acc, line) in acc.iter_mut().zip(lines) {
            let w = V::splat(line[k]);
            for (a, &s) in acc.iter_mut().zip(&s) {
                *a = a.mul_add(w, s);
            }
        }
    }
    for (g, acc) in acc.iter().enumerate() {
        let out = &mut out[g * batch + b..][..ch];
        for (c, a) in acc.iter().enumerate() {
            a.store(&mut out[c * V::LANES..]);
        }
    }
}

/// The grouped weight gradient: `G` lines × `H` positions of dot products per pass over the
/// batch, `G + H` loads per `G·H` multiply-adds; the positions `H` leaves over go one by one.
/// A position's sum is the same whatever pass computes it (each has its own accumulator).
#[inline(always)]
fn dot_group<V: Vector, const G: usize, const H: usize>(
    idx: &[u32],
    dy: &[f32],
    x: &[f32],
    batch: usize,
    stride: usize,
    out: &mut [f32],
) {
    let dy: [&[f32]; G] = std::array::from_fn(|g| &dy[g * batch..][..batch]);
    let mut passes = idx.chunks_exact(H);
    let mut at = 0;
    for ids in &mut passes {
        let ids: &[u32; H] = ids.try_into().expect("an H-long chunk");
        dot_pass::<V, G, H>(ids, &dy, x, batch, stride, &mut out[at..]);
        at += H;
    }
    for &i in passes.remainder() {
        dot_pass::<V, G, 1>(&[i], &dy, x, batch, stride, &mut out[at..]);
        at += 1;
    }
}

#[inline(always)]
fn dot_pass<V: Vector, const G: usize, const H: usize>(
    ids: &[u32; H],
    dy: &[&[f32]; G],
    x: &[f32],
    batch: usize,
    stride: usize,
    out: &mut [f32],
) {
    let full = batch - batch % V::LANES;
    let rows: [&[f32]; H] = std::array::from_fn(|h| &x[ids[h] as usize * batch..][..batch]);
    let mut acc = [[V::zero(); H]; G];
    let mut b = 0;
    while b < full {
        let s: [V; H] = std::array::from_fn(|h| V::load(&rows[h][b..]));
        for (acc, dy) in acc.iter_mut().zip(dy) {
            let d = V::load(&dy[b..]);
            for (a, &s) in acc.iter_mut().zip(&s) {
                *a = a.mul_add(d, s);
            }
        }
        b += V::LANES;
    }
    for (g, (acc, dy)) in acc.iter().zip(dy).enumerate() {
        for (h, (a, row)) in acc.iter().zip(&rows).enumerate() {
            let mut tail = 0f32;
            for (&d, &s) in dy[full..].iter().zip(&row[full..]) {
                tail = V::scalar_mul_add(d, s, tail);
            }
            out[g * stride + h] = a.sum() + tail;
        }
    }
}

/// Both grouped kernels for every group size, on one vector type: `(C, H)` vectors of batch
/// per line and positions per pass for groups of 4, and for groups of 2.
macro_rules! grouped {
    ($gather:ident, $dot:ident, $vector:ty, ($c4:expr, $h4:expr), ($c2:expr, $h2:expr)) => {
        #[inline(always)]
        fn $gather(group: &GroupSlices, src: &[f32], batch: usize, window: (usize, usize), add: bool, out: &mut [f32]) {
            match group.lines {
                4 => gather_group::<$vector, 4, $c4>(group, src, batch, window, add, out),
                2 => gather_group::<$vector, 2, $c2>(group, src, batch, window, add, out),
                g => unreachable!("no grouped kernel for {g} lines"),
            }
        }

        #[inline(always)]
        fn $dot(idx: &[u32], dy: &[f32], x: &[f32], batch: usize, stride: usize, out: &mut [f32]) {
            match dy.len() / batch.max(1) {
                4 => dot_group::<$vector, 4, $h4>(idx, dy, x, batch, stride, out),
                2 => dot_group::<$vector, 2, $h2>(idx, dy, x, batch, stride, out),
                g => unreachable!("no grouped kernel for {g} lines"),
            }
        }
    };
}

grouped!(gather_group_narrow, dot_group_narrow, Lanes, (2, 2), (4, 4));

pub(super) fn gather_portable(
    idx: &[u32],
    values: &[f32],
    src: &[f32],
    batch: usize,
    window: usize,
    add: bool,
    out: &mut [f32],
) {
    gather::<Separate>(idx, values, src, batch, window, add, out)
}

pub(super) fn dot_portable(idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]) {
    dot::<Separate>(idx, dy_row, x, batch, out)
}

pub(super) fn gather_group_portable(
    group: &GroupSlices,
    src: &[f32],
    batch: usize,
    window: (usize, usize),
    add: bool,
    out: &mut [f32],
) {
    gather_group_narrow(group, src, batch, window, add, out)
}

pub(super) fn dot_group_portable(idx: &[u32], dy: &[f32], x: &[f32], batch: usize, stride: usize, out: &mut [f32]) {
    dot_group_narrow(idx, dy, x, batch, stride, out)
}

/// One vector width's kernels, chosen once for the CPU ([`Kernels::detect`]).
#[derive(Clone, Copy)]
pub(super) struct Kernels {
    pub gather: GatherFn,
    pub dot: DotFn,
    pub gather_group: GroupGatherFn,
    pub dot_group: GroupDotFn,
}

impl Kernels {
    /// Plain Rust without fused multiply-adds: any CPU, and the reference the others are tested
    /// against.
    pub const PORTABLE: Kernels = Kernels {
        gather: gather_portable,
        dot: dot_portable,
        gather_group: gather_group_portable,
        dot_group: dot_group_portable,
    };

    /// The widest this CPU runs: AVX-512F, AVX2+FMA, or portable.
    pub fn detect() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return x86::AVX512;
            }
            if has_avx2_fma() {
                return x86::AVX2;
            }
        }
        Kernels::PORTABLE
    }

    /// Every kernel set this CPU can run (for tests: each against the dense reference).
    #[cfg(test)]
    pub fn available() -> Vec<Kernels> {
        #[allow(unused_mut)] // only x86 adds vector kernels
        let mut all = vec![Kernels::PORTABLE];
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx2_fma() {
                all.push(x86::AVX2);
            }
            if is_x86_feature_detected!("avx512f") {
                all.push(x86::AVX512);
            }
        }
        all
    }
}

/// Whether this CPU runs the AVX2+FMA kernels.
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// Compiles one of the generic kernels for a target feature, and a safe entry point that
    /// only [`Kernels::detect`] and [`Kernels::available`] hand out, after detecting it.
    macro_rules! compiled_for {
        ($feature:literal, $safe:ident, $unsafe_fn:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
            /// # Safety
            /// The CPU has the target feature (the slices are bounds-checked as in the
            /// portable kernel).
            #[target_feature(enable = $feature)]
            unsafe fn $unsafe_fn($($arg: $ty),*) {
                $body($($arg),*)
            }

            fn $safe($($arg: $ty),*) {
                // SAFETY: this function is only reachable through the `Kernels` set of its
                // feature, which is only built after detecting that feature.
                unsafe { $unsafe_fn($($arg),*) }
            }
        };
    }

    /// One AVX2 register. Its methods are only ever called from the `avx2,fma` kernels below,
    /// which are only reachable after detecting those features.
    #[derive(Clone, Copy)]
    struct Avx2(__m256);

    impl Vector for Avx2 {
        const LANES: usize = 8;
        #[inline(always)]
        fn zero() -> Self {
            // SAFETY: only called from kernels run after detecting AVX2 and FMA.
            Avx2(unsafe { _mm256_setzero_ps() })
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            // SAFETY: only called from kernels run after detecting AVX2 and FMA.
            Avx2(unsafe { _mm256_set1_ps(v) })
        }
        #[inline(always)]
        fn load(s: &[f32]) -> Self {
            let s = &s[..8];
            // SAFETY: only called from kernels run after detecting AVX2 and FMA; the slice holds 8 lanes.
            Avx2(unsafe { _mm256_loadu_ps(s.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, out: &mut [f32]) {
            let out = &mut out[..8];
            // SAFETY: only called from kernels run after detecting AVX2 and FMA; the slice holds 8 lanes.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: only called from kernels run after detecting AVX2 and FMA.
            Avx2(unsafe { _mm256_fmadd_ps(a.0, b.0, self.0) })
        }
        #[inline(always)]
        fn sum(self) -> f32 {
            // SAFETY: only called from kernels run after detecting AVX2 and FMA.
            unsafe {
                let half = _mm_add_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps(self.0, 1));
                let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
                _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)))
            }
        }
        #[inline(always)]
        fn scalar_mul_add(a: f32, b: f32, c: f32) -> f32 {
            a.mul_add(b, c)
        }
    }

    /// One AVX-512 register, under the same rule for `avx512f`.
    #[derive(Clone, Copy)]
    struct Avx512(__m512);

    impl Vector for Avx512 {
        const LANES: usize = 16;
        #[inline(always)]
        fn zero() -> Self {
            // SAFETY: only called from kernels run after detecting AVX-512F.
            Avx512(unsafe { _mm512_setzero_ps() })
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            // SAFETY: only called from kernels run after detecting AVX-512F.
            Avx512(unsafe { _mm512_set1_ps(v) })
        }
        #[inline(always)]
        fn load(s: &[f32]) -> Self {
            let s = &s[..16];
            // SAFETY: only called from kernels run after detecting AVX-512F; the slice holds 16 lanes.
            Avx512(unsafe { _mm512_loadu_ps(s.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, out: &mut [f32]) {
            let out = &mut out[..16];
            // SAFETY: only called from kernels run after detecting AVX-512F; the slice holds 16 lanes.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            // SAFETY: only called from kernels run after detecting AVX-512F.
            Avx512(unsafe { _mm512_fmadd_ps(a.0, b.0, self.0) })
        }
        #[inline(always)]
        fn sum(self) -> f32 {
            // SAFETY: only called from kernels run after detecting AVX-512F.
            unsafe { _mm512_reduce_add_ps(self.0) }
        }
        #[inline(always)]
        fn scalar_mul_add(a: f32, b: f32, c: f32) -> f32 {
            a.mul_add(b, c)
        }
    }

    // AVX2 (16 registers): 4 lines × 2 vectors of batch, or 2 × 4 (8 accumulators); AVX-512
    // (32 registers): 4 × 4 and 2 × 8 (16 accumulators).
    grouped!(gather_group_fused, dot_group_fused, Avx2, (2, 2), (4, 4));
    grouped!(gather_group_wide, dot_group_wide, Avx512, (4, 4), (8, 8));

    #[inline(always)]
    fn gather_fused(idx: &[u32], values: &[f32], src: &[f32], batch: usize, window: usize, add: bool, out: &mut [f32]) {
        gather::<Fused>(idx, values, src, batch, window, add, out)
    }

    #[inline(always)]
    fn dot_fused(idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]) {
        dot::<Fused>(idx, dy_row, x, batch, out)
    }

    compiled_for!("avx2,fma", gather_avx2, gather_avx2_unchecked, gather_fused,
        (idx: &[u32], values: &[f32], src: &[f32], batch: usize, window: usize, add: bool, out: &mut [f32]));
    compiled_for!("avx2,fma", dot_avx2, dot_avx2_unchecked, dot_fused,
        (idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]));
    compiled_for!("avx2,fma", gather_group_avx2, gather_group_avx2_unchecked, gather_group_fused,
        (group: &GroupSlices, src: &[f32], batch: usize, window: (usize, usize), add: bool, out: &mut [f32]));
    compiled_for!("avx2,fma", dot_group_avx2, dot_group_avx2_unchecked, dot_group_fused,
        (idx: &[u32], dy: &[f32], x: &[f32], batch: usize, stride: usize, out: &mut [f32]));

    compiled_for!("avx512f", gather_avx512, gather_avx512_unchecked, gather_fused,
        (idx: &[u32], values: &[f32], src: &[f32], batch: usize, window: usize, add: bool, out: &mut [f32]));
    compiled_for!("avx512f", dot_avx512, dot_avx512_unchecked, dot_fused,
        (idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]));
    compiled_for!("avx512f", gather_group_avx512, gather_group_avx512_unchecked, gather_group_wide,
        (group: &GroupSlices, src: &[f32], batch: usize, window: (usize, usize), add: bool, out: &mut [f32]));
    compiled_for!("avx512f", dot_group_avx512, dot_group_avx512_unchecked, dot_group_wide,
        (idx: &[u32], dy: &[f32], x: &[f32], batch: usize, stride: usize, out: &mut [f32]));

    pub(super) const AVX2: Kernels =
        Kernels { gather: gather_avx2, dot: dot_avx2, gather_group: gather_group_avx2, dot_group: dot_group_avx2 };
    pub(super) const AVX512: Kernels = Kernels {
        gather: gather_avx512,
        dot: dot_avx512,
        gather_group: gather_group_avx512,
        dot_group: dot_group_avx512,
    };
}

//! The inner loops, written once and compiled twice: for AVX2+FMA (chosen at run time when
//! the CPU has it) and portable. Both run over the batch on contiguous memory in fixed-size
//! chunks so the compiler keeps the accumulators in vector registers.

/// Batch elements accumulated per pass of [`gather`]: 64 f32 = 8 AVX registers.
const CHUNK: usize = 64;
/// Independent partial sums of [`dot`]: enough to hide the FMA latency.
const LANES: usize = 32;

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

/// `out[:] = Σ_n values[pos(n)] · src[idx[n], :]` over rows of `src` (`[_, batch]`), where
/// `pos(n)` is `pos[n]` when given, else `n`.
pub(super) type GatherFn = fn(&[u32], &[f32], Option<&[u32]>, &[f32], usize, &mut [f32]);
/// `out[n] = dy_row · x[idx[n], :]`.
pub(super) type DotFn = fn(&[u32], &[f32], &[f32], usize, &mut [f32]);

#[inline(always)]
fn gather<A: MulAdd>(idx: &[u32], values: &[f32], pos: Option<&[u32]>, src: &[f32], batch: usize, out: &mut [f32]) {
    let value = |n: usize| match pos {
        Some(p) => values[p[n] as usize],
        None => values[n],
    };
    let mut b0 = 0;
    while b0 < batch {
        let len = CHUNK.min(batch - b0);
        let mut acc = [0f32; CHUNK];
        if len == CHUNK {
            for (n, &i) in idx.iter().enumerate() {
                let v = value(n);
                let start = i as usize * batch + b0;
                let s: &[f32; CHUNK] = src[start..start + CHUNK].try_into().expect("a CHUNK-long slice");
                for (a, &s) in acc.iter_mut().zip(s) {
                    *a = A::mul_add(v, s, *a);
                }
            }
        } else {
            for (n, &i) in idx.iter().enumerate() {
                let v = value(n);
                let start = i as usize * batch + b0;
                for (a, &s) in acc[..len].iter_mut().zip(&src[start..start + len]) {
                    *a = A::mul_add(v, s, *a);
                }
            }
        }
        out[b0..b0 + len].copy_from_slice(&acc[..len]);
        b0 += len;
    }
}

#[inline(always)]
fn dot<A: MulAdd>(idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]) {
    let full = batch - batch % LANES;
    for (o, &i) in out.iter_mut().zip(idx) {
        let xr = &x[i as usize * batch..(i as usize + 1) * batch];
        let mut acc = [0f32; LANES];
        for (d, s) in dy_row[..full].chunks_exact(LANES).zip(xr[..full].chunks_exact(LANES)) {
            for ((a, &d), &s) in acc.iter_mut().zip(d).zip(s) {
                *a = A::mul_add(d, s, *a);
            }
        }
        let mut tail = 0f32;
        for (d, s) in dy_row[full..].iter().zip(&xr[full..]) {
            tail = A::mul_add(*d, *s, tail);
        }
        // Pairwise so the sum's rounding does not grow with LANES.
        let mut width = LANES;
        while width > 1 {
            width /= 2;
            for l in 0..width {
                acc[l] += acc[l + width];
            }
        }
        *o = acc[0] + tail;
    }
}

pub(super) fn gather_portable(
    idx: &[u32],
    values: &[f32],
    pos: Option<&[u32]>,
    src: &[f32],
    batch: usize,
    out: &mut [f32],
) {
    gather::<Separate>(idx, values, pos, src, batch, out)
}

pub(super) fn dot_portable(idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]) {
    dot::<Separate>(idx, dy_row, x, batch, out)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn gather_avx2(
        idx: &[u32],
        values: &[f32],
        pos: Option<&[u32]>,
        src: &[f32],
        batch: usize,
        out: &mut [f32],
    ) {
        gather::<Fused>(idx, values, pos, src, batch, out)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]) {
        dot::<Fused>(idx, dy_row, x, batch, out)
    }

    pub(super) fn gather_fma(
        idx: &[u32],
        values: &[f32],
        pos: Option<&[u32]>,
        src: &[f32],
        batch: usize,
        out: &mut [f32],
    ) {
        // SAFETY: only handed out by `gather_rows` after detecting AVX2 and FMA.
        unsafe { gather_avx2(idx, values, pos, src, batch, out) }
    }

    pub(super) fn dot_fma(idx: &[u32], dy_row: &[f32], x: &[f32], batch: usize, out: &mut [f32]) {
        // SAFETY: only handed out by `dot_rows` after detecting AVX2 and FMA.
        unsafe { dot_avx2(idx, dy_row, x, batch, out) }
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

pub(super) fn gather_rows() -> GatherFn {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        return x86::gather_fma;
    }
    gather_portable
}

pub(super) fn dot_rows() -> DotFn {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        return x86::dot_fma;
    }
    dot_portable
}

//! Block Golub–Kahan–Lanczos bidiagonalization with thick restarts and full
//! reorthogonalization, for the top two singular values of a large sparse biadjacency.
//!
//! Why this shape:
//! - Golub–Kahan works with `B` and `Bᵀ` separately and extracts Ritz values from a dense SVD
//!   of the small projected matrix `H = Uᵀ B V`, never from `BᵀB`: a σ near zero keeps its
//!   digits instead of losing half of them to squaring.
//! - A block of `p` starting vectors finds a top singular value of multiplicity up to `p`
//!   (two identical disconnected copies of a graph have σ2 = σ1); a single Krylov vector
//!   only ever sees one direction of such an eigenspace.
//! - Krylov breakdown (the block becomes rank-deficient, e.g. an all-ones layer of rank 1)
//!   is handled by replacing the lost direction with a fresh random vector orthogonal to the
//!   basis, with a zero coefficient in `H`, so the projection stays exact and the search goes
//!   on; when the smaller side's space is exhausted the projection is the whole matrix.
//!
//! Invariants kept through extensions and restarts (`V`: `n × kv`, `U`: `m × ku`, both
//! orthonormal; `V⁺`: the next block, `n × q`, orthogonal to `V`):
//! `B V = U H` and `Bᵀ U = V Hᵀ + V⁺ Sᵀ`. A Ritz triplet `(θ, U x, V y)` from `H = X Θ Yᵀ`
//! therefore has `B v = θ u` and `‖Bᵀ u − θ v‖ = ‖Sᵀ x‖`, which is the residual the stopping
//! rule uses; it is re-checked with real products before convergence is claimed.
//!
//! The stopping rule bounds each σ's error by `min(r, r²/gap)`. The linear bound `r` is
//! rigorous (some singular value lies within `r` of θ). The quadratic one needs the gap to the
//! rest of the spectrum, taken from the neighbouring Ritz values widened by their own
//! residuals; it assumes no singular value hides between θ2 and θ3 + r3 unseen by the block,
//! the usual caveat of every Krylov method. The default tolerance (1e-12) is tighter than the
//! 1e-9 the analysis promises because metrics such as `spectral_gap_bound` subtract `mu_hat`
//! from a number of its size (a gap of 4e-3 between numbers near 7.3 multiplies its relative
//! error by ~1800), and because it is cheap: convergence is superlinear by then, and 1e-12
//! costs 7–10% more products than 1e-10 on random layers (1e-13: 12–14%).

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::bitmap::{self, BitRows};
use super::shared_pass::{EndGuard, Meeting};
use super::spmm::{spmm, spmm_transposed, Scatter};
use super::{SolveInfo, SvdMethod, SvdParams, TopTwo};
use crate::graph::Csr;

/// Remainders below this fraction of the largest norm seen so far (a lower bound on σ1) are
/// treated as zero: a Krylov breakdown, not a direction.
pub(super) const DEFLATION: f64 = 1e-14;
/// A random replacement direction is rejected when less than this fraction of it survives
/// orthogonalization: the space is exhausted.
pub(super) const EXHAUSTED: f64 = 1e-8;
/// Reorthogonalization passes stop once a pass removes less than this share of the norm
/// (the Daniel–Gragg–Kaufman–Stewart criterion); more passes than this mean a breakdown.
const DGKS: f64 = 0.5;
const MAX_PASSES: usize = 5;

/// How the products with `b` and `bᵀ` are computed; built once per matrix and shared by its
/// pattern and weighted solves.
pub(crate) enum Products<'a> {
    /// Along the rows of `b`; products with `bᵀ` scatter rows into per-block buffers, so no
    /// transpose is built.
    Csr,
    /// Bit rows of `b` (see [`super::bitmap`]).
    Bits(BitRows<'a>),
}

/// Smallest density at which bit rows beat CSR: a bit-row product costs the same at any
/// density, a CSR one grows with the entries (the crossover is measured in docs/performance.md).
const BITS_MIN_DENSITY: f64 = 0.25;

impl<'a> Products<'a> {
    /// Bit rows when the CPU has the kernels, the blocks are at most two vectors wide and the
    /// matrix is dense enough; CSR otherwise.
    pub(crate) fn for_matrix(b: &'a Csr, params: &SvdParams) -> Products<'a> {
        let cells = (b.n_rows as f64) * (b.n_cols as f64);
        let dense_enough = cells > 0.0 && b.nnz() as f64 >= BITS_MIN_DENSITY * cells;
        if params.block_size <= 2 && dense_enough && bitmap::available() {
            Products::Bits(BitRows::rows_of(b))
        } else {
            Products::Csr
        }
    }
}

/// `b` as the operator `fwd: Rⁿ → Rᵐ` with `n ≤ m` (the smaller side is the right side, so
/// running out of space there means the projection is the whole matrix): `fwd = b`, or `bᵀ`
/// when `transposed`.
struct Operator<'a> {
    b: &'a Csr,
    products: &'a Products<'a>,
    /// Where the plain and weighted solves share passes, when they run side by side.
    meeting: Option<&'a Meeting<'a>>,
    transposed: bool,
    weighted: bool,
    parallel: bool,
}

impl Operator<'_> {
    fn n(&self) -> usize {
        if self.transposed {
            self.b.n_rows
        } else {
            self.b.n_cols
        }
    }
    fn m(&self) -> usize {
        if self.transposed {
            self.b.n_cols
        } else {
            self.b.n_rows
        }
    }
    /// `y = b x` (`x`: `b.n_cols × q`, `y`: `b.n_rows × q`, row-major).
    fn b_times(&self, x: &[f64], q: usize, y: &mut [f64]) {
        match (self.meeting, self.products) {
            (Some(meeting), _) => meeting.product(self.weighted, false, x, q, y),
            (None, Products::Csr) => spmm(self.b, self.weighted, x, q, y, self.parallel),
            (None, Products::Bits(rows)) => rows.product(self.weighted, x, q, y, self.parallel),
        }
    }
    /// `y = bᵀ x` (`x`: `b.n_rows × q`, `y`: `b.n_cols × q`, row-major).
    fn bt_times(&self, x: &[f64], q: usize, y: &mut [f64], scatter: &mut Scatter) {
        match (self.meeting, self.products) {
            (Some(meeting), _) => meeting.product(self.weighted, true, x, q, y),
            (None, Products::Csr) => spmm_transposed(self.b, self.weighted, x, q, y, scatter, self.parallel),
            (None, Products::Bits(rows)) => rows.product_transposed(self.weighted, x, q, y, self.parallel),
        }
    }
    /// `y = fwd · x` (`x`: `n × q`, `y`: `m × q`, row-major).
    fn forward(&self, x: &[f64], q: usize, y: &mut [f64], scatter: &mut Scatter) {
        if self.transposed {
            self.bt_times(x, q, y, scatter);
        } else {
            self.b_times(x, q, y);
        }
    }
    /// `y = fwdᵀ · x` (`x`: `m × q`, `y`: `n × q`, row-major).
    fn adjoint(&self, x: &[f64], q: usize, y: &mut [f64], scatter: &mut Scatter) {
        if self.transposed {
            self.b_times(x, q, y);
        } else {
            self.bt_times(x, q, y, scatter);
        }
    }
}

/// Top two singular values of `b` by the iterative path, with `products` made for `b`. `b` is
/// known to have a nonzero value.
pub(crate) fn top_two(b: &Csr, products: &Products, weighted: bool, params: &SvdParams) -> TopTwo {
    let op =
        Operator { b, products, meeting: None, transposed: b.n_cols > b.n_rows, weighted, parallel: params.parallel };
    Solver::new(&op, params).run()
}

/// [`top_two`] of the pattern and of the values. On bit rows the two solves run side by side
/// and share their passes over the bits (see [`super::shared_pass`]); the numbers are those
/// of two separate solves, to the bit. Not on a rayon worker: a solve waits for the other at
/// each product, and workers blocked that way could leave the pool none to run the products
/// (the layers and nested subgraphs analyzed in parallel run their solves one after the other).
pub(crate) fn top_two_both(b: &Csr, products: &Products, params: &SvdParams) -> [TopTwo; 2] {
    let rows = match products {
        Products::Bits(rows) if rayon::current_thread_index().is_none() => rows,
        _ => return [false, true].map(|weighted| top_two(b, products, weighted, params)),
    };
    let meeting = Meeting::new(rows, params.parallel);
    let solve = |weighted: bool| {
        let _end = EndGuard { meeting: &meeting, weighted };
        let op = Operator {
            b,
            products,
            meeting: Some(&meeting),
            transposed: b.n_cols > b.n_rows,
            weighted,
            parallel: params.parallel,
        };
        Solver::new(&op, params).run()
    };
    std::thread::scope(|scope| {
        let weighted = scope.spawn(|| solve(true));
        let plain = solve(false);
        let weighted = weighted.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        [plain, weighted]
    })
}

struct Solver<'a> {
    op: &'a Operator<'a>,
    params: &'a SvdParams,
    rng: ChaCha8Rng,
    /// Largest basis before a restart (`kmax`), and the block size `p`.
    kmax: usize,
    p: usize,
    /// Column-major bases with room for `kmax + p` columns: `V` (length-`n` columns, the
    /// current `kv` then the next block of `q`) and `U` (length-`m` columns, `ku` of them).
    v: Vec<f64>,
    u: Vec<f64>,
    kv: usize,
    ku: usize,
    q: usize,
    /// `H` (`ku × kv` used) and `S` (`ku × q` used, row-major with row length `p`).
    h: Mat<f64>,
    s: Vec<f64>,
    /// Dense SVD of `H`: `H = X diag(theta) Yᵀ`, kept from the last step for restarts.
    theta: Diag<f64>,
    x: Mat<f64>,
    y: Mat<f64>,
    svd_buffer: MemBuffer,
    /// Row-major blocks for the sparse products (`n × p` and `m × p`), one column, coefficients.
    block_n: Vec<f64>,
    block_n2: Vec<f64>,
    block_m: Vec<f64>,
    block_m2: Vec<f64>,
    column: Vec<f64>,
    scatter: Scatter,
    coeffs: Vec<f64>,
    pass_coeffs: Vec<f64>,
    /// Restart workspace: `max(m, n) × kmax`, and `kmax × p` for `S`.
    restart_basis: Vec<f64>,
    restart_s: Vec<f64>,
    /// Largest `‖B v‖` / θ1 seen: a lower bound on σ1 that scales the deflation threshold.
    scale: f64,
    matvecs: usize,
    restarts: usize,
}

/// Where a step's convergence test left things.
struct Estimate {
    /// Number of Ritz values (`min(ku, kv)`); a missing σ2 is reported as 0.
    count: usize,
    theta: [f64; 2],
    /// Error bounds on `theta` from the residual estimates.
    bound: [f64; 2],
    /// Distance from each Ritz value to the rest of the spectrum, as far as it is known
    /// (0 when unknown, which leaves only the linear bound).
    gap: [f64; 2],
}

impl<'a> Solver<'a> {
    fn new(op: &'a Operator<'a>, params: &'a SvdParams) -> Solver<'a> {
        let (n, m) = (op.n(), op.m());
        let p = params.block_size.clamp(1, n);
        // The basis needs room for a few blocks and can never exceed the space.
        let kmax = params.max_basis.max(3 * p).min(n);
        let cap = kmax + p;
        Solver {
            op,
            params,
            rng: ChaCha8Rng::seed_from_u64(params.seed),
            kmax,
            p,
            v: vec![0.0; n * cap],
            u: vec![0.0; m * cap],
            kv: 0,
            ku: 0,
            q: 0,
            h: Mat::zeros(cap, cap),
            s: vec![0.0; cap * p],
            theta: Diag::zeros(cap),
            x: Mat::zeros(cap, cap),
            y: Mat::zeros(cap, cap),
            svd_buffer: MemBuffer::new(svd::svd_scratch::<f64>(
                cap,
                cap,
                ComputeSvdVectors::Thin,
                ComputeSvdVectors::Thin,
                Par::Seq,
                Default::default(),
            )),
            block_n: vec![0.0; n * p.max(2)],
            block_n2: vec![0.0; n * p.max(2)],
            block_m: vec![0.0; m * p.max(2)],
            block_m2: vec![0.0; m * p.max(2)],
            column: vec![0.0; m.max(n)],
            // Bit rows need no scatter buffers.
            scatter: Scatter::new(op.b, if matches!(op.products, Products::Csr) { p.max(2) } else { 0 }),
            coeffs: vec![0.0; cap],
            pass_coeffs: vec![0.0; cap],
            restart_basis: vec![0.0; m.max(n) * kmax],
            restart_s: vec![0.0; cap * p],
            scale: 0.0,
            matvecs: 0,
            restarts: 0,
        }
    }

    fn run(mut self) -> TopTwo {
        let n = self.op.n();
        self.q = self.fill_random_block(n);
        loop {
            let Some(estimate) = self.step() else {
                // The dense SVD of the small projection failed (NaN/inf in the input).
                return self.finish([f64::NAN, f64::NAN], false, f64::NAN);
            };
            let exhausted = self.q == 0;
            if exhausted || self.accepts(&estimate.bound, &estimate.theta) {
                // The estimate can drift from the truth through rounding: measure the
                // residuals with real products before claiming the digits.
                let measured = self.measured_residuals(&estimate);
                let bound = [0, 1].map(|i| error_bound(measured[i], estimate.gap[i]));
                let relative = measured[0].max(measured[1]) / estimate.theta[0];
                if self.accepts(&bound, &estimate.theta) {
                    return self.finish(estimate.theta, true, relative);
                }
                if exhausted {
                    return self.finish(estimate.theta, false, relative);
                }
            }
            if self.matvecs >= self.params.max_matvecs {
                let measured = self.measured_residuals(&estimate);
                let relative = measured[0].max(measured[1]) / estimate.theta[0];
                return self.finish(estimate.theta, false, relative);
            }
        }
    }

    /// Restart if the basis is full, extend by one block, and estimate.
    fn step(&mut self) -> Option<Estimate> {
        if self.q > 0 && self.kv + self.q > self.kmax {
            self.restart();
        }
        if self.q > 0 {
            self.extend();
        }
        self.estimate()
    }

    fn finish(&self, theta: [f64; 2], converged: bool, residual: f64) -> TopTwo {
        TopTwo {
            sigma1: theta[0],
            sigma2: theta[1],
            info: SolveInfo {
                method: SvdMethod::Lanczos,
                matvecs: self.matvecs,
                restarts: self.restarts,
                converged,
                residual,
            },
        }
    }

    /// Writes up to `p` orthonormal random columns as the next block `V⁺` (after the `kv`
    /// basis columns) and returns how many fit in the space.
    fn fill_random_block(&mut self, n: usize) -> usize {
        let mut accepted = 0;
        for _ in 0..self.p {
            if self.random_direction(Side::V, self.kv + accepted, n) {
                accepted += 1;
            }
        }
        accepted
    }

    /// Stores at column `k` of the `side` basis a random unit vector orthogonal to its first
    /// `k` columns; false if none survives (the space is exhausted).
    fn random_direction(&mut self, side: Side, k: usize, dim: usize) -> bool {
        for _ in 0..2 {
            for value in &mut self.column[..dim] {
                *value = self.rng.random_range(-1.0..1.0);
            }
            let norm0 = norm(&self.column[..dim]);
            let basis = match side {
                Side::V => &self.v,
                Side::U => &self.u,
            };
            let rest = orthogonalize(basis, dim, k, &mut self.column[..dim], &mut self.coeffs, &mut self.pass_coeffs);
            if rest > EXHAUSTED * norm0 {
                let basis = match side {
                    Side::V => &mut self.v,
                    Side::U => &mut self.u,
                };
                let target = &mut basis[k * dim..(k + 1) * dim];
                for (t, &c) in target.iter_mut().zip(&self.column[..dim]) {
                    *t = c / rest;
                }
                return true;
            }
        }
        false
    }

    /// One block Golub–Kahan step: `V⁺` joins `V`, `B V⁺` gives the new `U` block and the
    /// new columns of `H`, `Bᵀ` of the new `U` block gives the next `V⁺` and `S`.
    fn extend(&mut self) {
        let (n, m, q) = (self.op.n(), self.op.m(), self.q);
        let (kv0, ku0) = (self.kv, self.ku);

        // B V⁺
        gather(&self.v, n, kv0, q, &mut self.block_n[..n * q]);
        self.op.forward(&self.block_n[..n * q], q, &mut self.block_m[..m * q], &mut self.scatter);
        self.matvecs += q;
        for row in 0..ku0 + q {
            for j in 0..q {
                self.h[(row, kv0 + j)] = 0.0;
            }
        }
        let mut accepted = 0;
        for j in 0..q {
            scatter_column(&self.block_m[..m * q], q, j, &mut self.column[..m]);
            let norm0 = norm(&self.column[..m]);
            self.scale = self.scale.max(norm0);
            let k = ku0 + accepted;
            let rest = orthogonalize(&self.u, m, k, &mut self.column[..m], &mut self.coeffs, &mut self.pass_coeffs);
            for i in 0..k {
                self.h[(i, kv0 + j)] = self.coeffs[i];
            }
            if rest > DEFLATION * self.scale {
                for (t, &c) in self.u[k * m..(k + 1) * m].iter_mut().zip(&self.column[..m]) {
                    *t = c / rest;
                }
                self.h[(k, kv0 + j)] = rest;
                accepted += 1;
            } else if self.random_direction(Side::U, k, m) {
                accepted += 1;
            }
        }
        let qu = accepted;
        // Rows of the new U block see nothing of the old V: B V = U H already held for it.
        for i in ku0..ku0 + qu {
            for jv in 0..kv0 {
                self.h[(i, jv)] = 0.0;
            }
        }
        self.kv = kv0 + q;
        self.ku = ku0 + qu;

        // Bᵀ of the new U block. Its coefficients on V are known in exact arithmetic (zero on
        // the old V, the new H block on V⁺), so only those on the next block are kept.
        gather(&self.u, m, ku0, qu, &mut self.block_m[..m * qu]);
        self.op.adjoint(&self.block_m[..m * qu], qu, &mut self.block_n[..n * qu], &mut self.scatter);
        self.matvecs += qu;
        self.s[..(ku0 + qu) * self.p].fill(0.0);
        let mut next = 0;
        for a in 0..qu {
            scatter_column(&self.block_n[..n * qu], qu, a, &mut self.column[..n]);
            let k = self.kv + next;
            let rest = orthogonalize(&self.v, n, k, &mut self.column[..n], &mut self.coeffs, &mut self.pass_coeffs);
            for b in 0..next {
                self.s[(ku0 + a) * self.p + b] = self.coeffs[self.kv + b];
            }
            if rest > DEFLATION * self.scale {
                for (t, &c) in self.v[k * n..(k + 1) * n].iter_mut().zip(&self.column[..n]) {
                    *t = c / rest;
                }
                self.s[(ku0 + a) * self.p + next] = rest;
                next += 1;
            } else if next < self.p && self.random_direction(Side::V, k, n) {
                next += 1;
            }
        }
        self.q = next;
    }

    /// SVD of `H` and the error bounds of its top two Ritz values.
    fn estimate(&mut self) -> Option<Estimate> {
        let (ku, kv) = (self.ku, self.kv);
        let r = ku.min(kv);
        if r == 0 {
            return None;
        }
        let h = self.h.as_ref().submatrix(0, 0, ku, kv);
        let req = svd::svd_scratch::<f64>(
            ku,
            kv,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::Thin,
            Par::Seq,
            Default::default(),
        );
        if req.size_bytes() > self.svd_buffer.len() {
            self.svd_buffer = MemBuffer::new(req);
        }
        let theta = self.theta.as_mut().column_vector_mut().subrows_mut(0, r).as_diagonal_mut();
        let x = self.x.as_mut().submatrix_mut(0, 0, ku, r);
        let y = self.y.as_mut().submatrix_mut(0, 0, kv, r);
        let stack = MemStack::new(&mut self.svd_buffer);
        if svd::svd(h, theta, Some(x), Some(y), Par::Seq, stack, Default::default()).is_err() {
            return None;
        }
        let count = r.min(3);
        let mut theta = [0.0; 3];
        let mut residual = [0.0; 3];
        for i in 0..count {
            theta[i] = self.theta[i];
            residual[i] = self.residual_estimate(i);
        }
        self.scale = self.scale.max(theta[0]);
        // Beyond the computed Ritz values the spectrum is unknown unless the space is exhausted.
        let exhausted = self.q == 0;
        let mut bound = [0.0; 2];
        let mut gap = [0.0; 2];
        for i in 0..2.min(count) {
            let upper = if i == 0 { f64::INFINITY } else { theta[i - 1] - theta[i] };
            let lower = if i + 1 < count {
                theta[i] - theta[i + 1] - residual[i + 1]
            } else if exhausted {
                theta[i]
            } else {
                0.0
            };
            gap[i] = upper.min(lower).min(theta[i]);
            bound[i] = error_bound(residual[i], gap[i]);
        }
        Some(Estimate { count, theta: [theta[0], theta[1]], bound, gap })
    }

    /// `‖Sᵀ x_i‖`, the norm of `Bᵀ u_i − θ_i v_i`.
    fn residual_estimate(&self, i: usize) -> f64 {
        let mut sum = 0.0;
        for b in 0..self.q {
            let mut dot = 0.0;
            for row in 0..self.ku {
                dot += self.s[row * self.p + b] * self.x[(row, i)];
            }
            sum += dot * dot;
        }
        sum.sqrt()
    }

    /// The stopping rule: each of σ1, σ2 within `tolerance` relative, or absolute
    /// `tolerance · zero_floor · σ1` for a σ2 near zero.
    fn accepts(&self, bound: &[f64; 2], theta: &[f64; 2]) -> bool {
        let tolerance = self.params.tolerance;
        let floor = self.params.zero_floor * theta[0];
        (0..2).all(|i| bound[i] <= tolerance * theta[i].max(floor))
    }

    /// `‖(B v_i − θ_i u_i, Bᵀ u_i − θ_i v_i)‖` of the top two Ritz triplets, from real
    /// products (zero for a triplet that does not exist: a one-dimensional side).
    fn measured_residuals(&mut self, estimate: &Estimate) -> [f64; 2] {
        let (n, m) = (self.op.n(), self.op.m());
        let count = estimate.count.min(2);
        let (kv, ku) = (self.kv, self.ku);
        self.block_n[..n * count].fill(0.0);
        self.block_m[..m * count].fill(0.0);
        for i in 0..count {
            for j in 0..kv {
                let c = self.y[(j, i)];
                for (r, &value) in self.v[j * n..(j + 1) * n].iter().enumerate() {
                    self.block_n[r * count + i] += c * value;
                }
            }
            for j in 0..ku {
                let c = self.x[(j, i)];
                for (r, &value) in self.u[j * m..(j + 1) * m].iter().enumerate() {
                    self.block_m[r * count + i] += c * value;
                }
            }
        }
        self.op.forward(&self.block_n[..n * count], count, &mut self.block_m2[..m * count], &mut self.scatter);
        self.op.adjoint(&self.block_m[..m * count], count, &mut self.block_n2[..n * count], &mut self.scatter);
        self.matvecs += 2 * count;
        let mut measured = [0.0; 2];
        for (i, slot) in measured.iter_mut().enumerate().take(count) {
            let theta = estimate.theta[i];
            let mut sum = 0.0;
            for r in 0..m {
                let d = self.block_m2[r * count + i] - theta * self.block_m[r * count + i];
                sum += d * d;
            }
            for r in 0..n {
                let d = self.block_n2[r * count + i] - theta * self.block_n[r * count + i];
                sum += d * d;
            }
            *slot = sum.sqrt();
        }
        measured
    }

    /// Thick restart: keeps the leading Ritz triplets as the new bases, so `H` becomes
    /// diagonal, `S` becomes `Xᵀ S`, and the next block `V⁺` is kept as it is.
    fn restart(&mut self) {
        let (n, m) = (self.op.n(), self.op.m());
        let (kv, ku, q, p) = (self.kv, self.ku, self.q, self.p);
        let keep = (self.kmax / 2).max(2).min(ku.min(kv));
        let par = if self.op.parallel { Par::rayon(0) } else { Par::Seq };
        {
            let mut dst = MatMut::from_column_major_slice_mut(&mut self.restart_basis[..n * keep], n, keep);
            let basis = MatRef::from_column_major_slice(&self.v[..n * kv], n, kv);
            matmul(dst.as_mut(), Accum::Replace, basis, self.y.as_ref().submatrix(0, 0, kv, keep), 1.0, par);
        }
        self.v[..n * keep].copy_from_slice(&self.restart_basis[..n * keep]);
        // The next block moves down to follow the kept columns (source is above destination).
        for j in 0..q {
            self.v.copy_within((kv + j) * n..(kv + j + 1) * n, (keep + j) * n);
        }
        {
            let mut dst = MatMut::from_column_major_slice_mut(&mut self.restart_basis[..m * keep], m, keep);
            let basis = MatRef::from_column_major_slice(&self.u[..m * ku], m, ku);
            matmul(dst.as_mut(), Accum::Replace, basis, self.x.as_ref().submatrix(0, 0, ku, keep), 1.0, par);
        }
        self.u[..m * keep].copy_from_slice(&self.restart_basis[..m * keep]);
        for i in 0..keep {
            for b in 0..q {
                let mut sum = 0.0;
                for row in 0..ku {
                    sum += self.x[(row, i)] * self.s[row * p + b];
                }
                self.restart_s[i * p + b] = sum;
            }
        }
        self.s[..keep * p].copy_from_slice(&self.restart_s[..keep * p]);
        for i in 0..keep {
            for j in 0..keep {
                self.h[(i, j)] = if i == j { self.theta[i] } else { 0.0 };
            }
        }
        self.kv = keep;
        self.ku = keep;
        self.restarts += 1;
    }
}

#[derive(Clone, Copy)]
enum Side {
    U,
    V,
}

/// Error bound on a Ritz value with residual norm `r`: the linear bound `r`, or the quadratic
/// `r²/gap` when the gap to the rest of the spectrum is known and wider than `r`.
pub(super) fn error_bound(residual: f64, gap: f64) -> f64 {
    if gap > residual {
        residual.min(residual * residual / gap)
    } else {
        residual
    }
}

pub(super) fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Orthogonalizes `w` against the first `k` columns of the column-major `basis` (column length
/// `dim`) by classical Gram–Schmidt passes, repeated until a pass removes little
/// (so `w` is orthogonal to working precision even after heavy cancellation). The total
/// projection coefficients go to `coeffs[..k]`; returns the remaining norm.
pub(super) fn orthogonalize(
    basis: &[f64],
    dim: usize,
    k: usize,
    w: &mut [f64],
    coeffs: &mut [f64],
    pass: &mut [f64],
) -> f64 {
    coeffs[..k].fill(0.0);
    let mut previous = norm(w);
    if k == 0 {
        return previous;
    }
    let q = MatRef::from_column_major_slice(&basis[..dim * k], dim, k);
    for pass_count in 0..MAX_PASSES {
        // Both products are matrix–vector calls so they run at SIMD speed: the basis is read
        // twice per pass and this is the solver's main dense cost.
        let mut c = MatMut::from_column_major_slice_mut(&mut pass[..k], k, 1);
        matmul(c.as_mut(), Accum::Replace, q.transpose(), MatRef::from_column_major_slice(w, dim, 1), 1.0, Par::Seq);
        matmul(MatMut::from_column_major_slice_mut(w, dim, 1), Accum::Add, q, c.as_ref(), -1.0, Par::Seq);
        for (total, &c) in coeffs[..k].iter_mut().zip(&pass[..k]) {
            *total += c;
        }
        let current = norm(w);
        // A single pass multiplies whatever non-orthogonality the basis already has by
        // ‖Qᵀw‖/‖w'‖ (up to ~1.7 at the DGKS threshold): repeated over hundreds of steps that
        // grows geometrically and breeds spurious Ritz values. Two passes always, more while a
        // pass still cancels.
        if pass_count >= 1 && current > DGKS * previous {
            return current;
        }
        previous = current;
    }
    // Still cancelling after every pass: what is left is rounding noise.
    0.0
}

/// Copies columns `first..first + q` of a column-major basis into a row-major `dim × q` block.
fn gather(basis: &[f64], dim: usize, first: usize, q: usize, block: &mut [f64]) {
    for j in 0..q {
        let column = &basis[(first + j) * dim..(first + j + 1) * dim];
        for (r, &value) in column.iter().enumerate() {
            block[r * q + j] = value;
        }
    }
}

/// Copies column `j` of a row-major `dim × q` block into `column`.
fn scatter_column(block: &[f64], q: usize, j: usize, column: &mut [f64]) {
    for (r, value) in column.iter_mut().enumerate() {
        *value = block[r * q + j];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// `max |QᵀQ − I|` of the first `k` columns of a column-major basis.
    fn orthogonality_error(basis: &[f64], dim: usize, k: usize) -> f64 {
        let mut worst = 0.0f64;
        for i in 0..k {
            for j in 0..=i {
                let dot: f64 = (0..dim).map(|r| basis[i * dim + r] * basis[j * dim + r]).sum();
                worst = worst.max((dot - if i == j { 1.0 } else { 0.0 }).abs());
            }
        }
        worst
    }

    /// The invariants the stopping rule relies on, after hundreds of steps and many restarts
    /// on a layer whose σ1 dominates (σ1/σ2 ≈ 25): both bases orthonormal, `B V = U H`, and
    /// `Bᵀ U = V Hᵀ + V⁺ Sᵀ`, each checked with plain loops over the dense matrix.
    #[test]
    fn bases_stay_orthonormal_and_relations_hold_through_restarts() {
        let (rows, cols) = (900, 2400);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let triplets: Vec<_> = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .filter(|_| rng.random::<f64>() < 0.5)
            .map(|(r, c)| (r, c, 1.0))
            .collect();
        let b = Csr::from_triplets(rows, cols, &triplets).unwrap();
        let transposed = b.transpose();
        let op = Operator {
            b: &b,
            products: &Products::Csr,
            meeting: None,
            transposed: true,
            weighted: false,
            parallel: false,
        };
        let params = SvdParams { max_basis: 24, ..SvdParams::default() };
        let mut solver = Solver::new(&op, &params);
        solver.q = solver.fill_random_block(op.n());
        for _ in 0..150 {
            solver.step().expect("projection has singular values");
        }
        assert!(solver.restarts > 10);
        let (n, m, kv, ku, q) = (op.n(), op.m(), solver.kv, solver.ku, solver.q);
        assert!(orthogonality_error(&solver.v, n, kv + q) < 1e-13, "V: {}", orthogonality_error(&solver.v, n, kv + q));
        assert!(orthogonality_error(&solver.u, m, ku) < 1e-13, "U: {}", orthogonality_error(&solver.u, m, ku));
        let dense = transposed.to_dense(false);
        let sigma1 = solver.theta[0];
        let mut worst = 0.0f64;
        for j in 0..kv {
            for r in 0..m {
                let bv: f64 = (0..n).map(|c| dense[r * n + c] * solver.v[j * n + c]).sum();
                let uh: f64 = (0..ku).map(|i| solver.u[i * m + r] * solver.h[(i, j)]).sum();
                worst = worst.max((bv - uh).abs());
            }
        }
        assert!(worst < 1e-11 * sigma1, "B V − U H: {worst}");
        let mut worst = 0.0f64;
        for i in 0..ku {
            for c in 0..n {
                let btu: f64 = (0..m).map(|r| dense[r * n + c] * solver.u[i * m + r]).sum();
                let vh: f64 = (0..kv).map(|j| solver.v[j * n + c] * solver.h[(i, j)]).sum::<f64>()
                    + (0..q).map(|b| solver.v[(kv + b) * n + c] * solver.s[i * solver.p + b]).sum::<f64>();
                worst = worst.max((btu - vh).abs());
            }
        }
        assert!(worst < 1e-11 * sigma1, "Bᵀ U − V Hᵀ − V⁺ Sᵀ: {worst}");
    }
    /// The bit-row products give the CSR products' singular values on a layer dense enough to
    /// choose them, wide and tall, plain and weighted, alone or side by side.
    #[test]
    fn bit_rows_and_csr_agree() {
        let params = SvdParams { dense_threshold: 0, ..SvdParams::default() };
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (rows, cols) = (300, 700);
        let mut triplets = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                if rng.random::<f64>() < 0.3 {
                    triplets.push((r, c, rng.random_range(0.01..1.0)));
                }
            }
        }
        let wide = Csr::from_triplets(rows, cols, &triplets).unwrap();
        for b in [wide.transpose(), wide] {
            let bits = Products::for_matrix(&b, &params);
            if !matches!(bits, Products::Bits(_)) {
                eprintln!("no AVX-512 on this CPU: the bit-row products are never chosen here");
                return;
            }
            // Side by side, sharing passes: the numbers of separate solves, to the bit.
            let both = top_two_both(&b, &bits, &params);
            for (weighted, shared) in [false, true].into_iter().zip(&both) {
                assert_eq!(shared, &top_two(&b, &bits, weighted, &params), "weighted {weighted}");
            }
            for weighted in [false, true] {
                let [a, c] = [&bits, &Products::Csr].map(|products| top_two(&b, products, weighted, &params));
                assert!(a.info.converged && c.info.converged);
                for (x, y) in [(a.sigma1, c.sigma1), (a.sigma2, c.sigma2)] {
                    assert!((x - y).abs() <= 1e-11 * x, "weighted {weighted}: {x} vs {y}");
                }
            }
        }
    }
}

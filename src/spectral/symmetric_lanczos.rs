//! The top eigenvectors of a small dense symmetric matrix (a Gram matrix) by block Lanczos
//! with full reorthogonalization.
//!
//! Why not a full eigendecomposition: it costs ~9 s³ flops whatever the spectrum, while the
//! Gram path needs three eigenvectors, and only to about half the digits (the Rayleigh–Ritz
//! step with `B` squares their error, and its residuals certify the result). A Krylov basis
//! of `k` vectors costs `k` dense products (`s²` each, in cache, at SIMD speed) and its
//! reorthogonalization; on the layers this serves, `k` stays well below `s`. When it does
//! not, the basis grows until it spans the whole space and the projection is exact.
//!
//! The block (two vectors by default) finds a repeated top eigenvalue: two identical
//! disconnected copies of a graph have σ2 = σ1, and a single Krylov vector only ever sees
//! one direction of that eigenspace. Every coefficient `qᵢᵀ A qⱼ` is kept (block Arnoldi on a
//! symmetric matrix), so a lost direction (a Krylov breakdown) is replaced by a random one
//! with an exact zero coefficient, as in the Golub–Kahan solver.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::lanczos::{norm, orthogonalize, DEFLATION, EXHAUSTED};

/// Ritz pairs of `A` on the current basis, largest first.
pub(crate) struct Ritz {
    pub values: Vec<f64>,
    /// `‖A x − λ x‖` of each Ritz vector (exact in exact arithmetic: the coefficients of the
    /// next block).
    pub residuals: Vec<f64>,
    /// The Ritz vectors, `s × values.len()`.
    pub vectors: Mat<f64>,
}

pub(crate) struct SymmetricLanczos<'a> {
    a: MatRef<'a, f64>,
    s: usize,
    rng: ChaCha8Rng,
    /// Orthonormal basis, column-major `s × s` capacity: `k` expanded columns, then the next
    /// block up to `nq`.
    q: Vec<f64>,
    k: usize,
    nq: usize,
    /// `T[i][j] = qᵢᵀ A qⱼ` for every expanded column `j`, `s × s` column-major.
    t: Vec<f64>,
    block: Vec<f64>,
    product: Vec<f64>,
    column: Vec<f64>,
    coeffs: Vec<f64>,
    pass_coeffs: Vec<f64>,
    /// Largest product norm seen: scales the breakdown threshold.
    scale: f64,
}

impl<'a> SymmetricLanczos<'a> {
    /// Starts on `a` (`s × s`, both triangles filled) with a seeded random block of `p` vectors.
    pub(crate) fn new(a: MatRef<'a, f64>, p: usize, seed: u64) -> SymmetricLanczos<'a> {
        let s = a.nrows();
        let p = p.clamp(1, s.max(1));
        let mut lanczos = SymmetricLanczos {
            a,
            s,
            rng: ChaCha8Rng::seed_from_u64(seed),
            q: vec![0.0; s * s],
            k: 0,
            nq: 0,
            t: vec![0.0; s * s],
            block: vec![0.0; s * p],
            product: vec![0.0; s * p],
            column: vec![0.0; s],
            coeffs: vec![0.0; s],
            pass_coeffs: vec![0.0; s],
            scale: 0.0,
        };
        for _ in 0..p {
            if lanczos.random_direction(lanczos.nq) {
                lanczos.nq += 1;
            }
        }
        lanczos
    }

    /// Size of the expanded basis (the dimension of the projection).
    pub(crate) fn dimension(&self) -> usize {
        self.k
    }

    /// The basis spans an invariant subspace (in practice: the whole space), so its Ritz
    /// pairs are eigenpairs.
    pub(crate) fn exhausted(&self) -> bool {
        self.k == self.nq
    }

    /// Takes the products of the next block and appends what is new in them to the basis.
    pub(crate) fn step(&mut self) {
        let (s, k0, nq) = (self.s, self.k, self.nq);
        let width = nq - k0;
        if width == 0 {
            return;
        }
        self.block[..s * width].copy_from_slice(&self.q[k0 * s..nq * s]);
        matmul(
            MatMut::from_column_major_slice_mut(&mut self.product[..s * width], s, width),
            Accum::Replace,
            self.a,
            MatRef::from_column_major_slice(&self.block[..s * width], s, width),
            1.0,
            Par::Seq,
        );
        let mut accepted = 0;
        for j in 0..width {
            self.column.copy_from_slice(&self.product[j * s..(j + 1) * s]);
            self.scale = self.scale.max(norm(&self.column));
            let kk = nq + accepted;
            let rest = orthogonalize(&self.q, s, kk, &mut self.column, &mut self.coeffs, &mut self.pass_coeffs);
            let t_column = &mut self.t[(k0 + j) * s..(k0 + j + 1) * s];
            t_column[..kk].copy_from_slice(&self.coeffs[..kk]);
            if kk == s {
                continue;
            }
            if rest > DEFLATION * self.scale {
                t_column[kk] = rest;
                for (target, &c) in self.q[kk * s..(kk + 1) * s].iter_mut().zip(&self.column) {
                    *target = c / rest;
                }
                accepted += 1;
            } else {
                // A breakdown: the coefficient stays 0 and a fresh direction keeps the search going.
                if self.random_direction(kk) {
                    accepted += 1;
                }
            }
        }
        self.k = nq;
        self.nq = nq + accepted;
    }

    /// Stores at column `nq` a random unit vector orthogonal to the first `nq` columns; false
    /// if none survives (the space is exhausted).
    fn random_direction(&mut self, nq: usize) -> bool {
        let s = self.s;
        if nq >= s {
            return false;
        }
        for _ in 0..2 {
            for value in &mut self.column {
                *value = self.rng.random_range(-1.0..1.0);
            }
            let norm0 = norm(&self.column);
            let rest = orthogonalize(&self.q, s, nq, &mut self.column, &mut self.coeffs, &mut self.pass_coeffs);
            if rest > EXHAUSTED * norm0 {
                for (target, &c) in self.q[nq * s..(nq + 1) * s].iter_mut().zip(&self.column) {
                    *target = c / rest;
                }
                return true;
            }
        }
        false
    }

    /// The projection `Q_kᵀ A Q_k`, symmetrized (its two triangles differ by
    /// reorthogonalization noise); lower triangle filled.
    fn projection(&self) -> Mat<f64> {
        let (s, k) = (self.s, self.k);
        let mut projection = Mat::<f64>::zeros(k, k);
        for j in 0..k {
            for i in j..k {
                projection[(i, j)] = 0.5 * (self.t[j * s + i] + self.t[i * s + j]);
            }
        }
        projection
    }

    /// The top `count` Ritz values alone: a fifth of the cost of [`Self::ritz`] (no
    /// eigenvectors of the projection), to watch convergence between full checks.
    pub(crate) fn ritz_values(&self, count: usize) -> Option<Vec<f64>> {
        let k = self.k;
        let count = count.min(k);
        let mut lambda = Diag::<f64>::zeros(k);
        let scratch = evd::self_adjoint_evd_scratch::<f64>(k, ComputeEigenvectors::No, Par::Seq, Default::default());
        let mut buffer = MemBuffer::new(scratch);
        evd::self_adjoint_evd(
            self.projection().as_ref(),
            lambda.as_mut(),
            None,
            Par::Seq,
            MemStack::new(&mut buffer),
            Default::default(),
        )
        .ok()?;
        Some((0..count).map(|i| lambda[k - 1 - i]).collect())
    }

    /// The top `count` Ritz pairs on the expanded basis, or `None` if the small
    /// eigensolver fails (NaN in the input).
    pub(crate) fn ritz(&self, count: usize) -> Option<Ritz> {
        let (s, k, nq) = (self.s, self.k, self.nq);
        let count = count.min(k);
        if count == 0 {
            return None;
        }
        let projection = self.projection();
        let mut lambda = Diag::<f64>::zeros(k);
        let mut y = Mat::<f64>::zeros(k, k);
        let scratch = evd::self_adjoint_evd_scratch::<f64>(k, ComputeEigenvectors::Yes, Par::Seq, Default::default());
        let mut buffer = MemBuffer::new(scratch);
        evd::self_adjoint_evd(
            projection.as_ref(),
            lambda.as_mut(),
            Some(y.as_mut()),
            Par::Seq,
            MemStack::new(&mut buffer),
            Default::default(),
        )
        .ok()?;
        let mut values = Vec::with_capacity(count);
        let mut residuals = Vec::with_capacity(count);
        let mut vectors = Mat::<f64>::zeros(s, count);
        for i in 0..count {
            // Eigenvalues come nondecreasing: the top ones are the last columns.
            let col = k - 1 - i;
            values.push(lambda[col]);
            // A Q_k y − λ Q_k y = Q_next T[k..nq, ..k] y.
            let mut sum = 0.0;
            for row in k..nq {
                let dot: f64 = (0..k).map(|j| self.t[j * s + row] * y[(j, col)]).sum();
                sum += dot * dot;
            }
            residuals.push(sum.sqrt());
            let target = vectors.as_mut().col_mut(i).try_as_col_major_mut().expect("a fresh column is contiguous");
            let target = target.as_slice_mut();
            for j in 0..k {
                let c = y[(j, col)];
                for (t, &v) in target.iter_mut().zip(&self.q[j * s..(j + 1) * s]) {
                    *t += c * v;
                }
            }
        }
        Some(Ritz { values, residuals, vectors })
    }
}

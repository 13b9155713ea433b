//! The top eigenvectors of a small dense symmetric matrix (a Gram matrix) by Lanczos with
//! full reorthogonalization, optionally on the complement of locked vectors.
//!
//! Why not a full eigendecomposition: it costs ~9 s³ flops whatever the spectrum, while the
//! Gram path needs three eigenvectors, and only to about half the digits (the Rayleigh–Ritz
//! step with `B` squares their error, and its residuals certify the result). A Krylov basis
//! of `k` vectors costs `k` dense products (`s²` each, in cache, at SIMD speed) and its
//! reorthogonalization; on the layers this serves, `k` stays well below `s`. When it does
//! not, the basis grows until it spans the whole space and the projection is exact.
//!
//! One vector at a time keeps the projection tridiagonal, so its top eigenpairs cost `O(k)`
//! each (Newton on the determinant guarded by Sturm counts, then inverse iteration) instead
//! of a dense eigendecomposition of the projection at every convergence check, which on a
//! block basis cost as much as the products. A single Krylov vector only ever sees one direction of a
//! repeated top eigenvalue (two identical disconnected copies of a graph have σ2 = σ1): the
//! caller finds the top vector first, locks it, and runs again on its orthogonal complement
//! from a fresh random start, where the second copy is the top eigenvalue.
//!
//! A Krylov breakdown (the basis spans an invariant subspace, e.g. the rank-one Gram matrix
//! of a complete layer) is handled by a fresh random direction orthogonal to the basis with
//! a zero coupling, so the projection stays exact and the search goes on.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::lanczos::{norm, orthogonalize, DEFLATION, EXHAUSTED};

/// Ritz pairs of `A` on the current basis, largest first.
pub(crate) struct Ritz {
    pub values: Vec<f64>,
    /// `‖A x − λ x‖` of each Ritz vector (exact in exact arithmetic: the coupling to the
    /// next basis vector times the vector's last coordinate).
    pub residuals: Vec<f64>,
    /// The eigenvectors of the projection, one per value: the Ritz vectors in the basis, which
    /// [`SymmetricLanczos::vectors`] expands only for a check that passes.
    coordinates: Vec<Vec<f64>>,
}

pub(crate) struct SymmetricLanczos<'a> {
    a: MatRef<'a, f64>,
    s: usize,
    rng: ChaCha8Rng,
    /// Column-major, `s` rows: the `locked` vectors, then the Krylov basis (`k` expanded
    /// columns and the next one, if any).
    q: Vec<f64>,
    locked: usize,
    k: usize,
    has_next: bool,
    /// The tridiagonal projection: `alpha[j] = qⱼᵀ A qⱼ`, `beta[j]` couples `j` and `j + 1`.
    alpha: Vec<f64>,
    beta: Vec<f64>,
    product: Vec<f64>,
    coeffs: Vec<f64>,
    pass_coeffs: Vec<f64>,
    /// Largest product norm seen: scales the breakdown threshold.
    scale: f64,
    /// Top Ritz values of the last check, largest first: lower bounds for the next one (the
    /// projection only ever grows by a row and a column, and eigenvalues interlace), and their
    /// residuals, which in practice bound how far they can still rise.
    last_values: Vec<f64>,
    last_residuals: Vec<f64>,
}

impl<'a> SymmetricLanczos<'a> {
    /// Starts on `a` (`s × s`, both triangles filled) restricted to the orthogonal complement
    /// of the orthonormal columns of `locked` (column-major, `s` rows), from a seeded random
    /// vector.
    pub(crate) fn new(a: MatRef<'a, f64>, locked: &[f64], seed: u64) -> SymmetricLanczos<'a> {
        let s = a.nrows();
        // Grown a column at a time: most runs stop far below `s` columns.
        let mut q = Vec::with_capacity(locked.len() + 64 * s);
        q.extend_from_slice(locked);
        let mut lanczos = SymmetricLanczos {
            a,
            s,
            rng: ChaCha8Rng::seed_from_u64(seed),
            q,
            locked: locked.len() / s.max(1),
            k: 0,
            has_next: false,
            alpha: Vec::new(),
            beta: Vec::new(),
            product: vec![0.0; s],
            coeffs: vec![0.0; s],
            pass_coeffs: vec![0.0; s],
            scale: 0.0,
            last_values: Vec::new(),
            last_residuals: Vec::new(),
        };
        lanczos.has_next = lanczos.random_direction();
        lanczos
    }

    /// Size of the expanded basis (the dimension of the projection).
    pub(crate) fn dimension(&self) -> usize {
        self.k
    }

    /// The basis spans the whole complement of the locked vectors, so its Ritz pairs are
    /// eigenpairs.
    pub(crate) fn exhausted(&self) -> bool {
        !self.has_next
    }

    /// Takes the product of the next basis vector and appends what is new in it.
    pub(crate) fn step(&mut self) {
        if !self.has_next {
            return;
        }
        let (s, j) = (self.s, self.locked + self.k);
        matmul(
            MatMut::from_column_major_slice_mut(&mut self.product, s, 1),
            Accum::Replace,
            self.a,
            MatRef::from_column_major_slice(&self.q[j * s..(j + 1) * s], s, 1),
            1.0,
            Par::Seq,
        );
        self.scale = self.scale.max(norm(&self.product));
        // Against the locked vectors too: that is the restriction to their complement.
        let rest = orthogonalize(&self.q, s, j + 1, &mut self.product, &mut self.coeffs, &mut self.pass_coeffs);
        self.alpha.push(self.coeffs[j]);
        self.k += 1;
        if j + 1 == s {
            self.beta.push(0.0);
            self.has_next = false;
        } else if rest > DEFLATION * self.scale {
            self.beta.push(rest);
            self.q.extend(self.product.iter().map(|&c| c / rest));
        } else {
            // A breakdown: the coupling is 0 and a fresh direction keeps the search going.
            self.beta.push(0.0);
            self.has_next = self.random_direction();
        }
    }

    /// Stores after the basis a random unit vector orthogonal to it; false if none survives
    /// (the space is exhausted).
    fn random_direction(&mut self) -> bool {
        let (s, j) = (self.s, self.locked + self.k);
        if j >= s {
            return false;
        }
        for _ in 0..2 {
            for value in &mut self.product {
                *value = self.rng.random_range(-1.0..1.0);
            }
            let norm0 = norm(&self.product);
            let rest = orthogonalize(&self.q, s, j, &mut self.product, &mut self.coeffs, &mut self.pass_coeffs);
            if rest > EXHAUSTED * norm0 {
                self.q.extend(self.product.iter().map(|&c| c / rest));
                return true;
            }
        }
        false
    }

    /// The top `count` Ritz pairs on the expanded basis.
    pub(crate) fn ritz(&mut self, count: usize) -> Ritz {
        let k = self.k;
        let count = count.min(k);
        let tridiagonal = Tridiagonal { alpha: &self.alpha, beta: &self.beta[..k.saturating_sub(1)] };
        let mut values = Vec::with_capacity(count);
        let mut residuals = Vec::with_capacity(count);
        let mut coordinates: Vec<Vec<f64>> = Vec::with_capacity(count);
        let coupling = if self.has_next { self.beta[k - 1] } else { 0.0 };
        let norm = tridiagonal.norm();
        for i in 0..count {
            let floor = self.last_values.get(i).copied().unwrap_or(-norm);
            let rise = self.last_residuals.get(i).map_or(f64::INFINITY, |&r| floor + 2.0 * r);
            let ceiling = values.last().copied().unwrap_or(norm).min(rise);
            let lambda = tridiagonal.eigenvalue(k - 1 - i, floor, ceiling, norm, &values);
            let y = tridiagonal.eigenvector(lambda, &coordinates);
            values.push(lambda);
            residuals.push((coupling * y[k - 1]).abs());
            coordinates.push(y);
        }
        self.last_values.clone_from(&values);
        self.last_residuals.clone_from(&residuals);
        Ritz { values, residuals, coordinates }
    }

    /// The Ritz vectors of `ritz` (from the last [`Self::ritz`], no step since), `s × count`.
    pub(crate) fn vectors(&self, ritz: &Ritz) -> Mat<f64> {
        let (s, k, count) = (self.s, self.k, ritz.coordinates.len());
        let mut vectors = Mat::<f64>::zeros(s, count);
        let basis = &self.q[self.locked * s..(self.locked + k) * s];
        matmul(
            vectors.as_mut(),
            Accum::Replace,
            MatRef::from_column_major_slice(basis, s, k),
            Mat::<f64>::from_fn(k, count, |j, i| ritz.coordinates[i][j]).as_ref(),
            1.0,
            Par::Seq,
        );
        vectors
    }
}

/// A symmetric tridiagonal matrix: diagonal `alpha`, off-diagonal `beta` (one shorter).
struct Tridiagonal<'a> {
    alpha: &'a [f64],
    beta: &'a [f64],
}

impl Tridiagonal<'_> {
    fn norm(&self) -> f64 {
        let n = self.alpha.len();
        (0..n)
            .map(|i| {
                let left = if i > 0 { self.beta[i - 1].abs() } else { 0.0 };
                let right = if i + 1 < n { self.beta[i].abs() } else { 0.0 };
                self.alpha[i].abs() + left + right
            })
            .fold(0.0, f64::max)
    }

    /// Sylvester's inertia of `T − x I` from its `LDLᵀ` pivots: how many eigenvalues lie below
    /// `x`, and `p'(x)/p(x) = Σ 1/(x − λⱼ)` for `p(x) = det(T − x I)`, the sum over the pivots
    /// of their logarithmic derivatives (one pass, one division per pivot). A zero pivot is
    /// nudged to a tiny negative value, as LAPACK's `dstebz` does.
    fn inertia(&self, x: f64, pivot_min: f64) -> (usize, f64) {
        let mut count = 0;
        let (mut inverse, mut derivative, mut log_derivative) = (0.0, 0.0, 0.0);
        for i in 0..self.alpha.len() {
            let (mut d, d_prime) = if i > 0 {
                let b2 = self.beta[i - 1] * self.beta[i - 1];
                (self.alpha[i] - x - b2 * inverse, -1.0 + b2 * derivative * inverse * inverse)
            } else {
                (self.alpha[0] - x, -1.0)
            };
            if d.abs() < pivot_min {
                d = -pivot_min;
            }
            if d < 0.0 {
                count += 1;
            }
            inverse = 1.0 / d;
            derivative = d_prime;
            log_derivative += d_prime * inverse;
        }
        (count, log_derivative)
    }

    /// The `index`-th smallest eigenvalue, to a few units of rounding of `‖T‖` (`norm`), known
    /// to lie in `[floor, ceiling]` (up to rounding); `above` holds the eigenvalues above it.
    ///
    /// Newton on `det(T − x I)` with those eigenvalues divided out (Maehly's deflation), from
    /// the ceiling: from above the wanted root it falls monotonically and quadratically once
    /// closer than the next root, a handful of passes against fifty halvings of the bracket.
    /// The same pass's Sturm count keeps a bracket, and a step that leaves it or does not
    /// halve the previous one is replaced by a bisection (as in Numerical Recipes' `rtsafe`),
    /// so clusters and rounding cost at worst bisection's pace.
    fn eigenvalue(&self, index: usize, floor: f64, ceiling: f64, norm: f64, above: &[f64]) -> f64 {
        let n = self.alpha.len();
        if n == 1 {
            return self.alpha[0];
        }
        let pivot_min = f64::MIN_POSITIVE.max(f64::EPSILON * f64::EPSILON * norm * norm);
        let slack = 8.0 * f64::EPSILON * norm + pivot_min;
        let (mut lo, mut hi) = ((floor - slack).max(-norm - pivot_min), (ceiling + slack).min(norm + pivot_min));
        // The floor holds in exact arithmetic, the ceiling in practice; when either fails
        // (rounding, or an eigenvalue the last residual did not announce) the bracket widens.
        // Newton from above needs no floor, so it is checked only before a bisection.
        let mut floor_checked = false;
        let (count, mut log_derivative) = self.inertia(hi, pivot_min);
        if count <= index {
            hi = norm + pivot_min;
            log_derivative = self.inertia(hi, pivot_min).1;
        }
        // Newton moves are taken only from above the root, where the deflated determinant has
        // no other root (in exact arithmetic). A step within rounding is confirmed by a count
        // on the far side of its landing point (the near side is `x`'s, and counts are
        // monotone), so a spurious root (a cluster the deflation blurs) is never returned.
        let (mut x, mut above_root, mut last_step) = (hi, true, f64::INFINITY);
        let mut landing = None;
        for _ in 0..256 {
            let tolerance = 2.0 * f64::EPSILON * (lo.abs().max(hi.abs())) + pivot_min;
            let narrow = hi - lo <= tolerance;
            let step = 1.0 / (log_derivative - above.iter().map(|&l| 1.0 / (x - l)).sum::<f64>());
            let newton = x - step;
            // Closed: a step below half an ulp of `x` leaves it where it is.
            let inside = !narrow && newton >= lo && newton <= hi;
            let converged = inside && step.abs() <= tolerance;
            let descends = inside && above_root && step.abs() <= 0.5 * last_step;
            if !(converged || descends || floor_checked) {
                floor_checked = true;
                if self.inertia(lo, pivot_min).0 > index {
                    lo = -norm - pivot_min;
                }
                continue;
            }
            if narrow {
                break;
            }
            if converged {
                landing = Some(newton);
                x = if above_root { newton - tolerance } else { newton + tolerance };
            } else if descends {
                last_step = step.abs();
                x = newton;
            } else {
                let mid = 0.5 * (lo + hi);
                if mid <= lo || mid >= hi {
                    break;
                }
                last_step = 0.5 * (hi - lo);
                x = mid;
            }
            let (count, next) = self.inertia(x, pivot_min);
            let was_above = above_root;
            above_root = count > index;
            if let Some(root) = landing.take() {
                if above_root != was_above {
                    return root;
                }
            }
            if above_root {
                hi = hi.min(x);
            } else {
                lo = lo.max(x);
            }
            log_derivative = next;
        }
        0.5 * (lo + hi)
    }

    /// A unit eigenvector for the eigenvalue `lambda`, orthogonal to `previous` (unit
    /// eigenvectors of larger eigenvalues, which matters only within a cluster): inverse
    /// iteration with a tridiagonal LU with partial pivoting (LAPACK's `dgttrf`/`dgtts2`).
    fn eigenvector(&self, lambda: f64, previous: &[Vec<f64>]) -> Vec<f64> {
        let n = self.alpha.len();
        let tiny = f64::EPSILON * self.norm().max(f64::MIN_POSITIVE);
        let mut dl: Vec<f64> = self.beta.to_vec();
        let mut d: Vec<f64> = self.alpha.iter().map(|&a| a - lambda).collect();
        let mut du: Vec<f64> = self.beta.to_vec();
        let mut du2 = vec![0.0; n.saturating_sub(2)];
        let mut swapped = vec![false; n.saturating_sub(1)];
        for i in 0..n.saturating_sub(1) {
            if d[i].abs() >= dl[i].abs() {
                if d[i] == 0.0 {
                    d[i] = tiny;
                }
                let fact = dl[i] / d[i];
                dl[i] = fact;
                d[i + 1] -= fact * du[i];
            } else {
                let fact = d[i] / dl[i];
                d[i] = dl[i];
                dl[i] = fact;
                let temp = du[i];
                du[i] = d[i + 1];
                d[i + 1] = temp - fact * d[i + 1];
                if i + 2 < n {
                    du2[i] = du[i + 1];
                    du[i + 1] *= -fact;
                }
                swapped[i] = true;
            }
        }
        for value in &mut d {
            if value.abs() < tiny {
                *value = if *value < 0.0 { -tiny } else { tiny };
            }
        }
        // A start with every coordinate present, deterministic so results repeat.
        let mut x: Vec<f64> = (0..n).map(|i| 1.0 + ((i * 7919) % 97) as f64 / 97.0).collect();
        for _ in 0..3 {
            for i in 0..n.saturating_sub(1) {
                if swapped[i] {
                    let temp = x[i];
                    x[i] = x[i + 1];
                    x[i + 1] = temp - dl[i] * x[i];
                } else {
                    x[i + 1] -= dl[i] * x[i];
                }
            }
            x[n - 1] /= d[n - 1];
            if n > 1 {
                x[n - 2] = (x[n - 2] - du[n - 2] * x[n - 1]) / d[n - 2];
            }
            for i in (0..n.saturating_sub(2)).rev() {
                x[i] = (x[i] - du[i] * x[i + 1] - du2[i] * x[i + 2]) / d[i];
            }
            for p in previous {
                let dot: f64 = x.iter().zip(p).map(|(a, b)| a * b).sum();
                for (a, b) in x.iter_mut().zip(p) {
                    *a -= dot * b;
                }
            }
            let length = norm(&x);
            for value in &mut x {
                *value /= length;
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every eigenpair of the tridiagonal (`alpha`, `beta`), from the top as `ritz` asks for
    /// them, against faer's dense eigensolver: from the widest bracket, from a tight one, and
    /// from a wrong one (a ceiling below the eigenvalue, which must widen).
    fn check_against_dense(alpha: &[f64], beta: &[f64]) {
        let t = Tridiagonal { alpha, beta };
        let n = alpha.len();
        let dense = Mat::<f64>::from_fn(n, n, |i, j| {
            if i == j {
                alpha[i]
            } else if i + 1 == j {
                beta[i]
            } else if j + 1 == i {
                beta[j]
            } else {
                0.0
            }
        });
        let exact = dense.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        let norm = t.norm();
        let mut previous = Vec::new();
        let mut above = Vec::new();
        for index in (0..n).rev() {
            let wanted = exact[index];
            let ceiling = above.last().copied().unwrap_or(norm);
            for (floor, ceiling) in
                [(-norm, ceiling), (wanted - 1e-3, ceiling.min(wanted + 1e-6)), (-norm, wanted - 0.5)]
            {
                let lambda = t.eigenvalue(index, floor, ceiling, norm, &above);
                assert!((lambda - wanted).abs() <= 8.0 * f64::EPSILON * norm, "{index}: {lambda} vs {wanted}");
            }
            let lambda = t.eigenvalue(index, -norm, ceiling, norm, &above);
            let y = t.eigenvector(lambda, &previous);
            let residual: f64 =
                (0..n).map(|i| (0..n).map(|j| dense[(i, j)] * y[j]).sum::<f64>() - lambda * y[i]).map(|r| r * r).sum();
            assert!(residual.sqrt() <= 1e-13 * norm, "{index}: residual {}", residual.sqrt());
            for p in &previous {
                let dot: f64 = y.iter().zip(p).map(|(a, b)| a * b).sum();
                assert!(dot.abs() <= 1e-12, "{index}: not orthogonal ({dot})");
            }
            previous.push(y);
            above.push(lambda);
        }
    }

    #[test]
    fn tridiagonal_eigenpairs_match_the_dense_eigensolver() {
        check_against_dense(&[4.0, 1.0, 3.0, 3.0, -2.0, 0.5, 3.0], &[1.0, 0.5, 0.0, 2.0, 1e-9, 0.7]);
    }

    #[test]
    fn repeated_and_clustered_eigenvalues_are_found() {
        // Two identical blocks (a breakdown's zero coupling): every eigenvalue twice.
        check_against_dense(&[2.0, 1.0, 3.0, 2.0, 1.0, 3.0], &[0.5, 0.7, 0.0, 0.5, 0.7]);
        // Wilkinson's W21+: its top two eigenvalues agree to about 1e-14.
        let alpha: Vec<f64> = (0..21).map(|i| (10.0 - i as f64).abs()).collect();
        check_against_dense(&alpha, &[1.0; 20]);
    }
}

//! Dynamic sparse training (SPEC §8): static, SET and RigL mask updates that keep every
//! layer's nonzero count exactly.

use super::kernels::SparseWeights;
use super::model::{Linear, Weights};
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// How masks change during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The initial mask never changes.
    Static,
    /// Drop the smallest |w|, grow at random inactive positions.
    Set,
    /// Drop the smallest |w|, grow where the dense gradient is largest.
    Rigl,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Static => "static",
            Method::Set => "set",
            Method::Rigl => "rigl",
        }
    }
}

/// Every `delta_t` steps until `t_end`, update the fraction `alpha/2·(1+cos(π·t/t_end))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub delta_t: usize,
    pub alpha: f64,
    pub t_end: usize,
}

impl Schedule {
    /// SPEC §8 defaults: ΔT = 100, α = 0.3, T_end = 0.75 of `total_steps`.
    pub fn spec(total_steps: usize) -> Self {
        Schedule { delta_t: 100, alpha: 0.3, t_end: (0.75 * total_steps as f64) as usize }
    }

    /// The fraction to drop and grow after step `step` (1-based count of steps done), if it
    /// is an update step.
    pub fn fraction(&self, step: usize) -> Option<f64> {
        if self.delta_t == 0 || step == 0 || !step.is_multiple_of(self.delta_t) || step >= self.t_end {
            return None;
        }
        let t = step as f64 / self.t_end as f64;
        Some(self.alpha / 2.0 * (1.0 + (std::f64::consts::PI * t).cos()))
    }
}

/// Drops `round(fraction·nnz)` active weights with the smallest |w| and grows as many at
/// positions inactive before the drop (SET: at random; RigL: largest |dense gradient|, which
/// `layer.dense_grad` must hold). Grown weights and their momentum start at 0. Returns how
/// many weights moved. Dense layers and `Method::Static` are left alone.
pub fn update(layer: &mut Linear, method: Method, fraction: f64, rng: &mut ChaCha8Rng) -> usize {
    let Weights::Sparse(w) = &layer.weights else { return 0 };
    if method == Method::Static {
        return 0;
    }
    let (rows, cols) = (w.rows, w.cols);
    let nnz = w.nnz();
    let inactive = rows * cols - nnz;
    let k = ((fraction * nnz as f64).round() as usize).min(inactive).min(nnz);
    if k == 0 {
        return 0;
    }
    // Active positions as flat indices, aligned with the stored values.
    let mut flat = Vec::with_capacity(nnz);
    for r in 0..rows {
        for p in w.row_ptr[r]..w.row_ptr[r + 1] {
            flat.push(r * cols + w.col_idx[p] as usize);
        }
    }
    let mut by_magnitude: Vec<usize> = (0..nnz).collect();
    by_magnitude.sort_by(|&a, &b| w.values[a].abs().total_cmp(&w.values[b].abs()).then(flat[a].cmp(&flat[b])));
    let mut mask = w.mask();
    let candidates: Vec<usize> = (0..rows * cols).filter(|&i| !mask[i]).collect();
    let grown: Vec<usize> = match method {
        Method::Rigl => {
            let Some(grad) = &layer.dense_grad else { return 0 };
            let mut c = candidates;
            c.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()).then(a.cmp(&b)));
            c.truncate(k);
            c
        }
        _ => index::sample(rng, candidates.len(), k).into_iter().map(|i| candidates[i]).collect(),
    };
    for &p in &by_magnitude[..k] {
        mask[flat[p]] = false;
    }
    for &i in &grown {
        mask[i] = true;
    }
    // Survivors keep their value and momentum; grown positions start at 0.
    let kept: HashMap<usize, (f32, f32)> =
        by_magnitude[k..].iter().map(|&p| (flat[p], (w.values[p], layer.velocity_w[p]))).collect();
    let mut dense = vec![0f32; rows * cols];
    for (&i, &(v, _)) in &kept {
        dense[i] = v;
    }
    let new = SparseWeights::from_dense_masked(rows, cols, &dense, &mask);
    let mut velocity = vec![0f32; new.nnz()];
    for r in 0..rows {
        let range = new.row_ptr[r]..new.row_ptr[r + 1];
        for (v, &c) in velocity[range.clone()].iter_mut().zip(&new.col_idx[range]) {
            if let Some(&(_, m)) = kept.get(&(r * cols + c as usize)) {
                *v = m;
            }
        }
    }
    layer.velocity_w = velocity;
    layer.grad_w = vec![0.0; new.nnz()];
    layer.weights = Weights::Sparse(new);
    k
}

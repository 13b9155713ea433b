//! Dynamic sparse training (SPEC §8): static, SET and RigL mask updates that keep every
//! layer's nonzero count, and its pattern's counts, exactly.

use super::kernels::SparseWeights;
use super::model::{Linear, Weights};
use super::pattern::MaskGrid;
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

/// Drops `round(fraction·units)` active units of the layer's pattern (elements, or whole
/// blocks) with the smallest |w| (summed over a block) and grows as many at units inactive
/// before the drop (SET: at random; RigL: largest |dense gradient|, summed likewise, which
/// `layer.dense_grad` must hold), each group of the pattern (an output for fan-in, an N:M
/// group, a block shape) regrowing what it lost, so its count never changes; a group with
/// too few inactive units keeps its best dropped ones instead. Grown weights and their
/// momentum start at 0. Returns how many weights moved. Dense layers and `Method::Static` are
/// left alone.
pub fn update(layer: &mut Linear, method: Method, fraction: f64, rng: &mut ChaCha8Rng) -> usize {
    let Weights::Sparse(w) = &layer.weights else { return 0 };
    if method == Method::Static {
        return 0;
    }
    let (rows, cols) = (w.rows, w.cols);
    let grid = MaskGrid::new(layer.pattern, rows, cols);
    let units = grid.units();
    // Each unit's summed |w| and whether it is active; positions aligned with the values.
    let (mut magnitude, mut active) = (vec![0f64; units], vec![false; units]);
    let mut flat = Vec::with_capacity(w.nnz());
    for r in 0..rows {
        for p in w.row_ptr[r]..w.row_ptr[r + 1] {
            let pos = r * cols + w.col_idx[p] as usize;
            let unit = grid.unit_of(pos);
            magnitude[unit] += f64::from(w.values[p].abs());
            active[unit] = true;
            flat.push(pos);
        }
    }
    let mut by_magnitude: Vec<usize> = (0..units).filter(|&u| active[u]).collect();
    let k = ((fraction * by_magnitude.len() as f64).round() as usize)
        .min(units - by_magnitude.len())
        .min(by_magnitude.len());
    if k == 0 {
        return 0;
    }
    by_magnitude.sort_by(|&a, &b| magnitude[a].total_cmp(&magnitude[b]).then(a.cmp(&b)));
    let groups = grid.groups();
    let group_of = groups.of_units();
    // What each group lost, weakest first.
    let mut dropped: Vec<Vec<usize>> = vec![Vec::new(); groups.iter().count()];
    for &u in &by_magnitude[..k] {
        dropped[group_of[u] as usize].push(u);
    }
    let grad_score = |u: usize, grad: &[f32]| grid.positions(u).map(|p| f64::from(grad[p].abs())).sum::<f64>();
    let mut grown = Vec::new();
    for (members, lost) in groups.iter().zip(&mut dropped) {
        if lost.is_empty() {
            continue;
        }
        let candidates: Vec<usize> = members.iter().map(|&u| u as usize).filter(|&u| !active[u]).collect();
        let want = lost.len().min(candidates.len());
        // The group's strongest dropped units stay where it cannot regrow them.
        lost.truncate(want);
        match method {
            Method::Rigl => {
                let Some(grad) = &layer.dense_grad else { return 0 };
                let score: Vec<f64> = candidates.iter().map(|&u| grad_score(u, grad)).collect();
                let mut order: Vec<usize> = (0..candidates.len()).collect();
                order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(candidates[a].cmp(&candidates[b])));
                grown.extend(order[..want].iter().map(|&i| candidates[i]));
            }
            _ => grown.extend(index::sample(rng, candidates.len(), want).into_iter().map(|i| candidates[i])),
        }
    }
    let mut mask = w.mask();
    for &u in dropped.iter().flatten() {
        grid.positions(u).for_each(|p| mask[p] = false);
    }
    let mut moved = 0;
    for &u in &grown {
        for p in grid.positions(u) {
            mask[p] = true;
            moved += 1;
        }
    }
    // Survivors keep their value and momentum; grown positions start at 0.
    let kept: HashMap<usize, (f32, f32)> =
        (0..flat.len()).filter(|&p| mask[flat[p]]).map(|p| (flat[p], (w.values[p], layer.velocity_w[p]))).collect();
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
    moved
}

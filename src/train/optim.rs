//! SGD with momentum, Nesterov and weight decay; cosine learning rate with linear warm-up.

use rayon::prelude::*;

/// Parameters per task of a parallel SGD step.
const PAR_MIN: usize = 1 << 16;

/// SGD hyper-parameters (weight decay applies to weights, not biases).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
}

impl Sgd {
    /// One step on `params` with gradients `grads` and momentum buffers `velocity`:
    /// `v ← μv + g + λw`, then `w ← w − lr·(g + λw + μv)` (Nesterov) or `w ← w − lr·v`.
    /// Element-wise, so splitting the work over threads cannot change a bit; layers with at
    /// least [`PAR_MIN`] parameters are split (a 1 M-weight layer's step was 2% of a training step
    /// on one core).
    pub fn step(&self, lr: f32, params: &mut [f32], grads: &[f32], velocity: &mut [f32], decay: bool) {
        let wd = if decay { self.weight_decay } else { 0.0 };
        let run = |params: &mut [f32], grads: &[f32], velocity: &mut [f32]| {
            for ((w, &g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
                let g = g + wd * *w;
                *v = self.momentum * *v + g;
                *w -= lr * if self.nesterov { g + self.momentum * *v } else { *v };
            }
        };
        if params.len() < PAR_MIN {
            return run(params, grads, velocity);
        }
        params
            .par_chunks_mut(PAR_MIN)
            .zip(grads.par_chunks(PAR_MIN))
            .zip(velocity.par_chunks_mut(PAR_MIN))
            .for_each(|((w, g), v)| run(w, g, v));
    }
}

/// Linear warm-up over `warmup` steps to `base`, then cosine decay to 0 at `total` steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineSchedule {
    pub base: f64,
    pub warmup: usize,
    pub total: usize,
}

impl CosineSchedule {
    /// The learning rate of step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.base * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let t = ((step - self.warmup) as f64 / span).min(1.0);
        0.5 * self.base * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn momentum_and_nesterov_match_hand_computed_steps() {
        let sgd = Sgd { momentum: 0.5, nesterov: false, weight_decay: 0.1 };
        let (mut w, mut v) = (vec![1.0f32], vec![0.0f32]);
        sgd.step(0.1, &mut w, &[2.0], &mut v, true);
        // g = 2 + 0.1·1 = 2.1; v = 2.1; w = 1 − 0.21
        assert!((v[0] - 2.1).abs() < 1e-6 && (w[0] - 0.79).abs() < 1e-6);
        sgd.step(0.1, &mut w, &[2.0], &mut v, true);
        // g = 2.079; v = 1.05 + 2.079 = 3.129; w = 0.79 − 0.3129
        assert!((v[0] - 3.129).abs() < 1e-5 && (w[0] - 0.4771).abs() < 1e-5);

        let nag = Sgd { momentum: 0.5, nesterov: true, weight_decay: 0.0 };
        let (mut w, mut v) = (vec![1.0f32], vec![1.0f32]);
        nag.step(0.1, &mut w, &[2.0], &mut v, false);
        // v = 0.5 + 2 = 2.5; w = 1 − 0.1·(2 + 1.25)
        assert!((v[0] - 2.5).abs() < 1e-6 && (w[0] - 0.675).abs() < 1e-6);
    }

    #[test]
    fn cosine_schedule_warms_up_then_decays_to_zero() {
        let s = CosineSchedule { base: 0.1, warmup: 10, total: 110 };
        assert!((s.lr(0) - 0.01).abs() < 1e-12);
        assert!((s.lr(9) - 0.1).abs() < 1e-12);
        assert!((s.lr(10) - 0.1).abs() < 1e-12);
        assert!((s.lr(60) - 0.05).abs() < 1e-12);
        assert!(s.lr(110).abs() < 1e-12);
        assert!((1..110).all(|t| t <= 10 || s.lr(t) <= s.lr(t - 1)));
    }
}

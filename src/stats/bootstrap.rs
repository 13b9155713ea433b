//! Seeded percentile bootstrap confidence intervals for a correlation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::correlation::{kendall, pearson, spearman, Estimate, NullReason};

/// Which correlation a bootstrap interval is computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    #[default]
    Pearson,
    Spearman,
    /// O(n²) per resample: slow beyond a few hundred rows.
    Kendall,
}

impl Statistic {
    pub fn estimate(self, x: &[f64], y: &[f64]) -> Result<Estimate, NullReason> {
        match self {
            Statistic::Pearson => pearson(x, y),
            Statistic::Spearman => spearman(x, y),
            Statistic::Kendall => kendall(x, y),
        }
    }
}

/// How a bootstrap interval is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapOptions {
    pub resamples: usize,
    pub seed: u64,
    /// Two-sided coverage, e.g. 0.95 for the 2.5th and 97.5th percentiles.
    pub confidence: f64,
    pub statistic: Statistic,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions { resamples: 2000, seed: 0, confidence: 0.95, statistic: Statistic::Pearson }
    }
}

/// A percentile interval and how many resamples entered it (resamples that drew a constant
/// column have no statistic and are left out).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    pub valid_resamples: usize,
}

/// Percentile bootstrap CI of the chosen statistic over complete pairs: rows are drawn with
/// replacement. Resample `i` uses ChaCha8 stream `i` of `seed`, so the interval does not
/// depend on how rayon splits the work.
pub fn bootstrap_interval(x: &[f64], y: &[f64], options: &BootstrapOptions) -> Result<Interval, NullReason> {
    options.statistic.estimate(x, y)?;
    let n = x.len();
    let mut statistics: Vec<f64> = (0..options.resamples as u64)
        .into_par_iter()
        .filter_map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
            rng.set_stream(i);
            let (mut rx, mut ry) = (Vec::with_capacity(n), Vec::with_capacity(n));
            for _ in 0..n {
                let k = rng.random_range(0..n);
                rx.push(x[k]);
                ry.push(y[k]);
            }
            options.statistic.estimate(&rx, &ry).ok().map(|e| e.statistic)
        })
        .collect();
    if statistics.is_empty() {
        return Err(NullReason::NoValidResample);
    }
    statistics.sort_by(f64::total_cmp);
    let tail = (1.0 - options.confidence) / 2.0;
    Ok(Interval {
        low: percentile(&statistics, tail),
        high: percentile(&statistics, 1.0 - tail),
        valid_resamples: statistics.len(),
    })
}

/// Quantile `q` of sorted values by linear interpolation between order statistics
/// (numpy's default `method='linear'`).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    sorted[below] + fraction * (sorted[above] - sorted[below])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy_line(n: usize) -> (Vec<f64>, Vec<f64>) {
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let y = x.iter().map(|v| v + ((v * 7.3).sin() * 10.0)).collect();
        (x, y)
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        let sorted = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert_eq!(percentile(&sorted, 0.5), 3.0);
        assert_eq!(percentile(&sorted, 1.0), 8.0);
        assert!((percentile(&sorted, 0.9) - 6.8).abs() < 1e-12);
    }

    #[test]
    fn interval_is_reproducible_and_brackets_the_estimate() {
        let (x, y) = noisy_line(40);
        let options = BootstrapOptions { resamples: 500, seed: 7, ..Default::default() };
        let first = bootstrap_interval(&x, &y, &options).unwrap();
        let second = bootstrap_interval(&x, &y, &options).unwrap();
        assert_eq!(first, second);
        let r = pearson(&x, &y).unwrap().statistic;
        assert!(first.low < r && r < first.high, "{first:?} vs r={r}");
        assert!(first.high <= 1.0 && first.low > 0.0);
        let other_seed = bootstrap_interval(&x, &y, &BootstrapOptions { seed: 8, ..options }).unwrap();
        assert_ne!(first, other_seed);
    }

    #[test]
    fn larger_samples_give_narrower_intervals() {
        let options = BootstrapOptions { resamples: 400, seed: 1, ..Default::default() };
        let (xs, ys) = noisy_line(20);
        let (xl, yl) = noisy_line(400);
        let small = bootstrap_interval(&xs, &ys, &options).unwrap();
        let large = bootstrap_interval(&xl, &yl, &options).unwrap();
        assert!(large.high - large.low < small.high - small.low);
    }

    #[test]
    fn undefined_statistic_gives_the_reason() {
        let options = BootstrapOptions::default();
        assert_eq!(bootstrap_interval(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0], &options), Err(NullReason::ConstantX));
    }
}

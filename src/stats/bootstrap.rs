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
    /// O(n log n) per resample, and each resample copied: slower than Pearson's weighted sums.
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
    let resamples = (0..options.resamples as u64).into_par_iter();
    let mut statistics: Vec<f64> = if options.statistic == Statistic::Pearson {
        // Pearson's r needs only weighted sums: a resample is how often each row was drawn, so
        // nothing of size n is copied or allocated per resample. On standardized columns, so
        // the sums neither overflow nor lose the deviations to the mean.
        let (sx, sy) = (standardized(x), standardized(y));
        resamples
            .map_init(
                || (vec![0u8; n], Vec::new()),
                |(counts, beyond), i| {
                    counts.fill(0);
                    beyond.clear();
                    // One byte a row keeps the counts of a million rows in L2; a row drawn more
                    // than 255 times (never, in practice) has its further draws listed.
                    draw_rows(options.seed, i, n, |k| match counts[k] {
                        u8::MAX => beyond.push(k),
                        _ => counts[k] += 1,
                    });
                    weighted_pearson(&sx, &sy, counts, beyond)
                },
            )
            .flatten()
            .collect()
    } else {
        resamples
            .filter_map(|i| {
                let (mut rx, mut ry) = (Vec::with_capacity(n), Vec::with_capacity(n));
                draw_rows(options.seed, i, n, |k| {
                    rx.push(x[k]);
                    ry.push(y[k]);
                });
                options.statistic.estimate(&rx, &ry).ok().map(|e| e.statistic)
            })
            .collect()
    };
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

/// The `n` rows resample `i` draws with replacement, from ChaCha8 stream `i` of `seed`.
fn draw_rows(seed: u64, i: u64, n: usize, mut take: impl FnMut(usize)) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(i);
    for _ in 0..n {
        take(rng.random_range(0..n));
    }
}

/// The values minus their mean, over their largest deviation from it: of order 1 whatever
/// their scale, with the same correlations.
fn standardized(values: &[f64]) -> Vec<f64> {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let largest = values.iter().fold(0.0_f64, |acc, v| acc.max((v - mean).abs()));
    values.iter().map(|v| (v - mean) / largest).collect()
}

/// Pearson's r of the sample holding row `k` `counts[k]` times, plus once more for each
/// `k` in `beyond`; `None` when either side of it is constant (as [`pearson`] refuses). One pass of raw moments: on standardized columns the
/// resample's mean is near 0, so subtracting it loses nothing.
fn weighted_pearson(x: &[f64], y: &[f64], counts: &[u8], beyond: &[usize]) -> Option<f64> {
    let [mut total, mut sum_x, mut sum_y, mut xx, mut yy, mut xy] = [0.0; 6];
    let (mut x_range, mut y_range) = ((f64::INFINITY, f64::NEG_INFINITY), (f64::INFINITY, f64::NEG_INFINITY));
    let rows = x.iter().zip(y).zip(counts.iter().copied());
    for ((&a, &b), c) in rows.chain(beyond.iter().map(|&k| ((&x[k], &y[k]), 1))) {
        let w = f64::from(c);
        total += w;
        sum_x += w * a;
        sum_y += w * b;
        xx += w * a * a;
        yy += w * b * b;
        xy += w * a * b;
        if c > 0 {
            x_range = (x_range.0.min(a), x_range.1.max(a));
            y_range = (y_range.0.min(b), y_range.1.max(b));
        }
    }
    if x_range.0 == x_range.1 || y_range.0 == y_range.1 {
        return None;
    }
    let (mean_x, mean_y) = (sum_x / total, sum_y / total);
    let (xx, yy, xy) = (xx - total * mean_x * mean_x, yy - total * mean_y * mean_y, xy - total * mean_x * mean_y);
    Some((xy / (xx.sqrt() * yy.sqrt())).clamp(-1.0, 1.0))
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
    fn weighted_sums_give_the_pearson_r_of_the_expanded_sample() {
        let (x, y) = noisy_line(300);
        let (sx, sy) = (standardized(&x), standardized(&y));
        for i in 0..20 {
            let (mut counts, mut rx, mut ry) = (vec![0u8; x.len()], Vec::new(), Vec::new());
            draw_rows(3, i, x.len(), |k| {
                counts[k] += 1;
                rx.push(x[k]);
                ry.push(y[k]);
            });
            let expected = pearson(&rx, &ry).unwrap().statistic;
            let got = weighted_pearson(&sx, &sy, &counts, &[]).unwrap();
            assert!((got - expected).abs() < 1e-12, "resample {i}: {got} vs {expected}");
        }
        // A row drawn past what a byte counts: 255 in the counts, the rest listed.
        let mut counts = vec![1u8; x.len()];
        counts[5] = u8::MAX;
        let beyond = vec![5; 100];
        let (mut rx, mut ry): (Vec<f64>, Vec<f64>) = (x.clone(), y.clone());
        rx.extend(std::iter::repeat_n(x[5], 354));
        ry.extend(std::iter::repeat_n(y[5], 354));
        let expected = pearson(&rx, &ry).unwrap().statistic;
        assert!((weighted_pearson(&sx, &sy, &counts, &beyond).unwrap() - expected).abs() < 1e-12);
        // One row drawn n times is a constant sample: no statistic, as pearson refuses it.
        let mut counts = vec![0u8; x.len()];
        counts[7] = 200;
        assert_eq!(weighted_pearson(&sx, &sy, &counts, &[7; 100]), None);
    }

    #[test]
    fn undefined_statistic_gives_the_reason() {
        let options = BootstrapOptions::default();
        assert_eq!(bootstrap_interval(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0], &options), Err(NullReason::ConstantX));
    }
}

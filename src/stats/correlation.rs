//! Pearson r, Spearman ρ, Kendall τ-b and the partial correlation, each with the two-sided
//! p-value scipy.stats reports (scipy 1.17 `pearsonr`, `spearmanr`, `kendalltau` defaults).
//!
//! Every function takes complete pairs (see [`complete_pairs`]) and returns either an
//! [`Estimate`] or the [`NullReason`] why the statistic is undefined, never NaN.

use std::cmp::Ordering;

use super::special;

/// A statistic and its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub statistic: f64,
    pub p_value: f64,
}

/// Why a correlation has no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NullReason {
    #[error("only {n} complete pairs (at least {needed} needed)")]
    TooFewPairs { n: usize, needed: usize },
    #[error("the metric is constant over the complete pairs")]
    ConstantX,
    #[error("accuracy is constant over the complete pairs")]
    ConstantY,
    #[error("the covariate is constant over the complete rows")]
    ConstantCovariate,
    #[error("the metric or accuracy is a linear function of the covariate")]
    CollinearWithCovariate,
    #[error("no resample gave a defined statistic")]
    NoValidResample,
    #[error("a value is NaN or infinite: pass complete pairs (see complete_pairs)")]
    NonFinite,
    #[error("the columns have different lengths ({x} and {y})")]
    UnequalLengths { x: usize, y: usize },
}

/// The rows where both values are present and finite, in input order (pairwise deletion).
/// Inputs of different lengths are paired up to the shorter one; callers that care check
/// lengths first.
pub fn complete_pairs(x: &[Option<f64>], y: &[Option<f64>]) -> (Vec<f64>, Vec<f64>) {
    x.iter()
        .zip(y)
        .filter_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() => Some((*a, *b)),
            _ => None,
        })
        .unzip()
}

fn is_constant(values: &[f64]) -> bool {
    values.iter().all(|v| *v == values[0])
}

/// The shared checks: n ≥ 3 (scipy returns r = ±1, p = 1 at n = 2, which says nothing) and
/// neither side constant.
fn check_pairs(x: &[f64], y: &[f64]) -> Result<(), NullReason> {
    if x.len() != y.len() {
        return Err(NullReason::UnequalLengths { x: x.len(), y: y.len() });
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(NullReason::NonFinite);
    }
    let n = x.len();
    if n < 3 {
        return Err(NullReason::TooFewPairs { n, needed: 3 });
    }
    if is_constant(x) {
        return Err(NullReason::ConstantX);
    }
    if is_constant(y) {
        return Err(NullReason::ConstantY);
    }
    Ok(())
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Centred values divided by their Euclidean norm; the norm is taken after scaling by the
/// largest deviation, as scipy does, so tiny or huge columns neither underflow nor overflow.
fn unit_deviations(values: &[f64]) -> Vec<f64> {
    let m = mean(values);
    let centred: Vec<f64> = values.iter().map(|v| v - m).collect();
    let largest = centred.iter().fold(0.0_f64, |acc, v| acc.max(v.abs()));
    let norm = largest * centred.iter().map(|v| (v / largest).powi(2)).sum::<f64>().sqrt();
    centred.iter().map(|v| v / norm).collect()
}

/// Pearson's r of non-constant columns, clipped to [−1, 1] against rounding.
fn pearson_r(x: &[f64], y: &[f64]) -> f64 {
    let ux = unit_deviations(x);
    let uy = unit_deviations(y);
    ux.iter().zip(&uy).map(|(a, b)| a * b).sum::<f64>().clamp(-1.0, 1.0)
}

/// Pearson's r with scipy's exact p-value (r ~ Beta(n/2−1, n/2−1) on [−1, 1] under
/// independent normal data).
pub fn pearson(x: &[f64], y: &[f64]) -> Result<Estimate, NullReason> {
    check_pairs(x, y)?;
    let r = pearson_r(x, y);
    Ok(Estimate { statistic: r, p_value: special::r_two_sided(r, x.len() as f64 - 2.0) })
}

/// Ranks starting at 1, ties given the mean of the ranks they span (scipy's `rankdata`
/// default, `method='average'`).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end; their mean is (start+1+end)/2.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's ρ (Pearson's r of average ranks) with scipy's t-distribution p-value, df = n−2.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<Estimate, NullReason> {
    check_pairs(x, y)?;
    let rho = rank_correlation(&average_ranks(x), &average_ranks(y));
    Ok(Estimate { statistic: rho, p_value: special::r_two_sided(rho, x.len() as f64 - 2.0) })
}

/// Pearson's r of two average-rank vectors in exact integer arithmetic: doubled ranks
/// centred by doubling are integers, so the sums of products are exact and a perfect
/// (anti)monotone relation gives exactly ±1 (as scipy does), instead of 1 − 2⁻⁵² whose
/// p-value with few pairs would be far from 0.
fn rank_correlation(rx: &[f64], ry: &[f64]) -> f64 {
    let n = rx.len() as i128;
    // 2·rank − (n+1) is an integer; its sum over the sample is 0.
    let centred = |r: f64| (2.0 * r) as i128 - (n + 1);
    let (mut sxy, mut sxx, mut syy) = (0_i128, 0_i128, 0_i128);
    for (a, b) in rx.iter().zip(ry) {
        let (a, b) = (centred(*a), centred(*b));
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if sxy * sxy == sxx * syy {
        return if sxy > 0 { 1.0 } else { -1.0 };
    }
    (sxy as f64 / ((sxx as f64) * (syy as f64)).sqrt()).clamp(-1.0, 1.0)
}

/// Per tie group of size t: Σ t(t−1)/2, Σ t(t−1)(t−2), Σ t(t−1)(2t+5) (scipy's
/// `count_rank_tie`, feeding the tie-corrected variance of S).
fn tie_sums(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (mut pairs, mut cubic, mut quintic) = (0.0, 0.0, 0.0);
    for group in sorted.chunk_by(|a, b| a == b) {
        let t = group.len() as f64;
        if t > 1.0 {
            pairs += t * (t - 1.0) / 2.0;
            cubic += t * (t - 1.0) * (t - 2.0);
            quintic += t * (t - 1.0) * (2.0 * t + 5.0);
        }
    }
    (pairs, cubic, quintic)
}

/// Kendall's τ-b with scipy's default p-value (`method='auto'`): the exact null
/// distribution when there are no ties and n ≤ 33 (or the count of discordant pairs is 0,
/// 1, or one short of all), otherwise the tie-corrected normal approximation of S.
pub fn kendall(x: &[f64], y: &[f64]) -> Result<Estimate, NullReason> {
    check_pairs(x, y)?;
    let n = x.len();
    let (concordant_minus_discordant, discordant) = knight_counts(x, y);
    let total = (n * (n - 1) / 2) as f64;
    let (x_tied, x_cubic, x_quintic) = tie_sums(x);
    let (y_tied, y_cubic, y_quintic) = tie_sums(y);
    let s = concordant_minus_discordant as f64;
    let tau = (s / (total - x_tied).sqrt() / (total - y_tied).sqrt()).clamp(-1.0, 1.0);

    let no_ties = x_tied == 0.0 && y_tied == 0.0;
    let discordant = discordant as f64;
    let p_value = if no_ties && (n <= 33 || discordant.min(total - discordant) <= 1.0) {
        kendall_exact_two_sided(n, (total - discordant) as u64)
    } else {
        let nf = n as f64;
        let m = nf * (nf - 1.0);
        let variance = (m * (2.0 * nf + 5.0) - x_quintic - y_quintic) / 18.0
            + (2.0 * x_tied * y_tied) / m
            + x_cubic * y_cubic / (9.0 * m * (nf - 2.0));
        special::normal_two_sided(s / variance.sqrt())
    };
    Ok(Estimate { statistic: tau, p_value })
}

/// S = concordant − discordant pairs and the discordant count, by Knight's algorithm
/// (Knight 1966, as scipy computes them): sort by (x, y), count the pairs tied in x and in
/// both, then the discordant pairs as the inversions of y in that order, counted by a merge
/// sort. O(n log n), so `correlate` takes a million rows in well under a second.
fn knight_counts(x: &[f64], y: &[f64]) -> (i64, u64) {
    let cmp = |a: f64, b: f64| a.partial_cmp(&b).unwrap_or(Ordering::Equal);
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| cmp(x[i], x[j]).then(cmp(y[i], y[j])));
    let pairs = |t: u64| t * t.saturating_sub(1) / 2;
    let runs = |same: &dyn Fn(usize, usize) -> bool| {
        order.chunk_by(|&i, &j| same(i, j)).map(|group| pairs(group.len() as u64)).sum::<u64>()
    };
    let tied_x = runs(&|i, j| x[i] == x[j]);
    let tied_both = runs(&|i, j| x[i] == x[j] && y[i] == y[j]);
    let mut ys: Vec<f64> = order.iter().map(|&i| y[i]).collect();
    let discordant = inversions(&mut ys, &mut vec![0.0; x.len()]);
    // ys is now sorted: its runs are the pairs tied in y.
    let tied_y = ys.chunk_by(|a, b| a == b).map(|group| pairs(group.len() as u64)).sum::<u64>();
    let total = pairs(x.len() as u64);
    let concordant = total + tied_both - tied_x - tied_y - discordant;
    (concordant as i64 - discordant as i64, discordant)
}

/// Sorts `values` (stably) and returns how many pairs it had out of order, strictly.
fn inversions(values: &mut [f64], scratch: &mut [f64]) -> u64 {
    let n = values.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count =
        inversions(&mut values[..mid], &mut scratch[..mid]) + inversions(&mut values[mid..], &mut scratch[mid..]);
    let (mut i, mut j) = (0, mid);
    for slot in scratch.iter_mut().take(n) {
        // Equal values are taken from the left first: a tie is no inversion.
        if j >= n || (i < mid && values[i] <= values[j]) {
            *slot = values[i];
            i += 1;
        } else {
            *slot = values[j];
            count += (mid - i) as u64;
            j += 1;
        }
    }
    values.copy_from_slice(&scratch[..n]);
    count
}

/// Exact two-sided p-value of Kendall's statistic for n untied pairs with `concordant`
/// concordant pairs: the count of permutations with at most min(c, total − c) inversions,
/// doubled (scipy's `_kendall_p_exact`, Kendall 1970).
fn kendall_exact_two_sided(n: usize, concordant: u64) -> f64 {
    let total = (n * n.saturating_sub(1) / 2) as u64;
    let c = concordant.min(total - concordant) as usize;
    let factorial = |k: usize| (1..=k).fold(1.0_f64, |acc, i| acc * i as f64);
    let p = if n <= 2 || 4 * c as u64 == total * 2 {
        1.0
    } else if c == 0 {
        if n < 171 {
            2.0 / factorial(n)
        } else {
            0.0
        }
    } else if c == 1 {
        if n < 172 {
            2.0 / factorial(n - 1)
        } else {
            0.0
        }
    } else {
        // counts[k] = permutations of j elements with k inversions, truncated at c; the
        // large-n branch divides by j as it goes so the counts stay finite.
        let scaled = n >= 171;
        let mut counts = vec![0.0_f64; c + 1];
        counts[0] = 1.0;
        counts[1] = 1.0;
        for j in 3..=n {
            let mut running = 0.0;
            for value in counts.iter_mut() {
                running += *value;
                *value = if scaled { running / j as f64 } else { running };
            }
            if j <= c {
                for k in (j..=c).rev() {
                    counts[k] -= counts[k - j];
                }
            }
        }
        let sum: f64 = counts.iter().sum();
        if scaled {
            sum
        } else {
            2.0 * sum / factorial(n)
        }
    };
    p.clamp(0.0, 1.0)
}

/// Pearson partial correlation of x and y controlling for z (the correlation of the
/// residuals of x and y after regressing each on z), with its t-test p-value, df = n−3.
/// Takes complete triples.
pub fn partial(x: &[f64], y: &[f64], z: &[f64]) -> Result<Estimate, NullReason> {
    if z.len() != x.len() {
        return Err(NullReason::UnequalLengths { x: x.len(), y: z.len() });
    }
    if z.iter().any(|v| !v.is_finite()) {
        return Err(NullReason::NonFinite);
    }
    let n = x.len();
    if n < 4 {
        return Err(NullReason::TooFewPairs { n, needed: 4 });
    }
    check_pairs(x, y)?;
    if is_constant(z) {
        return Err(NullReason::ConstantCovariate);
    }
    let rxy = pearson_r(x, y);
    let rxz = pearson_r(x, z);
    let ryz = pearson_r(y, z);
    let denominator = ((1.0 - rxz * rxz) * (1.0 - ryz * ryz)).sqrt();
    if denominator <= 1e-12 {
        return Err(NullReason::CollinearWithCovariate);
    }
    let r = ((rxy - rxz * ryz) / denominator).clamp(-1.0, 1.0);
    Ok(Estimate { statistic: r, p_value: special::r_two_sided(r, n as f64 - 3.0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sign of a comparison of finite values (so −0 and +0 compare equal, as in numpy).
    fn sign(ordering: Option<Ordering>) -> i64 {
        match ordering {
            Some(Ordering::Less) => -1,
            Some(Ordering::Greater) => 1,
            Some(Ordering::Equal) | None => 0,
        }
    }

    /// Every pair compared: what Knight's counts must equal.
    fn brute_counts(x: &[f64], y: &[f64]) -> (i64, u64) {
        let (mut s, mut discordant) = (0, 0);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let product = sign(x[i].partial_cmp(&x[j])) * sign(y[i].partial_cmp(&y[j]));
                s += product;
                discordant += u64::from(product < 0);
            }
        }
        (s, discordant)
    }

    proptest::proptest! {
        #[test]
        fn knight_counts_every_pair_as_the_pair_scan_does(
            pairs in proptest::collection::vec((-4i8..4, -4i8..4), 0..60),
            signed_zero in proptest::bool::ANY,
        ) {
            // Small integers: ties in x, in y and in both; -0 and +0 must be one value.
            let zero = if signed_zero { -0.0 } else { 0.0 };
            let as_f64 = |v: i8| if v == 0 { zero } else { f64::from(v) };
            let x: Vec<f64> = pairs.iter().map(|p| as_f64(p.0)).collect();
            let y: Vec<f64> = pairs.iter().enumerate().map(|(k, p)| if k % 2 == 0 { f64::from(p.1) } else { as_f64(p.1) }).collect();
            proptest::prop_assert_eq!(knight_counts(&x, &y), brute_counts(&x, &y));
        }
    }

    #[test]
    fn average_ranks_share_tied_positions() {
        assert_eq!(average_ranks(&[10.0, 20.0, 10.0, 30.0, 10.0]), vec![2.0, 4.0, 2.0, 5.0, 2.0]);
        assert_eq!(average_ranks(&[3.0, 1.0, 2.0]), vec![3.0, 1.0, 2.0]);
    }

    #[test]
    fn perfectly_linear_data_gives_unit_correlations() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y: Vec<f64> = x.iter().map(|v| -2.0 * v + 7.0).collect();
        assert!((pearson(&x, &y).unwrap().statistic + 1.0).abs() < 1e-15);
        assert!((spearman(&x, &y).unwrap().statistic + 1.0).abs() < 1e-15);
        let tau = kendall(&x, &y).unwrap();
        assert!((tau.statistic + 1.0).abs() < 1e-15);
        // Exact null: 2 of the 5! orderings are as extreme as a perfect reversal.
        assert!((tau.p_value - 2.0 / 120.0).abs() < 1e-15);
    }

    #[test]
    fn exact_kendall_matches_brute_force_over_permutations() {
        // The null distribution of the number of inversions of a random permutation of 6.
        fn inversions(p: &[usize]) -> usize {
            (0..p.len()).map(|i| (i + 1..p.len()).filter(|&j| p[i] > p[j]).count()).sum()
        }
        fn permutations(items: Vec<usize>) -> Vec<Vec<usize>> {
            if items.len() <= 1 {
                return vec![items];
            }
            let mut out = Vec::new();
            for i in 0..items.len() {
                let mut rest = items.clone();
                let head = rest.remove(i);
                for mut tail in permutations(rest) {
                    tail.insert(0, head);
                    out.push(tail);
                }
            }
            out
        }
        let all: Vec<usize> = permutations((0..6).collect()).iter().map(|p| inversions(p)).collect();
        let total = 15;
        for discordant in 0..=total {
            let extreme = discordant.min(total - discordant);
            let as_extreme = all.iter().filter(|&&d| d.min(total - d) <= extreme).count();
            let expected = (as_extreme as f64 / all.len() as f64).min(1.0);
            let got = kendall_exact_two_sided(6, (total - discordant) as u64);
            assert!((got - expected).abs() < 1e-14, "d={discordant}: {got} vs {expected}");
        }
    }

    #[test]
    fn degenerate_inputs_give_reasons_not_nan() {
        assert_eq!(pearson(&[1.0, 2.0], &[3.0, 4.0]), Err(NullReason::TooFewPairs { n: 2, needed: 3 }));
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), Err(NullReason::ConstantX));
        assert_eq!(kendall(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0]), Err(NullReason::ConstantY));
        let z = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(partial(&[2.0, 4.0, 6.0, 8.0], &[1.0, 3.0, 2.0, 5.0], &z), Err(NullReason::CollinearWithCovariate));
        assert_eq!(
            partial(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0], &z[..3]),
            Err(NullReason::TooFewPairs { n: 3, needed: 4 })
        );
    }

    #[test]
    fn bad_slices_are_reasons_not_panics() {
        assert_eq!(kendall(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0]), Err(NullReason::UnequalLengths { x: 4, y: 3 }));
        assert_eq!(pearson(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]), Err(NullReason::NonFinite));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[1.0, f64::INFINITY, 3.0]), Err(NullReason::NonFinite));
        let z = [1.0, 2.0, f64::NAN, 4.0];
        assert_eq!(partial(&[1.0, 3.0, 2.0, 5.0], &[2.0, 1.0, 4.0, 3.0], &z), Err(NullReason::NonFinite));
        assert_eq!(
            partial(&[1.0, 3.0, 2.0, 5.0], &[2.0, 1.0, 4.0, 3.0], &z[..3]),
            Err(NullReason::UnequalLengths { x: 4, y: 3 })
        );
    }

    #[test]
    fn complete_pairs_drop_nulls_and_non_finite_values_pairwise() {
        let x = [Some(1.0), None, Some(3.0), Some(f64::NAN), Some(5.0)];
        let y = [Some(2.0), Some(9.0), None, Some(1.0), Some(6.0)];
        assert_eq!(complete_pairs(&x, &y), (vec![1.0, 5.0], vec![2.0, 6.0]));
    }
}

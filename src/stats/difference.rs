//! The difference of two means with Welch's t interval: how far a family's accuracy is from
//! dense over seeds, without assuming equal variances.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A sample summarized by its size, mean and sample standard deviation (n − 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
}

/// `a`'s mean minus `b`'s, with its two-sided interval at `confidence`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanDifference {
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
}

/// Welch's interval for `a.mean − b.mean` (scipy's `ttest_ind(equal_var=False)
/// .confidence_interval`). `None` below two values a side, or when both sides are constant.
pub fn welch_difference(a: Sample, b: Sample, confidence: f64) -> Option<MeanDifference> {
    if a.n < 2 || b.n < 2 || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let (va, vb) = (a.sd * a.sd / a.n as f64, b.sd * b.sd / b.n as f64);
    let se = (va + vb).sqrt();
    if !(se > 0.0 && se.is_finite()) {
        return None;
    }
    let df = (va + vb).powi(2) / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
    let t = StudentsT::new(0.0, 1.0, df).ok()?.inverse_cdf(0.5 + confidence / 2.0);
    let difference = a.mean - b.mean;
    Some(MeanDifference { difference, low: difference - t * se, high: difference + t * se, df })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(values: &[f64]) -> Sample {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        Sample { n, mean, sd }
    }

    #[test]
    fn matches_scipy_welch_intervals() {
        // scipy 1.17: stats.ttest_ind(a, b, equal_var=False).confidence_interval(c)
        let cases = [
            (
                &[86.2, 86.5, 86.1][..],
                &[85.9, 86.1, 85.8, 86.0][..],
                0.95,
                -0.10632913357566837,
                0.7396624669089658,
                3.1457603363699573,
            ),
            (
                &[1.0, 2.0, 4.0][..],
                &[1.5, 1.6, 1.4][..],
                0.9,
                -1.7324695071399936,
                3.399136173806659,
                2.0171425422798355,
            ),
        ];
        for (a, b, confidence, low, high, df) in cases {
            let d = welch_difference(sample(a), sample(b), confidence).unwrap();
            assert!((d.df - df).abs() < 1e-9 * df, "df {} vs {df}", d.df);
            assert!((d.low - low).abs() < 1e-8 && (d.high - high).abs() < 1e-8, "{d:?} vs [{low}, {high}]");
        }
    }

    #[test]
    fn undefined_without_two_values_a_side_or_any_spread() {
        let one = Sample { n: 1, mean: 1.0, sd: f64::NAN };
        let flat = Sample { n: 3, mean: 1.0, sd: 0.0 };
        assert_eq!(welch_difference(one, flat, 0.95), None);
        assert_eq!(welch_difference(flat, flat, 0.95), None);
        assert!(welch_difference(flat, Sample { sd: 0.1, ..flat }, 0.95).is_some());
    }
}

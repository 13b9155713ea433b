//! Training data: the embedded digits (`data/digits.csv.gz`, see data/README.md) and a seeded
//! stratified split. Samples are stored sample-major; a batch is gathered feature-major for
//! the kernels.

use super::TrainError;
use flate2::read::GzDecoder;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Read;

const DIGITS_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
const DIGITS_NAME: &str = "digits";

/// A labelled data set, sample-major `x` (`[n, features]`), inputs scaled to [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub features: usize,
    pub classes: usize,
    pub x: Vec<f32>,
    pub y: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    fn subset(&self, indices: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(indices.len() * self.features);
        for &i in indices {
            x.extend_from_slice(&self.x[i * self.features..(i + 1) * self.features]);
        }
        Dataset {
            name: self.name.clone(),
            features: self.features,
            classes: self.classes,
            x,
            y: indices.iter().map(|&i| self.y[i]).collect(),
        }
    }

    /// The samples `indices` as a feature-major `[features, batch]` block, and their labels.
    pub fn gather(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<u8>) {
        let batch = indices.len();
        x.clear();
        x.resize(self.features * batch, 0.0);
        y.clear();
        for (b, &i) in indices.iter().enumerate() {
            let sample = &self.x[i * self.features..(i + 1) * self.features];
            for (f, &v) in sample.iter().enumerate() {
                x[f * batch + b] = v;
            }
            y.push(self.y[i]);
        }
    }
}

/// The 1,797 8×8 digits built into the binary: 64 pixels 0..16 (scaled to [0, 1]), 10 classes.
pub fn digits() -> Result<Dataset, TrainError> {
    let bad = |reason: String| TrainError::Data { name: DIGITS_NAME.into(), reason };
    let mut text = String::new();
    GzDecoder::new(DIGITS_GZ).read_to_string(&mut text).map_err(|e| bad(format!("cannot decompress: {e}")))?;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(bad(format!("line {} has {} fields, expected 65", line_no + 1, fields.len())));
        }
        for f in &fields[..64] {
            let v: u8 = f.trim().parse().map_err(|_| bad(format!("line {}: pixel {f:?} is not 0..16", line_no + 1)))?;
            x.push(f32::from(v) / 16.0);
        }
        let label: u8 = fields[64].trim().parse().map_err(|_| bad(format!("line {}: bad label", line_no + 1)))?;
        if label > 9 {
            return Err(bad(format!("line {}: label {label} is not 0..9", line_no + 1)));
        }
        y.push(label);
    }
    Ok(Dataset { name: DIGITS_NAME.into(), features: 64, classes: 10, x, y })
}

/// Train / validation / test parts of one data set.
#[derive(Debug, Clone)]
pub struct Split {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
}

/// Stratified by class: each class's samples are shuffled with `seed` and cut in the given
/// fractions (rounded per class), so every part keeps the class proportions.
pub fn stratified_split(data: &Dataset, test_fraction: f64, val_fraction: f64, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for class in 0..data.classes {
        let mut members: Vec<usize> = (0..data.len()).filter(|&i| usize::from(data.y[i]) == class).collect();
        members.shuffle(&mut rng);
        let n = members.len() as f64;
        let n_test = (n * test_fraction).round() as usize;
        let n_val = (n * val_fraction).round() as usize;
        test.extend_from_slice(&members[..n_test]);
        val.extend_from_slice(&members[n_test..n_test + n_val]);
        train.extend_from_slice(&members[n_test + n_val..]);
    }
    // Sorted so a part's order does not depend on class order; training shuffles anyway.
    for part in [&mut train, &mut val, &mut test] {
        part.sort_unstable();
    }
    Split { train: data.subset(&train), val: data.subset(&val), test: data.subset(&test) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_complete_and_balanced() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.x.len(), 1797 * 64);
        assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        for class in 0..10u8 {
            let n = d.y.iter().filter(|&&y| y == class).count();
            assert!((170..=190).contains(&n), "class {class} has {n} samples");
        }
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let d = digits().unwrap();
        let s = stratified_split(&d, 0.2, 0.1, 3);
        assert_eq!(s.train.len() + s.val.len() + s.test.len(), d.len());
        for class in 0..10u8 {
            let total = d.y.iter().filter(|&&y| y == class).count() as f64;
            let in_test = s.test.y.iter().filter(|&&y| y == class).count() as f64;
            assert!((in_test - 0.2 * total).abs() <= 0.5 + 1e-9);
        }
        // Disjoint: every sample (pixels + label) appears in exactly one part as often as in the whole.
        let key = |ds: &Dataset, i: usize| {
            (ds.x[i * 64..(i + 1) * 64].iter().map(|v| v.to_bits()).collect::<Vec<_>>(), ds.y[i])
        };
        let mut all: Vec<_> = (0..d.len()).map(|i| key(&d, i)).collect();
        let mut parts: Vec<_> =
            [&s.train, &s.val, &s.test].iter().flat_map(|p| (0..p.len()).map(|i| key(p, i))).collect();
        all.sort();
        parts.sort();
        assert_eq!(all, parts);
        let again = stratified_split(&d, 0.2, 0.1, 3);
        assert_eq!(again.test, s.test);
        let other = stratified_split(&d, 0.2, 0.1, 4);
        assert_ne!(other.test, s.test);
    }

    #[test]
    fn gather_is_feature_major() {
        let d = digits().unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        d.gather(&[5, 2], &mut x, &mut y);
        assert_eq!(y, vec![d.y[5], d.y[2]]);
        // Feature 3 of the batch: sample 5 then sample 2.
        assert_eq!(x[3 * 2], d.x[5 * 64 + 3]);
        assert_eq!(x[3 * 2 + 1], d.x[2 * 64 + 3]);
    }
}

//! The Pareto front of a point set: the points no other point dominates.

use serde::{Deserialize, Serialize};

/// Which way is better along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    #[default]
    Larger,
    Smaller,
}

impl Better {
    /// `a` is at least as good as `b`.
    fn at_least(self, a: f64, b: f64) -> bool {
        match self {
            Better::Larger => a >= b,
            Better::Smaller => a <= b,
        }
    }
}

/// Indices of the points not dominated by any other, ordered by x then y. `q` dominates `p`
/// when it is at least as good in both coordinates and differs from `p`; so duplicates of a
/// front point are all on the front. Points with a non-finite coordinate are left out.
///
/// O(n²): the sweeps here have at most a few thousand checkpoints.
pub fn pareto_front(points: &[(f64, f64)], better: (Better, Better)) -> Vec<usize> {
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let dominates = |q: (f64, f64), p: (f64, f64)| better.0.at_least(q.0, p.0) && better.1.at_least(q.1, p.1) && q != p;
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| finite(&points[i]))
        .filter(|&i| !points.iter().filter(|q| finite(q)).any(|&q| dominates(q, points[i])))
        .collect();
    front.sort_by(|&a, &b| points[a].0.total_cmp(&points[b].0).then(points[a].1.total_cmp(&points[b].1)));
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH_LARGER: (Better, Better) = (Better::Larger, Better::Larger);

    #[test]
    fn staircase_with_dominated_points() {
        // Front (maximise both): (1,5), (2,4), (4,2), (5,1). (2,2), (3,1) and (1,1) are
        // dominated; (3,3) is not (nothing has x ≥ 3 and y ≥ 3 besides itself).
        let points = [(1.0, 5.0), (2.0, 2.0), (2.0, 4.0), (3.0, 1.0), (4.0, 2.0), (5.0, 1.0), (1.0, 1.0), (3.0, 3.0)];
        assert_eq!(pareto_front(&points, BOTH_LARGER), vec![0, 2, 7, 4, 5]);
    }

    #[test]
    fn direction_changes_the_front() {
        let points = [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)];
        assert_eq!(pareto_front(&points, BOTH_LARGER), vec![1]);
        assert_eq!(pareto_front(&points, (Better::Smaller, Better::Smaller)), vec![0]);
        assert_eq!(pareto_front(&points, (Better::Larger, Better::Smaller)), vec![3]);
    }

    #[test]
    fn ties_and_duplicates() {
        // Same x: only the higher y survives. Exact duplicates of a front point both stay.
        let points = [(1.0, 1.0), (1.0, 2.0), (2.0, 0.5), (2.0, 0.5), (f64::NAN, 9.0)];
        assert_eq!(pareto_front(&points, BOTH_LARGER), vec![1, 2, 3]);
    }

    #[test]
    fn a_single_best_point_dominates_everything() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, i as f64)).collect();
        assert_eq!(pareto_front(&points, BOTH_LARGER), vec![9]);
        assert!(pareto_front(&[], BOTH_LARGER).is_empty());
    }
}

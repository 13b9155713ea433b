//! Correlations and p-values against scipy.stats 1.17 (tests/fixtures/stats/make_golden.py).

use maskspec::stats::{complete_pairs, kendall, partial, pearson, spearman, Estimate, NullReason};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    x: Vec<Option<f64>>,
    y: Vec<Option<f64>>,
    z: Option<Vec<Option<f64>>>,
    n: usize,
    pearson: Option<Expected>,
    spearman: Option<Expected>,
    kendall: Option<Expected>,
    partial: Option<Expected>,
}

#[derive(Deserialize)]
struct Expected {
    statistic: f64,
    p_value: f64,
}

fn golden() -> Golden {
    serde_json::from_str(include_str!("../fixtures/stats/golden.json")).expect("golden.json parses")
}

/// 1e-10 relative; a statistic that is zero in exact arithmetic (scipy: −2.4e-17) can only
/// be compared absolutely, hence the 1e-15 floor.
fn close(got: f64, expected: f64) -> bool {
    (got - expected).abs() <= 1e-10 * expected.abs().max(got.abs()) + 1e-15
}

fn check(case: &str, what: &str, got: Result<Estimate, NullReason>, expected: &Option<Expected>) {
    match (got, expected) {
        (Ok(got), Some(expected)) => {
            assert!(
                close(got.statistic, expected.statistic),
                "{case} {what}: statistic {} vs scipy {}",
                got.statistic,
                expected.statistic
            );
            assert!(
                (got.p_value - expected.p_value).abs() <= 1e-10 * expected.p_value,
                "{case} {what}: p {} vs scipy {}",
                got.p_value,
                expected.p_value
            );
        }
        (Err(reason), None) => {
            assert!(
                matches!(reason, NullReason::ConstantX | NullReason::ConstantY),
                "{case} {what}: scipy says undefined, we say {reason}"
            );
        }
        (Ok(got), None) => panic!("{case} {what}: scipy says undefined, we computed {got:?}"),
        (Err(reason), Some(_)) => panic!("{case} {what}: scipy computed a value, we say {reason}"),
    }
}

#[test]
fn correlations_match_scipy() {
    let golden = golden();
    assert!(golden.cases.len() >= 12);
    for case in &golden.cases {
        let (x, y) = complete_pairs(&case.x, &case.y);
        assert_eq!(x.len(), case.n, "{}: complete pairs", case.name);
        check(&case.name, "pearson", pearson(&x, &y), &case.pearson);
        check(&case.name, "spearman", spearman(&x, &y), &case.spearman);
        check(&case.name, "kendall", kendall(&x, &y), &case.kendall);
    }
}

#[test]
fn partial_correlation_matches_residual_regression() {
    let golden = golden();
    let mut checked = 0;
    for case in golden.cases.iter().filter(|c| c.z.is_some()) {
        let z = case.z.as_ref().expect("filtered");
        // The fixture cases with a covariate have no missing values.
        let values = |v: &[Option<f64>]| v.iter().map(|v| v.expect("complete")).collect::<Vec<f64>>();
        check(&case.name, "partial", partial(&values(&case.x), &values(&case.y), &values(z)), &case.partial);
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn constant_columns_give_the_reason() {
    let golden = golden();
    let constant_x = golden.cases.iter().find(|c| c.name == "constant_x").expect("case exists");
    let (x, y) = complete_pairs(&constant_x.x, &constant_x.y);
    assert_eq!(pearson(&x, &y), Err(NullReason::ConstantX));
    assert_eq!(kendall(&x, &y), Err(NullReason::ConstantX));
    let constant_y = golden.cases.iter().find(|c| c.name == "constant_y").expect("case exists");
    let (x, y) = complete_pairs(&constant_y.x, &constant_y.y);
    assert_eq!(spearman(&x, &y), Err(NullReason::ConstantY));
}

//! The correlation table: grouping, nulls with reasons, rendering and CSV.

use maskspec::stats::{
    correlate, number_labels, pearson, render_table, to_csv, BootstrapOptions, Column, CorrelateInput,
    CorrelateOptions, StatsError, ALL_GROUP,
};

fn options() -> CorrelateOptions {
    CorrelateOptions { bootstrap: BootstrapOptions { resamples: 300, seed: 3, ..Default::default() } }
}

/// Two sparsity groups of 6 rows; the gap predicts accuracy within the 0.9 group, and is
/// constant within the 0.5 group.
type Nullable = Vec<Option<f64>>;

/// Metrics, accuracy, sparsity, density.
fn sweep() -> (Vec<Column>, Nullable, Nullable, Nullable) {
    let gap = vec![
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(0.2),
        Some(0.5),
        None,
        Some(0.9),
        Some(1.4),
        Some(1.1),
    ];
    let accuracy = vec![
        Some(0.91),
        Some(0.92),
        Some(0.90),
        Some(0.93),
        Some(0.92),
        Some(0.91),
        Some(0.80),
        Some(0.83),
        Some(0.85),
        Some(0.84),
        Some(0.88),
        Some(0.86),
    ];
    let sparsity = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9].map(Some).to_vec();
    let density = sparsity.iter().map(|s| s.map(|s| 1.0 - s)).collect();
    (vec![Column { name: "ramanujan_gap".into(), values: gap }], accuracy, sparsity, density)
}

#[test]
fn groups_are_correlated_separately_after_the_overall_row() {
    let (metrics, accuracy, sparsity, density) = sweep();
    let labels = number_labels(&sparsity);
    let input =
        CorrelateInput { metrics: &metrics, accuracy: &accuracy, density: Some(&density), groups: Some(&labels) };
    let rows = correlate(&input, &options()).unwrap();
    let groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, [ALL_GROUP, "0.5", "0.9"]);

    let all = &rows[0];
    assert_eq!(all.n, 11);
    assert!(all.partial_r.is_some() && all.reason.is_none());

    let constant = &rows[1];
    assert_eq!(constant.n, 6);
    assert_eq!(constant.pearson_r, None);
    assert_eq!(constant.ci_low, None);
    assert!(constant.reason.as_deref().unwrap().contains("constant"), "{:?}", constant.reason);

    let high = &rows[2];
    assert_eq!(high.n, 5);
    let expected = pearson(&[0.2, 0.5, 0.9, 1.4, 1.1], &[0.80, 0.83, 0.84, 0.88, 0.86]).unwrap();
    assert_eq!(high.pearson_r, Some(expected.statistic));
    assert_eq!(high.pearson_p, Some(expected.p_value));
    let (low, up) = (high.ci_low.unwrap(), high.ci_high.unwrap());
    assert!(low <= expected.statistic && expected.statistic <= up);
    // Density is constant within a sparsity group: the partial correlation is undefined there.
    assert_eq!(high.partial_r, None);
    assert!(high.reason.as_deref().unwrap().contains("covariate"));
}

#[test]
fn mismatched_lengths_are_an_error_naming_the_column() {
    let (metrics, accuracy, _, _) = sweep();
    let short = &accuracy[..5];
    let input = CorrelateInput { metrics: &metrics, accuracy: short, density: None, groups: None };
    match correlate(&input, &options()) {
        Err(StatsError::LengthMismatch { column, got: 12, expected: 5 }) => assert_eq!(column, "ramanujan_gap"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn table_and_csv_show_every_column_and_nulls() {
    let (metrics, accuracy, sparsity, density) = sweep();
    let labels = number_labels(&sparsity);
    let input =
        CorrelateInput { metrics: &metrics, accuracy: &accuracy, density: Some(&density), groups: Some(&labels) };
    let rows = correlate(&input, &options()).unwrap();

    let table = render_table(&rows);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("metric"));
    assert!(lines[0].ends_with("reason"));
    assert!(lines[2].contains('—'), "{table}");
    assert!(lines[2].contains("the metric is constant"));

    let csv = to_csv(&rows);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "metric,group,n,pearson_r,pearson_p,spearman_rho,spearman_p,kendall_tau,kendall_p,ci_low,ci_high,partial_r,partial_p,reason"
    );
    assert_eq!(lines[2].split(',').count(), 14);
    assert!(lines[2].starts_with("ramanujan_gap,0.5,6,,,"), "{}", lines[2]);
    let r: f64 = lines[3].split(',').nth(3).unwrap().parse().unwrap();
    assert_eq!(Some(r), rows[2].pearson_r, "CSV numbers round-trip exactly");
}

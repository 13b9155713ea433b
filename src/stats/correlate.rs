//! The correlation table: one [`CorrelationRow`] per (group, metric), its readable
//! rendering and its CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::bootstrap::{bootstrap_interval, BootstrapOptions};
use super::correlation::{complete_pairs, kendall, partial, pearson, spearman, Estimate, NullReason};

/// A named numeric column with nulls, one entry per input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// What `correlate` reads: every slice has one entry per input row (checkpoint).
#[derive(Debug, Clone, Copy)]
pub struct CorrelateInput<'a> {
    /// The metrics to correlate with accuracy, in output order.
    pub metrics: &'a [Column],
    pub accuracy: &'a [Option<f64>],
    /// The covariate the partial correlation controls for (density); `None` leaves
    /// `partial_r`/`partial_p` null.
    pub density: Option<&'a [Option<f64>]>,
    /// A group label per row (`--by`); rows with no label are left out of the groups but
    /// still count in the `all` rows.
    pub groups: Option<&'a [Option<String>]>,
}

/// The options of `correlate`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CorrelateOptions {
    pub bootstrap: BootstrapOptions,
}

/// The label of the rows computed over every input row.
pub const ALL_GROUP: &str = "all";

/// One line of the correlation table. Statistics are null when undefined; `reason` then
/// says why (the first reason met, in column order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationRow {
    pub metric: String,
    pub group: String,
    /// Complete (metric, accuracy) pairs.
    pub n: usize,
    pub pearson_r: Option<f64>,
    pub pearson_p: Option<f64>,
    pub spearman_rho: Option<f64>,
    pub spearman_p: Option<f64>,
    pub kendall_tau: Option<f64>,
    pub kendall_p: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub partial_r: Option<f64>,
    pub partial_p: Option<f64>,
    pub reason: Option<String>,
}

/// Input that `correlate` cannot use at all (as opposed to a statistic that is undefined).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error(
        "column `{column}` has {got} values but accuracy has {expected}: every column needs one value per checkpoint"
    )]
    LengthMismatch { column: String, got: usize, expected: usize },
    #[error("bootstrap confidence {0} is not in (0, 1): pass e.g. 0.95")]
    BadConfidence(f64),
}

/// Row indices per group label, labels in sorted order; unlabelled rows are left out.
pub fn group_indices(labels: &[Option<String>]) -> BTreeMap<String, Vec<usize>> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        if let Some(label) = label {
            groups.entry(label.clone()).or_default().push(i);
        }
    }
    groups
}

/// Group labels from a numeric column (e.g. sparsity), written the shortest way that reads
/// back to the same number, so 0.9 and 0.90000001 stay distinct groups.
pub fn number_labels(values: &[Option<f64>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.filter(|v| v.is_finite()).map(|v| v.to_string())).collect()
}

/// Every metric against accuracy: first over all rows (group [`ALL_GROUP`]), then within
/// each group if `groups` is given. Rows come out metric by metric, groups in sorted order.
pub fn correlate(input: &CorrelateInput, options: &CorrelateOptions) -> Result<Vec<CorrelationRow>, StatsError> {
    correlate_with_progress(input, options, &|_| {})
}

/// Rows of the correlation table computed so far, out of all it will have: each row's
/// bootstrap is the long part (seconds per row at a million checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsDone {
    pub done: usize,
    pub total: usize,
}

/// [`correlate`], telling `progress` after every row.
pub fn correlate_with_progress(
    input: &CorrelateInput,
    options: &CorrelateOptions,
    progress: &dyn Fn(RowsDone),
) -> Result<Vec<CorrelationRow>, StatsError> {
    let expected = input.accuracy.len();
    let check = |column: &str, got: usize| {
        if got == expected {
            Ok(())
        } else {
            Err(StatsError::LengthMismatch { column: column.to_string(), got, expected })
        }
    };
    for metric in input.metrics {
        check(&metric.name, metric.values.len())?;
    }
    if let Some(density) = input.density {
        check("density", density.len())?;
    }
    if let Some(groups) = input.groups {
        check("group", groups.len())?;
    }
    let confidence = options.bootstrap.confidence;
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(StatsError::BadConfidence(confidence));
    }

    let mut groups: Vec<(String, Vec<usize>)> = vec![(ALL_GROUP.to_string(), (0..expected).collect())];
    if let Some(labels) = input.groups {
        groups.extend(group_indices(labels));
    }
    let total = input.metrics.len() * groups.len();
    let mut rows = Vec::with_capacity(total);
    progress(RowsDone { done: 0, total });
    for metric in input.metrics {
        for (group, indices) in &groups {
            let pick = |values: &[Option<f64>]| indices.iter().map(|&i| values[i]).collect::<Vec<_>>();
            let x = pick(&metric.values);
            let y = pick(input.accuracy);
            let z = input.density.map(pick);
            rows.push(correlation_row(&metric.name, group, &x, &y, z.as_deref(), options));
            progress(RowsDone { done: rows.len(), total });
        }
    }
    Ok(rows)
}

fn correlation_row(
    metric: &str,
    group: &str,
    x: &[Option<f64>],
    y: &[Option<f64>],
    z: Option<&[Option<f64>]>,
    options: &CorrelateOptions,
) -> CorrelationRow {
    let (px, py) = complete_pairs(x, y);
    let mut reasons: Vec<NullReason> = Vec::new();
    let mut split = |result: Result<Estimate, NullReason>| match result {
        Ok(e) => (Some(e.statistic), Some(e.p_value)),
        Err(reason) => {
            reasons.push(reason);
            (None, None)
        }
    };
    let (pearson_r, pearson_p) = split(pearson(&px, &py));
    let (spearman_rho, spearman_p) = split(spearman(&px, &py));
    let (kendall_tau, kendall_p) = split(kendall(&px, &py));
    let (partial_r, partial_p) = match z {
        Some(z) => {
            let (tx, ty, tz) = complete_triples(x, y, z);
            split(partial(&tx, &ty, &tz))
        }
        None => (None, None),
    };
    let (ci_low, ci_high) = match bootstrap_interval(&px, &py, &options.bootstrap) {
        Ok(interval) => (Some(interval.low), Some(interval.high)),
        Err(reason) => {
            reasons.push(reason);
            (None, None)
        }
    };
    CorrelationRow {
        metric: metric.to_string(),
        group: group.to_string(),
        n: px.len(),
        pearson_r,
        pearson_p,
        spearman_rho,
        spearman_p,
        kendall_tau,
        kendall_p,
        ci_low,
        ci_high,
        partial_r,
        partial_p,
        reason: reasons.first().map(|r| r.to_string()),
    }
}

/// Rows where all three values are present and finite.
fn complete_triples(x: &[Option<f64>], y: &[Option<f64>], z: &[Option<f64>]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut tx, mut ty, mut tz) = (Vec::new(), Vec::new(), Vec::new());
    for ((a, b), c) in x.iter().zip(y).zip(z) {
        if let (Some(a), Some(b), Some(c)) = (a, b, c) {
            if a.is_finite() && b.is_finite() && c.is_finite() {
                tx.push(*a);
                ty.push(*b);
                tz.push(*c);
            }
        }
    }
    (tx, ty, tz)
}

const HEADER: [&str; 14] = [
    "metric",
    "group",
    "n",
    "pearson_r",
    "pearson_p",
    "spearman_rho",
    "spearman_p",
    "kendall_tau",
    "kendall_p",
    "ci_low",
    "ci_high",
    "partial_r",
    "partial_p",
    "reason",
];

fn cells(row: &CorrelationRow, number: impl Fn(Option<f64>) -> String) -> Vec<String> {
    vec![
        row.metric.clone(),
        row.group.clone(),
        row.n.to_string(),
        number(row.pearson_r),
        number(row.pearson_p),
        number(row.spearman_rho),
        number(row.spearman_p),
        number(row.kendall_tau),
        number(row.kendall_p),
        number(row.ci_low),
        number(row.ci_high),
        number(row.partial_r),
        number(row.partial_p),
        row.reason.clone().unwrap_or_default(),
    ]
}

/// The table for a terminal: aligned columns, statistics to 3 decimals, p-values to 2
/// significant digits (scientific below 0.001), `—` for null.
pub fn render_table(rows: &[CorrelationRow]) -> String {
    let readable = |value: Option<f64>| value.map_or_else(|| "—".to_string(), |v| format!("{v:.3}"));
    let readable_p = |value: Option<f64>| {
        value.map_or_else(|| "—".to_string(), |p| if p < 1e-3 { format!("{p:.1e}") } else { format!("{p:.3}") })
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = cells(row, readable);
            for (i, p) in [(4, row.pearson_p), (6, row.spearman_p), (8, row.kendall_p), (12, row.partial_p)] {
                cells[i] = readable_p(p);
            }
            cells
        })
        .collect();
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
    for cells in &table {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let last = cells.len() - 1;
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            let pad = width - cell.chars().count();
            // Text columns left-aligned, numbers right-aligned.
            let text = i < 2 || i == last;
            let spaced = if text { format!("{cell}{}", " ".repeat(pad)) } else { format!("{}{cell}", " ".repeat(pad)) };
            out.push_str(if i == last { spaced.trim_end() } else { &spaced });
            if i != last {
                out.push_str("  ");
            }
        }
        out.push('\n');
    };
    line(&HEADER.map(String::from));
    for cells in &table {
        line(cells);
    }
    out
}

/// The table as CSV with the SPEC column names; numbers in full precision, null as empty.
pub fn to_csv(rows: &[CorrelationRow]) -> String {
    let mut out = HEADER.join(",");
    out.push('\n');
    for row in rows {
        let cells = cells(row, |v| v.map(|v| v.to_string()).unwrap_or_default());
        let quoted: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        let _ = writeln!(out, "{}", quoted.join(","));
    }
    out
}

/// `text` as one CSV field: quoted when it holds a separator, a quote or a line break.
pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

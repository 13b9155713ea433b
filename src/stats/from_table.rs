//! The correlation table of a [`Table`] (analyze output or the pipeline's final checkpoints):
//! picks the metric, accuracy, covariate and group columns by name, as `maskspec correlate`
//! and `maskspec pipeline` both need.

use super::correlate::{
    correlate_with_progress, number_labels, Column, CorrelateInput, CorrelateOptions, CorrelationRow, RowsDone,
    StatsError,
};
use crate::metrics::SUMMARY_FIELDS;
use crate::table::Table;

/// Which columns to correlate.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCorrelation {
    /// Metric columns; empty: every summary field the table has, except density.
    pub metrics: Vec<String>,
    pub accuracy: String,
    /// The covariate of the partial correlation.
    pub covariate: String,
    /// Also correlate within each value of this column.
    pub by: Option<String>,
    pub options: CorrelateOptions,
}

impl Default for TableCorrelation {
    fn default() -> Self {
        TableCorrelation {
            metrics: Vec::new(),
            accuracy: "accuracy".into(),
            covariate: "density".into(),
            by: None,
            options: CorrelateOptions::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableCorrelationError {
    #[error("no column `{name}` in the input; columns: {columns}")]
    MissingColumn { name: String, columns: String },
    #[error(transparent)]
    Stats(#[from] StatsError),
}

/// The metric columns `spec` chooses in `table`.
fn metric_names(table: &Table, spec: &TableCorrelation) -> Vec<String> {
    if spec.metrics.is_empty() {
        SUMMARY_FIELDS
            .iter()
            .filter(|f| **f != "density" && table.names().iter().any(|n| n == *f))
            .map(|f| f.to_string())
            .collect()
    } else {
        spec.metrics.clone()
    }
}

/// For each numeric column `spec` reads, the cells that are not numbers and so count as
/// missing: one line per column, with how many and the first of them.
pub fn unparsed_cells(table: &Table, spec: &TableCorrelation) -> Vec<String> {
    let mut columns = metric_names(table, spec);
    columns.extend([spec.accuracy.clone(), spec.covariate.clone()]);
    table.unparsed_warnings(&columns)
}

/// Every chosen metric against accuracy, over all rows and within each group of `by` (a
/// numeric column such as sparsity is grouped by its exact values).
pub fn correlate_table(table: &Table, spec: &TableCorrelation) -> Result<Vec<CorrelationRow>, TableCorrelationError> {
    correlate_table_with_progress(table, spec, &|_| {})
}

/// [`correlate_table`], telling `progress` after every row of the result.
pub fn correlate_table_with_progress(
    table: &Table,
    spec: &TableCorrelation,
    progress: &dyn Fn(RowsDone),
) -> Result<Vec<CorrelationRow>, TableCorrelationError> {
    let missing =
        |name: &str| TableCorrelationError::MissingColumn { name: name.to_string(), columns: table.names().join(", ") };
    let numbers = |name: &str| table.column_f64(name).ok_or_else(|| missing(name));
    let metrics = metric_names(table, spec)
        .iter()
        .map(|name| Ok(Column { name: name.clone(), values: numbers(name)? }))
        .collect::<Result<Vec<_>, TableCorrelationError>>()?;
    let accuracy = numbers(&spec.accuracy)?;
    let density = numbers(&spec.covariate)?;
    let groups = match &spec.by {
        None => None,
        Some(by) => {
            let labels = table.column_str(by).ok_or_else(|| missing(by))?;
            let values = numbers(by)?;
            let numeric = labels.iter().zip(&values).all(|(l, n)| l.is_none() || n.is_some());
            Some(if numeric { number_labels(&values) } else { labels })
        }
    };
    let input =
        CorrelateInput { metrics: &metrics, accuracy: &accuracy, density: Some(&density), groups: groups.as_deref() };
    Ok(correlate_with_progress(&input, &spec.options, progress)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "checkpoint,sparsity,density,accuracy,ramanujan_gap,weighted_gap\n\
        a,0.5,0.5,0.9,1.0,2.0\nb,0.5,0.5,0.8,2.0,1.0\nc,0.9,0.1,0.7,3.0,5.0\nd,0.9,0.1,0.6,4.0,3.0\n";

    #[test]
    fn default_metrics_are_the_summary_fields_present_and_groups_follow_by() {
        let table = Table::from_csv(CSV.as_bytes()).unwrap();
        let spec = TableCorrelation { by: Some("sparsity".into()), ..Default::default() };
        let rows = correlate_table(&table, &spec).unwrap();
        let keys: Vec<(&str, &str, usize)> = rows.iter().map(|r| (r.metric.as_str(), r.group.as_str(), r.n)).collect();
        assert_eq!(
            keys,
            [
                ("ramanujan_gap", "all", 4),
                ("ramanujan_gap", "0.5", 2),
                ("ramanujan_gap", "0.9", 2),
                ("weighted_gap", "all", 4),
                ("weighted_gap", "0.5", 2),
                ("weighted_gap", "0.9", 2)
            ]
        );
        // accuracy falls exactly linearly as ramanujan_gap grows
        assert!((rows[0].pearson_r.unwrap() + 1.0).abs() < 1e-12);
    }

    #[test]
    fn progress_counts_every_row_up_to_the_total() {
        let table = Table::from_csv(CSV.as_bytes()).unwrap();
        let spec = TableCorrelation { by: Some("sparsity".into()), ..Default::default() };
        let heard = std::cell::RefCell::new(Vec::new());
        let rows =
            correlate_table_with_progress(&table, &spec, &|r| heard.borrow_mut().push((r.done, r.total))).unwrap();
        assert_eq!(heard.into_inner(), (0..=rows.len()).map(|done| (done, 6)).collect::<Vec<_>>());
    }

    #[test]
    fn a_missing_column_names_the_columns_there_are() {
        let table = Table::from_csv(CSV.as_bytes()).unwrap();
        let spec = TableCorrelation { by: Some("family".into()), ..Default::default() };
        let err = correlate_table(&table, &spec).unwrap_err().to_string();
        assert_eq!(err, "no column `family` in the input; columns: checkpoint, sparsity, density, accuracy, ramanujan_gap, weighted_gap");
    }

    #[test]
    fn cells_that_are_not_numbers_are_counted_and_a_column_named_twice_is_an_error() {
        let csv = "checkpoint,density,accuracy,ramanujan_gap\na,0.5,0.9,high\nb,0.5,n/a,2\nc,0.1,0.7,x\nd,0.1,0.6,4\n";
        let table = Table::from_csv(csv.as_bytes()).unwrap();
        let lines = unparsed_cells(&table, &TableCorrelation::default());
        assert_eq!(
            lines,
            [
                "column `ramanujan_gap`: 2 cells are not a number and count as missing (first: row 1, \"high\")",
                "column `accuracy`: 1 cell is not a number and counts as missing (first: row 2, \"n/a\")",
            ]
        );
        let twice = Table::from_csv(b"checkpoint,accuracy,x,accuracy\na,1,2,3\n").unwrap_err();
        assert!(twice.contains("`accuracy` appears twice (columns 2 and 4)"), "{twice}");
    }
}

//! Does a spectral quantity predict accuracy, and beyond density? Correlations of metric
//! columns with accuracy (Pearson, Spearman, Kendall τ-b with scipy.stats' p-values), a
//! seeded bootstrap interval, grouping, and the partial correlation controlling for density.
//!
//! Inputs are plain columns with nulls (`Option<f64>`), so this module does not depend on
//! how the analysis output was read; [`correlate_table`] picks them from a [`crate::table::Table`] by name.

mod bootstrap;
pub(crate) use correlate::csv_field;
mod correlate;
mod correlation;
mod difference;
mod from_table;
mod special;

pub use bootstrap::{bootstrap_interval, BootstrapOptions, Interval, Statistic};
pub use correlate::{
    correlate, correlate_with_progress, group_indices, number_labels, render_table, to_csv, Column, CorrelateInput,
    CorrelateOptions, CorrelationRow, RowsDone, StatsError, ALL_GROUP,
};
pub use correlation::{average_ranks, complete_pairs, kendall, partial, pearson, spearman, Estimate, NullReason};
pub use difference::{welch_difference, MeanDifference, Sample};
pub use from_table::{
    correlate_table, correlate_table_with_progress, unparsed_cells, TableCorrelation, TableCorrelationError,
};

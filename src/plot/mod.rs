//! Figures a paper can use: Pareto heatmaps of accuracy over two spectral coordinates,
//! a metric against accuracy by group, and each run's coordinate over training.
//!
//! The renderers take plain points; `from_table` picks them from analysis output (which rows,
//! which fields, what is skipped) for `maskspec plot` and the pipeline alike. Every
//! figure renders to PNG or SVG in memory with the DejaVu Sans font shipped in `assets/`
//! (no system font lookup) and is written through [`crate::atomic`].

mod evolution;
mod figure;
mod from_table;
mod heatmap;
mod interpolate;
mod labels;
mod pareto;
mod scatter;

use std::path::PathBuf;

pub use evolution::{distance_from_start, evolution, render_evolution, EvolutionOptions, EvolutionPoint, EvolutionRun};
pub use figure::{save, ImageFormat};
pub use from_table::{
    evolution_from_table, heatmap_from_table, scatter_from_table, Checkpoints, EvolutionSpec, HeatmapSpec, Rendered,
    ScatterSpec, DEFAULT_HEATMAP_PANELS,
};
pub use heatmap::{heatmap, render_heatmap, HeatmapOptions, HeatmapPanel};
pub use interpolate::{LinearInterpolator, Point};
pub use labels::{axis_label, axis_symbol};
pub use pareto::{pareto_front, Better};
pub use scatter::{fit_line, render_scatter, scatter, ScatterGroup, ScatterOptions};

/// Why a figure could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{points} points with finite coordinates do not span a triangle: the heatmap needs at least 3 points not on one line")]
    Degenerate { points: usize },
    #[error("no column `{column}` in the input; columns: {columns}")]
    MissingColumn { column: String, columns: String },
    #[error("{what}: {usable} of {rows} rows have a value in each of {needed}; it needs at least {minimum}")]
    TooFewPoints { what: String, usable: usize, rows: usize, needed: String, minimum: usize },
    #[error("{what}: nothing to plot (no point with finite coordinates)")]
    Empty { what: String },
    #[error("{path}: unknown figure format; use a .png or .svg file name")]
    UnknownFormat { path: PathBuf },
    #[error("drawing the figure failed: {0}")]
    Draw(String),
    #[error("the embedded font could not be loaded")]
    Font,
    #[error("encoding the PNG failed: {0}")]
    Encode(String),
    #[error("{path}: cannot write the figure: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>> for PlotError {
    fn from(error: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(error.to_string())
    }
}

//! Figures a paper can use: Pareto heatmaps of accuracy over two spectral coordinates,
//! a metric against accuracy by group, and each run's coordinate over training.
//!
//! Inputs are plain points (the caller reads analysis output and picks the fields); every
//! figure renders to PNG or SVG in memory with the DejaVu Sans font shipped in `assets/`
//! (no system font lookup) and is written through [`crate::atomic`].

mod evolution;
mod figure;
mod heatmap;
mod interpolate;
mod labels;
mod pareto;
mod scatter;

use std::path::PathBuf;

pub use evolution::{distance_from_start, evolution, render_evolution, EvolutionOptions, EvolutionPoint, EvolutionRun};
pub use figure::{save, Format};
pub use heatmap::{heatmap, render_heatmap, HeatmapOptions, HeatmapPanel};
pub use interpolate::{LinearInterpolator, Point};
pub use labels::axis_label;
pub use pareto::{pareto_front, Better};
pub use scatter::{fit_line, render_scatter, scatter, ScatterGroup, ScatterOptions};

/// Why a figure could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{points} points with finite coordinates do not span a triangle: the heatmap needs at least 3 points not on one line")]
    Degenerate { points: usize },
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

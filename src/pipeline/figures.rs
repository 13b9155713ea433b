//! The report's figures: Pareto heatmaps and scatters over the last checkpoint of each run,
//! and the evolution of the runs at the sweep's highest sparsity over their checkpoints.

use rayon::prelude::*;

use super::aggregate::{Collected, CsvTable};
use super::config::SweepConfig;
use crate::plot::{
    self, EvolutionOptions, EvolutionPoint, EvolutionRun, Format, HeatmapOptions, HeatmapPanel, PlotError, Point,
    ScatterGroup, ScatterOptions,
};
use crate::train::Family;

/// A rendered figure: where it goes under the output directory and what it shows.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Relative to the output directory, e.g. `figures/heatmap.png`.
    pub file: String,
    pub caption: String,
    pub bytes: Vec<u8>,
}

/// A figure that could not be drawn, and why (too few points, say): the report says so.
#[derive(Debug, Clone)]
pub struct SkippedFigure {
    pub file: String,
    pub reason: String,
}

fn number(row: &[String], column: Option<usize>) -> Option<f64> {
    column.and_then(|i| row[i].parse::<f64>().ok()).filter(|v| v.is_finite())
}

/// Every figure the sweep file asks for, drawn in parallel.
pub fn figures(
    config: &SweepConfig,
    collected: &Collected,
    summary: &CsvTable,
    last: &CsvTable,
) -> (Vec<Figure>, Vec<SkippedFigure>) {
    type Job<'a> = Box<dyn Fn() -> (String, String, Result<Vec<u8>, PlotError>) + Send + Sync + 'a>;
    let mut jobs: Vec<Job> = Vec::new();
    if !config.report.heatmaps.is_empty() {
        jobs.push(Box::new(|| heatmap(config, last)));
    }
    for metric in &config.report.scatters {
        jobs.push(Box::new(move || scatter(last, metric)));
    }
    jobs.push(Box::new(|| evolution(config, collected, summary)));
    let results: Vec<_> = jobs.par_iter().map(|job| job()).collect();
    let (mut drawn, mut skipped) = (Vec::new(), Vec::new());
    for (file, caption, result) in results {
        match result {
            Ok(bytes) => drawn.push(Figure { file, caption, bytes }),
            Err(e) => skipped.push(SkippedFigure { file, reason: e.to_string() }),
        }
    }
    (drawn, skipped)
}

fn heatmap(config: &SweepConfig, last: &CsvTable) -> (String, String, Result<Vec<u8>, PlotError>) {
    let accuracy = last.column("accuracy");
    let panels: Vec<HeatmapPanel> = config
        .report
        .heatmaps
        .iter()
        .map(|(x, y)| {
            let (xi, yi) = (last.column(x), last.column(y));
            let points = last
                .rows
                .iter()
                .filter_map(|row| Some(Point { x: number(row, xi)?, y: number(row, yi)?, z: number(row, accuracy)? }))
                .collect();
            HeatmapPanel { x_field: x.clone(), y_field: y.clone(), points }
        })
        .collect();
    let pairs: Vec<String> = config.report.heatmaps.iter().map(|(x, y)| format!("({x}, {y})")).collect();
    let caption = format!(
        "Test accuracy of each run's last checkpoint over {}, interpolated linearly over the Delaunay \
         triangulation of the runs (dots); the line is their Pareto front.",
        pairs.join(" and ")
    );
    ("figures/heatmap.png".into(), caption, plot::render_heatmap(&panels, &HeatmapOptions::default(), Format::Png))
}

fn scatter(last: &CsvTable, metric: &str) -> (String, String, Result<Vec<u8>, PlotError>) {
    let (xi, accuracy, family) = (last.column(metric), last.column("accuracy"), last.column("family"));
    let mut groups: Vec<ScatterGroup> = Vec::new();
    for row in &last.rows {
        let label = family.map_or("", |i| row[i].as_str());
        let Some(point) = number(row, xi).zip(number(row, accuracy)) else { continue };
        match groups.iter_mut().find(|g| g.label == label) {
            Some(group) => group.points.push(point),
            None => groups.push(ScatterGroup { label: label.to_string(), points: vec![point] }),
        }
    }
    let options = ScatterOptions { x_field: metric.to_string(), ..Default::default() };
    let caption = format!(
        "Test accuracy against {metric} at each run's last checkpoint, by family, with each family's \
         least-squares line and Pearson r."
    );
    (format!("figures/scatter_{metric}.png"), caption, plot::render_scatter(&groups, &options, Format::Png))
}

/// The runs of the first seed at the highest sparsity: one path each, so the figure stays
/// readable however large the sweep.
fn evolution(
    config: &SweepConfig,
    collected: &Collected,
    summary: &CsvTable,
) -> (String, String, Result<Vec<u8>, PlotError>) {
    let (x, y) = &config.report.evolution;
    let seed = collected.runs.iter().map(|r| r.spec.seed).min();
    let top = collected.runs.iter().map(|r| r.spec.sparsity).fold(0.0, f64::max);
    let (run_col, step_col, xi, yi) =
        (summary.column("run"), summary.column("step"), summary.column(x), summary.column(y));
    let runs: Vec<EvolutionRun> = collected
        .runs
        .iter()
        .filter(|r| Some(r.spec.seed) == seed && r.spec.sparsity == top && r.spec.family != Family::Dense)
        .map(|r| {
            let points = summary
                .rows
                .iter()
                .filter(|row| run_col.is_some_and(|i| row[i] == r.spec.name))
                .filter_map(|row| {
                    Some(EvolutionPoint { step: number(row, step_col)?, x: number(row, xi)?, y: number(row, yi)? })
                })
                .collect();
            let label = format!("{} {}", r.spec.family.as_str(), r.spec.method.as_str());
            EvolutionRun { label, points }
        })
        .collect();
    let options = EvolutionOptions { x_field: x.clone(), y_field: y.clone(), ..Default::default() };
    let caption = format!(
        "How ({x}, {y}) moves during training for the runs of seed {} at sparsity {top} (start and end marked), \
         and each run's distance from its initial checkpoint.",
        seed.unwrap_or(0)
    );
    ("figures/evolution.png".into(), caption, plot::render_evolution(&runs, &options, Format::Png))
}

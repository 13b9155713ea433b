//! The report's figures, drawn by the same `plot::*_from_table` as `maskspec plot`: Pareto
//! heatmaps and scatters over the last checkpoint of each sparse run (`last` holds only those),
//! and the evolution of the runs of the first seed at the sweep's highest sparsity.

use rayon::prelude::*;

use super::aggregate::{Collected, CsvTable};
use super::config::{AnalysisConfig, SweepConfig};
use crate::plot::{
    evolution_from_table, heatmap_from_table, scatter_from_table, EvolutionSpec, HeatmapSpec, ImageFormat, PlotError,
    Rendered, ScatterSpec,
};
use crate::train::{spectra, Family};

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

type Drawn = (String, String, Result<Rendered, PlotError>);

/// Every figure the sweep file asks for, drawn in parallel.
pub fn figures(
    config: &SweepConfig,
    collected: &Collected,
    summary: &CsvTable,
    last: &CsvTable,
) -> (Vec<Figure>, Vec<SkippedFigure>) {
    let last_table = last.to_table();
    let mut jobs: Vec<Box<dyn Fn() -> Drawn + Send + Sync + '_>> = Vec::new();
    if !config.report.heatmaps.is_empty() {
        jobs.push(Box::new(|| heatmap(config, &last_table)));
    }
    for metric in &config.report.scatters {
        let last_table = &last_table;
        jobs.push(Box::new(move || scatter(last_table, metric)));
    }
    jobs.push(Box::new(|| evolution(config, collected, summary)));
    let results: Vec<Drawn> = jobs.par_iter().map(|job| job()).collect();
    let (mut drawn, mut skipped) = (Vec::new(), Vec::new());
    for (file, caption, result) in results {
        match result {
            Ok(rendered) => drawn.push(Figure { file, caption, bytes: rendered.bytes }),
            Err(e) => skipped.push(SkippedFigure { file, reason: e.to_string() }),
        }
    }
    (drawn, skipped)
}

fn heatmap(config: &SweepConfig, last: &crate::table::Table) -> Drawn {
    let spec = HeatmapSpec { panels: config.report.heatmaps.clone(), ..Default::default() };
    let pairs: Vec<String> = config.report.heatmaps.iter().map(|(x, y)| format!("({x}, {y})")).collect();
    let caption = format!(
        "Test accuracy of each sparse run's last checkpoint over {}, interpolated linearly over the Delaunay \
         triangulation of the runs (dots); the line is their Pareto front.",
        pairs.join(" and ")
    );
    ("figures/heatmap.png".into(), caption, heatmap_from_table(last, &spec, ImageFormat::Png))
}

fn scatter(last: &crate::table::Table, metric: &str) -> Drawn {
    let spec = ScatterSpec { by: Some("family".into()), ..ScatterSpec::new(metric) };
    let caption = format!(
        "Test accuracy against {metric} at each sparse run's last checkpoint, by family, with each family's \
         least-squares line and Pearson r."
    );
    (format!("figures/scatter_{metric}.png"), caption, scatter_from_table(last, &spec, ImageFormat::Png))
}

/// The `spectra.csv` the `shown` runs logged while training, as one table: their rows include the
/// DST mask updates between checkpoints. `None` when the figure's fields are not logged there,
/// the analysis is not the one the trainer logs (default parameters), or a log is unreadable.
fn spectra_of(config: &SweepConfig, collected: &Collected, shown: &[&str]) -> Option<crate::table::Table> {
    let (x, y) = &config.report.evolution;
    let logged = |field: &str| spectra::FIELDS.contains(&field);
    if !(logged(x) && logged(y)) || config.analysis != AnalysisConfig::default() {
        return None;
    }
    let mut table: Option<crate::table::Table> = None;
    for run in collected.runs.iter().filter(|r| shown.contains(&r.spec.name.as_str())) {
        let part = crate::table::Table::from_csv(&std::fs::read(run.dir.join("spectra.csv")).ok()?).ok()?;
        match &mut table {
            None => table = Some(part),
            Some(table) => table.append(part).ok()?,
        }
    }
    table
}

/// The runs of the first seed at the highest sparsity: one path each, so the figure stays
/// readable however large the sweep.
fn evolution(config: &SweepConfig, collected: &Collected, summary: &CsvTable) -> Drawn {
    let (x, y) = &config.report.evolution;
    let sparse = || collected.runs.iter().filter(|r| r.spec.family != Family::Dense);
    let seed = sparse().map(|r| r.spec.seed).min().unwrap_or(0);
    let top = sparse().map(|r| r.spec.sparsity).fold(0.0, f64::max);
    let shown: Vec<&str> =
        sparse().filter(|r| r.spec.seed == seed && r.spec.sparsity == top).map(|r| r.spec.name.as_str()).collect();
    let spectra = spectra_of(config, collected, &shown);
    let moments = if spectra.is_some() { "checkpoint and DST mask update" } else { "checkpoint" };
    let table = spectra.unwrap_or_else(|| {
        let run = summary.column("run");
        let rows = summary.rows.iter().filter(|row| run.is_some_and(|i| shown.contains(&row[i].as_str()))).cloned();
        CsvTable { header: summary.header.clone(), rows: rows.collect() }.to_table()
    });
    let spec = EvolutionSpec { x: x.clone(), y: y.clone(), ..Default::default() };
    let caption = format!(
        "How ({x}, {y}) moves during training for the runs of seed {seed} at sparsity {top}, at every {moments} \
         (start and end marked), and each run's distance from its initial checkpoint."
    );
    ("figures/evolution.png".into(), caption, evolution_from_table(&table, &spec, ImageFormat::Png))
}

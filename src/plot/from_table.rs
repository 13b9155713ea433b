//! From a [`Table`] (analyze's summary or per-layer rows, read from CSV, JSON or checkpoints)
//! to a figure: which rows become points, which are skipped and why. `maskspec plot` and the
//! pipeline both come through here, so a figure made either way is the same figure.

use std::collections::BTreeMap;

use super::evolution::{render_evolution, EvolutionOptions, EvolutionPoint, EvolutionRun};
use super::figure::ImageFormat;
use super::heatmap::{render_heatmap, HeatmapOptions, HeatmapPanel};
use super::interpolate::Point;
use super::labels::axis_label;
use super::scatter::{render_scatter, ScatterGroup, ScatterOptions};
use super::PlotError;
use crate::table::Table;

/// The two panels of Sparse-IFT's Figure 4: the nested means, then the full-layer quantities.
pub const DEFAULT_HEATMAP_PANELS: [(&str, &str); 2] =
    [("ramanujan_gap_imdb", "weighted_gap_imsg"), ("ramanujan_gap", "weighted_gap")];

/// Which rows of a sweep become points of a heatmap or scatter plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checkpoints {
    /// One point per run: its last checkpoint (largest `step`; an `init` row without a step
    /// counts as step 0), because a run's checkpoints are not independent samples and the
    /// early ones have not learned yet. Rows without a `run`, tables without `run`/`step`
    /// columns, and runs where no row has a step keep every row.
    #[default]
    LastOfEachRun,
    /// Every row.
    All,
}

/// A heatmap of `z` over each `(x, y)` pair of `panels`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapSpec {
    pub panels: Vec<(String, String)>,
    pub z: String,
    pub checkpoints: Checkpoints,
    pub title: Option<String>,
}

impl Default for HeatmapSpec {
    fn default() -> Self {
        HeatmapSpec {
            panels: DEFAULT_HEATMAP_PANELS.iter().map(|(x, y)| (x.to_string(), y.to_string())).collect(),
            z: "accuracy".to_string(),
            checkpoints: Checkpoints::default(),
            title: None,
        }
    }
}

/// `metric` against `accuracy`, one colour per value of `by`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterSpec {
    pub metric: String,
    pub accuracy: String,
    /// The grouping column; `None` groups by `sparsity` when the table has a value in it,
    /// and draws one group otherwise.
    pub by: Option<String>,
    pub checkpoints: Checkpoints,
    pub title: Option<String>,
}

impl HeatmapSpec {
    /// The numeric columns the figure reads.
    pub fn numeric_columns(&self) -> Vec<&str> {
        (self.panels.iter()).flat_map(|(x, y)| [x.as_str(), y.as_str()]).chain([self.z.as_str()]).collect()
    }
}

impl ScatterSpec {
    /// The numeric columns the figure reads (a grouping column may hold words).
    pub fn numeric_columns(&self) -> Vec<&str> {
        vec![&self.metric, &self.accuracy]
    }

    pub fn new(metric: &str) -> ScatterSpec {
        ScatterSpec {
            metric: metric.to_string(),
            accuracy: "accuracy".to_string(),
            by: None,
            checkpoints: Checkpoints::default(),
            title: None,
        }
    }
}

/// Each run's `(x, y)` over its checkpoints, ordered by `step`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvolutionSpec {
    pub x: String,
    pub y: String,
    pub run: String,
    pub step: String,
    pub title: Option<String>,
}

impl EvolutionSpec {
    /// The numeric columns the figure reads.
    pub fn numeric_columns(&self) -> Vec<&str> {
        vec![&self.x, &self.y, &self.step]
    }
}

impl Default for EvolutionSpec {
    fn default() -> Self {
        EvolutionSpec {
            x: "ramanujan_gap_imdb".to_string(),
            y: "weighted_gap_imsg".to_string(),
            run: "run".to_string(),
            step: "step".to_string(),
            title: None,
        }
    }
}

/// A rendered figure and what went into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    /// Rows the figure was drawn from (after choosing checkpoints).
    pub rows: usize,
    /// Points drawn (for a heatmap: summed over panels).
    pub points: usize,
    /// Rows left out, each with why (`a null ramanujan_gap or accuracy`); zero counts omitted.
    pub skipped: Vec<(String, usize)>,
    /// Other things the reader should know (runs without an initial checkpoint, …).
    pub notes: Vec<String>,
}

impl Rendered {
    /// One line counting the skipped rows, or `None` when nothing was skipped.
    pub fn skipped_message(&self) -> Option<String> {
        let total: usize = self.skipped.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let reasons: Vec<String> = self.skipped.iter().map(|(why, n)| format!("{n} with {why}")).collect();
        Some(format!("skipped rows (of {}): {}", self.rows, reasons.join("; ")))
    }
}

fn column(table: &Table, name: &str) -> Result<Vec<Option<f64>>, PlotError> {
    table.column_f64(name).ok_or_else(|| missing(table, name))
}

fn missing(table: &Table, name: &str) -> PlotError {
    PlotError::MissingColumn { column: name.to_string(), columns: table.names().join(", ") }
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

/// Where each row sits in its run's training: its step, 0 for an `init` row without one.
fn positions(table: &Table, step: &str) -> Option<Vec<Option<f64>>> {
    let steps = table.column_f64(step)?;
    let init = table.column_str("init").unwrap_or_else(|| vec![None; steps.len()]);
    Some(
        steps
            .iter()
            .zip(&init)
            .map(|(s, i)| finite(*s).or_else(|| (i.as_deref() == Some("true")).then_some(0.0)))
            .collect(),
    )
}

/// The indices of the rows that become points, with a note saying how they were chosen.
fn choose_rows(table: &Table, checkpoints: Checkpoints) -> (Vec<usize>, Option<String>) {
    let all: Vec<usize> = (0..table.len()).collect();
    if checkpoints == Checkpoints::All {
        return (all, None);
    }
    let (Some(runs), Some(steps)) = (table.column_str("run"), positions(table, "step")) else {
        return (all, None);
    };
    let mut by_run: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut chosen = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        match run {
            Some(run) => by_run.entry(run.as_str()).or_default().push(i),
            None => chosen.push(i),
        }
    }
    for rows in by_run.values() {
        match rows.iter().filter_map(|&i| steps[i]).max_by(f64::total_cmp) {
            Some(last) => chosen.extend(rows.iter().copied().filter(|&i| steps[i] == Some(last))),
            None => chosen.extend(rows),
        }
    }
    chosen.sort_unstable();
    let note = (chosen.len() < table.len()).then(|| {
        format!(
            "the last checkpoint of each of {} runs: {} of {} rows (--all-checkpoints keeps every row)",
            by_run.len(),
            chosen.len(),
            table.len()
        )
    });
    (chosen, note)
}

/// Heatmap panels from the table: each `(x, y)` pair of `spec` over `spec.z`. Fewer than
/// three usable rows in a panel is an error naming the panel.
pub fn heatmap_from_table(table: &Table, spec: &HeatmapSpec, format: ImageFormat) -> Result<Rendered, PlotError> {
    let z = column(table, &spec.z)?;
    let (rows, note) = choose_rows(table, spec.checkpoints);
    let mut panels = Vec::new();
    let mut skipped = Vec::new();
    for (x_field, y_field) in &spec.panels {
        let (x, y) = (column(table, x_field)?, column(table, y_field)?);
        let points: Vec<Point> =
            rows.iter().filter_map(|&i| Some(Point { x: finite(x[i])?, y: finite(y[i])?, z: finite(z[i])? })).collect();
        if points.len() < 3 {
            return Err(PlotError::TooFewPoints {
                what: format!("heatmap over ({x_field}, {y_field})"),
                usable: points.len(),
                rows: rows.len(),
                needed: format!("{x_field}, {y_field} and {}", spec.z),
                minimum: 3,
            });
        }
        let left_out = rows.len() - points.len();
        if left_out > 0 {
            skipped.push((format!("a null {x_field}, {y_field} or {}", spec.z), left_out));
        }
        panels.push(HeatmapPanel { x_field: x_field.clone(), y_field: y_field.clone(), points });
    }
    let options = HeatmapOptions { z_label: spec.z.clone(), title: spec.title.clone(), ..Default::default() };
    let bytes = render_heatmap(&panels, &options, format)?;
    Ok(Rendered {
        bytes,
        rows: rows.len(),
        points: panels.iter().map(|p| p.points.len()).sum(),
        skipped,
        notes: note.into_iter().collect(),
    })
}

/// Group labels of the rows: the values of `by` (numbers written shortest, so 0.9 and 0.90
/// are one group), `BY = none` for a null cell; groups ordered by number when every label is one.
fn group_labels(table: &Table, by: &str) -> Result<Vec<String>, PlotError> {
    let text = table.column_str(by).ok_or_else(|| missing(table, by))?;
    let numbers = column(table, by)?;
    let numeric = text.iter().zip(&numbers).all(|(t, n)| t.is_none() || n.is_some());
    Ok(text
        .iter()
        .zip(&numbers)
        .map(|(t, n)| match (t, n) {
            (None, _) => format!("{by} = none"),
            (Some(_), Some(n)) if numeric => format!("{by} = {n}"),
            (Some(t), _) => format!("{by} = {t}"),
        })
        .collect())
}

/// The scatter plot of `spec.metric` against `spec.accuracy`, grouped.
pub fn scatter_from_table(table: &Table, spec: &ScatterSpec, format: ImageFormat) -> Result<Rendered, PlotError> {
    let x = column(table, &spec.metric)?;
    let y = column(table, &spec.accuracy)?;
    let by = match &spec.by {
        Some(by) => Some(by.as_str()),
        None => table.column_str("sparsity").filter(|c| c.iter().any(Option::is_some)).map(|_| "sparsity"),
    };
    let labels = match by {
        Some(by) => group_labels(table, by)?,
        None => vec!["all".to_string(); table.len()],
    };
    let (rows, note) = choose_rows(table, spec.checkpoints);
    let mut groups: Vec<(Option<f64>, ScatterGroup)> = Vec::new();
    let numbers = by.and_then(|by| table.column_f64(by));
    let mut used = 0;
    for &i in &rows {
        let (Some(px), Some(py)) = (finite(x[i]), finite(y[i])) else { continue };
        used += 1;
        let group = match groups.iter_mut().find(|(_, g)| g.label == labels[i]) {
            Some((_, group)) => group,
            None => {
                let key = numbers.as_ref().and_then(|n| n[i]);
                groups.push((key, ScatterGroup { label: labels[i].clone(), points: Vec::new() }));
                &mut groups.last_mut().expect("just pushed").1
            }
        };
        group.points.push((px, py));
    }
    if used == 0 {
        return Err(PlotError::TooFewPoints {
            what: format!("scatter of {}", spec.metric),
            usable: 0,
            rows: rows.len(),
            needed: format!("{} and {}", spec.metric, spec.accuracy),
            minimum: 1,
        });
    }
    // Numeric groups in numeric order (0.5 before 0.75 before 0.9), others by label.
    groups.sort_by(|a, b| {
        let by_number = match (a.0, b.0) {
            (Some(p), Some(q)) => p.total_cmp(&q),
            _ => std::cmp::Ordering::Equal,
        };
        a.0.is_none().cmp(&b.0.is_none()).then(by_number).then_with(|| a.1.label.cmp(&b.1.label))
    });
    let groups: Vec<ScatterGroup> = groups.into_iter().map(|(_, g)| g).collect();
    let options = ScatterOptions {
        x_field: spec.metric.clone(),
        y_label: axis_label(&spec.accuracy),
        title: spec.title.clone(),
        ..Default::default()
    };
    let bytes = render_scatter(&groups, &options, format)?;
    let left_out = rows.len() - used;
    Ok(Rendered {
        bytes,
        rows: rows.len(),
        points: used,
        skipped: if left_out > 0 {
            vec![(format!("a null {} or {}", spec.metric, spec.accuracy), left_out)]
        } else {
            Vec::new()
        },
        notes: note.into_iter().collect(),
    })
}

/// Each run's trajectory. The distance panel measures from the run's initial checkpoint (the
/// `init` row, SPEC §4); rows before it are left out, and a run without one is measured from
/// its earliest checkpoint and named in the notes.
pub fn evolution_from_table(table: &Table, spec: &EvolutionSpec, format: ImageFormat) -> Result<Rendered, PlotError> {
    let x = column(table, &spec.x)?;
    let y = column(table, &spec.y)?;
    let runs = table.column_str(&spec.run).ok_or_else(|| missing(table, &spec.run))?;
    let steps = positions(table, &spec.step).ok_or_else(|| missing(table, &spec.step))?;
    let init = table.column_str("init").unwrap_or_else(|| vec![None; table.len()]);
    let mut by_run: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        by_run.entry(run.clone().unwrap_or_else(|| "(no run)".to_string())).or_default().push(i);
    }
    let mut no_step = 0;
    let mut no_value = 0;
    let mut before_init = 0;
    let mut notes = Vec::new();
    let mut evolution_runs = Vec::new();
    for (label, rows) in &by_run {
        let mut points = Vec::new();
        let mut inits = Vec::new();
        for &i in rows {
            let Some(step) = steps[i] else {
                no_step += 1;
                continue;
            };
            let (Some(px), Some(py)) = (finite(x[i]), finite(y[i])) else {
                no_value += 1;
                continue;
            };
            if init[i].as_deref() == Some("true") {
                inits.push(step);
            }
            points.push(EvolutionPoint { step, x: px, y: py });
        }
        match inits.into_iter().min_by(f64::total_cmp) {
            Some(start) => {
                let before = points.len();
                points.retain(|p| p.step >= start);
                before_init += before - points.len();
            }
            None => {
                if let Some(first) = points.iter().map(|p| p.step).min_by(f64::total_cmp) {
                    notes.push(format!(
                        "run {label} has no initial checkpoint with {} and {}: its distances are from step {first}",
                        spec.x, spec.y
                    ));
                }
            }
        }
        if !points.is_empty() {
            evolution_runs.push(EvolutionRun { label: label.clone(), points });
        }
    }
    let used: usize = evolution_runs.iter().map(|r| r.points.len()).sum();
    if used == 0 {
        return Err(PlotError::TooFewPoints {
            what: "evolution".to_string(),
            usable: 0,
            rows: table.len(),
            needed: format!("{}, {}, {} and {}", spec.run, spec.step, spec.x, spec.y),
            minimum: 1,
        });
    }
    let options = EvolutionOptions {
        x_field: spec.x.clone(),
        y_field: spec.y.clone(),
        step_label: if spec.step == "step" { "training step".to_string() } else { spec.step.clone() },
        title: spec.title.clone(),
        ..Default::default()
    };
    let bytes = render_evolution(&evolution_runs, &options, format)?;
    let skipped = [
        (format!("no {} (and not init)", spec.step), no_step),
        (format!("a null {} or {}", spec.x, spec.y), no_value),
        ("a step before the run's initial checkpoint".to_string(), before_init),
    ];
    Ok(Rendered {
        bytes,
        rows: table.len(),
        points: used,
        skipped: skipped.into_iter().filter(|(_, n)| *n > 0).collect(),
        notes,
    })
}

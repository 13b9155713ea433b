//! From finished runs (in one output directory or in several shards) to the sweep's tables:
//! every checkpoint's analysis, the final checkpoint of each run, the accuracy per family ×
//! sparsity × method, and the correlations of the final checkpoints' spectra with accuracy.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::config::{RunSpec, SweepConfig};
use super::runs::{self, Analyzed, Trained};
use crate::stats::{correlate_table, welch_difference, CorrelationRow, Sample, TableCorrelation};
use crate::table::Table;
use crate::train::Family;

/// A run whose training and analysis are both finished.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub spec: RunSpec,
    /// `OUT/runs/NAME` in whichever directory holds it.
    pub dir: PathBuf,
    pub trained: Trained,
    pub analyzed: Analyzed,
}

/// The finished runs of a sweep, in sweep order, and the planned runs not (yet) finished.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub runs: Vec<FinishedRun>,
    pub missing: Vec<String>,
}

/// Looks for each planned run of the sweep hashed `sweep` in `dirs` (the first directory
/// holding it finished for that sweep wins).
pub fn collect(plan: &[RunSpec], sweep: &str, dirs: &[PathBuf]) -> Collected {
    let mut collected = Collected::default();
    for spec in plan {
        let found = dirs.iter().find_map(|out| {
            let dir = runs::run_dir(out, &spec.name);
            let trained = runs::read_trained(&dir, sweep)?;
            let analyzed = runs::read_analyzed(&dir, sweep)?;
            Some(FinishedRun { spec: spec.clone(), dir, trained, analyzed })
        });
        match found {
            Some(run) => collected.runs.push(run),
            None => collected.missing.push(spec.name.clone()),
        }
    }
    collected
}

#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not the CSV a run's analysis writes: {message}; delete the run's analyzed.json to redo it")]
    Csv { path: PathBuf, message: String },
    #[error("{path}: not the JSON a run's analysis writes; delete the run's analyzed.json to redo it")]
    Json { path: PathBuf },
    #[error("no finished run to report on")]
    Empty,
    #[error("correlations: {0}")]
    Correlate(#[from] crate::stats::TableCorrelationError),
}

/// A CSV held as text cells, header first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsvTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl CsvTable {
    fn read(path: &Path) -> Result<CsvTable, AggregateError> {
        let bytes = std::fs::read(path).map_err(|source| AggregateError::Read { path: path.to_path_buf(), source })?;
        let bad = |message: String| AggregateError::Csv { path: path.to_path_buf(), message };
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header = reader.headers().map_err(|e| bad(e.to_string()))?.iter().map(String::from).collect();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(String::from).collect()).map_err(|e| bad(e.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(CsvTable { header, rows })
    }

    /// Appends `other`'s rows; a different header is the caller's file's fault.
    fn extend(&mut self, other: CsvTable, path: &Path) -> Result<(), AggregateError> {
        if self.header.is_empty() {
            self.header = other.header;
        } else if self.header != other.header {
            return Err(AggregateError::Csv {
                path: path.to_path_buf(),
                message: "its columns differ from the other runs' (analyzed by another maskspec version?)".into(),
            });
        }
        self.rows.extend(other.rows);
        Ok(())
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The rows of runs with a sparse family: the dense baseline's graphs are complete
    /// bipartite graphs, an outlier in every metric, so correlations and figures leave it out.
    pub fn sparse_runs(&self) -> CsvTable {
        let family = self.column("family");
        let rows =
            self.rows.iter().filter(|row| family.is_none_or(|i| row[i] != Family::Dense.as_str())).cloned().collect();
        CsvTable { header: self.header.clone(), rows }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&self.header).expect("writing to memory");
        for row in &self.rows {
            writer.write_record(row).expect("writing to memory");
        }
        writer.into_inner().expect("writing to memory")
    }

    pub fn to_table(&self) -> Table {
        Table::from_csv(&self.to_bytes()).expect("a CSV written here reads back")
    }
}

/// The sweep's analysis, concatenated over runs in sweep order.
#[derive(Debug, Clone)]
pub struct Tables {
    /// One row per checkpoint of every run.
    pub summary: CsvTable,
    /// One row per checkpoint × layer.
    pub layers: CsvTable,
    /// The last checkpoint of each run: what the accuracy table, correlations and heatmaps use.
    pub last: CsvTable,
    /// Every field, as `analyze --json` writes it, over all runs.
    pub json: Value,
}

pub fn tables(collected: &Collected) -> Result<Tables, AggregateError> {
    if collected.runs.is_empty() {
        return Err(AggregateError::Empty);
    }
    let (mut summary, mut layers, mut last) = (CsvTable::default(), CsvTable::default(), CsvTable::default());
    let (mut checkpoints, mut failures) = (Vec::new(), Vec::new());
    for run in &collected.runs {
        let path = run.dir.join(runs::SUMMARY_CSV);
        let part = CsvTable::read(&path)?;
        let step = part.column("step");
        let final_row = part
            .rows
            .iter()
            .max_by_key(|row| step.and_then(|i| row[i].parse::<u64>().ok()).unwrap_or(0))
            .cloned()
            .ok_or_else(|| AggregateError::Csv { path: path.clone(), message: "no rows".into() })?;
        let header = part.header.clone();
        last.extend(CsvTable { header, rows: vec![final_row] }, &path)?;
        summary.extend(part, &path)?;
        let path = run.dir.join(runs::LAYERS_CSV);
        layers.extend(CsvTable::read(&path)?, &path)?;
        let path = run.dir.join(runs::ANALYSIS_JSON);
        let bytes = std::fs::read(&path).map_err(|source| AggregateError::Read { path: path.clone(), source })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| AggregateError::Json { path: path.clone() })?;
        let array = |key: &str| value.get(key).and_then(Value::as_array).cloned();
        checkpoints.extend(array("checkpoints").ok_or_else(|| AggregateError::Json { path: path.clone() })?);
        failures.extend(array("failures").unwrap_or_default());
    }
    let json = serde_json::json!({
        "maskspec_version": env!("CARGO_PKG_VERSION"),
        "checkpoints": checkpoints,
        "failures": failures,
    });
    Ok(Tables { summary, layers, last, json })
}

/// Test accuracy over the seeds of one family × sparsity × method × layout × pattern.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyRow {
    pub family: String,
    pub sparsity: f64,
    pub method: String,
    pub layout: String,
    /// The mask structure the runs were trained with (`--sparsity-pattern`).
    pub pattern: String,
    /// Runs with an accuracy.
    pub n: usize,
    pub accuracy_mean: Option<f64>,
    /// Sample standard deviation (n − 1); null below two runs.
    pub accuracy_sd: Option<f64>,
    /// `accuracy_mean` minus the dense baseline's, with Welch's 95% interval over seeds; null
    /// for dense itself, without a baseline, or below two runs a side.
    pub vs_dense: Option<f64>,
    pub vs_dense_low: Option<f64>,
    pub vs_dense_high: Option<f64>,
}

impl AccuracyRow {
    fn sample(&self) -> Option<Sample> {
        Some(Sample { n: self.n, mean: self.accuracy_mean?, sd: self.accuracy_sd? })
    }
}

/// The accuracy table in sweep order, from the `accuracy` of each run's last checkpoint.
pub fn accuracy_table(collected: &Collected, last: &CsvTable) -> Vec<AccuracyRow> {
    let accuracy = last.column("accuracy");
    // (the group's row with n and the statistics still empty, its accuracies)
    let mut groups: Vec<(AccuracyRow, Vec<f64>)> = Vec::new();
    for (run, row) in collected.runs.iter().zip(&last.rows) {
        let s = &run.spec;
        let group = AccuracyRow {
            family: s.family.as_str().into(),
            sparsity: s.sparsity,
            method: s.method.as_str().into(),
            layout: s.layout.as_str().into(),
            pattern: s.pattern.to_string(),
            n: 0,
            accuracy_mean: None,
            accuracy_sd: None,
            vs_dense: None,
            vs_dense_low: None,
            vs_dense_high: None,
        };
        let value = accuracy.and_then(|i| row[i].parse::<f64>().ok()).filter(|v| v.is_finite());
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, values)) => values.extend(value),
            None => groups.push((group, value.into_iter().collect())),
        }
    }
    let mut rows: Vec<AccuracyRow> = groups
        .into_iter()
        .map(|(group, values)| {
            let n = values.len();
            let mean = (n > 0).then(|| values.iter().sum::<f64>() / n as f64);
            let sd = mean.filter(|_| n > 1).map(|m| {
                let ss: f64 = values.iter().map(|v| (v - m).powi(2)).sum();
                (ss / (n - 1) as f64).sqrt()
            });
            AccuracyRow { n, accuracy_mean: mean, accuracy_sd: sd, ..group }
        })
        .collect();
    let dense = rows.iter().find(|r| r.family == Family::Dense.as_str()).and_then(AccuracyRow::sample);
    for row in rows.iter_mut().filter(|r| r.family != Family::Dense.as_str()) {
        if let Some(d) = dense.zip(row.sample()).and_then(|(dense, own)| welch_difference(own, dense, 0.95)) {
            (row.vs_dense, row.vs_dense_low, row.vs_dense_high) = (Some(d.difference), Some(d.low), Some(d.high));
        }
    }
    rows
}

pub fn accuracy_csv(rows: &[AccuracyRow]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

/// The correlations of every summary metric with accuracy over the last checkpoints, overall
/// and within each value of `report.correlate_by`, with the partial correlation on density.
pub fn correlations(config: &SweepConfig, last: &CsvTable) -> Result<Vec<CorrelationRow>, AggregateError> {
    let mut spec = TableCorrelation { by: Some(config.report.correlate_by.clone()), ..Default::default() };
    spec.options.bootstrap.resamples = config.report.bootstrap_resamples;
    spec.options.bootstrap.seed = config.report.seed;
    Ok(correlate_table(&last.to_table(), &spec)?)
}

/// Wall seconds of training and of analysis, summed over runs (whenever they ran).
pub fn run_seconds(collected: &Collected) -> (f64, f64) {
    collected.runs.iter().fold((0.0, 0.0), |(t, a), r| (t + r.trained.seconds, a + r.analyzed.seconds))
}

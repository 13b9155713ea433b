//! A small column table read from CSV (header + rows, empty cell = null): what `correlate`
//! and `plot` read, whether the input is a CSV written by `analyze`, its `--json`, or
//! checkpoints analyzed on the fly (through the same CSV export, so there is one path from an
//! analysis to a table). The JSON is flattened the way the CSV export flattens an analysis, so
//! the three inputs give equal tables.

use std::path::PathBuf;

use crate::analyze::{analyze_paths, AnalyzeEvent, AnalyzeOptions, Failure};

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid CSV: {message}")]
    Csv { path: PathBuf, message: String },
    #[error("{path}: its columns differ from the first input's; pass inputs written by the same analyze")]
    Columns { path: PathBuf },
    #[error("{path}: not the JSON `analyze --json` writes: {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path}: analysis failed: {message}")]
    Analyze { path: PathBuf, message: String },
    #[error("no `layer` column: --layer needs the per-layer output of `analyze --csv`")]
    NoLayerColumn,
    #[error("no input rows")]
    Empty,
}

/// Rows of string cells under named columns; `None` is an empty cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    names: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl Table {
    pub fn from_csv(bytes: &[u8]) -> Result<Table, String> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
        let names: Vec<String> = reader.headers().map_err(|e| e.to_string())?.iter().map(str::to_owned).collect();
        // A name given twice would make every lookup of it silently take the first.
        for (i, name) in names.iter().enumerate() {
            if let Some(first) = names[..i].iter().position(|n| n == name) {
                return Err(format!(
                    "column `{name}` appears twice (columns {} and {}); each column needs a name of its own",
                    first + 1,
                    i + 1
                ));
            }
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| e.to_string())?;
            rows.push(record.iter().map(|cell| (!cell.is_empty()).then(|| cell.to_owned())).collect());
        }
        Ok(Table { names, rows })
    }

    /// The table the CSV export would write for the analysis in `bytes` (`analyze --json`):
    /// with `layers`, one row per checkpoint × layer (the `--csv` columns), else one per
    /// checkpoint (the `--summary-csv` columns). Cells are written as that export writes them
    /// (serde_json's shortest round-trip numbers, nulls empty), so the tables are equal.
    pub fn from_analysis_json(bytes: &[u8], layers: bool) -> Result<Table, String> {
        use serde_json::{Map, Value};
        let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let checkpoints =
            value.get("checkpoints").and_then(Value::as_array).ok_or("no `checkpoints` array at the top level")?;
        // The export's row: the report's own scalar fields (checkpoint, run, step, …) in
        // order, then the summary or one layer; `metadata` is not a column.
        const NESTED: [&str; 3] = ["metadata", "summary", "layers"];
        let mut rows: Vec<Map<String, Value>> = Vec::new();
        for (i, report) in checkpoints.iter().enumerate() {
            let report = report.as_object().ok_or_else(|| format!("checkpoints[{i}] is not an object"))?;
            let head: Map<String, Value> = report
                .iter()
                .filter(|(k, _)| !NESTED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let object = |key: &str, v: &Value| {
                v.as_object().cloned().ok_or_else(|| format!("checkpoints[{i}].{key} is not an object"))
            };
            if layers {
                let list = report
                    .get("layers")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("checkpoints[{i}] has no `layers` array"))?;
                for layer in list {
                    let mut row = head.clone();
                    row.extend(object("layers[]", layer)?);
                    rows.push(row);
                }
            } else {
                let summary = report.get("summary").ok_or_else(|| format!("checkpoints[{i}] has no `summary`"))?;
                let mut row = head;
                row.extend(object("summary", summary)?);
                rows.push(row);
            }
        }
        let cell = |value: &Value| match value {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        let names: Vec<String> = rows.first().map(|row| row.keys().cloned().collect()).unwrap_or_default();
        let rows = rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                if row.len() != names.len() || row.keys().zip(&names).any(|(a, b)| a != b) {
                    return Err(format!("row {r} has other fields than the first row"));
                }
                Ok(row.values().map(cell).collect())
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Table { names, rows })
    }

    /// Reads every input (`.csv` and `.json` from `analyze` as they are, anything else
    /// analyzed), keeps the rows of `layer` when given, and concatenates them. Returns the
    /// table and the checkpoints or layers that could not be analyzed (the rest are in it).
    pub fn load(
        paths: &[PathBuf],
        layer: Option<&str>,
        options: &AnalyzeOptions,
        progress: Option<&(dyn Fn(AnalyzeEvent) + Sync)>,
    ) -> Result<(Table, Vec<Failure>), TableError> {
        let mut table: Option<Table> = None;
        let mut failed = Vec::new();
        let extension = |p: &PathBuf| p.extension().map(|e| e.to_ascii_lowercase());
        let (tables, others): (Vec<&PathBuf>, Vec<&PathBuf>) =
            paths.iter().partition(|p| extension(p).is_some_and(|e| e == "csv" || e == "json"));
        let mut parts: Vec<(PathBuf, Table)> = Vec::new();
        for path in tables {
            let bytes = std::fs::read(path).map_err(|source| TableError::Read { path: path.clone(), source })?;
            let part = if extension(path).is_some_and(|e| e == "json") {
                Table::from_analysis_json(&bytes, layer.is_some())
                    .map_err(|message| TableError::Json { path: path.clone(), message })?
            } else {
                Table::from_csv(&bytes).map_err(|message| TableError::Csv { path: path.clone(), message })?
            };
            parts.push((path.clone(), part));
        }
        if !others.is_empty() {
            let others: Vec<PathBuf> = others.into_iter().cloned().collect();
            let mut analysis = analyze_paths(&others, options, progress);
            failed.append(&mut analysis.failures);
            let bytes = if layer.is_some() {
                crate::export::layers_csv(&analysis)
            } else {
                crate::export::summary_csv(&analysis)
            };
            let path = others[0].clone();
            let part =
                Table::from_csv(&bytes).map_err(|message| TableError::Analyze { path: path.clone(), message })?;
            parts.push((path, part));
        }
        for (path, part) in parts {
            match &mut table {
                None => table = Some(part),
                Some(t) => t.append(part).map_err(|_| TableError::Columns { path })?,
            }
        }
        let mut table = table.ok_or(TableError::Empty)?;
        if let Some(layer) = layer {
            let index = table.index(Self::LAYER).ok_or(TableError::NoLayerColumn)?;
            table.rows.retain(|row| row[index].as_deref() == Some(layer));
        }
        Ok((table, failed))
    }

    const LAYER: &'static str = "layer";

    /// A table of named columns of cells (`None`: empty), as a data frame holds them; every
    /// column must have as many cells as the first, and names must differ.
    pub fn from_columns(columns: Vec<(String, Vec<Option<String>>)>) -> Result<Table, String> {
        let rows = columns.first().map_or(0, |(_, cells)| cells.len());
        for (i, (name, cells)) in columns.iter().enumerate() {
            if columns[..i].iter().any(|(n, _)| n == name) {
                return Err(format!("column `{name}` appears twice; each column needs a name of its own"));
            }
            if cells.len() != rows {
                return Err(format!("column `{name}` has {} values, the first column {rows}", cells.len()));
            }
        }
        let names = columns.iter().map(|(name, _)| name.clone()).collect();
        let mut table_rows = vec![Vec::with_capacity(columns.len()); rows];
        for (_, cells) in columns {
            for (row, cell) in table_rows.iter_mut().zip(cells) {
                row.push(cell);
            }
        }
        Ok(Table { names, rows: table_rows })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Adds `other`'s rows below these; refused (and `other` handed back) unless its columns
    /// are these, in this order.
    pub fn append(&mut self, other: Table) -> Result<(), Table> {
        if other.names != self.names {
            return Err(other);
        }
        self.rows.extend(other.rows);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    pub fn column_str(&self, name: &str) -> Option<Vec<Option<String>>> {
        let index = self.index(name)?;
        Some(self.rows.iter().map(|row| row[index].clone()).collect())
    }

    /// The cells of column `name` that are not empty and do not parse as numbers (which
    /// [`column_f64`](Self::column_f64) reads as null), with their row numbers counted from 1.
    pub fn unparsed(&self, name: &str) -> Vec<(usize, &str)> {
        let Some(index) = self.index(name) else { return Vec::new() };
        (self.rows.iter().enumerate())
            .filter_map(|(r, row)| row[index].as_deref().filter(|c| c.parse::<f64>().is_err()).map(|c| (r + 1, c)))
            .collect()
    }

    /// For each of the numeric columns `names` (in order, each once), one line counting the cells
    /// that are not numbers and so count as missing, with the first of them.
    pub fn unparsed_warnings<S: AsRef<str>>(&self, names: &[S]) -> Vec<String> {
        let mut seen = Vec::new();
        names
            .iter()
            .map(AsRef::as_ref)
            .filter(|name| {
                !seen.contains(name) && {
                    seen.push(*name);
                    true
                }
            })
            .filter_map(|name| {
                let bad = self.unparsed(name);
                let (row, cell) = bad.first()?;
                Some(format!(
                    "column `{name}`: {} cell{} not a number and count{} as missing (first: row {row}, {cell:?})",
                    bad.len(),
                    if bad.len() == 1 { " is" } else { "s are" },
                    if bad.len() == 1 { "s" } else { "" },
                ))
            })
            .collect()
    }

    /// Cells that do not parse as numbers are null (see [`unparsed`](Self::unparsed)).
    pub fn column_f64(&self, name: &str) -> Option<Vec<Option<f64>>> {
        let index = self.index(name)?;
        Some(self.rows.iter().map(|row| row[index].as_deref().and_then(|c| c.parse().ok())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_make_the_table_their_csv_makes() {
        let cell = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let columns = vec![
            ("checkpoint".to_string(), vec![cell("a"), cell("b")]),
            ("accuracy".to_string(), vec![cell("0.9"), cell("")]),
        ];
        let table = Table::from_columns(columns.clone()).unwrap();
        assert_eq!(table, Table::from_csv(b"checkpoint,accuracy\na,0.9\nb,\n").unwrap());
        assert_eq!(table.column_f64("accuracy"), Some(vec![Some(0.9), None]));
        let mut twice = columns.clone();
        twice.push(("accuracy".to_string(), vec![None, None]));
        assert!(Table::from_columns(twice).unwrap_err().contains("`accuracy` appears twice"));
        let mut short = columns;
        short.push(("density".to_string(), vec![None]));
        assert!(Table::from_columns(short).unwrap_err().contains("`density` has 1 values, the first column 2"));
        assert!(Table::from_columns(Vec::new()).unwrap().is_empty());
    }
}

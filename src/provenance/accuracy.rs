//! `--accuracy FILE.csv`: a `checkpoint,accuracy` table. A checkpoint matches a row whose
//! `checkpoint` is its path as given, its path relative to the sweep root, or its file name.

use super::as_fraction;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AccuracyError {
    #[error("{}: cannot read the accuracy table: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: line {line}: {reason}; expected a CSV with columns checkpoint,accuracy", path.display())]
    Format { path: PathBuf, line: u64, reason: String },
}

#[derive(Debug, Clone, Default)]
pub struct AccuracyTable {
    by_key: HashMap<String, f64>,
}

impl AccuracyTable {
    pub fn read(path: &Path) -> Result<AccuracyTable, AccuracyError> {
        let bytes = std::fs::read(path).map_err(|source| AccuracyError::Io { path: path.to_path_buf(), source })?;
        AccuracyTable::parse(&bytes).map_err(|(line, reason)| AccuracyError::Format {
            path: path.to_path_buf(),
            line,
            reason,
        })
    }

    /// Parses the CSV; on error, the line number and what is wrong.
    fn parse(bytes: &[u8]) -> Result<AccuracyTable, (u64, String)> {
        let mut reader = csv::Reader::from_reader(bytes);
        let header = reader.headers().map_err(|e| (1, e.to_string()))?.clone();
        let column = |name: &str| header.iter().position(|h| h.trim() == name);
        let (Some(c), Some(a)) = (column("checkpoint"), column("accuracy")) else {
            return Err((1, format!("the header is {:?}", header.iter().collect::<Vec<_>>())));
        };
        let mut by_key = HashMap::new();
        for (i, record) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let record = record.map_err(|e| (line, e.to_string()))?;
            let (Some(name), Some(value)) = (record.get(c), record.get(a)) else {
                return Err((line, "missing a column".into()));
            };
            let value: f64 = value.trim().parse().map_err(|_| (line, format!("accuracy {value:?} is not a number")))?;
            if !value.is_finite() || value < 0.0 {
                return Err((line, format!("accuracy {value} is not a fraction or a percentage")));
            }
            by_key.insert(name.trim().to_string(), as_fraction(value));
        }
        Ok(AccuracyTable { by_key })
    }

    pub fn lookup(&self, path: &Path, root: &Path) -> Option<f64> {
        let relative = path.strip_prefix(root).ok().map(|p| p.to_string_lossy().into_owned());
        let candidates = [
            Some(path.to_string_lossy().into_owned()),
            relative,
            path.file_name().map(|n| n.to_string_lossy().into_owned()),
        ];
        candidates.into_iter().flatten().find_map(|key| self.by_key.get(&key).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_by_path_relative_path_or_file_name_and_reads_percentages() {
        let table =
            AccuracyTable::parse(b"checkpoint,accuracy\nruns/a/step_1.pt,91.5\nb/x.safetensors,0.5\nz.npz,0.25\n")
                .unwrap();
        let root = Path::new("runs");
        assert_eq!(table.lookup(Path::new("runs/a/step_1.pt"), root), Some(0.915));
        assert_eq!(table.lookup(Path::new("runs/b/x.safetensors"), root), Some(0.5));
        assert_eq!(table.lookup(Path::new("runs/c/z.npz"), root), Some(0.25));
        assert_eq!(table.lookup(Path::new("runs/c/other.npz"), root), None);
    }

    #[test]
    fn a_bad_table_names_the_line() {
        assert_eq!(AccuracyTable::parse(b"checkpoint,accuracy\na.pt,high\n").unwrap_err().0, 2);
        assert_eq!(AccuracyTable::parse(b"file,acc\na.pt,1\n").unwrap_err().0, 1);
    }
}

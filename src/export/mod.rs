//! Writing an [`Analysis`]: JSON (every field), CSV (one row per checkpoint × layer, or one per
//! checkpoint for the summary) and the readable table on stdout. One serde struct per row kind
//! defines the columns, so JSON and CSV never drift; formats return bytes and are tested
//! without touching the disk. Files are written atomically by the caller.

mod readable;

pub use readable::readable;

use crate::analyze::{Analysis, CheckpointReport};
use serde_json::{Map, Value};

/// A report struct (layer metrics, a summary, a correlation row) as the JSON object its
/// fields make: the cells of one row, under SPEC's names.
pub fn object<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => unreachable!("report rows serialize to objects"),
    }
}

/// The whole analysis as pretty JSON, with the tool's version.
pub fn json(analysis: &Analysis) -> Vec<u8> {
    let mut top = Map::new();
    top.insert("maskspec_version".into(), env!("CARGO_PKG_VERSION").into());
    top.extend(object(analysis));
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(top)).expect("JSON of plain data");
    bytes.push(b'\n');
    bytes
}

/// The columns every row starts with: the checkpoint and where it sits in its sweep (run,
/// step, epoch, init, accuracy and its source, family, sparsity, method, layout, seed).
fn checkpoint_columns(report: &CheckpointReport) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("checkpoint".into(), report.checkpoint.clone().into());
    row.extend(object(&report.info));
    row
}

/// One row per checkpoint × layer: the checkpoint columns, then every layer field (SPEC names).
/// The rows of [`layers_csv`], for callers that build their own tables (the Python package).
pub fn layer_rows(analysis: &Analysis) -> Vec<Map<String, Value>> {
    analysis
        .checkpoints
        .iter()
        .flat_map(|c| {
            c.layers.iter().map(move |layer| {
                let mut row = checkpoint_columns(c);
                row.extend(object(layer));
                row
            })
        })
        .collect()
}

/// One row per checkpoint: the checkpoint columns, then each summary field and its
/// `FIELD_layers` count. The rows of [`summary_csv`].
pub fn summary_rows(analysis: &Analysis) -> Vec<Map<String, Value>> {
    analysis
        .checkpoints
        .iter()
        .map(|c| {
            let mut row = checkpoint_columns(c);
            row.extend(object(&c.summary));
            row
        })
        .collect()
}

/// [`layer_rows`] as CSV.
pub fn layers_csv(analysis: &Analysis) -> Vec<u8> {
    csv(layer_rows(analysis))
}

/// [`summary_rows`] as CSV.
pub fn summary_csv(analysis: &Analysis) -> Vec<u8> {
    csv(summary_rows(analysis))
}

/// CSV with the first row's keys as the header. Nulls are empty cells, so pandas reads them
/// as NaN; numbers keep every digit serde_json prints (shortest round-trip form).
fn csv(rows: Vec<Map<String, Value>>) -> Vec<u8> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let mut header_written = false;
    for row in rows {
        if !header_written {
            writer.write_record(row.keys()).expect("writing to memory");
            header_written = true;
        }
        writer.write_record(row.values().map(cell)).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze_file, AnalyzeOptions};

    fn analysis() -> Analysis {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/collapsed.safetensors");
        let (report, failures) = analyze_file(&path, &AnalyzeOptions::default());
        assert!(failures.is_empty());
        Analysis { checkpoints: vec![report.unwrap()], ..Default::default() }
    }

    #[test]
    fn csv_has_one_row_per_layer_with_nulls_empty() {
        let text = String::from_utf8(layers_csv(&analysis())).unwrap();
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert_eq!(&header[0], "checkpoint");
        assert!(header.iter().any(|h| h == "ramanujan_gap_imdb"));
        let rows: Vec<_> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let dead = rows.iter().find(|r| &r[col("layer")] == "dead.weight").unwrap();
        assert_eq!(&dead[col("collapsed")], "true");
        assert_eq!(&dead[col("mu0")], "");
    }

    #[test]
    fn summary_csv_has_counts_beside_means() {
        let text = String::from_utf8(summary_csv(&analysis())).unwrap();
        let header = text.lines().next().unwrap();
        assert!(header.contains("weighted_gap,weighted_gap_layers"));
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn json_carries_version_and_every_layer() {
        let value: Value = serde_json::from_slice(&json(&analysis())).unwrap();
        assert_eq!(value["maskspec_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(value["checkpoints"][0]["layers"].as_array().unwrap().len(), 2);
        assert_eq!(value["checkpoints"][0]["summary"]["collapsed_layers"], 1);
    }
}

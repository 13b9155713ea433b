//! Tables for `correlate` and `plot`: analyze's JSON gives the same table as its CSVs and as
//! the checkpoints themselves; and which rows of a table become points of each figure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use maskspec::analyze::{analyze_paths, AnalyzeOptions};
use maskspec::checkpoint::safetensors::{write, TensorBytes};
use maskspec::plot::{
    evolution_from_table, heatmap_from_table, scatter_from_table, Checkpoints, EvolutionSpec, HeatmapSpec, ImageFormat,
    PlotError, ScatterSpec,
};
use maskspec::table::{Table, TableError};

use crate::seeded::stream;

/// Two runs × two checkpoints of two layers; the run name has a comma and a quote (CSV
/// quoting), one checkpoint has no accuracy (an empty cell), one layer is below the
/// Ramanujan gate (null gaps), and one file has no metadata at all (null run, step, …).
fn make_sweep(root: &Path) -> PathBuf {
    let runs = root.join("runs");
    for (r, run) in ["plain", "with, \"quotes\""].iter().enumerate() {
        let dir = runs.join(format!("r{r}"));
        std::fs::create_dir_all(&dir).unwrap();
        for step in [0, 50] {
            let mut next = stream(r as u64 * 7 + step + 1);
            let mut layer = |rows: usize, cols: usize, keep: f64| {
                let w: Vec<f32> =
                    (0..rows * cols).map(|_| if next() < keep { (next() - 0.5) as f32 } else { 0.0 }).collect();
                TensorBytes::f32(vec![rows, cols], &w)
            };
            let tensors =
                vec![("a.weight".to_string(), layer(30, 40, 0.4)), ("b.weight".to_string(), layer(8, 8, 0.2))];
            let mut metadata = BTreeMap::from([
                ("run".to_string(), run.to_string()),
                ("step".to_string(), step.to_string()),
                ("sparsity".to_string(), "0.6".to_string()),
                ("note".to_string(), "metadata is not a column".to_string()),
            ]);
            if !(r == 1 && step == 50) {
                metadata.insert("test_acc".into(), format!("{}", 0.5 + 0.001 * step as f64 + 0.1 * r as f64));
            }
            write(&dir.join(format!("step_{step}.safetensors")), &tensors, &metadata).unwrap();
        }
    }
    let w: Vec<f32> = (0..20 * 20).map(|i| if i % 3 == 0 { 1.0 } else { 0.0 }).collect();
    let tensors = vec![("a.weight".to_string(), TensorBytes::f32(vec![20, 20], &w))];
    write(&runs.join("loose.safetensors"), &tensors, &BTreeMap::new()).unwrap();
    runs
}

#[test]
fn analyze_json_gives_the_table_of_its_csvs_and_of_the_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let runs = make_sweep(dir.path());
    let analysis = analyze_paths(std::slice::from_ref(&runs), &AnalyzeOptions::default(), None);
    assert!(analysis.failures.is_empty(), "{:?}", analysis.failures);
    let files = [
        ("analysis.json", maskspec::export::json(&analysis)),
        ("summary.csv", maskspec::export::summary_csv(&analysis)),
        ("layers.csv", maskspec::export::layers_csv(&analysis)),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let load = |path: &str, layer: Option<&str>| {
        let path = if path == "runs" { runs.clone() } else { dir.path().join(path) };
        let (table, failed) = Table::load(&[path], layer, &AnalyzeOptions::default(), None).unwrap();
        assert!(failed.is_empty(), "{failed:?}");
        table
    };

    let summary = load("summary.csv", None);
    assert_eq!(summary.len(), 5);
    assert_eq!(load("analysis.json", None), summary);
    assert_eq!(load("runs", None), summary);
    // The values the comparison rests on are really there: nulls, quoting, numbers.
    let accuracy = summary.column_f64("accuracy").unwrap();
    assert_eq!(accuracy.iter().filter(|a| a.is_none()).count(), 2, "{accuracy:?}");
    let run = summary.column_str("run").unwrap();
    assert!(run.contains(&Some("with, \"quotes\"".to_string())) && run.contains(&None), "{run:?}");
    assert!(!summary.names().iter().any(|n| n == "note" || n == "metadata"));
    assert!(summary.column_f64("ramanujan_gap").unwrap().iter().all(Option::is_some));

    for layer in ["a.weight", "b.weight"] {
        let rows = load("layers.csv", Some(layer));
        assert_eq!(rows.len(), if layer == "a.weight" { 5 } else { 4 });
        assert_eq!(load("analysis.json", Some(layer)), rows, "{layer}");
        assert_eq!(load("runs", Some(layer)), rows, "{layer}");
    }
    // Below the gate: the 8×8 layer at 20% has null Ramanujan gaps, read as empty cells.
    let below = load("analysis.json", Some("b.weight"));
    assert!(below.column_f64("ramanujan_gap").unwrap().iter().all(Option::is_none));
    assert!(below.column_f64("mu0").unwrap().iter().all(Option::is_some));

    // A JSON that is not analyze's is refused with the file named.
    std::fs::write(dir.path().join("other.json"), r#"{"runs": []}"#).unwrap();
    let err = Table::load(&[dir.path().join("other.json")], None, &AnalyzeOptions::default(), None).unwrap_err();
    assert!(matches!(err, TableError::Json { .. }) && err.to_string().contains("other.json"), "{err}");
}

fn table(csv: &str) -> Table {
    Table::from_csv(csv.as_bytes()).unwrap()
}

/// Run a: steps 0, 100, 200; run b: an init row without a step, then 50; run c: its init row
/// is at step 100, after a row at step 50; run d has no initial checkpoint; one row has no run.
const SWEEP: &str = "\
run,step,init,sparsity,accuracy,x,y
a,0,true,0.5,0.1,0,0
a,100,false,0.5,0.6,1,0.5
a,200,false,0.5,0.8,2,1
b,,true,0.9,0.1,0,1
b,50,false,0.9,0.7,3,0
c,50,false,0.75,0.2,5,5
c,100,true,0.75,0.3,1,1
c,300,false,0.75,0.9,1,4
d,10,false,,0.5,4,4
d,20,false,,,4,2
,,false,0.5,0.4,2,3
";

#[test]
fn the_last_checkpoint_of_each_run_is_the_point_unless_all_are_asked_for() {
    let t = table(SWEEP);
    let spec = HeatmapSpec { panels: vec![("x".into(), "y".into())], ..Default::default() };
    let last = heatmap_from_table(&t, &spec, ImageFormat::Png).unwrap();
    // a@200, b@50, c@300, d@20 (no accuracy: skipped), and the row without a run.
    assert_eq!((last.rows, last.points), (5, 4));
    assert_eq!(last.skipped, vec![("a null x, y or accuracy".to_string(), 1)]);
    assert_eq!(last.skipped_message().unwrap(), "skipped rows (of 5): 1 with a null x, y or accuracy");
    assert!(last.notes[0].contains("each of 4 runs: 5 of 11 rows"), "{:?}", last.notes);

    let all = heatmap_from_table(&t, &HeatmapSpec { checkpoints: Checkpoints::All, ..spec.clone() }, ImageFormat::Png)
        .unwrap();
    assert_eq!((all.rows, all.points), (11, 10));
    assert!(all.notes.is_empty());

    // Without run/step columns every row is a point.
    let plain = table("accuracy,x,y\n0.1,0,0\n0.2,1,0\n0.3,0,1\n");
    let rendered = heatmap_from_table(&plain, &spec, ImageFormat::Png).unwrap();
    assert_eq!((rendered.rows, rendered.points, rendered.skipped.len()), (3, 3, 0));
    assert_eq!(rendered.skipped_message(), None);
}

#[test]
fn missing_columns_and_too_few_points_are_errors_that_say_so() {
    let t = table(SWEEP);
    let spec = HeatmapSpec { panels: vec![("x".into(), "nope".into())], ..Default::default() };
    match heatmap_from_table(&t, &spec, ImageFormat::Png).unwrap_err() {
        PlotError::MissingColumn { column, columns } => {
            assert_eq!(column, "nope");
            assert_eq!(columns, "run, step, init, sparsity, accuracy, x, y");
        }
        other => panic!("{other}"),
    }
    let two = table("accuracy,x,y\n0.1,0,0\n0.2,1,0\n,0,1\n");
    let spec = HeatmapSpec { panels: vec![("x".into(), "y".into())], ..Default::default() };
    let err = heatmap_from_table(&two, &spec, ImageFormat::Png).unwrap_err();
    assert_eq!(
        err.to_string(),
        "heatmap over (x, y): 2 of 3 rows have a value in each of x, y and accuracy; it needs at least 3"
    );
    let err = scatter_from_table(&table("accuracy,x\n,1\n"), &ScatterSpec::new("x"), ImageFormat::Png).unwrap_err();
    assert!(matches!(err, PlotError::TooFewPoints { usable: 0, rows: 1, .. }), "{err}");
    let err =
        evolution_from_table(&table("step,x,y\n1,2,3\n"), &EvolutionSpec::default(), ImageFormat::Png).unwrap_err();
    assert!(err.to_string().contains("no column `ramanujan_gap_imdb`"), "{err}");
}

#[test]
fn scatter_groups_by_sparsity_in_numeric_order() {
    let t = table(SWEEP);
    let spec = ScatterSpec { checkpoints: Checkpoints::All, ..ScatterSpec::new("x") };
    let rendered = scatter_from_table(&t, &spec, ImageFormat::Svg).unwrap();
    assert_eq!((rendered.rows, rendered.points), (11, 10));
    let svg = String::from_utf8(rendered.bytes).unwrap();
    let at = |label: &str| svg.find(label).unwrap_or_else(|| panic!("no {label}"));
    // Legend order: 0.5, 0.75, 0.9, then the rows without a sparsity.
    assert!(at("sparsity = 0.5: ") < at("sparsity = 0.75: "));
    assert!(at("sparsity = 0.75: ") < at("sparsity = 0.9: "));
    assert!(at("sparsity = 0.9: ") < at("sparsity = none: "));
    // --by a text column; n counts each group's points.
    let spec = ScatterSpec { by: Some("run".into()), checkpoints: Checkpoints::All, ..ScatterSpec::new("x") };
    let svg = String::from_utf8(scatter_from_table(&t, &spec, ImageFormat::Svg).unwrap().bytes).unwrap();
    assert!(svg.contains("run = a: r = ") && svg.contains("n = 3"), "{svg}");
}

#[test]
fn evolution_measures_from_each_runs_initial_checkpoint() {
    let t = table(SWEEP);
    let spec = EvolutionSpec { x: "x".into(), y: "y".into(), ..Default::default() };
    let rendered = evolution_from_table(&t, &spec, ImageFormat::Svg).unwrap();
    // c@50 comes before c's initial checkpoint; the row without a run has no step.
    assert_eq!(
        rendered.skipped,
        vec![("no step (and not init)".to_string(), 1), ("a step before the run's initial checkpoint".to_string(), 1)]
    );
    assert_eq!(rendered.points, 9);
    assert_eq!(rendered.notes, vec!["run d has no initial checkpoint with x and y: its distances are from step 10"]);
    let svg = String::from_utf8(rendered.bytes).unwrap();
    for run in ["a", "b", "c", "d"] {
        assert!(svg.contains(&format!(">\n{run}\n<")), "legend names run {run}");
    }
}

use crate::analyze::Analysis;
use crate::metrics::LayerMetrics;
use std::fmt::Write;

/// Reads one column's value from a layer.
type Column = fn(&LayerMetrics) -> Option<f64>;

/// The columns a person scans first; `--json` / `--csv` carry every field.
const COLUMNS: &[(&str, Column)] = &[
    ("density", |m| Some(m.density)),
    ("d_in", |m| m.d_in),
    ("d_out", |m| m.d_out),
    ("mu0", |m| m.mu0),
    ("mu_hat", |m| m.mu_hat),
    ("Δr", |m| m.ramanujan_gap),
    ("λ", |m| m.weighted_gap),
    ("Δr_imdb", |m| m.nested.ramanujan_gap_imdb),
    ("λ_imsg", |m| m.nested.weighted_gap_imsg),
];

fn number(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) => format!("{v:.3e}"),
        Some(v) => format!("{v:.4}"),
    }
}

/// A readable table per checkpoint: one line per layer, then the checkpoint's means.
pub fn readable(analysis: &Analysis) -> String {
    let mut out = String::new();
    for report in &analysis.checkpoints {
        let _ = writeln!(out, "{}", report.checkpoint);
        let name_width = report.layers.iter().map(|l| l.layer.chars().count()).max().unwrap_or(5).max(5);
        let shape_width = report.layers.iter().map(|l| l.shape.len()).max().unwrap_or(5).max(5);
        let _ = write!(out, "  {:<name_width$}  {:<shape_width$}", "layer", "shape");
        for (title, _) in COLUMNS {
            let _ = write!(out, "  {title:>10}");
        }
        out.push('\n');
        for layer in &report.layers {
            let _ = write!(out, "  {:<name_width$}  {:<shape_width$}", layer.layer, layer.shape);
            if layer.collapsed {
                out.push_str("  collapsed: no edges left\n");
                continue;
            }
            for (_, value) in COLUMNS {
                let _ = write!(out, "  {:>10}", number(value(layer)));
            }
            out.push('\n');
        }
        let s = &report.summary;
        let _ = writeln!(
            out,
            "  mean over layers: Δr = {} ({} layers), λ = {}, Δr_imdb = {}, λ_imsg = {}\n",
            number(s.get("ramanujan_gap")),
            s.means.iter().find(|m| m.0 == "ramanujan_gap").map_or(0, |m| m.2),
            number(s.get("weighted_gap")),
            number(s.get("ramanujan_gap_imdb")),
            number(s.get("weighted_gap_imsg")),
        );
    }
    out
}

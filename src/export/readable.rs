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
    ("mu_hat", |m| m.mu_hat.map(|s| zero_to_rounding(s, m.mu0))),
    ("Δr", |m| m.ramanujan_gap),
    ("λ", |m| m.weighted_gap),
    ("Δr_imdb", |m| m.nested.ramanujan_gap_imdb),
    ("λ_imsg", |m| m.nested.weighted_gap_imsg),
];

/// σ2 as 0 where it is zero to rounding beside σ1 (a dense or rank-one layer's is 1e-31, not a
/// number a reader should see).
fn zero_to_rounding(sigma2: f64, sigma1: Option<f64>) -> f64 {
    if sigma2.abs() <= 1e-12 * sigma1.unwrap_or(0.0) {
        0.0
    } else {
        sigma2
    }
}

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
        let _ = write!(out, "  {:<name_width$}  {:<shape_width$}  {:>10}", "layer", "shape", "edges");
        for (title, _) in COLUMNS {
            let _ = write!(out, "  {title:>10}");
        }
        out.push('\n');
        for layer in &report.layers {
            let _ = write!(out, "  {:<name_width$}  {:<shape_width$}  {:>10}", layer.layer, layer.shape, layer.edges);
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

#[cfg(test)]
mod tests {
    use super::{number, zero_to_rounding};

    #[test]
    fn a_sigma2_zero_to_rounding_prints_as_zero() {
        assert_eq!(number(Some(zero_to_rounding(2.4e-31, Some(16.97)))), "0.0000");
        assert_eq!(number(Some(zero_to_rounding(2.4e-5, Some(16.97)))), "2.400e-5");
        assert_eq!(number(Some(zero_to_rounding(1e-20, None))), "1.000e-20");
    }
}

//! `report.md` and a self-contained `report.html` (figures embedded as data URIs) from one
//! list of blocks, so the two never say different things.

use std::fmt::Write as _;

use base64::Engine as _;

use super::aggregate::AccuracyRow;
use super::figures::{Figure, SkippedFigure};
use crate::stats::{CorrelationRow, ALL_GROUP};

/// A piece of the report.
#[derive(Debug, Clone)]
pub enum Block<'a> {
    Heading(String),
    Paragraph(String),
    List(Vec<String>),
    Table { header: Vec<String>, rows: Vec<Vec<String>> },
    Code(String),
    Figure(&'a Figure),
}

/// Wall seconds of each phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// Training and analysis of the runs in this invocation (they interleave, in parallel).
    pub runs_wall: f64,
    /// Training time summed over all finished runs, whenever they ran.
    pub training_sum: f64,
    /// Analysis time summed over all finished runs.
    pub analysis_sum: f64,
    pub tables: f64,
    pub correlations: f64,
    pub figures: f64,
    pub total: f64,
}

impl Timings {
    pub fn rows(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("runs: training and analysis, wall (this invocation)", self.runs_wall),
            ("training, summed over runs (one thread each)", self.training_sum),
            ("analysis, summed over runs", self.analysis_sum),
            ("tables", self.tables),
            ("correlations", self.correlations),
            ("figures", self.figures),
            ("total, wall (this invocation)", self.total),
        ]
    }

    pub fn csv(&self) -> Vec<u8> {
        let mut out = String::from("phase,seconds\n");
        for (phase, seconds) in self.rows() {
            let _ = writeln!(out, "\"{phase}\",{seconds:.3}");
        }
        out.into_bytes()
    }
}

/// Everything the report shows.
pub struct ReportInput<'a> {
    pub config_toml: &'a str,
    pub planned: usize,
    pub finished: usize,
    pub missing: &'a [String],
    pub failed_layers: usize,
    pub accuracy: &'a [AccuracyRow],
    pub correlations: &'a [CorrelationRow],
    /// Metrics whose per-group correlations are shown (the rest are in correlations.csv).
    pub highlighted: &'a [String],
    pub correlate_by: &'a str,
    pub figures: &'a [Figure],
    pub skipped: &'a [SkippedFigure],
    pub timings: &'a Timings,
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{:.2}", 100.0 * v))
}

fn fixed(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v:.3}"))
}

fn p_value(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |p| if p < 1e-3 { format!("{p:.1e}") } else { format!("{p:.3}") })
}

fn correlation_table(rows: &[&CorrelationRow], with_group: bool) -> Block<'static> {
    let mut header: Vec<String> = vec!["metric".into()];
    if with_group {
        header.push("group".into());
    }
    header.extend(
        ["n", "Pearson r", "95% CI", "p", "Spearman ρ", "p", "Kendall τ", "p", "partial r | density", "p"]
            .map(String::from),
    );
    let rows = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.metric.clone()];
            if with_group {
                cells.push(r.group.clone());
            }
            let ci = match (r.ci_low, r.ci_high) {
                (Some(lo), Some(hi)) => format!("[{lo:.3}, {hi:.3}]"),
                _ => "—".into(),
            };
            cells.extend([
                r.n.to_string(),
                fixed(r.pearson_r),
                ci,
                p_value(r.pearson_p),
                fixed(r.spearman_rho),
                p_value(r.spearman_p),
                fixed(r.kendall_tau),
                p_value(r.kendall_p),
                fixed(r.partial_r),
                p_value(r.partial_p),
            ]);
            cells
        })
        .collect();
    Block::Table { header, rows }
}

/// Points of accuracy, signed: `+0.44`.
fn points(value: f64) -> String {
    format!("{:+.2}", 100.0 * value)
}

/// Which groups beat dense, which fall below it and how many cannot be told apart, by the 95%
/// interval of the difference over seeds.
fn family_findings(accuracy: &[AccuracyRow]) -> String {
    let Some(dense) = accuracy.iter().find(|r| r.family == "dense") else {
        return "The sweep has no dense baseline to compare the families with.".into();
    };
    let layouts = accuracy.iter().any(|r| r.layout != accuracy[0].layout);
    let patterns = accuracy.iter().any(|r| r.pattern != accuracy[0].pattern);
    let name = |r: &AccuracyRow| {
        let layout = if layouts { format!(" {}", r.layout) } else { String::new() };
        let pattern = if patterns { format!(" {}", r.pattern) } else { String::new() };
        format!("{} {}{layout}{pattern} at {}", r.family, r.method, r.sparsity)
    };
    let (mut above, mut below, mut same, mut unknown) = (Vec::new(), Vec::new(), 0, 0);
    for r in accuracy.iter().filter(|r| r.family != "dense") {
        match (r.vs_dense, r.vs_dense_low, r.vs_dense_high) {
            (Some(d), Some(lo), Some(hi)) => {
                let said = format!("{} ({} points, [{}, {}])", name(r), points(d), points(lo), points(hi));
                if lo > 0.0 {
                    above.push(said);
                } else if hi < 0.0 {
                    below.push(said);
                } else {
                    same += 1;
                }
            }
            _ => unknown += 1,
        }
    }
    let mut text = format!(
        "Against dense ({}% over {} seeds), by Welch's 95% interval of the difference over seeds: ",
        match dense.accuracy_sd {
            Some(sd) => format!("{} ± {:.2}", percent(dense.accuracy_mean), 100.0 * sd),
            None => percent(dense.accuracy_mean),
        },
        dense.n
    );
    let list = |items: &[String]| if items.is_empty() { "none".to_string() } else { items.join("; ") };
    let _ = write!(text, "above dense: {}. Below dense: {}. ", list(&above), list(&below));
    let _ = write!(
        text,
        "Not distinguishable from dense (the interval holds 0): {same} of {}.",
        same + above.len() + below.len()
    );
    if unknown > 0 {
        let _ = write!(text, " {unknown} without an interval (fewer than two seeds on a side, or no spread).");
    }
    text
}

/// For each plotted metric, within which groups it predicts accuracy (the bootstrap interval
/// of r excludes 0) and whether beyond density (partial p < 0.05).
fn metric_findings(input: &ReportInput) -> Vec<String> {
    let r_text = |r: &CorrelationRow| match (r.pearson_r, r.ci_low, r.ci_high) {
        (Some(v), Some(lo), Some(hi)) => format!("r = {v:.2} [{lo:.2}, {hi:.2}]"),
        (Some(v), _, _) => format!("r = {v:.2}"),
        _ => "r undefined".into(),
    };
    input
        .highlighted
        .iter()
        .map(|metric| {
            let rows: Vec<&CorrelationRow> =
                input.correlations.iter().filter(|r| r.group != ALL_GROUP && &r.metric == metric).collect();
            let mut predicts = Vec::new();
            let mut not = Vec::new();
            for r in &rows {
                let excludes_zero = matches!((r.ci_low, r.ci_high), (Some(lo), Some(hi)) if lo > 0.0 || hi < 0.0);
                if excludes_zero {
                    let direction = if r.pearson_r.unwrap_or(0.0) > 0.0 { "higher" } else { "lower" };
                    let beyond = match (r.partial_r, r.partial_p) {
                        (Some(pr), Some(p)) if p < 0.05 => {
                            format!(", and beyond density (partial r = {pr:.2}, p = {})", p_value(Some(p)))
                        }
                        (Some(_), Some(p)) => format!(", but not beyond density (partial p = {})", p_value(Some(p))),
                        _ => String::new(),
                    };
                    predicts.push(format!(
                        "at {} {} ({direction} is better: {}{beyond})",
                        input.correlate_by,
                        r.group,
                        r_text(r)
                    ));
                } else {
                    not.push(format!("{} ({})", r.group, r_text(r)));
                }
            }
            let mut text = format!("`{metric}` predicts accuracy ");
            text.push_str(&if predicts.is_empty() { "within no group".to_string() } else { predicts.join("; ") });
            if !not.is_empty() {
                let _ = write!(text, "; not at {} {}", input.correlate_by, not.join(", "));
            }
            text.push('.');
            text
        })
        .collect()
}

/// The report's blocks in reading order.
pub fn blocks<'a>(input: &ReportInput<'a>) -> Vec<Block<'a>> {
    let mut blocks = vec![Block::Heading("maskspec sweep report".into())];
    let mut status = format!(
        "{} of {} planned runs finished; each was trained on maskspec's sparse kernels and every checkpoint \
         analyzed (SPEC §1–4). Accuracy is the test accuracy of each run's last checkpoint.",
        input.finished, input.planned
    );
    if !input.missing.is_empty() {
        let _ = write!(status, " Not finished (left out below): {}.", input.missing.join(", "));
    }
    if input.failed_layers > 0 {
        let _ = write!(
            status,
            " {} files or layers could not be analyzed (see analysis/analysis.json).",
            input.failed_layers
        );
    }
    blocks.push(Block::Paragraph(status));

    blocks.push(Block::Heading("Findings".into()));
    blocks.push(Block::Paragraph(family_findings(input.accuracy)));
    if !input.highlighted.is_empty() {
        blocks.push(Block::Paragraph(format!(
            "Within each {}, a metric predicts accuracy where the bootstrap 95% interval of Pearson's r excludes 0, \
             and beyond density where the partial correlation controlling for density has p < 0.05:",
            input.correlate_by
        )));
        blocks.push(Block::List(metric_findings(input)));
    }

    blocks.push(Block::Heading("Accuracy".into()));
    blocks.push(Block::Paragraph(
        "Test accuracy (%) over seeds: mean ± sample standard deviation, and the difference from dense in points          with Welch's 95% interval."
            .into(),
    ));
    blocks.push(Block::Table {
        header: ["family", "sparsity", "method", "layout", "pattern", "runs", "accuracy (%)", "vs dense", "95% CI"]
            .map(String::from)
            .into(),
        rows: input
            .accuracy
            .iter()
            .map(|r| {
                let value = match r.accuracy_sd {
                    Some(sd) => format!("{} ± {:.2}", percent(r.accuracy_mean), 100.0 * sd),
                    None => percent(r.accuracy_mean),
                };
                vec![
                    r.family.clone(),
                    r.sparsity.to_string(),
                    r.method.clone(),
                    r.layout.clone(),
                    r.pattern.clone(),
                    r.n.to_string(),
                    value,
                    r.vs_dense.map_or_else(|| "—".into(), points),
                    match (r.vs_dense_low, r.vs_dense_high) {
                        (Some(lo), Some(hi)) => format!("[{}, {}]", points(lo), points(hi)),
                        _ => "—".into(),
                    },
                ]
            })
            .collect(),
    });

    blocks.push(Block::Heading("Correlations with accuracy".into()));
    blocks.push(Block::Paragraph(
        "Each checkpoint-level metric against test accuracy over the sparse runs' last checkpoints (the dense \
         baseline's layers are complete bipartite graphs, an outlier in every metric, so it is left out here and \
         in the figures): Pearson r with a \
         seeded bootstrap 95% interval, Spearman ρ, Kendall τ-b, each with its two-sided p-value, and the partial \
         correlation controlling for density. A dash is an undefined statistic (its reason is in correlations.csv)."
            .into(),
    ));
    let all: Vec<&CorrelationRow> = input.correlations.iter().filter(|r| r.group == ALL_GROUP).collect();
    blocks.push(correlation_table(&all, false));
    let grouped: Vec<&CorrelationRow> =
        input.correlations.iter().filter(|r| r.group != ALL_GROUP && input.highlighted.contains(&r.metric)).collect();
    if !grouped.is_empty() {
        blocks.push(Block::Paragraph(format!(
            "Within each {} (density confounds everything across groups), for the plotted metrics:",
            input.correlate_by
        )));
        blocks.push(correlation_table(&grouped, true));
    }

    blocks.push(Block::Heading("Figures".into()));
    blocks.extend(input.figures.iter().map(Block::Figure));
    if !input.skipped.is_empty() {
        blocks.push(Block::List(input.skipped.iter().map(|s| format!("{} not drawn: {}", s.file, s.reason)).collect()));
    }

    blocks.push(Block::Heading("Timings".into()));
    blocks.push(Block::Table {
        header: vec!["phase".into(), "seconds".into()],
        rows: input.timings.rows().into_iter().map(|(p, s)| vec![p.to_string(), format!("{s:.1}")]).collect(),
    });

    blocks.push(Block::Heading("Files".into()));
    blocks.push(Block::List(
        [
            "`config.toml`: the sweep, as run (pass it to `--config` to run it again)",
            "`runs/NAME/`: each run's checkpoints (`epoch_EEEE.safetensors`), `log.csv`, `spectra.csv` (the spectra \
             at every checkpoint and mask update) and its analysis",
            "`analysis/summary.csv`, `analysis/layers.csv`, `analysis/analysis.json`: every checkpoint of every run",
            "`analysis/last.csv`: each run's last checkpoint (the rows the tables and figures use)",
            "`accuracy.csv`, `correlations.csv`, `timings.csv`, `figures/`",
        ]
        .map(String::from)
        .into(),
    ));
    blocks.push(Block::Heading("Configuration".into()));
    blocks.push(Block::Code(input.config_toml.to_string()));
    blocks
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

pub fn markdown(blocks: &[Block]) -> String {
    let mut out = String::new();
    let mut first = true;
    for block in blocks {
        match block {
            Block::Heading(text) if first => {
                let _ = writeln!(out, "# {text}\n");
            }
            Block::Heading(text) => {
                let _ = writeln!(out, "## {text}\n");
            }
            Block::Paragraph(text) => {
                let _ = writeln!(out, "{text}\n");
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {item}");
                }
                out.push('\n');
            }
            Block::Table { header, rows } => {
                let line = |cells: &[String]| {
                    format!("| {} |\n", cells.iter().map(|c| markdown_cell(c)).collect::<Vec<_>>().join(" | "))
                };
                out.push_str(&line(header));
                out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
                for row in rows {
                    out.push_str(&line(row));
                }
                out.push('\n');
            }
            Block::Code(text) => {
                let _ = writeln!(out, "```toml\n{}\n```\n", text.trim_end());
            }
            Block::Figure(figure) => {
                let _ = writeln!(out, "![{}]({})\n\n*{}*\n", figure.file, figure.file, figure.caption);
            }
        }
        first = false;
    }
    out
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `code` spans of the Markdown text as <code> elements, everything else escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:2em auto;\
padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:.9em}\
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}\
td:first-child,th:first-child{text-align:left}figure{margin:1.5em 0}img{max-width:100%;height:auto;\
border:1px solid #eee}figcaption{font-style:italic;color:#444}pre{background:#f7f7f7;padding:1em;overflow:auto}";

/// A self-contained page: the figures are embedded as base64 PNGs, nothing is fetched.
pub fn html(blocks: &[Block]) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    let title = blocks.iter().find_map(|b| if let Block::Heading(t) = b { Some(t.as_str()) } else { None });
    let _ = writeln!(out, "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>", escape(title.unwrap_or("")));
    let mut first = true;
    for block in blocks {
        match block {
            Block::Heading(text) => {
                let level = if first { 1 } else { 2 };
                let _ = writeln!(out, "<h{level}>{}</h{level}>", escape(text));
            }
            Block::Paragraph(text) => {
                let _ = writeln!(out, "<p>{}</p>", inline(text));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", inline(item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table { header, rows } => {
                out.push_str("<table>\n<thead><tr>");
                for cell in header {
                    let _ = write!(out, "<th>{}</th>", escape(cell));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for cell in row {
                        let _ = write!(out, "<td>{}</td>", escape(cell));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::Code(text) => {
                let _ = writeln!(out, "<pre><code>{}</code></pre>", escape(text.trim_end()));
            }
            Block::Figure(figure) => {
                let data = base64::engine::general_purpose::STANDARD.encode(&figure.bytes);
                let _ = writeln!(
                    out,
                    "<figure>\n<img src=\"data:image/png;base64,{data}\" alt=\"{}\"/>\n<figcaption>{}</figcaption>\n</figure>",
                    escape(&figure.file),
                    escape(&figure.caption)
                );
            }
        }
        first = false;
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_text_and_embeds_figures() {
        let figure = Figure { file: "figures/a.png".into(), caption: "x < y & \"z\"".into(), bytes: vec![1, 2, 3] };
        let blocks = [
            Block::Heading("T".into()),
            Block::Paragraph("see `a<b`".into()),
            Block::Figure(&figure),
            Block::Table { header: vec!["a|b".into()], rows: vec![vec!["<1>".into()]] },
        ];
        let html = html(&blocks);
        assert!(html.contains("<p>see <code>a&lt;b</code></p>"));
        assert!(html.contains("src=\"data:image/png;base64,AQID\""));
        assert!(html.contains("<figcaption>x &lt; y &amp; &quot;z&quot;</figcaption>"));
        assert!(html.contains("<td>&lt;1&gt;</td>"));
        let md = markdown(&blocks);
        assert!(md.starts_with("# T\n"));
        assert!(md.contains("| a\\|b |\n|---|\n| <1> |\n"));
        assert!(md.contains("![figures/a.png](figures/a.png)"));
    }

    fn row(family: &str, sparsity: f64, mean: f64, difference: Option<(f64, f64, f64)>) -> AccuracyRow {
        AccuracyRow {
            family: family.into(),
            sparsity,
            method: "static".into(),
            layout: "uniform".into(),
            pattern: "unstructured".into(),
            n: 3,
            accuracy_mean: Some(mean),
            accuracy_sd: Some(0.002),
            vs_dense: difference.map(|d| d.0),
            vs_dense_low: difference.map(|d| d.1),
            vs_dense_high: difference.map(|d| d.2),
        }
    }

    #[test]
    fn findings_name_the_groups_above_and_below_dense() {
        let accuracy = [
            row("dense", 0.0, 0.86, None),
            row("doped", 0.5, 0.865, Some((0.005, 0.001, 0.009))),
            row("wide", 0.9, 0.85, Some((-0.01, -0.014, -0.006))),
            row("parallel", 0.9, 0.861, Some((0.001, -0.003, 0.005))),
        ];
        assert_eq!(
            family_findings(&accuracy),
            "Against dense (86.00 ± 0.20% over 3 seeds), by Welch's 95% interval of the difference over seeds: \
             above dense: doped static at 0.5 (+0.50 points, [+0.10, +0.90]). Below dense: wide static at 0.9 \
             (-1.00 points, [-1.40, -0.60]). Not distinguishable from dense (the interval holds 0): 1 of 3."
        );
        assert!(family_findings(&accuracy[1..]).contains("no dense baseline"));
    }

    #[test]
    fn metric_findings_say_where_a_metric_predicts_and_whether_beyond_density() {
        let correlation = |group: &str, r: f64, ci: (f64, f64), partial_p: f64| CorrelationRow {
            metric: "ramanujan_gap".into(),
            group: group.into(),
            n: 24,
            pearson_r: Some(r),
            pearson_p: Some(0.01),
            spearman_rho: None,
            spearman_p: None,
            kendall_tau: None,
            kendall_p: None,
            ci_low: Some(ci.0),
            ci_high: Some(ci.1),
            partial_r: Some(0.6),
            partial_p: Some(partial_p),
            reason: None,
        };
        let correlations = [
            correlation(ALL_GROUP, 0.5, (0.3, 0.6), 0.01),
            correlation("0.5", 0.1, (-0.2, 0.4), 0.5),
            correlation("0.9", 0.55, (0.27, 0.75), 0.0005),
            correlation("0.75", -0.4, (-0.6, -0.1), 0.2),
        ];
        let highlighted = ["ramanujan_gap".to_string()];
        let input = ReportInput {
            config_toml: "",
            planned: 0,
            finished: 0,
            missing: &[],
            failed_layers: 0,
            accuracy: &[],
            correlations: &correlations,
            highlighted: &highlighted,
            correlate_by: "sparsity",
            figures: &[],
            skipped: &[],
            timings: &Timings::default(),
        };
        assert_eq!(
            metric_findings(&input),
            ["`ramanujan_gap` predicts accuracy at sparsity 0.9 (higher is better: r = 0.55 [0.27, 0.75], and beyond \
              density (partial r = 0.60, p = 5.0e-4)); at sparsity 0.75 (lower is better: r = -0.40 [-0.60, -0.10], \
              but not beyond density (partial p = 0.200)); not at sparsity 0.5 (r = 0.10 [-0.20, 0.40])."]
        );
    }
}

//! A metric against accuracy, one colour per group, each group's least-squares line and
//! Pearson r in the legend.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{
    self, extent, padded, palette, quietest_corner, tick_format, Figure, FAMILY, LABEL, LEGEND, TICK, TICKS, TITLE,
};
use super::labels::axis_label;
use super::PlotError;
use crate::stats;

/// The (metric, accuracy) points of one group (e.g. one sparsity or one family).
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterGroup {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// What the axes are.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterOptions {
    /// SPEC name of the metric on the x axis.
    pub x_field: String,
    pub y_label: String,
    pub title: Option<String>,
    pub size: (u32, u32),
}

impl Default for ScatterOptions {
    fn default() -> Self {
        ScatterOptions { x_field: String::new(), y_label: "accuracy".to_string(), title: None, size: (1200, 900) }
    }
}

/// Least-squares line `y = slope·x + intercept` through finite points; `None` with fewer
/// than two distinct x.
pub fn fit_line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let finite: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let n = finite.len() as f64;
    if n < 2.0 {
        return None;
    }
    let mx = finite.iter().map(|p| p.0).sum::<f64>() / n;
    let my = finite.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = finite.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = finite.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// Renders the scatter plot and writes `path` (`.png` or `.svg`).
pub fn scatter(groups: &[ScatterGroup], options: &ScatterOptions, path: &Path) -> Result<(), PlotError> {
    figure::write(&Scatter { groups, options }, path)
}

/// The figure's bytes without touching the disk.
pub fn render_scatter(
    groups: &[ScatterGroup],
    options: &ScatterOptions,
    format: figure::ImageFormat,
) -> Result<Vec<u8>, PlotError> {
    figure::render(&Scatter { groups, options }, format)
}

struct Scatter<'a> {
    groups: &'a [ScatterGroup],
    options: &'a ScatterOptions,
}

impl Figure for Scatter<'_> {
    fn size(&self) -> (u32, u32) {
        self.options.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        root.fill(&WHITE)?;
        let all = || self.groups.iter().flat_map(|g| g.points.iter());
        let what = || PlotError::Empty { what: format!("scatter of {}", self.options.x_field) };
        let (x_lo, x_hi) = extent(all().map(|p| p.0)).ok_or_else(what)?;
        let (y_lo, y_hi) = extent(all().map(|p| p.1)).ok_or_else(what)?;
        let (x0, x1) = padded(x_lo, x_hi, 0.05);
        let (y0, y1) = padded(y_lo, y_hi, 0.08);
        let title = self
            .options
            .title
            .clone()
            .unwrap_or_else(|| format!("{} against {}", self.options.y_label, axis_label(&self.options.x_field)));
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FAMILY, TITLE))
            .margin(22)
            .x_label_area_size(85)
            .y_label_area_size(115)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .x_desc(axis_label(&self.options.x_field))
            .y_desc(self.options.y_label.clone())
            .label_style((FAMILY, TICK))
            .axis_desc_style((FAMILY, LABEL))
            .x_labels(TICKS)
            .y_labels(TICKS)
            .x_label_formatter(&tick_format(x0, x1))
            .y_label_formatter(&tick_format(y0, y1))
            .draw()?;

        for (k, group) in self.groups.iter().enumerate() {
            let color = palette(k);
            let finite: Vec<(f64, f64)> =
                group.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
            let (xs, ys): (Vec<f64>, Vec<f64>) = finite.iter().copied().unzip();
            let r = match stats::pearson(&xs, &ys) {
                Ok(estimate) => format!("r = {:.2}", estimate.statistic),
                Err(_) => "r undefined".to_string(),
            };
            let label = format!("{}: {r}, n = {}", group.label, finite.len());
            chart
                .draw_series(finite.iter().map(|&p| Circle::new(p, 7, color.mix(0.85).filled())))?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 12, y), 7, color.filled()));
            if let (Some((slope, intercept)), Some((lo, hi))) = (fit_line(&finite), extent(xs.iter().copied())) {
                let line = vec![(lo, slope * lo + intercept), (hi, slope * hi + intercept)];
                chart.draw_series(LineSeries::new(line, color.stroke_width(3)))?;
            }
        }
        chart
            .configure_series_labels()
            .position(quietest_corner(&all().copied().collect::<Vec<_>>(), (x0, x1), (y0, y1)))
            .label_font((FAMILY, LEGEND))
            .legend_area_size(45)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_line_recovers_a_line_and_refuses_vertical_data() {
        let (slope, intercept) = fit_line(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (f64::NAN, 0.0)]).unwrap();
        assert!((slope - 2.0).abs() < 1e-14 && (intercept - 1.0).abs() < 1e-14);
        // Symmetric noise around y = x: slope 1, intercept 0.
        let (slope, intercept) = fit_line(&[(0.0, 0.5), (0.0, -0.5), (2.0, 2.5), (2.0, 1.5)]).unwrap();
        assert!((slope - 1.0).abs() < 1e-14 && intercept.abs() < 1e-14);
        assert_eq!(fit_line(&[(1.0, 0.0), (1.0, 2.0)]), None);
        assert_eq!(fit_line(&[(1.0, 0.0)]), None);
    }
}

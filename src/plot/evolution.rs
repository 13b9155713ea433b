//! Each run's full-spectrum coordinate over training: the trajectory in the (x, y) plane
//! with start and end marked, and the distance from the run's initial checkpoint (SPEC §4)
//! against the training step.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{
    self, extent, padded, palette, quietest_corner, tick_format, Figure, FAMILY, LABEL, LEGEND, TICK, TICKS, TITLE,
};
use super::labels::{axis_label, axis_symbol};
use super::PlotError;

/// One checkpoint of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvolutionPoint {
    pub step: f64,
    pub x: f64,
    pub y: f64,
}

/// The checkpoints of one run, in any order.
#[derive(Debug, Clone, PartialEq)]
pub struct EvolutionRun {
    pub label: String,
    pub points: Vec<EvolutionPoint>,
}

/// What the axes are.
#[derive(Debug, Clone, PartialEq)]
pub struct EvolutionOptions {
    pub x_field: String,
    pub y_field: String,
    /// The label of the distance panel's x axis (what orders the checkpoints).
    pub step_label: String,
    pub title: Option<String>,
    pub size: (u32, u32),
}

impl Default for EvolutionOptions {
    fn default() -> Self {
        EvolutionOptions {
            x_field: "ramanujan_gap_imdb".to_string(),
            y_field: "weighted_gap_imsg".to_string(),
            step_label: "training step".to_string(),
            title: None,
            size: (1900, 860),
        }
    }
}

/// The run's finite checkpoints sorted by step.
fn ordered(run: &EvolutionRun) -> Vec<EvolutionPoint> {
    let mut points: Vec<EvolutionPoint> =
        run.points.iter().copied().filter(|p| p.step.is_finite() && p.x.is_finite() && p.y.is_finite()).collect();
    points.sort_by(|a, b| a.step.total_cmp(&b.step));
    points
}

/// (step, Euclidean distance of (x, y) from the run's earliest checkpoint), by step.
pub fn distance_from_start(run: &EvolutionRun) -> Vec<(f64, f64)> {
    let points = ordered(run);
    let Some(first) = points.first().copied() else {
        return Vec::new();
    };
    points.iter().map(|p| (p.step, (p.x - first.x).hypot(p.y - first.y))).collect()
}

/// Renders the two panels and writes `path` (`.png` or `.svg`).
pub fn evolution(runs: &[EvolutionRun], options: &EvolutionOptions, path: &Path) -> Result<(), PlotError> {
    figure::write(&Evolution { runs, options }, path)
}

/// The figure's bytes without touching the disk.
pub fn render_evolution(
    runs: &[EvolutionRun],
    options: &EvolutionOptions,
    format: figure::ImageFormat,
) -> Result<Vec<u8>, PlotError> {
    figure::render(&Evolution { runs, options }, format)
}

struct Evolution<'a> {
    runs: &'a [EvolutionRun],
    options: &'a EvolutionOptions,
}

const START: RGBColor = RGBColor(255, 255, 255);

/// The polyline through `points` as separate thick segments: plotters mitres the joins of a
/// thick polyline, and where a trajectory reverses on itself (a mask flipping back and forth
/// between DST updates) the miter shoots a spike far across the axes.
fn segments(points: &[(f64, f64)], color: RGBColor) -> impl Iterator<Item = PathElement<(f64, f64)>> + '_ {
    points.windows(2).map(move |pair| PathElement::new(pair.to_vec(), color.stroke_width(3)))
}

impl Evolution<'_> {
    fn trajectories<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let runs: Vec<Vec<EvolutionPoint>> = self.runs.iter().map(ordered).collect();
        let what = || PlotError::Empty { what: "evolution".to_string() };
        let (x_lo, x_hi) = extent(runs.iter().flatten().map(|p| p.x)).ok_or_else(what)?;
        let (y_lo, y_hi) = extent(runs.iter().flatten().map(|p| p.y)).ok_or_else(what)?;
        let (x0, x1) = padded(x_lo, x_hi, 0.06);
        let (y0, y1) = padded(y_lo, y_hi, 0.06);
        let mut chart = ChartBuilder::on(area)
            .caption("trajectory (○ start, ■ end)", (FAMILY, TITLE))
            .margin(22)
            .x_label_area_size(85)
            .y_label_area_size(115)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .x_desc(axis_label(&self.options.x_field))
            .y_desc(axis_label(&self.options.y_field))
            .label_style((FAMILY, TICK))
            .axis_desc_style((FAMILY, LABEL))
            .x_labels(TICKS)
            .y_labels(TICKS)
            .x_label_formatter(&tick_format(x0, x1))
            .y_label_formatter(&tick_format(y0, y1))
            .draw()?;
        for (k, (run, points)) in self.runs.iter().zip(&runs).enumerate() {
            let color = palette(k);
            let line: Vec<(f64, f64)> = points.iter().map(|p| (p.x, p.y)).collect();
            chart
                .draw_series(segments(&line, color))?
                .label(run.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], color.stroke_width(3)));
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            if let (Some(&start), Some(&end)) = (line.first(), line.last()) {
                chart.draw_series([
                    Circle::new(start, 11, START.filled()),
                    Circle::new(start, 11, color.stroke_width(4)),
                ])?;
                chart.draw_series([EmptyElement::at(end) + Rectangle::new([(-10, -10), (10, 10)], color.filled())])?;
            }
        }
        chart
            .configure_series_labels()
            .position(quietest_corner(
                &runs.iter().flatten().map(|p| (p.x, p.y)).collect::<Vec<_>>(),
                (x0, x1),
                (y0, y1),
            ))
            .label_font((FAMILY, LEGEND))
            .legend_area_size(45)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }

    fn distances<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let curves: Vec<Vec<(f64, f64)>> = self.runs.iter().map(distance_from_start).collect();
        let what = || PlotError::Empty { what: "evolution".to_string() };
        let (s_lo, s_hi) = extent(curves.iter().flatten().map(|p| p.0)).ok_or_else(what)?;
        let (_, d_hi) = extent(curves.iter().flatten().map(|p| p.1)).ok_or_else(what)?;
        let (s0, s1) = padded(s_lo, s_hi, 0.03);
        let d1 = if d_hi > 0.0 { d_hi * 1.08 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption("distance from the run's initial checkpoint", (FAMILY, TITLE))
            .margin(22)
            .x_label_area_size(85)
            .y_label_area_size(115)
            .build_cartesian_2d(s0..s1, 0.0..d1)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .x_desc(self.options.step_label.clone())
            .y_desc(format!(
                "‖({}, {}) − start‖₂",
                axis_symbol(&self.options.x_field),
                axis_symbol(&self.options.y_field)
            ))
            .label_style((FAMILY, TICK))
            .axis_desc_style((FAMILY, LABEL))
            .x_labels(TICKS)
            .y_labels(TICKS)
            .x_label_formatter(&tick_format(s0, s1))
            .y_label_formatter(&tick_format(0.0, d1))
            .draw()?;
        for (k, curve) in curves.iter().enumerate() {
            let color = palette(k);
            chart.draw_series(segments(curve, color))?;
            chart.draw_series(curve.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        Ok(())
    }
}

impl Figure for Evolution<'_> {
    fn size(&self) -> (u32, u32) {
        self.options.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        root.fill(&WHITE)?;
        let body = match &self.options.title {
            Some(title) => root.titled(title, (FAMILY, TITLE + 4))?,
            None => root.clone(),
        };
        let halves = body.split_evenly((1, 2));
        self.trajectories(&halves[0])?;
        self.distances(&halves[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_measured_from_the_earliest_step() {
        let run = EvolutionRun {
            label: "r".into(),
            points: vec![
                EvolutionPoint { step: 200.0, x: 4.0, y: 5.0 },
                EvolutionPoint { step: 0.0, x: 1.0, y: 1.0 },
                EvolutionPoint { step: 100.0, x: 1.0, y: f64::NAN },
                EvolutionPoint { step: 100.0, x: 1.0, y: 2.0 },
            ],
        };
        assert_eq!(distance_from_start(&run), vec![(0.0, 0.0), (100.0, 1.0), (200.0, 5.0)]);
        assert!(distance_from_start(&EvolutionRun { label: "e".into(), points: vec![] }).is_empty());
    }
}

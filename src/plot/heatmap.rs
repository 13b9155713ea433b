//! Accuracy over two spectral coordinates, as in Sparse-IFT's Figure 4 (after NeurIPS 2023):
//! the linear interpolant on the Delaunay triangulation, blank outside the convex hull, the
//! checkpoints on top and their Pareto front as a line.

use std::cell::RefCell;
use std::fmt::Write;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{self, extent, padded, tick_format, Figure, FAMILY, LABEL, LEGEND, TICK, TICKS, TITLE};
use super::interpolate::{LinearInterpolator, Point};
use super::labels::{axis_label, axis_symbol};
use super::pareto::{pareto_front, Better};
use super::PlotError;

/// One panel: the checkpoints as (x, y, accuracy) and the SPEC names of the two fields.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapPanel {
    pub x_field: String,
    pub y_field: String,
    pub points: Vec<Point>,
}

/// How the heatmap looks.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapOptions {
    /// Label of the colour bar (the z values).
    pub z_label: String,
    pub title: Option<String>,
    /// Interpolation cells along each axis of a panel, in a PNG. An SVG draws each Delaunay
    /// triangle with the exact linear colour gradient instead (a few hundred bytes each).
    pub resolution: usize,
    /// Which way is better on each axis, for the Pareto front.
    pub better: (Better, Better),
    /// Pixel size of one panel (the colour bar is added to the width).
    pub panel_size: (u32, u32),
}

impl Default for HeatmapOptions {
    fn default() -> Self {
        HeatmapOptions {
            z_label: "accuracy".to_string(),
            title: None,
            resolution: 160,
            better: (Better::Larger, Better::Larger),
            panel_size: (860, 760),
        }
    }
}

/// Renders the panels side by side with a shared colour scale and writes `path` (`.png` or
/// `.svg`). The default call passes two panels: (`ramanujan_gap_imdb`, `weighted_gap_imsg`)
/// and (`ramanujan_gap`, `weighted_gap`).
pub fn heatmap(panels: &[HeatmapPanel], options: &HeatmapOptions, path: &Path) -> Result<(), PlotError> {
    figure::save(&render_heatmap(panels, options, figure::ImageFormat::from_path(path)?)?, path)
}

/// The figure's bytes without touching the disk.
pub fn render_heatmap(
    panels: &[HeatmapPanel],
    options: &HeatmapOptions,
    format: figure::ImageFormat,
) -> Result<Vec<u8>, PlotError> {
    figure::render(&prepare(panels, options, format)?, format)
}

struct Prepared<'a> {
    panels: Vec<(&'a HeatmapPanel, LinearInterpolator)>,
    z_range: (f64, f64),
    options: &'a HeatmapOptions,
    /// SVG: the field is drawn as gradient-filled triangles, which plotters cannot express;
    /// each panel draws a placeholder and leaves its SVG here to be put in its place.
    svg_fields: Option<RefCell<Vec<(String, String)>>>,
}

fn prepare<'a>(
    panels: &'a [HeatmapPanel],
    options: &'a HeatmapOptions,
    format: figure::ImageFormat,
) -> Result<Prepared<'a>, PlotError> {
    if panels.is_empty() {
        return Err(PlotError::Empty { what: "heatmap".to_string() });
    }
    let prepared =
        panels.iter().map(|p| Ok((p, LinearInterpolator::new(&p.points)?))).collect::<Result<Vec<_>, PlotError>>()?;
    let z_range = extent(prepared.iter().flat_map(|(_, i)| i.points().iter().map(|p| p.z)))
        .ok_or_else(|| PlotError::Empty { what: "heatmap".to_string() })?;
    let svg_fields = (format == figure::ImageFormat::Svg).then(|| RefCell::new(Vec::new()));
    Ok(Prepared { panels: prepared, z_range, options, svg_fields })
}

const COLORBAR_WIDTH: u32 = 240;
const FRONT: RGBColor = RGBColor(220, 20, 60);

/// Viridis in plotters is linear between these many colours at t = k/(n − 1), so SVG gradient
/// stops at those t reproduce it exactly.
const VIRIDIS_COLOURS: usize = 8;

fn hex(color: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", color.0, color.1, color.2)
}

impl Prepared<'_> {
    /// Position of z on the colour scale, in [0, 1].
    fn position(&self, z: f64) -> f64 {
        let (lo, hi) = self.z_range;
        if hi > lo {
            ((z - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.5
        }
    }

    fn shade(&self, z: f64) -> RGBColor {
        ViridisRGB.get_color(self.position(z) as f32)
    }

    /// The interpolant as SVG: each triangle filled with a linear gradient along the gradient
    /// of z (constant across it), stops at the colour map's knots, so the colours are exactly
    /// those of the interpolant with no grid. The stroke in the same paint hides the hairline
    /// seams anti-aliasing leaves between triangles.
    fn svg_field(
        &self,
        id: usize,
        interpolator: &LinearInterpolator,
        pixel: impl Fn(f64, f64) -> (i32, i32),
        solid_below: f64,
    ) -> String {
        let points = interpolator.points();
        let mut defs = String::from("<defs>\n");
        let mut shapes = String::from("<g stroke-width=\"0.7\" stroke-linejoin=\"round\">\n");
        for (k, triangle) in interpolator.triangles().iter().enumerate() {
            let v = triangle.map(|i| {
                let (x, y) = pixel(points[i].x, points[i].y);
                (x as f64, y as f64, self.position(points[i].z))
            });
            let (e1, e2) = ((v[1].0 - v[0].0, v[1].1 - v[0].1), (v[2].0 - v[0].0, v[2].1 - v[0].1));
            let det = e1.0 * e2.1 - e1.1 * e2.0;
            if det == 0.0 {
                continue; // no area left at this pixel size
            }
            let (dt1, dt2) = (v[1].2 - v[0].2, v[2].2 - v[0].2);
            let g = ((dt1 * e2.1 - dt2 * e1.1) / det, (e1.0 * dt2 - e2.0 * dt1) / det);
            let g2 = g.0 * g.0 + g.1 * g.1;
            let corners = v.iter().map(|p| format!("{},{}", p.0, p.1)).collect::<Vec<_>>().join(" ");
            let (t_lo, t_hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.2), b.max(p.2)));
            let colour = |t: f64| hex(ViridisRGB.get_color(t as f32));
            // A triangle smaller than a PNG cell gets one colour, as a cell does: a gradient
            // there costs bytes and shows nothing.
            if t_hi - t_lo < 1e-9 || g2 == 0.0 || det.abs() / 2.0 < solid_below {
                let fill = colour((v[0].2 + v[1].2 + v[2].2) / 3.0);
                let _ = writeln!(shapes, "<polygon points=\"{corners}\" fill=\"{fill}\" stroke=\"{fill}\"/>");
                continue;
            }
            // The segment over which t runs from t_lo to t_hi along the gradient.
            let at = |t: f64| (v[0].0 + g.0 * (t - v[0].2) / g2, v[0].1 + g.1 * (t - v[0].2) / g2);
            let (a, b) = (at(t_lo), at(t_hi));
            let name = format!("f{id}t{k}");
            let _ = writeln!(
                defs,
                "<linearGradient id=\"{name}\" gradientUnits=\"userSpaceOnUse\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\">",
                a.0, a.1, b.0, b.1
            );
            let knots = (1..VIRIDIS_COLOURS - 1).map(|j| j as f64 / (VIRIDIS_COLOURS - 1) as f64);
            let stops = std::iter::once(t_lo).chain(knots.filter(|t| *t > t_lo && *t < t_hi)).chain([t_hi]);
            for t in stops {
                let _ =
                    writeln!(defs, "<stop offset=\"{:.3}\" stop-color=\"{}\"/>", (t - t_lo) / (t_hi - t_lo), colour(t));
            }
            defs.push_str("</linearGradient>\n");
            let _ = writeln!(shapes, "<polygon points=\"{corners}\" fill=\"url(#{name})\" stroke=\"url(#{name})\"/>");
        }
        defs.push_str("</defs>\n");
        shapes.push_str("</g>\n");
        defs + &shapes
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &HeatmapPanel,
        interpolator: &LinearInterpolator,
    ) -> Result<(), PlotError> {
        let points = interpolator.points();
        let (x_lo, x_hi) =
            extent(points.iter().map(|p| p.x)).ok_or_else(|| PlotError::Empty { what: panel.x_field.clone() })?;
        let (y_lo, y_hi) =
            extent(points.iter().map(|p| p.y)).ok_or_else(|| PlotError::Empty { what: panel.y_field.clone() })?;
        let (x0, x1) = padded(x_lo, x_hi, 0.04);
        let (y0, y1) = padded(y_lo, y_hi, 0.04);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{} over ({}, {})",
                    self.options.z_label,
                    axis_symbol(&panel.x_field),
                    axis_symbol(&panel.y_field)
                ),
                (FAMILY, TITLE),
            )
            .margin(18)
            .x_label_area_size(85)
            .y_label_area_size(115)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(axis_label(&panel.x_field))
            .y_desc(axis_label(&panel.y_field))
            .label_style((FAMILY, TICK))
            .axis_desc_style((FAMILY, LABEL))
            .x_labels(TICKS)
            .y_labels(TICKS)
            .x_label_formatter(&tick_format(x0, x1))
            .y_label_formatter(&tick_format(y0, y1))
            .draw()?;

        if let Some(fields) = &self.svg_fields {
            let mut fields = fields.borrow_mut();
            let marker = format!("maskspec-svg-field-{}", fields.len());
            let (width, height) = chart.plotting_area().dim_in_pixel();
            let n = self.options.resolution.max(2) as f64;
            let cell = (width as f64 / n) * (height as f64 / n);
            let svg = self.svg_field(fields.len(), interpolator, |x, y| chart.backend_coord(&(x, y)), cell);
            area.draw(&Text::new(marker.clone(), (0, 0), (FAMILY, TICK).into_font()))?;
            fields.push((marker, svg));
        } else {
            self.draw_cells(&mut chart, interpolator, (x0, x1), (y0, y1))?;
        }

        let coordinates: Vec<(f64, f64)> = points.iter().map(|p| (p.x, p.y)).collect();
        let front: Vec<(f64, f64)> =
            pareto_front(&coordinates, self.options.better).into_iter().map(|i| coordinates[i]).collect();
        chart.draw_series(LineSeries::new(front.clone(), FRONT.stroke_width(4)))?;
        chart.draw_series(front.iter().map(|&p| Circle::new(p, 10, FRONT.stroke_width(3))))?;
        chart.draw_series(points.iter().map(|p| Circle::new((p.x, p.y), 6, WHITE.filled())))?;
        chart.draw_series(points.iter().map(|p| Circle::new((p.x, p.y), 6, BLACK.stroke_width(2))))?;
        Ok(())
    }

    /// Each cell is coloured by the interpolant at its centre; cells crossing the hull are cut
    /// along it (coloured at the centroid of the part inside), the rest is blank.
    fn draw_cells<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        interpolator: &LinearInterpolator,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
    ) -> Result<(), PlotError> {
        let n = self.options.resolution.max(2);
        let (dx, dy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
        let mut full = Vec::new();
        let mut cut = Vec::new();
        for j in 0..n {
            for i in 0..n {
                let (ax, ay) = (x0 + i as f64 * dx, y0 + j as f64 * dy);
                let square = [(ax, ay), (ax + dx, ay), (ax + dx, ay + dy), (ax, ay + dy)];
                if square.iter().all(|c| interpolator.hull_contains(c.0, c.1)) {
                    if let Some(z) = interpolator.value_at(ax + dx / 2.0, ay + dy / 2.0) {
                        full.push(Rectangle::new([square[0], square[2]], self.shade(z).filled()));
                    }
                    continue;
                }
                let inside = interpolator.clip_to_hull(&square);
                if inside.len() < 3 {
                    continue;
                }
                let k = inside.len() as f64;
                let centroid =
                    (inside.iter().map(|p| p.0).sum::<f64>() / k, inside.iter().map(|p| p.1).sum::<f64>() / k);
                if let Some(z) = interpolator.value_at(centroid.0, centroid.1) {
                    cut.push(Polygon::new(inside, self.shade(z).filled()));
                }
            }
        }
        chart.draw_series(full)?;
        chart.draw_series(cut)?;

        Ok(())
    }

    fn draw_colorbar<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (lo, hi) = self.z_range;
        let (lo, hi) = if hi > lo { (lo, hi) } else { padded(lo, hi, 0.0) };
        let mut chart = ChartBuilder::on(area)
            .margin_top(70)
            .margin_bottom(103)
            .margin_right(10)
            .y_label_area_size(110)
            .build_cartesian_2d(0.0..1.0, lo..hi)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(self.options.z_label.clone())
            .label_style((FAMILY, TICK))
            .axis_desc_style((FAMILY, LABEL))
            .y_labels(TICKS)
            .y_label_formatter(&tick_format(lo, hi))
            .draw()?;
        let steps = 256;
        let dz = (hi - lo) / steps as f64;
        chart.draw_series((0..steps).map(|k| {
            let z = lo + k as f64 * dz;
            Rectangle::new([(0.0, z), (1.0, z + dz)], self.shade(z + dz / 2.0).filled())
        }))?;

        // The key to the markers, below the bar, where it hides no data.
        let (_, height) = area.dim_in_pixel();
        let text = (FAMILY, LEGEND).into_text_style(area);
        let (line_y, point_y) = (height as i32 - 80, height as i32 - 40);
        area.draw(&PathElement::new(vec![(10, line_y), (50, line_y)], FRONT.stroke_width(4)))?;
        area.draw(&Text::new("Pareto front", (60, line_y - 12), text.clone()))?;
        area.draw(&Circle::new((30, point_y), 6, BLACK.stroke_width(2)))?;
        area.draw(&Text::new("checkpoint", (60, point_y - 12), text))?;
        Ok(())
    }
}

impl Figure for Prepared<'_> {
    fn svg_fragments(&self) -> Vec<(String, String)> {
        self.svg_fields.as_ref().map(|f| f.borrow().clone()).unwrap_or_default()
    }

    fn size(&self) -> (u32, u32) {
        let (w, h) = self.options.panel_size;
        (w * self.panels.len() as u32 + COLORBAR_WIDTH, h + if self.options.title.is_some() { 60 } else { 0 })
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        root.fill(&WHITE)?;
        let body = match &self.options.title {
            Some(title) => root.titled(title, (FAMILY, TITLE + 4))?,
            None => root.clone(),
        };
        let (panel_width, _) = self.options.panel_size;
        let (panels, bar) = body.split_horizontally(panel_width * self.panels.len() as u32);
        for ((panel, interpolator), area) in self.panels.iter().zip(panels.split_evenly((1, self.panels.len()))) {
            self.draw_panel(&area, panel, interpolator)?;
        }
        self.draw_colorbar(&bar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One triangle in pixel space where z = x/100: the gradient must run along x from 0 to
    /// 100 with a stop at each knot of the colour map.
    #[test]
    fn svg_triangle_gradient_follows_the_interpolant() {
        let points = vec![
            Point { x: 0.0, y: 0.0, z: 0.0 },
            Point { x: 100.0, y: 0.0, z: 1.0 },
            Point { x: 0.0, y: 100.0, z: 0.0 },
        ];
        let panel = HeatmapPanel { x_field: "a".into(), y_field: "b".into(), points };
        let options = HeatmapOptions::default();
        let prepared = prepare(std::slice::from_ref(&panel), &options, figure::ImageFormat::Svg).unwrap();
        let svg = prepared.svg_field(0, &prepared.panels[0].1, |x, y| (x as i32, y as i32), 0.0);
        assert!(svg.contains(r#"x1="0.0" y1="0.0" x2="100.0" y2="0.0""#), "{svg}");
        assert_eq!(svg.matches("<stop ").count(), VIRIDIS_COLOURS, "{svg}");
        assert!(svg.contains(r##"<stop offset="0.000" stop-color="#440154"/>"##), "{svg}");
        assert!(svg.contains(r##"<stop offset="1.000" stop-color="#FEE825"/>"##), "{svg}");
        assert_eq!(svg.matches("<polygon").count(), 1);
        // Smaller than a cell: one colour, the interpolant's at the centroid (t = 1/3).
        let svg = prepared.svg_field(0, &prepared.panels[0].1, |x, y| (x as i32, y as i32), 5001.0);
        let centroid = hex(ViridisRGB.get_color(1.0 / 3.0));
        assert!(!svg.contains("<linearGradient") && svg.contains(&format!("fill=\"{centroid}\"")), "{svg}");

        // Constant z: a plain fill, no gradient.
        let flat: Vec<Point> = panel.points.iter().map(|p| Point { z: 0.7, ..*p }).collect();
        let panel = HeatmapPanel { points: flat, ..panel };
        let prepared = prepare(std::slice::from_ref(&panel), &options, figure::ImageFormat::Svg).unwrap();
        let svg = prepared.svg_field(0, &prepared.panels[0].1, |x, y| (x as i32, y as i32), 0.0);
        assert!(!svg.contains("<linearGradient") && svg.contains("<polygon points=\"0,0 "), "{svg}");
    }
}

//! Rendering shared by every figure: the embedded font, the output formats, the palette.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::PlotError;

/// The font every label is set in; registered under plotters' `sans-serif` family.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
pub(crate) const FAMILY: &str = "sans-serif";

/// Text sizes in pixels. Figures are 1600–1900 px wide and meant to print a page wide
/// (about 6.5 in, ~280 dpi), where 25 px is about 6.5 pt and 30 px about 8 pt.
pub(crate) const TITLE: u32 = 34;
pub(crate) const LABEL: u32 = 30;
pub(crate) const TICK: u32 = 25;
pub(crate) const LEGEND: u32 = 24;

fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Svg,
}

impl ImageFormat {
    /// The format a file name asks for (`.png` or `.svg`, any case).
    pub fn from_path(path: &Path) -> Result<ImageFormat, PlotError> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("png") => Ok(ImageFormat::Png),
            Some("svg") => Ok(ImageFormat::Svg),
            _ => Err(PlotError::UnknownFormat { path: path.to_path_buf() }),
        }
    }
}

/// Something that draws itself on any plotters backend.
pub(crate) trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
    /// SVG that plotters cannot draw: (placeholder text, SVG to put in place of the `<text>`
    /// element holding it), collected while drawing.
    fn svg_fragments(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Replaces the `<text>` element containing `marker` with `fragment`.
fn splice_svg(svg: &mut String, marker: &str, fragment: &str) -> Result<(), PlotError> {
    let missing = || PlotError::Draw(format!("SVG placeholder {marker} not found"));
    let at = svg.find(marker).ok_or_else(missing)?;
    let start = svg[..at].rfind("<text").ok_or_else(missing)?;
    let end = at + svg[at..].find("</text>").ok_or_else(missing)? + "</text>".len();
    let end = if svg[end..].starts_with('\n') { end + 1 } else { end };
    svg.replace_range(start..end, fragment);
    Ok(())
}

/// 300 dots per inch, in the PNG's pixels-per-metre.
const PNG_PIXELS_PER_METRE: u32 = 11_811;

/// The figure's bytes in the given format.
pub(crate) fn render(figure: &impl Figure, format: ImageFormat) -> Result<Vec<u8>, PlotError> {
    register_font()?;
    let (width, height) = figure.size();
    match format {
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
                root.fill(&WHITE)?;
                figure.draw(&root)?;
                root.present()?;
            }
            for (marker, fragment) in figure.svg_fragments() {
                splice_svg(&mut svg, &marker, &fragment)?;
            }
            Ok(svg.into_bytes())
        }
        ImageFormat::Png => {
            let mut pixels = vec![255_u8; width as usize * height as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
                figure.draw(&root)?;
                root.present()?;
            }
            let mut png_bytes = Vec::new();
            let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_pixel_dims(Some(png::PixelDimensions {
                xppu: PNG_PIXELS_PER_METRE,
                yppu: PNG_PIXELS_PER_METRE,
                unit: png::Unit::Meter,
            }));
            let mut writer = encoder.write_header().map_err(|e| PlotError::Encode(e.to_string()))?;
            writer.write_image_data(&pixels).map_err(|e| PlotError::Encode(e.to_string()))?;
            writer.finish().map_err(|e| PlotError::Encode(e.to_string()))?;
            Ok(png_bytes)
        }
    }
}

/// Renders in the format the file name asks for and writes it atomically.
pub(crate) fn write(figure: &impl Figure, path: &Path) -> Result<(), PlotError> {
    let bytes = render(figure, ImageFormat::from_path(path)?)?;
    crate::atomic::write(path, &bytes).map_err(|source| PlotError::Write { path: path.to_path_buf(), source })
}

/// Writes already rendered figure bytes (for callers that render once and save twice).
pub fn save(bytes: &[u8], path: &Path) -> Result<(), PlotError> {
    crate::atomic::write(path, bytes).map_err(|source| PlotError::Write { path: path.to_path_buf(), source })
}

/// Distinguishable colours for groups and runs (Okabe–Ito, readable by colour-blind readers).
pub(crate) fn palette(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(120, 120, 120),
        RGBColor(0, 0, 0),
    ];
    COLORS[i % COLORS.len()]
}

/// [lo, hi] widened by `fraction` of its span on each side (or by ±0.5 when flat), so
/// points do not sit on the frame.
pub(crate) fn padded(lo: f64, hi: f64, fraction: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - fraction * span, hi + fraction * span)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// Min and max of finite values, `None` if there are none.
pub(crate) fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Tick labels requested per axis; every chart asks plotters for this many.
pub(crate) const TICKS: usize = 6;

/// Tick labels with one number of decimals for a whole axis (plotters' default writes 0.9
/// next to 0.92 and 100.0 for steps). Plotters labels the multiples of the smallest step of
/// 1, 2 or 5 × 10ᵐ that puts at most [`TICKS`] of them in [lo, hi]; the same search here finds
/// that step, and its decimals are −m. (From the span alone the step cannot be known: −0.3 to
/// 2.9 is labelled every 0.5, 0.1 to 3.3 every 1.)
pub(crate) fn tick_format(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let labels = |step: f64| ((hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil() + 1.0).max(0.0);
    let decimals = if hi > lo && lo.is_finite() && hi.is_finite() {
        let mut power = 10f64.powf((hi - lo).log10().ceil());
        let mut step = power;
        'search: loop {
            for m in [0.5, 0.2, 0.1] {
                if labels(power * m) > TICKS as f64 {
                    break 'search;
                }
                step = power * m;
            }
            power /= 10.0;
        }
        (-(step.log10() + 1e-9).floor()).clamp(0.0, 9.0) as usize
    } else {
        2
    };
    move |v: &f64| format!("{v:.decimals$}")
}

/// The legend corner holding the fewest points, so the legend hides as little as possible.
pub(crate) fn quietest_corner(points: &[(f64, f64)], x: (f64, f64), y: (f64, f64)) -> SeriesLabelPosition {
    let corner = |right: bool, upper: bool| {
        points
            .iter()
            .filter(|p| {
                let fx = (p.0 - x.0) / (x.1 - x.0);
                let fy = (p.1 - y.0) / (y.1 - y.0);
                (if right { fx > 0.55 } else { fx < 0.45 }) && (if upper { fy > 0.7 } else { fy < 0.3 })
            })
            .count()
    };
    [
        (SeriesLabelPosition::LowerRight, corner(true, false)),
        (SeriesLabelPosition::UpperLeft, corner(false, true)),
        (SeriesLabelPosition::LowerLeft, corner(false, false)),
        (SeriesLabelPosition::UpperRight, corner(true, true)),
    ]
    .into_iter()
    .min_by_key(|(_, count)| *count)
    .map(|(position, _)| position)
    .unwrap_or(SeriesLabelPosition::UpperRight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(ImageFormat::from_path(Path::new("plots/heatmap.PNG")).unwrap(), ImageFormat::Png);
        assert_eq!(ImageFormat::from_path(Path::new("a.svg")).unwrap(), ImageFormat::Svg);
        assert!(matches!(ImageFormat::from_path(Path::new("a.pdf")), Err(PlotError::UnknownFormat { .. })));
        assert!(matches!(ImageFormat::from_path(Path::new("noext")), Err(PlotError::UnknownFormat { .. })));
    }

    #[test]
    fn tick_labels_share_their_decimals() {
        // 0.85 to 0.95: labels every 0.02 (5 of them; every 0.01 would be 11).
        let accuracy = tick_format(0.85, 0.95);
        assert_eq!((accuracy(&0.9), accuracy(&0.92)), ("0.90".to_string(), "0.92".to_string()));
        assert_eq!(tick_format(0.0, 1000.0)(&100.0), "100");
        // Similar spans, other steps: −0.3..2.9 fits 0, 0.5, …, 2.5 (6 labels); 0.1..3.6 would
        // need 7 halves, so it is labelled 1, 2, 3.
        assert_eq!(tick_format(-0.3, 2.9)(&1.5), "1.5");
        assert_eq!(tick_format(0.1, 3.6)(&2.0), "2");
        assert_eq!(tick_format(0.0, 4.0)(&2.0), "2");
        assert_eq!(tick_format(0.0, 0.6)(&0.4), "0.4");
        // 0 to 0.25: every 0.05 (6 labels).
        assert_eq!(tick_format(0.0, 0.25)(&0.05), "0.05");
        assert_eq!(tick_format(1.0, 1.0)(&1.0), "1.00");
    }

    #[test]
    fn legend_avoids_the_crowded_corners() {
        let crowded_lower_right = [(0.9, 0.1), (0.8, 0.2), (0.95, 0.05), (0.1, 0.9), (0.9, 0.9)];
        let position = quietest_corner(&crowded_lower_right, (0.0, 1.0), (0.0, 1.0));
        assert!(matches!(position, SeriesLabelPosition::LowerLeft));
    }

    #[test]
    fn padding_and_extent() {
        assert_eq!(padded(0.0, 10.0, 0.1), (-1.0, 11.0));
        assert_eq!(padded(2.0, 2.0, 0.1), (1.5, 2.5));
        assert_eq!(extent([3.0, f64::NAN, -1.0, 2.0]), Some((-1.0, 3.0)));
        assert_eq!(extent([f64::NAN]), None);
    }
}

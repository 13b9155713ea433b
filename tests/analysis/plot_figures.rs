//! Figures render to valid PNG and SVG with the SPEC labels, blank outside the hull.
//! Set MASKSPEC_KEEP_PLOTS=DIR to keep the rendered files for looking at.

use std::path::{Path, PathBuf};

use maskspec::plot::{
    evolution, heatmap, render_evolution, render_scatter, scatter, EvolutionOptions, EvolutionPoint, EvolutionRun,
    HeatmapOptions, HeatmapPanel, ImageFormat, PlotError, Point, ScatterGroup, ScatterOptions,
};

use crate::seeded::stream;

fn out_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("MASKSPEC_KEEP_PLOTS") {
        Some(dir) => (None, PathBuf::from(dir)),
        None => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    }
}

/// A sweep-like cloud: accuracy rises with both coordinates, plus noise.
fn cloud(seed: u64, n: usize, scale: (f64, f64)) -> Vec<Point> {
    let mut next = stream(seed);
    (0..n)
        .map(|_| {
            let (u, v) = (next(), next());
            Point { x: scale.0 * (u - 0.3), y: scale.1 * v, z: 0.80 + 0.08 * u + 0.05 * v + 0.01 * next() }
        })
        .collect()
}

fn png_pixels(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn heatmap_png_and_svg() {
    let (_keep, dir) = out_dir();
    let panels = vec![
        HeatmapPanel {
            x_field: "ramanujan_gap_imdb".into(),
            y_field: "weighted_gap_imsg".into(),
            points: cloud(1, 60, (4.0, 1.5)),
        },
        HeatmapPanel {
            x_field: "ramanujan_gap".into(),
            y_field: "weighted_gap".into(),
            points: cloud(2, 60, (8.0, 3.0)),
        },
    ];
    let options = HeatmapOptions::default();
    let png_path = dir.join("heatmap.png");
    heatmap(&panels, &options, &png_path).unwrap();
    let (width, height, pixels) = png_pixels(&png_path);
    assert_eq!((width, height), (2 * options.panel_size.0 + 240, options.panel_size.1));
    // Some pixels are coloured by the field (neither white nor grey).
    let coloured = pixels.chunks_exact(3).filter(|p| !(p[0] == p[1] && p[1] == p[2])).count();
    assert!(coloured > (width * height / 10) as usize, "{coloured} coloured pixels");

    let svg_path = dir.join("heatmap.svg");
    heatmap(&panels, &options, &svg_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"));
    // The field is one gradient-filled polygon per Delaunay triangle (a 160 × 160 grid of
    // cells took 3.6 MB): the only rectangles left are the background and the colour bar.
    assert!(svg.len() < 250_000, "{} bytes", svg.len());
    assert!(svg.matches("<rect").count() < 300 && svg.matches("<linearGradient").count() > 100);
    assert!(!svg.contains("maskspec-svg-field"), "every placeholder replaced");
    for label in [
        "ramanujan_gap_imdb (Δr_imdb)",
        "weighted_gap_imsg (λ_imsg)",
        "ramanujan_gap (Δr)",
        "weighted_gap (λ)",
        "Pareto front",
    ] {
        assert!(svg.contains(label), "SVG lacks {label}");
    }
}

#[test]
fn heatmap_is_blank_outside_the_hull() {
    // A triangle of points: the panel's upper-right corner lies outside the hull and must
    // stay white, while the centre of the triangle is coloured.
    let (_keep, dir) = out_dir();
    let points = vec![
        Point { x: 0.0, y: 0.0, z: 0.5 },
        Point { x: 1.0, y: 0.0, z: 0.7 },
        Point { x: 0.0, y: 1.0, z: 0.9 },
        Point { x: 0.2, y: 0.2, z: 0.6 },
    ];
    let panel = HeatmapPanel { x_field: "ramanujan_gap".into(), y_field: "weighted_gap".into(), points };
    let options = HeatmapOptions { resolution: 100, ..Default::default() };
    let path = dir.join("triangle.png");
    heatmap(&[panel], &options, &path).unwrap();
    let (width, _, pixels) = png_pixels(&path);
    let at = |x: u32, y: u32| {
        let i = 3 * (y * width + x) as usize;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };
    // Plot area: margin 18 + y label area 115 on the left, caption on top, 85 below; find
    // the frame by scanning for the data extent instead of hard-coding it: the point nearest
    // the upper-right corner of the plot area is white, one near the lower-left is not.
    let (w, h) = options.panel_size;
    let upper_right = at(w - 60, 130);
    assert_eq!(upper_right, [255, 255, 255], "outside the hull must be blank");
    let lower_left = at(200, h - 150);
    assert_ne!(lower_left, [255, 255, 255], "inside the hull must be coloured");
}

#[test]
fn degenerate_heatmap_is_an_error_not_a_panic() {
    let (_keep, dir) = out_dir();
    let line: Vec<Point> = (0..4).map(|i| Point { x: i as f64, y: i as f64, z: 0.5 }).collect();
    let panel = HeatmapPanel { x_field: "a".into(), y_field: "b".into(), points: line };
    let err = heatmap(&[panel], &HeatmapOptions::default(), &dir.join("line.png")).unwrap_err();
    assert!(matches!(err, PlotError::Degenerate { points: 4 }), "{err}");
    let err = heatmap(&[], &HeatmapOptions::default(), &dir.join("x.png")).unwrap_err();
    assert!(matches!(err, PlotError::Empty { .. }));
    let err = heatmap(&[], &HeatmapOptions::default(), &dir.join("x.gif")).unwrap_err();
    assert!(matches!(err, PlotError::UnknownFormat { .. }));
}

#[test]
fn scatter_and_evolution_render() {
    let (_keep, dir) = out_dir();
    let mut next = stream(9);
    let groups: Vec<ScatterGroup> = [0.5, 0.8, 0.9]
        .iter()
        .enumerate()
        .map(|(k, sparsity)| ScatterGroup {
            label: format!("sparsity {sparsity}"),
            points: (0..15)
                .map(|_| {
                    let gap = 1.0 + k as f64 + next();
                    (gap, 0.93 - 0.05 * k as f64 + 0.02 * gap - 0.02 * k as f64 + 0.01 * next())
                })
                .collect(),
        })
        .collect();
    let options = ScatterOptions { x_field: "ramanujan_gap_imdb".into(), ..Default::default() };
    for name in ["scatter.png", "scatter.svg"] {
        scatter(&groups, &options, &dir.join(name)).unwrap();
    }
    let svg = std::fs::read_to_string(dir.join("scatter.svg")).unwrap();
    assert!(svg.contains("sparsity 0.8: r = "), "legend gives r");
    // Rendering is deterministic and the file holds exactly the rendered bytes.
    assert_eq!(render_scatter(&groups, &options, ImageFormat::Svg).unwrap(), svg.as_bytes());

    let runs: Vec<EvolutionRun> = (0..3)
        .map(|k| EvolutionRun {
            label: format!("run {k}"),
            points: (0..=10)
                .map(|s| {
                    let t = s as f64 / 10.0;
                    EvolutionPoint {
                        step: 100.0 * s as f64,
                        x: 2.0 + k as f64 * 0.5 + t * (1.0 + k as f64),
                        y: 0.5 + 0.3 * t * t + 0.1 * k as f64,
                    }
                })
                .collect(),
        })
        .collect();
    for name in ["evolution.png", "evolution.svg"] {
        evolution(&runs, &EvolutionOptions::default(), &dir.join(name)).unwrap();
    }
    let png = std::fs::read(dir.join("evolution.png")).unwrap();
    assert_eq!(render_evolution(&runs, &EvolutionOptions::default(), ImageFormat::Png).unwrap(), png);
    let svg = std::fs::read_to_string(dir.join("evolution.svg")).unwrap();
    assert!(svg.contains("training step") && svg.contains("ramanujan_gap_imdb (Δr_imdb)"));
}

/// A mask that flips between two states at every DST update makes its trajectory reverse on
/// itself; a thick polyline's mitred joins then shoot spikes far past the data, across the axes.
#[test]
fn trajectories_that_reverse_stay_inside_their_axes() {
    let run = EvolutionRun {
        label: "zigzag".into(),
        points: (0..=20)
            .map(|s| {
                let (x, y) = if s % 2 == 0 { (14.2, 4.3) } else { (16.5, 5.0) };
                EvolutionPoint { step: 100.0 * s as f64, x: x + 0.001 * s as f64, y }
            })
            .collect(),
    };
    let options = EvolutionOptions::default();
    let png = render_evolution(&[run], &options, ImageFormat::Png).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png.as_slice()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (info.width as usize, info.height as usize);
    // The first series colour, anywhere left of the trajectory panel's y tick labels or below
    // its x tick labels, is a line drawn outside the axes.
    let series = [0u8, 114, 178];
    let strays = (0..height)
        .flat_map(|y| (0..width / 2).map(move |x| (x, y)))
        .filter(|&(x, y)| x < 60 || y + 40 > height)
        .filter(|&(x, y)| pixels[3 * (y * width + x)..][..3] == series)
        .count();
    assert_eq!(strays, 0, "{strays} pixels of the series drawn outside the trajectory axes");
}

#[test]
fn constant_accuracy_and_non_finite_points_still_render() {
    let (_keep, dir) = out_dir();
    let mut points: Vec<Point> = cloud(5, 12, (2.0, 1.0)).into_iter().map(|p| Point { z: 0.9, ..p }).collect();
    points.push(Point { x: f64::NAN, y: 0.5, z: 0.9 });
    points.push(Point { x: 0.5, y: f64::INFINITY, z: 0.9 });
    let panel = HeatmapPanel { x_field: "ramanujan_gap".into(), y_field: "weighted_gap".into(), points };
    let path = dir.join("constant.png");
    heatmap(&[panel], &HeatmapOptions::default(), &path).unwrap();
    let (width, height, _) = png_pixels(&path);
    assert_eq!((width, height), (HeatmapOptions::default().panel_size.0 + 240, HeatmapOptions::default().panel_size.1));
}

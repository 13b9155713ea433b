//! Piecewise-linear interpolation of z over (x, y) on the Delaunay triangulation of the
//! points: scipy's `griddata(method='linear')` (which also triangulates the raw, unscaled
//! coordinates), `None` outside the convex hull.

use super::PlotError;

/// A sample: coordinates `x`, `y` and the value `z` (accuracy in the heatmaps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// Barycentric coordinates below −SLACK·(twice the triangle's area) count as outside: a
/// point on an edge or a vertex computes to 0 up to rounding and must stay inside.
const SLACK: f64 = 1e-12;

/// The triangulation with a uniform bucket grid over its bounding box, so a query tests the
/// few triangles whose bounding boxes overlap its cell rather than all of them.
#[derive(Debug, Clone)]
pub struct LinearInterpolator {
    points: Vec<Point>,
    triangles: Vec<[usize; 3]>,
    /// The convex hull, counter-clockwise (y up).
    hull: Vec<(f64, f64)>,
    min: (f64, f64),
    cell: (f64, f64),
    cells: (usize, usize),
    buckets: Vec<Vec<u32>>,
}

impl LinearInterpolator {
    /// Triangulates the points with finite coordinates and values. Of points at the same
    /// (x, y) one is kept. Needs three points not on one line.
    pub fn new(points: &[Point]) -> Result<Self, PlotError> {
        let points: Vec<Point> =
            points.iter().copied().filter(|p| p.x.is_finite() && p.y.is_finite() && p.z.is_finite()).collect();
        let sites: Vec<delaunator::Point> = points.iter().map(|p| delaunator::Point { x: p.x, y: p.y }).collect();
        let triangulation = delaunator::triangulate(&sites);
        let triangles: Vec<[usize; 3]> = triangulation.triangles.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect();
        if triangles.is_empty() {
            return Err(PlotError::Degenerate { points: points.len() });
        }
        let mut hull: Vec<(f64, f64)> = triangulation.hull.iter().map(|&i| (points[i].x, points[i].y)).collect();
        if signed_area(&hull) < 0.0 {
            hull.reverse();
        }

        let (mut min, mut max) = ((f64::INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::NEG_INFINITY));
        for p in &points {
            min = (min.0.min(p.x), min.1.min(p.y));
            max = (max.0.max(p.x), max.1.max(p.y));
        }
        // About one triangle per cell.
        let side = ((triangles.len() as f64).sqrt().ceil() as usize).clamp(1, 512);
        let cells = (side, side);
        // A zero extent cannot occur (the points span a triangle); the max() guards rounding.
        let cell = (
            ((max.0 - min.0) / side as f64).max(f64::MIN_POSITIVE),
            ((max.1 - min.1) / side as f64).max(f64::MIN_POSITIVE),
        );
        let mut interpolator =
            LinearInterpolator { points, triangles, hull, min, cell, cells, buckets: vec![Vec::new(); side * side] };
        for (t, triangle) in interpolator.triangles.iter().enumerate() {
            let xs = triangle.map(|i| interpolator.points[i].x);
            let ys = triangle.map(|i| interpolator.points[i].y);
            let (c0, r0) = interpolator.cell_of(
                xs.iter().copied().fold(f64::INFINITY, f64::min),
                ys.iter().copied().fold(f64::INFINITY, f64::min),
            );
            let (c1, r1) = interpolator.cell_of(
                xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            );
            for r in r0..=r1 {
                for c in c0..=c1 {
                    interpolator.buckets[r * cells.0 + c].push(t as u32);
                }
            }
        }
        Ok(interpolator)
    }

    fn cell_of(&self, x: f64, y: f64) -> (usize, usize) {
        let index =
            |v: f64, min: f64, size: f64, count: usize| (((v - min) / size).floor().max(0.0) as usize).min(count - 1);
        (index(x, self.min.0, self.cell.0, self.cells.0), index(y, self.min.1, self.cell.1, self.cells.1))
    }

    /// The triangles of the triangulation, as indices into [`Self::points`].
    pub fn triangles(&self) -> &[[usize; 3]] {
        &self.triangles
    }

    /// The points that were triangulated (finite ones, in input order).
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The convex hull of the points, counter-clockwise.
    pub fn hull(&self) -> &[(f64, f64)] {
        &self.hull
    }

    /// Whether (x, y) lies in the convex hull (boundary included).
    pub fn hull_contains(&self, x: f64, y: f64) -> bool {
        let scale = self.cell.0.max(self.cell.1) * self.cells.0 as f64;
        (0..self.hull.len()).all(|i| {
            let (a, b) = (self.hull[i], self.hull[(i + 1) % self.hull.len()]);
            cross(a, b, (x, y)) >= -SLACK * scale * scale
        })
    }

    /// The part of a convex polygon inside the hull (Sutherland–Hodgman), so the heatmap's
    /// cells along the boundary are cut straight instead of leaving a staircase.
    pub fn clip_to_hull(&self, polygon: &[(f64, f64)]) -> Vec<(f64, f64)> {
        let mut output = polygon.to_vec();
        for i in 0..self.hull.len() {
            let (a, b) = (self.hull[i], self.hull[(i + 1) % self.hull.len()]);
            let input = std::mem::take(&mut output);
            for j in 0..input.len() {
                let (p, q) = (input[j], input[(j + 1) % input.len()]);
                let (cp, cq) = (cross(a, b, p), cross(a, b, q));
                if cp >= 0.0 {
                    output.push(p);
                }
                if (cp >= 0.0) != (cq >= 0.0) {
                    let t = cp / (cp - cq);
                    output.push((p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1)));
                }
            }
            if output.is_empty() {
                break;
            }
        }
        output
    }

    /// The linear interpolant at (x, y); `None` outside the convex hull of the points.
    pub fn value_at(&self, x: f64, y: f64) -> Option<f64> {
        if !(x.is_finite() && y.is_finite()) {
            return None;
        }
        let (c, r) = self.cell_of(x, y);
        // Points beyond the bounding box clamp to a border cell; the triangle test rejects them.
        self.buckets[r * self.cells.0 + c].iter().find_map(|&t| self.in_triangle(t as usize, x, y))
    }

    /// The interpolant at (x, y) if the point lies in triangle `t` (edges included).
    fn in_triangle(&self, t: usize, x: f64, y: f64) -> Option<f64> {
        let [a, b, c] = self.triangles[t].map(|i| self.points[i]);
        let area = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
        if area == 0.0 {
            return None;
        }
        let wa = ((b.x - x) * (c.y - y) - (b.y - y) * (c.x - x)) / area;
        let wb = ((c.x - x) * (a.y - y) - (c.y - y) * (a.x - x)) / area;
        let wc = 1.0 - wa - wb;
        if wa < -SLACK || wb < -SLACK || wc < -SLACK {
            return None;
        }
        Some(wa * a.z + wb * b.z + wc * c.z)
    }

    /// The interpolant on a grid: row `j` is `y = ys[j]`, column `i` is `x = xs[i]`.
    pub fn grid(&self, xs: &[f64], ys: &[f64]) -> Vec<Vec<Option<f64>>> {
        ys.iter().map(|&y| xs.iter().map(|&x| self.value_at(x, y)).collect()).collect()
    }
}

/// Twice the signed area of triangle (a, b, p): positive when p is left of a → b.
fn cross(a: (f64, f64), b: (f64, f64), p: (f64, f64)) -> f64 {
    (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0)
}

/// Signed area of a polygon, positive counter-clockwise.
pub(crate) fn signed_area(polygon: &[(f64, f64)]) -> f64 {
    (0..polygon.len())
        .map(|i| {
            let (a, b) = (polygon[i], polygon[(i + 1) % polygon.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f64>()
        / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64, z: f64) -> Point {
        Point { x, y, z }
    }

    /// z = 2x + 3y + 1 at the corners of the unit square and its centre: any triangulation
    /// reproduces a plane exactly.
    fn plane() -> Vec<Point> {
        [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.5)]
            .iter()
            .map(|&(x, y)| p(x, y, 2.0 * x + 3.0 * y + 1.0))
            .collect()
    }

    #[test]
    fn reproduces_a_plane_inside_on_edges_and_at_vertices() {
        let interpolator = LinearInterpolator::new(&plane()).unwrap();
        assert_eq!(interpolator.triangles().len(), 4);
        for (x, y) in
            [(0.3, 0.2), (0.9, 0.95), (0.5, 0.0), (1.0, 0.25), (0.0, 0.0), (1.0, 1.0), (0.5, 0.5), (0.25, 0.25)]
        {
            let got = interpolator.value_at(x, y).unwrap_or_else(|| panic!("({x}, {y}) is inside"));
            assert!((got - (2.0 * x + 3.0 * y + 1.0)).abs() < 1e-12, "({x}, {y}): {got}");
        }
    }

    #[test]
    fn hand_computed_values_in_a_single_triangle() {
        // Triangle (0,0)=0, (4,0)=8, (0,2)=2: z = 2x + y. Inside: (1, 1) → 3; on the
        // hypotenuse x/4 + y/2 = 1: (2, 1) → 5; on the base: (3, 0) → 6.
        let interpolator = LinearInterpolator::new(&[p(0.0, 0.0, 0.0), p(4.0, 0.0, 8.0), p(0.0, 2.0, 2.0)]).unwrap();
        assert!((interpolator.value_at(1.0, 1.0).unwrap() - 3.0).abs() < 1e-14);
        assert!((interpolator.value_at(2.0, 1.0).unwrap() - 5.0).abs() < 1e-14);
        assert!((interpolator.value_at(3.0, 0.0).unwrap() - 6.0).abs() < 1e-14);
        // Outside the hull: beyond the hypotenuse, below the base, left of the y axis.
        assert_eq!(interpolator.value_at(2.1, 1.0), None);
        assert_eq!(interpolator.value_at(1.0, -1e-6), None);
        assert_eq!(interpolator.value_at(-0.5, 0.5), None);
        assert_eq!(interpolator.value_at(100.0, 100.0), None);
    }

    #[test]
    fn non_planar_data_uses_the_delaunay_triangles() {
        // z = 1 at (1, 1.1) only. That corner lies outside the circumcircle of (0,0), (1,0),
        // (0,1) (centre (0.5, 0.5), radius ≈ 0.707, distance ≈ 0.78), so the Delaunay diagonal
        // is (1,0)-(0,1) and at its midpoint z = 0. The other diagonal would put (0.5, 0.5)
        // inside (0,0), (1,0), (1,1.1) with z > 0.
        let interpolator =
            LinearInterpolator::new(&[p(0.0, 0.0, 0.0), p(1.0, 0.0, 0.0), p(1.0, 1.1, 1.0), p(0.0, 1.0, 0.0)]).unwrap();
        assert!(interpolator.value_at(0.5, 0.5).unwrap().abs() < 1e-14);
        // Inside the other triangle (1,0),(1,1.1),(0,1): at (0.9, 0.9) z is positive.
        assert!(interpolator.value_at(0.9, 0.9).unwrap() > 0.0);
    }

    #[test]
    fn hull_and_clipping() {
        let interpolator =
            LinearInterpolator::new(&[p(0.0, 0.0, 0.0), p(4.0, 0.0, 8.0), p(0.0, 2.0, 2.0), p(1.0, 0.5, 2.5)]).unwrap();
        assert_eq!(interpolator.hull().len(), 3);
        assert!((signed_area(interpolator.hull()) - 4.0).abs() < 1e-12);
        assert!(interpolator.hull_contains(2.0, 1.0) && interpolator.hull_contains(1.0, 0.5));
        assert!(!interpolator.hull_contains(2.0, 1.01));
        // The square [1, 3] × [0, 1] cut by the hypotenuse x/4 + y/2 = 1: it keeps the
        // trapezoid below the line, area ∫₁³ min(1, 2 − x/2) dx = 1 + (1 + 0.5)/2 = 1.75.
        let clipped = interpolator.clip_to_hull(&[(1.0, 0.0), (3.0, 0.0), (3.0, 1.0), (1.0, 1.0)]);
        assert!((signed_area(&clipped) - 1.75).abs() < 1e-12, "{clipped:?}");
        assert!(interpolator.clip_to_hull(&[(5.0, 5.0), (6.0, 5.0), (6.0, 6.0)]).is_empty());
    }

    #[test]
    fn collinear_points_cannot_be_triangulated() {
        let line: Vec<Point> = (0..5).map(|i| p(i as f64, 2.0 * i as f64, 1.0)).collect();
        assert!(matches!(LinearInterpolator::new(&line), Err(PlotError::Degenerate { points: 5 })));
        assert!(matches!(LinearInterpolator::new(&line[..2]), Err(PlotError::Degenerate { points: 2 })));
    }

    #[test]
    fn many_points_agree_with_a_scan_of_all_triangles() {
        // Bucketed lookup against the plain scan on a pseudo-random cloud.
        let mut state = 12345_u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let cloud: Vec<Point> = (0..300).map(|_| p(next() * 3.0, next(), next())).collect();
        let interpolator = LinearInterpolator::new(&cloud).unwrap();
        for _ in 0..2000 {
            let (x, y) = (next() * 3.4 - 0.2, next() * 1.4 - 0.2);
            let scan = (0..interpolator.triangles().len()).find_map(|t| interpolator.in_triangle(t, x, y));
            assert_eq!(interpolator.value_at(x, y).is_some(), scan.is_some(), "({x}, {y})");
            if let (Some(a), Some(b)) = (interpolator.value_at(x, y), scan) {
                assert!((a - b).abs() < 1e-12);
            }
        }
    }
}

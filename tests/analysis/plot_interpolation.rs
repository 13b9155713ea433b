//! Delaunay-linear interpolation against scipy.interpolate.griddata(method='linear')
//! (tests/fixtures/stats/make_griddata.py): 400 queries, inside and outside the hull.

use maskspec::plot::{LinearInterpolator, Point};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    points: Vec<[f64; 2]>,
    values: Vec<f64>,
    queries: Vec<[f64; 2]>,
    expected: Vec<Option<f64>>,
}

#[test]
fn matches_griddata_inside_and_outside_the_hull() {
    let golden: Golden =
        serde_json::from_str(include_str!("../fixtures/stats/griddata.json")).expect("griddata.json parses");
    let points: Vec<Point> =
        golden.points.iter().zip(&golden.values).map(|(p, &z)| Point { x: p[0], y: p[1], z }).collect();
    let interpolator = LinearInterpolator::new(&points).unwrap();
    let (mut inside, mut outside) = (0, 0);
    for (q, expected) in golden.queries.iter().zip(&golden.expected) {
        let got = interpolator.value_at(q[0], q[1]);
        match (got, expected) {
            (Some(got), Some(expected)) => {
                assert!(
                    (got - expected).abs() <= 1e-12 * expected.abs(),
                    "({}, {}): {got} vs griddata {expected}",
                    q[0],
                    q[1]
                );
                inside += 1;
            }
            (None, None) => outside += 1,
            _ => panic!("({}, {}): we say {got:?}, griddata says {expected:?}", q[0], q[1]),
        }
    }
    assert!(inside > 100 && outside > 100, "{inside} inside, {outside} outside");
}

//! SPEC §9 on hand-built graphs where the two conventions differ. Complete bipartite blocks
//! give singular values by hand: K_{a,b} (all ones) has σ1 = √(ab), every other σ = 0.

use super::*;
use crate::checkpoint::Layer;

fn params(convention: Convention) -> MetricParams {
    MetricParams { convention, ..Default::default() }
}

/// A layer of all-ones blocks on the diagonal: `blocks` of `(outputs, inputs)`.
fn blocks(blocks: &[(usize, usize)]) -> Layer {
    let (rows, cols) = blocks.iter().fold((0, 0), |(r, c), &(a, b)| (r + a, c + b));
    let mut mask = vec![false; rows * cols];
    let (mut r0, mut c0) = (0, 0);
    for &(a, b) in blocks {
        for r in r0..r0 + a {
            for c in c0..c0 + b {
                mask[r * cols + c] = true;
            }
        }
        (r0, c0) = (r0 + a, c0 + b);
    }
    let weight = mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
    Layer::new("w", vec![rows, cols], weight, Some(mask)).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

#[test]
fn the_gate_takes_outputs_as_left_on_a_full_layer() {
    // Two copies of K_{2 outputs, 4 inputs}: d_in = 2, d_out = 4, σ1 = σ2 = √8.
    let layer = blocks(&[(2, 4), (2, 4)]);
    let iclr = layer_metrics(&layer, &params(Convention::Iclr2023));
    assert_eq!(iclr.gated, Some(false), "ICLR 2023 needs d_in ≥ 3");
    assert_eq!(iclr.ramanujan_gap, None);
    assert!(close(iclr.weighted_gap, 0.0), "ICLR 2023 reports λ below the gate");
    let neurips = layer_metrics(&layer, &params(Convention::Neurips2023));
    assert_eq!(neurips.gated, Some(true), "NeurIPS 2023: d_out = 4 ≥ 3 and d_in = 2 > 1");
    assert!(close(neurips.ramanujan_gap, 1.0 + 3f64.sqrt() - 8f64.sqrt()), "{:?}", neurips.ramanujan_gap);
}

#[test]
fn a_two_node_class_counts_and_is_scaled_by_the_cheeger_factor() {
    // K_{3 outputs, 2 inputs}: one degree class (k = 3) of 2 inputs. H_3 is the whole graph:
    // n_in = 2, n_out = 3, d_in = 3, d_out = 2, σ1 = √6, σ2 = 0.
    let layer = blocks(&[(3, 2)]);
    let iclr = layer_metrics(&layer, &params(Convention::Iclr2023));
    assert_eq!(iclr.nested.nested_count, 0, "ICLR 2023 needs 3 nodes per class");
    let neurips = layer_metrics(&layer, &params(Convention::Neurips2023));
    assert_eq!(neurips.nested.nested_count, 1, "NeurIPS 2023: 2 nodes, k = 3 ≥ 3, d_out = 2 > 1");
    let cheeger = 3.0 / (2.0 + 3.0 - 1.0);
    assert!(close(neurips.nested.ramanujan_gap_imdb, cheeger * (2f64.sqrt() + 1.0)), "{:?}", neurips.nested);
    assert!(close(neurips.nested.weighted_gap_imsg, cheeger * 6f64.sqrt()), "{:?}", neurips.nested);
    // The full layer fails NeurIPS's gate (d_out = 2 < 3): no λ there either.
    assert_eq!((neurips.gated, neurips.weighted_gap), (Some(false), None));
}

#[test]
fn a_layer_below_the_gate_counts_as_zero_in_neurips_means() {
    let gated = blocks(&[(4, 4), (4, 4)]); // K_{4,4} twice: d = 4, σ2 = σ1 = 4, Δr = 2√3 − 4
    let below = blocks(&[(3, 2)]);
    for convention in [Convention::Iclr2023, Convention::Neurips2023] {
        let p = params(convention);
        let layers = [layer_metrics(&gated, &p), layer_metrics(&below, &p)];
        let summary = summarize(&layers, convention);
        let gap = 2.0 * 3f64.sqrt() - 4.0;
        let (expected, count) = match convention {
            Convention::Iclr2023 => (gap, 1),
            Convention::Neurips2023 => (gap / 2.0, 2),
        };
        let (_, mean, layers) = summary.means.iter().find(|m| m.0 == "ramanujan_gap").unwrap();
        assert!(close(*mean, expected) && *layers == count, "{convention:?}: {mean:?} over {layers}");
    }
}

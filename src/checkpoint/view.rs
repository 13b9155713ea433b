//! A layer over arrays someone else owns (NumPy's, a training loop's): the graph is built
//! straight from them, so analyzing a layer never copies its dense weight. [`Layer`] is the
//! owned form the readers deliver; both are checked by [`LayerView::new`].

use super::{Layer, LayerError};

/// A dense weight, row-major, in the precision it is stored in.
#[derive(Debug, Clone, Copy)]
pub enum WeightValues<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

/// A dense mask of the weight's shape: an element is an edge where it is true or nonzero.
#[derive(Debug, Clone, Copy)]
pub enum MaskValues<'a> {
    Bool(&'a [bool]),
    U8(&'a [u8]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

/// One layer, borrowed: a weight of shape `[out, in]` or `[out, in, kh, kw]` and its mask
/// (without one, every nonzero weight is an edge; SPEC §1).
#[derive(Debug, Clone, Copy)]
pub struct LayerView<'a> {
    name: &'a str,
    shape: &'a [usize],
    weight: WeightValues<'a>,
    mask: Option<MaskValues<'a>>,
}

/// An element of a dense weight: its magnitude is the edge's weight.
pub trait WeightElement: Copy + Send + Sync {
    fn magnitude(self) -> f64;
    fn is_finite(self) -> bool;
}

/// An element of a dense mask.
pub trait MaskElement: Copy + Send + Sync {
    fn kept(self) -> bool;
}

impl WeightElement for f32 {
    fn magnitude(self) -> f64 {
        f64::from(self.abs())
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl WeightElement for f64 {
    fn magnitude(self) -> f64 {
        self.abs()
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

impl MaskElement for bool {
    fn kept(self) -> bool {
        self
    }
}

impl MaskElement for u8 {
    fn kept(self) -> bool {
        self != 0
    }
}

impl MaskElement for f32 {
    fn kept(self) -> bool {
        self != 0.0
    }
}

impl MaskElement for f64 {
    fn kept(self) -> bool {
        self != 0.0
    }
}

impl<'a> WeightValues<'a> {
    pub fn len(&self) -> usize {
        match self {
            WeightValues::F32(w) => w.len(),
            WeightValues::F64(w) => w.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> MaskValues<'a> {
    pub fn len(&self) -> usize {
        match self {
            MaskValues::Bool(m) => m.len(),
            MaskValues::U8(m) => m.len(),
            MaskValues::F32(m) => m.len(),
            MaskValues::F64(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Calls `$body` with `$w` bound to the weight slice and `$k` to the mask slice (the weight
/// itself when there is no mask), each at its own element type: one monomorphic pass per
/// combination, no per-element dispatch.
macro_rules! with_slices {
    ($view:expr, |$w:ident, $k:ident| $body:expr) => {{
        use $crate::checkpoint::{MaskValues as M, WeightValues as W};
        match ($view.weight(), $view.mask()) {
            (W::F32($w), None) => {
                let $k = $w;
                $body
            }
            (W::F64($w), None) => {
                let $k = $w;
                $body
            }
            (W::F32($w), Some(M::Bool($k))) => $body,
            (W::F32($w), Some(M::U8($k))) => $body,
            (W::F32($w), Some(M::F32($k))) => $body,
            (W::F32($w), Some(M::F64($k))) => $body,
            (W::F64($w), Some(M::Bool($k))) => $body,
            (W::F64($w), Some(M::U8($k))) => $body,
            (W::F64($w), Some(M::F32($k))) => $body,
            (W::F64($w), Some(M::F64($k))) => $body,
        }
    }};
}
pub(crate) use with_slices;

fn non_finite_kept<W: WeightElement, K: MaskElement>(weight: &[W], keep: &[K]) -> usize {
    weight.iter().zip(keep).filter(|(w, k)| k.kept() && !w.is_finite()).count()
}

impl<'a> LayerView<'a> {
    /// A layer of `weight` (row-major, of `shape`) and its `mask`. Weights off the mask may be
    /// anything; those it keeps must be finite.
    pub fn new(
        name: &'a str,
        shape: &'a [usize],
        weight: WeightValues<'a>,
        mask: Option<MaskValues<'a>>,
    ) -> Result<LayerView<'a>, LayerError> {
        if shape.len() != 2 && shape.len() != 4 {
            return Err(LayerError::Rank { shape: shape.to_vec() });
        }
        let expected = shape.iter().product::<usize>();
        if weight.len() != expected {
            return Err(LayerError::Length { values: weight.len(), shape: shape.to_vec(), expected });
        }
        if let Some(mask) = mask.filter(|m| m.len() != weight.len()) {
            return Err(LayerError::MaskLength { mask: mask.len(), weight: weight.len() });
        }
        let view = LayerView { name, shape, weight, mask };
        let count = with_slices!(view, |w, k| non_finite_kept(w, k));
        if count > 0 {
            return Err(LayerError::NonFinite { count });
        }
        Ok(view)
    }

    /// A view of parts [`new`](Self::new) accepted when their layer was read.
    pub(super) fn checked_when_read(
        name: &'a str,
        shape: &'a [usize],
        weight: WeightValues<'a>,
        mask: Option<MaskValues<'a>>,
    ) -> LayerView<'a> {
        LayerView { name, shape, weight, mask }
    }

    pub fn name(&self) -> &'a str {
        self.name
    }
    /// `[out, in]` or `[out, in, kh, kw]`.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }
    pub fn weight(&self) -> WeightValues<'a> {
        self.weight
    }
    pub fn mask(&self) -> Option<MaskValues<'a>> {
        self.mask
    }
    /// Rows of the biadjacency: output nodes.
    pub fn n_rows(&self) -> usize {
        self.shape[0]
    }
    /// Columns of the biadjacency: `in·kh·kw` input nodes.
    pub fn n_cols(&self) -> usize {
        self.shape[1..].iter().product()
    }
}

impl<'a> From<&'a Layer> for LayerView<'a> {
    fn from(layer: &'a Layer) -> LayerView<'a> {
        LayerView {
            name: layer.name(),
            shape: layer.shape(),
            weight: WeightValues::F64(layer.weight()),
            mask: Some(MaskValues::Bool(layer.mask())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_checked_as_layers_are() {
        let shape = [2, 3];
        let w = [1.0f32, 0.0, f32::NAN, 2.0, 0.0, 3.0];
        let err = LayerView::new("w", &shape, WeightValues::F32(&w), None).unwrap_err();
        assert_eq!(err, LayerError::NonFinite { count: 1 });
        // Off the mask, a NaN is not an edge and is allowed.
        let mask = [1u8, 1, 0, 1, 1, 1];
        assert!(LayerView::new("w", &shape, WeightValues::F32(&w), Some(MaskValues::U8(&mask))).is_ok());
        let err = LayerView::new("w", &shape, WeightValues::F32(&w), Some(MaskValues::U8(&mask[..5]))).unwrap_err();
        assert_eq!(err, LayerError::MaskLength { mask: 5, weight: 6 });
        let err = LayerView::new("w", &[6], WeightValues::F32(&w), None).unwrap_err();
        assert_eq!(err, LayerError::Rank { shape: vec![6] });
        let err = LayerView::new("w", &[2, 2], WeightValues::F32(&w), None).unwrap_err();
        assert_eq!(err, LayerError::Length { values: 6, shape: vec![2, 2], expected: 4 });
    }

    #[test]
    fn a_view_of_f32_arrays_gives_the_metrics_of_the_owned_layer() {
        use crate::metrics::{layer_metrics, MetricParams};
        let shape = [12, 20];
        let weight: Vec<f32> = (0..240).map(|i| ((i * 37 % 101) as f32 - 50.5) / 7.0).collect();
        let mask: Vec<u8> = (0..240).map(|i| u8::from((i * 13) % 5 < 2)).collect();
        let params = MetricParams::default();
        let owned = Layer::new(
            "fc.weight",
            shape.to_vec(),
            weight.iter().map(|&w| f64::from(w)).collect(),
            Some(mask.iter().map(|&m| m != 0).collect()),
        )
        .unwrap();
        let view =
            LayerView::new("fc.weight", &shape, WeightValues::F32(&weight), Some(MaskValues::U8(&mask))).unwrap();
        let (from_view, from_owned) = (layer_metrics(view, &params), layer_metrics(&owned, &params));
        assert!(from_owned.mu0.is_some() && from_owned.edges == 96);
        assert_eq!(from_view, from_owned);
        // Without a mask the nonzeros are the edges, whatever the precision.
        let masked: Vec<f32> = weight.iter().zip(&mask).map(|(&w, &m)| if m != 0 { w } else { 0.0 }).collect();
        let unmasked = LayerView::new("fc.weight", &shape, WeightValues::F32(&masked), None).unwrap();
        assert_eq!(layer_metrics(unmasked, &params), from_owned);
    }
}

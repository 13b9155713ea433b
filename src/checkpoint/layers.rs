//! SPEC §1 mask discovery and layer selection, the same for every format.

use super::{
    map_values, CheckpointError, Layer, LayerView, MaskElement, MaskValues, TensorSource, TensorValues, WeightValues,
};
use globset::{Glob, GlobSet, GlobSetBuilder};

/// Which tensors count as layers: `--include` / `--exclude` globs over layer names.
/// By default every 2-D and 4-D weight except embeddings (`*embed*`).
#[derive(Debug, Clone)]
pub struct LayerFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
    /// The globs as given, so the filter can be named in a cache key.
    globs: String,
    /// How weights are laid out; `None` decides by name ([`WeightLayout::of`]).
    layout: Option<WeightLayout>,
}

/// How a weight tensor stores its dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum WeightLayout {
    /// PyTorch: `[out, in]` (linear) and `[out, in, kh, kw]` (conv, OIHW).
    Torch,
    /// JAX/flax: `[in, out]` (Dense) and `[kh, kw, in, out]` (Conv, HWIO).
    Flax,
}

impl WeightLayout {
    /// Flax names its weights `kernel` (`params/Dense_0/kernel`); everything else is PyTorch's.
    pub fn of(name: &str) -> WeightLayout {
        if name.rsplit(['/', '.']).next() == Some("kernel") {
            WeightLayout::Flax
        } else {
            WeightLayout::Torch
        }
    }

    /// The PyTorch shape of a weight stored as `shape` in this layout.
    fn torch_shape(self, shape: &[usize]) -> Vec<usize> {
        match (self, shape) {
            (WeightLayout::Flax, [i, o]) => vec![*o, *i],
            (WeightLayout::Flax, [kh, kw, i, o]) => vec![*o, *i, *kh, *kw],
            _ => shape.to_vec(),
        }
    }

    /// `values` (row-major in `shape`, this layout) in PyTorch's order.
    fn to_torch(self, shape: &[usize], values: TensorValues) -> TensorValues {
        map_values!(values, |v| self.vec_to_torch(shape, v))
    }

    fn vec_to_torch<T: Copy>(self, shape: &[usize], values: Vec<T>) -> Vec<T> {
        match (self, shape) {
            (WeightLayout::Torch, _) => values,
            (WeightLayout::Flax, &[i, o]) => (0..o * i).map(|k| values[(k % i) * o + k / i]).collect(),
            (WeightLayout::Flax, &[kh, kw, i, o]) => {
                let mut out = Vec::with_capacity(values.len());
                for oo in 0..o {
                    for ii in 0..i {
                        for h in 0..kh {
                            for w in 0..kw {
                                out.push(values[((h * kw + w) * i + ii) * o + oo]);
                            }
                        }
                    }
                }
                out
            }
            (WeightLayout::Flax, _) => values,
        }
    }
}

impl Default for LayerFilter {
    fn default() -> Self {
        LayerFilter::new(&[], &[]).expect("the default globs are valid")
    }
}

impl LayerFilter {
    /// `include` empty means every layer; `exclude` empty means the default `*embed*`.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, globset::Error> {
        let build = |globs: &[String]| -> Result<GlobSet, globset::Error> {
            let mut set = GlobSetBuilder::new();
            for g in globs {
                set.add(Glob::new(g)?);
            }
            set.build()
        };
        let default_exclude = ["*embed*".to_string()];
        let exclude = if exclude.is_empty() { &default_exclude[..] } else { exclude };
        Ok(LayerFilter {
            include: if include.is_empty() { None } else { Some(build(include)?) },
            exclude: build(exclude)?,
            globs: format!("include={include:?} exclude={exclude:?}"),
            layout: None,
        })
    }

    /// Reads every weight in `layout` instead of deciding by name (`--layout`).
    pub fn with_layout(mut self, layout: Option<WeightLayout>) -> Self {
        self.layout = layout;
        self
    }

    /// The globs and the layout, in a form fit for a cache key.
    pub fn describe(&self) -> String {
        format!("{} layout={:?}", self.globs, self.layout)
    }

    fn accepts(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(name)) && !self.exclude.is_match(name)
    }
}

/// Where a layer's weight and mask live in a [`TensorSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    /// The layer's name: the weight tensor's name, or `PREFIX.weight` for `PREFIX.weight_orig`.
    pub name: String,
    /// Index of the weight tensor (`weight_orig` under `torch.nn.utils.prune`).
    pub weight: usize,
    /// Index of the explicit mask tensor, if any; otherwise the mask is `W != 0`.
    pub mask: Option<usize>,
    /// The weight is `weight_orig`: the effective weight is `weight_orig * weight_mask`.
    pub weight_orig: bool,
    /// How the weight (and its mask) store their dimensions.
    pub layout: WeightLayout,
}

/// The prefixes of a flax mask tree that mirrors the parameter tree (`mask/params/Dense_0/kernel`).
const MASK_TREES: [&str; 2] = ["mask/", "masks/"];

fn is_mask_name(name: &str) -> bool {
    name.ends_with("_mask") || name.ends_with(".mask") || MASK_TREES.iter().any(|tree| name.starts_with(tree))
}

/// Where the mask of weight `name` may be, first that exists: `NAME_mask`, `PREFIX.weight_mask`
/// beside `PREFIX.weight`, torch.ao's `PREFIX.parametrizations.weight.0.mask` (older torch
/// kept its sparsifier's mask in the state dict), and a flax mask tree's `mask/NAME` (or
/// `mask/` in place of `params/`).
fn mask_names(name: &str) -> Vec<String> {
    let mut names = vec![format!("{name}_mask")];
    if let Some(prefix) = name.strip_suffix(".weight") {
        names.push(format!("{prefix}.weight_mask"));
        names.push(format!("{prefix}.parametrizations.weight.0.mask"));
    }
    for tree in MASK_TREES {
        names.push(format!("{tree}{name}"));
        names.extend(name.strip_prefix("params/").map(|rest| format!("{tree}{rest}")));
    }
    names
}

/// Names under which a weight is stored unmasked, with the mask beside it deciding which of
/// its entries are edges: `torch.nn.utils.prune`'s `weight_orig` and a parametrized weight's
/// `parametrizations.weight.original` (torch.ao.pruning). Each pair is (stored suffix, layer
/// suffix).
const UNMASKED_WEIGHTS: [(&str, &str); 2] =
    [(".weight_orig", ".weight"), (".parametrizations.weight.original", ".weight")];

/// The mask a `torch.ao.pruning` sparsifier's saved state holds for `name`
/// (`sparsifier.state.NAME.mask`, under whatever key the sparsifier was saved).
fn sparsifier_mask(tensors: &[super::TensorInfo], name: &str) -> Option<usize> {
    let suffix = format!(".state.{name}.mask");
    tensors.iter().position(|t| t.name.ends_with(&suffix))
}

/// The layers of a checkpoint in file order. A masked tensor that is neither 2-D nor 4-D is
/// an error, as is a file with no layer.
pub fn discover_layers(source: &dyn TensorSource, filter: &LayerFilter) -> Result<Vec<LayerSpec>, CheckpointError> {
    let tensors = source.tensors();
    let index_of = |name: &str| tensors.iter().position(|t| t.name == name);
    let mut specs = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        if is_mask_name(&t.name) {
            continue;
        }
        let unmasked = UNMASKED_WEIGHTS
            .iter()
            .find_map(|(stored, layer)| t.name.strip_suffix(stored).map(|prefix| format!("{prefix}{layer}")));
        let (name, weight_orig) = match unmasked {
            Some(name) => (name, true),
            None => (t.name.clone(), false),
        };
        if !filter.accepts(&name) {
            continue;
        }
        let mask = mask_names(&name).iter().find_map(|m| index_of(m)).or_else(|| sparsifier_mask(tensors, &name));
        if t.shape.len() != 2 && t.shape.len() != 4 {
            // Biases, norms and scalars are not layers (a glob like 'fc.*' matches them too);
            // but a tensor that carries a mask was meant as one.
            if mask.is_some() {
                return Err(CheckpointError::tensor(
                    source.path(),
                    &t.name,
                    format!(
                        "is {}-D {:?}; maskspec analyzes 2-D [out, in] (linear) and 4-D [out, in, kh, kw] (conv) weights",
                        t.shape.len(),
                        t.shape
                    ),
                ));
            }
            continue;
        }
        let layout = filter.layout.unwrap_or_else(|| WeightLayout::of(&name));
        specs.push(LayerSpec { name, weight: i, mask, weight_orig, layout });
    }
    if specs.is_empty() {
        return Err(CheckpointError::NoLayers { path: source.path().to_path_buf() });
    }
    Ok(specs)
}

/// Tensor `index`, refused unless it holds as many values as its shape says: every reader
/// checks sizes when it opens a file, and this keeps a file changed since then (or a reader's
/// slip) from reaching the graph code with a short tensor.
fn read_exactly(source: &dyn TensorSource, index: usize) -> Result<TensorValues, CheckpointError> {
    let info = &source.tensors()[index];
    let values = source.read(index)?;
    if values.len() != info.numel() {
        return Err(CheckpointError::tensor(
            source.path(),
            &info.name,
            format!(
                "holds {} values but its shape {:?} says {}; the file changed while it was read or is corrupt",
                values.len(),
                info.shape,
                info.numel()
            ),
        ));
    }
    Ok(values)
}

/// One layer as its file stores it: the weight in f32 when every value is one (f32, f16,
/// bf16), else f64, and the mask in its own type, both in PyTorch's layout. Analyzed through
/// [`view`](Self::view) with no conversion to f64; [`load_layer`] makes the owned [`Layer`].
#[derive(Debug, Clone)]
pub struct StoredLayer {
    name: String,
    shape: Vec<usize>,
    /// [`TensorValues::F32`] or [`TensorValues::F64`].
    weight: TensorValues,
    /// `None`: the nonzero weights are the edges.
    mask: Option<TensorValues>,
    /// The weight is `weight_orig`, to be multiplied by the mask.
    weight_orig: bool,
}

impl StoredLayer {
    fn parts(&self) -> (WeightValues<'_>, Option<MaskValues<'_>>) {
        let weight = match &self.weight {
            TensorValues::F32(w) => WeightValues::F32(w),
            TensorValues::F64(w) => WeightValues::F64(w),
            TensorValues::U8(_) => unreachable!("weights are widened to f32 when read"),
        };
        let mask = self.mask.as_ref().map(|m| match m {
            TensorValues::F64(m) => MaskValues::F64(m),
            TensorValues::F32(m) => MaskValues::F32(m),
            TensorValues::U8(m) => MaskValues::U8(m),
        });
        (weight, mask)
    }

    /// The layer, borrowed, for [`layer_metrics`](crate::metrics::layer_metrics).
    pub fn view(&self) -> LayerView<'_> {
        let (weight, mask) = self.parts();
        LayerView::checked_when_read(&self.name, &self.shape, weight, mask)
    }

    /// Elements of the weight.
    pub fn len(&self) -> usize {
        self.weight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weight.is_empty()
    }
}

impl<'a> From<&'a StoredLayer> for LayerView<'a> {
    fn from(layer: &'a StoredLayer) -> LayerView<'a> {
        layer.view()
    }
}

/// Reads one layer in the precision it is stored in (see [`StoredLayer`]), checked for shape
/// agreement, for a mask of numbers and for finite weights where the mask keeps an edge.
pub fn read_layer(source: &dyn TensorSource, spec: &LayerSpec) -> Result<StoredLayer, CheckpointError> {
    let info = &source.tensors()[spec.weight];
    let weight = match read_exactly(source, spec.weight)? {
        // A weight stored as bytes (no checkpoint writes one, but nothing forbids it).
        TensorValues::U8(w) => TensorValues::F32(w.into_iter().map(f32::from).collect()),
        weight => weight,
    };
    let mask = match spec.mask {
        Some(m) => {
            let minfo = &source.tensors()[m];
            if minfo.shape != info.shape {
                return Err(CheckpointError::tensor(
                    source.path(),
                    &minfo.name,
                    format!(
                        "mask has shape {:?} but its weight '{}' has {:?}; a mask must match its weight element for element",
                        minfo.shape, info.name, info.shape
                    ),
                ));
            }
            let values = read_exactly(source, m)?;
            if let Some(bad) = values.first_non_finite() {
                return Err(CheckpointError::tensor(
                    source.path(),
                    &minfo.name,
                    format!("mask holds {bad}; a mask must be 0/1"),
                ));
            }
            Some(spec.layout.to_torch(&info.shape, values))
        }
        None => None,
    };
    let layer = StoredLayer {
        name: spec.name.clone(),
        shape: spec.layout.torch_shape(&info.shape),
        weight: spec.layout.to_torch(&info.shape, weight),
        mask,
        weight_orig: spec.weight_orig,
    };
    let (weight, mask) = layer.parts();
    LayerView::new(&layer.name, &layer.shape, weight, mask)
        .map_err(|e| CheckpointError::tensor(source.path(), &info.name, e.to_string()))?;
    Ok(layer)
}

/// Reads one layer as an owned [`Layer`]: its effective weight in f64 (`weight_orig` times
/// its mask under `torch.nn.utils.prune`) and its 0/1 mask, checked as [`read_layer`] checks.
pub fn load_layer(source: &dyn TensorSource, spec: &LayerSpec) -> Result<Layer, CheckpointError> {
    let stored = read_layer(source, spec)?;
    let mut weight = stored.weight.into_f64();
    let mask: Vec<bool> = match stored.mask {
        Some(TensorValues::U8(m)) => m.iter().map(|&k| k.kept()).collect(),
        Some(TensorValues::F32(m)) => m.iter().map(|&k| k.kept()).collect(),
        Some(TensorValues::F64(m)) => m.iter().map(|&k| k.kept()).collect(),
        None => weight.iter().map(|w| w.kept()).collect(),
    };
    if stored.weight_orig {
        for (w, &m) in weight.iter_mut().zip(&mask) {
            *w = if m { *w } else { 0.0 };
        }
    }
    Layer::new(stored.name, stored.shape, weight, Some(mask))
        .map_err(|e| CheckpointError::tensor(source.path(), &source.tensors()[spec.weight].name, e.to_string()))
}

//! Sparse-IFT families with iso-FLOP sizing (SPEC §7), the initial sparse layout (uniform or
//! ERK, SPEC §8) and the seeded initialization of the MLP they produce.

use super::kernels::SparseWeights;
use super::model::{Block, Linear, Mlp, Weights};
use super::pattern::{MaskGrid, MaskPattern};
use super::TrainError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The Sparse-IFT family that replaces every dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Dense,
    Wide,
    Parallel,
    Factorized,
    Doped,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Dense => "dense",
            Family::Wide => "wide",
            Family::Parallel => "parallel",
            Family::Factorized => "factorized",
            Family::Doped => "doped",
        }
    }
}

/// How the sparse layers' nonzeros are distributed at initialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Each sparse layer at the density its family gives it (1 − s, or the Sparse Wide sizing).
    Uniform,
    /// Erdős–Rényi-Kernel: density ∝ (in + out)/(in·out), same total nonzeros.
    Erk,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Uniform => "uniform",
            Layout::Erk => "erk",
        }
    }
}

/// The dense MLP a family transforms: `inputs → hidden[0] → … → classes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlpShape {
    pub inputs: usize,
    pub hidden: Vec<usize>,
    pub classes: usize,
}

impl MlpShape {
    /// `(in, out)` of every dense layer.
    pub fn layers(&self) -> Vec<(usize, usize)> {
        let mut sizes = vec![self.inputs];
        sizes.extend(&self.hidden);
        sizes.push(self.classes);
        sizes.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// Multiply-adds of one sample's forward pass through the dense MLP.
    pub fn dense_macs(&self) -> usize {
        self.layers().iter().map(|(i, o)| i * o).sum()
    }
}

/// One linear layer to build: its size, its density, and how many parallel paths its output is
/// summed with (for the initialization's variance).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPlan {
    pub name: String,
    /// Side of the square kernel (1: linear); `inputs` counts `kernel²·channels` features.
    pub kernel: usize,
    pub inputs: usize,
    pub outputs: usize,
    pub density: f64,
    /// Takes part in the sparse layout (ERK) and in DST.
    pub sparse: bool,
    pub bias: bool,
    pub paths: usize,
    /// Variance gain of the initialization: 2 where a ReLU follows, 1 for the doped path's
    /// linear bottleneck `U` (with 2 the product `V·U` starts too large and can diverge).
    pub gain: f64,
    /// The structure of its mask ([`apply_pattern`]).
    pub pattern: MaskPattern,
}

impl LayerPlan {
    fn new(name: String, kernel: usize, inputs: usize, outputs: usize, density: f64, bias: bool, paths: usize) -> Self {
        LayerPlan {
            name,
            kernel,
            inputs,
            outputs,
            density,
            sparse: density < 1.0,
            bias,
            paths,
            gain: 2.0,
            pattern: MaskPattern::Unstructured,
        }
    }

    /// The weight's shape as checkpoints store it: `[out, in]` or `[out, in, k, k]`.
    pub fn shape(&self) -> Vec<usize> {
        if self.kernel > 1 {
            vec![self.outputs, self.inputs / (self.kernel * self.kernel), self.kernel, self.kernel]
        } else {
            vec![self.outputs, self.inputs]
        }
    }

    pub fn size(&self) -> usize {
        self.inputs * self.outputs
    }

    /// The exact nonzero count this layer keeps: its density rounded to whole units of its
    /// pattern (blocks, or the same count in every output or N:M group).
    pub fn nonzeros(&self) -> usize {
        self.grid().nonzeros(self.density)
    }

    fn grid(&self) -> MaskGrid {
        MaskGrid::new(self.pattern, self.outputs, self.inputs)
    }
}

/// The blocks of a transformed MLP, before weights exist.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockPlan {
    Plain(LayerPlan),
    Parallel(Vec<LayerPlan>),
    Factorized { u: LayerPlan, v: LayerPlan },
    Doped { sparse: LayerPlan, low_rank: Option<(LayerPlan, LayerPlan)> },
}

impl BlockPlan {
    pub fn layers(&self) -> Vec<&LayerPlan> {
        match self {
            BlockPlan::Plain(l) => vec![l],
            BlockPlan::Parallel(ls) => ls.iter().collect(),
            BlockPlan::Factorized { u, v } => vec![u, v],
            BlockPlan::Doped { sparse, low_rank } => {
                let mut v = vec![sparse];
                if let Some((a, b)) = low_rank {
                    v.extend([a, b]);
                }
                v
            }
        }
    }

    fn layers_mut(&mut self) -> Vec<&mut LayerPlan> {
        match self {
            BlockPlan::Plain(l) => vec![l],
            BlockPlan::Parallel(ls) => ls.iter_mut().collect(),
            BlockPlan::Factorized { u, v } => vec![u, v],
            BlockPlan::Doped { sparse, low_rank } => {
                let mut v = vec![sparse];
                if let Some((a, b)) = low_rank {
                    v.extend([a, b]);
                }
                v
            }
        }
    }
}

/// Multiply-adds of one sample's forward pass through a plan, from its exact nonzeros.
pub fn plan_macs(plan: &[BlockPlan]) -> usize {
    plan.iter().flat_map(BlockPlan::layers).map(LayerPlan::nonzeros).sum()
}

/// One dense layer a family replaces: a `kernel`×`kernel` convolution (1: linear) from
/// `inputs` to `outputs` channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseLayer {
    pub name: String,
    pub kernel: usize,
    pub inputs: usize,
    pub outputs: usize,
}

/// SPEC §7: every dense layer of `shape` replaced by `family` at sparsity `s`, iso-FLOP.
/// The first layer's input side and the classifier's output side keep their size; the widths
/// a family chooses are multiples of `pattern`'s [`MaskPattern::width_multiple`], so its blocks
/// or groups tile every hidden side ([`apply_pattern`] then gives the layers their pattern).
pub fn plan(
    shape: &MlpShape,
    family: Family,
    sparsity: f64,
    pattern: MaskPattern,
) -> Result<Vec<BlockPlan>, TrainError> {
    if shape.hidden.is_empty() || shape.hidden.contains(&0) {
        return Err(TrainError::Config("the MLP needs at least one hidden layer of nonzero width".into()));
    }
    let layers = |s: &MlpShape| {
        s.layers()
            .into_iter()
            .enumerate()
            .map(|(k, (i, o))| DenseLayer { name: format!("fc{}", k + 1), kernel: 1, inputs: i, outputs: o })
            .collect::<Vec<_>>()
    };
    let (factor, multiple) = (wide_factor(sparsity), pattern.width_multiple());
    let wide = MlpShape { hidden: shape.hidden.iter().map(|&h| widen(h, factor, multiple)).collect(), ..shape.clone() };
    plan_layers(&layers(shape), &layers(&wide), family, sparsity, multiple)
}

/// Sparse Wide's width multiplier `√(1/(1−s))`.
pub fn wide_factor(sparsity: f64) -> f64 {
    (1.0 / (1.0 - sparsity)).sqrt()
}

/// A hidden width times the Sparse Wide multiplier, to the nearest multiple of `multiple`.
pub fn widen(width: usize, factor: f64, multiple: usize) -> usize {
    ((width as f64 * factor / multiple as f64).round() as usize).max(1) * multiple
}

/// The blocks replacing `dense` (SPEC §7); `widened` is the same network with Sparse Wide's
/// widths (used by `Family::Wide` only). A layer's features are `kernel²·inputs` (patches).
/// Sparse Factorized's inner width is a multiple of `multiple` (the nearest, its density then
/// what keeps the layer's FLOPs; for 1 the SPEC's `ceil` at density 1−s).
pub fn plan_layers(
    dense: &[DenseLayer],
    widened: &[DenseLayer],
    family: Family,
    sparsity: f64,
    multiple: usize,
) -> Result<Vec<BlockPlan>, TrainError> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(TrainError::Config(format!("--sparsity {sparsity} must be in [0, 1)")));
    }
    let density = 1.0 - sparsity;
    let layer = |name: String, kernel: usize, features: usize, outputs: usize, density: f64, bias: bool, paths| {
        LayerPlan::new(name, kernel, features, outputs, density, bias, paths)
    };
    let blocks = dense
        .iter()
        .zip(widened)
        .map(|(d, w)| {
            let (k, i, o, name) = (d.kernel, d.kernel * d.kernel * d.inputs, d.outputs, d.name.clone());
            match family {
                Family::Dense => BlockPlan::Plain(layer(name, k, i, o, 1.0, true, 1)),
                Family::Wide => {
                    let wi = w.kernel * w.kernel * w.inputs;
                    // Each widened layer keeps the dense layer's nonzeros.
                    let dw = ((i * o) as f64 / (wi * w.outputs) as f64).min(1.0);
                    BlockPlan::Plain(layer(name, k, wi, w.outputs, dw, true, 1))
                }
                Family::Parallel => {
                    let branches = (1.0 / density).round() as usize;
                    BlockPlan::Parallel(
                        (0..branches)
                            .map(|b| layer(format!("{name}.branch{b}"), k, i, o, density, b == 0, branches))
                            .collect(),
                    )
                }
                Family::Factorized => {
                    let exact = (i * o) as f64 / (density * (i + o) as f64);
                    // A width in whole units of the pattern, its density what keeps the FLOPs.
                    let (width, density) = if multiple == 1 {
                        (exact.ceil() as usize, density)
                    } else {
                        let width = ((exact / multiple as f64).round() as usize).max(1) * multiple;
                        (width, ((i * o) as f64 / (width * (i + o)) as f64).min(1.0))
                    };
                    BlockPlan::Factorized {
                        u: layer(format!("{name}.u"), k, i, width, density, true, 1),
                        v: layer(format!("{name}.v"), 1, width, o, density, true, 1),
                    }
                }
                Family::Doped => {
                    let r = (sparsity * (i * o) as f64 / (i + o) as f64).floor() as usize;
                    let paths = if r > 0 { 2 } else { 1 };
                    BlockPlan::Doped {
                        sparse: layer(format!("{name}.sparse"), k, i, o, density, true, paths),
                        low_rank: (r > 0).then(|| {
                            (
                                LayerPlan { gain: 1.0, ..layer(format!("{name}.lowrank_u"), k, i, r, 1.0, false, 1) },
                                layer(format!("{name}.lowrank_v"), 1, r, o, 1.0, false, paths),
                            )
                        }),
                    }
                }
            }
        })
        .collect();
    Ok(blocks)
}

/// ERK densities (SPEC §8) for weight shapes (`[out, in]` or `[out, in, kh, kw]`):
/// `density_i = min(1, ε·Σshape/Πshape)` with ε such that the layers hold `total_nonzeros`;
/// a layer that would exceed 1 is made dense and ε re-solved over the rest.
pub fn erk_densities(shapes: &[Vec<usize>], total_nonzeros: f64) -> Vec<f64> {
    let size = |s: &Vec<usize>| s.iter().product::<usize>() as f64;
    let sum = |s: &Vec<usize>| s.iter().sum::<usize>() as f64;
    let mut dense = vec![false; shapes.len()];
    loop {
        let fixed: f64 = shapes.iter().zip(&dense).filter(|(_, &d)| d).map(|(s, _)| size(s)).sum();
        let raw: f64 = shapes.iter().zip(&dense).filter(|(_, &d)| !d).map(|(s, _)| sum(s)).sum();
        let eps = if raw > 0.0 { (total_nonzeros - fixed) / raw } else { 0.0 };
        let densities: Vec<f64> =
            shapes.iter().zip(&dense).map(|(s, &d)| if d { 1.0 } else { eps * sum(s) / size(s) }).collect();
        let mut changed = false;
        for (d, &v) in dense.iter_mut().zip(&densities) {
            if !*d && v > 1.0 {
                *d = true;
                changed = true;
            }
        }
        if !changed {
            return densities;
        }
    }
}

/// Re-distributes the sparse layers' nonzeros by ERK, keeping their total.
pub fn apply_layout(plan: &mut [BlockPlan], layout: Layout) {
    if layout == Layout::Uniform {
        return;
    }
    let mut sparse: Vec<&mut LayerPlan> =
        plan.iter_mut().flat_map(BlockPlan::layers_mut).filter(|l| l.sparse).collect();
    let total: f64 = sparse.iter().map(|l| l.nonzeros() as f64).sum();
    let shapes: Vec<Vec<usize>> = sparse.iter().map(|l| l.shape()).collect();
    for (l, d) in sparse.iter_mut().zip(erk_densities(&shapes, total)) {
        l.density = d;
    }
}

/// Gives every sparse layer its mask structure: `pattern`, or for N:M the constant fan-in
/// where the layer's density is not N/M ([`MaskPattern::for_layer`]). Apply after the layout,
/// which sets the densities.
pub fn apply_pattern(plan: &mut [BlockPlan], pattern: MaskPattern) {
    for layer in plan.iter_mut().flat_map(BlockPlan::layers_mut).filter(|l| l.sparse) {
        layer.pattern = pattern.for_layer(layer.inputs, layer.density);
    }
}

/// A standard normal sample (Box–Muller), so initialization depends only on the seeded stream.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Weights and masks for a plan: each layer's mask holds exactly its nonzeros at seeded
/// random positions (whole units of its pattern, every group at its count); weights are normal with variance `gain/(density·in·paths)`: He over the
/// layer's actual fan-in, divided among the paths whose outputs are summed.
pub fn build(plan: &[BlockPlan], seed: u64) -> Mlp {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut layer = |p: &LayerPlan| {
        let n = p.size();
        let std = (p.gain / (p.density * p.inputs as f64 * p.paths as f64)).sqrt() as f32;
        let weight: Vec<f32> = (0..n).map(|_| std * normal(&mut rng)).collect();
        let bias = p.bias.then(|| vec![0.0; p.outputs]);
        let weights = if p.sparse {
            let mask = p.grid().random_mask(p.density, &mut rng);
            Weights::Sparse(SparseWeights::from_dense_masked(p.outputs, p.inputs, &weight, &mask))
        } else {
            Weights::Dense(weight)
        };
        let mut linear = Linear::new(p.name.clone(), p.inputs, p.outputs, weights, bias);
        linear.shape = p.shape();
        linear.pattern = p.pattern;
        linear
    };
    let blocks = plan
        .iter()
        .map(|b| match b {
            BlockPlan::Plain(p) => Block::Plain(layer(p)),
            BlockPlan::Parallel(ps) => Block::Parallel(ps.iter().map(&mut layer).collect()),
            BlockPlan::Factorized { u, v } => Block::Factorized { u: layer(u), v: layer(v), hidden: Vec::new() },
            BlockPlan::Doped { sparse, low_rank } => {
                Block::Doped { sparse: layer(sparse), low_rank: low_rank.as_ref().map(|(u, v)| (layer(u), layer(v))) }
            }
        })
        .collect();
    Mlp::new(blocks)
}

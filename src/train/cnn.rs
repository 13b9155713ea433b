//! The small CNN: conv3×3(pad 1)–BatchNorm–ReLU–maxpool2 stages, global average pooling and a
//! linear classifier. Every convolution is a Sparse-IFT block over im2col patches, so the
//! families, layouts, DST and kernels are the MLP's. Sparse Parallel's branches each have their
//! own normalization before their outputs are summed (SPEC §7).

use super::conv::{col2im, im2col, BatchNorm, ConvGeometry, MaxPool};
use super::model::{relu_backward, relu_in_place, Block, Linear, Network};
use super::optim::Sgd;
use super::pattern::MaskPattern;
use super::sift::{self, BlockPlan, DenseLayer, Family};
use super::TrainError;

/// The dense CNN a family transforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnnShape {
    /// `(channels, height, width)` of the input images.
    pub image: (usize, usize, usize),
    /// Output channels of each conv stage (each halves the spatial size).
    pub channels: Vec<usize>,
    pub classes: usize,
}

impl CnnShape {
    fn dense_layers(&self, channels: &[usize]) -> Vec<DenseLayer> {
        let mut layers = Vec::new();
        let mut inputs = self.image.0;
        for (i, &c) in channels.iter().enumerate() {
            layers.push(DenseLayer { name: format!("conv{}", i + 1), kernel: 3, inputs, outputs: c });
            inputs = c;
        }
        layers.push(DenseLayer { name: "fc".into(), kernel: 1, inputs, outputs: self.classes });
        layers
    }

    /// SPEC §7 for the CNN: every conv and the classifier replaced by `family`, iso-FLOP, its
    /// widths multiples of `pattern`'s (as [`sift::plan`]).
    pub fn plan(&self, family: Family, sparsity: f64, pattern: MaskPattern) -> Result<Vec<BlockPlan>, TrainError> {
        let (_, h, w) = self.image;
        let scale = 1usize.checked_shl(self.channels.len() as u32).unwrap_or(usize::MAX);
        if self.channels.is_empty() || self.channels.contains(&0) || h % scale != 0 || w % scale != 0 {
            return Err(TrainError::Config(format!(
                "a CNN with {} stages needs {}×{} images divisible by {scale} and nonzero channels",
                self.channels.len(),
                h,
                w
            )));
        }
        let (factor, multiple) = (sift::wide_factor(sparsity), pattern.width_multiple());
        let wide: Vec<usize> = self.channels.iter().map(|&c| sift::widen(c, factor, multiple)).collect();
        sift::plan_layers(&self.dense_layers(&self.channels), &self.dense_layers(&wide), family, sparsity, multiple)
    }
}

/// One conv–BN–ReLU–pool stage and what its backward needs from the forward.
#[derive(Debug, Clone)]
pub struct ConvStage {
    pub geometry: ConvGeometry,
    pub conv: Block,
    /// One normalization per Sparse Parallel branch (`norms[i]` follows branch `i`); one for
    /// any other block, after its output.
    pub norms: Vec<BatchNorm>,
    pool: MaxPool,
    cols: Vec<f32>,
    /// The stage's pre-activation: the (sum of the) normalized outputs, for the ReLU's backward.
    normalized: Vec<f32>,
}

impl ConvStage {
    fn channels(&self) -> usize {
        self.norms[0].gamma.len()
    }

    /// Conv (each branch through its own normalization, summed) into `self.normalized`.
    fn conv_norm_forward(&mut self, n: usize, training: bool, threads: usize) {
        let (mut z, mut normed) = (Vec::new(), Vec::new());
        let channels = self.channels();
        match &mut self.conv {
            Block::Parallel(branches) => {
                self.normalized.clear();
                self.normalized.resize(channels * n, 0.0);
                for (branch, norm) in branches.iter_mut().zip(&mut self.norms) {
                    branch.forward(&self.cols, n, &mut z, threads);
                    norm.forward(&z, training, &mut normed);
                    self.normalized.iter_mut().zip(&normed).for_each(|(a, &b)| *a += b);
                }
            }
            conv => {
                conv.forward(&self.cols, n, &mut z, threads);
                self.norms[0].forward(&z, training, &mut self.normalized);
            }
        }
    }

    /// Gradients of the conv and its normalizations from `dnormalized`; `dcols` when wanted.
    fn conv_norm_backward(
        &mut self,
        dnormalized: &[f32],
        n: usize,
        dcols: Option<&mut Vec<f32>>,
        dense_grad: bool,
        threads: usize,
    ) {
        let mut dz = Vec::new();
        match &mut self.conv {
            Block::Parallel(branches) => {
                let (mut dcols, mut t) = (dcols, Vec::new());
                for (i, (branch, norm)) in branches.iter_mut().zip(&mut self.norms).enumerate() {
                    norm.backward(dnormalized, &mut dz);
                    match dcols.as_deref_mut() {
                        Some(d) if i == 0 => branch.backward(&dz, n, Some(d), dense_grad, threads),
                        Some(d) => {
                            branch.backward(&dz, n, Some(&mut t), dense_grad, threads);
                            d.iter_mut().zip(&t).for_each(|(a, &b)| *a += b);
                        }
                        None => branch.backward(&dz, n, None, dense_grad, threads),
                    }
                }
            }
            conv => {
                self.norms[0].backward(dnormalized, &mut dz);
                conv.backward(&dz, n, dcols, dense_grad, threads);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cnn {
    pub stages: Vec<ConvStage>,
    pub classifier: Block,
    image: (usize, usize, usize),
    /// Spatial positions per sample after the last stage (global average pooling's divisor).
    final_positions: usize,
}

impl Cnn {
    /// Weights and masks for `plan` (from [`CnnShape::plan`]), seeded.
    pub fn build(shape: &CnnShape, plan: &[BlockPlan], seed: u64) -> Cnn {
        let mut blocks = sift::build(plan, seed).blocks;
        let classifier = blocks.pop().expect("a plan has its classifier");
        let (mut channels, mut h, mut w) = shape.image;
        let stages = blocks
            .into_iter()
            .map(|conv| {
                let geometry = ConvGeometry { channels, height: h, width: w, kernel: 3, stride: 1, padding: 1 };
                channels = conv.linears()[conv.linears().len() - 1].outputs;
                (h, w) = (h / 2, w / 2);
                let norms = match &conv {
                    Block::Parallel(branches) => branches.len(),
                    _ => 1,
                };
                ConvStage {
                    geometry,
                    conv,
                    norms: (0..norms).map(|_| BatchNorm::new(channels)).collect(),
                    pool: MaxPool::default(),
                    cols: Vec::new(),
                    normalized: Vec::new(),
                }
            })
            .collect();
        Cnn { stages, classifier, image: shape.image, final_positions: h * w }
    }
}

impl Network for Cnn {
    fn logits(&mut self, x: &[f32], batch: usize, training: bool, threads: usize) -> Vec<f32> {
        // Feature-major `[c·h·w, batch]` → `[c, batch·h·w]`.
        let (c0, h0, w0) = self.image;
        let hw = h0 * w0;
        let mut act = vec![0f32; x.len()];
        for c in 0..c0 {
            for p in 0..hw {
                for b in 0..batch {
                    act[c * batch * hw + b * hw + p] = x[(c * hw + p) * batch + b];
                }
            }
        }
        for stage in &mut self.stages {
            let g = stage.geometry;
            im2col(&g, &act, batch, &mut stage.cols);
            let n = batch * g.out_height() * g.out_width();
            stage.conv_norm_forward(n, training, threads);
            let mut a = stage.normalized.clone();
            relu_in_place(&mut a);
            let channels = stage.channels();
            stage.pool.forward(&a, channels, batch, g.out_height(), g.out_width(), &mut act);
        }
        // Global average pooling → `[channels, batch]`.
        let positions = self.final_positions;
        let channels = act.len() / (batch * positions);
        let pooled: Vec<f32> = (0..channels * batch)
            .map(|cb| act[cb * positions..(cb + 1) * positions].iter().sum::<f32>() / positions as f32)
            .collect();
        let mut logits = Vec::new();
        self.classifier.forward(&pooled, batch, &mut logits, threads);
        logits
    }

    fn backprop(&mut self, dlogits: &[f32], batch: usize, dense_grad: bool, threads: usize) {
        let mut dpooled = Vec::new();
        self.classifier.backward(dlogits, batch, Some(&mut dpooled), dense_grad, threads);
        let positions = self.final_positions;
        let mut d: Vec<f32> =
            dpooled.iter().flat_map(|&g| std::iter::repeat_n(g / positions as f32, positions)).collect();
        for (i, stage) in self.stages.iter_mut().enumerate().rev() {
            let g = stage.geometry;
            let n = batch * g.out_height() * g.out_width();
            let mut dact = Vec::new();
            stage.pool.backward(&d, &mut dact);
            relu_backward(&mut dact, &stage.normalized);
            if i == 0 {
                stage.conv_norm_backward(&dact, n, None, dense_grad, threads);
            } else {
                let mut dcols = Vec::new();
                stage.conv_norm_backward(&dact, n, Some(&mut dcols), dense_grad, threads);
                col2im(&g, &dcols, batch, &mut d);
            }
        }
    }

    fn layers(&self) -> Vec<&Linear> {
        self.stages.iter().flat_map(|s| s.conv.linears()).chain(self.classifier.linears()).collect()
    }

    fn layers_mut(&mut self) -> Vec<&mut Linear> {
        self.stages.iter_mut().flat_map(|s| s.conv.linears_mut()).chain(self.classifier.linears_mut()).collect()
    }

    fn macs(&self) -> usize {
        let conv: usize = self
            .stages
            .iter()
            .map(|s| {
                let positions = s.geometry.out_height() * s.geometry.out_width();
                s.conv.linears().iter().map(|l| l.macs()).sum::<usize>() * positions
            })
            .sum();
        conv + self.classifier.linears().iter().map(|l| l.macs()).sum::<usize>()
    }

    fn sgd_step(&mut self, sgd: &Sgd, lr: f32) {
        for l in self.layers_mut() {
            l.sgd_step(sgd, lr);
        }
        for norm in self.stages.iter_mut().flat_map(|s| &mut s.norms) {
            norm.sgd_step(sgd, lr);
        }
    }

    fn extra_tensors(&self) -> Vec<(String, Vec<f32>)> {
        let mut out = Vec::new();
        for (i, s) in self.stages.iter().enumerate() {
            // A branch's normalization is named after it: `conv1.branch0.bn.weight`.
            let prefixes: Vec<String> = match &s.conv {
                Block::Parallel(branches) => branches.iter().map(|b| format!("{}.bn", b.name)).collect(),
                _ => vec![format!("conv{}.bn", i + 1)],
            };
            for (prefix, norm) in prefixes.iter().zip(&s.norms) {
                out.push((format!("{prefix}.weight"), norm.gamma.clone()));
                out.push((format!("{prefix}.bias"), norm.beta.clone()));
                out.push((format!("{prefix}.running_mean"), norm.running_mean.clone()));
                out.push((format!("{prefix}.running_var"), norm.running_var.clone()));
            }
        }
        out
    }
}

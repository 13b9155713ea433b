//! Layers and the MLP: linear (dense on faer's GEMM, or sparse on our kernels), ReLU,
//! softmax cross-entropy, and the Sparse-IFT blocks that replace one dense layer.
//! Activations are feature-major `[features, batch]` throughout.

use super::kernels::{self, SparseWeights};
use super::optim::Sgd;
use super::pattern::MaskPattern;

/// A linear layer's weight: every position, or only its mask's positions.
#[derive(Debug, Clone, PartialEq)]
pub enum Weights {
    Dense(Vec<f32>),
    Sparse(SparseWeights),
    /// Dense weights times a mask on the dense GEMM path, as PyTorch code trains sparse
    /// models: the baseline our sparse kernels are measured against (zeros off the mask stay
    /// zero because their gradient is masked).
    Masked {
        weight: Vec<f32>,
        mask: Vec<bool>,
    },
}

/// `y = W·x + b`, with its gradients and SGD momentum buffers.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Tensor prefix in checkpoints: `NAME.weight`, `NAME.weight_mask`, `NAME.bias`.
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    /// The weight's shape in checkpoints: `[outputs, inputs]`, or `[out, in, k, k]` for a
    /// convolution over `inputs = in·k²` patch features (the same row-major bytes).
    pub shape: Vec<usize>,
    pub weights: Weights,
    /// The structure its mask keeps through DST updates.
    pub pattern: MaskPattern,
    pub bias: Option<Vec<f32>>,
    /// Gradient aligned with the stored weights (all positions, or the mask's).
    pub grad_w: Vec<f32>,
    pub grad_b: Vec<f32>,
    pub velocity_w: Vec<f32>,
    pub velocity_b: Vec<f32>,
    /// Gradient at every position `[outputs, inputs]` of a sparse layer, filled by `backward`
    /// when asked (RigL's growth criterion).
    pub dense_grad: Option<Vec<f32>>,
    input: Vec<f32>,
}

impl Linear {
    pub fn new(name: String, inputs: usize, outputs: usize, weights: Weights, bias: Option<Vec<f32>>) -> Self {
        let stored = match &weights {
            Weights::Dense(w) | Weights::Masked { weight: w, .. } => w.len(),
            Weights::Sparse(s) => s.nnz(),
        };
        let n_bias = bias.as_ref().map_or(0, Vec::len);
        Linear {
            name,
            inputs,
            outputs,
            shape: vec![outputs, inputs],
            weights,
            pattern: MaskPattern::Unstructured,
            bias,
            grad_w: vec![0.0; stored],
            grad_b: vec![0.0; n_bias],
            velocity_w: vec![0.0; stored],
            velocity_b: vec![0.0; n_bias],
            dense_grad: None,
            input: Vec::new(),
        }
    }

    /// Multiply-adds per sample as FLOP counts charge them: the nonzeros (a masked dense
    /// layer executes every position but is charged its mask's).
    pub fn macs(&self) -> usize {
        match &self.weights {
            Weights::Dense(w) => w.len(),
            Weights::Sparse(s) => s.nnz(),
            Weights::Masked { mask, .. } => mask.iter().filter(|&&m| m).count(),
        }
    }

    /// The same layer on the dense path, dense weights times its mask.
    pub fn to_masked(&self) -> Linear {
        let (weight, mask) = self.dense_weight_and_mask();
        let mut masked = Linear::new(
            self.name.clone(),
            self.inputs,
            self.outputs,
            Weights::Masked { weight, mask },
            self.bias.clone(),
        );
        masked.shape.clone_from(&self.shape);
        masked
    }

    pub fn is_sparse(&self) -> bool {
        matches!(self.weights, Weights::Sparse(_))
    }

    /// Row-major `[outputs, inputs]` weights (zeros off the mask) and the mask.
    pub fn dense_weight_and_mask(&self) -> (Vec<f32>, Vec<bool>) {
        match &self.weights {
            Weights::Dense(w) => (w.clone(), vec![true; w.len()]),
            Weights::Sparse(s) => (s.to_dense(), s.mask()),
            Weights::Masked { weight, mask } => (weight.clone(), mask.clone()),
        }
    }

    pub fn forward(&mut self, x: &[f32], batch: usize, y: &mut Vec<f32>, threads: usize) {
        // Every kernel writes all of `y`: a reused buffer needs no zero-fill.
        y.resize(self.outputs * batch, 0.0);
        match &self.weights {
            Weights::Dense(w) | Weights::Masked { weight: w, .. } => {
                kernels::dense_forward(w, self.outputs, self.inputs, x, batch, y, threads)
            }
            Weights::Sparse(s) => kernels::sparse_forward(s, x, batch, y),
        }
        if let Some(bias) = &self.bias {
            for (row, &b) in y.chunks_exact_mut(batch).zip(bias) {
                row.iter_mut().for_each(|v| *v += b);
            }
        }
        self.input.clear();
        self.input.extend_from_slice(x);
    }

    /// Gradients from `dy` (`[outputs, batch]`) of the last forward; `dx` (`[inputs, batch]`)
    /// when the caller needs it; a sparse layer's gradient at every position too when
    /// `want_dense_grad`.
    pub fn backward(
        &mut self,
        dy: &[f32],
        batch: usize,
        dx: Option<&mut Vec<f32>>,
        want_dense_grad: bool,
        threads: usize,
    ) {
        let x = &self.input;
        match &self.weights {
            Weights::Dense(_) => {
                kernels::dense_weight_grad(dy, x, self.outputs, self.inputs, batch, &mut self.grad_w, threads)
            }
            Weights::Sparse(s) => kernels::sparse_weight_grad(s, dy, x, batch, &mut self.grad_w),
            Weights::Masked { mask, .. } => {
                kernels::dense_weight_grad(dy, x, self.outputs, self.inputs, batch, &mut self.grad_w, threads);
                self.grad_w.iter_mut().zip(mask).filter(|(_, &m)| !m).for_each(|(g, _)| *g = 0.0);
            }
        }
        // Only sparse layers change their masks, so only they need the dense gradient.
        self.dense_grad = (want_dense_grad && self.is_sparse()).then(|| {
            let mut g = vec![0.0; self.outputs * self.inputs];
            kernels::dense_weight_grad(dy, x, self.outputs, self.inputs, batch, &mut g, threads);
            g
        });
        for (g, row) in self.grad_b.iter_mut().zip(dy.chunks_exact(batch)) {
            *g = row.iter().sum();
        }
        if let (Some(_), Weights::Sparse(s)) = (&dx, &mut self.weights) {
            // The values changed in the last SGD step (or by hand) since the copy was made.
            s.sync_transposed();
        }
        if let Some(dx) = dx {
            // Every kernel writes all of `dx`: a reused buffer needs no zero-fill.
            dx.resize(self.inputs * batch, 0.0);
            match &self.weights {
                Weights::Dense(w) | Weights::Masked { weight: w, .. } => {
                    kernels::dense_input_grad(w, self.outputs, self.inputs, dy, batch, dx, threads)
                }
                Weights::Sparse(s) => kernels::sparse_input_grad(s, dy, batch, dx),
            }
        }
    }

    pub fn sgd_step(&mut self, sgd: &Sgd, lr: f32) {
        let values = match &mut self.weights {
            Weights::Dense(w) | Weights::Masked { weight: w, .. } => w.as_mut_slice(),
            Weights::Sparse(s) => s.values.as_mut_slice(),
        };
        sgd.step(lr, values, &self.grad_w, &mut self.velocity_w, true);
        if let Some(bias) = &mut self.bias {
            sgd.step(lr, bias, &self.grad_b, &mut self.velocity_b, false);
        }
    }
}

pub(super) fn relu_in_place(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

/// `out ← max(z, 0)`, reusing `out`'s allocation.
fn relu_into(out: &mut Vec<f32>, z: &[f32]) {
    out.clear();
    out.extend(z.iter().map(|z| z.max(0.0)));
}

/// `d ← d · [z > 0]`, as a select rather than a branch so it vectorizes (the branch on signs
/// that are as good as random was 3.7% of the Sparse Wide step in perf).
pub(super) fn relu_backward(d: &mut [f32], z: &[f32]) {
    for (d, &z) in d.iter_mut().zip(z) {
        *d = if z <= 0.0 { 0.0 } else { *d };
    }
}

fn add_into(acc: &mut [f32], v: &[f32]) {
    acc.iter_mut().zip(v).for_each(|(a, &b)| *a += b);
}

/// What replaces one dense layer (SPEC §7).
// A model holds a handful of blocks, built once: boxing the layers would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Block {
    /// One linear layer (dense, or sparse for Sparse Wide).
    Plain(Linear),
    /// Branches of the full layer, outputs summed.
    Parallel(Vec<Linear>),
    /// `v(relu(u(x)))`; `hidden` is u's pre-activation of the last forward.
    Factorized { u: Linear, v: Linear, hidden: Vec<f32> },
    /// A sparse layer plus a dense low-rank path `v(u(x))` (absent when the rank is 0), summed.
    Doped { sparse: Linear, low_rank: Option<(Linear, Linear)> },
}

impl Block {
    pub fn linears(&self) -> Vec<&Linear> {
        match self {
            Block::Plain(l) => vec![l],
            Block::Parallel(ls) => ls.iter().collect(),
            Block::Factorized { u, v, .. } => vec![u, v],
            Block::Doped { sparse, low_rank } => {
                let mut v = vec![sparse];
                if let Some((a, b)) = low_rank {
                    v.extend([a, b]);
                }
                v
            }
        }
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        match self {
            Block::Plain(l) => vec![l],
            Block::Parallel(ls) => ls.iter_mut().collect(),
            Block::Factorized { u, v, .. } => vec![u, v],
            Block::Doped { sparse, low_rank } => {
                let mut v = vec![sparse];
                if let Some((a, b)) = low_rank {
                    v.extend([a, b]);
                }
                v
            }
        }
    }

    pub(super) fn forward(&mut self, x: &[f32], batch: usize, y: &mut Vec<f32>, threads: usize) {
        match self {
            Block::Plain(l) => l.forward(x, batch, y, threads),
            Block::Parallel(branches) => {
                let mut t = Vec::new();
                for (i, b) in branches.iter_mut().enumerate() {
                    if i == 0 {
                        b.forward(x, batch, y, threads);
                    } else {
                        b.forward(x, batch, &mut t, threads);
                        add_into(y, &t);
                    }
                }
            }
            Block::Factorized { u, v, hidden } => {
                u.forward(x, batch, hidden, threads);
                let mut h = hidden.clone();
                relu_in_place(&mut h);
                v.forward(&h, batch, y, threads);
            }
            Block::Doped { sparse, low_rank } => {
                sparse.forward(x, batch, y, threads);
                if let Some((u, v)) = low_rank {
                    let (mut t, mut t2) = (Vec::new(), Vec::new());
                    u.forward(x, batch, &mut t, threads);
                    v.forward(&t, batch, &mut t2, threads);
                    add_into(y, &t2);
                }
            }
        }
    }

    pub(super) fn backward(
        &mut self,
        dy: &[f32],
        batch: usize,
        dx: Option<&mut Vec<f32>>,
        dense_grad: bool,
        threads: usize,
    ) {
        match self {
            Block::Plain(l) => l.backward(dy, batch, dx, dense_grad, threads),
            Block::Parallel(branches) => {
                let mut t = Vec::new();
                let mut dx = dx;
                for (i, b) in branches.iter_mut().enumerate() {
                    match dx.as_deref_mut() {
                        Some(dx) if i == 0 => b.backward(dy, batch, Some(dx), dense_grad, threads),
                        Some(dx) => {
                            b.backward(dy, batch, Some(&mut t), dense_grad, threads);
                            add_into(dx, &t);
                        }
                        None => b.backward(dy, batch, None, dense_grad, threads),
                    }
                }
            }
            Block::Factorized { u, v, hidden } => {
                let mut dh = Vec::new();
                v.backward(dy, batch, Some(&mut dh), dense_grad, threads);
                relu_backward(&mut dh, hidden);
                u.backward(&dh, batch, dx, dense_grad, threads);
            }
            Block::Doped { sparse, low_rank } => {
                let mut dx = dx;
                sparse.backward(dy, batch, dx.as_deref_mut(), dense_grad, threads);
                if let Some((u, v)) = low_rank {
                    let (mut dt, mut t) = (Vec::new(), Vec::new());
                    v.backward(dy, batch, Some(&mut dt), dense_grad, threads);
                    match dx {
                        Some(dx) => {
                            u.backward(&dt, batch, Some(&mut t), dense_grad, threads);
                            add_into(dx, &t);
                        }
                        None => u.backward(&dt, batch, None, dense_grad, threads),
                    }
                }
            }
        }
    }
}

/// Blocks with ReLU between them; the last block's output is the logits.
#[derive(Debug, Clone)]
pub struct Mlp {
    pub blocks: Vec<Block>,
    /// Pre-activations of every block but the last, from the last forward.
    pre: Vec<Vec<f32>>,
    /// Ping-pong buffers kept across steps for the ReLU'd activations (forward) and the
    /// gradients flowing down (backward): a fresh 1.6 MB vector per layer and step cost
    /// a zero-fill and page faults.
    bufs: [Vec<f32>; 2],
}

impl Mlp {
    pub fn new(blocks: Vec<Block>) -> Self {
        let n = blocks.len();
        Mlp { blocks, pre: vec![Vec::new(); n], bufs: [Vec::new(), Vec::new()] }
    }

    /// Every linear layer, in checkpoint order.
    pub fn linears(&self) -> Vec<&Linear> {
        self.blocks.iter().flat_map(Block::linears).collect()
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        self.blocks.iter_mut().flat_map(Block::linears_mut).collect()
    }

    /// The same model with every sparse layer on the dense path (dense weights × mask).
    pub fn to_masked(&self) -> Mlp {
        let blocks = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::Plain(l) => Block::Plain(l.to_masked()),
                Block::Parallel(ls) => Block::Parallel(ls.iter().map(Linear::to_masked).collect()),
                Block::Factorized { u, v, .. } => {
                    Block::Factorized { u: u.to_masked(), v: v.to_masked(), hidden: Vec::new() }
                }
                Block::Doped { sparse, low_rank } => Block::Doped {
                    sparse: sparse.to_masked(),
                    low_rank: low_rank.as_ref().map(|(u, v)| (u.to_masked(), v.to_masked())),
                },
            })
            .collect();
        Mlp::new(blocks)
    }

    /// Multiply-adds of one sample's forward pass.
    pub fn forward_macs(&self) -> usize {
        self.linears().iter().map(|l| l.macs()).sum()
    }

    /// Logits `[classes, batch]` of `x` (`[features, batch]`).
    pub fn forward(&mut self, x: &[f32], batch: usize, threads: usize) -> Vec<f32> {
        let mut logits = Vec::new();
        let Some((last, hidden)) = self.blocks.split_last_mut() else { return logits };
        let [a, b] = &mut self.bufs;
        let (mut input, mut next) = (a, b);
        for (i, (block, pre)) in hidden.iter_mut().zip(&mut self.pre).enumerate() {
            block.forward(if i == 0 { x } else { input }, batch, pre, threads);
            relu_into(next, pre);
            std::mem::swap(&mut input, &mut next);
        }
        last.forward(if hidden.is_empty() { x } else { input }, batch, &mut logits, threads);
        logits
    }

    /// Back-propagates `dlogits` through the last forward, filling every layer's gradients.
    pub fn backward(&mut self, dlogits: &[f32], batch: usize, dense_grad: bool, threads: usize) {
        let [a, b] = &mut self.bufs;
        let (mut d, mut dx) = (a, b);
        for i in (0..self.blocks.len()).rev() {
            let dy = if i + 1 == self.blocks.len() { dlogits } else { d.as_slice() };
            if i == 0 {
                self.blocks[0].backward(dy, batch, None, dense_grad, threads);
            } else {
                self.blocks[i].backward(dy, batch, Some(dx), dense_grad, threads);
                relu_backward(dx, &self.pre[i - 1]);
                std::mem::swap(&mut d, &mut dx);
            }
        }
    }
}

/// What the trainer needs of a model: MLP or CNN. Inputs are feature-major
/// `[features, batch]`; logits `[classes, batch]`.
pub trait Network: Send {
    /// Logits; `training` selects batch statistics in normalization layers.
    fn logits(&mut self, x: &[f32], batch: usize, training: bool, threads: usize) -> Vec<f32>;
    /// Back-propagates through the last forward, filling every layer's gradients.
    fn backprop(&mut self, dlogits: &[f32], batch: usize, dense_grad: bool, threads: usize);
    /// Every linear (or im2col convolution) layer, in checkpoint order.
    fn layers(&self) -> Vec<&Linear>;
    fn layers_mut(&mut self) -> Vec<&mut Linear>;
    /// Multiply-adds of one sample's forward pass, from the actual nonzeros.
    fn macs(&self) -> usize;
    /// One SGD step on every parameter.
    fn sgd_step(&mut self, sgd: &Sgd, lr: f32) {
        for l in self.layers_mut() {
            l.sgd_step(sgd, lr);
        }
    }
    /// Parameters besides the layers' weights and biases (normalization), for checkpoints.
    fn extra_tensors(&self) -> Vec<(String, Vec<f32>)> {
        Vec::new()
    }
}

impl Network for Mlp {
    fn logits(&mut self, x: &[f32], batch: usize, _training: bool, threads: usize) -> Vec<f32> {
        self.forward(x, batch, threads)
    }

    fn backprop(&mut self, dlogits: &[f32], batch: usize, dense_grad: bool, threads: usize) {
        self.backward(dlogits, batch, dense_grad, threads)
    }

    fn layers(&self) -> Vec<&Linear> {
        self.linears()
    }

    fn layers_mut(&mut self) -> Vec<&mut Linear> {
        self.linears_mut()
    }

    fn macs(&self) -> usize {
        self.forward_macs()
    }
}

/// Mean softmax cross-entropy of `logits` (`[classes, batch]`) against `labels`, its gradient
/// with respect to the logits, and the number of correct arg-max predictions.
pub fn softmax_cross_entropy(logits: &[f32], labels: &[u8], classes: usize) -> (f64, Vec<f32>, usize) {
    let batch = labels.len();
    let mut grad = vec![0f32; logits.len()];
    let mut loss = 0f64;
    let mut correct = 0;
    for (b, &label) in labels.iter().enumerate() {
        let z = |c: usize| logits[c * batch + b] as f64;
        let (arg, max) =
            (0..classes).map(|c| (c, z(c))).fold((0, f64::NEG_INFINITY), |a, c| if c.1 > a.1 { c } else { a });
        let sum: f64 = (0..classes).map(|c| (z(c) - max).exp()).sum();
        loss += max + sum.ln() - z(usize::from(label));
        correct += usize::from(arg == usize::from(label));
        for c in 0..classes {
            let p = (z(c) - max).exp() / sum;
            let target = if c == usize::from(label) { 1.0 } else { 0.0 };
            grad[c * batch + b] = ((p - target) / batch as f64) as f32;
        }
    }
    (loss / batch.max(1) as f64, grad, correct)
}

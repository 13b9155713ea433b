//! Convolution layers on the same kernels: im2col turns a convolution into a linear layer over
//! patches (weight `[out, in·kh·kw]`, row-major the same bytes as `[out, in, kh, kw]`), so a
//! sparse conv runs on the sparse kernels; plus BatchNorm and 2×2 max pooling.
//! Activations are `[channels, batch·height·width]`, columns ordered `(b, y, x)`: a conv's
//! output is already the next layer's input layout.

/// The spatial shape a convolution sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Rows of the patch matrix: `channels·kernel²`, ordered `(c, ky, kx)` like `[in, kh, kw]`.
    pub fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// For every patch row and output column, the input index it reads (None: padding).
    fn for_each(&self, batch: usize, mut f: impl FnMut(usize, usize, Option<usize>)) {
        let (oh, ow) = (self.out_height(), self.out_width());
        let n_in = batch * self.height * self.width;
        let n_out = batch * oh * ow;
        for c in 0..self.channels {
            for ky in 0..self.kernel {
                for kx in 0..self.kernel {
                    let row = (c * self.kernel + ky) * self.kernel + kx;
                    for b in 0..batch {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let y = (oy * self.stride + ky) as isize - self.padding as isize;
                                let x = (ox * self.stride + kx) as isize - self.padding as isize;
                                let col = (b * oh + oy) * ow + ox;
                                let inside =
                                    y >= 0 && x >= 0 && (y as usize) < self.height && (x as usize) < self.width;
                                let src =
                                    inside.then(|| c * n_in + (b * self.height + y as usize) * self.width + x as usize);
                                f(row * n_out + col, n_out, src);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `[channels, batch·H·W]` → patches `[channels·k², batch·H'·W']`.
pub fn im2col(g: &ConvGeometry, x: &[f32], batch: usize, cols: &mut Vec<f32>) {
    cols.clear();
    cols.resize(g.patch() * batch * g.out_height() * g.out_width(), 0.0);
    g.for_each(batch, |dst, _, src| {
        if let Some(s) = src {
            cols[dst] = x[s];
        }
    });
}

/// The adjoint of [`im2col`]: patch gradients summed back onto the input positions.
pub fn col2im(g: &ConvGeometry, dcols: &[f32], batch: usize, dx: &mut Vec<f32>) {
    dx.clear();
    dx.resize(g.channels * batch * g.height * g.width, 0.0);
    g.for_each(batch, |dst, _, src| {
        if let Some(s) = src {
            dx[s] += dcols[dst];
        }
    });
}

/// Batch normalization over the columns of `[channels, n]`, with learned scale and shift and
/// running statistics for evaluation.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
    pub grad_gamma: Vec<f32>,
    pub grad_beta: Vec<f32>,
    pub velocity_gamma: Vec<f32>,
    pub velocity_beta: Vec<f32>,
    normalized: Vec<f32>,
    inv_std: Vec<f32>,
}

const BN_EPS: f32 = 1e-5;
const BN_MOMENTUM: f32 = 0.1;

impl BatchNorm {
    pub fn new(channels: usize) -> Self {
        BatchNorm {
            gamma: vec![1.0; channels],
            beta: vec![0.0; channels],
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
            grad_gamma: vec![0.0; channels],
            grad_beta: vec![0.0; channels],
            velocity_gamma: vec![0.0; channels],
            velocity_beta: vec![0.0; channels],
            normalized: Vec::new(),
            inv_std: Vec::new(),
        }
    }

    /// Training mode normalizes with the batch's statistics (and updates the running ones);
    /// evaluation uses the running statistics.
    pub fn forward(&mut self, x: &[f32], training: bool, y: &mut Vec<f32>) {
        let channels = self.gamma.len();
        let n = x.len() / channels;
        y.clear();
        y.resize(x.len(), 0.0);
        self.normalized.resize(x.len(), 0.0);
        self.inv_std.resize(channels, 0.0);
        for c in 0..channels {
            let row = &x[c * n..(c + 1) * n];
            let (mean, var) = if training {
                let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
                let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
                let unbiased = if n > 1 { var * n as f64 / (n - 1) as f64 } else { var };
                self.running_mean[c] = (1.0 - BN_MOMENTUM) * self.running_mean[c] + BN_MOMENTUM * mean as f32;
                self.running_var[c] = (1.0 - BN_MOMENTUM) * self.running_var[c] + BN_MOMENTUM * unbiased as f32;
                (mean as f32, var as f32)
            } else {
                (self.running_mean[c], self.running_var[c])
            };
            let inv = 1.0 / (var + BN_EPS).sqrt();
            self.inv_std[c] = inv;
            for i in 0..n {
                let h = (row[i] - mean) * inv;
                self.normalized[c * n + i] = h;
                y[c * n + i] = self.gamma[c] * h + self.beta[c];
            }
        }
    }

    /// SGD on the scale and shift (no weight decay, as for biases).
    pub fn sgd_step(&mut self, sgd: &crate::train::optim::Sgd, lr: f32) {
        sgd.step(lr, &mut self.gamma, &self.grad_gamma, &mut self.velocity_gamma, false);
        sgd.step(lr, &mut self.beta, &self.grad_beta, &mut self.velocity_beta, false);
    }

    /// Gradients of the last training-mode forward: `dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))`.
    pub fn backward(&mut self, dy: &[f32], dx: &mut Vec<f32>) {
        let channels = self.gamma.len();
        let n = dy.len() / channels;
        dx.clear();
        dx.resize(dy.len(), 0.0);
        for c in 0..channels {
            let (d, h) = (&dy[c * n..(c + 1) * n], &self.normalized[c * n..(c + 1) * n]);
            let sum_d: f64 = d.iter().map(|&v| v as f64).sum();
            let sum_dh: f64 = d.iter().zip(h).map(|(&a, &b)| a as f64 * b as f64).sum();
            self.grad_beta[c] = sum_d as f32;
            self.grad_gamma[c] = sum_dh as f32;
            let scale = self.gamma[c] * self.inv_std[c];
            let (mean_d, mean_dh) = ((sum_d / n as f64) as f32, (sum_dh / n as f64) as f32);
            for i in 0..n {
                dx[c * n + i] = scale * (d[i] - mean_d - h[i] * mean_dh);
            }
        }
    }
}

/// 2×2 max pooling with stride 2 over `[channels, batch·H·W]` (H and W even).
#[derive(Debug, Clone, Default)]
pub struct MaxPool {
    argmax: Vec<usize>,
    input_len: usize,
}

impl MaxPool {
    pub fn forward(&mut self, x: &[f32], channels: usize, batch: usize, h: usize, w: usize, y: &mut Vec<f32>) {
        let (oh, ow) = (h / 2, w / 2);
        y.clear();
        self.argmax.clear();
        self.input_len = x.len();
        for c in 0..channels {
            for b in 0..batch {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let at = |dy: usize, dx: usize| c * batch * h * w + (b * h + 2 * oy + dy) * w + 2 * ox + dx;
                        let best = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)].into_iter().fold(at(0, 0), |best, i| {
                            if x[i] > x[best] {
                                i
                            } else {
                                best
                            }
                        });
                        y.push(x[best]);
                        self.argmax.push(best);
                    }
                }
            }
        }
    }

    pub fn backward(&self, dy: &[f32], dx: &mut Vec<f32>) {
        dx.clear();
        dx.resize(self.input_len, 0.0);
        for (&g, &i) in dy.iter().zip(&self.argmax) {
            dx[i] += g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::kernels::{dense_forward, sparse_forward, SparseWeights};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// The textbook 7-loop convolution with zero padding, in f64.
    fn direct_conv(g: &ConvGeometry, w: &[f32], out_ch: usize, x: &[f32], batch: usize) -> Vec<f64> {
        let (oh, ow) = (g.out_height(), g.out_width());
        let mut y = vec![0.0; out_ch * batch * oh * ow];
        for o in 0..out_ch {
            for b in 0..batch {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0.0;
                        for c in 0..g.channels {
                            for ky in 0..g.kernel {
                                for kx in 0..g.kernel {
                                    let yy = (oy * g.stride + ky) as isize - g.padding as isize;
                                    let xx = (ox * g.stride + kx) as isize - g.padding as isize;
                                    if yy < 0 || xx < 0 || yy as usize >= g.height || xx as usize >= g.width {
                                        continue;
                                    }
                                    let wi = ((o * g.channels + c) * g.kernel + ky) * g.kernel + kx;
                                    let xi = c * batch * g.height * g.width
                                        + (b * g.height + yy as usize) * g.width
                                        + xx as usize;
                                    acc += w[wi] as f64 * x[xi] as f64;
                                }
                            }
                        }
                        y[o * batch * oh * ow + (b * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn im2col_convolution_matches_direct_convolution_dense_and_sparse() {
        for (stride, padding) in [(1, 1), (2, 0), (1, 0)] {
            let g = ConvGeometry { channels: 3, height: 6, width: 5, kernel: 3, stride, padding };
            let (out_ch, batch) = (4, 2);
            let x = random(g.channels * batch * g.height * g.width, 1);
            let mut w = random(out_ch * g.patch(), 2);
            let mask: Vec<bool> = (0..w.len()).map(|i| i % 3 != 0).collect();
            let mut cols = Vec::new();
            im2col(&g, &x, batch, &mut cols);
            let n = batch * g.out_height() * g.out_width();
            let mut y = vec![0.0; out_ch * n];
            dense_forward(&w, out_ch, g.patch(), &cols, n, &mut y, 1);
            let sparse = SparseWeights::from_dense_masked(out_ch, g.patch(), &w, &mask);
            let mut ys = vec![0.0; out_ch * n];
            sparse_forward(&sparse, &cols, n, &mut ys);
            let reference = direct_conv(&g, &w, out_ch, &x, batch);
            w.iter_mut().zip(&mask).filter(|(_, &m)| !m).for_each(|(v, _)| *v = 0.0);
            let masked_reference = direct_conv(&g, &w, out_ch, &x, batch);
            for i in 0..y.len() {
                assert!((y[i] as f64 - reference[i]).abs() < 1e-5, "dense conv {i}");
                assert!((ys[i] as f64 - masked_reference[i]).abs() < 1e-5, "sparse conv {i}");
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let g = ConvGeometry { channels: 2, height: 5, width: 4, kernel: 3, stride: 2, padding: 1 };
        let batch = 3;
        let x = random(g.channels * batch * g.height * g.width, 3);
        let mut cols = Vec::new();
        im2col(&g, &x, batch, &mut cols);
        let y = random(cols.len(), 4);
        let mut back = Vec::new();
        col2im(&g, &y, batch, &mut back);
        let lhs: f64 = cols.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(&a, &b)| a as f64 * b as f64).sum();
        assert!((lhs - rhs).abs() < 1e-4, "<im2col x, y> = {lhs}, <x, col2im y> = {rhs}");
    }

    /// Σ upstream·output, the scalar whose gradient the layers' backward computes.
    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    #[test]
    fn batchnorm_gradients_match_finite_differences() {
        let (channels, n) = (3, 7);
        let x = random(channels * n, 5);
        let upstream = random(channels * n, 6);
        let mut bn = BatchNorm::new(channels);
        bn.gamma = vec![1.5, -0.7, 0.9];
        bn.beta = vec![0.1, 0.2, -0.3];
        let mut y = Vec::new();
        bn.forward(&x, true, &mut y);
        let mut dx = Vec::new();
        bn.backward(&upstream, &mut dx);
        let eps = 1e-3f32;
        let objective = |bn: &mut BatchNorm, x: &[f32]| {
            let mut y = Vec::new();
            bn.forward(x, true, &mut y);
            dot(&y, &upstream)
        };
        for i in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += eps;
            down[i] -= eps;
            let fd = (objective(&mut bn.clone(), &up) - objective(&mut bn.clone(), &down)) / (2.0 * eps as f64);
            assert!((fd - dx[i] as f64).abs() < 2e-3, "dx[{i}]: fd {fd} analytic {}", dx[i]);
        }
        for c in 0..channels {
            let mut b = bn.clone();
            b.gamma[c] += eps;
            let up = objective(&mut b, &x);
            b.gamma[c] -= 2.0 * eps;
            let down = objective(&mut b, &x);
            let fd = (up - down) / (2.0 * eps as f64);
            assert!((fd - bn.grad_gamma[c] as f64).abs() < 2e-3, "dγ[{c}]: fd {fd} analytic {}", bn.grad_gamma[c]);
            let s: f64 = upstream[c * n..(c + 1) * n].iter().map(|&v| v as f64).sum();
            assert!((s - bn.grad_beta[c] as f64).abs() < 1e-5);
        }
        // Evaluation mode uses the running statistics, which training moved toward the batch's.
        assert!(bn.running_mean.iter().any(|&m| m != 0.0));
    }

    #[test]
    fn maxpool_gradient_matches_finite_differences() {
        let (channels, batch, h, w) = (2, 2, 4, 6);
        let x = random(channels * batch * h * w, 7);
        let mut pool = MaxPool::default();
        let mut y = Vec::new();
        pool.forward(&x, channels, batch, h, w, &mut y);
        assert_eq!(y.len(), channels * batch * (h / 2) * (w / 2));
        let upstream = random(y.len(), 8);
        let mut dx = Vec::new();
        pool.backward(&upstream, &mut dx);
        let eps = 1e-4f32;
        for i in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += eps;
            down[i] -= eps;
            let f = |v: &[f32]| {
                let mut out = Vec::new();
                MaxPool::default().forward(v, channels, batch, h, w, &mut out);
                dot(&out, &upstream)
            };
            let fd = (f(&up) - f(&down)) / (2.0 * eps as f64);
            assert!((fd - dx[i] as f64).abs() < 1e-3, "dx[{i}]: fd {fd} analytic {}", dx[i]);
        }
    }
}

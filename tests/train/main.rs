//! The trainer: kernels' gradients against dense references, Sparse-IFT sizing, dynamic
//! sparse training, the CNN, checkpoints as written, and learning on the embedded digits.

mod checkpoint;
mod cnn;
mod dst;
mod gradients;
mod learning;
mod sift;

//! A tensor's values as a reader delivers them: in the narrowest type that holds every one
//! exactly, so that a layer stored in f32, f16 or bf16 is analyzed from f32 (half the bytes
//! of f64 to convert, hold and stream through the products) and a u8 or bool mask from u8.

use super::{budget, CheckpointError, Dtype};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum TensorValues {
    /// f64, and the integers wider than 8 bits (exact up to 2^53, beyond any weight or mask).
    F64(Vec<f64>),
    /// f32, f16 and bf16: each of their values is exactly an f32.
    F32(Vec<f32>),
    /// bool and u8.
    U8(Vec<u8>),
}

/// `TensorValues` of the same variant, its vector mapped by `$body` (generic over the element).
macro_rules! map_values {
    ($values:expr, |$v:ident| $body:expr) => {
        match $values {
            $crate::checkpoint::TensorValues::F64($v) => $crate::checkpoint::TensorValues::F64($body),
            $crate::checkpoint::TensorValues::F32($v) => $crate::checkpoint::TensorValues::F32($body),
            $crate::checkpoint::TensorValues::U8($v) => $crate::checkpoint::TensorValues::U8($body),
        }
    };
}
pub(crate) use map_values;

impl TensorValues {
    /// No values yet, with room for `n` of `dtype`, reserved fallibly: memory running out is
    /// an error naming the tensor.
    pub fn reserve(path: &Path, tensor: &str, dtype: Dtype, n: usize) -> Result<TensorValues, CheckpointError> {
        Ok(match dtype {
            Dtype::F32 | Dtype::F16 | Dtype::BF16 => TensorValues::F32(budget::reserve(path, tensor, n)?),
            Dtype::Bool | Dtype::U8 => TensorValues::U8(budget::reserve(path, tensor, n)?),
            _ => TensorValues::F64(budget::reserve(path, tensor, n)?),
        })
    }

    pub fn len(&self) -> usize {
        match self {
            TensorValues::F64(v) => v.len(),
            TensorValues::F32(v) => v.len(),
            TensorValues::U8(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every value as f64 (exact).
    pub fn into_f64(self) -> Vec<f64> {
        match self {
            TensorValues::F64(v) => v,
            TensorValues::F32(v) => v.into_iter().map(f64::from).collect(),
            TensorValues::U8(v) => v.into_iter().map(f64::from).collect(),
        }
    }

    /// The first value that is NaN or infinite, if any.
    pub fn first_non_finite(&self) -> Option<f64> {
        match self {
            TensorValues::F64(v) => v.iter().copied().find(|x| !x.is_finite()),
            TensorValues::F32(v) => v.iter().find(|x| !x.is_finite()).map(|&x| f64::from(x)),
            TensorValues::U8(_) => None,
        }
    }
}

impl Dtype {
    /// Appends little-endian elements of this type to `out`, which must come from
    /// [`TensorValues::reserve`] for this type.
    pub fn decode_le(self, bytes: &[u8], out: &mut TensorValues) {
        macro_rules! each {
            ($out:expr, $w:expr, $f:expr) => {
                $out.extend(bytes.chunks_exact($w).map(|c| $f(c.try_into().unwrap())))
            };
        }
        match out {
            TensorValues::F32(out) => match self {
                Dtype::F32 => each!(out, 4, f32::from_le_bytes),
                Dtype::F16 => each!(out, 2, |b| half::f16::from_le_bytes(b).to_f32()),
                Dtype::BF16 => each!(out, 2, |b| half::bf16::from_le_bytes(b).to_f32()),
                _ => unreachable!("{self:?} is not decoded to f32"),
            },
            TensorValues::U8(out) => match self {
                Dtype::Bool | Dtype::U8 => out.extend_from_slice(bytes),
                _ => unreachable!("{self:?} is not decoded to u8"),
            },
            TensorValues::F64(out) => match self {
                Dtype::F64 => each!(out, 8, f64::from_le_bytes),
                Dtype::I8 => out.extend(bytes.iter().map(|&b| f64::from(b as i8))),
                Dtype::I16 => each!(out, 2, |b| f64::from(i16::from_le_bytes(b))),
                Dtype::I32 => each!(out, 4, |b| f64::from(i32::from_le_bytes(b))),
                Dtype::I64 => each!(out, 8, |b| i64::from_le_bytes(b) as f64),
                _ => unreachable!("{self:?} is not decoded to f64"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dtype_decodes_exactly_into_its_narrowest_type() {
        let path = Path::new("t");
        let decode = |dtype: Dtype, bytes: &[u8]| {
            let mut out = TensorValues::reserve(path, "x", dtype, bytes.len() / dtype.size()).unwrap();
            dtype.decode_le(bytes, &mut out);
            out
        };
        let bf16: Vec<u8> = [1.5f32, -0.0078125].iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect();
        assert_eq!(decode(Dtype::BF16, &bf16), TensorValues::F32(vec![1.5, -0.0078125]));
        let f16: Vec<u8> =
            [65504.0f32, 6.1035156e-5].iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
        assert_eq!(decode(Dtype::F16, &f16), TensorValues::F32(vec![65504.0, 6.1035156e-5]));
        assert_eq!(decode(Dtype::Bool, &[0, 1, 1]), TensorValues::U8(vec![0, 1, 1]));
        let i32s: Vec<u8> = [-7i32, 1 << 30].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(decode(Dtype::I32, &i32s).into_f64(), vec![-7.0, 1073741824.0]);
        assert_eq!(TensorValues::F32(vec![1.0, f32::INFINITY]).first_non_finite(), Some(f64::INFINITY));
    }
}

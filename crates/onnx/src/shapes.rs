//! ONNX shape arithmetic folded at translation time. Exporters compute reshape targets from
//! tensor shapes at run time: PyTorch's `x.view(x.size(0), -1)` becomes Shape → Gather →
//! Unsqueeze → Concat → Reshape. Every size but the batch is known while translating, so
//! these integer ops fold to [`Dims`] (shared with the converter, which folds TF's) whose
//! only symbolic entry is the batch. Here are the ONNX-specific rules.

use ndarray::{ArrayD, IxDyn};
use tf2h5_tf::{Dim, Dims};

use crate::error::{unsupported, OpError};
use crate::proto::Const;

/// ONNX's rule for `start`/`end` indices: negative counts from the end, then clamped.
fn clamp_index(index: i64, len: usize) -> usize {
    let len = len as i64;
    (if index < 0 { index + len } else { index }).clamp(0, len) as usize
}

/// An integer constant of rank 0 or 1.
pub(crate) fn from_const(value: &Const) -> Option<Dims> {
    let rank = value.shape().len();
    (rank <= 1).then_some(())?;
    Some(Dims { values: value.int_values()?.into_iter().map(Dim::Known).collect(), scalar: rank == 0 })
}

/// The folded value: a constant when the batch is not involved.
pub(crate) fn to_const(dims: &Dims) -> Option<Const> {
    let shape: &[usize] = if dims.scalar { &[] } else { &[dims.values.len()] };
    ArrayD::from_shape_vec(IxDyn(shape), dims.known()?).ok().map(Const::Int)
}

/// `Slice` with step 1 of a vector (and `Shape`'s `start`/`end`).
pub(crate) fn slice(dims: &Dims, start: i64, end: i64) -> Dims {
    let len = dims.values.len();
    let (start, end) = (clamp_index(start, len), clamp_index(end, len));
    Dims { values: dims.values[start..end.max(start)].to_vec(), scalar: false }
}

/// `Unsqueeze(axes = [0])` of a scalar (`rank` 1) or `Squeeze` of a single value (`rank` 0).
pub(crate) fn with_rank(dims: &Dims, rank: usize, axes: &[i64]) -> Result<Dims, OpError> {
    let fits = match rank {
        1 => dims.scalar && matches!(axes, [0] | [-1]),
        0 => !dims.scalar && dims.values.len() == 1 && matches!(axes, [] | [0] | [-1]),
        _ => false,
    };
    if !fits {
        return Err(unsupported!(
            "axes {axes:?} on shape values {:?}: only scalars and vectors of shape values are supported",
            dims.values
        ));
    }
    Ok(Dims { values: dims.values.clone(), scalar: rank == 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's `x.view(x.size(0), -1)`: Shape → Gather(0) → Unsqueeze(0) → Concat with -1.
    #[test]
    fn folds_torch_flatten_to_a_batch_and_minus_one() {
        let shape = Dims::of_shape(&[None, Some(12), Some(6), Some(6)]).unwrap();
        let batch = shape.gather(&[0], true).unwrap();
        let batch = with_rank(&batch, 1, &[0]).unwrap();
        let minus_one = from_const(&Const::Int(ArrayD::from_shape_vec(IxDyn(&[1]), vec![-1]).unwrap())).unwrap();
        let target = Dims::concat(&[batch, minus_one]).unwrap();
        assert_eq!(target.values, vec![Dim::Batch(1), Dim::Known(-1)]);
        assert_eq!(to_const(&target), None);
    }

    #[test]
    fn slices_follow_onnx_clamping() {
        let shape = slice(&Dims::of_shape(&[None, Some(3), Some(4)]).unwrap(), 1, 100);
        assert_eq!(shape.known(), Some(vec![3, 4]));
        assert_eq!(slice(&shape, -1, i64::MAX).known(), Some(vec![4]));
        assert_eq!(slice(&shape, 5, 2).values, vec![]);
        assert_eq!(to_const(&shape), Some(Const::Int(ArrayD::from_shape_vec(IxDyn(&[2]), vec![3, 4]).unwrap())));
        assert!(with_rank(&shape, 1, &[0]).is_err());
    }
}

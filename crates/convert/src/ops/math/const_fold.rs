//! Evaluating ops whose inputs are all constants, at conversion time.
//!
//! Frozen graphs keep arithmetic on weights as separate nodes (`Sqrt` of a variance, `Rsqrt`
//! of `variance + epsilon` in a decomposed batch normalization, `Mul` of a mean by the
//! result, ...). Folding them leaves `tensor ⊙ constant` patterns that map to exact layers.
//! f32 arithmetic is IEEE like TF's on CPU (`+ - * /`, `sqrt` correctly rounded); `Rsqrt` is
//! `1 / sqrt(x)`, which may differ from TF's vectorised kernel by an ulp: such a constant only
//! scales a tensor, so the difference stays at the 1e-7 relative level.

use ndarray::{ArrayD, IxDyn, Zip};
use tf2h5_tf::ConstTensor;

/// The shape two shapes broadcast to (NumPy rules), or `None` if they do not.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// `f(a, b)` element-wise with broadcasting.
pub(crate) fn binary<T: Copy, O: Copy + Default>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    f: impl Fn(T, T) -> O,
) -> Option<ArrayD<O>> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let a = a.broadcast(IxDyn(&shape))?;
    let b = b.broadcast(IxDyn(&shape))?;
    let mut out = ArrayD::from_elem(IxDyn(&shape), O::default());
    Zip::from(&mut out).and(&a).and(&b).for_each(|o, &x, &y| *o = f(x, y));
    Some(out)
}

/// A float binary op on two constants; integers for the ops shape arithmetic uses.
pub(crate) fn fold_binary(op: &str, a: &ConstTensor, b: &ConstTensor) -> Option<ConstTensor> {
    match (a, b) {
        (ConstTensor::F32(a), ConstTensor::F32(b)) => {
            let f: fn(f32, f32) -> f32 = match op {
                "Add" | "AddV2" | "BiasAdd" => |x, y| x + y,
                "Sub" => |x, y| x - y,
                "Mul" => |x, y| x * y,
                "RealDiv" | "Div" => |x, y| x / y,
                // TF's Maximum/Minimum propagate NaN.
                "Maximum" => |x, y| if x.is_nan() || y.is_nan() { f32::NAN } else { x.max(y) },
                "Minimum" => |x, y| if x.is_nan() || y.is_nan() { f32::NAN } else { x.min(y) },
                "SquaredDifference" => |x, y| (x - y) * (x - y),
                _ => return None,
            };
            binary(a, b, f).map(ConstTensor::F32)
        }
        (ConstTensor::Int(a), ConstTensor::Int(b)) => {
            let f: fn(i64, i64) -> i64 = match op {
                "Add" | "AddV2" => i64::wrapping_add,
                "Sub" => i64::wrapping_sub,
                "Mul" => i64::wrapping_mul,
                "Maximum" => |x, y| x.max(y),
                "Minimum" => |x, y| x.min(y),
                "FloorDiv" => |x, y| if y == 0 { 0 } else { x.div_euclid(y) },
                _ => return None,
            };
            binary(a, b, f).map(ConstTensor::Int)
        }
        _ => None,
    }
}

/// A comparison (`Equal`, `Less`, `GreaterEqual`...) of two constants of one type, as TF's
/// bool held as 0/1 integers: keras-hub's causal mask `i >= j` of two `arange`s once the
/// sequence length is known.
pub(crate) fn fold_comparison(op: &str, a: &ConstTensor, b: &ConstTensor) -> Option<ConstTensor> {
    fn predicate<T: PartialOrd>(op: &str) -> Option<fn(&T, &T) -> bool> {
        Some(match op {
            "Equal" => T::eq,
            "NotEqual" => T::ne,
            "Less" => T::lt,
            "LessEqual" => T::le,
            "Greater" => T::gt,
            "GreaterEqual" => T::ge,
            _ => return None,
        })
    }
    match (a, b) {
        (ConstTensor::F32(a), ConstTensor::F32(b)) => {
            let holds = predicate::<f32>(op)?;
            binary(a, b, |x, y| i64::from(holds(&x, &y))).map(ConstTensor::Int)
        }
        (ConstTensor::Int(a), ConstTensor::Int(b)) => {
            let holds = predicate::<i64>(op)?;
            binary(a, b, |x, y| i64::from(holds(&x, &y))).map(ConstTensor::Int)
        }
        _ => None,
    }
}

/// A float unary op on a constant.
pub(crate) fn fold_unary(op: &str, a: &ConstTensor) -> Option<ConstTensor> {
    match a {
        ConstTensor::F32(a) => {
            let f: fn(f32) -> f32 = match op {
                "Sqrt" => f32::sqrt,
                "Rsqrt" => |x| 1.0 / x.sqrt(),
                "Square" => |x| x * x,
                "Neg" => |x| -x,
                "Reciprocal" | "Inv" => |x| 1.0 / x,
                "Exp" => f32::exp,
                "Abs" => f32::abs,
                _ => return None,
            };
            Some(ConstTensor::F32(a.mapv(f)))
        }
        ConstTensor::Int(a) => match op {
            "Neg" => Some(ConstTensor::Int(a.mapv(i64::wrapping_neg))),
            "Abs" => Some(ConstTensor::Int(a.mapv(i64::wrapping_abs))),
            "Square" => Some(ConstTensor::Int(a.mapv(|x| x.wrapping_mul(x)))),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shape(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shape(&[2], &[3]), None);
        let a = ConstTensor::F32(array![[1.0f32], [2.0]].into_dyn());
        let b = ConstTensor::F32(array![10.0f32, 20.0, 30.0].into_dyn());
        let sum = fold_binary("AddV2", &a, &b).unwrap();
        assert_eq!(sum, ConstTensor::F32(array![[11.0f32, 21.0, 31.0], [12.0, 22.0, 32.0]].into_dyn()));
    }

    #[test]
    fn folds_the_decomposed_batch_norm_arithmetic() {
        let var = ConstTensor::F32(array![4.0f32, 0.25].into_dyn());
        let eps = ConstTensor::F32(ArrayD::from_elem(IxDyn(&[]), 0.0f32));
        let inv = fold_unary("Rsqrt", &fold_binary("AddV2", &var, &eps).unwrap()).unwrap();
        assert_eq!(inv, ConstTensor::F32(array![0.5f32, 2.0].into_dyn()));
        assert!(fold_unary("Erf", &var).is_none());
        let ints = fold_binary(
            "Mul",
            &ConstTensor::Int(array![2i64, 3].into_dyn()),
            &ConstTensor::Int(array![4i64].into_dyn()),
        );
        assert_eq!(ints, Some(ConstTensor::Int(array![8i64, 12].into_dyn())));
    }

    /// `i >= j` of a column and a row: the lower-triangular causal mask, as 0/1 integers.
    #[test]
    fn comparisons_of_constants_give_truth_as_integers() {
        let column = ConstTensor::F32(array![[0.0f32], [1.0], [2.0]].into_dyn());
        let row = ConstTensor::F32(array![0.0f32, 1.0, 2.0].into_dyn());
        let causal = fold_comparison("GreaterEqual", &column, &row).unwrap();
        assert_eq!(causal, ConstTensor::Int(array![[1i64, 0, 0], [1, 1, 0], [1, 1, 1]].into_dyn()));
        let ids = ConstTensor::Int(array![0i64, 3].into_dyn());
        let zero = ConstTensor::Int(array![0i64].into_dyn());
        assert_eq!(fold_comparison("NotEqual", &ids, &zero), Some(ConstTensor::Int(array![0i64, 1].into_dyn())));
        assert!(fold_comparison("Less", &ids, &row).is_none(), "integers against floats");
        assert!(fold_comparison("AddV2", &ids, &zero).is_none());
    }
}

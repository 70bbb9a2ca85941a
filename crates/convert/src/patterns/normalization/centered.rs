//! Layer normalization in the centred form jax (Flax `LayerNorm`) and numpy-style code
//! write, as jax2tf and tf2onnx export it:
//! ```text
//! mean = E[x]    var = max(0, E[x²] - mean²)    out = (x - mean) * (Rsqrt(var + eps) [* gamma]) + beta
//! ```
//! Each `E[·]` is a `Mean`, or a sum scaled by `1/n` (the ONNX translation writes
//! `ReduceSum` as `Mean · n`; jax writes `· 1/n`); a mean taken without `keep_dims` is
//! reshaped to put the reduced axes back as size 1. The `max(0, ·)` guards against a
//! negative rounding of `E[x²] - mean²`, which Keras's `E[(x - mean)²]` never has: the two
//! variances agree up to float rounding, which verification measures like any other.

use tf2h5_tf::{pb::NodeDef, TensorRef};

use super::{inverse_deviation, LayerNorm, View};
use crate::patterns::{reduction, Kind, Match};

/// A product of scale factors read as 1 (`n · 1/n`, exact when `n` is a power of two).
const UNIT_SCALE_TOLERANCE: f64 = 1e-6;

/// `out = Add(scaled, shifted)` where `scaled = (x - mean) * inv` and `shifted = beta`.
pub(super) fn find(view: &View, out: &NodeDef, scaled: &TensorRef, shifted: &TensorRef) -> Option<Match> {
    view.constant_through_reshape(shifted)?;
    let product = view.producer(scaled, &["Mul"])?;
    let [p, q] = view.inputs2(product)?;
    for (centered_ref, inv) in [(&p, &q), (&q, &p)] {
        let Some(centered) = view.producer(centered_ref, &["Sub"]) else { continue };
        let Some([x, mean_held]) = view.inputs2(centered) else { continue };
        let mut inner = vec![product, centered];
        let Some((var_held, common)) = inverse_deviation(view, inv, Some(shifted.clone()), &mut inner) else {
            continue;
        };
        let mut restores = Vec::new();
        let mean_ref = reduction::restored(view, &mean_held, &mut inner, &mut restores);
        let Some((of, axes)) = mean_at(view, &mean_ref, restores.len() == 1, &mut inner) else { continue };
        if of != x {
            continue;
        }
        let restored_before = restores.len();
        let var_ref = reduction::restored(view, &var_held, &mut inner, &mut restores);
        let var_reshaped = restores.len() > restored_before;
        let Some(var_axes) = variance_of(view, &x, &mean_ref, &var_ref, var_reshaped, &mut inner) else { continue };
        if view.constant(&axes).is_none() || view.constant(&axes) != view.constant(&var_axes) {
            continue;
        }
        if !view.closed(&inner, out) {
            continue;
        }
        let kind = Kind::LayerNorm(LayerNorm { input: x, axes, restores, common });
        return Some(Match { inner: crate::patterns::names(&inner), kind });
    }
    None
}

/// `E[of]` at `tensor`: a mean whose scale factors multiply to 1, which keeps the reduced
/// axes unless it is `reshaped` back (only then does it broadcast against `of`). `of` and
/// the axes.
fn mean_at<'g>(
    view: &View<'g>,
    tensor: &TensorRef,
    reshaped: bool,
    inner: &mut Vec<&'g NodeDef>,
) -> Option<(TensorRef, TensorRef)> {
    let mean = reduction::scaled_mean(view, tensor)?;
    if (mean.factor - 1.0).abs() > UNIT_SCALE_TOLERANCE || mean.keep_dims == reshaped {
        return None;
    }
    inner.extend(mean.nodes);
    Some((mean.of, mean.axes))
}

/// Whether `node` squares `of` (`Square(of)` or `Mul(of, of)`).
fn squares(view: &View, node: &NodeDef, of: &TensorRef) -> bool {
    let operands: Vec<TensorRef> = (0..2).map_while(|i| view.input(node, i)).collect();
    !operands.is_empty() && operands.iter().all(|o| o == of)
}

/// `var = [max(0,] E[x²] - mean²[)]` at `tensor`, `mean` the tensor the centring subtracts
/// (before its reshape), `reshaped` when `var` is. The axes of `E[x²]`.
fn variance_of<'g>(
    view: &View<'g>,
    x: &TensorRef,
    mean: &TensorRef,
    tensor: &TensorRef,
    reshaped: bool,
    inner: &mut Vec<&'g NodeDef>,
) -> Option<TensorRef> {
    let at = view.without_floor(tensor.clone(), 0.0, inner)?;
    let difference = view.producer(&at, &["Sub"])?;
    let [second_moment, mean_squared] = view.inputs2(difference)?;
    let square_of_mean = view.producer(&mean_squared, &["Mul", "Square"])?;
    let (squared, axes) = mean_at(view, &second_moment, reshaped, inner)?;
    let square_of_x = view.producer(&squared, &["Mul", "Square"])?;
    if !squares(view, square_of_mean, mean) || !squares(view, square_of_x, x) {
        return None;
    }
    inner.extend([difference, square_of_mean, square_of_x]);
    Some(axes)
}

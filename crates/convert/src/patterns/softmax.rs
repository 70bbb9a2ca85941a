//! Softmax written out, as jax (`jax.nn.softmax`) exports through jax2tf and tf2onnx:
//! ```text
//! e = Exp(x - [Maximum(-inf,] Max(x, axis)[)])    out = e / Sum(e, axis)
//! ```
//! → `Softmax(axis)`, which computes the same `exp(x - max) / sum`. A reduction without
//! `keep_dims` is reshaped back before it broadcasts; the sum may arrive as `Mean · n` (the
//! ONNX translation of `ReduceSum`), `n` checked against the axis size when building.
//! `Maximum(-inf, m)` is `m` for every input but NaN, where both give NaN.

use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, TensorRef};

use super::reduction::{self, keep_dims};
use super::{Kind, Match, View};
use crate::context::{Context, Value};
use crate::ConvertError;

/// A recognised written-out softmax.
#[derive(Debug, Clone)]
pub(crate) struct Softmax {
    input: TensorRef,
    axes: TensorRef,
    /// Reshape targets of reductions taken without `keep_dims` (checked when building).
    restores: Vec<TensorRef>,
    /// The factor on a sum written as a mean (must be `n`, the axis size); `None` for a `Sum`.
    sum_factor: Option<f64>,
}

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    if !matches!(node.op.as_str(), "RealDiv" | "Div") {
        return None;
    }
    let [exponentials, sum_held] = view.inputs2(node)?;
    let exp = view.producer(&exponentials, &["Exp"])?;
    let shifted = view.producer(&view.input(exp, 0)?, &["Sub"])?;
    let [x, max_held] = view.inputs2(shifted)?;
    let mut inner = vec![exp, shifted];
    let mut restores = Vec::new();
    let max_ref = reduction::restored(view, &max_held, &mut inner, &mut restores);
    let max_reshaped = restores.len() == 1;
    let max_ref = view.without_floor(max_ref, f32::NEG_INFINITY, &mut inner)?;
    let max = view.producer(&max_ref, &["Max"])?;
    if view.input(max, 0)? != x || keep_dims(max) == max_reshaped {
        return None;
    }
    inner.push(max);
    let axes = view.input(max, 1)?;
    let restored_before = restores.len();
    let sum_ref = reduction::restored(view, &sum_held, &mut inner, &mut restores);
    let sum_reshaped = restores.len() > restored_before;
    let (sum_axes, sum_factor) = match view.producer(&sum_ref, &["Sum"]) {
        Some(sum) if view.input(sum, 0)? == exponentials && keep_dims(sum) != sum_reshaped => {
            inner.push(sum);
            (view.input(sum, 1)?, None)
        }
        Some(_) => return None,
        None => {
            let mean = reduction::scaled_mean(view, &sum_ref)?;
            if mean.of != exponentials || mean.keep_dims == sum_reshaped {
                return None;
            }
            inner.extend(mean.nodes);
            (mean.axes, Some(mean.factor))
        }
    };
    if view.constant(&axes).is_none() || view.constant(&axes) != view.constant(&sum_axes) {
        return None;
    }
    if !view.closed(&inner, node) {
        return None;
    }
    let kind = Kind::Softmax(Softmax { input: x, axes, restores, sum_factor });
    Some(Match { inner: super::names(&inner), kind })
}

pub(super) fn build(ctx: &mut Context, node: &NodeDef, softmax: &Softmax) -> Result<Value, ConvertError> {
    let tensor = match ctx.value_of(node, &softmax.input)? {
        Value::Tensor(t) => t.clone(),
        _ => return Err(ctx.refuse(node, "softmax of something other than a computed tensor")),
    };
    let rank = tensor.rank();
    let written = ctx.ints_of(node, &softmax.axes)?.unwrap_or_default();
    let axis = match written.as_slice() {
        [a] => usize::try_from(if *a < 0 { a + rank as i64 } else { *a }).ok().filter(|&a| a > 0 && a < rank),
        _ => None,
    }
    .ok_or_else(|| ctx.refuse(node, format!("softmax over axes {written:?} of a rank-{rank} tensor")))?;
    for restore in &softmax.restores {
        super::normalization::check_restore(ctx, node, restore, &tensor.shape, &[axis])?;
    }
    let size = tensor.shape[axis].ok_or_else(|| ctx.refuse(node, "softmax over an axis of unknown size"))?;
    // A sum written as a mean must be scaled back by exactly the axis size.
    if let Some(factor) = softmax.sum_factor.filter(|&f| f != size as f64) {
        return Err(ctx.refuse(node, format!("the softmax divides by a mean times {factor}, not by the sum")));
    }
    let name = ctx.layer_name(&node.name);
    let keras_axis = if axis + 1 == rank { -1 } else { axis as i64 };
    let shape = tensor.shape.clone();
    Ok(ctx.add_layer(node, layers::softmax(&name, tensor.layer, keras_axis), shape))
}

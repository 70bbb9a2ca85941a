//! TF `Reshape`, `Squeeze`, `ExpandDims`.
//!
//! The target shape may be a constant or shape arithmetic on the batch size (`Shape`,
//! `StridedSlice`, `Pack`, `Prod`, ... folded into [`Dims`]). A reshape keeping the batch
//! first becomes nothing (same shape), `Flatten` (to (batch, n) from rank ≥ 3: NHWC
//! flattens in H, W, C order, like TF), or `Reshape(target_shape)`. A reshape merging the
//! batch into the following axes, (batch, ..., c) → (batch·..., c), is TF's `tensordot`
//! around a `MatMul`: it yields [`Value::Rows`], which only a `MatMul`, a bias and a
//! reshape restoring the batch may read.

use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, ConstTensor, NodeExt};

use crate::context::{Context, Dim, Dims, KTensor, Value};
use crate::ConvertError;

pub(super) fn reshape(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let target = ctx.dims_input(node, 1)?;
    match ctx.input(node, 0)?.clone() {
        Value::Const(c) => {
            let shape = target.known().ok_or_else(|| ctx.refuse(node, "a constant reshaped by the batch size"))?;
            fold(ctx, node, &c, &shape)
        }
        Value::Tensor(t) => reshape_tensor(ctx, node, t, &target, false),
        Value::Rows(t) => reshape_tensor(ctx, node, t, &target, true),
        Value::Dims(d) if target.known().is_some_and(|s| s.len() <= 1) => {
            Ok(Value::Dims(Dims { values: d.values, scalar: target.known().is_some_and(|s| s.is_empty()) }))
        }
        Value::Dims(_) => Err(ctx.refuse(node, "reshaping shape integers to a matrix is not supported")),
        Value::Mask(_) => Err(ctx.refuse(node, "reshaping a Keras mask is not supported")),
    }
}

/// `Squeeze(squeeze_dims)`: the listed axes (all size-1 axes but the batch if none listed).
pub(super) fn squeeze(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    // The mask a Keras `Masking` attaches, read by recurrent loops, stays a mask.
    if let Some(mask) = crate::patterns::squeezed_mask(ctx, node) {
        return Ok(mask);
    }
    let listed = node.attr_ints_opt("squeeze_dims")?.unwrap_or_default();
    match ctx.input(node, 0)?.clone() {
        Value::Tensor(t) => {
            let rank = t.rank() as i64;
            let axes: Vec<usize> = if listed.is_empty() {
                (1..t.rank()).filter(|&a| t.shape[a] == Some(1)).collect()
            } else {
                listed.iter().map(|&a| (if a < 0 { a + rank } else { a }) as usize).collect()
            };
            if axes.iter().any(|&a| a == 0 || a >= t.rank() || t.shape[a] != Some(1)) {
                return Err(ctx.refuse(node, format!("cannot squeeze axes {listed:?} of {:?}", t.shape)));
            }
            let dims: Vec<usize> =
                (1..t.rank()).filter(|a| !axes.contains(a)).map(|a| t.shape[a].unwrap_or(0)).collect();
            keep_batch(ctx, node, t, dims, false)
        }
        Value::Const(c) => {
            let shape: Vec<i64> = c
                .shape()
                .iter()
                .enumerate()
                .filter(|&(i, &d)| {
                    !(d == 1
                        && (listed.is_empty()
                            || listed.contains(&(i as i64))
                            || listed.contains(&(i as i64 - c.shape().len() as i64))))
                })
                .map(|(_, &d)| d as i64)
                .collect();
            fold(ctx, node, &c, &shape)
        }
        Value::Dims(d) if d.values.len() == 1 => Ok(Value::Dims(Dims { values: d.values, scalar: true })),
        _ => Err(ctx.refuse(node, "unsupported input")),
    }
}

/// `ExpandDims(axis)`: a new axis of size 1 (negative axes count from the end, as in TF).
pub(super) fn expand_dims(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let axis = match ctx.ints_input(node, 1)?.as_slice() {
        [axis] => *axis,
        _ => return Err(ctx.refuse(node, "the axis must be a scalar")),
    };
    match ctx.input(node, 0)?.clone() {
        Value::Tensor(t) => {
            let rank = t.rank() as i64;
            let axis = if axis < 0 { axis + rank + 1 } else { axis };
            if axis < 1 || axis > rank {
                return Err(ctx
                    .refuse(node, format!("cannot insert an axis at {axis} of {:?} (not before the batch)", t.shape)));
            }
            let mut dims: Vec<usize> = t.shape[1..].iter().map(|d| d.unwrap_or(0)).collect();
            dims.insert(axis as usize - 1, 1);
            keep_batch(ctx, node, t, dims, false)
        }
        Value::Const(c) => {
            let mut shape: Vec<i64> = c.shape().iter().map(|&d| d as i64).collect();
            let rank = shape.len() as i64;
            let axis = if axis < 0 { axis + rank + 1 } else { axis };
            if axis < 0 || axis > rank {
                return Err(ctx.refuse(node, "axis out of range"));
            }
            shape.insert(axis as usize, 1);
            fold(ctx, node, &c, &shape)
        }
        Value::Dims(d) if d.scalar && (axis == 0 || axis == -1) => {
            Ok(Value::Dims(Dims { values: d.values, scalar: false }))
        }
        _ => Err(ctx.refuse(node, "unsupported input")),
    }
}

/// A constant reshaped (`-1` allowed once).
fn fold(ctx: &Context, node: &NodeDef, c: &ConstTensor, shape: &[i64]) -> Result<Value, ConvertError> {
    let len = c.shape().iter().product::<usize>();
    let known: i64 = shape.iter().filter(|&&d| d != -1).product();
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| if d == -1 && known > 0 { len as i64 / known } else { d })
        .map(|d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    let refuse =
        |e: ndarray::ShapeError| ctx.refuse(node, format!("cannot reshape a constant of shape {:?}: {e}", c.shape()));
    Ok(Value::Const(match c {
        ConstTensor::F32(a) => {
            ConstTensor::F32(a.as_standard_layout().into_owned().into_shape_with_order(shape).map_err(refuse)?)
        }
        ConstTensor::Int(a) => {
            ConstTensor::Int(a.as_standard_layout().into_owned().into_shape_with_order(shape).map_err(refuse)?)
        }
    }))
}

fn reshape_tensor(
    ctx: &mut Context,
    node: &NodeDef,
    t: KTensor,
    target: &Dims,
    from_rows: bool,
) -> Result<Value, ConvertError> {
    let refuse = |ctx: &Context| {
        ctx.refuse(
            node,
            format!(
                "cannot express the reshape of {:?} to {:?} with Keras layers (the batch must stay first)",
                t.shape, target.values
            ),
        )
    };
    let features: Option<i64> = t.shape[1..].iter().try_fold(1i64, |acc, d| d.map(|d| acc * d as i64));
    let Some(features) = features else { return Err(refuse(ctx)) };
    let Some((first, rest)) = target.values.split_first() else { return Err(refuse(ctx)) };
    let mut rest: Vec<i64> = rest
        .iter()
        .map(|d| if let Dim::Known(v) = d { Ok(*v) } else { Err(()) })
        .collect::<Result<_, _>>()
        .map_err(|_| refuse(ctx))?;
    // Resolve a -1 among the non-batch entries against the features.
    let wildcards = rest.iter().filter(|&&d| d == -1).count();
    let known: i64 = rest.iter().filter(|&&d| d != -1).product();
    match (wildcards, first) {
        (0, _) => {}
        (1, Dim::Batch(1)) if known > 0 && features % known == 0 => {
            for d in rest.iter_mut().filter(|d| **d == -1) {
                *d = features / known;
            }
        }
        _ => return Err(refuse(ctx)),
    }
    let known: i64 = rest.iter().product();
    // How many rows of `rest` each sample makes: 1 keeps the batch, more merges it.
    let rows_per_sample = match *first {
        Dim::Batch(k) => k,
        Dim::Known(-1) if known > 0 && features % known == 0 => features / known,
        _ => return Err(refuse(ctx)),
    };
    if rows_per_sample.checked_mul(known) != Some(features) || rest.iter().any(|&d| d < 0) {
        return Err(refuse(ctx));
    }
    let dims: Vec<usize> = rest.iter().map(|&d| d as usize).collect();
    if rows_per_sample == 1 {
        return keep_batch(ctx, node, t, dims, from_rows);
    }
    // Batch merged: only (batch · everything but channels, channels) is supported.
    if dims.len() == 1 && t.channels() == Some(dims[0]) && t.rank() >= 3 {
        if from_rows {
            ctx.fused(node, &t);
        }
        return Ok(Value::Rows(t));
    }
    Err(refuse(ctx))
}

/// A reshape to (batch, dims...): the same tensor, a `Flatten`, or a `Reshape` layer.
fn keep_batch(
    ctx: &mut Context,
    node: &NodeDef,
    t: KTensor,
    dims: Vec<usize>,
    from_rows: bool,
) -> Result<Value, ConvertError> {
    let same = t.shape[1..].iter().map(|d| d.unwrap_or(usize::MAX)).eq(dims.iter().copied());
    if same {
        // Record the node so a per-layer comparison reads the restored shape.
        return Ok(if from_rows { ctx.fused(node, &t) } else { ctx.pass_through(node, t) });
    }
    // Rows reshaped to another split of their features (tf2onnx's einsum, (N·T, H·d) to
    // (N, T, H, d)): the rows are `t`'s elements in order, so a `Reshape` of `t`.
    let name = ctx.layer_name(&node.name);
    let shape: Vec<Option<usize>> = std::iter::once(None).chain(dims.iter().map(|&d| Some(d))).collect();
    let layer = if dims.len() == 1 && t.rank() >= 3 {
        layers::flatten(&name, t.layer)
    } else {
        layers::reshape(&name, t.layer, &dims)
    };
    Ok(ctx.add_layer(node, layer, shape))
}

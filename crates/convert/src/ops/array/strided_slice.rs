//! TF `StridedSlice`: of shape integers (folded, see `shape.rs`), or of a tensor of rank 2 to
//! 5 along any non-batch axes → `Cropping{1,2,3}D` (what Keras's `Cropping2D` emits, e.g. in
//! NASNet; one layer for the spatial axes), the channels (ShuffleNet's split) or any last
//! axis between two `Permute`s, a rank-2 tensor (framed audio) as (batch, len, 1) between
//! two `Reshape`s; axes removed by `shrink_axis_mask` by a final `Reshape`. All exact, no
//! `Lambda`. Slicing the batch, strides other than 1 and the ellipsis/new-axis masks have no
//! Keras layer here.

use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::axis::Steps;
use super::shape::axis_slice;
use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

/// The bit masks of a `StridedSlice`.
pub(super) struct Masks {
    pub begin: i64,
    pub end: i64,
    pub ellipsis: i64,
    pub new_axis: i64,
    pub shrink: i64,
}

pub(super) fn strided_slice(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let mask = |name: &str| node.attr_int_opt(name).map(|v| v.unwrap_or(0));
    let masks = Masks {
        begin: mask("begin_mask")?,
        end: mask("end_mask")?,
        ellipsis: mask("ellipsis_mask")?,
        new_axis: mask("new_axis_mask")?,
        shrink: mask("shrink_axis_mask")?,
    };
    let input = ctx.input(node, 0)?.clone();
    match input {
        Value::Dims(d) => super::shape::strided_slice_dims(ctx, node, &d, &masks),
        Value::Const(c) if c.as_ints().is_some_and(|a| a.ndim() == 1) => {
            let dims = ctx.dims_input(node, 0)?;
            super::shape::strided_slice_dims(ctx, node, &dims, &masks)
        }
        Value::Tensor(t) => slice_tensor(ctx, node, &t, &masks),
        _ => Err(ctx.refuse(node, "only shape integers and tensors can be sliced")),
    }
}

/// `StridedSlice` of a Keras tensor: crops of non-batch axes with stride 1 (see `axis.rs`:
/// `Cropping{1,2,3}D`, with `Permute` for the last axis and `Reshape` for a rank-2 tensor),
/// then a `Reshape` dropping the axes `shrink_axis_mask` removes (`x[:, 3]`).
fn slice_tensor(ctx: &mut Context, node: &NodeDef, t: &KTensor, masks: &Masks) -> Result<Value, ConvertError> {
    let begin = ctx.ints_input(node, 1)?;
    let end = ctx.ints_input(node, 2)?;
    let strides = ctx.ints_input(node, 3)?;
    let refuse = |why: &str| {
        ctx.refuse(
            node,
            format!("slicing {:?} ({why}) has no Keras layer; only stride-1 crops of the non-batch axes of a rank-2 to rank-5 tensor", t.shape),
        )
    };
    let rank = t.rank();
    if !(2..=5).contains(&rank) || begin.len() > rank || end.len() != begin.len() || strides.len() != begin.len() {
        return Err(refuse("bounds"));
    }
    if masks.ellipsis != 0 || masks.new_axis != 0 || strides.iter().any(|&s| s != 1) {
        return Err(refuse("ellipsis or new-axis masks, or strides"));
    }
    let bit = |m: i64, axis: usize| m & (1 << axis) != 0;
    // Batch: the whole axis (its length is unknown, so only masks or 0..0-with-mask).
    if !begin.is_empty() && (!(bit(masks.begin, 0) || begin[0] == 0) || !bit(masks.end, 0) || bit(masks.shrink, 0)) {
        return Err(refuse("the batch axis is sliced"));
    }
    let mut ranges = Vec::new();
    let mut kept = Vec::new();
    for axis in 1..rank {
        let Some(len) = t.shape[axis] else {
            let whole = axis >= begin.len()
                || ((bit(masks.begin, axis) || begin[axis] == 0) && bit(masks.end, axis) && !bit(masks.shrink, axis));
            if whole {
                kept.push(None);
                continue;
            }
            return Err(refuse("unknown dimension"));
        };
        if axis >= begin.len() {
            kept.push(Some(len));
            continue;
        }
        let shrink = bit(masks.shrink, axis);
        let (start, stop) =
            axis_slice(len as i64, begin[axis], end[axis], 1, bit(masks.begin, axis), bit(masks.end, axis), shrink)
                .map_err(|e| refuse(&e))?;
        let (start, stop) = (start as usize, stop as usize);
        if (start, stop) != (0, len) {
            ranges.push((axis, start, stop));
        }
        if !shrink {
            kept.push(Some(stop - start));
        }
    }
    let shrinks = kept.len() + 1 < rank;
    if kept.is_empty() {
        return Err(refuse("no axis but the batch is left"));
    }
    if ranges.is_empty() && !shrinks {
        return Ok(ctx.pass_through(node, t.clone()));
    }
    // The shape a Reshape drops the shrunk axes to (it needs the others' lengths).
    let target = match shrinks {
        true => Some(kept.iter().copied().collect::<Option<Vec<usize>>>().ok_or_else(|| refuse("unknown dimension"))?),
        false => None,
    };
    let name = ctx.layer_name(&node.name);
    let mut steps = Steps::new(ctx, &name);
    let sliced = steps.crop_axes(t, &ranges).map(|x| match &target {
        Some(target) => steps.reshape(&x, target),
        None => x,
    });
    let sliced = sliced.map_err(|e| ctx.refuse(node, e))?;
    Ok(ctx.fused(node, &sliced))
}

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
/// then a `Reshape` dropping the axes `shrink_axis_mask` removes (`x[:, 3]`) and adding those
/// `new_axis_mask` inserts (`x[:, None]`).
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
    if !(2..=5).contains(&rank) || end.len() != begin.len() || strides.len() != begin.len() {
        return Err(refuse("bounds"));
    }
    if masks.ellipsis != 0 || strides.iter().any(|&s| s != 1) {
        return Err(refuse("ellipsis mask or strides"));
    }
    let bit = |m: i64, entry: usize| m & (1 << entry) != 0;
    // Entry i of the bounds adds an axis of 1 (new_axis_mask) or slices the next input axis.
    let mut ranges = Vec::new();
    let mut kept = Vec::new();
    let mut axis = 0;
    for entry in 0..begin.len() {
        if bit(masks.new_axis, entry) {
            if entry == 0 {
                return Err(refuse("a new axis before the batch"));
            }
            kept.push(Some(1));
            continue;
        }
        if axis >= rank {
            return Err(refuse("bounds"));
        }
        let (begin_masked, end_masked, shrink) =
            (bit(masks.begin, entry), bit(masks.end, entry), bit(masks.shrink, entry));
        let whole = (begin_masked || begin[entry] == 0) && end_masked && !shrink;
        axis += 1;
        // Batch: the whole axis (its length is unknown, so only masks or 0..0-with-mask).
        if axis == 1 {
            if !whole {
                return Err(refuse("the batch axis is sliced"));
            }
            continue;
        }
        let Some(len) = t.shape[axis - 1] else {
            if whole {
                kept.push(None);
                continue;
            }
            return Err(refuse("unknown dimension"));
        };
        let (start, stop) = axis_slice(len as i64, begin[entry], end[entry], 1, begin_masked, end_masked, shrink)
            .map_err(|e| refuse(&e))?;
        let (start, stop) = (start as usize, stop as usize);
        if (start, stop) != (0, len) {
            ranges.push((axis - 1, start, stop));
        }
        if !shrink {
            kept.push(Some(stop - start));
        }
    }
    kept.extend(t.shape.iter().skip(axis.max(1)).copied());
    if kept.is_empty() {
        return Err(refuse("no axis but the batch is left"));
    }
    // Shrunk or new axes: a Reshape to the kept lengths (it needs them known).
    let reshaped = (0..begin.len()).any(|entry| bit(masks.new_axis, entry) || bit(masks.shrink, entry));
    if ranges.is_empty() && !reshaped {
        return Ok(ctx.pass_through(node, t.clone()));
    }
    let target = match reshaped {
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

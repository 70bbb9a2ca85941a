//! TF `StridedSlice`: of shape integers (folded, see `shape.rs`), or of a tensor of rank 2 to
//! 5 along any non-batch axes → `Cropping{1,2,3}D` (what Keras's `Cropping2D` emits, e.g. in
//! NASNet; one layer for the spatial axes), the channels (ShuffleNet's split) or any last
//! axis between two `Permute`s, a rank-2 tensor (framed audio) as (batch, len, 1) between
//! two `Reshape`s; axes removed by `shrink_axis_mask` by a final `Reshape`. Positive strides
//! (YOLOX's `Focus`: `x[..., ::2, 1::2]`) then keep every `stride`-th cell of the crop (see
//! `axis.rs`). All exact, no `Lambda`. Slicing the batch, negative strides and the ellipsis
//! mask have no Keras layer here.

use ndarray::{ArrayD, Axis, IxDyn, Slice};
use tf2h5_tf::{pb::NodeDef, ConstTensor, NodeExt};

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
        Value::Const(ConstTensor::F32(array)) => slice_constant(ctx, node, &array, &masks),
        _ => Err(ctx.refuse(node, "only shape integers, float constants and tensors can be sliced")),
    }
}

/// What a `StridedSlice` does to an array: `(axis, start, stop, stride)` crops keeping every
/// `stride`-th cell from `start`, then (when
/// `reshaped`) a reshape to `kept`, the lengths left after `shrink_axis_mask` drops axes and
/// `new_axis_mask` inserts ones.
struct SlicePlan {
    ranges: Vec<(usize, usize, usize, usize)>,
    kept: Vec<Option<usize>>,
    reshaped: bool,
}

/// The plan for `shape` (a tensor's: axis 0, the batch, must stay whole; a constant's: no
/// batch). Entry i of the bounds adds an axis of 1 (new_axis_mask) or slices the next axis.
fn plan(shape: &[Option<usize>], bounds: [&[i64]; 3], masks: &Masks, batch: bool) -> Result<SlicePlan, String> {
    let [begin, end, strides] = bounds;
    if end.len() != begin.len() || strides.len() != begin.len() {
        return Err("bounds".into());
    }
    if masks.ellipsis != 0 {
        return Err("ellipsis mask".into());
    }
    let bit = |m: i64, entry: usize| m & (1 << entry) != 0;
    let (mut ranges, mut kept, mut axis) = (Vec::new(), Vec::new(), 0);
    for entry in 0..begin.len() {
        if bit(masks.new_axis, entry) {
            if batch && entry == 0 {
                return Err("a new axis before the batch".into());
            }
            kept.push(Some(1));
            continue;
        }
        let Some(&dim) = shape.get(axis) else { return Err("bounds".into()) };
        let (begin_masked, end_masked, shrink) =
            (bit(masks.begin, entry), bit(masks.end, entry), bit(masks.shrink, entry));
        let whole = (begin_masked || begin[entry] == 0) && end_masked && !shrink && strides[entry] == 1;
        axis += 1;
        if batch && axis == 1 {
            // The batch: its length is unknown, so only masks or 0..0-with-mask.
            if !whole {
                return Err("the batch axis is sliced".into());
            }
            kept.push(None);
            continue;
        }
        let Some(len) = dim else {
            if whole {
                kept.push(None);
                continue;
            }
            return Err("unknown dimension".into());
        };
        let stride = strides[entry];
        let (start, stop) = axis_slice(len as i64, begin[entry], end[entry], stride, begin_masked, end_masked, shrink)?;
        // A shrunk axis keeps one cell whatever the stride.
        let stride = if shrink { 1 } else { usize::try_from(stride).unwrap_or(usize::MAX).min(len.max(1)) };
        let (start, stop) = (start as usize, stop as usize);
        if (start, stop, stride) != (0, len, 1) {
            ranges.push((axis - 1, start, stop, stride));
        }
        if !shrink {
            kept.push(Some((stop - start).div_ceil(stride)));
        }
    }
    if batch && axis == 0 {
        kept.push(None);
        axis = 1;
    }
    kept.extend(shape.iter().skip(axis).copied());
    let reshaped = (0..begin.len()).any(|entry| bit(masks.new_axis, entry) || bit(masks.shrink, entry));
    Ok(SlicePlan { ranges, kept, reshaped })
}

/// `StridedSlice` of a Keras tensor: crops of non-batch axes (see `axis.rs`:
/// `Cropping{1,2,3}D`, with `Permute` for the last axis and `Reshape` for a rank-2 tensor),
/// subsampled where the stride is above 1, then a `Reshape` dropping the axes `shrink_axis_mask` removes (`x[:, 3]`) and adding those
/// `new_axis_mask` inserts (`x[:, None]`).
fn slice_tensor(ctx: &mut Context, node: &NodeDef, t: &KTensor, masks: &Masks) -> Result<Value, ConvertError> {
    let (begin, end, strides) = (ctx.ints_input(node, 1)?, ctx.ints_input(node, 2)?, ctx.ints_input(node, 3)?);
    let refuse = |why: &str| {
        ctx.refuse(
            node,
            format!("slicing {:?} ({why}) has no Keras layer; only crops with positive strides of the non-batch axes of a rank-2 to rank-5 tensor", t.shape),
        )
    };
    if !(2..=5).contains(&t.rank()) {
        return Err(refuse("rank"));
    }
    let SlicePlan { ranges, kept, reshaped } =
        plan(&t.shape, [&begin, &end, &strides], masks, true).map_err(|e| refuse(&e))?;
    if kept.len() < 2 {
        return Err(refuse("no axis but the batch is left"));
    }
    if ranges.is_empty() && !reshaped {
        return Ok(ctx.pass_through(node, t.clone()));
    }
    // The Reshape needs every kept length but the batch's.
    let target = match reshaped {
        true => {
            Some(kept[1..].iter().copied().collect::<Option<Vec<usize>>>().ok_or_else(|| refuse("unknown dimension"))?)
        }
        false => None,
    };
    let name = ctx.layer_name(&node.name);
    let mut steps = Steps::new(ctx, &name);
    let sliced = steps.slice_axes(t, &ranges).map(|x| match &target {
        Some(target) => steps.reshape(&x, target),
        None => x,
    });
    let sliced = sliced.map_err(|e| ctx.refuse(node, e))?;
    Ok(ctx.fused(node, &sliced))
}

/// `StridedSlice` of a float constant (a captured kernel given new axes): folded.
fn slice_constant(ctx: &Context, node: &NodeDef, array: &ArrayD<f32>, masks: &Masks) -> Result<Value, ConvertError> {
    let (begin, end, strides) = (ctx.ints_input(node, 1)?, ctx.ints_input(node, 2)?, ctx.ints_input(node, 3)?);
    let shape: Vec<Option<usize>> = array.shape().iter().map(|&d| Some(d)).collect();
    let refuse = |why: String| ctx.refuse(node, format!("slicing a constant shaped {:?}: {why}", array.shape()));
    let SlicePlan { ranges, kept, .. } = plan(&shape, [&begin, &end, &strides], masks, false).map_err(refuse)?;
    let mut sliced = array.clone();
    for (axis, start, stop, stride) in ranges {
        sliced.slice_axis_inplace(Axis(axis), Slice::new(start as isize, Some(stop as isize), stride as isize));
    }
    let kept: Vec<usize> = kept.into_iter().flatten().collect();
    let sliced = sliced.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&kept));
    Ok(Value::Const(ConstTensor::F32(sliced.map_err(|e| refuse(e.to_string()))?)))
}

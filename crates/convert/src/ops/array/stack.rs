//! TF `Pack` (`tf.stack`) of Keras tensors along a new non-batch axis: each tensor gets the
//! axis as a length 1 by a `Reshape`, then a `Concatenate` along it joins them. Pure data
//! movement, exact in every loader.

use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::axis::Steps;
use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

/// `Pack` whose inputs are all tensors of one shape.
pub(super) fn pack_tensors(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let count = ctx.input_count(node);
    let parts: Vec<KTensor> = (0..count).map(|i| ctx.tensor_input(node, i)).collect::<Result<_, _>>()?;
    let shape = parts[0].shape.clone();
    let rank = shape.len() as i64;
    let axis = node.attr_int_opt("axis")?.unwrap_or(0);
    let axis = if axis < 0 { axis + rank + 1 } else { axis };
    if !(1..=rank).contains(&axis) {
        return Err(ctx.refuse(
            node,
            format!("stacking tensors shaped {shape:?} along axis {axis}: only a new non-batch axis has a Keras form"),
        ));
    }
    if parts.iter().any(|p| p.shape != shape) {
        let shapes: Vec<_> = parts.iter().map(|p| &p.shape).collect();
        return Err(ctx.refuse(node, format!("stacking tensors of different shapes {shapes:?}")));
    }
    let Some(mut target) = shape[1..].iter().copied().collect::<Option<Vec<usize>>>() else {
        return Err(ctx.refuse(node, format!("stacking tensors shaped {shape:?}: a non-batch length is unknown")));
    };
    let axis = axis as usize;
    target.insert(axis - 1, 1);
    let name = ctx.layer_name(&node.name);
    let mut steps = Steps::new(ctx, &name);
    let expanded: Vec<KTensor> = parts.iter().map(|p| steps.reshape(p, &target)).collect();
    let stacked = match expanded.as_slice() {
        [one] => one.clone(),
        _ => steps.concatenate(&expanded, axis),
    };
    Ok(ctx.fused(node, &stacked))
}

//! TF `FusedBatchNorm` / `V2` / `V3` (inference) → Keras `BatchNormalization`.
//!
//! Trap: the epsilon is per node and must be copied (Keras's default is 1e-3, TF's 1e-4).
//! Only output 0 (the normalised tensor) may be used; training mode is refused.

use tf2h5_keras::layers::{self, BatchNormWeights};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn fused_batch_norm(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    if node.attr_bool_opt("is_training")?.unwrap_or(true) {
        return Err(ctx.refuse(node, "is_training is true; only inference batch norm is supported"));
    }
    let input = ctx.tensor_input(node, 0)?;
    let channels = input.shape.last().copied().flatten();
    let mut stats = Vec::with_capacity(4);
    for (index, what) in [(1, "scale"), (2, "offset"), (3, "mean"), (4, "variance")] {
        let value = ctx.f32_input(node, index)?;
        if value.ndim() != 1 || Some(value.len()) != channels {
            return Err(ctx.refuse(node, format!("{what} has shape {:?}, expected ({channels:?},)", value.shape())));
        }
        stats.push(value);
    }
    let [gamma, beta, moving_mean, moving_variance]: [_; 4] =
        stats.try_into().map_err(|_| ctx.refuse(node, "expected four statistics"))?;
    let epsilon = node.attr_float_opt("epsilon")?.unwrap_or(1e-4);
    let name = ctx.layer_name(&node.name);
    let weights = BatchNormWeights { gamma, beta, moving_mean, moving_variance };
    let shape = input.shape.clone();
    Ok(ctx.add_layer(node, layers::batch_normalization(&name, input.layer, epsilon, weights), shape))
}

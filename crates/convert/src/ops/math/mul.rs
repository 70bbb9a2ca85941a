//! TF `Mul`.
//!
//! - tensor × tensor → `Multiply` (broadcasting dimensions of 1, e.g. a squeeze-and-excite
//!   gate (N,1,1,C) on (N,H,W,C)); `x · sigmoid(x)` is recognised earlier as swish;
//! - tensor × scalar constant → `Rescaling(scale=c)`;
//! - NHWC tensor × per-channel constant → a 1×1 `DepthwiseConv2D` without bias (one multiply:
//!   exact; a following per-channel add becomes its bias), e.g. ConvNeXt's layer scale or a
//!   batch normalization decomposed into `x * inv + (beta - mean * inv)`;
//! - other ranks × per-channel constant → `Rescaling` with one scale per channel;
//! - tensor × constant of any other shape that broadcasts to the tensor's (a per-token scale)
//!   → `Rescaling` with that nested scale;
//! - constants, and shape integers, are folded.

use tf2h5_tf::pb::NodeDef;

use super::elementwise::{self, Broadcast, Operands};
use crate::context::{Context, Dim, Value};
use crate::ConvertError;

pub(super) fn mul(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    match elementwise::operands(ctx, node)? {
        Operands::Consts(a, b) => elementwise::fold(ctx, node, &a, &b),
        Operands::Dims(a, b) => {
            let values = super::dims_binary(ctx, node, &a, &b, Dim::checked_mul)?;
            Ok(Value::from(values))
        }
        Operands::Tensors(a, b) => elementwise::merge(ctx, node, "Multiply", vec![a, b]),
        Operands::TensorConst { tensor, constant, .. } => {
            match elementwise::broadcast(ctx, node, &tensor, &constant)? {
                scale @ Broadcast::Scalar(_) => {
                    Ok(elementwise::rescaling(ctx, node, tensor, &scale, &Broadcast::Scalar(0.0)))
                }
                Broadcast::PerChannel(scale) if tensor.rank() == 4 => {
                    elementwise::channel_scale(ctx, node, tensor, scale)
                }
                scale => Ok(elementwise::rescaling(ctx, node, tensor, &scale, &Broadcast::Scalar(0.0))),
            }
        }
        Operands::RowsConst { .. } => Err(ctx.refuse(node, "multiplying a batch-merged tensor is not supported")),
    }
}

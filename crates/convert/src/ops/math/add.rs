//! TF `AddV2`/`Add` (and `Sub`, which is the addition of a negated constant or a `Subtract`).
//!
//! - tensor + tensor → `Add` (`Subtract` for `Sub`), broadcasting dimensions of 1;
//! - tensor + constant → the bias of the `Conv2D`/`DepthwiseConv2D`/`Dense` before it when it
//!   has none, no activation, and nothing else reads it (conv + c, one rounding, as TF);
//!   else the `offset` of the `Rescaling` before it when that is still 0 (`x*s + 0 + c` and
//!   `x*s + c` round the same); else a `Rescaling(scale=1, offset=c)` (`x*1 + c` is `x + c`),
//!   `c` of any shape that broadcasts to the tensor's (a learned position embedding);
//! - constant − tensor → `Rescaling(scale=-1, offset=c)` (`c + (-x)` is `c - x` in IEEE);
//! - rows of a batch-merged tensor + per-channel constant → the bias of the `Dense` on them;
//! - constants, and shape integers, are folded.

use tf2h5_tf::pb::NodeDef;

use super::elementwise::{self, Broadcast, Operands};
use crate::context::{Context, Dims, KTensor, Value};
use crate::ConvertError;

pub(super) fn add(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    binary(ctx, node, false)
}

pub(super) fn sub(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    binary(ctx, node, true)
}

fn binary(ctx: &mut Context, node: &NodeDef, subtract: bool) -> Result<Value, ConvertError> {
    match elementwise::operands(ctx, node)? {
        Operands::Consts(a, b) => elementwise::fold(ctx, node, &a, &b),
        Operands::Dims(a, b) => dims(ctx, node, &a, &b, subtract),
        Operands::Tensors(a, b) => elementwise::merge(ctx, node, if subtract { "Subtract" } else { "Add" }, vec![a, b]),
        Operands::TensorConst { tensor, constant, tensor_first } => {
            let c = elementwise::broadcast(ctx, node, &tensor, &constant)?;
            match (subtract, tensor_first) {
                (false, _) => add_constant(ctx, node, tensor, c),
                (true, true) => add_constant(ctx, node, tensor, c.map(|v| -v)),
                (true, false) => Ok(elementwise::rescaling(ctx, node, tensor, &Broadcast::Scalar(-1.0), &c)),
            }
        }
        Operands::RowsConst { tensor, constant, tensor_first } => {
            if subtract && !tensor_first {
                return Err(ctx.refuse(node, "constant minus a batch-merged tensor is not supported"));
            }
            let c = elementwise::broadcast(ctx, node, &tensor, &constant)?;
            let c = if subtract { c.map(|v| -v) } else { c };
            let channels = tensor.channels().unwrap_or(0);
            const NOT_A_BIAS: &str =
                "a constant added to a batch-merged tensor must be the bias of the MatMul before it";
            let bias = c.per_channel(channels).ok_or_else(|| ctx.refuse(node, NOT_A_BIAS))?;
            let biased =
                crate::ops::nn::fuse_bias(ctx, node, &tensor, bias)?.ok_or_else(|| ctx.refuse(node, NOT_A_BIAS))?;
            Ok(Value::Rows(biased))
        }
    }
}

/// `tensor + c`: a bias, a Rescaling offset, or a new Rescaling (see the module doc).
pub(super) fn add_constant(
    ctx: &mut Context,
    node: &NodeDef,
    tensor: KTensor,
    c: Broadcast,
) -> Result<Value, ConvertError> {
    let channels = tensor.channels().unwrap_or(0);
    if let Some(bias) = c.per_channel(channels) {
        if let Some(biased) = crate::ops::nn::fuse_bias(ctx, node, &tensor, bias)? {
            return Ok(Value::Tensor(biased));
        }
    }
    if let Some(layer) = ctx.fusible_layer(&tensor, |l| l.class_name == "Rescaling") {
        if let Some((scale, offset)) = elementwise::rescaling_params(layer) {
            if offset.iter().all(|&o| o == 0.0) {
                let scale = if scale.len() == 1 { Broadcast::Scalar(scale[0]) } else { Broadcast::PerChannel(scale) };
                let replacement = tf2h5_keras::layers::rescaling_broadcast(
                    &layer.name,
                    String::new().into(),
                    &scale.array(),
                    &c.array(),
                );
                layer.config = replacement.config;
                return Ok(ctx.fused(node, &tensor));
            }
        }
    }
    Ok(elementwise::rescaling(ctx, node, tensor, &Broadcast::Scalar(1.0), &c))
}

/// Shape arithmetic: known + known; a batch multiple plus or minus 0.
fn dims(ctx: &Context, node: &NodeDef, a: &Dims, b: &Dims, subtract: bool) -> Result<Value, ConvertError> {
    let values = super::dims_binary(ctx, node, a, b, |x, y| x.add(y, subtract))?;
    Ok(Value::from(values))
}

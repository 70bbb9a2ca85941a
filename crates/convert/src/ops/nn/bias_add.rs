//! TF `BiasAdd` (and `Add` of a per-channel constant) → the bias of the preceding
//! `Conv2D`/`Dense`, when nothing else reads the un-biased tensor.

use ndarray::ArrayD;
use tf2h5_keras::Weight;
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn bias_add(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    add_bias(ctx, node, 0, 1)
}

/// Folds constant input `bias_index` into the layer producing input `tensor_index`.
pub(crate) fn add_bias(ctx: &mut Context, node: &NodeDef, tensor_index: usize, bias_index: usize) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, tensor_index)?;
    let bias: ArrayD<f32> = ctx.f32_input(node, bias_index)?;
    let channels = input.shape.last().copied().flatten();
    // A bias broadcast over the last axis may arrive as (C,) or (1, ..., 1, C).
    if Some(bias.len()) != channels || bias.shape().iter().rev().skip(1).any(|&d| d != 1) {
        return Err(ctx.refuse(node, format!("the constant of shape {:?} is not a per-channel bias for {:?}", bias.shape(), input.shape)));
    }
    let bias = bias.into_shape_with_order(vec![channels.unwrap_or(0)]).map_err(|e| ctx.refuse(node, e.to_string()))?;
    let refusal = ctx.refuse(node, "a bias is only supported directly after a Conv2D or MatMul without bias or activation, read by nothing else");
    let Some(layer) = ctx.fusible_layer(&input, &["Conv2D", "Dense"]) else { return Err(refusal) };
    let already_biased = layer.config.get("use_bias").and_then(|v| v.as_bool()).unwrap_or(false);
    let has_activation = layer.config.get("activation").and_then(|v| v.as_str()) != Some("linear");
    if already_biased || has_activation {
        return Err(refusal);
    }
    layer.config.insert("use_bias".into(), serde_json::Value::Bool(true));
    layer.weights.push(Weight::new("bias", bias));
    Ok(ctx.fused(node, &input))
}

//! TF `BiasAdd` → the bias of the preceding `Conv2D`/`DepthwiseConv2D`/`Dense` when it has
//! none, no activation, and nothing else reads it; otherwise handled like `AddV2` of a
//! per-channel constant (a `Rescaling` offset, exact).

use ndarray::ArrayD;
use tf2h5_keras::Weight;
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

/// Layers whose `use_bias` can absorb a following bias.
const BIASED: &[&str] = &["Conv2D", "DepthwiseConv2D", "Dense"];

pub(super) fn bias_add(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    crate::ops::math::add_op(ctx, node)
}

/// Makes `bias` (one value per output channel) the bias of the layer producing `tensor`, if
/// that layer may absorb it (see the module doc). Returns the (same) tensor if so.
pub(crate) fn fuse_bias(
    ctx: &mut Context,
    node: &NodeDef,
    tensor: &KTensor,
    bias: Vec<f32>,
) -> Result<Option<KTensor>, ConvertError> {
    let channels = bias.len();
    let bias = ArrayD::from_shape_vec(vec![channels], bias).map_err(|e| ctx.refuse(node, e.to_string()))?;
    let Some(layer) = ctx.fusible_layer(tensor, BIASED) else { return Ok(None) };
    let already_biased = layer.config.get("use_bias").and_then(|v| v.as_bool()).unwrap_or(false);
    let has_activation = layer.config.get("activation").and_then(|v| v.as_str()) != Some("linear");
    if already_biased || has_activation || Some(channels) != tensor.channels() {
        return Ok(None);
    }
    layer.config.insert("use_bias".into(), serde_json::Value::Bool(true));
    layer.weights.push(Weight::new("bias", bias));
    ctx.fused(node, tensor);
    Ok(Some(tensor.clone()))
}

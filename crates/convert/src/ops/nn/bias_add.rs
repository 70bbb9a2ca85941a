//! TF `BiasAdd` → the bias of the preceding layer when its spec can absorb one (a dense or
//! convolution layer without bias or activation) and nothing else reads it; otherwise handled like `AddV2` of a
//! per-channel constant (a `Rescaling` offset, exact).

use ndarray::ArrayD;
use tf2h5_keras::spec::LayerSpec;
use tf2h5_keras::{Layer, Weight};
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

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
    if Some(channels) != tensor.channels() {
        return Ok(None);
    }
    let absorbs = |layer: &Layer| LayerSpec::parse(layer).is_ok_and(|spec| spec.can_absorb_bias());
    let Some(layer) = ctx.fusible_layer(tensor, absorbs) else { return Ok(None) };
    let Ok(mut spec) = LayerSpec::parse(layer) else { return Ok(None) };
    spec.absorb_bias();
    spec.write_config(&mut layer.config);
    layer.weights.push(Weight::new("bias", bias));
    ctx.fused(node, tensor);
    Ok(Some(tensor.clone()))
}

//! Neural-network ops: Conv2D/3D, DepthwiseConv2dNative, Conv2D/3D backprop input, pools, FusedBatchNorm,
//! BiasAdd, activations, and whole recurrent layers (`KerasRecurrent`).
//! Shared here: NHWC, spatial (`[1, s…, 1]`) and padding attributes.

pub(crate) mod activation;
pub(crate) mod bias_add;
pub(crate) mod conv;
pub(crate) mod conv_transpose;
mod fused_batch_norm;
pub(crate) mod pool;
mod recurrent;

use tf2h5_keras::spec::Padding;
use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::Registry;
use crate::context::Context;
use crate::ConvertError;

pub(crate) use bias_add::fuse_bias;
pub(crate) use recurrent::{loop_mask, loop_sequence_refusal};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Conv2D", conv::conv);
    registry.insert("While", recurrent::unrecognised_loop);
    registry.insert("StatelessWhile", recurrent::unrecognised_loop);
    registry.insert("TensorListReserve", recurrent::loop_list);
    registry.insert("TensorListFromTensor", recurrent::loop_list);
    registry.insert("DepthwiseConv2dNative", conv::depthwise_conv2d_native);
    registry.insert("Conv2DBackpropInput", conv_transpose::backprop_input);
    registry.insert("Conv3D", conv::conv);
    registry.insert("Conv3DBackpropInputV2", conv_transpose::backprop_input);
    registry.insert("MaxPool", pool::max_pool);
    registry.insert("AvgPool", pool::avg_pool);
    registry.insert("MaxPool3D", pool::max_pool);
    registry.insert("AvgPool3D", pool::avg_pool);
    registry.insert("FusedBatchNorm", fused_batch_norm::fused_batch_norm);
    registry.insert("FusedBatchNormV2", fused_batch_norm::fused_batch_norm);
    registry.insert("FusedBatchNormV3", fused_batch_norm::fused_batch_norm);
    registry.insert("BiasAdd", bias_add::bias_add);
    registry.insert(recurrent::OP, recurrent::keras_recurrent);
    activation::register(registry);
}

/// Refuses NCHW and NCDHW: Keras layers here are channels_last.
pub(crate) fn require_nhwc(ctx: &Context, node: &NodeDef) -> Result<(), ConvertError> {
    match node.attr_str_opt("data_format")?.as_deref() {
        None | Some("NHWC") | Some("NDHWC") => Ok(()),
        Some(other) => Err(ctx.refuse(node, format!("data_format {other} is not supported (only channels last)"))),
    }
}

/// Reads a `[1, s…, 1]` attribute with `rank` spatial values (strides, ksize, dilations);
/// all `default` when absent.
pub(crate) fn spatial(
    ctx: &Context,
    node: &NodeDef,
    attr: &str,
    rank: usize,
    default: Option<usize>,
) -> Result<Vec<usize>, ConvertError> {
    match (node.attr_ints_opt(attr)?, default) {
        (Some(v), _) if v.len() == rank + 2 && v[0] == 1 && v[rank + 1] == 1 && v[1..=rank].iter().all(|&s| s > 0) => {
            Ok(v[1..=rank].iter().map(|&s| s as usize).collect())
        }
        (None, Some(default)) => Ok(vec![default; rank]),
        (value, _) => {
            Err(ctx.refuse(node, format!("{attr} {value:?} is not of the form [1, {rank} spatial values, 1]")))
        }
    }
}

pub(crate) fn padding(ctx: &Context, node: &NodeDef) -> Result<Padding, ConvertError> {
    match node.attr_str("padding")?.as_str() {
        "VALID" => Ok(Padding::Valid),
        "SAME" => Ok(Padding::Same),
        other => Err(ctx.refuse(node, format!("padding {other} is not supported (VALID or SAME; use Pad + VALID)"))),
    }
}

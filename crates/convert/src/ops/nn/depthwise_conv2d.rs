//! TF `DepthwiseConv2dNative` → Keras `DepthwiseConv2D` (no `groups` key: Keras 3 rejects it).
//!
//! The kernel is (kh, kw, in, depth_multiplier) in both; output channel `c·m + k` is input
//! channel `c` convolved with kernel[.., c, k]. Same padding and dilation traps as `Conv2D`;
//! a following `BiasAdd` and activation are fused like for `Conv2D`. The
//! `SpaceToBatchND → DepthwiseConv2dNative → BatchToSpaceND` form TF's `depthwise_conv2d`
//! uses for dilation is recognised as a whole (`patterns::dilated_conv`).

use ndarray::ArrayD;
use tf2h5_keras::layers::{self, Window2D};
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

pub(super) fn depthwise_conv2d_native(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    let input = ctx.tensor_input(node, 0)?;
    let kernel = ctx.f32_input(node, 1)?;
    let window = super::conv_window(ctx, node, &kernel)?;
    build(ctx, node, input, kernel, window)
}

/// A `DepthwiseConv2D` of `input` by `kernel` (kh, kw, in, multiplier) with `window`.
pub(crate) fn build(
    ctx: &mut Context,
    node: &NodeDef,
    input: KTensor,
    kernel: ArrayD<f32>,
    window: Window2D,
) -> Result<Value, ConvertError> {
    if kernel.ndim() != 4 {
        return Err(
            ctx.refuse(node, format!("the filter has shape {:?}, expected (h, w, in, multiplier)", kernel.shape()))
        );
    }
    if input.rank() != 4 || input.channels() != Some(kernel.shape()[2]) {
        return Err(ctx.refuse(
            node,
            format!("input {:?} does not match the depthwise filter {:?}", input.shape, kernel.shape()),
        ));
    }
    if window.dilation != [1, 1] && window.strides != [1, 1] {
        return Err(ctx.refuse(node, "dilation together with strides is not supported"));
    }
    let filters = kernel.shape()[2] * kernel.shape()[3];
    let shape = super::window_output_shape(ctx, node, &input.shape, &window, Some(filters))?;
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::depthwise_conv2d(&name, input.layer, window, kernel, None, "linear"), shape))
}

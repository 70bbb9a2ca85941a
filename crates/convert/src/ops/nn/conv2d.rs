//! TF `Conv2D` → Keras `Conv2D`, or `DepthwiseConv2D` for a grouped convolution with one
//! input channel per group (what Keras `Conv2D(groups=channels)` emits, e.g. ConvNeXt), or
//! `Conv2D(groups)` for several input channels per group (ResNeXt, RegNet).
//!
//! Kernel layouts agree (HWIO). Traps: SAME with stride > 1 pads asymmetrically in TF, which
//! Keras `same` reproduces exactly; explicit `Pad` + VALID arrives as a separate node and
//! becomes `ZeroPadding2D`; `dilations` must be carried over (tract ignores them); the
//! `SpaceToBatchND → Conv2D → BatchToSpaceND` form of a dilated convolution is recognised as
//! a whole (`patterns::dilated_conv`). TF's grouped form has the kernel (kh, kw, in / g, out)
//! that Keras `groups` = g takes as it is.

use ndarray::ArrayD;
use tf2h5_keras::layers::{self, Window2D};
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

pub(super) fn conv2d(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    let input = ctx.tensor_input(node, 0)?;
    let kernel = ctx.f32_input(node, 1)?;
    let window = super::conv_window(ctx, node, &kernel)?;
    build(ctx, node, input, kernel, window)
}

/// The Keras layer for a TF convolution of `input` by `kernel` (HWIO) with `window`.
pub(crate) fn build(
    ctx: &mut Context,
    node: &NodeDef,
    input: KTensor,
    kernel: ArrayD<f32>,
    window: Window2D,
) -> Result<Value, ConvertError> {
    if kernel.ndim() != 4 {
        return Err(ctx.refuse(node, format!("the filter has shape {:?}, expected (h, w, in, out)", kernel.shape())));
    }
    let (kernel_in, filters) = (kernel.shape()[2], kernel.shape()[3]);
    let channels = input.channels();
    if input.rank() != 4 || channels.is_none() {
        return Err(ctx.refuse(node, format!("expected an NHWC input with known channels, got {:?}", input.shape)));
    }
    let channels = channels.unwrap_or(0);
    if window.dilation != [1, 1] && window.strides != [1, 1] {
        return Err(ctx.refuse(node, "dilation together with strides is not supported by Keras Conv2D"));
    }
    if kernel_in == 1 && channels > 1 && filters % channels == 0 {
        // groups = channels: output f reads input channel f / m, as depthwise output c·m + k
        // reads channel c; (kh, kw, 1, c·m) reshaped row-major is (kh, kw, c, m).
        let multiplier = filters / channels;
        let [kh, kw] = window.size;
        let kernel = kernel
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(vec![kh, kw, channels, multiplier])
            .map_err(|e| ctx.refuse(node, e.to_string()))?;
        return super::depthwise_conv2d::build(ctx, node, input, kernel, window);
    }
    if kernel_in > 0
        && channels >= kernel_in
        && channels.is_multiple_of(kernel_in)
        && filters % (channels / kernel_in) == 0
    {
        let groups = channels / kernel_in; // 1 for a plain convolution
        let shape = super::window_output_shape(ctx, node, &input.shape, &window, Some(filters))?;
        let name = ctx.layer_name(&node.name);
        return Ok(ctx.add_layer(
            node,
            layers::with_groups(layers::conv2d(&name, input.layer, window, kernel, None, "linear"), groups),
            shape,
        ));
    }
    Err(ctx.refuse(
        node,
        format!("input {:?} does not match filter {:?} (no whole number of groups)", input.shape, kernel.shape()),
    ))
}

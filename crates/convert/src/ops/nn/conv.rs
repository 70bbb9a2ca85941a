//! TF `Conv2D`, `Conv3D` and `DepthwiseConv2dNative` → one Keras convolution spec ([`Conv`]):
//! `Conv2D`, `Conv2D(groups)` (ResNeXt, RegNet), `Conv3D` or `DepthwiseConv2D`. Whether a grouped
//! convolution is depthwise is [`Conv::grouped`]'s decision alone (Keras `Conv2D(groups =
//! channels)`, e.g. ConvNeXt, reaches TF as a `Conv2D` with one input channel per group).
//!
//! Kernel layouts agree (HWIO; depthwise (h, w, in, multiplier)). Traps: SAME with stride > 1
//! pads asymmetrically in TF, which Keras `same` reproduces exactly; explicit `Pad` + VALID
//! arrives as a separate node and becomes `ZeroPadding2D`; `dilations` must be carried over
//! (tract ignores them); the `SpaceToBatchND → conv → BatchToSpaceND` form of a dilated
//! convolution is recognised as a whole (`patterns::dilated_conv`). A following `BiasAdd`
//! and activation are fused (see `bias_add.rs`, `activation.rs`).

use ndarray::ArrayD;
use tf2h5_keras::spec::{Conv, ConvVariant, Window};
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

pub(super) fn conv(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    from_node(ctx, node, false)
}

pub(super) fn depthwise_conv2d_native(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    from_node(ctx, node, true)
}

fn from_node(ctx: &mut Context, node: &NodeDef, depthwise: bool) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    let input = ctx.tensor_input(node, 0)?;
    let kernel = ctx.f32_input(node, 1)?;
    let rank = kernel.ndim().saturating_sub(2);
    let window = Window {
        kernel: kernel.shape()[..rank].to_vec(),
        strides: super::spatial(ctx, node, "strides", rank, None)?,
        dilation: super::spatial(ctx, node, "dilations", rank, Some(1))?,
        padding: super::padding(ctx, node)?,
    };
    build(ctx, node, input, kernel, window, depthwise)
}

/// The Keras layer for a TF convolution of `input` by `kernel` (k…, in / groups, out; or
/// k…, in, multiplier when `depthwise`) over `window`.
pub(crate) fn build(
    ctx: &mut Context,
    node: &NodeDef,
    input: KTensor,
    kernel: ArrayD<f32>,
    window: Window,
    depthwise: bool,
) -> Result<Value, ConvertError> {
    let rank = window.rank();
    if kernel.ndim() != rank + 2 || rank == 0 {
        return Err(ctx.refuse(node, format!("the filter has shape {:?}, expected (k…, in, out)", kernel.shape())));
    }
    window.check().map_err(|e| ctx.refuse(node, e))?;
    let channels = match input.channels() {
        Some(c) if input.rank() == rank + 2 => c,
        _ => {
            return Err(ctx.refuse(
                node,
                format!("expected a rank-{} input with known channels, got {:?}", rank + 2, input.shape),
            ))
        }
    };
    let (conv, kernel) = if depthwise {
        if kernel.shape()[rank] != channels {
            return Err(ctx.refuse(
                node,
                format!("input {:?} does not match the depthwise filter {:?}", input.shape, kernel.shape()),
            ));
        }
        (Conv::new(window, ConvVariant::Depthwise { depth_multiplier: kernel.shape()[rank + 1] }), kernel)
    } else {
        Conv::grouped(window, channels, kernel).map_err(|e| ctx.refuse(node, e))?
    };
    add(ctx, node, input, conv, vec![kernel])
}

/// Adds `conv` of `input` with its Keras `kernels` (one, or a separable convolution's
/// depthwise then pointwise kernel; no bias yet) as `node`'s layer.
pub(crate) fn add(
    ctx: &mut Context,
    node: &NodeDef,
    input: KTensor,
    conv: Conv,
    kernels: Vec<ArrayD<f32>>,
) -> Result<Value, ConvertError> {
    let shape =
        conv.output_shape(&input.shape).map_err(|e| ctx.refuse(node, format!("input {:?}: {e}", input.shape)))?;
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, conv.layer(&name, input.layer, kernels, None), shape))
}

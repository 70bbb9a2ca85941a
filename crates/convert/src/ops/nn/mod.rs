//! Neural-network ops: Conv2D, DepthwiseConv2dNative, pools, FusedBatchNorm, BiasAdd and
//! activations.
//! Shared here: NHWC/stride/padding attributes and output-size arithmetic.

pub(crate) mod activation;
mod bias_add;
pub(crate) mod conv2d;
pub(crate) mod depthwise_conv2d;
mod fused_batch_norm;
mod pool;

use tf2h5_keras::layers::{Padding, Window2D};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::Registry;
use crate::context::Context;
use crate::ConvertError;

pub(crate) use bias_add::fuse_bias;

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Conv2D", conv2d::conv2d);
    registry.insert("DepthwiseConv2dNative", depthwise_conv2d::depthwise_conv2d_native);
    registry.insert("MaxPool", pool::max_pool);
    registry.insert("AvgPool", pool::avg_pool);
    registry.insert("FusedBatchNorm", fused_batch_norm::fused_batch_norm);
    registry.insert("FusedBatchNormV2", fused_batch_norm::fused_batch_norm);
    registry.insert("FusedBatchNormV3", fused_batch_norm::fused_batch_norm);
    registry.insert("BiasAdd", bias_add::bias_add);
    activation::register(registry);
}

/// Refuses NCHW: Keras layers here are channels_last.
pub(crate) fn require_nhwc(ctx: &Context, node: &NodeDef) -> Result<(), ConvertError> {
    match node.attr_str_opt("data_format")?.as_deref() {
        None | Some("NHWC") => Ok(()),
        Some(other) => Err(ctx.refuse(node, format!("data_format {other} is not supported (only NHWC)"))),
    }
}

/// Reads a `[1, h, w, 1]` attribute (strides, ksize, dilations); `default` when absent.
pub(crate) fn spatial_pair(
    ctx: &Context,
    node: &NodeDef,
    attr: &str,
    default: Option<[usize; 2]>,
) -> Result<[usize; 2], ConvertError> {
    match (node.attr_ints_opt(attr)?, default) {
        (Some(v), _) if v.len() == 4 && v[0] == 1 && v[3] == 1 && v[1] > 0 && v[2] > 0 => {
            Ok([v[1] as usize, v[2] as usize])
        }
        (None, Some(default)) => Ok(default),
        (value, _) => Err(ctx.refuse(node, format!("{attr} {value:?} is not of the form [1, h, w, 1]"))),
    }
}

/// The window of a convolution node (`Conv2D`, `DepthwiseConv2dNative`) whose filter is
/// `kernel` (h, w, ...): its size, strides, padding and dilations.
pub(crate) fn conv_window(
    ctx: &Context,
    node: &NodeDef,
    kernel: &ndarray::ArrayD<f32>,
) -> Result<tf2h5_keras::layers::Window2D, ConvertError> {
    Ok(tf2h5_keras::layers::Window2D {
        size: [kernel.shape().first().copied().unwrap_or(0), kernel.shape().get(1).copied().unwrap_or(0)],
        strides: spatial_pair(ctx, node, "strides", None)?,
        padding: padding(ctx, node)?,
        dilation: spatial_pair(ctx, node, "dilations", Some([1, 1]))?,
    })
}

pub(crate) fn padding(ctx: &Context, node: &NodeDef) -> Result<Padding, ConvertError> {
    match node.attr_str("padding")?.as_str() {
        "VALID" => Ok(Padding::Valid),
        "SAME" => Ok(Padding::Same),
        other => Err(ctx.refuse(node, format!("padding {other} is not supported (VALID or SAME; use Pad + VALID)"))),
    }
}

/// Output size of a window op along one axis, as TF computes it; `None` when the window
/// does not fit (refused by the caller).
pub(crate) fn output_size(
    input: usize,
    window: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<usize> {
    let effective = (window - 1) * dilation + 1;
    match padding {
        Padding::Same => Some(input.div_ceil(stride)),
        Padding::Valid => (input >= effective).then(|| (input - effective) / stride + 1),
    }
}

/// NHWC output shape of `window` applied to `input` with `channels` output channels.
pub(crate) fn window_output_shape(
    ctx: &Context,
    node: &NodeDef,
    input: &[Option<usize>],
    window: &Window2D,
    channels: Option<usize>,
) -> Result<Vec<Option<usize>>, ConvertError> {
    if input.len() != 4 {
        return Err(ctx.refuse(node, format!("expected an NHWC tensor, got shape {input:?}")));
    }
    let mut shape = vec![None];
    for axis in 0..2 {
        let size = match input[axis + 1] {
            Some(size) => Some(
                output_size(size, window.size[axis], window.strides[axis], window.dilation[axis], window.padding)
                    .ok_or_else(|| {
                        ctx.refuse(node, format!("window {:?} does not fit input {input:?}", window.size))
                    })?,
            ),
            None => None,
        };
        shape.push(size);
    }
    shape.push(channels);
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_tf() {
        assert_eq!(output_size(28, 3, 1, 1, Padding::Valid), Some(26));
        assert_eq!(output_size(17, 3, 2, 1, Padding::Same), Some(9));
        assert_eq!(output_size(9, 3, 1, 2, Padding::Valid), Some(5));
        assert_eq!(output_size(2, 3, 1, 1, Padding::Valid), None);
    }
}

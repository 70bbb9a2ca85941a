//! Keras `SeparableConv2D` as TF writes it (`tf.nn.separable_conv2d`): a
//! `DepthwiseConv2dNative` read only by a 1×1, stride-1 `Conv2D` (the pointwise step) → one
//! `SeparableConv2D` whose window is the depthwise step's. The 1-D form (`SeparableConv1D`,
//! the same pair between `ExpandDims` and `Squeeze`) is `conv1d.rs`'s, through
//! [`pointwise_of`] and [`build_layer`]. Where the pair is not whole (another reader of the
//! depthwise output, a strided or larger pointwise kernel) the two convert as
//! `DepthwiseConv2D` then `Conv2D`.

use ndarray::ArrayD;
use tf2h5_keras::spec::{Conv, ConvVariant, Window};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::{Kind, Match, View};
use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

/// A recognised `SeparableConv2D`.
#[derive(Debug, Clone)]
pub(crate) struct Separable {
    /// The depthwise step (the pointwise one is the match's output node).
    depthwise: String,
}

/// Whether `pointwise` is the pointwise step of a separable convolution whose depthwise step
/// is `depthwise`: a `Conv2D` reading only it, with a 1×…×1 filter, unit strides and no
/// dilation (its padding then changes nothing), and nothing else reading `depthwise`.
pub(super) fn pointwise_of(view: &View, depthwise: &NodeDef, pointwise: &NodeDef) -> bool {
    let unit = |attr: &str| pointwise.attr_ints_opt(attr).ok().flatten().is_none_or(|v| v.iter().all(|&s| s == 1));
    let filter = view.input(pointwise, 1).and_then(|f| view.constant_through_reshape(&f));
    // The filter's spatial axes (a 1-D filter may be (1, in, out) before its `ExpandDims`).
    let one_by_one =
        filter.is_some_and(|f| f.shape().len() >= 3 && f.shape()[..f.shape().len() - 2].iter().all(|&k| k == 1));
    pointwise.op == "Conv2D" && one_by_one && unit("strides") && unit("dilations") && view.readers(&depthwise.name) == 1
}

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    if node.op != "Conv2D" {
        return None;
    }
    let depthwise = view.producer(&view.input(node, 0)?, &["DepthwiseConv2dNative"])?;
    if !pointwise_of(view, depthwise, node) || !view.closed(&[depthwise], node) {
        return None;
    }
    let separable = Separable { depthwise: depthwise.name.clone() };
    Some(Match { inner: super::names(&[depthwise]), kind: Kind::Separable(separable) })
}

pub(super) fn build(ctx: &mut Context, node: &NodeDef, separable: &Separable) -> Result<Value, ConvertError> {
    let depthwise =
        ctx.graph.node(&separable.depthwise).ok_or_else(|| ctx.refuse(node, "the depthwise step vanished"))?.clone();
    crate::ops::nn::require_nhwc(ctx, &depthwise)?;
    crate::ops::nn::require_nhwc(ctx, node)?;
    let input = ctx.tensor_input(&depthwise, 0)?;
    let depthwise_kernel = ctx.f32_input(&depthwise, 1)?;
    let window = Window {
        kernel: depthwise_kernel.shape()[..depthwise_kernel.ndim().saturating_sub(2)].to_vec(),
        strides: crate::ops::nn::spatial(ctx, &depthwise, "strides", 2, None)?,
        dilation: crate::ops::nn::spatial(ctx, &depthwise, "dilations", 2, Some(1))?,
        padding: crate::ops::nn::padding(ctx, &depthwise)?,
    };
    let pointwise_kernel = ctx.f32_input(node, 1)?;
    build_layer(ctx, node, input, depthwise_kernel, pointwise_kernel, window)
}

/// The Keras separable convolution of `input` over `window`: the depthwise kernel (k…, in,
/// multiplier), then the pointwise one (1…, in · multiplier, filters), as `node`'s layer.
pub(super) fn build_layer(
    ctx: &mut Context,
    node: &NodeDef,
    input: KTensor,
    depthwise: ArrayD<f32>,
    pointwise: ArrayD<f32>,
    window: Window,
) -> Result<Value, ConvertError> {
    window.check().map_err(|e| ctx.refuse(node, e))?;
    let rank = window.rank();
    let fits = depthwise.ndim() == rank + 2
        && pointwise.ndim() == rank + 2
        && input.rank() == rank + 2
        && input.channels() == Some(depthwise.shape()[rank])
        && pointwise.shape()[rank] == depthwise.shape()[rank] * depthwise.shape()[rank + 1];
    if !fits {
        return Err(ctx.refuse(
            node,
            format!(
                "input {:?}, depthwise kernel {:?} and pointwise kernel {:?} do not make a separable convolution",
                input.shape,
                depthwise.shape(),
                pointwise.shape()
            ),
        ));
    }
    let variant =
        ConvVariant::Separable { filters: pointwise.shape()[rank + 1], depth_multiplier: depthwise.shape()[rank + 1] };
    crate::ops::nn::conv::add(ctx, node, input, Conv::new(window, variant), vec![depthwise, pointwise])
}

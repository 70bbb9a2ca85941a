//! 1-D layers as TF writes them: `ExpandDims → Conv2D | DepthwiseConv2dNative | MaxPool |
//! AvgPool | Conv2DBackpropInput → Squeeze` on a (batch, steps, channels) tensor → one
//! `Conv1D`, `DepthwiseConv1D`, `MaxPooling1D`, `AveragePooling1D` or `Conv1DTranspose`, and
//! `ExpandDims → DepthwiseConv2dNative → Conv2D (1×1) → Squeeze` → one `SeparableConv1D`.
//!
//! `tf.nn.conv1d` (and `conv1d_transpose`) insert the unit axis before the steps (N, 1, W, C)
//! and their filter is the 1-D one expanded at axis 0; Keras's 1-D pools insert it after (N,
//! W, 1, C). Either axis is accepted when the window, stride and dilation along it are 1 and
//! the `Squeeze` removes exactly it. tf-keras's `DepthwiseConv1D` and `SeparableConv1D` add
//! their bias before squeezing: a `BiasAdd` there joins the match and becomes the layer's
//! bias. Keras's `causal` padding arrives as a `Pad` of `(kernel − 1)·dilation` steps
//! before a VALID convolution; a `Pad` of exactly that, read by nothing else, becomes the
//! layer's `causal` padding (not a separable one's: Keras 3 has none; the dilated form,
//! wrapped in space-to-batch, is `dilated_conv.rs`'s, through [`UnitAxis`]).

use ndarray::ArrayD;
use tf2h5_keras::spec::{Padding, Pool, PoolKind, Window};
use tf2h5_tf::{pb::NodeDef, NodeExt, TensorRef};

use super::{Kind, Match, View};
use crate::context::{Context, Value};
use crate::ConvertError;

/// The convolutions and pools whose 1-D form TF writes through a unit axis.
const WINDOWED: [&str; 5] = ["Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "Conv2DBackpropInput"];

/// `ExpandDims(x, axis) → [depthwise →] op [→ BiasAdd] → Squeeze(axis)`, found from the
/// `Squeeze`.
pub(super) struct UnitAxis<'g> {
    pub expand: &'g NodeDef,
    /// The depthwise step of a separable convolution, when `op` is its pointwise `Conv2D`.
    pub depthwise: Option<&'g NodeDef>,
    pub op: &'g NodeDef,
    /// A `BiasAdd` between the op and the `Squeeze`.
    pub bias: Option<&'g NodeDef>,
    /// The inserted axis among the op's two spatial axes (0: height, 1: width).
    pub unit: usize,
}

/// The unit-axis form ending at `squeeze`, if it is one (nothing else checked).
pub(super) fn unit_axis<'g>(view: &View<'g>, squeeze: &'g NodeDef) -> Option<UnitAxis<'g>> {
    if squeeze.op != "Squeeze" {
        return None;
    }
    let mut tensor = view.input(squeeze, 0)?;
    let bias = view.producer(&tensor, &["BiasAdd"]);
    if let Some(bias) = bias {
        tensor = view.input(bias, 0)?;
    }
    let op = view.producer(&tensor, &WINDOWED)?;
    // The transposed convolution's tensor is its third input (after the sizes and filter).
    let mut tensor = view.input(op, if op.op == "Conv2DBackpropInput" { 2 } else { 0 })?;
    let depthwise = match op.op.as_str() {
        "Conv2D" => {
            view.producer(&tensor, &["DepthwiseConv2dNative"]).filter(|d| super::separable::pointwise_of(view, d, op))
        }
        _ => None,
    };
    if let Some(depthwise) = depthwise {
        tensor = view.input(depthwise, 0)?;
    }
    let expand = view.producer(&tensor, &["ExpandDims"])?;
    let axis = view.ints(&view.input(expand, 1)?)?;
    let squeezed = squeeze.attr_ints_opt("squeeze_dims").ok()??;
    // ExpandDims on rank 3 and Squeeze on rank 4 both count negative axes from rank 4.
    let absolute = |a: i64| if a < 0 { a + 4 } else { a };
    match (axis.as_slice(), squeezed.as_slice()) {
        (&[a], &[s]) if absolute(a) == absolute(s) && (1..=2).contains(&absolute(a)) => {
            Some(UnitAxis { expand, depthwise, op, bias, unit: absolute(a) as usize - 1 })
        }
        _ => None,
    }
}

/// A recognised 1-D layer.
#[derive(Debug, Clone)]
pub(crate) struct OneD {
    /// The (batch, steps, channels) tensor read (before a causal `Pad`, if any).
    input: TensorRef,
    /// The 2-D op.
    op: String,
    /// The depthwise step of a separable convolution (`op` is its pointwise `Conv2D`).
    depthwise: Option<String>,
    /// A `BiasAdd` before the `Squeeze`.
    bias: Option<String>,
    unit: usize,
    /// Steps of a causal `Pad` before the op.
    causal: Option<usize>,
}

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    let found = unit_axis(view, node)?;
    let mut inner: Vec<&NodeDef> =
        [Some(found.expand), found.depthwise, Some(found.op), found.bias].into_iter().flatten().collect();
    let mut input = view.input(found.expand, 0)?;
    // Keras 3 has no causal `SeparableConv1D`: its `Pad` stays a `ZeroPadding1D` before it.
    let causal = match found.depthwise {
        None => causal_pad(view, &input, found.op, found.unit, None),
        Some(_) => None,
    };
    if let Some((pad, _)) = causal {
        inner.insert(0, pad);
        input = view.input(pad, 0)?;
    }
    if !view.closed(&inner, node) {
        return None;
    }
    let one_d = OneD {
        input,
        op: found.op.name.clone(),
        depthwise: found.depthwise.map(|d| d.name.clone()),
        bias: found.bias.map(|b| b.name.clone()),
        unit: found.unit,
        causal: causal.map(|(_, steps)| steps),
    };
    Some(Match { inner: super::names(&inner), kind: Kind::OneD(one_d) })
}

/// A `Pad` producing `tensor` that pads only the start of the steps of a rank-3 tensor by
/// exactly the dilated window of `conv` (a VALID convolution) less one: Keras's causal
/// padding, returned with its step count. `dilation` overrides the convolution's own (the
/// rate of an enclosing space-to-batch).
pub(super) fn causal_pad<'g>(
    view: &View<'g>,
    tensor: &TensorRef,
    conv: &NodeDef,
    unit: usize,
    dilation: Option<usize>,
) -> Option<(&'g NodeDef, usize)> {
    let pad = view.producer(tensor, &["Pad"])?;
    let paddings: Vec<i64> = view.ints(&view.input(pad, 1)?)?;
    let &[0, 0, steps, 0, 0, 0] = paddings.as_slice() else { return None };
    let valid = conv.attr_str("padding").ok()? == "VALID";
    // The filter constant is the 1-D (k, in, out) one before its `ExpandDims`, or 2-D.
    let filter = view.constant_through_reshape(&view.input(conv, 1)?)?;
    let kernel = match filter.shape() {
        [k, _, _] => *k,
        shape => *shape.get(1 - unit)?,
    };
    let dilation = match dilation {
        Some(rate) => rate,
        None => conv.attr_ints_opt("dilations").ok()?.map_or(Some(1), |d| d.get(2 - unit).copied())? as usize,
    };
    let conv_like = conv.op == "Conv2D" || conv.op == "DepthwiseConv2dNative";
    let wanted = (kernel.checked_sub(1)? * dilation) as i64;
    (conv_like && valid && steps > 0 && steps == wanted && view.readers(&pad.name) == 1)
        .then_some((pad, steps as usize))
}

/// `values` (a `[1, h, w, 1]` TF attribute or a (h, w, ...) shape) without the unit axis,
/// `None` unless that axis has `expected` there.
fn along(values: &[usize], unit: usize, expected: usize) -> Option<usize> {
    (values.get(unit) == Some(&expected)).then(|| values.get(1 - unit).copied()).flatten()
}

pub(super) fn build(ctx: &mut Context, node: &NodeDef, one_d: &OneD) -> Result<Value, ConvertError> {
    let vanished = |ctx: &Context| ctx.refuse(node, "the 1-D op vanished");
    let op = ctx.graph.node(&one_d.op).ok_or_else(|| vanished(ctx))?.clone();
    // The window is the depthwise step's in a separable convolution.
    let windowed = match &one_d.depthwise {
        Some(depthwise) => ctx.graph.node(depthwise).ok_or_else(|| vanished(ctx))?.clone(),
        None => op.clone(),
    };
    crate::ops::nn::require_nhwc(ctx, &op)?;
    crate::ops::nn::require_nhwc(ctx, &windowed)?;
    let input = match ctx.value_of(node, &one_d.input)? {
        Value::Tensor(t) if t.rank() == 3 => t.clone(),
        _ => return Err(ctx.refuse(node, "a 1-D layer needs a computed (batch, steps, channels) tensor")),
    };
    let spatial = |attr: &str, default| crate::ops::nn::spatial(ctx, &windowed, attr, 2, default);
    let unit = one_d.unit;
    let one = |values: Vec<usize>, what: &str| {
        along(&values, unit, 1)
            .ok_or_else(|| ctx.refuse(&windowed, format!("{what} {values:?} is not 1 along the inserted axis")))
    };
    let strides = one(spatial("strides", None)?, "strides")?;
    let padding = match (one_d.causal, crate::ops::nn::padding(ctx, &windowed)?) {
        (Some(_), _) => Padding::Causal,
        (None, padding) => padding,
    };
    if op.op == "MaxPool" || op.op == "AvgPool" {
        let kernel = one(spatial("ksize", None)?, "ksize")?;
        let kind = if op.op == "MaxPool" { PoolKind::Max } else { PoolKind::Average };
        let window = Window { kernel: vec![kernel], strides: vec![strides], dilation: vec![1], padding };
        return crate::ops::nn::pool::add(ctx, node, input, Pool { kind, window });
    }
    let dilation = one(spatial("dilations", Some(1))?, "dilations")?;
    let kernel = conv_filter(ctx, &windowed, unit)?;
    let window = Window { kernel: vec![kernel.shape()[0]], strides: vec![strides], dilation: vec![dilation], padding };
    let value = if op.op == "Conv2DBackpropInput" {
        // The output sizes [batch, 1, steps, filters] (or [batch, steps, 1, filters]).
        let sizes = crate::ops::nn::conv_transpose::output_lengths(ctx, &op, 2, kernel.shape()[1])?;
        let steps = along(&sizes, unit, 1)
            .ok_or_else(|| ctx.refuse(&op, format!("output sizes {sizes:?} are not 1 along the inserted axis")))?;
        crate::ops::nn::conv_transpose::build(ctx, node, input, kernel, window, &[steps])?
    } else if one_d.depthwise.is_some() {
        let pointwise = conv_filter(ctx, &op, unit)?;
        super::separable::build_layer(ctx, node, input, kernel, pointwise, window)?
    } else {
        crate::ops::nn::conv::build(ctx, node, input, kernel, window, op.op != "Conv2D")?
    };
    match (&one_d.bias, &value) {
        (None, _) => Ok(value),
        (Some(bias_add), Value::Tensor(tensor)) => {
            let bias_add = ctx.graph.node(bias_add).ok_or_else(|| vanished(ctx))?.clone();
            crate::ops::nn::require_nhwc(ctx, &bias_add)?;
            let bias = ctx.f32_input(&bias_add, 1)?.iter().copied().collect();
            crate::ops::nn::bias_add::fuse_bias(ctx, &bias_add, tensor, bias)?
                .map(Value::Tensor)
                .ok_or_else(|| ctx.refuse(&bias_add, "the bias does not fit the 1-D layer before it"))
        }
        (Some(_), _) => Err(ctx.refuse(node, "the 1-D layer gave no tensor to add the bias to")),
    }
}

/// The 1-D filter (k, in, out) of a 2-D convolution `conv` whose `unit` axis has size 1.
pub(super) fn conv_filter(ctx: &Context, conv: &NodeDef, unit: usize) -> Result<ArrayD<f32>, ConvertError> {
    let filter = ctx.input(conv, 1)?;
    let filter = match filter {
        Value::Const(c) => c.as_f32().cloned(),
        _ => None,
    }
    .ok_or_else(|| ctx.refuse(conv, "the filter must be a float constant"))?;
    let shape = filter.shape().to_vec();
    if shape.len() != 4 || along(&shape, unit, 1).is_none() {
        return Err(ctx.refuse(conv, format!("the filter {shape:?} is not 1 along the inserted axis")));
    }
    let one_d = vec![shape[1 - unit], shape[2], shape[3]];
    filter.into_shape_with_order(one_d).map_err(|e| ctx.refuse(conv, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn along_drops_the_unit_axis() {
        assert_eq!(along(&[1, 5, 3, 4], 0, 1), Some(5));
        assert_eq!(along(&[5, 1], 1, 1), Some(5));
        assert_eq!(along(&[2, 5], 0, 1), None);
    }
}

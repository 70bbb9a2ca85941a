//! `SpaceToBatchND → Conv2D | DepthwiseConv2dNative → BatchToSpaceND` → one convolution with
//! `dilation_rate` (TF's `with_space_to_batch`, used by `tf.nn.depthwise_conv2d` and
//! `atrous_conv2d` for dilation).
//!
//! The inner convolution must be VALID with stride 1 and no dilation of its own. The
//! paddings and crops must be exactly what TF adds for SAME or VALID at rate r: for SAME, a
//! total of `(k - 1)·r` split `total/2` before and the rest after; for both, extra cells after
//! so that each padded size is a multiple of r, cropped off again afterwards.

use tf2h5_keras::spec::{Padding, Window};
use tf2h5_tf::{pb::NodeDef, TensorRef};

use super::{Kind, Match, View};
use crate::context::{Context, Value};
use crate::ConvertError;

/// A recognised dilated convolution.
#[derive(Debug, Clone)]
pub(crate) struct DilatedConv {
    input: TensorRef,
    /// The convolution node (Conv2D or DepthwiseConv2dNative).
    conv: String,
    block_shape: TensorRef,
    paddings: TensorRef,
    crops: TensorRef,
}

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    if node.op != "BatchToSpaceND" {
        return None;
    }
    let conv = view.producer(&view.input(node, 0)?, &["Conv2D", "DepthwiseConv2dNative"])?;
    let s2b = view.producer(&view.input(conv, 0)?, &["SpaceToBatchND"])?;
    let block_shape = view.input(s2b, 1)?;
    let same_block =
        view.constant(&block_shape).is_some() && view.constant(&block_shape) == view.constant(&view.input(node, 1)?);
    if !same_block || !view.closed(&[s2b, conv], node) {
        return None;
    }
    let dc = DilatedConv {
        input: view.input(s2b, 0)?,
        conv: conv.name.clone(),
        block_shape,
        paddings: view.input(s2b, 2)?,
        crops: view.input(node, 2)?,
    };
    Some(Match { inner: super::names(&[s2b, conv]), kind: Kind::DilatedConv(dc) })
}

/// The padding mode whose space-to-batch paddings and crops these are, for one axis.
fn padding_mode(size: usize, kernel: usize, rate: usize, pads: [i64; 2], crops: [i64; 2]) -> Option<Padding> {
    let extra = |padded: usize| ((rate - padded % rate) % rate) as i64;
    let total = ((kernel - 1) * rate) as i64;
    let before = total / 2;
    let same_extra = extra(size + total as usize);
    if pads == [before, total - before + same_extra] && crops == [0, same_extra] {
        return Some(Padding::Same);
    }
    let valid_extra = extra(size);
    (pads == [0, valid_extra] && crops == [0, valid_extra]).then_some(Padding::Valid)
}

pub(super) fn build(ctx: &mut Context, node: &NodeDef, dc: &DilatedConv) -> Result<Value, ConvertError> {
    let conv = ctx.graph.node(&dc.conv).ok_or_else(|| ctx.refuse(node, "convolution node vanished"))?.clone();
    crate::ops::nn::require_nhwc(ctx, &conv)?;
    let input = match ctx.value_of(node, &dc.input)? {
        Value::Tensor(t) => t.clone(),
        _ => return Err(ctx.refuse(node, "space-to-batch of something other than a computed tensor")),
    };
    let ints = |ctx: &Context, r: &TensorRef| -> Result<Vec<i64>, ConvertError> {
        match ctx.value_of(node, r)? {
            Value::Const(c) => {
                c.as_ints().map(|a| a.iter().copied().collect()).ok_or_else(|| ctx.refuse(node, "expected integers"))
            }
            _ => Err(ctx.refuse(node, "block shape, paddings and crops must be constants")),
        }
    };
    let block = ints(ctx, &dc.block_shape)?;
    let paddings = ints(ctx, &dc.paddings)?;
    let crops = ints(ctx, &dc.crops)?;
    let kernel_ref =
        conv.input.get(1).and_then(|i| TensorRef::parse(i)).ok_or_else(|| ctx.refuse(&conv, "no filter input"))?;
    let kernel = match ctx.value_of(&conv, &kernel_ref)? {
        Value::Const(c) => c.as_f32().cloned(),
        _ => None,
    }
    .ok_or_else(|| ctx.refuse(&conv, "the filter must be a float constant"))?;
    let strides = crate::ops::nn::spatial(ctx, &conv, "strides", 2, None)?;
    let dilations = crate::ops::nn::spatial(ctx, &conv, "dilations", 2, Some(1))?;
    let inner_padding = crate::ops::nn::padding(ctx, &conv)?;
    let [r_h, r_w] = match block.as_slice() {
        [h, w] if *h > 0 && *w > 0 => [*h as usize, *w as usize],
        _ => return Err(ctx.refuse(node, format!("block shape {block:?} is not 2-D"))),
    };
    if strides != [1; 2]
        || dilations != [1; 2]
        || inner_padding != Padding::Valid
        || paddings.len() != 4
        || crops.len() != 4
        || kernel.ndim() != 4
    {
        return Err(ctx.refuse(node, "the convolution inside space-to-batch must be VALID, stride 1, undilated, 2-D"));
    }
    let (Some(h), Some(w)) = (input.dim(1), input.dim(2)) else {
        return Err(ctx.refuse(node, "the spatial size must be known"));
    };
    let (kh, kw) = (kernel.shape()[0], kernel.shape()[1]);
    let rows = padding_mode(h, kh, r_h, [paddings[0], paddings[1]], [crops[0], crops[1]]);
    let cols = padding_mode(w, kw, r_w, [paddings[2], paddings[3]], [crops[2], crops[3]]);
    let padding = match (rows, cols) {
        (Some(a), Some(b)) if a == b => a,
        _ => {
            return Err(ctx.refuse(
                node,
                format!("paddings {paddings:?} and crops {crops:?} are neither TF's SAME nor VALID for rate {block:?}"),
            ))
        }
    };
    let window = Window { kernel: vec![kh, kw], strides: vec![1, 1], padding, dilation: vec![r_h, r_w] };
    crate::ops::nn::conv::build(ctx, node, input, kernel, window, conv.op != "Conv2D")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_tf_space_to_batch_paddings() {
        // 9 cells, 3-tap kernel, rate 2, SAME: total 4 -> [2, 2], padded 13 -> 1 extra.
        assert_eq!(padding_mode(9, 3, 2, [2, 3], [0, 1]), Some(Padding::Same));
        // 8 cells, SAME: padded 12, no extra.
        assert_eq!(padding_mode(8, 3, 2, [2, 2], [0, 0]), Some(Padding::Same));
        // 9 cells, VALID: 1 extra.
        assert_eq!(padding_mode(9, 3, 2, [0, 1], [0, 1]), Some(Padding::Valid));
        assert_eq!(padding_mode(9, 3, 2, [1, 1], [0, 0]), None);
    }
}

//! `SpaceToBatchND → Conv2D | DepthwiseConv2dNative → BatchToSpaceND` → one convolution with
//! `dilation_rate` (TF's `with_space_to_batch`, used by `tf.nn.depthwise_conv2d` and
//! `atrous_conv2d` for dilation), and its 1-D form around `ExpandDims → conv → Squeeze`
//! (a dilated Keras `Conv1D`, after a causal `Pad` when `padding="causal"`).
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
    /// For a 1-D convolution (`ExpandDims → conv → Squeeze` inside): the inserted axis.
    unit: Option<usize>,
    /// Steps of a causal `Pad` before the space-to-batch (1-D only).
    causal: Option<usize>,
    block_shape: TensorRef,
    paddings: TensorRef,
    crops: TensorRef,
}

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    if node.op != "BatchToSpaceND" {
        return None;
    }
    let result = view.input(node, 0)?;
    let (conv, one_d) = match view.producer(&result, &["Squeeze"]) {
        Some(squeeze) => {
            let found = super::conv1d::unit_axis(view, squeeze)?;
            // A bias or depthwise step inside the unit axis is not this form.
            if found.bias.is_some() || found.depthwise.is_some() {
                return None;
            }
            (found.op, Some((found, squeeze)))
        }
        None => (view.producer(&result, &["Conv2D", "DepthwiseConv2dNative"])?, None),
    };
    if conv.op != "Conv2D" && conv.op != "DepthwiseConv2dNative" {
        return None;
    }
    let conv_input = view.input(one_d.as_ref().map_or(conv, |(found, _)| found.expand), 0)?;
    let s2b = view.producer(&conv_input, &["SpaceToBatchND"])?;
    let block_shape = view.input(s2b, 1)?;
    let block = view.constant(&block_shape)?;
    if Some(&block) != view.constant(&view.input(node, 1)?).as_ref() {
        return None;
    }
    let mut inner = vec![s2b, conv];
    let mut input = view.input(s2b, 0)?;
    let mut causal = None;
    if let Some((found, squeeze)) = &one_d {
        inner.extend([found.expand, *squeeze]);
        let rate = match block.as_ints()?.iter().copied().collect::<Vec<i64>>()[..] {
            [rate] if rate > 0 => rate as usize,
            _ => return None,
        };
        if let Some((pad, steps)) = super::conv1d::causal_pad(view, &input, conv, found.unit, Some(rate)) {
            inner.insert(0, pad);
            input = view.input(pad, 0)?;
            causal = Some(steps);
        }
    }
    if !view.closed(&inner, node) {
        return None;
    }
    let dc = DilatedConv {
        input,
        conv: conv.name.clone(),
        unit: one_d.map(|(found, _)| found.unit),
        causal,
        block_shape,
        paddings: view.input(s2b, 2)?,
        crops: view.input(node, 2)?,
    };
    Some(Match { inner: super::names(&inner), kind: Kind::DilatedConv(dc) })
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
    let kernel = match dc.unit {
        Some(unit) => super::conv1d::conv_filter(ctx, &conv, unit)?,
        None => ctx.f32_input(&conv, 1)?,
    };
    let strides = crate::ops::nn::spatial(ctx, &conv, "strides", 2, None)?;
    let dilations = crate::ops::nn::spatial(ctx, &conv, "dilations", 2, Some(1))?;
    let inner_padding = crate::ops::nn::padding(ctx, &conv)?;
    let rank = kernel.ndim().saturating_sub(2);
    let rates: Option<Vec<usize>> = block.iter().map(|&r| usize::try_from(r).ok().filter(|&r| r > 0)).collect();
    // Space-to-batch pads what a causal `Pad` already padded.
    let causal = dc.causal.unwrap_or(0);
    let sizes: Option<Vec<usize>> = (1..=rank).map(|a| input.dim(a as i64).map(|d| d + causal)).collect();
    let (Some(rates), Some(sizes)) = (rates, sizes) else {
        return Err(
            ctx.refuse(node, format!("block shape {block:?} or the spatial sizes {:?} are unusable", input.shape))
        );
    };
    if strides != [1; 2]
        || dilations != [1; 2]
        || inner_padding != Padding::Valid
        || input.rank() != rank + 2
        || rates.len() != rank
        || paddings.len() != 2 * rank
        || crops.len() != 2 * rank
    {
        return Err(ctx.refuse(
            node,
            "the convolution inside space-to-batch must be VALID, stride 1, undilated, of the block's rank",
        ));
    }
    let modes: Vec<Option<Padding>> = (0..rank)
        .map(|a| {
            let pair = |v: &[i64]| [v[2 * a], v[2 * a + 1]];
            padding_mode(sizes[a], kernel.shape()[a], rates[a], pair(&paddings), pair(&crops))
        })
        .collect();
    let padding = match modes.first() {
        Some(&Some(mode)) if modes.iter().all(|m| *m == Some(mode)) => mode,
        _ => {
            return Err(ctx.refuse(
                node,
                format!("paddings {paddings:?} and crops {crops:?} are neither TF's SAME nor VALID for rate {block:?}"),
            ))
        }
    };
    // A causal `Pad` before a VALID dilated convolution is Keras's causal padding (`find`
    // checked its length against the kernel and rate).
    let padding = match (dc.causal, padding) {
        (None, padding) => padding,
        (Some(_), Padding::Valid) => Padding::Causal,
        (Some(_), other) => {
            return Err(ctx.refuse(node, format!("a causal Pad before a {} dilated convolution", other.as_str())))
        }
    };
    let window = Window { kernel: kernel.shape()[..rank].to_vec(), strides: vec![1; rank], padding, dilation: rates };
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

//! TF `Conv2DBackpropInput` / `Conv3DBackpropInputV2` (what Keras `Conv2DTranspose` /
//! `Conv3DTranspose` and `tf.nn.conv2d_transpose` / `conv3d_transpose` compile to) → Keras
//! `Conv2DTranspose` / `Conv3DTranspose`, a transposed [`Conv`] of the filter's rank.
//!
//! The op's inputs are `(input_sizes, filter, out_backprop)`: the output shape comes first
//! (often `Pack(batch, h, w, c)` with the batch read from `Shape`), the filter is
//! (k…, filters, in) — exactly the Keras kernel — and the tensor read is the third input.
//! TF lets several output sizes map back to one input size (any `out` with
//! `ceil(out / stride) = in` for SAME); Keras picks one from `output_padding`, so that is
//! chosen to reproduce the requested size, or the node is refused when no value Keras
//! accepts (`0 ≤ output_padding < stride`) does. A following `BiasAdd` and activation are
//! fused as for `Conv2D` (the spec decides). Keras `Conv1DTranspose` (`tf.nn.conv1d_transpose`:
//! the 2-D op between `ExpandDims` and `Squeeze`) is built here from `patterns::conv1d`.

use ndarray::ArrayD;
use tf2h5_keras::spec::{Conv, ConvVariant, Padding, Window};
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, Dim, KTensor, Value};
use crate::ConvertError;

pub(super) fn backprop_input(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    let input = ctx.tensor_input(node, 2)?;
    let kernel = ctx.f32_input(node, 1)?;
    let rank = kernel.ndim().saturating_sub(2);
    if rank == 0 || input.rank() != rank + 2 {
        return Err(
            ctx.refuse(node, format!("the filter {:?} does not fit the input {:?}", kernel.shape(), input.shape))
        );
    }
    let window = Window {
        kernel: kernel.shape()[..rank].to_vec(),
        strides: super::spatial(ctx, node, "strides", rank, None)?,
        dilation: super::spatial(ctx, node, "dilations", rank, Some(1))?,
        padding: super::padding(ctx, node)?,
    };
    let target = output_lengths(ctx, node, rank, kernel.shape()[rank])?;
    build(ctx, node, input, kernel, window, &target)
}

/// The Keras transposed convolution of `input` by `kernel` (k…, filters, in) over `window`
/// whose output has the spatial sizes `target`, as `node`'s layer.
pub(crate) fn build(
    ctx: &mut Context,
    node: &NodeDef,
    input: KTensor,
    kernel: ArrayD<f32>,
    window: Window,
    target: &[usize],
) -> Result<Value, ConvertError> {
    window.check().map_err(|e| ctx.refuse(node, e))?;
    let rank = window.rank();
    if kernel.ndim() != rank + 2 || input.rank() != rank + 2 || input.channels() != kernel.shape().last().copied() {
        return Err(ctx.refuse(
            node,
            format!("input {:?} does not match the filter {:?} (k…, out, in)", input.shape, kernel.shape()),
        ));
    }
    let filters = kernel.shape()[rank];
    let lengths: Vec<usize> = input.shape[1..=rank]
        .iter()
        .map(|d| d.ok_or_else(|| ctx.refuse(node, format!("input {:?} has unknown spatial sizes", input.shape))))
        .collect::<Result<_, _>>()?;
    let conv = Conv::new(window.clone(), ConvVariant::Transposed { filters, output_padding: None });
    let output_padding = if (0..rank).all(|a| conv.transposed_length(a, lengths[a], None) == target[a]) {
        None
    } else {
        Some(output_padding(&window, &lengths, target).ok_or_else(|| {
            ctx.refuse(
                node,
                format!(
                    "no Keras output_padding (0 ≤ p < stride) turns input sizes {lengths:?} into output sizes {target:?} with {} padding",
                    window.padding.as_str()
                ),
            )
        })?)
    };
    let conv = Conv::new(window, ConvVariant::Transposed { filters, output_padding });
    super::conv::add(ctx, node, input, conv, vec![kernel])
}

/// The spatial output sizes `input_sizes` asks for, checked against the filter's channels.
pub(crate) fn output_lengths(
    ctx: &Context,
    node: &NodeDef,
    rank: usize,
    filters: usize,
) -> Result<Vec<usize>, ConvertError> {
    let sizes = ctx.dims_input(node, 0)?.values;
    let known = |d: &Dim| match *d {
        Dim::Known(v) if v > 0 => Some(v as usize),
        _ => None,
    };
    let spatial: Option<Vec<usize>> = sizes.get(1..=rank).and_then(|s| s.iter().map(known).collect());
    match (spatial, sizes.get(rank + 1).and_then(known)) {
        (Some(spatial), Some(channels)) if sizes.len() == rank + 2 && channels == filters => Ok(spatial),
        _ => {
            Err(ctx
                .refuse(node, format!("input_sizes {sizes:?} must be [batch, {rank} known sizes, {filters} channels]")))
        }
    }
}

/// Keras's `output_padding` per axis for the requested output sizes: the inverse of
/// `deconv_output_length` with an explicit padding, `(in − 1)·stride + k + p − 2·pad` (pad =
/// k / 2 for `same`, 0 for `valid`, k the dilated kernel), if every `p` is in `0..stride`.
fn output_padding(window: &Window, input: &[usize], target: &[usize]) -> Option<Vec<usize>> {
    (0..window.rank())
        .map(|a| {
            let kernel = (window.kernel[a] - 1) * window.dilation[a] + 1;
            let pad = if window.padding == Padding::Valid { 0 } else { kernel / 2 };
            let without = (input[a].checked_sub(1)? * window.strides[a] + kernel).checked_sub(2 * pad)?;
            target[a].checked_sub(without).filter(|&p| p < window.strides[a])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_padding_reproduces_every_size_tf_allows() {
        let window =
            |kernel: usize, padding| Window { kernel: vec![kernel], strides: vec![2], dilation: vec![1], padding };
        // SAME from 4: TF allows 7 and 8 (ceil(out / 2) = 4).
        assert_eq!(output_padding(&window(3, Padding::Same), &[4], &[7]), Some(vec![0]));
        assert_eq!(output_padding(&window(3, Padding::Same), &[4], &[8]), Some(vec![1]));
        // An even kernel: 8 is only Keras's default (None), 7 needs 1.
        assert_eq!(output_padding(&window(4, Padding::Same), &[4], &[7]), Some(vec![1]));
        assert_eq!(output_padding(&window(4, Padding::Same), &[4], &[8]), None);
        // VALID from 4 with k3: 9 and 10.
        assert_eq!(output_padding(&window(3, Padding::Valid), &[4], &[10]), Some(vec![1]));
        assert_eq!(output_padding(&window(3, Padding::Valid), &[4], &[11]), None);
        assert_eq!(output_padding(&window(3, Padding::Valid), &[4], &[8]), None);
    }
}

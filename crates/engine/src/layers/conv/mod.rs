//! Every Keras convolution (the [`Conv`] spec): `Conv{1,2,3}D` with `groups`,
//! `DepthwiseConv{1,2}D` and `SeparableConv{1,2}D`, channels_last, with TF's padding rules
//! (`valid`, asymmetric `same`, `causal`), dilation, bias and activation.
//!
//! Every rank runs on the 3-D [`Grid`] (unit leading axes). Standard and pointwise
//! convolutions are im2col + GEMM (`gemm.rs` here); depthwise ones are direct (`depthwise.rs`);
//! a separable convolution is the depthwise step then a 1×…×1 standard one; transposed ones
//! gather their taps directly (`transposed.rs`).

mod depthwise;
mod gemm;
mod transposed;

use ndarray::ArrayD;
use tf2h5_keras::spec::{Conv, ConvVariant, LayerSpec, Padding, Window};
use tf2h5_keras::Layer;

use super::activation::Activation;
use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::window::Grid;
use crate::EngineError;

/// Runs the convolution `spec` of `layer` on its input.
pub(crate) fn apply(spec: &LayerSpec, layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::Conv(conv) = spec else { return Err(cfg.invalid("internal error: not a convolution spec")) };
    let x = super::single_input(&cfg, inputs)?;
    let channels = x.shape().last().copied().unwrap_or(0);
    let weights = cfg.spec_weights(spec, channels)?;
    // The forward window's geometry; a transposed convolution has none (its kernel may be
    // larger than its input).
    let grid = || Grid::new(&conv.window, x.shape()).map_err(|e| cfg.shape(format!("input {:?}: {e}", x.shape())));
    let activation = Activation::parse(&cfg, &conv.activation)?;
    let bias = conv.use_bias.then(|| weights.last().map(|b| b.iter().copied().collect::<Vec<f32>>())).flatten();
    match conv.variant {
        ConvVariant::Standard { filters, groups } => {
            if !channels.is_multiple_of(groups) || !filters.is_multiple_of(groups) {
                return Err(
                    cfg.shape(format!("groups={groups} does not divide {channels} channels and {filters} filters"))
                );
            }
            gemm::conv(&cfg, &grid()?, &x, weights[0], groups, bias.as_deref(), activation)
        }
        ConvVariant::Depthwise { depth_multiplier } => {
            depthwise::conv(&cfg, &grid()?, &x, weights[0], depth_multiplier, bias.as_deref(), activation)
        }
        ConvVariant::Separable { depth_multiplier, .. } => {
            let mid = depthwise::conv(&cfg, &grid()?, &x, weights[0], depth_multiplier, None, Activation::Linear)?;
            let pointwise = Window::new(vec![1; conv.rank()], Padding::Valid);
            let grid = Grid::new(&pointwise, mid.shape()).map_err(|e| cfg.shape(e))?;
            gemm::conv(&cfg, &grid, &mid, weights[1], 1, bias.as_deref(), activation)
        }
        ConvVariant::Transposed { ref output_padding, .. } => {
            transposed::conv(&cfg, conv, output_padding.as_deref(), &x, weights[0], bias.as_deref(), activation)
        }
    }
}

/// Whether `spec` is a convolution the engine runs (all of them).
pub(crate) fn runs(_conv: &Conv) -> bool {
    true
}

#[cfg(test)]
mod tests;

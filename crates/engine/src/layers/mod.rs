//! One kernel per Keras layer family, and the one table mapping each [`Family`] (the
//! spec's class table) to the function computing it, so the classes the engine runs are
//! derived from the specs and cannot disagree with them.
//!
//! A layer function takes the layer's parsed spec, the layer (config + weights) and its
//! inputs in `inbound` order, and returns its outputs (one, but for a recurrent layer with
//! `return_state`: the output, then the final states). Inputs come owned when the
//! layer is their last reader, so element-wise layers can work in place instead of
//! allocating. Families with geometry have one module for every rank and variant (`conv/`,
//! `pool.rs`, `resample.rs`); the weight-less classes keep one file each.

use ndarray::ArrayD;
use tf2h5_keras::spec::{Family, LayerSpec, Plain, RecurrentClass};
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

pub(crate) mod activation;
mod add;
mod batch_normalization;
mod concatenate;
mod conv;
mod dense;
mod dot;
mod dropout;
mod embedding;
mod flatten;
pub(crate) mod input_layer;
mod layer_normalization;
mod leaky_relu;
pub(crate) mod masking;
mod maximum;
mod merge;
mod multiply;
mod normalization;
mod permute;
mod pool;
pub(crate) mod recurrent;
mod relu;
mod resample;
mod rescaling;
mod reshape;
mod softmax;
mod subtract;

/// Computes one layer's outputs from its spec, the layer and its inputs.
pub(crate) type LayerFn = for<'x> fn(&LayerSpec, &Layer, Vec<Input<'x>>) -> Result<Vec<ArrayD<f32>>, EngineError>;

/// The function computing `family` (`None`: the engine does not run it). `InputLayer` has
/// none: the graph runner feeds it.
pub(crate) fn lookup(family: Family) -> Option<LayerFn> {
    /// A single-output kernel.
    macro_rules! one {
        ($f:path) => {
            |spec, layer, inputs| $f(spec, layer, inputs).map(|y| vec![y])
        };
    }
    /// A single-output kernel that needs only the layer (weight-less classes reading their
    /// own keys).
    macro_rules! plain {
        ($f:path) => {
            |_, layer, inputs| $f(layer, inputs).map(|y| vec![y])
        };
    }
    Some(match family {
        Family::Input => return None,
        Family::Dense => one!(dense::apply),
        Family::Embedding => one!(embedding::apply),
        Family::Conv(..) => one!(conv::apply),
        Family::Pool(..) => one!(pool::apply),
        Family::GlobalPool(..) => one!(pool::apply_global),
        Family::Resample(tf2h5_keras::spec::ResampleKind::UpSampling, _) => one!(resample::apply_up_sampling),
        Family::Resample(..) => one!(resample::apply_sides),
        Family::BatchNorm => one!(batch_normalization::apply),
        Family::LayerNorm => one!(layer_normalization::apply),
        Family::Normalization => plain!(normalization::apply),
        Family::Recurrent(RecurrentClass::Lstm) => |_, layer, inputs| recurrent::apply_lstm(layer, inputs),
        Family::Recurrent(RecurrentClass::Gru) => |_, layer, inputs| recurrent::apply_gru(layer, inputs),
        Family::Recurrent(RecurrentClass::SimpleRnn) => |_, layer, inputs| recurrent::apply_simple_rnn(layer, inputs),
        Family::Recurrent(RecurrentClass::Bidirectional) => {
            |_, layer, inputs| recurrent::apply_bidirectional(layer, inputs)
        }
        Family::Plain(plain) => match plain {
            Plain::Activation => plain!(activation::apply),
            Plain::ReLU => plain!(relu::apply),
            Plain::LeakyReLU => plain!(leaky_relu::apply),
            Plain::Softmax => plain!(softmax::apply),
            Plain::Flatten => plain!(flatten::apply),
            Plain::Reshape => plain!(reshape::apply),
            Plain::Permute => plain!(permute::apply),
            Plain::Add => plain!(add::apply),
            Plain::Subtract => plain!(subtract::apply),
            Plain::Multiply => plain!(multiply::apply),
            Plain::Maximum => plain!(maximum::apply_maximum),
            Plain::Minimum => plain!(maximum::apply_minimum),
            Plain::Concatenate => plain!(concatenate::apply),
            Plain::Dot => plain!(dot::apply),
            Plain::Rescaling => plain!(rescaling::apply),
            Plain::Dropout => plain!(dropout::apply),
            Plain::Masking => plain!(masking::apply),
            Plain::Average => return None,
        },
    })
}

/// Runs a layer that reads a Keras mask (`crate::mask` decides which do): the recurrent
/// layers.
pub(crate) fn apply_masked(
    spec: &LayerSpec,
    layer: &Layer,
    inputs: Vec<Input<'_>>,
    mask: &ndarray::ArrayD<bool>,
) -> Result<Vec<ArrayD<f32>>, EngineError> {
    match spec.family() {
        Family::Recurrent(RecurrentClass::Lstm | RecurrentClass::Gru | RecurrentClass::SimpleRnn) => {
            recurrent::apply_masked(layer, inputs, mask)
        }
        Family::Recurrent(RecurrentClass::Bidirectional) => recurrent::run_bidirectional(layer, inputs, Some(mask)),
        _ => Err(LayerConfig::new(layer).invalid("internal error: this layer does not read a mask")),
    }
}

/// Whether the engine runs the layer `spec` (a family may have variants it does not run).
pub(crate) fn runs(spec: &LayerSpec) -> bool {
    match spec {
        LayerSpec::Conv(c) => conv::runs(c),
        other => lookup(other.family()).is_some(),
    }
}

/// The Keras classes the engine runs (`InputLayer` included), derived from [`lookup`].
pub fn supported_layers() -> Vec<String> {
    Family::all().into_iter().filter(|&f| f == Family::Input || lookup(f).is_some()).map(Family::class_name).collect()
}

/// Parses `layer` and runs it on `inputs` (tests of single layers): its first output.
#[cfg(test)]
pub(crate) fn run_layer(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    Ok(run_layer_outputs(layer, inputs)?.swap_remove(0))
}

/// Parses `layer` and runs it on `inputs` (tests of single layers): all its outputs.
#[cfg(test)]
pub(crate) fn run_layer_outputs(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<Vec<ArrayD<f32>>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let spec = LayerSpec::parse(layer).map_err(|e| cfg.keras_error(e))?;
    let apply = lookup(spec.family()).ok_or_else(|| cfg.unsupported("no engine kernel"))?;
    apply(&spec, layer, inputs)
}

/// The size of the last axis of `x`, failing unless `axis` names it (the normalizations
/// run on the last axis only).
pub(crate) fn last_axis_channels(cfg: &LayerConfig<'_>, axis: i64, x: &ArrayD<f32>) -> Result<usize, EngineError> {
    let rank = x.ndim();
    if rank < 2 || resolve_axis(cfg, axis, rank)? + 1 != rank {
        return Err(cfg.unsupported(format!("axis={axis} on a rank-{rank} input (only the last axis)")));
    }
    Ok(x.shape()[rank - 1])
}

/// The only input of a single-input layer.
pub(crate) fn single_input<'x>(cfg: &LayerConfig<'_>, inputs: Vec<Input<'x>>) -> Result<Input<'x>, EngineError> {
    let count = inputs.len();
    let mut inputs = inputs.into_iter();
    match (inputs.next(), inputs.next()) {
        (Some(x), None) => Ok(x),
        _ => Err(cfg.invalid(format!("expects 1 input, got {count}"))),
    }
}

/// Resolves a Keras axis (absolute including the batch axis, or negative from the end)
/// against a tensor of rank `rank`.
pub(crate) fn resolve_axis(cfg: &LayerConfig<'_>, axis: i64, rank: usize) -> Result<usize, EngineError> {
    let rank_i = i64::try_from(rank).unwrap_or(i64::MAX);
    let resolved = if axis < 0 { axis.checked_add(rank_i) } else { Some(axis) };
    match resolved {
        Some(a) if (0..rank_i).contains(&a) => Ok(a as usize),
        _ => Err(cfg.shape(format!("axis {axis} is out of range for an input of rank {rank}"))),
    }
}

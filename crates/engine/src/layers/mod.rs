//! One file per Keras layer class, and the registry mapping each exact `class_name` to the
//! function computing it.
//!
//! A layer function takes the layer (config + weights) and its inputs in `inbound` order,
//! and returns its single output. Inputs come owned when the layer is their last reader, so
//! element-wise layers can work in place instead of allocating.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

pub(crate) mod activation;
mod add;
mod average_pooling2d;
mod batch_normalization;
mod concatenate;
mod conv2d;
mod cropping2d;
mod dense;
mod depthwise_conv2d;
mod flatten;
mod global_average_pooling2d;
pub(crate) mod input_layer;
mod layer_normalization;
mod leaky_relu;
mod max_pooling2d;
mod maximum;
mod merge;
mod multiply;
mod normalization;
mod permute;
mod pooling2d;
mod recurrent;
mod relu;
mod rescaling;
mod reshape;
mod softmax;
mod subtract;
mod up_sampling2d;
mod zero_padding2d;

/// Computes one layer from its inputs.
pub(crate) type LayerFn = for<'x> fn(&Layer, Vec<Input<'x>>) -> Result<ArrayD<f32>, EngineError>;

/// The Keras classes the engine runs (`InputLayer` included).
pub const SUPPORTED_LAYERS: &[&str] = &[
    "InputLayer",
    "Dense",
    "Conv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "Flatten",
    "Activation",
    "ReLU",
    "Softmax",
    "BatchNormalization",
    "Add",
    "Concatenate",
    "ZeroPadding2D",
    "GlobalAveragePooling2D",
    "DepthwiseConv2D",
    "Multiply",
    "Subtract",
    "Maximum",
    "Minimum",
    "Rescaling",
    "Normalization",
    "LayerNormalization",
    "LeakyReLU",
    "Reshape",
    "Cropping2D",
    "Permute",
    "UpSampling2D",
    "LSTM",
    "GRU",
    "SimpleRNN",
    "Bidirectional",
];

/// The function computing `class_name` (every supported class but `InputLayer`, which the
/// graph runner feeds directly).
pub(crate) fn lookup(class_name: &str) -> Option<LayerFn> {
    Some(match class_name {
        "Dense" => dense::apply,
        "Conv2D" => conv2d::apply,
        "MaxPooling2D" => max_pooling2d::apply,
        "AveragePooling2D" => average_pooling2d::apply,
        "Flatten" => flatten::apply,
        "Activation" => activation::apply,
        "ReLU" => relu::apply,
        "Softmax" => softmax::apply,
        "BatchNormalization" => batch_normalization::apply,
        "Add" => add::apply,
        "Concatenate" => concatenate::apply,
        "ZeroPadding2D" => zero_padding2d::apply,
        "GlobalAveragePooling2D" => global_average_pooling2d::apply,
        "DepthwiseConv2D" => depthwise_conv2d::apply,
        "Multiply" => multiply::apply,
        "Subtract" => subtract::apply,
        "Maximum" => maximum::apply_maximum,
        "Minimum" => maximum::apply_minimum,
        "Rescaling" => rescaling::apply,
        "Normalization" => normalization::apply,
        "LayerNormalization" => layer_normalization::apply,
        "LeakyReLU" => leaky_relu::apply,
        "Reshape" => reshape::apply,
        "Cropping2D" => cropping2d::apply,
        "Permute" => permute::apply,
        "UpSampling2D" => up_sampling2d::apply,
        "LSTM" => recurrent::apply_lstm,
        "GRU" => recurrent::apply_gru,
        "SimpleRNN" => recurrent::apply_simple_rnn,
        "Bidirectional" => recurrent::apply_bidirectional,
        _ => return None,
    })
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

/// The input as a rank-4 NHWC tensor's dimensions, or a shape error.
pub(crate) fn nhwc(cfg: &LayerConfig<'_>, x: &ArrayD<f32>) -> Result<[usize; 4], EngineError> {
    match *x.shape() {
        [n, h, w, c] => Ok([n, h, w, c]),
        _ => Err(cfg.shape(format!("expects a rank-4 (batch, height, width, channels) input, got {:?}", x.shape()))),
    }
}

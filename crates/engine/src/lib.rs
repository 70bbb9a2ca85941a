//! The reference Keras engine: runs a [`KerasModel`] on float32 inputs the way Keras does
//! in inference mode, in pure Rust (ndarray + rayon, deliberately no tract, so that the two
//! engines `verify` compares share no code).
//!
//! Flow: `keras` (model, h5 read) → **engine** → `verify`, which compares its outputs with
//! tract's run of the original TF graph. [`run`] returns the model's outputs and frees every
//! intermediate result as soon as its last consumer has run; [`run_all_layers`] keeps every
//! layer's output so a divergence can be localised to its first layer. Failures are an
//! [`EngineError`] naming the layer: unsupported class or option, invalid config or weights,
//! or shapes that do not fit.
//!
//! Tensors are channels_last with the batch first, as Keras writes them. The plan parses each
//! layer into its `tf2h5_keras::spec::LayerSpec` once and runs one kernel per family: every
//! convolution of every rank and variant in `layers/conv/` (im2col + a rayon-parallel GEMM,
//! `gemm.rs`; depthwise ones directly), every pool in `layers/pool.rs`, padding, cropping and
//! upsampling in `layers/resample.rs`; windows of rank 1–3 all run on the 3-D grid of
//! `window.rs`. Weight-less classes have a file each, named after the Keras class; the
//! activation table (`layers/activation.rs`) is shared by `Activation`, `Dense` and the
//! convolutions, and the element-wise merges share their broadcasting (`layers/merge.rs`). The
//! recurrent layers (`LSTM`, `GRU`, `SimpleRNN`, `Bidirectional`) share `layers/recurrent/`:
//! one GEMM projects every time step's input, then the recurrence runs step by step.
//!
//! ```
//! use ndarray::{array, ArrayD};
//! use tf2h5_keras::{layers, KerasModel};
//! let model = KerasModel {
//!     name: "linear".into(),
//!     layers: vec![
//!         layers::input_layer("x", &[None, Some(2)]),
//!         layers::dense("dense", "x".into(), array![[1.0f32], [2.0]].into_dyn(), None, "relu"),
//!     ],
//!     inputs: vec!["x".into()],
//!     outputs: vec!["dense".into()],
//! };
//! let x: ArrayD<f32> = array![[1.0f32, 1.0], [1.0, -3.0]].into_dyn();
//! let outputs = tf2h5_engine::run(&model, &[x]).unwrap();
//! assert_eq!(outputs[0], array![[3.0f32], [0.0]].into_dyn());
//! ```
#![warn(missing_docs)]

mod config;
mod gemm;
mod graph;
mod layers;
mod mask;
mod tensor;
mod window;

use std::collections::HashMap;

use ndarray::ArrayD;
use tf2h5_keras::{KerasModel, LayerError};

pub use layers::supported_layers;

/// Why the engine could not run a model. Every variant names the layer at fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The layer's class, or one of its options, is not implemented by the engine.
    #[error("layer '{layer}': {class_name} is not supported by the engine")]
    Unsupported {
        /// The layer's name.
        layer: String,
        /// The Keras class; when the class is supported but one of its options is not, the
        /// class followed by that option (e.g. `Conv2D with groups=2`).
        class_name: String,
    },
    /// The layer's config, weights or input shapes are wrong, or the model's structure is.
    #[error(transparent)]
    Layer(#[from] LayerError),
}

/// Runs `model` on `inputs` (one array per `model.inputs`, in that order, each with a
/// leading batch dimension) and returns one array per `model.outputs`, in order.
///
/// Only the layers the outputs depend on are run, and each intermediate result is dropped
/// as soon as the last layer reading it has run.
pub fn run(model: &KerasModel, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, EngineError> {
    graph::Plan::new(model, false)?.run_outputs(inputs)
}

/// Runs every layer of `model` on `inputs` (as for [`run`]) and returns each layer's output
/// by layer name, `InputLayer`s included, so a divergence can be pinned to one layer.
pub fn run_all_layers(model: &KerasModel, inputs: &[ArrayD<f32>]) -> Result<HashMap<String, ArrayD<f32>>, EngineError> {
    graph::Plan::new(model, true)?.run_all(inputs)
}

//! Keras functional models and their HDF5 (`.h5`) files.
//!
//! [`KerasModel`] is what the converter builds and what the reference engine runs: layers
//! in topological order, each with the exact config JSON written to the file and its
//! weights. [`h5`] writes a model to an in-memory `.h5` image that loads in tf-keras 2.x and
//! Keras 3 alike, and reads such images back (treating them as untrusted). [`spec`] has one
//! typed, rank-generic spec per layer family (config keys, weights, geometry), the single
//! source of truth the converter, the writer and the engine share; [`layers`] has
//! constructors for the weight-less classes.
//!
//! Flow: `convert` → **keras** (model + h5 write) → `engine` (h5 read + run).
//!
//! ```
//! use tf2h5_keras::{layers, KerasModel};
//! use ndarray::ArrayD;
//! let model = KerasModel {
//!     name: "linear".into(),
//!     layers: vec![
//!         layers::input_layer("x", &[None, Some(1)]),
//!         layers::dense("dense", "x".into(), ArrayD::ones(vec![1, 1]), None, "linear"),
//!     ],
//!     inputs: vec!["x".into()],
//!     outputs: vec!["dense".into()],
//! };
//! let bytes = tf2h5_keras::h5::write_to_bytes(&model).unwrap();
//! assert_eq!(tf2h5_keras::h5::read_from_bytes(&bytes).unwrap(), model);
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod h5;
pub mod layers;
mod model;
pub mod raw;
pub mod spec;

pub use model::{KerasModel, Layer, LayerOutput, Weight};

/// What is wrong with one layer, named by it: the one definition of the per-layer errors that
/// the spec checks here ([`KerasError::Layer`]) and the reference engine (`EngineError::Layer`)
/// both report.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The layer's config or weights are malformed for its class (missing key, bad value,
    /// wrong weight set), or the model's structure is (unknown inbound layer, ...).
    #[error("layer '{layer}': {message}")]
    Config {
        /// The layer's name.
        layer: String,
        /// What is wrong, starting with the layer's class.
        message: String,
    },
    /// The layer's inputs or weights have shapes that do not fit together.
    #[error("layer '{layer}': shape mismatch: {message}")]
    Shape {
        /// The layer's name.
        layer: String,
        /// Which shapes disagree, starting with the layer's class.
        message: String,
    },
}

/// Errors of building, writing or reading a Keras model.
#[derive(Debug, thiserror::Error)]
pub enum KerasError {
    /// The model or file is structurally invalid (bad config, missing weight, ...).
    #[error("{0}")]
    Invalid(String),
    /// A layer's config or weights are wrong for its class.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// A layer's class, or one of its options, is not one tf2h5 knows.
    #[error("layer '{layer}': {what} is not supported")]
    Unsupported {
        /// The layer's name.
        layer: String,
        /// The class, or the class followed by the option (`Conv1D with padding 'full'`).
        what: String,
    },
    /// The HDF5 library reported an error at `path` inside the file.
    #[error("HDF5 error at '{path}': {message}")]
    Hdf5 {
        /// Object path inside the .h5 file.
        path: String,
        /// The library's message.
        message: String,
    },
}

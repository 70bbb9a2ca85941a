//! Keras functional models and their HDF5 (`.h5`) files.
//!
//! [`KerasModel`] is what the converter builds and what the reference engine runs: layers
//! in topological order, each with the exact config JSON written to the file and its
//! weights. [`h5`] writes a model to an in-memory `.h5` image that loads in tf-keras 2.x and
//! Keras 3 alike, and reads such images back (treating them as untrusted). [`layers`] has
//! one constructor per emitted layer class.
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

pub use model::{KerasModel, Layer, Weight};

/// Errors of building, writing or reading a Keras model.
#[derive(Debug, thiserror::Error)]
pub enum KerasError {
    /// The model or file is structurally invalid (bad config, missing weight, ...).
    #[error("{0}")]
    Invalid(String),
    /// The HDF5 library reported an error at `path` inside the file.
    #[error("HDF5 error at '{path}': {message}")]
    Hdf5 {
        /// Object path inside the .h5 file.
        path: String,
        /// The library's message.
        message: String,
    },
}

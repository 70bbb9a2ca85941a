//! Legacy Keras `.h5` files (Keras 1.x, 2.x, tf-keras) → one `.h5` that tf-keras 2.21, Keras 3 and
//! tensorflowjs all load.
//!
//! [`legacy`] reads the file's `model_config` as written (Functional or Sequential, call
//! arguments of `TFOpLambda` layers included; nested models inlined, shared layers copied per
//! call) into a [`LegacyModel`]; [`rules`] rewrites each
//! layer into the intersection both loaders accept: keys a loader rejects are dropped or renamed,
//! dtype policies become plain strings, `TFOpLambda` layers with a recognised op become standard
//! layers, and so do `Lambda` layers whose Python body ([`pycode`] decodes CPython 3.11's
//! marshal format) is a chain of exact element-wise steps ([`lambda`]); anything without an
//! exact standard form (another body, an unknown op) is refused naming the layer. Weights
//! move over unchanged.
//!
//! This crate only rewrites; what the source model *means* is computed independently by
//! `tf2h5-verify`'s Keras source oracle, which the rewrite is checked against.
//!
//! Flow: `cli` (reads the file in a child) → `verify` → **upgrade** → `keras` (write).
#![warn(missing_docs)]

pub mod keras1;
pub mod lambda;
pub mod legacy;
pub mod pycode;
pub mod rules;

pub use legacy::{LegacyLayer, LegacyModel};
pub use rules::{upgrade, Upgraded};

/// Why a legacy file cannot be upgraded (exit code 2 in the CLI).
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The file's config is malformed.
    #[error("model_config: {0}")]
    Invalid(String),
    /// The model uses something no exact standard Keras form exists for (names the layer).
    #[error("{0}")]
    Unsupported(String),
    /// The rewritten model is not a valid Keras model.
    #[error(transparent)]
    Keras(#[from] tf2h5_keras::KerasError),
}

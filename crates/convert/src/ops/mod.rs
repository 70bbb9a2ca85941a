//! The op registry: exact TF op name → builder, one module per op family.

use std::collections::HashMap;

use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, Value};
use crate::ConvertError;

pub(crate) mod array;
mod image;
pub(crate) mod math;
pub(crate) mod nn;

/// Converts one node, given its already-converted inputs.
pub(crate) type Builder = fn(&mut Context, &NodeDef) -> Result<Value, ConvertError>;

pub(crate) type Registry = HashMap<&'static str, Builder>;

pub(crate) fn registry() -> Registry {
    let mut registry = Registry::new();
    array::register(&mut registry);
    image::register(&mut registry);
    math::register(&mut registry);
    nn::register(&mut registry);
    registry
}

//! The op registry: exact ONNX op name (default domain) → translation, one module per op
//! family, as tract-onnx's `ops/mod.rs` registers them. A translation reads the node's
//! inputs from the [`Translator`] and binds its output, emitting TF nodes as it goes.
//!
//! Adding an op: its function in the family's file, and one `insert` line in that file's
//! `register`.

use std::collections::HashMap;
use std::sync::LazyLock;

use tract_onnx::pb::NodeProto;

use crate::error::OpError;
use crate::translator::Translator;

mod array;
mod deconv;
mod fold;
mod lookup;
mod math;
mod nn;
mod pool;
pub(crate) mod recurrent;
mod reduce;
mod resize;
mod shape;

/// Translates one ONNX node, whose inputs are already bound.
pub(crate) type Translate = fn(&mut Translator, &NodeProto) -> Result<(), OpError>;

pub(crate) type Registry = HashMap<&'static str, Translate>;

/// Every translation, by op name.
pub(crate) static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut registry = Registry::new();
    array::register(&mut registry);
    lookup::register(&mut registry);
    math::register(&mut registry);
    nn::register(&mut registry);
    deconv::register(&mut registry);
    pool::register(&mut registry);
    recurrent::register(&mut registry);
    reduce::register(&mut registry);
    resize::register(&mut registry);
    shape::register(&mut registry);
    registry
});

/// Control-flow ops: refused before anything else in a graph (see [`control_flow`]).
const CONTROL_FLOW: &[&str] = &["If", "Loop", "Scan"];

/// Ops refused with a reason more useful than "not supported".
const REFUSED: &[(&str, &str)] = &[
    (
        "Upsample",
        "deprecated since opset 10 and not run by the tract-onnx oracle; export the model with Resize (opset 11 or \
         newer)",
    ),
    ("If", "control flow (branches chosen at run time) has no Keras layer"),
    ("Loop", "control flow (a loop over a subgraph) has no Keras layer"),
    ("Scan", "control flow (a loop over a subgraph) has no Keras layer"),
];

/// Why `node` is refused, when its op is one refused with a reason.
pub(crate) fn refusal(node: &NodeProto) -> Option<OpError> {
    let (op, reason) = REFUSED.iter().find(|(op, _)| *op == node.op_type)?;
    Some(crate::error::unsupported!("op '{op}' is not supported: {reason}"))
}

/// Why `node` is refused, when it is control flow.
pub(crate) fn control_flow(node: &NodeProto) -> Option<OpError> {
    CONTROL_FLOW.contains(&node.op_type.as_str()).then(|| refusal(node)).flatten()
}

/// The registered op names, sorted (`tf2h5 ops --onnx`).
pub(crate) static SUPPORTED_OPS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut ops: Vec<&'static str> = REGISTRY.keys().copied().collect();
    ops.sort_unstable();
    ops
});

//! Converting a TensorFlow graph into a Keras functional model.
//!
//! [`convert`] walks the nodes the outputs need, in dependency order, and maps each TF op to
//! Keras layers through a registry keyed by the exact op name (`ops/<family>/`). Constants
//! flow as values; tensors flow as Keras layer outputs with static shapes (batch unknown).
//! Patterns that Keras expresses as one layer are fused: `Conv2D`/`DepthwiseConv2dNative`/
//! `MatMul` absorb a following `BiasAdd` and activation when nothing else reads the
//! intermediate tensor, and multi-node subgraphs (swish, GELU, layer normalization, dilated
//! convolutions in space-to-batch form) are recognised before conversion (`patterns/`).
//! Arithmetic on constants is folded, shape arithmetic on the batch size is resolved
//! statically, and `tensor ⊙ constant` maps to exact layers (`Rescaling`, a 1×1
//! `DepthwiseConv2D`, `Normalization`). Every layer keeps the TF nodes it came from, so
//! verification can name the TF node of a diverging layer.
//! An op without a mapping is an error naming the node and op; [`unsupported_ops`] lists all
//! of them in one pass.
//!
//! Flow: `tf` → **convert** → `keras`.
//!
//! ```no_run
//! let graph = tf2h5_tf::load(std::path::Path::new("test-models/cnn/frozen.pb")).unwrap();
//! let conversion = tf2h5_convert::convert(&graph, &tf2h5_convert::Options::default()).unwrap();
//! println!("{} layers", conversion.model.layers.len());
//! ```
#![warn(missing_docs)]

mod context;
mod ops;
mod patterns;

use std::collections::HashSet;

use tf2h5_keras::KerasModel;
use tf2h5_tf::TfGraph;

pub use context::{Dim, Dims, KTensor, Value};

/// Errors of conversion; each names the TF node and op involved.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// No Keras mapping for this op.
    #[error("{file}: node '{node}': op '{op}' is not supported")]
    Unsupported {
        /// The model file.
        file: String,
        /// Node name.
        node: String,
        /// Op name.
        op: String,
    },
    /// The op is known but this use of it has no exact Keras equivalent.
    #[error("{file}: node '{node}' ({op}): {message}")]
    Unconvertible {
        /// The model file.
        file: String,
        /// Node name.
        node: String,
        /// Op name.
        op: String,
        /// Why.
        message: String,
    },
    /// The graph itself is malformed.
    #[error(transparent)]
    Graph(#[from] tf2h5_tf::TfError),
    /// The resulting Keras model is invalid.
    #[error(transparent)]
    Keras(#[from] tf2h5_keras::KerasError),
}

/// Conversion options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Output node names; empty = the graph's unconsumed nodes.
    pub outputs: Vec<String>,
    /// Model name written into the config (default `model`).
    pub model_name: Option<String>,
    /// Concrete shapes (batch entry included, ignored) for `Placeholder`s by name, in place of
    /// the graph's: the converter works on static shapes, so an input with unknown non-batch
    /// dimensions is converted at given sizes (verification picks them, see `tf2h5-verify`'s
    /// `dynamic` module). Each must agree with the dimensions the graph knows.
    pub input_shapes: Vec<(String, Vec<usize>)>,
}

/// A converted model and how it maps back to the TF graph.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The Keras model with weights.
    pub model: KerasModel,
    /// For each Keras input layer, the TF `Placeholder` it stands for.
    pub inputs: Vec<Endpoint>,
    /// For each Keras output, the TF node it reproduces.
    pub outputs: Vec<Endpoint>,
    /// For every layer, the TF nodes it was built from (the last one produces its output).
    pub layer_sources: Vec<(String, Vec<String>)>,
}

/// A model input or output: Keras layer name and TF node name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Keras layer output (an input's is its `InputLayer`).
    pub layer: tf2h5_keras::LayerOutput,
    /// TF node.
    pub tf_node: String,
    /// Full static shape, `None` for unknown (the batch).
    pub shape: Vec<Option<usize>>,
}

/// Converts `graph` to a Keras model.
pub fn convert(graph: &TfGraph, options: &Options) -> Result<Conversion, ConvertError> {
    let outputs = output_nodes(graph, options)?;
    let order = graph.nodes_needed_by(&outputs)?;
    let registry = ops::registry();
    let plan = patterns::find(graph, &order, &outputs);
    let mut ctx = context::Context::new(graph, &order, &outputs, options.input_shapes.clone());
    for name in &order {
        let node = graph.node(name).ok_or_else(|| missing(graph, name))?;
        // A match is built at its output node, or at an inner node other nodes read first.
        if let Some((output, found)) = plan.output(name) {
            let output = graph.node(output).ok_or_else(|| missing(graph, output))?;
            let value = patterns::build(&mut ctx, output, found)?;
            ctx.set_value(output, value);
            continue;
        }
        // Reads resolve through aliases (`Identity`, `IdentityN`, ...), so they need no value
        // (and may forward the inner node of a pattern, which has none).
        if plan.is_inner(name) || context::is_alias(&node.op) {
            continue;
        }
        let builder = registry.get(node.op.as_str()).ok_or_else(|| ConvertError::Unsupported {
            file: graph.source.display().to_string(),
            node: node.name.clone(),
            op: node.op.clone(),
        })?;
        let value = builder(&mut ctx, node)?;
        ctx.set_value(node, value);
    }
    ctx.finish(options.model_name.clone().unwrap_or_else(|| "model".into()), &outputs)
}

/// The ops among the nodes the outputs need that have no mapping, with the first node of each.
pub fn unsupported_ops(graph: &TfGraph, options: &Options) -> Result<Vec<(String, String)>, ConvertError> {
    let outputs = output_nodes(graph, options)?;
    let registry = ops::registry();
    let order = graph.nodes_needed_by(&outputs)?;
    let plan = patterns::find(graph, &order, &outputs);
    let mut seen = HashSet::new();
    let mut unsupported = Vec::new();
    for name in order {
        if plan.is_inner(&name) || plan.output(&name).is_some() {
            continue;
        }
        if let Some(node) = graph.node(&name) {
            if !registry.contains_key(node.op.as_str()) && seen.insert(node.op.clone()) {
                unsupported.push((node.op.clone(), node.name.clone()));
            }
        }
    }
    Ok(unsupported)
}

/// The op names the converter maps, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = ops::registry().keys().copied().collect();
    names.sort_unstable();
    names
}

/// The graph's input shape with its unknown non-batch dimensions set to `given`'s (`given`
/// includes the batch, which stays the graph's); an error saying how `given` contradicts the
/// graph's rank or known sizes.
pub fn specialised_shape(graph: &[Option<usize>], given: &[usize]) -> Result<Vec<Option<usize>>, String> {
    let contradiction = || {
        let show = |dims: Vec<String>| format!("({})", dims.join(", "));
        format!(
            "shape {} contradicts the graph's {}",
            show(given.iter().map(usize::to_string).collect()),
            show(graph.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect())
        )
    };
    if graph.len() != given.len() || given.iter().skip(1).any(|&d| d == 0) {
        return Err(contradiction());
    }
    let mut shape = graph.to_vec();
    for (dim, &size) in shape.iter_mut().zip(given).skip(1) {
        match dim {
            Some(known) if *known != size => return Err(contradiction()),
            _ => *dim = Some(size),
        }
    }
    Ok(shape)
}

fn missing(graph: &TfGraph, name: &str) -> ConvertError {
    ConvertError::Unconvertible {
        file: graph.source.display().to_string(),
        node: name.to_string(),
        op: "?".into(),
        message: "node not found".into(),
    }
}

fn output_nodes(graph: &TfGraph, options: &Options) -> Result<Vec<String>, ConvertError> {
    if options.outputs.is_empty() {
        let outputs: Vec<String> = graph.default_outputs().iter().map(|n| n.name.clone()).collect();
        if outputs.is_empty() {
            return Err(tf2h5_tf::TfError::Format {
                path: graph.source.clone(),
                message: "the graph has no outputs".into(),
            }
            .into());
        }
        return Ok(outputs);
    }
    // Unknown names are reported by `nodes_needed_by`.
    Ok(options.outputs.clone())
}

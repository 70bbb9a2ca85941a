//! Freezing a SavedModel signature into a flat GraphDef, in pure Rust.
//!
//! What `convert_variables_to_constants_v2` does, for inference graphs:
//!
//! 1. Read `saved_model.pb`, take the meta graph tagged `serve` (or the only one) and the
//!    chosen signature (default `serving_default`).
//! 2. Walk the main graph backwards from the signature's output tensors, processing only
//!    the nodes they need. The signature's input tensors become `Placeholder`s named after
//!    the input keys (dtype and shape from the signature's `TensorInfo`).
//! 3. Function calls (`StatefulPartitionedCall`, `PartitionedCall`, or a node whose op is a
//!    library function) are inlined recursively: inner nodes are renamed
//!    `<call node>/<inner node>`, `_Arg`s (the function's input args) are replaced by the
//!    caller's tensors, and `node:out_arg:k` references become flat output indices through
//!    the OpDefs ([`crate::opdefs`]).
//! 4. Variables: a TF2 `VarHandleOp` captured by a call is mapped to its checkpoint key
//!    through `object_graph_def.concrete_functions[f].bound_inputs` (the call's trailing
//!    inputs) and the checkpoint's `_CHECKPOINTABLE_OBJECT_GRAPH` (a TrackableObjectGraph
//!    whose node's `VARIABLE_VALUE` attribute holds the key). A TF1 `VariableV2` (or an
//!    uncaptured `VarHandleOp`) is keyed by its node name. `ReadVariableOp` of a variable,
//!    and any read of a TF1 ref variable, becomes one `Const` per variable whose value is
//!    read from the checkpoint, once, after pruning.
//! 5. `Identity`, `IdentityN` and `Snapshot` collapse into their inputs, `NoOp`s and control
//!    inputs vanish, `_`-prefixed attributes and devices are dropped, and attribute defaults
//!    that TF stripped are restored.
//! 6. One `Identity` per signature output, named after the output key, ends the graph;
//!    everything the outputs do not need is pruned. Inputs and outputs are in key order
//!    (signature maps are unordered; TF's structured signatures flatten dicts by sorted key).
//!
//! The same inliner serves frozen GraphDefs that still call functions (TF's freezer does not
//! inline XLA-compiled ones): there every main-graph node but the calls is kept as it is,
//! under its name, and only the calls are replaced by their inlined bodies.
//!
//! Refused with a one-line error naming `saved_model.pb` and the node: control flow
//! (`If`, `While`, `Case`, TF1 `Switch`/`Merge`/...; a loop's message says it is one and
//! names the node calling its function, a Keras layer's call), variable writes (`Assign*`,
//! `ResourceApply*`, scatters), lookup tables, variables created inside functions, and
//! anything else that reads a resource variable. Every function reachable from the
//! inlined calls is scanned for writes and control flow, even where no output depends on
//! it, because TF runs stateful ops of a function regardless of data dependencies.
//!
//! Layout: this file reads `saved_model.pb` and its signatures and drives the freezing;
//! `proto.rs` holds the messages tract's set lacks, `refs.rs` parses node inputs, `policy.rs`
//! says which ops are inlined or refused, `freezer.rs` walks and inlines the graph,
//! `variables.rs` turns variable reads into checkpoint constants, and `frozen_graph.rs`
//! inlines the calls a frozen GraphDef kept.

mod freezer;
mod frozen_graph;
mod loops;
mod policy;
mod proto;
mod refs;
#[cfg(test)]
mod tests;
mod variables;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::pb::{self, DataType, TensorShapeProto};
use crate::{LoadOptions, TfError, TfGraph};
use freezer::Freezer;
pub(crate) use frozen_graph::inline_calls;

/// The signature used when none is requested.
pub const DEFAULT_SIGNATURE: &str = "serving_default";

/// A SavedModel signature: named inputs and outputs of one servable function.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureInfo {
    /// The signature key (`serving_default`).
    pub name: String,
    /// `tensorflow/serving/predict` and the like.
    pub method_name: String,
    /// Inputs, sorted by key.
    pub inputs: Vec<SignatureTensor>,
    /// Outputs, sorted by key.
    pub outputs: Vec<SignatureTensor>,
}

/// One input or output of a signature.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureTensor {
    /// The key (`x`, `output_0`): the node name in the frozen graph.
    pub key: String,
    /// The tensor in the SavedModel's graph (`serving_default_x:0`).
    pub tensor: String,
    /// Element type.
    pub dtype: DataType,
    /// Shape, `None` per unknown dimension; `None` if the rank is unknown.
    pub shape: Option<Vec<Option<usize>>>,
}

/// `saved_model.pb` decoded, with its path for messages.
struct SavedModelFile {
    dir: PathBuf,
    pb_path: PathBuf,
    model: proto::SavedModel,
}

fn read_saved_model(dir: &Path) -> Result<SavedModelFile, TfError> {
    let pb_path = dir.join("saved_model.pb");
    if !pb_path.exists() && dir.join("saved_model.pbtxt").exists() {
        return Err(TfError::Format {
            path: dir.join("saved_model.pbtxt"),
            message: "text-format SavedModels are not supported; save it in binary form (saved_model.pb)".into(),
        });
    }
    let bytes = std::fs::read(&pb_path).map_err(|e| TfError::Io { path: pb_path.clone(), message: e.to_string() })?;
    let format_error = |message: String| TfError::Format { path: pb_path.clone(), message };
    if bytes.is_empty() {
        return Err(format_error("the file is empty".into()));
    }
    let model = proto::SavedModel::decode(bytes.as_slice())
        .map_err(|e| format_error(format!("not a SavedModel (truncated or corrupt protobuf: {e})")))?;
    if model.meta_graphs.is_empty() {
        return Err(format_error("the SavedModel has no meta graph (truncated or not a SavedModel)".into()));
    }
    Ok(SavedModelFile { dir: dir.to_path_buf(), pb_path, model })
}

impl SavedModelFile {
    pub(super) fn error(&self, message: impl Into<String>) -> TfError {
        TfError::Format { path: self.pb_path.clone(), message: message.into() }
    }

    /// The meta graph tagged `serve`, else the only one.
    fn meta_graph(&self) -> Result<&proto::MetaGraphDef, TfError> {
        let tags = |m: &proto::MetaGraphDef| m.meta_info_def.as_ref().map(|i| i.tags.clone()).unwrap_or_default();
        if let Some(meta) = self.model.meta_graphs.iter().find(|m| tags(m).iter().any(|t| t == "serve")) {
            return Ok(meta);
        }
        match self.model.meta_graphs.as_slice() {
            [only] => Ok(only),
            many => Err(self.error(format!(
                "{} meta graphs and none is tagged 'serve' (tags: {:?})",
                many.len(),
                many.iter().map(tags).collect::<Vec<_>>()
            ))),
        }
    }

    fn signatures(&self) -> Result<Vec<SignatureInfo>, TfError> {
        let meta = self.meta_graph()?;
        let mut names: Vec<&String> = meta.signature_def.keys().filter(|k| !k.starts_with("__")).collect();
        names.sort();
        names.into_iter().map(|name| self.signature(meta, name)).collect()
    }

    fn signature(&self, meta: &proto::MetaGraphDef, name: &str) -> Result<SignatureInfo, TfError> {
        let Some(def) = meta.signature_def.get(name) else {
            let mut available: Vec<&String> = meta.signature_def.keys().filter(|k| !k.starts_with("__")).collect();
            available.sort();
            return Err(self.error(format!(
                "no signature '{name}' (available: {})",
                available.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        let tensors = |map: &HashMap<String, pb::TensorInfo>, what: &str| -> Result<Vec<SignatureTensor>, TfError> {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter()
                .map(|key| {
                    let info = &map[key];
                    let tensor = match &info.encoding {
                        Some(pb::tensor_info::Encoding::Name(n)) => n.clone(),
                        _ => {
                            return Err(self.error(format!(
                            "signature '{name}' {what} '{key}' is a sparse or composite tensor, which is not supported"
                        )))
                        }
                    };
                    Ok(SignatureTensor {
                        key: key.clone(),
                        tensor,
                        dtype: DataType::try_from(info.dtype).unwrap_or(DataType::DtInvalid),
                        shape: info
                            .tensor_shape
                            .as_ref()
                            .filter(|s| !s.unknown_rank)
                            .map(|s| s.dim.iter().map(|d| usize::try_from(d.size).ok()).collect()),
                    })
                })
                .collect()
        };
        Ok(SignatureInfo {
            name: name.to_string(),
            method_name: def.method_name.clone(),
            inputs: tensors(&def.inputs, "input")?,
            outputs: tensors(&def.outputs, "output")?,
        })
    }
}

/// The signatures of the SavedModel in `dir`, sorted by name (internal ones such as
/// `__saved_model_init_op` left out).
pub fn signatures(dir: &Path) -> Result<Vec<SignatureInfo>, TfError> {
    read_saved_model(dir)?.signatures()
}

/// Freezes one signature of the SavedModel in `dir` into a [`TfGraph`].
pub fn load(dir: &Path, options: &LoadOptions) -> Result<TfGraph, TfError> {
    let file = read_saved_model(dir)?;
    let meta = file.meta_graph()?;
    let signature = file.signature(meta, options.signature.as_deref().unwrap_or(DEFAULT_SIGNATURE))?;
    if signature.outputs.is_empty() {
        return Err(file.error(format!("signature '{}' has no outputs", signature.name)));
    }
    for input in &signature.inputs {
        if signature.outputs.iter().any(|o| o.key == input.key) {
            return Err(file.error(format!(
                "signature '{}' uses '{}' as both an input and an output key",
                signature.name, input.key
            )));
        }
    }
    let empty_graph = proto::GraphDef::default();
    let graph = meta.graph_def.as_ref().unwrap_or(&empty_graph);
    let no_ops = Vec::new();
    let ops = meta.meta_info_def.as_ref().and_then(|i| i.stripped_op_list.as_ref()).map(|l| &l.op).unwrap_or(&no_ops);
    let variables = file.dir.join("variables").join("variables");
    let mut freezer = Freezer::new(
        &file.pb_path,
        Some(variables),
        &graph.node,
        graph.library.as_ref(),
        ops,
        meta.object_graph_def.as_ref(),
    );
    let nodes = freezer.freeze(&signature)?;
    let library = (!freezer.frozen_functions.is_empty()).then(|| pb::FunctionDefLibrary {
        function: std::mem::take(&mut freezer.frozen_functions),
        ..Default::default()
    });
    let frozen = pb::GraphDef { node: nodes, versions: graph.versions.clone(), library, ..Default::default() };
    let mut graph = TfGraph::new(file.dir.clone(), frozen)?;
    graph.signature = Some(signature);
    Ok(graph)
}

pub(super) fn shape_proto(shape: Option<&[Option<usize>]>) -> TensorShapeProto {
    match shape {
        None => TensorShapeProto { dim: vec![], unknown_rank: true },
        Some(dims) => TensorShapeProto {
            dim: dims
                .iter()
                .map(|d| pb::tensor_shape_proto::Dim { size: d.map(|d| d as i64).unwrap_or(-1), name: String::new() })
                .collect(),
            unknown_rank: false,
        },
    }
}

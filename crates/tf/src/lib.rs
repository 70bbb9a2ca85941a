//! Loading TensorFlow models into a [`TfGraph`], in pure Rust (no TensorFlow runtime).
//!
//! Two kinds of input, one result: a frozen `GraphDef` (weights as `Const` nodes, no
//! functions) that the converter and the tract oracle consume.
//! - A frozen GraphDef `.pb` is decoded with the protobuf types tract ships
//!   (`tract_tensorflow::tfpb`). Function calls that TF's freezer left in it (XLA-compiled
//!   functions) are inlined by the SavedModel inliner ([`saved_model`]).
//! - A SavedModel directory (TF2 `tf.saved_model.save`, tf-keras `model.save`, Keras 3
//!   `model.export`, TF1 `simple_save`) is frozen here: one signature's functions are
//!   inlined and its variables become constants read from the checkpoint
//!   ([`saved_model`] explains the steps, [`Checkpoint`] reads `variables.index` and the
//!   data shards with every tensor's CRC32C checked). The placeholders are named after the
//!   signature's input keys and the outputs are `Identity` nodes named after its output keys,
//!   both in key order ([`TfGraph::signature`]).
//!
//! The graph is checked once here (unique node names, inputs that exist, sane constants),
//! so the converter and the oracle can rely on it. [`NodeExt`] reads attributes with errors
//! that name the node, its op and the attribute; [`ConstTensor`] decodes `Const` values with
//! allocation bounded by the bytes actually present. Errors name the file and, where one is
//! to blame, the node; no input makes the loader panic.
//!
//! Flow: **tf** (load) → `convert` (to Keras layers) and `verify` (tract oracle).
//!
//! ```no_run
//! let graph = tf2h5_tf::load(std::path::Path::new("test-models/cnn/frozen.pb")).unwrap();
//! println!("{} nodes, inputs {:?}", graph.nodes().len(), graph.placeholders());
//! let options = tf2h5_tf::LoadOptions { signature: Some("serving_default".into()) };
//! let graph = tf2h5_tf::load_with(std::path::Path::new("test-models/sm_tf_module_cnn"), &options).unwrap();
//! println!("inputs {:?} -> outputs {:?}", graph.input_names(), graph.output_names());
//! for signature in tf2h5_tf::signatures(std::path::Path::new("test-models/sm_keras3_export")).unwrap() {
//!     println!("{}: {} inputs", signature.name, signature.inputs.len());
//! }
//! ```
#![warn(missing_docs)]

mod attrs;
pub mod checkpoint;
pub mod crc32c;
mod dims;
mod frames;
pub mod ids;
mod loops;
mod opdefs;
pub mod saved_model;
mod sstable;
mod tensor;
mod translation;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use attrs::NodeExt;
pub use checkpoint::{Checkpoint, CheckpointEntry};
pub use dims::{Dim, Dims};
pub use loops::{loop_function, loop_scope, LoopFunction};
pub use saved_model::{SignatureInfo, SignatureTensor, DEFAULT_SIGNATURE};
pub use tensor::{dtype_name, ConstTensor};
/// TensorFlow protobuf messages (GraphDef, NodeDef, TensorProto, ...).
pub use tract_tensorflow::tfpb::tensorflow as pb;
pub use translation::{FixedDim, SourceTensor, Translation};

use prost::Message;

/// Errors of loading a TensorFlow model or reading its nodes.
#[derive(Debug, thiserror::Error)]
pub enum TfError {
    /// The file or directory cannot be read.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The file is not a usable model (empty, truncated, not a GraphDef, ...).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A node is malformed.
    #[error("node '{node}' ({op}): {message}")]
    Node {
        /// Node name.
        node: String,
        /// Its op.
        op: String,
        /// What is wrong.
        message: String,
    },
    /// A node lacks an attribute or has one of the wrong kind.
    #[error("node '{node}' ({op}): attribute '{attr}' {message}")]
    Attr {
        /// Node name.
        node: String,
        /// Its op.
        op: String,
        /// Attribute name.
        attr: String,
        /// What is wrong.
        message: String,
    },
}

/// A reference to one output of a node: `name` or `name:k`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorRef {
    /// The producing node.
    pub node: String,
    /// Its output index.
    pub output: usize,
}

impl TensorRef {
    /// Parses a NodeDef input string; `None` for control inputs (`^name`).
    pub fn parse(input: &str) -> Option<TensorRef> {
        if input.starts_with('^') {
            return None;
        }
        match input.rsplit_once(':') {
            Some((node, k)) if k.chars().all(|c| c.is_ascii_digit()) && !k.is_empty() => {
                Some(TensorRef { node: node.to_string(), output: k.parse().unwrap_or(usize::MAX) })
            }
            _ => Some(TensorRef { node: input.to_string(), output: 0 }),
        }
    }
}

impl std::fmt::Display for TensorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.output == 0 {
            write!(f, "{}", self.node)
        } else {
            write!(f, "{}:{}", self.node, self.output)
        }
    }
}

/// A checked TensorFlow graph and the file it came from.
#[derive(Debug, Clone)]
pub struct TfGraph {
    /// The model file (the `.pb`).
    pub source: PathBuf,
    /// The decoded graph, as tract consumes it.
    pub graph: pb::GraphDef,
    /// The SavedModel signature the graph was frozen from (`None` for a frozen `.pb`).
    /// Its input keys name the `Placeholder`s, its output keys the output `Identity` nodes.
    pub signature: Option<SignatureInfo>,
    /// Set when the graph was translated from another format (ONNX).
    pub translation: Option<Translation>,
    index: HashMap<String, usize>,
}

impl TfGraph {
    /// Builds and checks a graph: node names unique, every data input defined.
    pub fn new(source: PathBuf, graph: pb::GraphDef) -> Result<Self, TfError> {
        let format_error = |message: String| TfError::Format { path: source.clone(), message };
        if graph.node.is_empty() {
            return Err(format_error("the graph has no nodes (empty or not a GraphDef)".into()));
        }
        let mut index = HashMap::with_capacity(graph.node.len());
        for (i, node) in graph.node.iter().enumerate() {
            if node.name.is_empty() || node.op.is_empty() {
                return Err(format_error(format!("node #{i} has no name or no op: not a valid GraphDef")));
            }
            if index.insert(node.name.clone(), i).is_some() {
                return Err(format_error(format!("duplicate node name '{}'", node.name)));
            }
        }
        let graph = TfGraph { source, graph, signature: None, translation: None, index };
        for node in graph.nodes() {
            // tract's attribute readers unwrap these; TF itself rejects them.
            let mut attrs: Vec<_> = node.attr.iter().collect();
            attrs.sort_by(|a, b| a.0.cmp(b.0));
            for (attr, value) in attrs {
                let unknown = |t: &i32| pb::DataType::try_from(*t).is_err();
                let problem = match &value.value {
                    None => Some("has no value"),
                    Some(pb::attr_value::Value::Type(t)) if unknown(t) => Some("names an unknown data type"),
                    Some(pb::attr_value::Value::List(list)) if list.r#type.iter().any(unknown) => {
                        Some("lists an unknown data type")
                    }
                    _ => None,
                };
                if let Some(message) = problem {
                    return Err(node.attr_error(attr, message));
                }
            }
            for input in graph.data_inputs(node) {
                if !graph.index.contains_key(&input.node) {
                    return Err(TfError::Node {
                        node: node.name.clone(),
                        op: node.op.clone(),
                        message: format!("input '{input}' names no node of the graph"),
                    });
                }
            }
        }
        Ok(graph)
    }

    /// All nodes, in file order.
    pub fn nodes(&self) -> &[pb::NodeDef] {
        &self.graph.node
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&pb::NodeDef> {
        self.index.get(name).map(|&i| &self.graph.node[i])
    }

    /// The data (non-control) inputs of `node`.
    pub fn data_inputs<'a>(&self, node: &'a pb::NodeDef) -> impl Iterator<Item = TensorRef> + 'a {
        node.input.iter().filter_map(|i| TensorRef::parse(i))
    }

    /// `Placeholder` nodes: the graph's inputs, in file order.
    pub fn placeholders(&self) -> Vec<&pb::NodeDef> {
        self.nodes().iter().filter(|n| n.op == "Placeholder").collect()
    }

    /// The graph's outputs: the signature's output nodes (key order) for a frozen
    /// SavedModel, else the nodes whose outputs nothing reads. Control-dependency sinks are
    /// never outputs: nodes another node reads through a control edge (`^name`: the
    /// `Assert`s and their guards that `tf.debugging` checks inside layers freeze to) and ops
    /// without data outputs ([`is_side_effect_sink`]); nor are `Const` and `Placeholder`.
    pub fn default_outputs(&self) -> Vec<&pb::NodeDef> {
        if let Some(signature) = &self.signature {
            return signature.outputs.iter().filter_map(|o| self.node(&o.key)).collect();
        }
        // Data and control edges alike: `^name` and `name:k` both name a node that is read.
        let read: std::collections::HashSet<String> = self
            .nodes()
            .iter()
            .flat_map(|n| n.input.iter())
            .filter_map(|input| TensorRef::parse(input.trim_start_matches('^')).map(|r| r.node))
            .collect();
        self.nodes()
            .iter()
            .filter(|n| {
                !read.contains(&n.name)
                    && !is_side_effect_sink(&n.op)
                    && !matches!(n.op.as_str(), "Const" | "Placeholder")
            })
            .collect()
    }

    /// Names of the input placeholders: the signature's input keys in key order, else the
    /// `Placeholder` nodes in file order.
    pub fn input_names(&self) -> Vec<String> {
        match &self.signature {
            Some(signature) => signature.inputs.iter().map(|i| i.key.clone()).collect(),
            None => self.placeholders().iter().map(|n| n.name.clone()).collect(),
        }
    }

    /// Names of the output nodes: the signature's output keys in key order, else
    /// [`default_outputs`](Self::default_outputs).
    pub fn output_names(&self) -> Vec<String> {
        self.default_outputs().iter().map(|n| n.name.clone()).collect()
    }

    /// The value of a `Const` node.
    pub fn const_value(&self, name: &str) -> Result<Option<ConstTensor>, TfError> {
        match self.node(name) {
            Some(node) if node.op == "Const" => ConstTensor::from_node(node).map(Some),
            _ => Ok(None),
        }
    }

    /// Names of the nodes `outputs` depend on through data edges, each after its inputs
    /// (control dependencies are ignored). Refuses cycles, naming a node on the cycle.
    pub fn nodes_needed_by(&self, outputs: &[String]) -> Result<Vec<String>, TfError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            InProgress,
            Done,
        }
        let mut marks: HashMap<&str, Mark> = HashMap::new();
        let mut order = Vec::new();
        for output in outputs {
            let root = self.node(output).ok_or_else(|| TfError::Format {
                path: self.source.clone(),
                message: format!("output node '{output}' is not in the graph"),
            })?;
            let mut stack: Vec<(&pb::NodeDef, bool)> = vec![(root, false)];
            while let Some((node, expanded)) = stack.pop() {
                if expanded {
                    marks.insert(&node.name, Mark::Done);
                    order.push(node.name.clone());
                    continue;
                }
                if marks.get(node.name.as_str()) == Some(&Mark::Done) {
                    continue;
                }
                marks.insert(&node.name, Mark::InProgress);
                stack.push((node, true));
                for input in node.input.iter().rev().filter_map(|i| TensorRef::parse(i)) {
                    // `new` checked that every input names a node.
                    let Some(producer) = self.node(&input.node) else { continue };
                    match marks.get(producer.name.as_str()) {
                        Some(Mark::Done) => {}
                        Some(Mark::InProgress) => {
                            return Err(TfError::Node {
                                node: node.name.clone(),
                                op: node.op.clone(),
                                message: format!("the graph has a cycle through input '{input}'"),
                            })
                        }
                        None => stack.push((producer, false)),
                    }
                }
            }
        }
        Ok(order)
    }

    /// A GraphDef holding only the nodes `outputs` need, without control inputs: what the
    /// tract oracle runs.
    pub fn pruned(&self, outputs: &[String]) -> Result<pb::GraphDef, TfError> {
        let nodes = self.nodes_needed_by(outputs)?.iter().filter_map(|name| self.node(name)).cloned().collect();
        Ok(Self::data_only(nodes, self.graph.versions.clone(), self.graph.library.clone()))
    }

    /// [`pruned`](Self::pruned) without copying: consumes the graph and moves the needed
    /// nodes (and the weights they hold) into the result.
    pub fn into_pruned(self, outputs: &[String]) -> Result<pb::GraphDef, TfError> {
        let order = self.nodes_needed_by(outputs)?;
        let mut slots: Vec<Option<pb::NodeDef>> = self.graph.node.into_iter().map(Some).collect();
        let nodes = order.iter().filter_map(|name| self.index.get(name).and_then(|&i| slots[i].take())).collect();
        Ok(Self::data_only(nodes, self.graph.versions, self.graph.library))
    }

    /// A graph of `nodes` (in order) without their control inputs.
    fn data_only(
        mut nodes: Vec<pb::NodeDef>,
        versions: Option<pb::VersionDef>,
        library: Option<pb::FunctionDefLibrary>,
    ) -> pb::GraphDef {
        for node in &mut nodes {
            node.input.retain(|i| !i.starts_with('^'));
        }
        pb::GraphDef { node: nodes, versions, library, ..Default::default() }
    }

    /// Histogram of op types, most frequent first.
    pub fn op_histogram(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for node in self.nodes() {
            *counts.entry(node.op.as_str()).or_default() += 1;
        }
        let mut histogram: Vec<(String, usize)> = counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        histogram.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        histogram
    }
}

/// Ops that exist for their effects and produce no tensor a model could return: `NoOp`
/// (control-dependency groups), `Assert` and `PrintV2` (`tf.debugging` checks, `tf.print`),
/// and variable or summary writes.
pub fn is_side_effect_sink(op: &str) -> bool {
    matches!(
        op,
        "NoOp"
            | "Assert"
            | "PrintV2"
            | "AssignVariableOp"
            | "AssignAddVariableOp"
            | "AssignSubVariableOp"
            | "SaveV2"
            | "MergeV2Checkpoints"
            | "WriteScalarSummary"
            | "WriteHistogramSummary"
            | "WriteImageSummary"
            | "WriteSummary"
            | "FlushSummaryWriter"
    )
}

/// How to load a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The SavedModel signature to freeze; `None` = [`DEFAULT_SIGNATURE`] (`serving_default`).
    /// A frozen `.pb` has no signatures, so naming one there is an error.
    pub signature: Option<String>,
}

/// `base`, or `base_1`, `base_2`, ... : the first name not yet in `used`, which it joins.
/// Node and layer names must be unique; every place that invents names uses this.
pub fn unique_name(used: &mut std::collections::HashSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut suffix = 1;
    while !used.insert(name.clone()) {
        name = format!("{base}_{suffix}");
        suffix += 1;
    }
    name
}

/// Loads a model with default options; see [`load_with`].
pub fn load(path: &Path) -> Result<TfGraph, TfError> {
    load_with(path, &LoadOptions::default())
}

/// What a path given by the user holds.
enum ModelPath {
    Frozen(PathBuf),
    SavedModel(PathBuf),
}

/// Finds the model at `path`: a `.pb` file; a SavedModel directory (or its `saved_model.pb`);
/// or a directory holding exactly one of those (a `.pb` file or a SavedModel subdirectory),
/// as the fixture directories under `test-models/` do.
fn locate(path: &Path) -> Result<ModelPath, TfError> {
    let io_error = |message: String| TfError::Io { path: path.to_path_buf(), message };
    let metadata = std::fs::metadata(path).map_err(|e| io_error(e.to_string()))?;
    let is_saved_model = |dir: &Path| dir.join("saved_model.pb").is_file() || dir.join("saved_model.pbtxt").is_file();
    if !metadata.is_dir() {
        if path.file_name().is_some_and(|n| n == "saved_model.pb") {
            if let Some(dir) = path.parent() {
                return Ok(ModelPath::SavedModel(if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir.to_path_buf()
                }));
            }
        }
        return Ok(ModelPath::Frozen(path.to_path_buf()));
    }
    if is_saved_model(path) {
        return Ok(ModelPath::SavedModel(path.to_path_buf()));
    }
    let entries = std::fs::read_dir(path).map_err(|e| io_error(e.to_string()))?;
    let mut candidates: Vec<ModelPath> = Vec::new();
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() && is_saved_model(&p) {
            candidates.push(ModelPath::SavedModel(p));
        } else if p.is_file() && p.extension().is_some_and(|x| x == "pb") {
            candidates.push(ModelPath::Frozen(p));
        }
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => Err(io_error("the directory holds no .pb model and no SavedModel".into())),
        n => Err(io_error(format!("the directory holds {n} models (.pb files or SavedModel directories); name one"))),
    }
}

/// Loads a model: a frozen GraphDef `.pb`, a SavedModel directory (frozen here, see
/// [`saved_model`]), or a directory holding exactly one of those.
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<TfGraph, TfError> {
    match locate(path)? {
        ModelPath::SavedModel(dir) => saved_model::load(&dir, options),
        ModelPath::Frozen(file) => {
            if let Some(signature) = &options.signature {
                return Err(TfError::Format {
                    path: file,
                    message: format!("a frozen GraphDef has no signatures (asked for '{signature}'); signatures exist in SavedModels only"),
                });
            }
            load_frozen(&file)
        }
    }
}

/// The signatures of the SavedModel at `path` (located as by [`load_with`]), sorted by
/// name; empty for a frozen GraphDef.
pub fn signatures(path: &Path) -> Result<Vec<SignatureInfo>, TfError> {
    match locate(path)? {
        ModelPath::SavedModel(dir) => saved_model::signatures(&dir),
        ModelPath::Frozen(_) => Ok(Vec::new()),
    }
}

fn load_frozen(path: &Path) -> Result<TfGraph, TfError> {
    let io_error = |message: String| TfError::Io { path: path.to_path_buf(), message };
    let bytes = std::fs::read(path).map_err(|e| io_error(e.to_string()))?;
    if bytes.is_empty() {
        return Err(TfError::Format { path: path.to_path_buf(), message: "the file is empty".into() });
    }
    let graph = pb::GraphDef::decode(bytes.as_slice()).map_err(|e| TfError::Format {
        path: path.to_path_buf(),
        message: format!("not a TensorFlow GraphDef (truncated or corrupt protobuf: {e})"),
    })?;
    let graph = match frames::raise_frames(graph.clone()) {
        Ok(raised) => raised,
        Err(_) => {
            loops::refuse_frames(path, &graph)?;
            graph
        }
    };
    TfGraph::new(path.to_path_buf(), saved_model::inline_calls(path, graph)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tensor_refs() {
        assert_eq!(TensorRef::parse("a/b:2"), Some(TensorRef { node: "a/b".into(), output: 2 }));
        assert_eq!(TensorRef::parse("a/b"), Some(TensorRef { node: "a/b".into(), output: 0 }));
        assert_eq!(TensorRef::parse("^NoOp"), None);
    }

    /// A node without attributes (also for other modules' tests).
    pub(crate) fn node(name: &str, op: &str, inputs: &[&str]) -> pb::NodeDef {
        pb::NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn rejects_dangling_inputs_and_duplicates() {
        let graph =
            pb::GraphDef { node: vec![node("x", "Placeholder", &[]), node("y", "Relu", &["z"])], ..Default::default() };
        let err = TfGraph::new("m.pb".into(), graph).unwrap_err().to_string();
        assert!(err.contains("'y' (Relu)") && err.contains("'z'"), "{err}");
        let graph =
            pb::GraphDef { node: vec![node("x", "Placeholder", &[]), node("x", "Relu", &["x"])], ..Default::default() };
        assert!(TfGraph::new("m.pb".into(), graph).unwrap_err().to_string().contains("duplicate"));
    }

    #[test]
    fn refuses_cycles_and_prunes() {
        let graph = pb::GraphDef {
            node: vec![node("x", "Placeholder", &[]), node("a", "Relu", &["b"]), node("b", "Relu", &["a"])],
            ..Default::default()
        };
        let graph = TfGraph::new("m.pb".into(), graph).unwrap();
        assert!(graph.nodes_needed_by(&["b".into()]).unwrap_err().to_string().contains("cycle"));
        let graph = pb::GraphDef {
            node: vec![
                node("x", "Placeholder", &[]),
                node("unused", "Relu", &["x"]),
                node("y", "Relu", &["x", "^unused"]),
            ],
            ..Default::default()
        };
        let graph = TfGraph::new("m.pb".into(), graph).unwrap();
        let pruned = graph.pruned(&["y".into()]).unwrap();
        let names: Vec<&str> = pruned.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(pruned.node[1].input, ["x"]);
    }

    #[test]
    fn outputs_are_unconsumed_nodes() {
        let graph = pb::GraphDef {
            node: vec![node("x", "Placeholder", &[]), node("y", "Relu", &["x", "^NoOp"]), node("NoOp", "NoOp", &[])],
            ..Default::default()
        };
        let graph = TfGraph::new("m.pb".into(), graph).unwrap();
        let outputs: Vec<&str> = graph.default_outputs().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(outputs, ["y"]);
    }

    /// `tf.debugging.assert_*` inside a layer: the `Assert` (and the `Equal` it reads) hang
    /// off the output through a control edge, an unreferenced `Assert` still has no output.
    #[test]
    fn control_dependency_sinks_are_not_outputs() {
        let graph = pb::GraphDef {
            node: vec![
                node("x", "Placeholder", &[]),
                node("check", "Equal", &["x", "x"]),
                node("assert", "Assert", &["check"]),
                node("guard", "Merge", &["x", "x", "^assert"]),
                node("stray_assert", "Assert", &["check"]),
                node("y", "Relu", &["x", "^guard"]),
            ],
            ..Default::default()
        };
        let graph = TfGraph::new("m.pb".into(), graph).unwrap();
        let outputs: Vec<&str> = graph.default_outputs().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(outputs, ["y"]);
        assert_eq!(graph.nodes_needed_by(&["y".into()]).unwrap(), ["x", "y"]);
    }
}

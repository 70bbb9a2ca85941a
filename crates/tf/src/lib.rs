//! Loading TensorFlow models into a [`TfGraph`], in pure Rust (no TensorFlow runtime).
//!
//! A frozen GraphDef `.pb` (weights as `Const` nodes), or a directory holding exactly one,
//! is decoded with the protobuf types tract ships (`tract_tensorflow::tfpb`). The graph is
//! checked once here (unique node names, inputs that exist, sane constants), so the
//! converter and the oracle can rely on it. [`NodeExt`] reads attributes with errors that
//! name the node, its op and the attribute; [`ConstTensor`] decodes `Const` values with
//! allocation bounded by the bytes actually present.
//!
//! Flow: **tf** (load) → `convert` (to Keras layers) and `verify` (tract oracle).
//!
//! ```no_run
//! let graph = tf2h5_tf::load(std::path::Path::new("test-models/cnn/frozen.pb")).unwrap();
//! println!("{} nodes, inputs {:?}", graph.nodes().len(), graph.placeholders());
//! ```
#![warn(missing_docs)]

mod attrs;
mod tensor;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use attrs::NodeExt;
pub use tensor::ConstTensor;
/// TensorFlow protobuf messages (GraphDef, NodeDef, TensorProto, ...).
pub use tract_tensorflow::tfpb::tensorflow as pb;

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
        let graph = TfGraph { source, graph, index };
        for node in graph.nodes() {
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

    /// Nodes whose outputs nothing reads (ignoring `NoOp` and `Const`): the graph's outputs.
    pub fn default_outputs(&self) -> Vec<&pb::NodeDef> {
        let consumed: std::collections::HashSet<String> =
            self.nodes().iter().flat_map(|n| self.data_inputs(n).map(|r| r.node)).collect();
        self.nodes()
            .iter()
            .filter(|n| !consumed.contains(&n.name) && !matches!(n.op.as_str(), "NoOp" | "Const" | "Placeholder"))
            .collect()
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
        let nodes = self
            .nodes_needed_by(outputs)?
            .iter()
            .filter_map(|name| self.node(name))
            .map(|node| {
                let mut node = node.clone();
                node.input.retain(|i| !i.starts_with('^'));
                node
            })
            .collect();
        Ok(pb::GraphDef { node: nodes, versions: self.graph.versions.clone(), ..Default::default() })
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

/// Loads a model: a frozen GraphDef `.pb`, or a directory holding exactly one.
pub fn load(path: &Path) -> Result<TfGraph, TfError> {
    let io_error = |message: String| TfError::Io { path: path.to_path_buf(), message };
    let metadata = std::fs::metadata(path).map_err(|e| io_error(e.to_string()))?;
    if metadata.is_dir() {
        if path.join("saved_model.pb").exists() || path.join("saved_model.pbtxt").exists() {
            return Err(TfError::Format {
                path: path.to_path_buf(),
                message: "SavedModel directories are not supported yet; freeze the model to a GraphDef .pb \
                          (convert_variables_to_constants_v2) and pass that file"
                    .into(),
            });
        }
        let entries = std::fs::read_dir(path).map_err(|e| io_error(e.to_string()))?;
        let mut graphs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pb"))
            .collect();
        graphs.sort();
        return match graphs.as_slice() {
            [one] => load(one),
            [] => Err(io_error("the directory holds no .pb model".into())),
            many => Err(io_error(format!("the directory holds {} .pb files; name one", many.len()))),
        };
    }
    let bytes = std::fs::read(path).map_err(|e| io_error(e.to_string()))?;
    if bytes.is_empty() {
        return Err(TfError::Format { path: path.to_path_buf(), message: "the file is empty".into() });
    }
    let graph = pb::GraphDef::decode(bytes.as_slice()).map_err(|e| TfError::Format {
        path: path.to_path_buf(),
        message: format!("not a TensorFlow GraphDef (truncated or corrupt protobuf: {e})"),
    })?;
    TfGraph::new(path.to_path_buf(), graph)
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

    fn node(name: &str, op: &str, inputs: &[&str]) -> pb::NodeDef {
        pb::NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn rejects_dangling_inputs_and_duplicates() {
        let graph = pb::GraphDef { node: vec![node("x", "Placeholder", &[]), node("y", "Relu", &["z"])], ..Default::default() };
        let err = TfGraph::new("m.pb".into(), graph).unwrap_err().to_string();
        assert!(err.contains("'y' (Relu)") && err.contains("'z'"), "{err}");
        let graph = pb::GraphDef { node: vec![node("x", "Placeholder", &[]), node("x", "Relu", &["x"])], ..Default::default() };
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
            node: vec![node("x", "Placeholder", &[]), node("unused", "Relu", &["x"]), node("y", "Relu", &["x", "^unused"])],
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
}

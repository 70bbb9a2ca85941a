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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use prost::Message;

use crate::checkpoint::{dtype_size, Checkpoint};
use crate::opdefs::OpRegistry;
use crate::pb::{self, attr_value::Value, AttrValue, DataType, FunctionDef, NodeDef, TensorProto, TensorShapeProto};
use crate::{LoadOptions, TfError, TfGraph};

/// The signature used when none is requested.
pub const DEFAULT_SIGNATURE: &str = "serving_default";

/// Deepest function nesting accepted (Keras models nest a handful of levels).
const MAX_CALL_DEPTH: usize = 64;

/// Most nodes processed while inlining (large real models have ~10^5): bounds the work of a
/// library whose functions each call the next several times (exponential inlining).
const MAX_PROCESSED_NODES: usize = 2_000_000;

/// SavedModel messages decoded with tract's types except where tract's set lacks a field:
/// its `GraphDef` has no `library` (field 2), which holds every function of a TF2 SavedModel.
/// Fields not listed here (saver, collections, assets) are skipped by the decoder.
mod proto {
    use std::collections::HashMap;

    use crate::pb;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SavedModel {
        #[prost(message, repeated, tag = "2")]
        pub meta_graphs: Vec<MetaGraphDef>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetaGraphDef {
        #[prost(message, optional, tag = "1")]
        pub meta_info_def: Option<pb::meta_graph_def::MetaInfoDef>,
        #[prost(message, optional, tag = "2")]
        pub graph_def: Option<GraphDef>,
        #[prost(map = "string, message", tag = "5")]
        pub signature_def: HashMap<String, pb::SignatureDef>,
        #[prost(message, optional, tag = "7")]
        pub object_graph_def: Option<pb::SavedObjectGraph>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphDef {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<pb::NodeDef>,
        #[prost(message, optional, tag = "2")]
        pub library: Option<pb::FunctionDefLibrary>,
        #[prost(message, optional, tag = "4")]
        pub versions: Option<pb::VersionDef>,
    }
}

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
    fn error(&self, message: impl Into<String>) -> TfError {
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
    let frozen = pb::GraphDef { node: nodes, versions: graph.versions.clone(), ..Default::default() };
    let mut graph = TfGraph::new(file.dir.clone(), frozen)?;
    graph.signature = Some(signature);
    Ok(graph)
}

/// Inlines the function calls left in a frozen GraphDef read from `path`, with the same
/// inliner as SavedModels: TF2's `convert_variables_to_constants_v2` keeps
/// `(Stateful)PartitionedCall` nodes whose functions it does not inline (XLA-compiled
/// `tf.function(jit_compile=True)`, such as Keras's grouped convolutions) together with
/// the graph's function library. Every other node keeps its name, attributes and place in
/// the dependency order; inlined nodes are named `<call node>/<inner node>`. Returns the
/// graph unchanged (library included) when no node calls a function.
pub(crate) fn inline_calls(path: &Path, graph: pb::GraphDef) -> Result<pb::GraphDef, TfError> {
    let library = graph.library.as_ref();
    let functions: HashSet<&str> =
        library.iter().flat_map(|l| &l.function).filter_map(|f| Some(f.signature.as_ref()?.name.as_str())).collect();
    if !graph.node.iter().any(|n| is_call(&n.op) || functions.contains(n.op.as_str())) {
        return Ok(graph);
    }
    let mut freezer = Freezer::new(path, None, &graph.node, library, &[], None);
    freezer.keep_main = true;
    let nodes = freezer.inline_main()?;
    Ok(pb::GraphDef { node: nodes, versions: graph.versions.clone(), ..Default::default() })
}

/// A tensor while freezing: an output of an emitted node, or a variable handle.
#[derive(Debug, Clone)]
enum Src {
    Tensor(String, usize),
    Var(Rc<Variable>),
}

#[derive(Debug)]
struct Variable {
    /// Checkpoint key.
    key: String,
    /// TF1 ref variable (`VariableV2`): any non-writing consumer reads its value.
    is_ref: bool,
    /// The main-graph node that defines it, for messages.
    node: String,
}

/// What a processed node stands for.
enum NodeOut {
    /// Emitted under this name: output `k` is `name:k`.
    Emitted(String),
    /// Aliases of other tensors (collapsed identities, inlined calls, variables).
    Values(Vec<Src>),
}

/// A parsed node input.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ref<'s> {
    /// A function argument (`x` or `x:0`).
    Arg(&'s str, usize),
    /// A node output: graph form `node:k` (no arg name) or function form `node:out_arg:k`.
    Node(&'s str, Option<&'s str>, usize),
}

fn parse_index(s: &str) -> Option<usize> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// A GraphDef input (`node`, `node:k`); `None` for control inputs.
fn parse_graph_ref(input: &str) -> Option<Ref<'_>> {
    if input.starts_with('^') {
        return None;
    }
    Some(match input.rsplit_once(':') {
        Some((node, k)) if parse_index(k).is_some() => Ref::Node(node, None, parse_index(k).unwrap_or(0)),
        _ => Ref::Node(input, None, 0),
    })
}

/// A FunctionDef input (`arg`, `arg:k`, `node:out`, `node:out:k`); `None` for control inputs.
fn parse_function_ref<'s>(input: &'s str, is_arg: impl Fn(&str) -> bool) -> Result<Option<Ref<'s>>, String> {
    if input.starts_with('^') {
        return Ok(None);
    }
    let parts: Vec<&str> = input.split(':').collect();
    Ok(Some(match parts.as_slice() {
        [arg] => Ref::Arg(arg, 0),
        [first, k] if is_arg(first) && parse_index(k).is_some() => Ref::Arg(first, parse_index(k).unwrap_or(0)),
        [node, out] => Ref::Node(node, Some(out), 0),
        [node, out, k] => {
            Ref::Node(node, Some(out), parse_index(k).ok_or_else(|| format!("bad output index in '{input}'"))?)
        }
        _ => return Err(format!("malformed input '{input}'")),
    }))
}

/// One graph being walked: the main graph or a function body.
struct Scope<'a> {
    /// `None` for the main graph.
    function: Option<&'a FunctionDef>,
    nodes: HashMap<&'a str, &'a NodeDef>,
    args: HashMap<&'a str, Src>,
    /// Prefix of emitted node names (`call/` for an inlined body).
    prefix: String,
    /// Main graph only: signature input tensors `(node, k)` replaced by placeholders.
    overrides: HashMap<(String, usize), Src>,
    values: HashMap<&'a str, NodeOut>,
}

impl<'a> Scope<'a> {
    fn where_(&self) -> String {
        match self.function {
            Some(f) => format!(" in function '{}'", f.signature.as_ref().map(|s| s.name.as_str()).unwrap_or("?")),
            None => String::new(),
        }
    }

    fn parse(&self, input: &'a str) -> Result<Option<Ref<'a>>, String> {
        match self.function {
            None => Ok(parse_graph_ref(input)),
            Some(_) => parse_function_ref(input, |name| self.args.contains_key(name)),
        }
    }
}

fn is_call(op: &str) -> bool {
    matches!(op, "PartitionedCall" | "StatefulPartitionedCall")
}

fn is_control_flow(op: &str) -> bool {
    matches!(
        op,
        "If" | "StatelessIf"
            | "While"
            | "StatelessWhile"
            | "Case"
            | "StatelessCase"
            | "Switch"
            | "RefSwitch"
            | "Merge"
            | "RefMerge"
            | "Enter"
            | "RefEnter"
            | "Exit"
            | "RefExit"
            | "NextIteration"
            | "RefNextIteration"
            | "LoopCond"
    )
}

fn is_write(op: &str) -> bool {
    op.starts_with("Assign")
        || op.starts_with("ResourceApply")
        || op.starts_with("ResourceSparseApply")
        || op.starts_with("ResourceScatter")
        || op.starts_with("Apply")
        || op.starts_with("SparseApply")
        || op.ends_with("StridedSliceAssign")
        || matches!(
            op,
            "ScatterUpdate"
                | "ScatterAdd"
                | "ScatterSub"
                | "ScatterMul"
                | "ScatterDiv"
                | "ScatterMin"
                | "ScatterMax"
                | "ScatterNdUpdate"
                | "ScatterNdAdd"
                | "ScatterNdSub"
                | "DestroyResourceOp"
                | "CountUpTo"
                | "ResourceCountUpTo"
        )
}

fn is_table(op: &str) -> bool {
    op.contains("HashTable") || op.starts_with("LookupTable") || op.starts_with("InitializeTable")
}

/// Why `op` cannot be frozen, if it cannot.
fn refusal(op: &str) -> Option<String> {
    if matches!(op, "While" | "StatelessWhile") {
        Some(format!("a While loop {}", crate::loops::NOT_CONVERTED))
    } else if crate::loops::is_frame_op(op) {
        Some(format!("a TF1 while-loop frame op {}", crate::loops::NOT_CONVERTED))
    } else if is_control_flow(op) {
        Some("control flow is not supported (only straight-line inference graphs can be converted)".into())
    } else if is_write(op) {
        Some("writes a variable; only inference graphs that read their variables can be frozen".into())
    } else if is_table(op) {
        Some("uses a lookup table (a resource other than a variable), which is not supported".into())
    } else {
        None
    }
}

struct Freezer<'a> {
    /// The model file, for messages.
    path: &'a Path,
    /// The checkpoint prefix (`<dir>/variables/variables`); `None` for a frozen GraphDef.
    variables: Option<PathBuf>,
    /// The main graph's nodes.
    main: &'a [NodeDef],
    /// Frozen-GraphDef mode ([`inline_calls`]): main-graph nodes other than calls are kept
    /// as they are, under their own names.
    keep_main: bool,
    ops: OpRegistry<'a>,
    functions: HashMap<&'a str, &'a FunctionDef>,
    object_graph: Option<&'a pb::SavedObjectGraph>,
    /// Main-graph resource nodes captured by calls → SavedObjectGraph node id.
    captured: HashMap<&'a str, i32>,
    checkpoint: Option<Checkpoint>,
    /// SavedObjectGraph node id → TrackableObjectGraph node id.
    trackable: Option<(pb::TrackableObjectGraph, HashMap<i32, i32>)>,
    out: Vec<NodeDef>,
    names: HashSet<String>,
    /// Checkpoint key → (Const node name, index in `out`, expected dtype).
    var_consts: HashMap<String, (String, usize, Option<i32>)>,
    scanned: HashSet<String>,
    depth: usize,
    processed: usize,
}

impl<'a> Freezer<'a> {
    fn new(
        path: &'a Path,
        variables: Option<PathBuf>,
        main: &'a [NodeDef],
        library: Option<&'a pb::FunctionDefLibrary>,
        ops: &'a [pb::OpDef],
        object_graph: Option<&'a pb::SavedObjectGraph>,
    ) -> Self {
        let functions: HashMap<&str, &FunctionDef> = library
            .iter()
            .flat_map(|l| &l.function)
            .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
            .collect();
        let mut freezer = Freezer {
            path,
            variables,
            main,
            keep_main: false,
            ops: OpRegistry::new(ops),
            functions,
            object_graph,
            captured: HashMap::new(),
            checkpoint: None,
            trackable: None,
            out: Vec::new(),
            names: HashSet::new(),
            var_consts: HashMap::new(),
            scanned: HashSet::new(),
            depth: 0,
            processed: 0,
        };
        freezer.captured = freezer.captured_inputs();
        freezer
    }

    fn error(&self, message: impl Into<String>) -> TfError {
        TfError::Format { path: self.path.to_path_buf(), message: message.into() }
    }

    fn node_error(&self, scope: &Scope, node: &NodeDef, message: impl std::fmt::Display) -> TfError {
        self.error(format!("node '{}{}' ({}){}: {message}", scope.prefix, node.name, node.op, scope.where_()))
    }

    /// For every main-graph call whose function has `bound_inputs`, its trailing inputs.
    fn captured_inputs(&self) -> HashMap<&'a str, i32> {
        let mut captured = HashMap::new();
        let Some(objects) = self.object_graph else { return captured };
        for node in self.main {
            let Some(function) = call_target(node) else { continue };
            let Some(concrete) = objects.concrete_functions.get(function) else { continue };
            let data: Vec<&str> = node.input.iter().filter(|i| !i.starts_with('^')).map(|i| i.as_str()).collect();
            let bound = &concrete.bound_inputs;
            if bound.len() > data.len() {
                continue;
            }
            for (input, &id) in data[data.len() - bound.len()..].iter().zip(bound) {
                if let Some(Ref::Node(name, _, _)) = parse_graph_ref(input) {
                    captured.entry(name).or_insert(id);
                }
            }
        }
        captured
    }

    fn checkpoint(&mut self) -> Result<&Checkpoint, TfError> {
        if self.checkpoint.is_none() {
            let prefix =
                self.variables.as_ref().ok_or_else(|| self.error("the graph uses variables but has no checkpoint"))?;
            self.checkpoint = Some(Checkpoint::open(prefix)?);
        }
        Ok(self.checkpoint.as_ref().expect("just opened"))
    }

    /// A fresh node name based on `base`.
    fn unique(&mut self, base: &str) -> String {
        crate::unique_name(&mut self.names, base)
    }

    fn freeze(&mut self, signature: &'a SignatureInfo) -> Result<Vec<NodeDef>, TfError> {
        for tensor in signature.inputs.iter().chain(&signature.outputs) {
            self.names.insert(tensor.key.clone());
        }
        // Placeholders first, in key order.
        let mut overrides = HashMap::new();
        for input in &signature.inputs {
            let mut node = NodeDef { name: input.key.clone(), op: "Placeholder".into(), ..Default::default() };
            node.attr.insert("dtype".into(), AttrValue { value: Some(Value::Type(input.dtype as i32)) });
            node.attr
                .insert("shape".into(), AttrValue { value: Some(Value::Shape(shape_proto(input.shape.as_deref()))) });
            self.out.push(node);
            let Some(Ref::Node(name, _, k)) = parse_graph_ref(&input.tensor) else {
                return Err(self.error(format!("signature input '{}' names tensor '{}'", input.key, input.tensor)));
            };
            overrides.insert((name.to_string(), k), Src::Tensor(input.key.clone(), 0));
        }
        let mut scope = Scope {
            function: None,
            nodes: self.main.iter().map(|n| (n.name.as_str(), n)).collect(),
            args: HashMap::new(),
            prefix: String::new(),
            overrides,
            values: HashMap::new(),
        };
        let mut roots = Vec::new();
        for output in &signature.outputs {
            match parse_graph_ref(&output.tensor) {
                Some(Ref::Node(name, _, k))
                    if scope.nodes.contains_key(name) || scope.overrides.contains_key(&(name.to_string(), k)) =>
                {
                    roots.push(Ref::Node(name, None, k))
                }
                _ => {
                    return Err(self.error(format!(
                        "signature output '{}' names tensor '{}', which is not in the graph",
                        output.key, output.tensor
                    )))
                }
            }
        }
        let results = self.run(&mut scope, &roots)?;
        for (output, src) in signature.outputs.iter().zip(results) {
            let input = match src {
                Src::Tensor(name, k) => tensor_name(&name, k),
                Src::Var(var) => {
                    let (name, _) = self.const_for(&var, &format!("{}/value", var.node), None);
                    name
                }
            };
            let mut node =
                NodeDef { name: output.key.clone(), op: "Identity".into(), input: vec![input], ..Default::default() };
            node.attr.insert("T".into(), AttrValue { value: Some(Value::Type(output.dtype as i32)) });
            self.out.push(node);
        }
        // The outputs' nodes, plus every signature placeholder.
        let keep = self.prune(signature.outputs.iter().chain(&signature.inputs).map(|t| t.key.as_str()));
        self.fill_variables(&keep)?;
        let nodes = std::mem::take(&mut self.out);
        Ok(nodes.into_iter().zip(keep).filter_map(|(node, keep)| keep.then_some(node)).collect())
    }

    /// Which emitted nodes the `roots` (emitted node names) need, the roots included.
    fn prune<'n>(&self, roots: impl IntoIterator<Item = &'n str>) -> Vec<bool> {
        let index: HashMap<&str, usize> = self.out.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect();
        let mut keep = vec![false; self.out.len()];
        let mut stack: Vec<usize> = roots.into_iter().filter_map(|name| index.get(name).copied()).collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut keep[i], true) {
                continue;
            }
            for input in &self.out[i].input {
                if let Some(Ref::Node(name, _, _)) = parse_graph_ref(input) {
                    if let Some(&j) = index.get(name) {
                        if !keep[j] {
                            stack.push(j);
                        }
                    }
                }
            }
        }
        keep
    }

    /// Reads the checkpoint value of every variable constant that survived pruning.
    fn fill_variables(&mut self, keep: &[bool]) -> Result<(), TfError> {
        let mut pending: Vec<(String, String, usize, Option<i32>)> = self
            .var_consts
            .iter()
            .filter(|(_, (_, i, _))| keep[*i])
            .map(|(key, (name, i, dtype))| (key.clone(), name.clone(), *i, *dtype))
            .collect();
        pending.sort_by_key(|p| p.2);
        for (key, name, i, expected) in pending {
            let checkpoint = self.checkpoint()?;
            let entry = checkpoint
                .entry(&key)
                .ok_or_else(|| TfError::Format {
                    path: checkpoint.index_path().to_path_buf(),
                    message: format!("the checkpoint has no tensor '{key}' for variable node '{name}'"),
                })?
                .clone();
            if dtype_size(entry.dtype).is_none() {
                return Err(TfError::Format {
                    path: checkpoint.index_path().to_path_buf(),
                    message: format!("variable '{key}' has type {:?}, which cannot become a constant", entry.dtype),
                });
            }
            if let Some(expected) = expected.filter(|&t| t != entry.dtype as i32) {
                let expected =
                    DataType::try_from(expected).map(|t| format!("{t:?}")).unwrap_or_else(|_| expected.to_string());
                return Err(TfError::Format {
                    path: checkpoint.index_path().to_path_buf(),
                    message: format!(
                        "variable '{key}' is {:?} in the checkpoint but node '{name}' reads it as {expected}",
                        entry.dtype
                    ),
                });
            }
            let bytes = checkpoint.read_bytes(&key)?;
            let tensor = TensorProto {
                dtype: entry.dtype as i32,
                tensor_shape: Some(shape_proto(Some(&entry.shape.iter().map(|&d| Some(d)).collect::<Vec<_>>()))),
                tensor_content: bytes,
                ..Default::default()
            };
            let node = &mut self.out[i];
            node.attr.insert("dtype".into(), AttrValue { value: Some(Value::Type(entry.dtype as i32)) });
            node.attr.insert("value".into(), AttrValue { value: Some(Value::Tensor(tensor)) });
        }
        Ok(())
    }

    /// The `Const` node standing for `var` (created on first use, filled after pruning).
    fn const_for(&mut self, var: &Variable, reader: &str, dtype: Option<i32>) -> (String, usize) {
        if let Some((name, i, _)) = self.var_consts.get(&var.key) {
            return (name.clone(), *i);
        }
        let name = self.unique(reader);
        let i = self.out.len();
        self.out.push(NodeDef { name: name.clone(), op: "Const".into(), ..Default::default() });
        self.var_consts.insert(var.key.clone(), (name.clone(), i, dtype));
        (name, i)
    }

    /// Processes what `roots` need in `scope`, returns the roots' tensors.
    fn run(&mut self, scope: &mut Scope<'a>, roots: &[Ref<'a>]) -> Result<Vec<Src>, TfError> {
        self.walk(scope, roots)?;
        roots
            .iter()
            .map(|r| self.resolve(scope, *r).map_err(|m| self.error(format!("{m}{}", scope.where_()))))
            .collect()
    }

    /// Processes what `roots` need in `scope`.
    fn walk(&mut self, scope: &mut Scope<'a>, roots: &[Ref<'a>]) -> Result<(), TfError> {
        for name in self.order(scope, roots)? {
            let node = scope.nodes[name];
            let value = self.process(scope, node)?;
            scope.values.insert(name, value);
        }
        Ok(())
    }

    /// Frozen-GraphDef mode: inlines every call of the main graph and keeps its other nodes
    /// under their own names, in dependency order with the placeholders first (in file order,
    /// which is the order of the graph's inputs). A call that nothing reads (an output of the
    /// graph) leaves an `Identity` of its first output under its name. Inlined nodes that no
    /// kept node needs (unused function outputs) are pruned.
    fn inline_main(&mut self) -> Result<Vec<NodeDef>, TfError> {
        let main = self.main;
        self.names.extend(main.iter().map(|n| n.name.clone()));
        let mut scope = Scope {
            function: None,
            nodes: main.iter().map(|n| (n.name.as_str(), n)).collect(),
            args: HashMap::new(),
            prefix: String::new(),
            overrides: HashMap::new(),
            values: HashMap::new(),
        };
        let placeholders = main.iter().filter(|n| n.op == "Placeholder");
        let roots: Vec<Ref> = placeholders
            .chain(main.iter().filter(|n| n.op != "Placeholder"))
            .map(|n| Ref::Node(&n.name, None, 0))
            .collect();
        self.walk(&mut scope, &roots)?;
        let consumed: HashSet<&str> = main
            .iter()
            .flat_map(|n| {
                n.input.iter().filter_map(|i| match parse_graph_ref(i) {
                    Some(Ref::Node(name, _, _)) => Some(name),
                    _ => None,
                })
            })
            .collect();
        let mut kept = Vec::new();
        for node in main {
            match scope.values.get(node.name.as_str()) {
                Some(NodeOut::Emitted(name)) => kept.push(name.clone()),
                Some(NodeOut::Values(values)) if !consumed.contains(node.name.as_str()) => {
                    let Some(Src::Tensor(tensor, k)) = values.first() else { continue };
                    let mut identity = NodeDef {
                        name: node.name.clone(),
                        op: "Identity".into(),
                        input: vec![tensor_name(tensor, *k)],
                        ..Default::default()
                    };
                    let tout = match node.attr.get("Tout").and_then(|a| a.value.as_ref()) {
                        Some(Value::List(list)) => list.r#type.first().copied(),
                        _ => self
                            .functions
                            .get(node.op.as_str())
                            .and_then(|f| f.signature.as_ref()?.output_arg.first().map(|a| a.r#type)),
                    };
                    if let Some(t) = tout {
                        identity.attr.insert("T".into(), AttrValue { value: Some(Value::Type(t)) });
                    }
                    self.out.push(identity);
                    kept.push(node.name.clone());
                }
                _ => {}
            }
        }
        let keep = self.prune(kept.iter().map(String::as_str));
        let nodes = std::mem::take(&mut self.out);
        Ok(nodes.into_iter().zip(keep).filter_map(|(node, keep)| keep.then_some(node)).collect())
    }

    /// Frozen-GraphDef mode: a main-graph node that is not a call, kept as it is (name,
    /// attributes, control inputs) except that inputs from inlined calls now name the
    /// inlined tensors, and control inputs on calls are dropped.
    fn keep(&mut self, scope: &Scope<'a>, node: &'a NodeDef) -> Result<NodeOut, TfError> {
        let mut kept = NodeDef { input: Vec::with_capacity(node.input.len()), ..node.clone() };
        for input in &node.input {
            match parse_graph_ref(input) {
                None => {
                    let on_call = scope
                        .nodes
                        .get(&input[1..])
                        .is_some_and(|n| is_call(&n.op) || self.functions.contains_key(n.op.as_str()));
                    if !on_call {
                        kept.input.push(input.clone());
                    }
                }
                Some(r) => match self.resolve(scope, r).map_err(|m| self.node_error(scope, node, m))? {
                    Src::Tensor(name, k) => kept.input.push(tensor_name(&name, k)),
                    Src::Var(_) => {
                        return Err(self.node_error(scope, node, "reads a variable, which a frozen graph cannot hold"))
                    }
                },
            }
        }
        self.out.push(kept);
        Ok(NodeOut::Emitted(node.name.clone()))
    }

    /// The nodes `roots` need through data inputs, each after its inputs.
    fn order(&self, scope: &Scope<'a>, roots: &[Ref<'a>]) -> Result<Vec<&'a str>, TfError> {
        #[derive(PartialEq)]
        enum Mark {
            InProgress,
            Done,
        }
        let mut marks: HashMap<&str, Mark> = HashMap::new();
        let mut order = Vec::new();
        let mut stack: Vec<(&'a str, bool)> = Vec::new();
        let push_ref = |r: &Ref<'a>, stack: &mut Vec<(&'a str, bool)>| {
            if let Ref::Node(name, _, k) = *r {
                if !scope.overrides.contains_key(&(name.to_string(), k)) {
                    stack.push((name, false));
                }
            }
        };
        for root in roots.iter().rev() {
            push_ref(root, &mut stack);
        }
        while let Some((name, expanded)) = stack.pop() {
            if expanded {
                marks.insert(name, Mark::Done);
                order.push(name);
                continue;
            }
            if marks.contains_key(name) {
                continue;
            }
            let Some(&node) = scope.nodes.get(name) else {
                return Err(self.error(format!("a node input names '{name}', which is not a node{}", scope.where_())));
            };
            marks.insert(name, Mark::InProgress);
            stack.push((name, true));
            for input in node.input.iter().rev() {
                let r = scope.parse(input).map_err(|m| self.node_error(scope, node, m))?;
                let Some(r @ Ref::Node(producer, _, _)) = r else { continue };
                match marks.get(producer) {
                    Some(Mark::Done) => {}
                    Some(Mark::InProgress) => {
                        return Err(self.node_error(
                            scope,
                            node,
                            format!("the graph has a cycle through input '{input}'"),
                        ))
                    }
                    None => push_ref(&r, &mut stack),
                }
            }
        }
        Ok(order)
    }

    /// The tensor a reference stands for (its producer is already processed).
    fn resolve(&self, scope: &Scope<'a>, r: Ref<'a>) -> Result<Src, String> {
        match r {
            Ref::Arg(name, k) => match (scope.args.get(name), k) {
                (Some(src), 0) => Ok(src.clone()),
                (Some(_), k) => Err(format!("argument '{name}:{k}': list arguments are not supported")),
                (None, _) => Err(format!("'{name}' is neither an argument nor a node")),
            },
            Ref::Node(name, out_arg, k) => {
                if let Some(src) = scope.overrides.get(&(name.to_string(), k)) {
                    return Ok(src.clone());
                }
                let (Some(node), Some(value)) = (scope.nodes.get(name), scope.values.get(name)) else {
                    return Err(format!("input '{name}' is not a processed node"));
                };
                let flat = match out_arg {
                    None => k,
                    Some(arg) => self
                        .flat_output(node, arg, k)
                        .map_err(|m| format!("node '{}{name}' ({}): {m}", scope.prefix, node.op))?,
                };
                match value {
                    NodeOut::Emitted(emitted) => Ok(Src::Tensor(emitted.clone(), flat)),
                    NodeOut::Values(values) => values
                        .get(flat)
                        .cloned()
                        .ok_or_else(|| format!("node '{}{name}' ({}) has no output {flat}", scope.prefix, node.op)),
                }
            }
        }
    }

    /// The flat output index of `out_arg:k` of `node`.
    fn flat_output(&self, node: &NodeDef, out_arg: &str, k: usize) -> Result<usize, String> {
        if is_call(&node.op) || matches!(node.op.as_str(), "IdentityN" | "Identity" | "Snapshot") {
            return Ok(k);
        }
        if let Some(function) = self.functions.get(node.op.as_str()) {
            let args = function.signature.as_ref().map(|s| s.output_arg.as_slice()).unwrap_or_default();
            return match args.iter().position(|a| a.name == out_arg) {
                Some(i) if k == 0 => Ok(i),
                Some(_) => Err(format!("list output '{out_arg}:{k}' of a function is not supported")),
                None => Err(format!("function has no output '{out_arg}'")),
            };
        }
        // Ops unknown to both tables have a single output argument in practice.
        self.ops.flat_output(node, out_arg, k).unwrap_or(Ok(k))
    }

    fn process(&mut self, scope: &mut Scope<'a>, node: &'a NodeDef) -> Result<NodeOut, TfError> {
        self.processed += 1;
        if self.processed > MAX_PROCESSED_NODES {
            return Err(self.node_error(
                scope,
                node,
                format!("inlining exceeds {MAX_PROCESSED_NODES} nodes (functions calling each other many times?)"),
            ));
        }
        if self.keep_main
            && scope.function.is_none()
            && !(is_call(&node.op) || self.functions.contains_key(node.op.as_str()))
        {
            return self.keep(scope, node);
        }
        if let Some(why) = refusal(&node.op) {
            return Err(self.node_error(scope, node, why));
        }
        let mut inputs = Vec::new();
        for input in &node.input {
            if let Some(r) = scope.parse(input).map_err(|m| self.node_error(scope, node, m))? {
                inputs.push(self.resolve(scope, r).map_err(|m| self.node_error(scope, node, m))?);
            }
        }
        let op = node.op.as_str();
        match op {
            "Identity" | "Snapshot" if inputs.len() == 1 => return Ok(NodeOut::Values(inputs)),
            "IdentityN" => return Ok(NodeOut::Values(inputs)),
            "NoOp" => return Ok(NodeOut::Values(Vec::new())),
            // Not a signature input: it takes its default.
            "PlaceholderWithDefault" if scope.function.is_none() && inputs.len() == 1 => {
                return Ok(NodeOut::Values(inputs))
            }
            "Placeholder" => {
                return Err(self.node_error(
                    scope,
                    node,
                    "the outputs need this placeholder, which is not an input of the signature",
                ))
            }
            _ => {}
        }
        if matches!(op, "VariableV2" | "Variable" | "VarHandleOp") {
            if scope.function.is_some() {
                return Err(self.node_error(
                    scope,
                    node,
                    "creates a variable inside a function; only captured variables can be frozen",
                ));
            }
            let key = if op == "VarHandleOp" { self.handle_key(node)? } else { node.name.clone() };
            let var = Variable { key, is_ref: op != "VarHandleOp", node: node.name.clone() };
            return Ok(NodeOut::Values(vec![Src::Var(Rc::new(var))]));
        }
        if is_call(op) || self.functions.contains_key(op) {
            return self.inline(scope, node, inputs);
        }
        let reads_var = inputs.iter().any(|s| matches!(s, Src::Var(_)));
        if op == "ReadVariableOp" {
            let [Src::Var(var)] = inputs.as_slice() else {
                return Err(self.node_error(scope, node, "reads a resource that is not a captured variable"));
            };
            let dtype = match node.attr.get("dtype").and_then(|a| a.value.as_ref()) {
                Some(Value::Type(t)) => Some(*t),
                _ => None,
            };
            let (name, _) = self.const_for(var, &format!("{}{}", scope.prefix, node.name), dtype);
            return Ok(NodeOut::Values(vec![Src::Tensor(name, 0)]));
        }
        if op == "ResourceGather" && reads_var {
            return self.resource_gather(scope, node, inputs);
        }
        let mut data = Vec::with_capacity(inputs.len());
        for src in inputs {
            data.push(match src {
                Src::Tensor(name, k) => tensor_name(&name, k),
                Src::Var(var) if var.is_ref => self.const_for(&var, &var.node, None).0,
                Src::Var(var) => {
                    return Err(self.node_error(
                        scope,
                        node,
                        format!(
                        "uses variable '{}' as a resource; only ReadVariableOp and ResourceGather reads can be frozen",
                        var.key
                    ),
                    ))
                }
            });
        }
        self.emit(scope, node, node.op.clone(), data, |_| {})
    }

    /// Emits a copy of `node` with resolved inputs, clean attributes and restored defaults.
    fn emit(
        &mut self,
        scope: &Scope<'a>,
        node: &NodeDef,
        op: String,
        inputs: Vec<String>,
        adjust: impl FnOnce(&mut NodeDef),
    ) -> Result<NodeOut, TfError> {
        let name = self.unique(&format!("{}{}", scope.prefix, node.name));
        let attr = node.attr.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut emitted = NodeDef { name: name.clone(), op, input: inputs, device: String::new(), attr };
        adjust(&mut emitted);
        self.ops.restore_defaults(&mut emitted);
        if let Some((attr, _)) = emitted.attr.iter().find(|(_, v)| matches!(v.value, Some(Value::Placeholder(_)))) {
            return Err(self.node_error(
                scope,
                node,
                format!("attribute '{attr}' is a function placeholder (polymorphic function)"),
            ));
        }
        self.out.push(emitted);
        Ok(NodeOut::Emitted(name))
    }

    /// `ResourceGather(var, indices)` → `GatherV2(Const, indices, 0)`, as TF's freezer does.
    fn resource_gather(&mut self, scope: &Scope<'a>, node: &'a NodeDef, inputs: Vec<Src>) -> Result<NodeOut, TfError> {
        let (Some(Src::Var(var)), Some(Src::Tensor(indices, k)), 2) = (inputs.first(), inputs.get(1), inputs.len())
        else {
            return Err(self.node_error(scope, node, "expected a variable and an index tensor"));
        };
        let dtype = match node.attr.get("dtype").and_then(|a| a.value.as_ref()) {
            Some(Value::Type(t)) => Some(*t),
            _ => None,
        };
        let (params, _) = self.const_for(var, &format!("{}{}/params", scope.prefix, node.name), dtype);
        let axis_name = self.unique(&format!("{}{}/axis", scope.prefix, node.name));
        let mut axis = NodeDef { name: axis_name.clone(), op: "Const".into(), ..Default::default() };
        axis.attr.insert("dtype".into(), AttrValue { value: Some(Value::Type(DataType::DtInt32 as i32)) });
        let axis_value = TensorProto {
            dtype: DataType::DtInt32 as i32,
            tensor_shape: Some(TensorShapeProto::default()),
            int_val: vec![0],
            ..Default::default()
        };
        axis.attr.insert("value".into(), AttrValue { value: Some(Value::Tensor(axis_value)) });
        self.out.push(axis);
        let inputs = vec![params, tensor_name(indices, *k), axis_name];
        self.emit(scope, node, "GatherV2".into(), inputs, |n| {
            let dtype = n.attr.remove("dtype");
            n.attr.remove("validate_indices");
            if let Some(dtype) = dtype {
                n.attr.insert("Tparams".into(), dtype);
            }
            n.attr.insert("Taxis".into(), AttrValue { value: Some(Value::Type(DataType::DtInt32 as i32)) });
        })
    }

    /// Inlines the function `node` calls; its outputs become the node's outputs.
    fn inline(&mut self, scope: &Scope<'a>, node: &'a NodeDef, inputs: Vec<Src>) -> Result<NodeOut, TfError> {
        let name = call_target(node).unwrap_or(node.op.as_str());
        let Some(&function) = self.functions.get(name) else {
            return Err(self.node_error(
                scope,
                node,
                format!("calls function '{name}', which the SavedModel does not define"),
            ));
        };
        if self.depth >= MAX_CALL_DEPTH {
            return Err(self.node_error(
                scope,
                node,
                format!("function calls nest deeper than {MAX_CALL_DEPTH} levels (recursion?)"),
            ));
        }
        self.scan(name)?;
        let signature = function
            .signature
            .as_ref()
            .ok_or_else(|| self.node_error(scope, node, format!("function '{name}' has no signature")))?;
        if signature.input_arg.len() != inputs.len() {
            return Err(self.node_error(
                scope,
                node,
                format!(
                    "passes {} inputs to function '{name}', which takes {}",
                    inputs.len(),
                    signature.input_arg.len()
                ),
            ));
        }
        let mut inner = Scope {
            function: Some(function),
            nodes: function.node_def.iter().map(|n| (n.name.as_str(), n)).collect(),
            args: signature.input_arg.iter().map(|a| a.name.as_str()).zip(inputs).collect(),
            prefix: format!("{}{}/", scope.prefix, node.name),
            overrides: HashMap::new(),
            values: HashMap::new(),
        };
        let mut roots = Vec::new();
        for arg in &signature.output_arg {
            let ret = function
                .ret
                .get(&arg.name)
                .ok_or_else(|| self.error(format!("function '{name}' does not return its output '{}'", arg.name)))?;
            match inner.parse(ret).map_err(|m| self.error(format!("function '{name}' output '{}': {m}", arg.name)))? {
                Some(r) => roots.push(r),
                None => {
                    return Err(self.error(format!("function '{name}' returns a control edge as output '{}'", arg.name)))
                }
            }
        }
        self.depth += 1;
        let outputs = self.run(&mut inner, &roots);
        self.depth -= 1;
        Ok(NodeOut::Values(outputs?))
    }

    /// Refuses writes and control flow anywhere in `name` and the functions it references,
    /// naming the node that calls the function at fault (in a Keras model, its layer's call).
    fn scan(&mut self, name: &str) -> Result<(), TfError> {
        // Functions to scan, each with the node calling it and that node's function.
        let mut work: Vec<(String, Option<(String, String)>)> = vec![(name.to_string(), None)];
        while let Some((name, caller)) = work.pop() {
            if !self.scanned.insert(name.clone()) {
                continue;
            }
            let Some(function) = self.functions.get(name.as_str()) else { continue };
            for node in &function.node_def {
                if let Some(why) = refusal(&node.op) {
                    let called_by = caller
                        .as_ref()
                        .map(|(call, from)| format!(" (called by node '{call}' in function '{from}')"))
                        .unwrap_or_default();
                    return Err(self
                        .error(format!("node '{}' ({}) in function '{name}'{called_by}: {why}", node.name, node.op)));
                }
                let called = |function: &str| (function.to_string(), Some((node.name.clone(), name.clone())));
                if self.functions.contains_key(node.op.as_str()) {
                    work.push(called(&node.op));
                }
                for value in node.attr.values().filter_map(|a| a.value.as_ref()) {
                    match value {
                        Value::Func(f) => work.push(called(&f.name)),
                        Value::List(list) => work.extend(list.func.iter().map(|f| called(&f.name))),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// The checkpoint key of a main-graph `VarHandleOp`.
    fn handle_key(&mut self, node: &NodeDef) -> Result<String, TfError> {
        if let Some(&id) = self.captured.get(node.name.as_str()) {
            return self.object_key(node, id);
        }
        // TF1 resource variables: keyed by name.
        let shared_name = match node.attr.get("shared_name").and_then(|a| a.value.as_ref()) {
            Some(Value::S(s)) if !s.is_empty() => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        };
        let checkpoint = self.checkpoint()?;
        for key in std::iter::once(node.name.clone()).chain(shared_name) {
            if checkpoint.entry(&key).is_some() {
                return Ok(key);
            }
        }
        Err(self.error(format!(
            "node '{}' (VarHandleOp): variable not captured by any function and not in the checkpoint by name",
            node.name
        )))
    }

    /// The checkpoint key of SavedObjectGraph node `id` (a variable).
    fn object_key(&mut self, node: &NodeDef, id: i32) -> Result<String, TfError> {
        let objects = self.object_graph.ok_or_else(|| self.error("no object graph"))?;
        let object = usize::try_from(id).ok().and_then(|i| objects.nodes.get(i));
        match object.and_then(|o| o.kind.as_ref()) {
            Some(pb::saved_object::Kind::Variable(_)) => {}
            Some(other) => {
                let kind = format!("{other:?}");
                let kind = kind.split('(').next().unwrap_or("?").to_string();
                return Err(self.error(format!(
                    "node '{}' ({}): captured object {id} is a {kind}, not a variable",
                    node.name, node.op
                )));
            }
            None => {
                return Err(self.error(format!(
                    "node '{}' ({}): captured object {id} is not in the object graph",
                    node.name, node.op
                )))
            }
        }
        if self.trackable.is_none() {
            let checkpoint = self.checkpoint()?;
            let bytes = checkpoint.read_strings("_CHECKPOINTABLE_OBJECT_GRAPH")?;
            let index_path = checkpoint.index_path().to_path_buf();
            let graph =
                bytes.first().and_then(|b| pb::TrackableObjectGraph::decode(b.as_slice()).ok()).ok_or_else(|| {
                    TfError::Format {
                        path: index_path,
                        message: "the checkpoint's object graph (_CHECKPOINTABLE_OBJECT_GRAPH) does not parse".into(),
                    }
                })?;
            let mapping = match_object_graphs(objects, &graph);
            self.trackable = Some((graph, mapping));
        }
        let (graph, mapping) = self.trackable.as_ref().expect("just built");
        let trackable_id = mapping.get(&id).copied().unwrap_or(id);
        let key = usize::try_from(trackable_id)
            .ok()
            .and_then(|i| graph.nodes.get(i))
            .and_then(|n| n.attributes.iter().find(|a| a.name == "VARIABLE_VALUE"))
            .map(|a| a.checkpoint_key.clone());
        key.ok_or_else(|| {
            self.error(format!(
                "node '{}' ({}): variable object {id} has no VARIABLE_VALUE in the checkpoint's object graph",
                node.name, node.op
            ))
        })
    }
}

/// Saved object id → checkpoint object id, by walking both graphs from the root along
/// children of the same local name (what TF's restore does). Ids usually coincide.
fn match_object_graphs(saved: &pb::SavedObjectGraph, trackable: &pb::TrackableObjectGraph) -> HashMap<i32, i32> {
    let mut mapping = HashMap::new();
    if saved.nodes.is_empty() || trackable.nodes.is_empty() {
        return mapping;
    }
    mapping.insert(0, 0);
    let mut queue = std::collections::VecDeque::from([(0usize, 0usize)]);
    while let Some((s, t)) = queue.pop_front() {
        let (Some(s_node), Some(t_node)) = (saved.nodes.get(s), trackable.nodes.get(t)) else { continue };
        for child in &s_node.children {
            if mapping.contains_key(&child.node_id) {
                continue;
            }
            if let Some(t_child) = t_node.children.iter().find(|c| c.local_name == child.local_name) {
                mapping.insert(child.node_id, t_child.node_id);
                if let (Ok(a), Ok(b)) = (usize::try_from(child.node_id), usize::try_from(t_child.node_id)) {
                    queue.push_back((a, b));
                }
            }
        }
    }
    mapping
}

/// The function a call node invokes (`f` attribute of (Stateful)PartitionedCall).
fn call_target(node: &NodeDef) -> Option<&str> {
    if !is_call(&node.op) {
        return None;
    }
    match node.attr.get("f").and_then(|a| a.value.as_ref()) {
        Some(Value::Func(f)) => Some(f.name.as_str()),
        _ => None,
    }
}

fn tensor_name(node: &str, k: usize) -> String {
    if k == 0 {
        node.to_string()
    } else {
        format!("{node}:{k}")
    }
}

fn shape_proto(shape: Option<&[Option<usize>]>) -> TensorShapeProto {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::NodeExt;
    use crate::checkpoint::tests::write_checkpoint;
    use crate::pb::{op_def::ArgDef, FunctionDefLibrary, NameAttrList, OpDef, SignatureDef, TensorInfo};

    fn attr(value: Value) -> AttrValue {
        AttrValue { value: Some(value) }
    }

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn call(name: &str, op: &str, function: &str, inputs: &[&str]) -> NodeDef {
        let mut n = node(name, op, inputs);
        n.attr.insert("f".into(), attr(Value::Func(NameAttrList { name: function.into(), attr: HashMap::new() })));
        n
    }

    fn function(name: &str, inputs: &[&str], outputs: &[(&str, &str)], nodes: Vec<NodeDef>) -> FunctionDef {
        FunctionDef {
            signature: Some(OpDef {
                name: name.into(),
                input_arg: inputs.iter().map(|a| ArgDef { name: a.to_string(), ..Default::default() }).collect(),
                output_arg: outputs.iter().map(|(a, _)| ArgDef { name: a.to_string(), ..Default::default() }).collect(),
                ..Default::default()
            }),
            node_def: nodes,
            ret: outputs.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect(),
            ..Default::default()
        }
    }

    fn info(tensor: &str, dims: &[i64]) -> TensorInfo {
        TensorInfo {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: dims.iter().map(|&size| pb::tensor_shape_proto::Dim { size, name: String::new() }).collect(),
                unknown_rank: false,
            }),
            encoding: Some(pb::tensor_info::Encoding::Name(tensor.into())),
        }
    }

    /// `Pair`: an op with a list output `many` (N tensors, N defaulting to 2) then `last`.
    fn pair_op() -> OpDef {
        OpDef {
            name: "Pair".into(),
            output_arg: vec![
                ArgDef { name: "many".into(), number_attr: "N".into(), ..Default::default() },
                ArgDef { name: "last".into(), ..Default::default() },
            ],
            attr: vec![pb::op_def::AttrDef {
                name: "N".into(),
                default_value: Some(attr(Value::I(2))),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tf2h5-sm-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("variables")).unwrap();
        dir
    }

    /// Writes a SavedModel whose serving signature maps `x` to outputs `a` and `b` through
    /// `outer` → `inner`, with variable `w` (2x2) in the checkpoint.
    fn write_model(dir: &Path, library: Vec<FunctionDef>, extra_main: Vec<NodeDef>) {
        let mut x = node("serving_default_x", "Placeholder", &[]);
        x.attr.insert("_output_shapes".into(), attr(Value::I(0)));
        let mut main = vec![
            x,
            node("w", "VarHandleOp", &[]),
            call("call", "StatefulPartitionedCall", "outer", &["serving_default_x", "w", "^w"]),
        ];
        main.extend(extra_main);
        let signature = SignatureDef {
            inputs: [("x".to_string(), info("serving_default_x:0", &[-1, 2]))].into(),
            outputs: [("b".to_string(), info("call:1", &[-1, 2])), ("a".to_string(), info("call:0", &[-1, 2]))].into(),
            method_name: "tensorflow/serving/predict".into(),
        };
        let meta = proto::MetaGraphDef {
            meta_info_def: Some(pb::meta_graph_def::MetaInfoDef {
                tags: vec!["serve".into()],
                stripped_op_list: Some(pb::OpList { op: vec![pair_op()] }),
                stripped_default_attrs: true,
                ..Default::default()
            }),
            graph_def: Some(proto::GraphDef {
                node: main,
                library: Some(FunctionDefLibrary { function: library, gradient: vec![] }),
                versions: None,
            }),
            signature_def: [
                ("serving_default".to_string(), signature),
                ("__saved_model_init_op".to_string(), SignatureDef::default()),
            ]
            .into(),
            object_graph_def: None,
        };
        let model = proto::SavedModel { meta_graphs: vec![meta] };
        std::fs::write(dir.join("saved_model.pb"), model.encode_to_vec()).unwrap();
        write_checkpoint(&dir.join("variables"), &[("w", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])], 1);
    }

    fn library() -> Vec<FunctionDef> {
        let mut read = node("read", "ReadVariableOp", &["r"]);
        read.attr.insert("dtype".into(), attr(Value::Type(DataType::DtFloat as i32)));
        read.attr.insert("_class".into(), attr(Value::S(b"junk".to_vec())));
        let inner = function(
            "inner",
            &["a", "r"],
            &[("o0", "p:last:0"), ("o1", "p:many:1")],
            vec![
                read,
                node("mm", "MatMul", &["a", "read:value:0", "^read"]),
                node("p", "Pair", &["mm:product:0"]),
                node("unused", "Relu", &["mm:product:0"]),
                node("NoOp", "NoOp", &["^p"]),
            ],
        );
        let outer = function(
            "outer",
            &["x", "res"],
            &[("out_a", "relu:activations:0"), ("out_b", "idn:output:0")],
            vec![
                call("inner_call", "PartitionedCall", "inner", &["x", "res"]),
                node("idn", "IdentityN", &["inner_call:output:0", "inner_call:output:1", "^inner_call"]),
                node("relu", "Relu", &["idn:output:1"]),
            ],
        );
        vec![inner, outer]
    }

    #[test]
    fn inlines_nested_calls_and_maps_list_outputs() {
        let dir = temp_dir("inline");
        write_model(&dir, library(), vec![]);
        let graph = crate::load(&dir).unwrap();
        let names: Vec<&str> = graph.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["x", "call/inner_call/read", "call/inner_call/mm", "call/inner_call/p", "call/relu", "a", "b"]
        );
        // a = relu(p:many:1) = relu(p:1); b = p:last:0 = p:2 (N = 2 restored from the OpDef).
        assert_eq!(graph.node("call/relu").unwrap().input, ["call/inner_call/p:1"]);
        assert_eq!(graph.node("b").unwrap().input, ["call/inner_call/p:2"]);
        assert_eq!(graph.node("call/inner_call/mm").unwrap().input, ["x", "call/inner_call/read"]);
        assert_eq!(graph.node("call/inner_call/p").unwrap().attr_int_opt("N").unwrap(), Some(2));
        assert!(graph
            .nodes()
            .iter()
            .all(|n| n.attr.keys().all(|k| !k.starts_with('_')) && n.input.iter().all(|i| !i.starts_with('^'))));
        let w = graph.const_value("call/inner_call/read").unwrap().unwrap();
        assert_eq!(w.as_f32().unwrap().as_slice().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(graph.node("x").unwrap().attr_shape_opt("shape").unwrap(), Some(vec![None, Some(2)]));
        // Signature order: sorted keys, whatever the map order.
        assert_eq!(graph.input_names(), ["x"]);
        assert_eq!(graph.output_names(), ["a", "b"]);
        let signatures = crate::signatures(&dir).unwrap();
        assert_eq!(signatures.len(), 1);
        assert_eq!(signatures[0].outputs.iter().map(|o| o.tensor.as_str()).collect::<Vec<_>>(), ["call:0", "call:1"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn inlines_the_calls_of_a_frozen_graph() {
        let f = function(
            "f",
            &["a", "b"],
            &[("o0", "add:z:0"), ("o1", "mul:z:0")],
            vec![node("add", "AddV2", &["a", "b"]), node("mul", "Mul", &["a", "b"]), node("unused", "Relu", &["a"])],
        );
        let mut terminal = call("t", "PartitionedCall", "f", &["r", "x1"]);
        let float = DataType::DtFloat as i32;
        terminal.attr.insert(
            "Tout".into(),
            attr(Value::List(pb::attr_value::ListValue { r#type: vec![float, float], ..Default::default() })),
        );
        let mut x1 = node("x1", "Placeholder", &[]);
        x1.attr.insert("_output_shapes".into(), attr(Value::I(0)));
        let graph = pb::GraphDef {
            node: vec![
                node("r", "Relu", &["c:1", "^c", "^x0"]),
                x1,
                node("x0", "Placeholder", &[]),
                call("c", "StatefulPartitionedCall", "f", &["x0", "x1"]),
                terminal,
            ],
            library: Some(FunctionDefLibrary { function: vec![f], gradient: vec![] }),
            ..Default::default()
        };
        let path = Path::new("m.pb");
        let inlined = inline_calls(path, graph).unwrap();
        let graph = TfGraph::new(path.to_path_buf(), inlined).unwrap();
        let names: Vec<&str> = graph.nodes().iter().map(|n| n.name.as_str()).collect();
        // Placeholders first in file order; unused function outputs and nodes pruned.
        assert_eq!(names, ["x1", "x0", "c/mul", "r", "t/add", "t"]);
        assert_eq!(graph.input_names(), ["x1", "x0"]);
        // Other nodes are kept as they were, but for inputs from calls (control ones dropped).
        assert_eq!(graph.node("r").unwrap().input, ["c/mul", "^x0"]);
        assert!(graph.node("x1").unwrap().attr.contains_key("_output_shapes"));
        // A call nothing reads becomes an Identity of its first output, under its name.
        let t = graph.node("t").unwrap();
        assert_eq!((t.op.as_str(), t.input.as_slice()), ("Identity", ["t/add".to_string()].as_slice()));
        assert_eq!(t.attr_type_opt("T").unwrap(), Some(float));
        assert_eq!(graph.output_names(), ["t"]);
        // No call, nothing changes.
        let plain = pb::GraphDef {
            node: vec![node("x", "Placeholder", &[]), node("y", "Relu", &["x", "^x"])],
            ..Default::default()
        };
        assert_eq!(inline_calls(path, plain.clone()).unwrap(), plain);
        // Functions are scanned as in SavedModels; errors name the file, node and function.
        let mut f = function("g", &["a"], &[("o", "a")], vec![node("w", "AssignVariableOp", &["a", "a"])]);
        f.signature.as_mut().unwrap().name = "g".into();
        let graph = pb::GraphDef {
            node: vec![node("x", "Placeholder", &[]), call("c", "PartitionedCall", "g", &["x"])],
            library: Some(FunctionDefLibrary { function: vec![f], gradient: vec![] }),
            ..Default::default()
        };
        let err = inline_calls(path, graph).unwrap_err().to_string();
        assert!(err.contains("m.pb") && err.contains("'w' (AssignVariableOp) in function 'g'"), "{err}");
    }

    #[test]
    fn refuses_writes_and_control_flow_anywhere_in_called_functions() {
        for (op, expected) in [
            ("AssignVariableOp", "writes a variable"),
            ("StatelessWhile", "a While loop is not supported: tf2h5 does not convert loops yet"),
            ("If", "control flow"),
        ] {
            let dir = temp_dir(op);
            let mut lib = library();
            // Not on any output's path: a side effect TF would still run.
            lib[0].node_def.push(node("side", op, &["r", "a"]));
            write_model(&dir, lib, vec![]);
            let err = crate::load(&dir).unwrap_err().to_string();
            assert!(
                err.contains("saved_model.pb")
                    && err.contains(&format!(
                        "'side' ({op}) in function 'inner' (called by node 'inner_call' in function 'outer')"
                    ))
                    && err.contains(expected),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn refuses_unknown_signatures_and_other_resource_uses() {
        let dir = temp_dir("signature");
        write_model(&dir, library(), vec![]);
        let options = LoadOptions { signature: Some("predict".into()) };
        let err = crate::load_with(&dir, &options).unwrap_err().to_string();
        assert!(err.contains("no signature 'predict'") && err.contains("available: serving_default"), "{err}");
        let mut lib = library();
        lib[0].node_def[1] = node("mm", "MatMul", &["a", "r"]);
        write_model(&dir, lib, vec![]);
        let err = crate::load(&dir).unwrap_err().to_string();
        assert!(err.contains("'call/inner_call/mm' (MatMul)") && err.contains("variable 'w'"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bounds_exponential_inlining() {
        // f0 calls f1 twice, f1 calls f2 twice, ...: 2^40 inlined bodies if unbounded.
        let dir = temp_dir("explode");
        let mut lib = Vec::new();
        for i in 0..40 {
            let next = format!("f{}", i + 1);
            lib.push(function(
                &format!("f{i}"),
                &["x", "res"],
                &[("out_a", "c1:output:0"), ("out_b", "c2:output:0")],
                vec![
                    call("c1", "PartitionedCall", &next, &["x", "res"]),
                    call("c2", "PartitionedCall", &next, &["x", "res"]),
                ],
            ));
        }
        lib.push(function("f40", &["x", "res"], &[("out_a", "x"), ("out_b", "x")], vec![]));
        let mut outer = function(
            "outer",
            &["x", "res"],
            &[("out_a", "c:output:0"), ("out_b", "c:output:1")],
            vec![call("c", "PartitionedCall", "f0", &["x", "res"])],
        );
        outer.signature.as_mut().unwrap().name = "outer".into();
        lib.push(outer);
        write_model(&dir, lib, vec![]);
        let err = crate::load(&dir).unwrap_err().to_string();
        assert!(err.contains("inlining exceeds"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parses_function_references() {
        let is_arg = |n: &str| n == "x";
        assert_eq!(parse_function_ref("x", is_arg).unwrap(), Some(Ref::Arg("x", 0)));
        assert_eq!(parse_function_ref("x:0", is_arg).unwrap(), Some(Ref::Arg("x", 0)));
        assert_eq!(parse_function_ref("n:out", is_arg).unwrap(), Some(Ref::Node("n", Some("out"), 0)));
        assert_eq!(parse_function_ref("n:out:3", is_arg).unwrap(), Some(Ref::Node("n", Some("out"), 3)));
        assert_eq!(parse_function_ref("^n", is_arg).unwrap(), None);
        assert!(parse_function_ref("n:out:x", is_arg).is_err());
        assert!(parse_function_ref("a:b:c:d", is_arg).is_err());
        assert_eq!(parse_graph_ref("a/b:2"), Some(Ref::Node("a/b", None, 2)));
        assert_eq!(parse_graph_ref("a/b"), Some(Ref::Node("a/b", None, 0)));
    }

    #[test]
    fn matches_object_graphs_by_child_names() {
        use pb::trackable_object_graph::trackable_object::ObjectReference;
        let child = |id: i32, name: &str| ObjectReference { node_id: id, local_name: name.into() };
        let saved = pb::SavedObjectGraph {
            nodes: vec![
                pb::SavedObject { children: vec![child(1, "layer"), child(2, "signatures")], ..Default::default() },
                pb::SavedObject { children: vec![child(3, "kernel")], ..Default::default() },
                pb::SavedObject::default(),
                pb::SavedObject::default(),
            ],
            ..Default::default()
        };
        let trackable = pb::TrackableObjectGraph {
            nodes: vec![
                pb::trackable_object_graph::TrackableObject { children: vec![child(2, "layer")], ..Default::default() },
                pb::trackable_object_graph::TrackableObject::default(),
                pb::trackable_object_graph::TrackableObject {
                    children: vec![child(1, "kernel")],
                    ..Default::default()
                },
            ],
        };
        let mapping = match_object_graphs(&saved, &trackable);
        assert_eq!(mapping.get(&1), Some(&2));
        assert_eq!(mapping.get(&3), Some(&1));
        assert_eq!(mapping.get(&2), None);
    }
}

//! The inliner: walks a graph from its roots, inlines function calls recursively and emits
//! the flat nodes, collapsing identities and restoring attribute defaults.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::policy::{call_target, is_call, refusal};
use super::refs::{parse_function_ref, parse_graph_ref, tensor_name, Ref};
use super::variables::Variable;
use super::{shape_proto, SignatureInfo};
use crate::checkpoint::Checkpoint;
use crate::opdefs::OpRegistry;
use crate::pb::{self, attr_value::Value, AttrValue, FunctionDef, NodeDef, OpDef};
use crate::TfError;

/// Deepest function nesting accepted (Keras models nest a handful of levels).
const MAX_CALL_DEPTH: usize = 64;

/// Most nodes processed while inlining (large real models have ~10^5): bounds the work of a
/// library whose functions each call the next several times (exponential inlining).
const MAX_PROCESSED_NODES: usize = 2_000_000;
/// A tensor while freezing: an output of an emitted node, or a variable handle.
#[derive(Debug, Clone)]
pub(super) enum Src {
    Tensor(String, usize),
    Var(Rc<Variable>),
}

/// What a processed node stands for.
pub(super) enum NodeOut {
    /// Emitted under this name: output `k` is `name:k`.
    Emitted(String),
    /// Aliases of other tensors (collapsed identities, inlined calls, variables).
    Values(Vec<Src>),
}

/// One graph being walked: the main graph or a function body.
pub(super) struct Scope<'a> {
    /// `None` for the main graph.
    pub(super) function: Option<&'a FunctionDef>,
    pub(super) nodes: HashMap<&'a str, &'a NodeDef>,
    pub(super) args: HashMap<&'a str, Src>,
    /// Prefix of emitted node names (`call/` for an inlined body).
    pub(super) prefix: String,
    /// Main graph only: signature input tensors `(node, k)` replaced by placeholders.
    pub(super) overrides: HashMap<(String, usize), Src>,
    pub(super) values: HashMap<&'a str, NodeOut>,
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

pub(super) struct Freezer<'a> {
    /// The model file, for messages.
    pub(super) path: &'a Path,
    /// The checkpoint prefix (`<dir>/variables/variables`); `None` for a frozen GraphDef.
    pub(super) variables: Option<PathBuf>,
    /// The main graph's nodes.
    pub(super) main: &'a [NodeDef],
    /// Frozen-GraphDef mode ([`inline_calls`]): main-graph nodes other than calls are kept
    /// as they are, under their own names.
    pub(super) keep_main: bool,
    pub(super) ops: OpRegistry<'a>,
    pub(super) functions: HashMap<&'a str, &'a FunctionDef>,
    pub(super) object_graph: Option<&'a pb::SavedObjectGraph>,
    /// Main-graph resource nodes captured by calls → SavedObjectGraph node id.
    pub(super) captured: HashMap<&'a str, i32>,
    pub(super) checkpoint: Option<Checkpoint>,
    /// SavedObjectGraph node id → TrackableObjectGraph node id.
    pub(super) trackable: Option<(pb::TrackableObjectGraph, HashMap<i32, i32>)>,
    pub(super) out: Vec<NodeDef>,
    pub(super) names: HashSet<String>,
    /// Checkpoint key → (Const node name, index in `out`, expected dtype).
    pub(super) var_consts: HashMap<String, (String, usize, Option<i32>)>,
    pub(super) scanned: HashSet<String>,
    pub(super) depth: usize,
    pub(super) processed: usize,
    /// Loop functions frozen in graph form (`loops.rs`), for the frozen graph's library.
    pub(super) frozen_functions: Vec<FunctionDef>,
}

impl<'a> Freezer<'a> {
    pub(super) fn new(
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
            frozen_functions: Vec::new(),
        };
        freezer.captured = freezer.captured_inputs();
        freezer
    }

    pub(super) fn error(&self, message: impl Into<String>) -> TfError {
        TfError::Format { path: self.path.to_path_buf(), message: message.into() }
    }

    pub(super) fn node_error(&self, scope: &Scope, node: &NodeDef, message: impl std::fmt::Display) -> TfError {
        self.error(format!("node '{}{}' ({}){}: {message}", scope.prefix, node.name, node.op, scope.where_()))
    }

    /// A fresh node name based on `base`.
    pub(super) fn unique(&mut self, base: &str) -> String {
        crate::unique_name(&mut self.names, base)
    }

    pub(super) fn freeze(&mut self, signature: &'a SignatureInfo) -> Result<Vec<NodeDef>, TfError> {
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
    pub(super) fn prune<'n>(&self, roots: impl IntoIterator<Item = &'n str>) -> Vec<bool> {
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

    /// Processes what `roots` need in `scope`, returns the roots' tensors.
    pub(super) fn run(&mut self, scope: &mut Scope<'a>, roots: &[Ref<'a>]) -> Result<Vec<Src>, TfError> {
        self.walk(scope, roots)?;
        roots
            .iter()
            .map(|r| self.resolve(scope, *r).map_err(|m| self.error(format!("{m}{}", scope.where_()))))
            .collect()
    }

    /// Processes what `roots` need in `scope`.
    pub(super) fn walk(&mut self, scope: &mut Scope<'a>, roots: &[Ref<'a>]) -> Result<(), TfError> {
        for name in self.order(scope, roots)? {
            let node = scope.nodes[name];
            let value = self.process(scope, node)?;
            scope.values.insert(name, value);
        }
        Ok(())
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
    pub(super) fn resolve(&self, scope: &Scope<'a>, r: Ref<'a>) -> Result<Src, String> {
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
            "While" | "StatelessWhile" => return self.freeze_loop(scope, node, inputs),
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
    pub(super) fn emit(
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

    /// Inlines the function `node` calls; its outputs become the node's outputs.
    fn inline(&mut self, scope: &Scope<'a>, node: &'a NodeDef, inputs: Vec<Src>) -> Result<NodeOut, TfError> {
        let name = call_target(node).unwrap_or(node.op.as_str());
        if self.depth >= MAX_CALL_DEPTH {
            return Err(self.node_error(
                scope,
                node,
                format!("function calls nest deeper than {MAX_CALL_DEPTH} levels (recursion?)"),
            ));
        }
        let (function, signature) = self.callee(scope, node, name, inputs.len())?;
        let mut inner = Scope {
            function: Some(function),
            nodes: function.node_def.iter().map(|n| (n.name.as_str(), n)).collect(),
            args: signature.input_arg.iter().map(|a| a.name.as_str()).zip(inputs).collect(),
            prefix: format!("{}{}/", scope.prefix, node.name),
            overrides: HashMap::new(),
            values: HashMap::new(),
        };
        let roots = self.function_roots(&inner, function, name)?;
        self.depth += 1;
        let outputs = self.run(&mut inner, &roots);
        self.depth -= 1;
        Ok(NodeOut::Values(outputs?))
    }

    /// The tensors function `name` returns, in output order, as references in `scope` (its body).
    pub(super) fn function_roots(
        &self,
        scope: &Scope<'a>,
        function: &'a FunctionDef,
        name: &str,
    ) -> Result<Vec<Ref<'a>>, TfError> {
        let signature =
            function.signature.as_ref().ok_or_else(|| self.error(format!("function '{name}' has no signature")))?;
        let mut roots = Vec::new();
        for arg in &signature.output_arg {
            let ret = function
                .ret
                .get(&arg.name)
                .ok_or_else(|| self.error(format!("function '{name}' does not return its output '{}'", arg.name)))?;
            match scope.parse(ret).map_err(|m| self.error(format!("function '{name}' output '{}': {m}", arg.name)))? {
                Some(r) => roots.push(r),
                None => {
                    return Err(self.error(format!("function '{name}' returns a control edge as output '{}'", arg.name)))
                }
            }
        }
        Ok(roots)
    }

    /// Function `name`, which `node` calls with `arity` inputs, and its signature, scanned
    /// for ops the freezer cannot take; an error names the call if it is undefined or takes
    /// another number of inputs.
    pub(super) fn callee(
        &mut self,
        scope: &Scope,
        node: &NodeDef,
        name: &str,
        arity: usize,
    ) -> Result<(&'a FunctionDef, &'a OpDef), TfError> {
        let Some(&function) = self.functions.get(name) else {
            return Err(self.node_error(
                scope,
                node,
                format!("calls function '{name}', which the SavedModel does not define"),
            ));
        };
        self.scan(name)?;
        let signature = function
            .signature
            .as_ref()
            .ok_or_else(|| self.node_error(scope, node, format!("function '{name}' has no signature")))?;
        if signature.input_arg.len() != arity {
            let takes = signature.input_arg.len();
            return Err(self.node_error(
                scope,
                node,
                format!("passes {arity} inputs to function '{name}', which takes {takes}"),
            ));
        }
        Ok((function, signature))
    }

    /// Refuses writes and control flow anywhere in `name` and the functions it references,
    /// naming the node that calls the function at fault (in a Keras model, its layer's call).
    pub(super) fn scan(&mut self, name: &str) -> Result<(), TfError> {
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
}

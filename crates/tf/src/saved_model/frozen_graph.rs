//! Frozen GraphDefs that still call functions: the calls are inlined, every other node is
//! kept as it is.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::freezer::{Freezer, NodeOut, Scope, Src};
use super::policy::is_call;
use super::refs::{parse_graph_ref, tensor_name, Ref};
use crate::pb::{self, attr_value::Value, AttrValue, NodeDef};
use crate::TfError;

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

impl<'a> Freezer<'a> {
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
    pub(super) fn keep(&mut self, scope: &Scope<'a>, node: &'a NodeDef) -> Result<NodeOut, TfError> {
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
}

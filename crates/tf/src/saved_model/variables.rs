//! Variables become constants: a captured `VarHandleOp` is mapped to its checkpoint key
//! through the object graphs, and each variable read becomes one `Const` filled from the
//! checkpoint after pruning.

use std::collections::HashMap;

use prost::Message;

use super::freezer::{Freezer, NodeOut, Scope, Src};
use super::policy::call_target;
use super::refs::{parse_graph_ref, tensor_name, Ref};
use super::shape_proto;
use crate::checkpoint::{dtype_size, Checkpoint};
use crate::pb::{self, attr_value::Value, AttrValue, DataType, NodeDef, TensorProto, TensorShapeProto};
use crate::TfError;

#[derive(Debug)]
pub(super) struct Variable {
    /// Checkpoint key.
    pub(super) key: String,
    /// TF1 ref variable (`VariableV2`): any non-writing consumer reads its value.
    pub(super) is_ref: bool,
    /// The main-graph node that defines it, for messages.
    pub(super) node: String,
}

impl<'a> Freezer<'a> {
    /// For every main-graph call whose function has `bound_inputs`, its trailing inputs.
    pub(super) fn captured_inputs(&self) -> HashMap<&'a str, i32> {
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
    /// Reads the checkpoint value of every variable constant that survived pruning.
    pub(super) fn fill_variables(&mut self, keep: &[bool]) -> Result<(), TfError> {
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
                    message: format!(
                        "variable '{key}' has type {}, which cannot become a constant",
                        crate::dtype_name(entry.dtype as i32)
                    ),
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
    pub(super) fn const_for(&mut self, var: &Variable, reader: &str, dtype: Option<i32>) -> (String, usize) {
        if let Some((name, i, _)) = self.var_consts.get(&var.key) {
            return (name.clone(), *i);
        }
        let name = self.unique(reader);
        let i = self.out.len();
        self.out.push(NodeDef { name: name.clone(), op: "Const".into(), ..Default::default() });
        self.var_consts.insert(var.key.clone(), (name.clone(), i, dtype));
        (name, i)
    }
    /// `ResourceGather(var, indices)` → `GatherV2(Const, indices, 0)`, as TF's freezer does.
    pub(super) fn resource_gather(
        &mut self,
        scope: &Scope<'a>,
        node: &'a NodeDef,
        inputs: Vec<Src>,
    ) -> Result<NodeOut, TfError> {
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
    /// The checkpoint key of a main-graph `VarHandleOp`.
    pub(super) fn handle_key(&mut self, node: &NodeDef) -> Result<String, TfError> {
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
pub(super) fn match_object_graphs(
    saved: &pb::SavedObjectGraph,
    trackable: &pb::TrackableObjectGraph,
) -> HashMap<i32, i32> {
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

//! Loops: the function form kept for the converter; frozen frames raised back to it, or refused
//! by name.
//!
//! Keras's `LSTM`, `GRU` and `SimpleRNN` layers compile to a `While` loop. In a SavedModel it
//! is a `While`/`StatelessWhile` node whose body and cond are functions (kept, with the
//! functions frozen, see [`crate::saved_model`]; the converter recognises the Keras RNN loops
//! and refuses any other, naming its layer). Freezing rewrites it into a TF1 control-flow frame:
//! `Enter` carries each loop value into the frame its `frame_name` attribute names, `Merge`
//! joins it with the previous step's `NextIteration`, `LoopCond` and `Switch` decide whether
//! to go on, `Exit` leaves. The `NextIteration` → `Merge` edge makes the graph cyclic. The loader
//! raises each frame back to a `While` ([`crate::frames`]); a frame it cannot raise (nested
//! loops, another structure) is refused here, at load, naming the frame, its `LoopCond` and
//! the name scope it came from (the Keras layer), rather than later as a bare cycle.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::pb;
use crate::{TensorRef, TfError};

/// What every refusal of a frame says after naming it.
pub(crate) const NOT_CONVERTED: &str = "is not supported: tf2h5 takes loops as While ops (SavedModels) or as \
     frozen TF1 frames it can raise back to one (one frame per loop, not nested)";

/// The ops only a TF1 while-loop frame has (`Merge` and `Switch` also serve `tf.cond`).
pub(crate) fn is_frame_op(op: &str) -> bool {
    matches!(op, "Enter" | "RefEnter" | "Exit" | "RefExit" | "NextIteration" | "RefNextIteration" | "LoopCond")
}

/// Refuses a graph holding a TF1 while-loop frame, naming it.
pub(crate) fn refuse_frames(path: &Path, graph: &pb::GraphDef) -> Result<(), TfError> {
    let Some(first) = graph.node.iter().find(|n| is_frame_op(&n.op)) else { return Ok(()) };
    let frames: BTreeSet<String> = graph
        .node
        .iter()
        .filter(|n| matches!(n.op.as_str(), "Enter" | "RefEnter"))
        .filter_map(|n| match n.attr.get("frame_name").and_then(|a| a.value.as_ref()) {
            Some(pb::attr_value::Value::S(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        })
        .collect();
    let frame = frames.iter().next().cloned().unwrap_or_default();
    // The frame's LoopCond (one per loop) stands for the loop; else the first frame node.
    let named = graph
        .node
        .iter()
        .find(|n| n.op == "LoopCond" && (frame.is_empty() || n.name.starts_with(&format!("{frame}/"))))
        .unwrap_or(first);
    let mut what = match frame.as_str() {
        "" => "a while loop (TF1 control-flow frame)".to_string(),
        _ => format!("a while loop (TF1 control-flow frame '{frame}', from '{}')", loop_scope(&frame)),
    };
    if frames.len() > 1 {
        what.push_str(&format!(" and {} more", frames.len() - 1));
    }
    Err(TfError::Format {
        path: path.to_path_buf(),
        message: format!("node '{}' ({}): {what} {NOT_CONVERTED}", named.name, named.op),
    })
}

/// The name scope a loop was built in: its name up to the `while` part, without the
/// function calls that inlining leaves in names (`StatefulPartitionedCall/model/lstm/
/// PartitionedCall/while` → `model/lstm`).
pub fn loop_scope(frame: &str) -> String {
    let parts: Vec<&str> = frame.split('/').collect();
    let end = parts.iter().position(|p| p.starts_with("while")).unwrap_or(parts.len());
    let scope: Vec<&str> = parts[..end].iter().copied().filter(|p| !p.ends_with("PartitionedCall")).collect();
    if scope.is_empty() {
        return frame.to_string();
    }
    scope.join("/")
}

/// A loop's `body` or `cond` function as the SavedModel loader freezes it into the graph's
/// library ("graph form"): its nodes hold one `Placeholder` per argument, named after it,
/// and read each other GraphDef-style (`node`, `node:k`).
#[derive(Debug, Clone)]
pub struct LoopFunction {
    /// The function's name in the library.
    pub name: String,
    /// Its nodes, placeholders included.
    pub nodes: Vec<pb::NodeDef>,
    /// The placeholders standing for its arguments, in argument order.
    pub inputs: Vec<String>,
    /// The tensors it returns, in output order.
    pub outputs: Vec<TensorRef>,
}

/// The loop function `name` of `graph`'s library, checked to be in graph form (every
/// argument a placeholder, every input and result a node of the function).
pub fn loop_function(graph: &pb::GraphDef, name: &str) -> Result<LoopFunction, String> {
    let function = graph
        .library
        .iter()
        .flat_map(|l| &l.function)
        .find(|f| f.signature.as_ref().is_some_and(|s| s.name == name))
        .ok_or_else(|| format!("loop function '{name}' is not in the graph's library"))?;
    let signature = function.signature.as_ref().ok_or_else(|| format!("loop function '{name}' has no signature"))?;
    let nodes: HashMap<&str, &pb::NodeDef> = function.node_def.iter().map(|n| (n.name.as_str(), n)).collect();
    let inputs = signature
        .input_arg
        .iter()
        .map(|arg| match nodes.get(arg.name.as_str()) {
            Some(node) if node.op == "Placeholder" => Ok(arg.name.clone()),
            _ => Err(format!("loop function '{name}' is not frozen (argument '{}' is no placeholder)", arg.name)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = signature
        .output_arg
        .iter()
        .map(|arg| {
            function
                .ret
                .get(&arg.name)
                .and_then(|r| TensorRef::parse(r))
                .filter(|r| nodes.contains_key(r.node.as_str()))
                .ok_or_else(|| format!("loop function '{name}' output '{}' names no node of it", arg.name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for node in &function.node_def {
        if let Some(input) =
            node.input.iter().filter_map(|i| TensorRef::parse(i)).find(|i| !nodes.contains_key(i.node.as_str()))
        {
            return Err(format!("loop function '{name}': node '{}' reads '{input}', which is not in it", node.name));
        }
    }
    Ok(LoopFunction { name: name.to_string(), nodes: function.node_def.clone(), inputs, outputs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::node;

    /// `i = 0; while i < 3: i = i + 1`, as TF1 writes it.
    fn counting_loop(frame: &str) -> Vec<pb::NodeDef> {
        let mut enter = node(&format!("{frame}/Enter"), "Enter", &["zero"]);
        let name = pb::AttrValue { value: Some(pb::attr_value::Value::S(frame.as_bytes().to_vec())) };
        enter.attr.insert("frame_name".into(), name);
        let at = |suffix: &str| format!("{frame}/{suffix}");
        vec![
            node("zero", "Const", &[]),
            node("three", "Const", &[]),
            node("one", "Const", &[]),
            enter,
            node(&at("Merge"), "Merge", &[&at("Enter"), &at("NextIteration")]),
            node(&at("Less"), "Less", &[&at("Merge"), "three"]),
            node(&at("LoopCond"), "LoopCond", &[&at("Less")]),
            node(&at("Switch"), "Switch", &[&at("Merge"), &at("LoopCond")]),
            node(&at("Add"), "AddV2", &[&format!("{}:1", at("Switch")), "one"]),
            node(&at("NextIteration"), "NextIteration", &[&at("Add")]),
            node(&at("Exit"), "Exit", &[&at("Switch")]),
        ]
    }

    #[test]
    fn frozen_loops_are_refused_naming_frame_and_scope() {
        let graph = pb::GraphDef { node: counting_loop("model/lstm/PartitionedCall/while"), ..Default::default() };
        let err = refuse_frames(Path::new("m.pb"), &graph).unwrap_err().to_string();
        assert!(
            err.starts_with("m.pb: node 'model/lstm/PartitionedCall/while/LoopCond' (LoopCond): a while loop")
                && err.contains("frame 'model/lstm/PartitionedCall/while', from 'model/lstm'")
                && err.contains("takes loops as While ops (SavedModels) or as frozen TF1 frames"),
            "{err}"
        );
        let mut two = counting_loop("rnn/while/while_context");
        two.extend(counting_loop("b/while").into_iter().filter(|n| n.name.starts_with("b/")));
        let err = refuse_frames(Path::new("m.pb"), &pb::GraphDef { node: two, ..Default::default() })
            .unwrap_err()
            .to_string();
        assert!(err.contains("node 'b/while/LoopCond'") && err.contains("from 'b') and 1 more"), "{err}");
        let straight = pb::GraphDef { node: vec![node("x", "Placeholder", &[])], ..Default::default() };
        assert!(refuse_frames(Path::new("m.pb"), &straight).is_ok());
    }

    #[test]
    fn scopes_drop_the_loop_and_the_layer_call() {
        assert_eq!(loop_scope("model/lstm/PartitionedCall/while"), "model/lstm");
        assert_eq!(loop_scope("rnn/while/while_context"), "rnn");
        assert_eq!(loop_scope("sequential/gru/StatefulPartitionedCall/while"), "sequential/gru");
        assert_eq!(loop_scope("while"), "while");
        assert_eq!(
            loop_scope("StatefulPartitionedCall/StatefulPartitionedCall/model/lstm/PartitionedCall/while"),
            "model/lstm"
        );
    }
}

//! Frozen TF1 loop frames raised back to the `While` they were lowered from.
//!
//! `convert_variables_to_constants_v2` lowers each `While` into a control-flow frame: per
//! loop value `i`, `Enter_i` (the initial value) → `Merge_i(Enter_i, NextIteration_i)` →
//! `Switch_i(Merge_i, LoopCond)`, whose true output feeds the body and whose false output
//! leaves through `Exit_i`; the cond reads the `Merge`s, the body's results go to the
//! `NextIteration`s. A loop-invariant value enters once (`Enter` with `is_constant`, no
//! `Merge`). This module rebuilds the `While`: the cond's and the body's nodes become loop
//! functions in graph form (one `Placeholder` per loop value, see [`crate::LoopFunction`]), an
//! invariant becomes a loop value the body returns unchanged, and every read of `Exit_i`
//! reads `While:i`. The converter and the loop oracle then take a frozen loop as they take a
//! SavedModel's. Nothing here knows what a loop computes.
//!
//! Refused, naming the frame ([`super::loops::refuse_frames`]): nested frames, and frames
//! whose nodes do not form that structure.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::pb::{self, attr_value::Value, AttrValue, FunctionDef, NodeDef, OpDef};
use crate::TensorRef;

/// One loop value of a frame.
struct LoopValue {
    enter: String,
    /// `None` for a loop invariant.
    merge: Option<String>,
    switch: Option<String>,
    next: Option<String>,
    exit: Option<String>,
    dtype: i32,
}

fn frame_name(node: &NodeDef) -> Option<String> {
    match node.attr.get("frame_name").and_then(|a| a.value.as_ref()) {
        Some(Value::S(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    }
}

fn is_frame_op(op: &str) -> bool {
    matches!(op, "Enter" | "Exit" | "NextIteration" | "LoopCond" | "Merge" | "Switch")
}

/// Raises every frame of `graph` into a `While`; `Err` (the frame's name) when a frame
/// cannot be, so the caller refuses it.
pub(crate) fn raise_frames(graph: pb::GraphDef) -> Result<pb::GraphDef, String> {
    let frames: Vec<String> = {
        let mut names: Vec<String> = graph.node.iter().filter(|n| n.op == "Enter").filter_map(frame_name).collect();
        names.sort();
        names.dedup();
        names
    };
    if frames.is_empty() {
        return Ok(graph);
    }
    let mut graph = graph;
    for frame in frames {
        graph = raise(graph, &frame).ok_or(frame)?;
    }
    // Lowering leaves a Placeholder per control input of the lowered op, which nothing reads.
    let read: HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter())
        .filter_map(|i| TensorRef::parse(i.trim_start_matches('^')).map(|r| r.node))
        .collect();
    graph.node.retain(|n| {
        !(n.op == "Placeholder" && n.name.starts_with("unused_control_flow_input") && !read.contains(&n.name))
    });
    Ok(graph)
}

/// The consumers of each node (data inputs), by name.
fn consumers(nodes: &[NodeDef]) -> HashMap<String, Vec<(usize, TensorRef)>> {
    let mut readers: HashMap<String, Vec<(usize, TensorRef)>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for input in node.input.iter().filter_map(|s| TensorRef::parse(s)) {
            readers.entry(input.node.clone()).or_default().push((i, input));
        }
    }
    readers
}

fn raise(graph: pb::GraphDef, frame: &str) -> Option<pb::GraphDef> {
    let nodes = &graph.node;
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect();
    let readers = consumers(nodes);
    let node = |name: &str| index.get(name).map(|&i| &nodes[i]);
    let read_by = |name: &str, op: &str| -> Vec<(&NodeDef, usize)> {
        readers
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(i, _)| nodes[*i].op == op)
            .map(|(i, r)| (&nodes[*i], r.output))
            .collect()
    };
    let mut values = Vec::new();
    let mut loop_cond: Option<String> = None;
    for enter in nodes.iter().filter(|n| n.op == "Enter" && frame_name(n).as_deref() == Some(frame)) {
        // An Enter inside another frame's body: nested loops.
        let outer = TensorRef::parse(enter.input.first()?)?;
        if node(&outer.node).is_some_and(|n| is_frame_op(&n.op) && n.op != "Exit") {
            return None;
        }
        let dtype = match enter.attr.get("T").and_then(|a| a.value.as_ref()) {
            Some(Value::Type(t)) => *t,
            _ => return None,
        };
        let merges = read_by(&enter.name, "Merge");
        let constant = matches!(enter.attr.get("is_constant").and_then(|a| a.value.as_ref()), Some(Value::B(true)));
        if merges.is_empty() && constant {
            values.push(LoopValue {
                enter: enter.name.clone(),
                merge: None,
                switch: None,
                next: None,
                exit: None,
                dtype,
            });
            continue;
        }
        let [(merge, _)] = merges.as_slice() else { return None };
        let next = merge
            .input
            .iter()
            .filter_map(|s| TensorRef::parse(s))
            .find(|r| node(&r.node).is_some_and(|n| n.op == "NextIteration"))?
            .node;
        let [(switch, _)] = read_by(&merge.name, "Switch")[..] else { return None };
        let cond = TensorRef::parse(switch.input.get(1)?)?.node;
        if node(&cond)?.op != "LoopCond" || loop_cond.as_ref().is_some_and(|c| *c != cond) {
            return None;
        }
        loop_cond = Some(cond);
        let exit = read_by(&switch.name, "Exit").into_iter().find(|(_, k)| *k == 0).map(|(n, _)| n.name.clone());
        values.push(LoopValue {
            enter: enter.name.clone(),
            merge: Some(merge.name.clone()),
            switch: Some(switch.name.clone()),
            next: Some(next),
            exit,
            dtype,
        });
    }
    let loop_cond = loop_cond?;
    // Where the cond and the body read the loop values.
    let mut cond_args: HashMap<TensorRef, usize> = HashMap::new();
    let mut body_args: HashMap<TensorRef, usize> = HashMap::new();
    for (i, value) in values.iter().enumerate() {
        match (&value.merge, &value.switch) {
            (Some(merge), Some(switch)) => {
                cond_args.insert(TensorRef { node: merge.clone(), output: 0 }, i);
                body_args.insert(TensorRef { node: switch.clone(), output: 1 }, i);
            }
            _ => {
                let enter = TensorRef { node: value.enter.clone(), output: 0 };
                cond_args.insert(enter.clone(), i);
                body_args.insert(enter, i);
            }
        }
    }
    let cond_root = TensorRef::parse(node(&loop_cond)?.input.first()?)?;
    let body_roots: Vec<TensorRef> = values
        .iter()
        .map(|v| match &v.next {
            Some(next) => TensorRef::parse(node(next)?.input.first()?),
            // An invariant: the body hands it on unchanged.
            None => Some(TensorRef { node: v.enter.clone(), output: 0 }),
        })
        .collect::<Option<_>>()?;
    let types: Vec<i32> = values.iter().map(|v| v.dtype).collect();
    let body_name = format!("{frame}/body");
    let cond_name = format!("{frame}/cond");
    let body = function(&graph, &index, &body_name, &body_args, &body_roots, &types)?;
    let cond = function(&graph, &index, &cond_name, &cond_args, &[cond_root], &types)?;
    // The frame's nodes go; the cond's and the body's then read what is gone, and go with
    // what reads them (below), while what they share with the rest of the graph stays.
    let mut taken: HashSet<String> = HashSet::new();
    for value in &values {
        taken.extend(
            [Some(&value.enter), value.merge.as_ref(), value.switch.as_ref(), value.next.as_ref(), value.exit.as_ref()]
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    taken.insert(loop_cond);
    let mut used: HashSet<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let while_name = crate::unique_name(&mut used, frame);
    let mut while_node = NodeDef {
        name: while_name.clone(),
        op: "While".into(),
        input: values.iter().map(|v| node(&v.enter).and_then(|e| e.input.first().cloned())).collect::<Option<_>>()?,
        ..Default::default()
    };
    let list = pb::attr_value::ListValue { r#type: types.clone(), ..Default::default() };
    while_node.attr.insert("T".into(), AttrValue { value: Some(Value::List(list)) });
    for (attr, name) in [("body", &body_name), ("cond", &cond_name)] {
        let func = pb::NameAttrList { name: name.clone(), attr: HashMap::new() };
        while_node.attr.insert(attr.into(), AttrValue { value: Some(Value::Func(func)) });
    }
    let exits: HashMap<String, usize> =
        values.iter().enumerate().filter_map(|(i, v)| v.exit.clone().map(|e| (e, i))).collect();
    let mut graph = graph;
    let mut kept: Vec<NodeDef> = Vec::new();
    for mut node in std::mem::take(&mut graph.node) {
        if taken.contains(&node.name) {
            continue;
        }
        node.input = node
            .input
            .iter()
            .filter_map(|input| {
                let control = input.starts_with('^');
                let reference = TensorRef::parse(input.trim_start_matches('^'))?;
                match exits.get(&reference.node) {
                    Some(&i) if !control => Some(format!("{while_name}:{i}")),
                    Some(_) => Some(format!("^{while_name}")),
                    None if taken.contains(&reference.node) && control => None,
                    None => Some(input.clone()),
                }
            })
            .collect();
        kept.push(node);
    }
    // Nodes left reading the frame are its cond and body (or dead): drop them, and what
    // reads them.
    loop {
        let names: HashSet<&str> = kept.iter().map(|n| n.name.as_str()).chain([while_name.as_str()]).collect();
        let dead: HashSet<String> = kept
            .iter()
            .filter(|n| n.input.iter().filter_map(|i| TensorRef::parse(i)).any(|r| !names.contains(r.node.as_str())))
            .map(|n| n.name.clone())
            .collect();
        if dead.is_empty() {
            break;
        }
        kept.retain(|n| !dead.contains(&n.name));
        for n in &mut kept {
            n.input.retain(|i| !(i.starts_with('^') && dead.contains(&i[1..])));
        }
    }
    kept.push(while_node);
    graph.node = kept;
    let library = graph.library.get_or_insert_with(Default::default);
    library.function.push(body);
    library.function.push(cond);
    Some(graph)
}

/// The loop function `name`: the nodes computing `roots` from the loop values (`args`: where
/// the frame hands value `i` over), in graph form.
fn function(
    graph: &pb::GraphDef,
    index: &HashMap<&str, usize>,
    name: &str,
    args: &HashMap<TensorRef, usize>,
    roots: &[TensorRef],
    types: &[i32],
) -> Option<FunctionDef> {
    let placeholder = |i: usize| format!("arg_{i}");
    let mut members: BTreeMap<usize, NodeDef> = BTreeMap::new();
    let mut stack: Vec<String> = roots.iter().filter(|r| !args.contains_key(*r)).map(|r| r.node.clone()).collect();
    let rename = |reference: &TensorRef| -> String {
        match args.get(reference) {
            Some(&i) => placeholder(i),
            None => reference.to_string(),
        }
    };
    while let Some(current) = stack.pop() {
        let &i = index.get(current.as_str())?;
        if members.contains_key(&i) {
            continue;
        }
        let mut node = graph.node[i].clone();
        if matches!(node.op.as_str(), "Enter" | "Merge" | "Switch" | "Exit" | "NextIteration" | "LoopCond") {
            return None;
        }
        let mut inputs = Vec::new();
        for input in &node.input {
            if input.starts_with('^') {
                continue;
            }
            let reference = TensorRef::parse(input)?;
            if !args.contains_key(&reference) {
                stack.push(reference.node.clone());
            }
            inputs.push(rename(&reference));
        }
        node.input = inputs;
        members.insert(i, node);
    }
    let mut node_def: Vec<NodeDef> = (0..types.len())
        .map(|i| {
            let mut p = NodeDef { name: placeholder(i), op: "Placeholder".into(), ..Default::default() };
            p.attr.insert("dtype".into(), AttrValue { value: Some(Value::Type(types[i])) });
            p
        })
        .collect();
    node_def.extend(members.into_values());
    let input_arg = types
        .iter()
        .enumerate()
        .map(|(i, t)| pb::op_def::ArgDef { name: placeholder(i), r#type: *t, ..Default::default() })
        .collect();
    let mut ret = HashMap::new();
    let mut output_arg = Vec::new();
    for (k, root) in roots.iter().enumerate() {
        let out = format!("out_{k}");
        ret.insert(out.clone(), rename(root));
        output_arg.push(pb::op_def::ArgDef { name: out, ..Default::default() });
    }
    let signature = OpDef { name: name.to_string(), input_arg, output_arg, ..Default::default() };
    Some(FunctionDef { signature: Some(signature), node_def, ret, ..Default::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::node;

    fn attr(value: Value) -> AttrValue {
        AttrValue { value: Some(value) }
    }

    /// `i = 0; while i < 3: i = i + step` with `step` a loop invariant, as lowering writes it,
    /// and `out = Exit(i) * 2` after it; `frame` nests the loop in another one's when set.
    fn counting_loop(outer_frame: Option<&str>) -> Vec<NodeDef> {
        let enter = |name: &str, input: &str, constant: bool| {
            let mut n = node(name, "Enter", &[input]);
            n.attr.insert("frame_name".into(), attr(Value::S(b"count/while".to_vec())));
            n.attr.insert("T".into(), attr(Value::Type(pb::DataType::DtInt32 as i32)));
            n.attr.insert("is_constant".into(), attr(Value::B(constant)));
            n
        };
        let mut nodes = vec![node("zero", "Const", &[]), node("three", "Const", &[]), node("step", "Const", &[])];
        let start = match outer_frame {
            Some(outer) => {
                let mut outer_enter = node("outer/Enter", "Enter", &["zero"]);
                outer_enter.attr.insert("frame_name".into(), attr(Value::S(outer.as_bytes().to_vec())));
                nodes.push(outer_enter);
                "outer/Enter"
            }
            None => "zero",
        };
        nodes.extend([
            enter("count/while/Enter", start, false),
            enter("count/while/Enter_1", "step", true),
            node("count/while/Merge", "Merge", &["count/while/Enter", "count/while/NextIteration"]),
            node("count/while/Less", "Less", &["count/while/Merge", "three"]),
            node("count/while/LoopCond", "LoopCond", &["count/while/Less"]),
            node("count/while/Switch", "Switch", &["count/while/Merge", "count/while/LoopCond"]),
            node("count/while/Identity", "Identity", &["count/while/Switch:1"]),
            node("count/while/Add", "AddV2", &["count/while/Identity", "count/while/Enter_1"]),
            node("count/while/NextIteration", "NextIteration", &["count/while/Add"]),
            node("count/while/Exit", "Exit", &["count/while/Switch"]),
            node("out", "Mul", &["count/while/Exit", "three"]),
        ]);
        nodes
    }

    #[test]
    fn frames_are_raised_to_while_loops_with_graph_form_functions() {
        let graph = pb::GraphDef { node: counting_loop(None), ..Default::default() };
        let raised = raise_frames(graph).unwrap();
        let names: Vec<&str> = raised.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["zero", "three", "step", "out", "count/while"], "the frame, cond and body are gone");
        let while_node = &raised.node[4];
        assert_eq!((while_node.op.as_str(), while_node.input.clone()), ("While", vec!["zero".into(), "step".into()]));
        assert_eq!(raised.node[3].input, ["count/while:0", "three"]);
        let body = crate::loop_function(&raised, "count/while/body").unwrap();
        let cond = crate::loop_function(&raised, "count/while/cond").unwrap();
        assert_eq!(body.inputs, ["arg_0", "arg_1"]);
        // The counter steps by the invariant, which the body hands on unchanged.
        let add = body.nodes.iter().find(|n| n.name == "count/while/Add").unwrap();
        assert_eq!(add.input, ["count/while/Identity", "arg_1"]);
        let outputs: Vec<String> = body.outputs.iter().map(|r| r.to_string()).collect();
        assert_eq!(outputs, ["count/while/Add", "arg_1"]);
        let less = cond.nodes.iter().find(|n| n.op == "Less").unwrap();
        assert_eq!(less.input, ["arg_0", "three"]);
        // `three` is outside the frame, read directly: a function holds it too.
        assert!(cond.nodes.iter().any(|n| n.name == "three"));
        crate::TfGraph::new("m.pb".into(), raised).unwrap();
    }

    #[test]
    fn nested_frames_are_not_raised() {
        let graph = pb::GraphDef { node: counting_loop(Some("outer/while")), ..Default::default() };
        assert_eq!(raise_frames(graph).unwrap_err(), "count/while");
    }
}

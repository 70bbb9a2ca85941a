//! Integer ids in a graph: how far their values may go. An int32/int64 tensor that a graph
//! reads as ids (token ids, class indices) is bounded by what reads it, through ops that keep
//! its values (reshapes, slices, casts): the row count of a constant table it gathers from (an
//! embedding lookup), or the depth of a `OneHot`; the smallest bound wins. Verification draws
//! random ids below it, and the converter tabulates functions of ids (a padding mask) over it.
//!
//! An integer that only a `Cast` to bool reads (keras-hub's `padding_mask` input) is a 0/1 mask
//! by contract: the cast takes any nonzero value for true, but a mask holds 0 and 1, so that is
//! its range ([`MASK_BOUND`]) when nothing else bounds it.

use std::collections::HashMap;

use crate::{pb::DataType, pb::NodeDef, ConstTensor, NodeExt, TensorRef, TfGraph};

/// Ops whose output holds the values of their first input (reshaped, sliced or cast; a `Cast`
/// to bool does not: see [`preserves_values`]).
pub const VALUE_PRESERVING: &[&str] =
    &["Identity", "Cast", "ExpandDims", "Reshape", "Squeeze", "StridedSlice", "Transpose", "Slice"];

/// The range (exclusive) of an integer that nothing bounds but a `Cast` to bool: a 0/1 mask.
pub const MASK_BOUND: i64 = 2;

/// Whether `node` is a `Cast` to bool (`x != 0`, the reading of an integer mask).
pub fn casts_to_bool(node: &NodeDef) -> bool {
    node.op == "Cast" && node.attr_type_opt("DstT").ok().flatten() == Some(DataType::DtBool as i32)
}

/// Whether `node`'s output holds the values of its first input: a [`VALUE_PRESERVING`] op
/// other than a `Cast` to bool.
pub fn preserves_values(node: &NodeDef) -> bool {
    VALUE_PRESERVING.contains(&node.op.as_str()) && !casts_to_bool(node)
}

/// How far from the ids a bound is still looked for.
const MAX_DEPTH: usize = 8;

/// The smallest upper bound (exclusive) the readers of node `name`'s output put on its values,
/// found through [`preserves_values`] ops and Keras 3's wrapping of negative ids
/// ([`wrapped_ids`]); else [`MASK_BOUND`] when a `Cast` to bool reads them; `None` when
/// nothing bounds them.
pub fn id_bound(graph: &TfGraph, name: &str) -> Option<i64> {
    let mut readers: HashMap<&str, Vec<(&NodeDef, usize)>> = HashMap::new();
    for node in graph.nodes() {
        for (position, input) in graph.data_inputs(node).enumerate() {
            if let Some(producer) = graph.node(&input.node) {
                readers.entry(producer.name.as_str()).or_default().push((node, position));
            }
        }
    }
    let mut best: Option<i64> = None;
    let mut read_as_mask = false;
    let mut frontier = vec![name];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for tensor in frontier {
            for &(reader, position) in readers.get(tensor).map(Vec::as_slice).unwrap_or_default() {
                let found = match (reader.op.as_str(), position) {
                    ("GatherV2" | "Gather" | "ResourceGather", 1) => table_rows(graph, reader),
                    ("OneHot", 0) => const_scalar(graph, reader, 1),
                    ("Cast", 0) if casts_to_bool(reader) => {
                        read_as_mask = true;
                        None
                    }
                    (_, 0) if preserves_values(reader) => {
                        next.push(reader.name.as_str());
                        None
                    }
                    ("SelectV2", 2) if wrapped_ids(graph, reader).is_some() => {
                        next.push(reader.name.as_str());
                        None
                    }
                    _ => None,
                };
                if let Some(high) = found.filter(|&h| h > 0) {
                    best = Some(best.map_or(high, |b| b.min(high)));
                }
            }
        }
        frontier = next;
    }
    best.or(read_as_mask.then_some(MASK_BOUND))
}

/// The node whose values `name`'s output holds, followed back through [`preserves_values`]
/// ops and [`wrapped_ids`] (the ids a reshaped or sliced copy came from).
pub fn id_source<'g>(graph: &'g TfGraph, name: &str) -> Option<&'g NodeDef> {
    let mut node = graph.node(name)?;
    for _ in 0..graph.nodes().len() {
        let previous = if preserves_values(node) {
            graph.data_inputs(node).next()?
        } else if let Some(ids) = wrapped_ids(graph, node) {
            ids
        } else {
            break;
        };
        node = graph.node(&previous.node)?;
    }
    Some(node)
}

/// The ids `select` passes on when it is Keras 3's wrapping of negative indices before a
/// gather (`take` on the TensorFlow backend): `SelectV2(Less(ids, 0), AddV2(ids, rows), ids)`.
/// For the valid ids of a table (`0..rows`) it is `ids` itself.
pub fn wrapped_ids(graph: &TfGraph, select: &NodeDef) -> Option<TensorRef> {
    if select.op != "SelectV2" {
        return None;
    }
    let inputs: Vec<TensorRef> = graph.data_inputs(select).collect();
    let [condition, wrapped, ids] = <[TensorRef; 3]>::try_from(inputs).ok()?;
    let reads_ids = |tensor: &TensorRef, op: &str| -> Option<&NodeDef> {
        let node = graph.node(&tensor.node).filter(|n| n.op == op && tensor.output == 0)?;
        (graph.data_inputs(node).next().as_ref() == Some(&ids)).then_some(node)
    };
    let less = reads_ids(&condition, "Less")?;
    reads_ids(&wrapped, "AddV2")?;
    let zero = graph.data_inputs(less).nth(1).and_then(|t| graph.const_value(&t.node).ok().flatten());
    (zero?.as_ints()?.iter().all(|&v| v == 0)).then_some(ids)
}

/// The length of axis 0 of a gather's constant table (axis 0 only).
fn table_rows(graph: &TfGraph, gather: &NodeDef) -> Option<i64> {
    let table = constant_input(graph, gather, 0)?;
    if gather.op == "GatherV2" && const_scalar(graph, gather, 2) != Some(0) {
        return None;
    }
    table.shape().first().map(|&rows| rows as i64)
}

/// Input `index` of `node` if it is a constant integer scalar.
fn const_scalar(graph: &TfGraph, node: &NodeDef, index: usize) -> Option<i64> {
    let value = constant_input(graph, node, index)?;
    let ints = value.as_ints()?;
    (ints.len() == 1).then(|| ints.iter().next().copied()).flatten()
}

/// Input `index` of `node` if it is a constant, read through `Identity` (frozen variables).
fn constant_input(graph: &TfGraph, node: &NodeDef, index: usize) -> Option<ConstTensor> {
    let mut producer = graph.node(&graph.data_inputs(node).nth(index)?.node)?;
    for _ in 0..MAX_DEPTH {
        if producer.op != "Identity" {
            break;
        }
        producer = graph.node(&graph.data_inputs(producer).next()?.node)?;
    }
    graph.const_value(&producer.name).ok()?
}

//! The values an integer or boolean input may take, read from the graph, so random samples
//! are valid ids: a `bool` is 0 or 1, a `uint8` 0..256; an int32/int64 input is bounded by
//! what reads it (through pass-through ops): the row count of a constant table it gathers
//! from (an embedding lookup), or the depth of a `OneHot`. The smallest bound wins.
//! Independent of the converter: this reads the TF graph, not the Keras layers.

use std::collections::HashMap;

use tf2h5_tf::{pb::DataType, NodeExt, TfGraph};

use crate::VerifyError;

/// Ops whose output holds the values of their first input (reshaped, sliced or cast).
const VALUE_PRESERVING: &[&str] =
    &["Identity", "Cast", "ExpandDims", "Reshape", "Squeeze", "StridedSlice", "Transpose", "Slice"];

/// How far from the input a bound is still looked for.
const MAX_DEPTH: usize = 8;

/// Integer range `low..high` of input `name`'s values; `None` for a float input. An
/// int32/int64 input nothing in the graph bounds takes the range of the user's data for it
/// (`given`: smallest and largest value), else is refused, naming it and saying what to pass.
pub fn input_range(graph: &TfGraph, name: &str, given: Option<(i64, i64)>) -> Result<Option<(i64, i64)>, VerifyError> {
    let Some(node) = graph.node(name) else { return Ok(None) };
    let dtype = node.attr_type_opt("dtype")?.and_then(|t| DataType::try_from(t).ok());
    match dtype {
        Some(DataType::DtBool) => Ok(Some((0, 2))),
        Some(DataType::DtUint8) => Ok(Some((0, 256))),
        Some(t @ (DataType::DtInt32 | DataType::DtInt64)) => match (bound(graph, name), given) {
            (Some(high), _) => Ok(Some((0, high))),
            (None, Some((min, max))) => Ok(Some((min, max + 1))),
            (None, None) => Err(VerifyError::Input(format!(
                "input '{name}' ({}) has no value range tf2h5 can infer (no embedding table or OneHot reads it): \
                 pass its data with --input {name}=FILE.npy",
                tf2h5_tf::dtype_name(t as i32)
            ))),
        },
        _ => Ok(None),
    }
}

/// The smallest upper bound the readers of `name` put on its values.
fn bound(graph: &TfGraph, name: &str) -> Option<i64> {
    let mut readers: HashMap<&str, Vec<(&tf2h5_tf::pb::NodeDef, usize)>> = HashMap::new();
    for node in graph.nodes() {
        for (position, input) in graph.data_inputs(node).enumerate() {
            if let Some(producer) = graph.node(&input.node) {
                readers.entry(producer.name.as_str()).or_default().push((node, position));
            }
        }
    }
    let mut best: Option<i64> = None;
    let mut frontier = vec![name];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for tensor in frontier {
            for &(reader, position) in readers.get(tensor).map(Vec::as_slice).unwrap_or_default() {
                let found = match (reader.op.as_str(), position) {
                    ("GatherV2" | "Gather" | "ResourceGather", 1) => table_rows(graph, reader),
                    ("OneHot", 0) => const_scalar(graph, reader, 1),
                    (op, 0) if VALUE_PRESERVING.contains(&op) => {
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
    best
}

/// The length of axis 0 of a gather's constant table (axis 0 only).
fn table_rows(graph: &TfGraph, gather: &tf2h5_tf::pb::NodeDef) -> Option<i64> {
    let table = constant_input(graph, gather, 0)?;
    if gather.op == "GatherV2" && const_scalar(graph, gather, 2) != Some(0) {
        return None;
    }
    table.shape().first().map(|&rows| rows as i64)
}

/// Input `index` of `node` if it is a constant integer scalar.
fn const_scalar(graph: &TfGraph, node: &tf2h5_tf::pb::NodeDef, index: usize) -> Option<i64> {
    let value = constant_input(graph, node, index)?;
    let ints = value.as_ints()?;
    (ints.len() == 1).then(|| ints.iter().next().copied()).flatten()
}

/// Input `index` of `node` if it is a constant, read through `Identity` (frozen variables).
fn constant_input(graph: &TfGraph, node: &tf2h5_tf::pb::NodeDef, index: usize) -> Option<tf2h5_tf::ConstTensor> {
    let mut producer = graph.node(&graph.data_inputs(node).nth(index)?.node)?;
    for _ in 0..MAX_DEPTH {
        if producer.op != "Identity" {
            break;
        }
        producer = graph.node(&graph.data_inputs(producer).next()?.node)?;
    }
    graph.const_value(&producer.name).ok()?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_tf::pb::{attr_value::Value, AttrValue, GraphDef, NodeDef, TensorProto, TensorShapeProto};

    fn node(name: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, Value)>) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            attr: attrs.into_iter().map(|(k, v)| (k.to_string(), AttrValue { value: Some(v) })).collect(),
            ..Default::default()
        }
    }

    fn placeholder(name: &str, dtype: DataType) -> NodeDef {
        node(name, "Placeholder", &[], vec![("dtype", Value::Type(dtype as i32))])
    }

    fn constant(name: &str, dims: &[i64], dtype: DataType, ints: Vec<i32>) -> NodeDef {
        let shape = TensorShapeProto {
            dim: dims.iter().map(|&size| tf2h5_tf::pb::tensor_shape_proto::Dim { size, name: String::new() }).collect(),
            unknown_rank: false,
        };
        let count = dims.iter().product::<i64>() as usize;
        let tensor = TensorProto {
            dtype: dtype as i32,
            tensor_shape: Some(shape),
            int_val: ints,
            float_val: if dtype == DataType::DtFloat { vec![0.5; count] } else { vec![] },
            ..Default::default()
        };
        node(name, "Const", &[], vec![("value", Value::Tensor(tensor)), ("dtype", Value::Type(dtype as i32))])
    }

    fn graph(nodes: Vec<NodeDef>) -> TfGraph {
        TfGraph::new("test.pb".into(), GraphDef { node: nodes, ..Default::default() }).unwrap()
    }

    #[test]
    fn ranges_come_from_tables_one_hot_depths_and_types() {
        let graph = graph(vec![
            placeholder("ids", DataType::DtInt32),
            placeholder("mask", DataType::DtBool),
            placeholder("bytes", DataType::DtUint8),
            placeholder("x", DataType::DtFloat),
            placeholder("free", DataType::DtInt64),
            constant("table", &[50, 8], DataType::DtFloat, vec![]),
            node("frozen_table", "Identity", &["table"], vec![]),
            constant("axis", &[], DataType::DtInt32, vec![0]),
            constant("depth", &[], DataType::DtInt32, vec![30]),
            node("wide", "Cast", &["ids"], vec![]),
            node("lookup", "GatherV2", &["frozen_table", "wide", "axis"], vec![]),
            node("flat", "Reshape", &["ids", "axis"], vec![]),
            node("hot", "OneHot", &["flat", "depth"], vec![]),
        ]);
        // The smaller of the table's 50 rows and the one-hot depth of 30.
        assert_eq!(input_range(&graph, "ids", None).unwrap(), Some((0, 30)));
        assert_eq!(input_range(&graph, "mask", None).unwrap(), Some((0, 2)));
        assert_eq!(input_range(&graph, "bytes", None).unwrap(), Some((0, 256)));
        assert_eq!(input_range(&graph, "x", None).unwrap(), None);
        assert_eq!(input_range(&graph, "free", Some((-3, 7))).unwrap(), Some((-3, 8)));
        let refusal = input_range(&graph, "free", None).unwrap_err().to_string();
        assert!(refusal.contains("input 'free' (int64)") && refusal.contains("--input free="), "{refusal}");
    }
}

//! The values an integer or boolean input may take, read from the graph, so random samples
//! are valid ids: a `bool` is 0 or 1, a `uint8` 0..256; an int32/int64 input is bounded by
//! what reads it ([`tf2h5_tf::ids::id_bound`]: an embedding table's rows, a `OneHot` depth).
//! Independent of the converter: this reads the TF graph, not the Keras layers.

use tf2h5_tf::{pb::DataType, NodeExt, TfGraph};

use crate::VerifyError;

/// Integer range `low..high` of input `name`'s values; `None` for a float input. An
/// int32/int64 input nothing in the graph bounds takes the range of the user's data for it
/// (`given`: smallest and largest value), else is refused, naming it and saying what to pass.
pub fn input_range(graph: &TfGraph, name: &str, given: Option<(i64, i64)>) -> Result<Option<(i64, i64)>, VerifyError> {
    let Some(node) = graph.node(name) else { return Ok(None) };
    let dtype = node.attr_type_opt("dtype")?.and_then(|t| DataType::try_from(t).ok());
    match dtype {
        Some(DataType::DtBool) => Ok(Some((0, 2))),
        Some(DataType::DtUint8) => Ok(Some((0, 256))),
        Some(t @ (DataType::DtInt32 | DataType::DtInt64)) => match (tf2h5_tf::ids::id_bound(graph, name), given) {
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
            placeholder("padding_mask", DataType::DtInt32),
            node("expand", "ExpandDims", &["padding_mask", "axis"], vec![]),
            node("keep", "Cast", &["expand"], vec![("DstT", Value::Type(DataType::DtBool as i32))]),
            node("ids_keep", "Cast", &["ids"], vec![("DstT", Value::Type(DataType::DtBool as i32))]),
        ]);
        // The smaller of the table's 50 rows and the one-hot depth of 30.
        assert_eq!(input_range(&graph, "ids", None).unwrap(), Some((0, 30)));
        assert_eq!(input_range(&graph, "mask", None).unwrap(), Some((0, 2)));
        // An int32 mask only a cast to bool reads is 0 or 1 by contract; a cast of ids does
        // not narrow what their table allows.
        assert_eq!(input_range(&graph, "padding_mask", None).unwrap(), Some((0, 2)));
        assert_eq!(input_range(&graph, "bytes", None).unwrap(), Some((0, 256)));
        assert_eq!(input_range(&graph, "x", None).unwrap(), None);
        assert_eq!(input_range(&graph, "free", Some((-3, 7))).unwrap(), Some((-3, 8)));
        let refusal = input_range(&graph, "free", None).unwrap_err().to_string();
        assert!(refusal.contains("input 'free' (int64)") && refusal.contains("--input free="), "{refusal}");
    }
}

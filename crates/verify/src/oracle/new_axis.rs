//! `StridedSlice` with a `new_axis_mask` (`mask[:, tf.newaxis, :]`, as a padding mask is
//! broadcast over the queries): tract's rule ignores the mask and slices the input as if the new
//! axes were input axes. The oracle writes the op out as TF defines it: the same slice without
//! the new-axis entries (begin, end, strides and the masks compacted), then one `ExpandDims` per
//! new axis at its place in the output, under the node's own name.

use tract_tensorflow::tfpb::tensorflow::{attr_value, tensor_shape_proto, AttrValue, DataType, GraphDef, NodeDef};
use tract_tensorflow::tfpb::tensorflow::{TensorProto, TensorShapeProto};

/// Rewrites every `StridedSlice` of `graph` with new axes, no ellipsis and constant int32
/// begin/end/strides (as TF writes a Python slice); any other is left to tract.
pub(crate) fn strided_slice_new_axes(graph: &mut GraphDef) {
    let int_attr = |node: &NodeDef, key: &str| match node.attr.get(key).and_then(|a| a.value.as_ref()) {
        Some(attr_value::Value::I(v)) => *v,
        _ => 0,
    };
    let constant = |graph: &GraphDef, name: &str| -> Option<Vec<i64>> {
        let node = graph.node.iter().find(|n| n.name == name && n.op == "Const")?;
        let value = tf2h5_tf::ConstTensor::from_node(node).ok()?;
        Some(value.as_ints()?.iter().copied().collect())
    };
    let targets: Vec<usize> = (0..graph.node.len())
        .filter(|&i| {
            let node = &graph.node[i];
            node.op == "StridedSlice"
                && int_attr(node, "new_axis_mask") != 0
                && int_attr(node, "ellipsis_mask") == 0
                && node.input.len() == 4
        })
        .collect();
    for index in targets {
        let node = graph.node[index].clone();
        let specs: Option<Vec<Vec<i64>>> = node.input[1..4].iter().map(|name| constant(graph, name)).collect();
        let Some([begin, end, strides]) = specs.and_then(|s| <[Vec<i64>; 3]>::try_from(s).ok()) else { continue };
        if begin.len() != end.len() || begin.len() != strides.len() || begin.len() > 32 {
            continue;
        }
        let bit = |key: &str, j: usize| int_attr(&node, key) & (1 << j) != 0;
        let (mut kept, mut new_axes) = (Vec::new(), Vec::new());
        let mut output_axis = 0;
        for j in 0..begin.len() {
            if bit("new_axis_mask", j) {
                new_axes.push(output_axis);
                output_axis += 1;
            } else {
                kept.push(j);
                output_axis += usize::from(!bit("shrink_axis_mask", j));
            }
        }
        let compact =
            |key: &str| -> i64 { kept.iter().enumerate().filter(|(_, &j)| bit(key, j)).map(|(k, _)| 1i64 << k).sum() };
        let name = node.name.clone();
        let mut slice = node.clone();
        slice.name = format!("{name}/tf2h5_slice");
        for (input, (key, values)) in [("begin", &begin), ("end", &end), ("strides", &strides)].into_iter().enumerate()
        {
            let picked: Vec<i64> = kept.iter().map(|&j| values[j]).collect();
            let const_name = format!("{name}/tf2h5_{key}");
            graph.node.push(int32_const(&const_name, &picked));
            slice.input[input + 1] = const_name;
        }
        for key in ["begin_mask", "end_mask", "shrink_axis_mask"] {
            slice.attr.insert(key.into(), AttrValue { value: Some(attr_value::Value::I(compact(key))) });
        }
        slice.attr.insert("new_axis_mask".into(), AttrValue { value: Some(attr_value::Value::I(0)) });
        let mut previous = slice.name.clone();
        graph.node[index] = slice;
        for (k, &axis) in new_axes.iter().enumerate() {
            let last = k + 1 == new_axes.len();
            let expand_name = if last { name.clone() } else { format!("{name}/tf2h5_new_axis_{k}") };
            let axis_name = format!("{name}/tf2h5_axis_{k}");
            graph.node.push(int32_const(&axis_name, &[axis as i64]));
            let mut attr = std::collections::HashMap::new();
            if let Some(t) = node.attr.get("T") {
                attr.insert("T".to_string(), t.clone());
            }
            attr.insert(
                "Tdim".to_string(),
                AttrValue { value: Some(attr_value::Value::Type(DataType::DtInt32 as i32)) },
            );
            graph.node.push(NodeDef {
                name: expand_name.clone(),
                op: "ExpandDims".into(),
                input: vec![previous, axis_name],
                attr: attr.into_iter().collect(),
                ..Default::default()
            });
            previous = expand_name;
        }
    }
}

/// A `Const` node holding `values` as an int32 vector (a scalar for one value).
fn int32_const(name: &str, values: &[i64]) -> NodeDef {
    let shape = TensorShapeProto {
        dim: vec![tensor_shape_proto::Dim { size: values.len() as i64, name: String::new() }],
        unknown_rank: false,
    };
    let tensor = TensorProto {
        dtype: DataType::DtInt32 as i32,
        tensor_shape: Some(shape),
        int_val: values.iter().map(|&v| v as i32).collect(),
        ..Default::default()
    };
    NodeDef {
        name: name.into(),
        op: "Const".into(),
        attr: [
            ("value".to_string(), AttrValue { value: Some(attr_value::Value::Tensor(tensor)) }),
            ("dtype".to_string(), AttrValue { value: Some(attr_value::Value::Type(DataType::DtInt32 as i32)) }),
        ]
        .into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::Oracle;
    use ndarray::ArrayD;

    fn node(name: &str, op: &str, inputs: &[&str], attrs: &[(&str, attr_value::Value)]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            attr: attrs.iter().map(|(k, v)| (k.to_string(), AttrValue { value: Some(v.clone()) })).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn new_axes_are_inserted_where_tf_puts_them() {
        // x[:, tf.newaxis, 1, 1:3, tf.newaxis] on x of shape (2, 3, 4): shape (2, 1, 2, 1), x[b, 1, 1:3].
        let float = attr_value::Value::Type(DataType::DtFloat as i32);
        let graph = GraphDef {
            node: vec![
                node("x", "Placeholder", &[], &[("dtype", float.clone())]),
                int32_const("begin", &[0, 0, 1, 1, 0]),
                int32_const("end", &[0, 0, 2, 3, 0]),
                int32_const("strides", &[1, 1, 1, 1, 1]),
                node(
                    "slice",
                    "StridedSlice",
                    &["x", "begin", "end", "strides"],
                    &[
                        ("T", float),
                        ("begin_mask", attr_value::Value::I(1)),
                        ("end_mask", attr_value::Value::I(1)),
                        ("new_axis_mask", attr_value::Value::I(0b10010)),
                        ("shrink_axis_mask", attr_value::Value::I(0b100)),
                    ],
                ),
            ],
            ..Default::default()
        };
        let oracle = Oracle::new(&graph, &[("x".into(), vec![2, 3, 4])], &["slice".into()]).unwrap();
        let x = ArrayD::from_shape_vec(vec![2, 3, 4], (0..24).map(|v| v as f32).collect()).unwrap();
        let y = oracle.run(&[x]).unwrap().remove(0);
        assert_eq!(y.shape(), [2, 1, 2, 1]);
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), [5.0, 6.0, 17.0, 18.0]);
    }
}

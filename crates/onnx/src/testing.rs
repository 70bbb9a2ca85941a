//! Test helpers: tiny ONNX graphs built by hand, translated.

use std::path::Path;

use tf2h5_tf::TfGraph;
use tract_onnx::pb::{GraphProto, NodeProto};

use crate::translator::translate;
use crate::Options;

pub(crate) fn value_info(name: &str, dims: &[i64]) -> tract_onnx::pb::ValueInfoProto {
    typed_value_info(name, dims, tract_onnx::pb::tensor_proto::DataType::Float)
}

/// A tensor of ONNX type `elem_type` and `dims` (negative: the batch).
pub(crate) fn typed_value_info(
    name: &str,
    dims: &[i64],
    elem_type: tract_onnx::pb::tensor_proto::DataType,
) -> tract_onnx::pb::ValueInfoProto {
    use tract_onnx::pb::{
        tensor_shape_proto::dimension::Value as DimValue, tensor_shape_proto::Dimension, type_proto, TensorShapeProto,
        TypeProto, ValueInfoProto,
    };
    let dim = |d: i64| Dimension {
        value: Some(if d < 0 { DimValue::DimParam("N".into()) } else { DimValue::DimValue(d) }),
        ..Default::default()
    };
    let tensor_type = type_proto::Tensor {
        elem_type: elem_type as i32,
        shape: Some(TensorShapeProto { dim: dims.iter().map(|&d| dim(d)).collect() }),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor_type)), ..Default::default() }),
        ..Default::default()
    }
}

pub(crate) fn onnx_node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<tract_onnx::pb::AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|i| i.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

pub(crate) fn ints_attr(name: &str, values: &[i64]) -> tract_onnx::pb::AttributeProto {
    use tract_onnx::pb::attribute_proto::AttributeType;
    tract_onnx::pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

pub(crate) fn float_attr(name: &str, f: f32) -> tract_onnx::pb::AttributeProto {
    use tract_onnx::pb::attribute_proto::AttributeType;
    tract_onnx::pb::AttributeProto { name: name.into(), r#type: AttributeType::Float as i32, f, ..Default::default() }
}

pub(crate) fn int_attr(name: &str, value: i64) -> tract_onnx::pb::AttributeProto {
    use tract_onnx::pb::attribute_proto::AttributeType;
    tract_onnx::pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

pub(crate) fn int_initializer(name: &str, values: &[i64]) -> tract_onnx::pb::TensorProto {
    tract_onnx::pb::TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: tract_onnx::pb::tensor_proto::DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// A float initializer of shape `dims` holding `value` everywhere.
pub(crate) fn filled_initializer(name: &str, dims: &[i64], value: f32) -> tract_onnx::pb::TensorProto {
    tract_onnx::pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
        float_data: vec![value; dims.iter().product::<i64>() as usize],
        ..Default::default()
    }
}

/// The opset the hand-built graphs import unless a test says otherwise.
pub(crate) const OPSET: i64 = 13;

/// Translates a graph with input `x` of `input_dims` and output `y`, at [`OPSET`].
pub(crate) fn translated(
    input_dims: &[i64],
    nodes: Vec<NodeProto>,
    initializers: Vec<tract_onnx::pb::TensorProto>,
) -> Result<TfGraph, String> {
    translated_at(OPSET, input_dims, nodes, initializers)
}

/// [`translated`] for a file importing `opset`.
pub(crate) fn translated_at(
    opset: i64,
    input_dims: &[i64],
    nodes: Vec<NodeProto>,
    initializers: Vec<tract_onnx::pb::TensorProto>,
) -> Result<TfGraph, String> {
    translated_from(opset, value_info("x", input_dims), nodes, initializers)
}

/// [`translated_at`] with graph input `input` (named `x`; of any type).
pub(crate) fn translated_from(
    opset: i64,
    input: tract_onnx::pb::ValueInfoProto,
    nodes: Vec<NodeProto>,
    initializers: Vec<tract_onnx::pb::TensorProto>,
) -> Result<TfGraph, String> {
    let graph = GraphProto {
        node: nodes,
        initializer: initializers,
        input: vec![input],
        output: vec![value_info("y", &[])],
        ..Default::default()
    };
    translate(Path::new("m.onnx"), graph, opset, &Options::default())
        .map_err(|e| tf2h5_tf::TfError::from(e).to_string())
}

/// The TF ops of [`translated`], in order, constants left out.
pub(crate) fn translated_ops(
    input_dims: &[i64],
    nodes: Vec<NodeProto>,
    initializers: Vec<tract_onnx::pb::TensorProto>,
) -> Result<Vec<String>, String> {
    translated_ops_at(OPSET, input_dims, nodes, initializers)
}

/// [`translated_ops`] for a file importing `opset`.
pub(crate) fn translated_ops_at(
    opset: i64,
    input_dims: &[i64],
    nodes: Vec<NodeProto>,
    initializers: Vec<tract_onnx::pb::TensorProto>,
) -> Result<Vec<String>, String> {
    Ok(translated_at(opset, input_dims, nodes, initializers)?
        .nodes()
        .iter()
        .map(|n| n.op.clone())
        .filter(|op| op != "Const")
        .collect())
}

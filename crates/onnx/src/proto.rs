//! Reading ONNX protobuf messages: attributes and initializer tensors, with errors that name
//! the node, and allocation bounded by the bytes present.

use ndarray::{ArrayD, IxDyn};

use crate::error::OpError;
use tract_onnx::pb::{attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, NodeProto, TensorProto};

/// Largest tensor (elements) an initializer or shape may describe: the same bound the TF
/// side puts on a sample.
pub(crate) const MAX_ELEMENTS: usize = 1 << 27;

/// A constant: an initializer, a `Constant` node, or a folded value; the same type as a
/// TF `Const` node's value, so translated constants need no conversion.
pub(crate) use tf2h5_tf::ConstTensor as Const;

/// The values as float32: a view of a float constant (weights are not copied), integers
/// converted.
pub(crate) fn f32_view(value: &Const) -> ndarray::CowArray<'_, f32, IxDyn> {
    match value {
        Const::F32(a) => a.view().into(),
        Const::Int(a) => a.mapv(|v| v as f32).into(),
    }
}

/// An ONNX element type as the ONNX spec names it (`float16`, `int64`, `string`...), for
/// messages: a raw number means nothing to a user.
pub(crate) fn type_name(elem_type: i32) -> String {
    match DataType::try_from(elem_type) {
        Ok(known) => known.as_str_name().to_lowercase(),
        Err(_) => format!("unknown element type {elem_type}"),
    }
}

/// The name an error uses for `node`: its name, else its first output.
pub(crate) fn node_label(node: &NodeProto) -> &str {
    if !node.name.is_empty() {
        return &node.name;
    }
    node.output.first().map(String::as_str).unwrap_or("?")
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Checks an attribute's declared type (0, unset, is accepted: old writers omit it).
fn typed<'a>(node: &'a NodeProto, name: &str, kind: AttributeType) -> Result<Option<&'a AttributeProto>, OpError> {
    match attribute(node, name) {
        Some(a) if a.r#type != 0 && a.r#type != kind as i32 => {
            Err(OpError::Attr { attr: name.to_string(), message: format!("is not of type {kind:?}") })
        }
        found => Ok(found),
    }
}

pub(crate) fn attr_int(node: &NodeProto, name: &str, default: i64) -> Result<i64, OpError> {
    Ok(typed(node, name, AttributeType::Int)?.map_or(default, |a| a.i))
}

pub(crate) fn attr_float(node: &NodeProto, name: &str, default: f32) -> Result<f32, OpError> {
    Ok(attr_float_opt(node, name)?.unwrap_or(default))
}

pub(crate) fn attr_float_opt(node: &NodeProto, name: &str) -> Result<Option<f32>, OpError> {
    Ok(typed(node, name, AttributeType::Float)?.map(|a| a.f))
}

pub(crate) fn attr_ints(node: &NodeProto, name: &str) -> Result<Option<Vec<i64>>, OpError> {
    Ok(typed(node, name, AttributeType::Ints)?.map(|a| a.ints.clone()))
}

pub(crate) fn attr_str(node: &NodeProto, name: &str, default: &str) -> Result<String, OpError> {
    Ok(typed(node, name, AttributeType::String)?
        .map_or(default.to_string(), |a| String::from_utf8_lossy(&a.s).into_owned()))
}

/// The value of a `Constant` node (`value`, `value_float(s)` or `value_int(s)`).
pub(crate) fn constant_node_value(node: &NodeProto) -> Result<Const, OpError> {
    let attr_error = |attr: &str, message: String| OpError::Attr { attr: attr.to_string(), message };
    if let Some(a) = typed(node, "value", AttributeType::Tensor)? {
        return tensor(a.t.as_ref().ok_or_else(|| attr_error("value", "holds no tensor".into()))?);
    }
    if let Some(a) = typed(node, "value_float", AttributeType::Float)? {
        return Ok(Const::F32(ArrayD::from_elem(IxDyn(&[]), a.f)));
    }
    if let Some(a) = typed(node, "value_floats", AttributeType::Floats)? {
        return Ok(Const::F32(
            ArrayD::from_shape_vec(IxDyn(&[a.floats.len()]), a.floats.clone())
                .map_err(|e| attr_error("value_floats", e.to_string()))?,
        ));
    }
    if let Some(a) = typed(node, "value_int", AttributeType::Int)? {
        return Ok(Const::Int(ArrayD::from_elem(IxDyn(&[]), a.i)));
    }
    if let Some(a) = typed(node, "value_ints", AttributeType::Ints)? {
        return Ok(Const::Int(
            ArrayD::from_shape_vec(IxDyn(&[a.ints.len()]), a.ints.clone())
                .map_err(|e| attr_error("value_ints", e.to_string()))?,
        ));
    }
    Err("a Constant without a supported value attribute (value, value_float(s), value_int(s))".into())
}

/// Decodes an initializer or constant tensor (float, double and integer types).
pub(crate) fn tensor(proto: &TensorProto) -> Result<Const, OpError> {
    let name = if proto.name.is_empty() { "constant" } else { proto.name.as_str() };
    let bad = |message: String| OpError::Tensor { name: name.to_string(), message };
    if proto.data_location == Some(1) {
        return Err(bad("its data is stored in an external file, which is not supported".into()));
    }
    if proto.dims.iter().any(|&d| d < 0) {
        return Err(bad(format!("negative dimension in {:?}", proto.dims)));
    }
    let shape: Vec<usize> = proto.dims.iter().map(|&d| d as usize).collect();
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&c| c <= MAX_ELEMENTS)
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    let dtype = DataType::try_from(proto.data_type).unwrap_or(DataType::Undefined);
    let raw = &proto.raw_data;
    let check = |present: usize| {
        if present == count {
            Ok(())
        } else {
            Err(bad(format!("shape {shape:?} needs {count} values, {present} present")))
        }
    };
    let array = |values: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| bad(e.to_string()));
    let ints = |values: Vec<i64>| ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| bad(e.to_string()));
    match dtype {
        DataType::Float if !raw.is_empty() => {
            check(raw.len() / 4).and(if raw.len().is_multiple_of(4) {
                Ok(())
            } else {
                Err(bad("raw data is not whole floats".into()))
            })?;
            Ok(Const::F32(array(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())?))
        }
        DataType::Float => {
            check(proto.float_data.len())?;
            Ok(Const::F32(array(proto.float_data.clone())?))
        }
        DataType::Double if !raw.is_empty() => {
            check(raw.len() / 8).and(if raw.len().is_multiple_of(8) {
                Ok(())
            } else {
                Err(bad("raw data is not whole doubles".into()))
            })?;
            let values =
                raw.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32).collect();
            Ok(Const::F32(array(values)?))
        }
        DataType::Double => {
            check(proto.double_data.len())?;
            Ok(Const::F32(array(proto.double_data.iter().map(|&v| v as f32).collect())?))
        }
        DataType::Int64 if !raw.is_empty() => {
            check(raw.len() / 8).and(if raw.len().is_multiple_of(8) {
                Ok(())
            } else {
                Err(bad("raw data is not whole int64s".into()))
            })?;
            Ok(Const::Int(ints(
                raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect(),
            )?))
        }
        DataType::Int64 => {
            check(proto.int64_data.len())?;
            Ok(Const::Int(ints(proto.int64_data.clone())?))
        }
        DataType::Int32 if !raw.is_empty() => {
            check(raw.len() / 4).and(if raw.len().is_multiple_of(4) {
                Ok(())
            } else {
                Err(bad("raw data is not whole int32s".into()))
            })?;
            Ok(Const::Int(ints(
                raw.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect(),
            )?))
        }
        DataType::Int32 => {
            check(proto.int32_data.len())?;
            Ok(Const::Int(ints(proto.int32_data.iter().map(|&v| v as i64).collect())?))
        }
        other => {
            Err(bad(format!("element type {} is not supported (float, double, int32, int64)", type_name(other as i32))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_raw_and_typed_tensors_and_refuses_short_data() {
        let raw = TensorProto {
            dims: vec![2],
            data_type: DataType::Float as i32,
            raw_data: [1.5f32.to_le_bytes(), (-2f32).to_le_bytes()].concat(),
            ..Default::default()
        };
        assert_eq!(tensor(&raw).unwrap().to_f32().into_raw_vec_and_offset().0, vec![1.5, -2.0]);
        let ints = TensorProto {
            dims: vec![3],
            data_type: DataType::Int64 as i32,
            int64_data: vec![1, -1, 4],
            ..Default::default()
        };
        assert_eq!(tensor(&ints).unwrap().int_values(), Some(vec![1, -1, 4]));
        let short = TensorProto {
            dims: vec![4],
            data_type: DataType::Float as i32,
            float_data: vec![1.0],
            ..Default::default()
        };
        assert!(tensor(&short).unwrap_err().to_string().contains("needs 4 values"));
        let huge =
            TensorProto { dims: vec![1 << 40, 1 << 40], data_type: DataType::Float as i32, ..Default::default() };
        assert!(tensor(&huge).unwrap_err().to_string().contains("too large"));
    }
}

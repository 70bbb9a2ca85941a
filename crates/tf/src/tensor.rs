//! Decoding `Const` tensors, never allocating more than the bytes present justify.

use ndarray::{ArrayD, IxDyn};

use crate::attrs::NodeExt;
use crate::pb::{DataType, NodeDef, TensorProto};
use crate::TfError;

/// Largest element count a constant may expand to from a single repeated value
/// (TF stores splats as one value plus a shape). Bounds allocation on hostile files.
/// 2^24 (64 MiB of float32): a 5-byte mutation claiming 2^26 made a 512 MiB int64 array
/// (1 GiB peak) in the mutation suite (`crates/fuzz`); real splats are biases and zeros.
const MAX_SPLAT_ELEMENTS: usize = 1 << 24;

/// The value of a `Const` node.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstTensor {
    /// float32 (also float64, narrowed).
    F32(ArrayD<f32>),
    /// Any integer type, widened.
    Int(ArrayD<i64>),
}

impl ConstTensor {
    /// Decodes the `value` attribute of a `Const` node.
    pub fn from_node(node: &NodeDef) -> Result<Self, TfError> {
        match node.attr_value("value") {
            Some(crate::pb::attr_value::Value::Tensor(proto)) => decode(node, proto),
            Some(_) => Err(node.attr_error("value", "is not a tensor")),
            None => Err(node.attr_error("value", "is missing")),
        }
    }

    /// The values as float32, if the tensor is a float tensor.
    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        match self {
            ConstTensor::F32(a) => Some(a),
            ConstTensor::Int(_) => None,
        }
    }

    /// The values as integers, if the tensor is an integer tensor.
    pub fn as_ints(&self) -> Option<&ArrayD<i64>> {
        match self {
            ConstTensor::Int(a) => Some(a),
            ConstTensor::F32(_) => None,
        }
    }

    /// The values as float32, integers converted.
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            ConstTensor::F32(a) => a.clone(),
            ConstTensor::Int(a) => a.mapv(|v| v as f32),
        }
    }

    /// The values in row-major order, if the tensor is an integer tensor.
    pub fn int_values(&self) -> Option<Vec<i64>> {
        self.as_ints().map(|a| a.iter().copied().collect())
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            ConstTensor::F32(a) => a.shape(),
            ConstTensor::Int(a) => a.shape(),
        }
    }
}

fn decode(node: &NodeDef, proto: &TensorProto) -> Result<ConstTensor, TfError> {
    let bad = |message: String| node.node_error(message);
    let shape =
        proto.tensor_shape.as_ref().map(|s| s.dim.iter().map(|d| d.size).collect::<Vec<i64>>()).unwrap_or_default();
    if shape.iter().any(|&d| d < 0) {
        return Err(bad(format!("constant has an unknown dimension in shape {shape:?}")));
    }
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("constant shape {shape:?} overflows")))?;

    let dtype = DataType::try_from(proto.dtype).unwrap_or(DataType::DtInvalid);
    let element_size = match dtype {
        DataType::DtFloat | DataType::DtInt32 => 4,
        DataType::DtDouble | DataType::DtInt64 => 8,
        DataType::DtUint8 | DataType::DtInt8 | DataType::DtBool => 1,
        DataType::DtInt16 => 2,
        other => return Err(bad(format!("constants of type {} are not supported", dtype_name(other as i32)))),
    };
    let content = &proto.tensor_content;
    if !content.is_empty() {
        if content.len() != count.saturating_mul(element_size) {
            return Err(bad(format!(
                "constant of shape {shape:?} holds {} bytes, expected {}",
                content.len(),
                count.saturating_mul(element_size)
            )));
        }
        return Ok(match dtype {
            DataType::DtFloat => ConstTensor::F32(array(
                &shape,
                content.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            )?),
            DataType::DtDouble => ConstTensor::F32(array(
                &shape,
                content.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect(),
            )?),
            DataType::DtInt32 => ConstTensor::Int(array(
                &shape,
                content.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect(),
            )?),
            DataType::DtInt64 => ConstTensor::Int(array(
                &shape,
                content.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
            )?),
            DataType::DtInt16 => ConstTensor::Int(array(
                &shape,
                content.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect(),
            )?),
            DataType::DtInt8 => ConstTensor::Int(array(&shape, content.iter().map(|&b| b as i8 as i64).collect())?),
            _ => ConstTensor::Int(array(&shape, content.iter().map(|&b| b as i64).collect())?),
        });
    }
    // Typed value lists; a list shorter than the shape repeats its last value (TF's splat).
    match dtype {
        DataType::DtFloat => splat(node, &shape, count, &proto.float_val).map(ConstTensor::F32),
        DataType::DtDouble => {
            splat(node, &shape, count, &proto.double_val.iter().map(|&v| v as f32).collect::<Vec<_>>())
                .map(ConstTensor::F32)
        }
        DataType::DtInt64 => splat(node, &shape, count, &proto.int64_val).map(ConstTensor::Int),
        DataType::DtBool => splat(node, &shape, count, &proto.bool_val.iter().map(|&b| b as i64).collect::<Vec<_>>())
            .map(ConstTensor::Int),
        _ => splat(node, &shape, count, &proto.int_val.iter().map(|&v| v as i64).collect::<Vec<_>>())
            .map(ConstTensor::Int),
    }
}

fn array<T>(shape: &[usize], values: Vec<T>) -> Result<ArrayD<T>, TfError> {
    ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|e| TfError::Node {
        node: String::new(),
        op: "Const".into(),
        message: format!("constant shape mismatch: {e}"),
    })
}

fn splat<T: Copy + Default>(node: &NodeDef, shape: &[usize], count: usize, values: &[T]) -> Result<ArrayD<T>, TfError> {
    if values.len() > count {
        return Err(node.node_error(format!("constant of shape {shape:?} lists {} values", values.len())));
    }
    if count > values.len() && count > MAX_SPLAT_ELEMENTS {
        return Err(
            node.node_error(format!("constant claims shape {shape:?} ({count} elements) from {} values", values.len()))
        );
    }
    let fill = values.last().copied().unwrap_or_default();
    let mut data = Vec::with_capacity(count);
    data.extend_from_slice(values);
    data.resize(count, fill);
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| node.node_error(format!("constant shape mismatch: {e}")))
}

/// A TF dtype as TensorFlow's Python API names it (`float16`, `int64`, `string`...), for messages.
pub fn dtype_name(dtype: i32) -> String {
    use DataType::*;
    let Ok(known) = DataType::try_from(dtype) else { return format!("unknown dtype {dtype}") };
    let name = match known {
        DtHalf => "float16",
        DtBfloat16 => "bfloat16",
        DtFloat => "float32",
        DtDouble => "float64",
        DtInt8 => "int8",
        DtInt16 => "int16",
        DtInt32 => "int32",
        DtInt64 => "int64",
        DtUint8 => "uint8",
        DtUint16 => "uint16",
        DtUint32 => "uint32",
        DtUint64 => "uint64",
        DtBool => "bool",
        DtString => "string",
        DtComplex64 => "complex64",
        DtComplex128 => "complex128",
        DtResource => "resource",
        DtVariant => "variant",
        other => return other.as_str_name().trim_start_matches("DT_").to_lowercase(),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{attr_value::Value, tensor_shape_proto::Dim, AttrValue, TensorShapeProto};

    fn const_node(proto: TensorProto) -> NodeDef {
        let mut node = NodeDef { name: "c".into(), op: "Const".into(), ..Default::default() };
        node.attr.insert("value".into(), AttrValue { value: Some(Value::Tensor(proto)) });
        node
    }

    fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
        Some(TensorShapeProto {
            dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(),
            unknown_rank: false,
        })
    }

    #[test]
    fn decodes_content_and_splats() {
        let bytes: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let proto = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[2, 2]),
            tensor_content: bytes,
            ..Default::default()
        };
        let value = ConstTensor::from_node(&const_node(proto)).unwrap();
        assert_eq!(value.as_f32().unwrap().as_slice().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
        let proto = TensorProto {
            dtype: DataType::DtInt32 as i32,
            tensor_shape: shape(&[3]),
            int_val: vec![7],
            ..Default::default()
        };
        assert_eq!(
            ConstTensor::from_node(&const_node(proto)).unwrap().as_ints().unwrap().as_slice().unwrap(),
            &[7, 7, 7]
        );
    }

    #[test]
    fn refuses_absurd_shapes_and_size_mismatch() {
        let proto = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[1_000_000, 1_000_000]),
            float_val: vec![1.0],
            ..Default::default()
        };
        assert!(ConstTensor::from_node(&const_node(proto)).unwrap_err().to_string().contains("claims shape"));
        let proto = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[4]),
            tensor_content: vec![0; 12],
            ..Default::default()
        };
        assert!(ConstTensor::from_node(&const_node(proto)).unwrap_err().to_string().contains("12 bytes"));
        let proto = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[i64::MAX, 4]),
            tensor_content: vec![0; 12],
            ..Default::default()
        };
        assert!(ConstTensor::from_node(&const_node(proto)).is_err());
    }
}

//! Shape arithmetic, folded at conversion time: `Shape`, `Pack`, `Range`, `GatherV2`, `Cast`, and the
//! integer side of `StridedSlice` and `ConcatV2`; and `GatherV2` of a constant table by token
//! ids, an `Embedding`.
//!
//! Keras layers compute reshape targets at run time from `tf.shape(x)`; with the input's
//! static shape known, every such integer is a constant or a multiple of the batch size
//! ([`Dims`]), which `Reshape` resolves.

use ndarray::ArrayD;
use tf2h5_keras::spec::{Embedding, LayerSpec};
use tf2h5_keras::Weight;
use tf2h5_tf::{pb::DataType, pb::NodeDef, ConstTensor, NodeExt};

use crate::context::{Context, Dim, Dims, Value};
use crate::ConvertError;

/// `Shape(x)`: the static shape, the batch as `Batch(1)`.
pub(super) fn shape(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    match ctx.input(node, 0)? {
        Value::Tensor(t) => Dims::of_shape(&t.shape)
            .map(Value::from)
            .ok_or_else(|| ctx.refuse(node, format!("the shape {:?} has unknown dimensions", t.shape))),
        Value::Const(c) => {
            let dims = c.shape().iter().map(|&d| Dim::Known(d as i64)).collect();
            Ok(Value::from(Dims { values: dims, scalar: false }))
        }
        Value::Dims(d) => {
            let len = if d.scalar { vec![] } else { vec![Dim::Known(d.values.len() as i64)] };
            Ok(Value::from(Dims { values: len, scalar: false }))
        }
        Value::Rows(_) => Err(ctx.refuse(node, "the shape of a batch-merged tensor is not supported")),
        Value::Mask(_) => Err(ctx.refuse(node, "the shape of a Keras mask is not supported")),
    }
}

/// `Range(start, limit, delta)` of integer scalars → a constant vector (e.g. the axis
/// permutation `tf.nn.softmax` builds around a softmax over an axis other than the last); of
/// float scalars, a float one (Keras 3's `ops.arange(length)` of a length read from
/// `ops.shape`, as keras-hub's causal masks build it: constant once the length is).
pub(super) fn range(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    if let Value::Const(ConstTensor::F32(_)) = ctx.input(node, 0)? {
        return float_range(ctx, node);
    }
    let scalar = |index: usize| -> Result<i128, ConvertError> {
        match ctx.ints_input(node, index)?.as_slice() {
            [v] => Ok(i128::from(*v)),
            _ => Err(ctx.refuse(node, format!("input {index} must be an integer scalar"))),
        }
    };
    let (start, limit, delta) = (scalar(0)?, scalar(1)?, scalar(2)?);
    if delta == 0 {
        return Err(ctx.refuse(node, "a range with step 0"));
    }
    // ceil((limit - start) / delta), at least 0.
    let count = ((limit - start + delta - delta.signum()) / delta).max(0);
    if count > MAX_RANGE {
        return Err(ctx.refuse(node, format!("a range of {count} values (more than {MAX_RANGE})")));
    }
    let values: Vec<i64> = (0..count).map(|i| (start + i * delta) as i64).collect();
    let len = values.len();
    let array = ArrayD::from_shape_vec(vec![len], values).map_err(|e| ctx.refuse(node, e.to_string()))?;
    Ok(Value::Const(ConstTensor::Int(array)))
}

/// Most values a folded `Range` may hold.
const MAX_RANGE: i128 = 1 << 20;

/// `Range` of float scalars: `start`, `start + delta`... while below `limit` (above it for a
/// negative `delta`), in float32 as TF computes them.
fn float_range(ctx: &Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let scalar = |index: usize| -> Result<f32, ConvertError> {
        match ctx.f32_input(node, index)?.as_slice() {
            Some([v]) if v.is_finite() => Ok(*v),
            _ => Err(ctx.refuse(node, format!("input {index} must be a finite float scalar"))),
        }
    };
    let (start, limit, delta) = (scalar(0)?, scalar(1)?, scalar(2)?);
    if delta == 0.0 {
        return Err(ctx.refuse(node, "a range with step 0"));
    }
    // TF: ceil(|limit - start| / |delta|) values when limit lies in delta's direction.
    let count = ((limit - start) / delta).ceil().max(0.0) as i128;
    if count > MAX_RANGE {
        return Err(ctx.refuse(node, format!("a range of {count} values (more than {MAX_RANGE})")));
    }
    // Accumulated, as TF's kernel does (`val += delta`), not `start + i·delta`.
    let values: Vec<f32> = std::iter::successors(Some(start), |v| Some(v + delta)).take(count as usize).collect();
    let array = ArrayD::from_shape_vec(vec![values.len()], values).map_err(|e| ctx.refuse(node, e.to_string()))?;
    Ok(Value::Const(ConstTensor::F32(array)))
}

/// `Pack` of integer scalars along axis 0 (e.g. `[batch, 1, 1, c]`); float constants are folded;
/// tensors are stacked (`stack.rs`).
pub(super) fn pack(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let count = ctx.input_count(node);
    if (0..count).any(|i| matches!(ctx.input(node, i), Ok(Value::Tensor(_)))) {
        return super::stack::pack_tensors(ctx, node);
    }
    let axis = node.attr_int_opt("axis")?.unwrap_or(0);
    let all_float = (0..count).all(|i| matches!(ctx.input(node, i), Ok(Value::Const(ConstTensor::F32(_)))));
    if all_float {
        let arrays: Vec<ArrayD<f32>> = (0..count).map(|i| ctx.f32_input(node, i)).collect::<Result<_, _>>()?;
        let rank = arrays.first().map_or(0, |a| a.ndim()) as i64;
        let axis = if axis < 0 { axis + rank + 1 } else { axis };
        let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
        let stacked =
            ndarray::stack(ndarray::Axis(axis.max(0) as usize), &views).map_err(|e| ctx.refuse(node, e.to_string()))?;
        return Ok(Value::Const(ConstTensor::F32(stacked)));
    }
    if axis != 0 && axis != -1 {
        return Err(ctx.refuse(node, "only packing integer scalars into a vector is supported"));
    }
    let mut values = Vec::with_capacity(count);
    for i in 0..count {
        let d = ctx.dims_input(node, i)?;
        if !d.scalar || d.values.len() != 1 {
            return Err(ctx.refuse(node, "only packing integer scalars into a vector is supported"));
        }
        values.push(d.values[0]);
    }
    Ok(Value::from(Dims { values, scalar: false }))
}

/// `GatherV2(params, indices, axis=0)` on shape integers; of a constant float table by a
/// tensor of indices (an embedding lookup on token ids) → `Embedding`.
pub(super) fn gather_v2(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    if let (Value::Const(ConstTensor::F32(table)), Value::Tensor(ids)) = (ctx.input(node, 0)?, ctx.input(node, 1)?) {
        let (table, ids) = (table.clone(), ids.clone());
        if ctx.ints_input(node, 2)? != [0] || table.ndim() != 2 || node.attr_int_opt("batch_dims")?.unwrap_or(0) != 0 {
            return Err(ctx.refuse(node, "only gathering rows (axis 0) of a 2-D table by a tensor of ids is supported"));
        }
        let mut shape = ids.shape.clone();
        shape.push(Some(table.shape()[1]));
        let name = ctx.layer_name(&node.name);
        // `mask_zero` is set by the recurrent layer that reads the mask (`Context::carry_mask`).
        let (input_dim, output_dim) = (table.shape()[0], table.shape()[1]);
        let spec = LayerSpec::Embedding(Embedding { input_dim, output_dim, mask_zero: false });
        let layer = spec.layer(&name, vec![ids.layer], vec![Weight::new("embeddings", table)]);
        return Ok(ctx.add_layer(node, layer, shape));
    }
    if let (Value::Const(ConstTensor::F32(table)), Value::Const(ids)) = (ctx.input(node, 0)?, ctx.input(node, 1)?) {
        return gather_rows_of_constants(ctx, node, &table.clone(), &ids.clone());
    }
    let params = ctx.dims_input(node, 0)?;
    let axis = ctx.ints_input(node, 2)?;
    if params.scalar || !(axis == [0] || axis == [-1]) {
        return Err(ctx.refuse(node, "only gathering from a vector of shape integers is supported"));
    }
    let indices = ctx.const_input(node, 1)?.clone();
    let ints = indices.as_ints().ok_or_else(|| ctx.refuse(node, "indices must be integers"))?;
    let flat: Vec<i64> = ints.iter().copied().collect();
    let gathered = params.gather(&flat, ints.ndim() == 0).ok_or_else(|| ctx.refuse(node, "index out of range"))?;
    Ok(Value::from(gathered))
}

/// Rows of a constant table at constant ids, folded: keras-hub's `PositionEmbedding` in a ViT
/// gathers its table at position ids it keeps as a non-trainable variable. Ids outside the
/// table's rows (TF wraps negative ones first) are refused.
fn gather_rows_of_constants(
    ctx: &Context,
    node: &NodeDef,
    table: &ndarray::ArrayD<f32>,
    ids: &ConstTensor,
) -> Result<Value, ConvertError> {
    if ctx.ints_input(node, 2)? != [0] || table.ndim() == 0 || node.attr_int_opt("batch_dims")?.unwrap_or(0) != 0 {
        return Err(ctx.refuse(node, "only gathering rows (axis 0) of a constant table is supported"));
    }
    let ids = ids.as_ints().ok_or_else(|| ctx.refuse(node, "indices must be integers"))?;
    let rows = table.shape()[0];
    let mut values = Vec::with_capacity(ids.len() * table.len() / rows.max(1));
    for &id in ids {
        let row = usize::try_from(id).ok().filter(|&r| r < rows);
        let row = row.ok_or_else(|| ctx.refuse(node, format!("index {id} is outside the table's {rows} rows")))?;
        values.extend(table.index_axis(ndarray::Axis(0), row).iter().copied());
    }
    let shape: Vec<usize> = ids.shape().iter().chain(&table.shape()[1..]).copied().collect();
    let gathered = ndarray::ArrayD::from_shape_vec(shape, values).map_err(|e| ctx.refuse(node, e.to_string()))?;
    Ok(Value::Const(ConstTensor::F32(gathered)))
}

/// `Cast`: float32 tensors pass through; constants and shape integers change type.
pub(super) fn cast(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let to = node.attr_type_opt("DstT")?;
    let is = |t: DataType| to == Some(t as i32);
    let float = is(DataType::DtFloat) || is(DataType::DtDouble);
    let integer = is(DataType::DtInt32) || is(DataType::DtInt64);
    let half = is(DataType::DtHalf) || is(DataType::DtBfloat16);
    match ctx.input(node, 0)?.clone() {
        // Mixed precision: the Keras model computes in float32 throughout, with the float32
        // variables the source casts to half on every read (verification allows for it).
        Value::Tensor(t) if half => Ok(ctx.pass_through(node, t)),
        Value::Const(ConstTensor::F32(a)) if half => Ok(Value::Const(ConstTensor::F32(a))),
        Value::Tensor(t) if is(DataType::DtFloat) => {
            // Keras layers compute on integer tensors as integers: only an `Embedding` turns
            // ids into floats, so an integer → float cast has no layer to become.
            let from = node.attr_type_opt("SrcT")?;
            let input = ctx.graph.data_inputs(node).next();
            let held = input.is_some_and(|input| crate::ops::math::compare::holds_truth(ctx, &input));
            if from == Some(DataType::DtBool as i32) && held {
                return Ok(ctx.pass_through(node, t));
            }
            if from.is_some_and(is_whole_number_type) {
                let from = from.map_or_else(String::new, tf2h5_tf::dtype_name);
                return Err(ctx.refuse(
                    node,
                    format!("casting {from} to float32 is not supported (integer inputs may feed an embedding lookup)"),
                ));
            }
            Ok(ctx.pass_through(node, t))
        }
        Value::Tensor(t) if is(DataType::DtBool) => crate::ops::math::compare::cast_to_bool(ctx, node, &t),
        Value::Dims(d) if integer => Ok(Value::Dims(d)),
        Value::Const(ConstTensor::F32(a)) if float => Ok(Value::Const(ConstTensor::F32(a))),
        Value::Const(ConstTensor::Int(a)) if integer => Ok(Value::Const(ConstTensor::Int(a))),
        Value::Const(ConstTensor::Int(a)) if float => Ok(Value::Const(ConstTensor::F32(a.mapv(|v| v as f32)))),
        Value::Const(ConstTensor::F32(a)) if integer => {
            Ok(Value::Const(ConstTensor::Int(a.mapv(|v| v.trunc() as i64))))
        }
        _ => {
            let to = to.map_or_else(|| "an unset type".to_string(), tf2h5_tf::dtype_name);
            Err(ctx.refuse(node, format!("casting to {to} is not supported here")))
        }
    }
}

/// Whether the TF type `dtype` is one of [`WHOLE_NUMBER_TYPES`].
pub(crate) fn is_whole_number_type(dtype: i32) -> bool {
    WHOLE_NUMBER_TYPES.iter().any(|&w| w as i32 == dtype)
}

/// Integer and boolean types, whose tensors no Keras layer but `Embedding` turns into floats.
const WHOLE_NUMBER_TYPES: [DataType; 8] = [
    DataType::DtInt8,
    DataType::DtInt16,
    DataType::DtInt32,
    DataType::DtInt64,
    DataType::DtUint8,
    DataType::DtUint16,
    DataType::DtBool,
    DataType::DtUint32,
];

/// The slice TF's `StridedSlice` takes along one axis of length `len`: `(start, end, step)`,
/// or `Err` for what is not supported (negative strides). `shrink` keeps only `start`.
pub(super) fn axis_slice(
    len: i64,
    begin: i64,
    end: i64,
    stride: i64,
    begin_masked: bool,
    end_masked: bool,
    shrink: bool,
) -> Result<(i64, i64), String> {
    if stride <= 0 {
        return Err(format!("stride {stride} is not supported"));
    }
    let norm = |v: i64| if v < 0 { v + len } else { v };
    let start = if begin_masked { 0 } else { norm(begin).clamp(0, len) };
    if shrink {
        let index = norm(begin);
        if !(0..len).contains(&index) {
            return Err(format!("index {begin} is out of range for length {len}"));
        }
        return Ok((index, index + 1));
    }
    let stop = if end_masked { len } else { norm(end).clamp(0, len) };
    Ok((start, stop.max(start)))
}

/// `StridedSlice` of shape integers (a vector).
pub(super) fn strided_slice_dims(
    ctx: &Context,
    node: &NodeDef,
    dims: &Dims,
    masks: &super::strided_slice::Masks,
) -> Result<Value, ConvertError> {
    let begin = ctx.ints_input(node, 1)?;
    let end = ctx.ints_input(node, 2)?;
    let strides = ctx.ints_input(node, 3)?;
    if dims.scalar
        || begin.len() != 1
        || end.len() != 1
        || strides.len() != 1
        || masks.ellipsis != 0
        || masks.new_axis != 0
    {
        return Err(ctx.refuse(node, "only a simple slice of a vector of shape integers is supported"));
    }
    let (start, stop) = axis_slice(
        dims.values.len() as i64,
        begin[0],
        end[0],
        strides[0],
        masks.begin & 1 != 0,
        masks.end & 1 != 0,
        masks.shrink & 1 != 0,
    )
    .map_err(|e| ctx.refuse(node, e))?;
    let values: Vec<Dim> = (start..stop).step_by(strides[0] as usize).map(|i| dims.values[i as usize]).collect();
    Ok(Value::from(Dims { values, scalar: masks.shrink & 1 != 0 }))
}

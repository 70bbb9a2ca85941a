//! Graph plumbing and shape ops: Placeholder, Const, Identity/IdentityN/StopGradient,
//! Reshape/Squeeze/ExpandDims, ConcatV2, Slice of constants, Pad, MirrorPad (→ crops, reversals, Concatenate), ReverseV2 (→ 0/1 maps), StridedSlice (→ Cropping2D), Transpose,
//! BroadcastTo/Tile of constants over the batch (class tokens), Pack of tensors (→ Reshape,
//! Concatenate), and the shape arithmetic around reshapes (Shape, Pack, GatherV2, Cast).

pub(crate) mod axis;
mod broadcast;
mod mirror_pad;
mod reshape;
mod reverse;
mod shape;
mod stack;
mod strided_slice;
mod transpose;

pub(crate) use shape::is_whole_number_type;

use tf2h5_keras::layers::{self, InputDtype};
use tf2h5_keras::spec::{LayerSpec, ResampleKind, Sides};
use tf2h5_tf::pb::{DataType, NodeDef};
use tf2h5_tf::{ConstTensor, NodeExt};

use super::Registry;
use crate::context::{Context, Dims, KTensor, Value};
use crate::{ConvertError, Endpoint};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Placeholder", placeholder);
    registry.insert("Const", constant);
    // Aliases: `Context` resolves reads through them (IdentityN output k is its input k).
    for &op in crate::context::ALIASES {
        registry.insert(op, identity);
    }
    registry.insert("Reshape", reshape::reshape);
    registry.insert("Squeeze", reshape::squeeze);
    registry.insert("ExpandDims", reshape::expand_dims);
    registry.insert("Shape", shape::shape);
    registry.insert("Pack", shape::pack);
    registry.insert("Range", shape::range);
    registry.insert("GatherV2", shape::gather_v2);
    registry.insert("Cast", shape::cast);
    registry.insert("StridedSlice", strided_slice::strided_slice);
    registry.insert("Slice", slice_constant);
    registry.insert("Transpose", transpose::transpose);
    registry.insert("ConcatV2", concat_v2);
    registry.insert("BroadcastTo", broadcast::broadcast_to);
    registry.insert("Tile", broadcast::tile);
    registry.insert("Pad", pad);
    registry.insert("MirrorPad", mirror_pad::mirror_pad);
    registry.insert("ReverseV2", reverse::reverse_v2);
}

/// `Placeholder` → `InputLayer`. Only the batch dimension may be unknown, unless
/// [`Options::input_shapes`](crate::Options::input_shapes) gives the input concrete sizes.
fn placeholder(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let graph_shape = node
        .attr_shape_opt("shape")?
        .ok_or_else(|| ctx.refuse(node, "the input has an unknown rank; give it a static shape"))?;
    let shape = match ctx.input_shape(&node.name) {
        Some(given) => crate::specialised_shape(&graph_shape, given)
            .map_err(|why| ctx.refuse(node, format!("input '{}': {why}", node.name)))?,
        None => graph_shape,
    };
    if shape.is_empty() || shape[1..].iter().any(Option::is_none) {
        return Err(ctx.refuse(
            node,
            format!("the input shape {shape:?} has unknown non-batch dimensions; give it sizes to convert at"),
        ));
    }
    let dtype = input_dtype(node.attr_type_opt("dtype")?).map_err(|why| ctx.refuse(node, why))?;
    // Keras inputs have a free batch dimension.
    let mut batch_shape = shape.clone();
    batch_shape[0] = None;
    let name = ctx.layer_name(&node.name);
    let input = layers::typed_input_layer(&name, &batch_shape, dtype);
    let value = ctx.add_layer(node, input, batch_shape.clone());
    ctx.inputs.push(Endpoint { layer: name.into(), tf_node: node.name.clone(), shape: batch_shape });
    Ok(value)
}

/// The Keras type of a `Placeholder`'s `dtype` (float32 when the graph does not say).
fn input_dtype(dtype: Option<i32>) -> Result<InputDtype, String> {
    Ok(match dtype.map(DataType::try_from) {
        None | Some(Ok(DataType::DtFloat)) => InputDtype::Float32,
        Some(Ok(DataType::DtInt32)) => InputDtype::Int32,
        Some(Ok(DataType::DtInt64)) => InputDtype::Int64,
        Some(Ok(DataType::DtUint8)) => InputDtype::Uint8,
        Some(Ok(DataType::DtBool)) => InputDtype::Bool,
        Some(_) => {
            let shown = tf2h5_tf::dtype_name(dtype.unwrap_or_default());
            return Err(format!("inputs of type {shown} are not supported (float32, int32, int64, uint8, bool)"));
        }
    })
}

fn constant(_ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    Ok(Value::Const(ConstTensor::from_node(node)?))
}

/// `Identity` is an alias: no layer.
fn identity(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    Ok(ctx.input(node, 0)?.clone())
}

/// `ConcatV2(values..., axis)` of tensors → `Concatenate` (the axis counts the batch, as in
/// TF), a constant among them repeated over the batch first (`broadcast.rs`); of shape
/// integers or constants (reshape targets, tensordot permutations) → folded.
fn concat_v2(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let count = ctx.input_count(node);
    if count < 2 {
        return Err(ctx.refuse(node, "expected at least one value and an axis"));
    }
    let axis = match ctx.ints_input(node, count - 1)?.as_slice() {
        [axis] => *axis,
        _ => return Err(ctx.refuse(node, "the axis must be a scalar")),
    };
    let values: Vec<Value> = (0..count - 1).map(|i| ctx.input(node, i).cloned()).collect::<Result<_, _>>()?;
    let Some(like) = values.iter().find_map(|v| if let Value::Tensor(t) = v { Some(t.clone()) } else { None }) else {
        return concat_constants(ctx, node, count - 1, axis);
    };
    let name = ctx.layer_name(&node.name);
    let mut inputs: Vec<KTensor> = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        inputs.push(match value {
            Value::Tensor(t) => t,
            // A constant repeated over the batch (a class token): the same for every sample.
            Value::Const(ConstTensor::F32(c)) => broadcast::per_sample(ctx, node, &format!("{name}_{i}"), &like, &c)?,
            _ => ctx.tensor_input(node, i)?,
        });
    }
    if inputs.len() == 1 {
        return Ok(ctx.pass_through(node, inputs[0].clone()));
    }
    let rank = inputs[0].rank() as i64;
    let positive_axis = if axis < 0 { axis + rank } else { axis };
    if positive_axis <= 0 || positive_axis >= rank || inputs.iter().any(|t| t.rank() as i64 != rank) {
        return Err(
            ctx.refuse(node, format!("cannot concatenate along axis {axis} (ranks must match; not the batch axis)"))
        );
    }
    let mut shape = inputs[0].shape.clone();
    shape[positive_axis as usize] =
        inputs.iter().map(|t| t.shape[positive_axis as usize]).try_fold(0usize, |acc, d| d.map(|d| acc + d));
    let layer = layers::concatenate(&name, inputs.into_iter().map(|t| t.layer).collect(), axis);
    Ok(ctx.add_layer(node, layer, shape))
}

/// Concatenation of float constants, or of integer vectors (some maybe involving the batch).
fn concat_constants(ctx: &Context, node: &NodeDef, values: usize, axis: i64) -> Result<Value, ConvertError> {
    let floats: Option<Vec<ndarray::ArrayD<f32>>> =
        (0..values).map(|i| ctx.const_input(node, i).ok().and_then(|c| c.as_f32().cloned())).collect();
    if let Some(arrays) = floats {
        let rank = arrays[0].ndim() as i64;
        let axis = if axis < 0 { axis + rank } else { axis };
        let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
        let joined = ndarray::concatenate(ndarray::Axis(axis.max(0) as usize), &views)
            .map_err(|e| ctx.refuse(node, e.to_string()))?;
        return Ok(Value::Const(ConstTensor::F32(joined)));
    }
    if axis != 0 && axis != -1 {
        return Err(ctx.refuse(node, "integers can only be concatenated as vectors"));
    }
    let parts = (0..values).map(|i| ctx.dims_input(node, i)).collect::<Result<Vec<_>, _>>()?;
    let joined = Dims::concat(&parts).ok_or_else(|| ctx.refuse(node, "cannot concatenate scalars"))?;
    Ok(Value::from(joined))
}

/// `Slice(x, begin, size)` of a float constant (Keras 3 reads the first rows of a position
/// table so), folded; a size of -1 runs to the end of its axis.
fn slice_constant(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let Value::Const(ConstTensor::F32(x)) = ctx.input(node, 0)?.clone() else {
        return Err(ctx.refuse(node, "only a Slice of a constant is supported"));
    };
    let (begin, size) = (ctx.ints_input(node, 1)?, ctx.ints_input(node, 2)?);
    if begin.len() != x.ndim() || size.len() != x.ndim() {
        return Err(ctx.refuse(node, format!("begin {begin:?} and size {size:?} do not fit shape {:?}", x.shape())));
    }
    let mut sliced = x.view();
    for (axis, (&start, &count)) in begin.iter().zip(&size).enumerate() {
        let len = x.shape()[axis] as i64;
        let end = if count == -1 { len } else { start.saturating_add(count) };
        if start < 0 || end < start || end > len {
            return Err(ctx.refuse(node, format!("begin {begin:?} and size {size:?} leave shape {:?}", x.shape())));
        }
        sliced.slice_axis_inplace(ndarray::Axis(axis), ndarray::Slice::from(start as usize..end as usize));
    }
    Ok(Value::Const(ConstTensor::F32(sliced.to_owned())))
}

/// `Pad` with zeros on the spatial axes of a channels-last tensor → `ZeroPadding{1,2,3}D`.
fn pad(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let paddings = ctx.ints_input(node, 1)?;
    let rank = input.rank();
    let pairs: Vec<[i64; 2]> = paddings.chunks(2).map(|p| [p[0], p.get(1).copied().unwrap_or(-1)]).collect();
    let spatial = rank.saturating_sub(2);
    if !(2..=5).contains(&rank) || pairs.len() != rank || pairs[0] != [0, 0] || pairs.iter().flatten().any(|&p| p < 0) {
        return Err(ctx.refuse(
            node,
            format!("only zero padding of the non-batch axes of a rank-2 to rank-5 tensor is supported, got {paddings:?} on rank {rank}"),
        ));
    }
    // The channels (or a rank-2 tensor's only axis): one axis at a time (see `axis.rs`).
    if rank == 2 || pairs[rank - 1] != [0, 0] {
        let name = ctx.layer_name(&node.name);
        let mut steps = axis::Steps::new(ctx, &name);
        let padded = pairs.iter().enumerate().skip(1).try_fold(input.clone(), |x, (axis, &[before, after])| {
            steps.zero_pad(&x, axis, before as usize, after as usize)
        });
        let padded = padded.map_err(|e| ctx.refuse(node, e))?;
        return Ok(if padded == input { ctx.pass_through(node, padded) } else { ctx.fused(node, &padded) });
    }
    let sides = pairs[1..=spatial].iter().map(|&[before, after]| [before as usize, after as usize]).collect();
    let spec = Sides { kind: ResampleKind::ZeroPadding, sides };
    let shape = spec.output_shape(&input.shape).map_err(|e| ctx.refuse(node, e))?;
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, LayerSpec::Sides(spec).layer(&name, vec![input.layer], vec![]), shape))
}

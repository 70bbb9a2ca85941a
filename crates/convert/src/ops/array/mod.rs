//! Graph plumbing and shape ops: Placeholder, Const, Identity, Reshape, ConcatV2, Pad.

use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, ConstTensor, NodeExt};

use super::Registry;
use crate::context::{Context, KTensor, Value};
use crate::{ConvertError, Endpoint};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Placeholder", placeholder);
    registry.insert("Const", constant);
    registry.insert("Identity", identity);
    registry.insert("StopGradient", identity);
    registry.insert("Reshape", reshape);
    registry.insert("ConcatV2", concat_v2);
    registry.insert("Pad", pad);
}

/// `Placeholder` → `InputLayer`. Only the batch dimension may be unknown.
fn placeholder(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let shape = node
        .attr_shape_opt("shape")?
        .ok_or_else(|| ctx.refuse(node, "the input has an unknown rank; give it a static shape"))?;
    if shape.is_empty() || shape[1..].iter().any(Option::is_none) {
        return Err(ctx.refuse(node, format!("the input shape {shape:?} has unknown non-batch dimensions")));
    }
    if node.attr_type_opt("dtype")?.is_some_and(|t| t != tf2h5_tf::pb::DataType::DtFloat as i32) {
        return Err(ctx.refuse(node, "only float32 inputs are supported"));
    }
    // Keras inputs have a free batch dimension.
    let mut batch_shape = shape.clone();
    batch_shape[0] = None;
    let name = ctx.layer_name(&node.name);
    let value = ctx.add_layer(node, layers::input_layer(&name, &batch_shape), batch_shape.clone());
    ctx.inputs.push(Endpoint { layer: name, tf_node: node.name.clone(), shape: batch_shape });
    Ok(value)
}

fn constant(_ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    Ok(Value::Const(ConstTensor::from_node(node)?))
}

/// `Identity` is an alias: no layer.
fn identity(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    Ok(ctx.input(node, 0)?.clone())
}

/// `Reshape` to (batch, everything else) → `Flatten` (NHWC flattens in H, W, C order, like TF).
fn reshape(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let target = ctx.ints_input(node, 1)?;
    let features: Option<usize> = input.shape[1..].iter().try_fold(1usize, |acc, d| d.map(|d| acc * d));
    let flattens = match (target.as_slice(), features) {
        ([batch, rest], Some(features)) => (*batch == -1 || *rest == features as i64) && (*rest == -1 || *rest == features as i64),
        _ => false,
    };
    if !flattens || input.rank() < 3 {
        return Err(ctx.refuse(node, format!("reshape of {:?} to {target:?} is not a flatten; only flattening reshapes are supported", input.shape)));
    }
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::flatten(&name, input.layer), vec![None, features]))
}

/// `ConcatV2(values..., axis)` → `Concatenate` (the axis counts the batch, as in TF).
fn concat_v2(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let count = ctx.input_count(node);
    if count < 3 {
        return Err(ctx.refuse(node, "expected at least two values and an axis"));
    }
    let axis = match ctx.ints_input(node, count - 1)?.as_slice() {
        [axis] => *axis,
        _ => return Err(ctx.refuse(node, "the axis must be a scalar")),
    };
    let inputs: Vec<KTensor> = (0..count - 1).map(|i| ctx.tensor_input(node, i)).collect::<Result<_, _>>()?;
    let rank = inputs[0].rank() as i64;
    let positive_axis = if axis < 0 { axis + rank } else { axis };
    if positive_axis <= 0 || positive_axis >= rank || inputs.iter().any(|t| t.rank() as i64 != rank) {
        return Err(ctx.refuse(node, format!("cannot concatenate along axis {axis} (ranks must match; not the batch axis)")));
    }
    let mut shape = inputs[0].shape.clone();
    shape[positive_axis as usize] =
        inputs.iter().map(|t| t.shape[positive_axis as usize]).try_fold(0usize, |acc, d| d.map(|d| acc + d));
    let name = ctx.layer_name(&node.name);
    let layer = layers::concatenate(&name, inputs.into_iter().map(|t| t.layer).collect(), axis);
    Ok(ctx.add_layer(node, layer, shape))
}

/// `Pad` with zeros on H and W of an NHWC tensor → `ZeroPadding2D`.
fn pad(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let paddings = ctx.ints_input(node, 1)?;
    let &[n0, n1, top, bottom, left, right, c0, c1] = paddings.as_slice() else {
        return Err(ctx.refuse(node, format!("paddings {paddings:?} are not those of a rank-4 tensor")));
    };
    if input.rank() != 4 || [n0, n1, c0, c1] != [0, 0, 0, 0] || [top, bottom, left, right].iter().any(|&p| p < 0) {
        return Err(ctx.refuse(node, format!("only zero padding of H and W of NHWC tensors is supported, got {paddings:?}")));
    }
    let grow = |d: Option<usize>, a: i64, b: i64| d.map(|d| d + (a + b) as usize);
    let shape = vec![None, grow(input.shape[1], top, bottom), grow(input.shape[2], left, right), input.shape[3]];
    let name = ctx.layer_name(&node.name);
    let amounts = [[top as usize, bottom as usize], [left as usize, right as usize]];
    Ok(ctx.add_layer(node, layers::zero_padding2d(&name, input.layer, amounts), shape))
}

//! Arithmetic ops: MatMul (→ Dense), AddV2/Add (→ Add, or a bias), Mean over H,W (→ GlobalAveragePooling2D).

use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::Registry;
use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn register(registry: &mut Registry) {
    registry.insert("MatMul", mat_mul);
    registry.insert("AddV2", add);
    registry.insert("Add", add);
    registry.insert("Mean", mean);
}

/// `MatMul(x, W)` with constant W → `Dense` without bias (a following BiasAdd is fused later).
/// This also covers "custom layers" that are a bare matmul with a weight.
fn mat_mul(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let mut kernel = ctx.f32_input(node, 1)?;
    if node.attr_bool_opt("transpose_a")?.unwrap_or(false) {
        return Err(ctx.refuse(node, "transpose_a is not supported"));
    }
    if kernel.ndim() != 2 {
        return Err(ctx.refuse(node, format!("the weight has shape {:?}, expected a matrix", kernel.shape())));
    }
    if node.attr_bool_opt("transpose_b")?.unwrap_or(false) {
        kernel = kernel.t().as_standard_layout().into_owned();
    }
    if input.rank() != 2 || input.shape[1] != Some(kernel.shape()[0]) {
        return Err(ctx.refuse(node, format!("input of shape {:?} does not match the weight {:?}", input.shape, kernel.shape())));
    }
    let units = kernel.shape()[1];
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::dense(&name, input.layer, kernel, None, "linear"), vec![None, Some(units)]))
}

/// `AddV2`/`Add`: two tensors of one shape → `Add`; tensor + per-channel constant → the bias of
/// the layer before (same as BiasAdd).
fn add(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    match (ctx.input(node, 0)?, ctx.input(node, 1)?) {
        (Value::Tensor(a), Value::Tensor(b)) => {
            if a.shape != b.shape {
                return Err(ctx.refuse(node, format!("adding shapes {:?} and {:?} needs broadcasting, which is not supported", a.shape, b.shape)));
            }
            let (shape, sources) = (a.shape.clone(), vec![a.layer.clone(), b.layer.clone()]);
            let name = ctx.layer_name(&node.name);
            Ok(ctx.add_layer(node, layers::add(&name, sources), shape))
        }
        (Value::Tensor(_), Value::Const(_)) => super::nn::add_bias(ctx, node, 0, 1),
        (Value::Const(_), Value::Tensor(_)) => super::nn::add_bias(ctx, node, 1, 0),
        (Value::Const(_), Value::Const(_)) => Err(ctx.refuse(node, "constant folding of Add is not supported")),
    }
}

/// `Mean` over axes 1 and 2 of an NHWC tensor → `GlobalAveragePooling2D` (keep_dims kept).
fn mean(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let mut axes = ctx.ints_input(node, 1)?;
    let rank = input.rank() as i64;
    for axis in &mut axes {
        if *axis < 0 {
            *axis += rank;
        }
    }
    axes.sort_unstable();
    if rank != 4 || axes != [1, 2] {
        return Err(ctx.refuse(node, format!("only the mean over H and W of an NHWC tensor is supported, got axes {axes:?} on rank {rank}")));
    }
    let keepdims = node.attr_bool_opt("keep_dims")?.unwrap_or(false);
    let shape = if keepdims { vec![None, Some(1), Some(1), input.shape[3]] } else { vec![None, input.shape[3]] };
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::global_average_pooling2d(&name, input.layer, keepdims), shape))
}

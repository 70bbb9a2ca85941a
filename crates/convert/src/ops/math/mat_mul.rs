//! TF `MatMul(x, W)` with constant W → `Dense` without bias (a following BiasAdd is fused
//! later). This also covers "custom layers" that are a bare matmul with a weight.
//!
//! On the rows of a batch-merged tensor (TF's `tensordot`, which Keras's `Dense` itself emits
//! for inputs of rank > 2: reshape to (batch·h·w, c), MatMul, reshape back), the `Dense` is
//! applied to the original tensor, on its last axis, as Keras does.

use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn mat_mul(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let (input, rows) = match ctx.input(node, 0)? {
        Value::Rows(t) => (t.clone(), true),
        _ => (ctx.tensor_input(node, 0)?, false),
    };
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
    if (!rows && input.rank() != 2) || input.channels() != Some(kernel.shape()[0]) {
        return Err(ctx
            .refuse(node, format!("input of shape {:?} does not match the weight {:?}", input.shape, kernel.shape())));
    }
    let units = kernel.shape()[1];
    let name = ctx.layer_name(&node.name);
    let mut shape = input.shape.clone();
    if let Some(last) = shape.last_mut() {
        *last = Some(units);
    }
    let tensor = ctx.add_layer_tensor(node, layers::dense(&name, input.layer, kernel, None, "linear"), shape);
    Ok(if rows { Value::Rows(tensor) } else { Value::Tensor(tensor) })
}

//! TF `MatMul(x, W)` with constant W → `Dense` without bias (a following BiasAdd is fused
//! later). This also covers "custom layers" that are a bare matmul with a weight.
//!
//! On the rows of a batch-merged tensor (TF's `tensordot`, which Keras's `Dense` itself emits
//! for inputs of rank > 2: reshape to (batch·h·w, c), MatMul, reshape back), the `Dense` is
//! applied to the original tensor, on its last axis, as Keras does.
//!
//! `BatchMatMulV2` (and `V3`, `BatchMatMul`) of a tensor of any rank by a constant matrix is
//! the same `Dense` on the last axis: Keras 3's `EinsumDense` on the TensorFlow backend writes
//! its projections so (the kernel reshaped to 2-D, the tensor's last axes merged before). Of two
//! computed tensors (its attention scores and mix) it is an einsum of them (`einsum.rs`).

use ndarray::ArrayD;
use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

pub(super) fn mat_mul(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let (input, rows) = match ctx.input(node, 0)? {
        Value::Rows(t) => (t.clone(), true),
        _ => (ctx.tensor_input(node, 0)?, false),
    };
    if node.attr_bool_opt("transpose_a")?.unwrap_or(false) {
        return Err(ctx.refuse(node, "transpose_a is not supported"));
    }
    let transpose_b = node.attr_bool_opt("transpose_b")?.unwrap_or(false);
    let kernel = ctx.f32_input(node, 1)?;
    let tensor = dense_on_last_axis(ctx, node, input, kernel, transpose_b, rows)?;
    Ok(if rows { Value::Rows(tensor) } else { Value::Tensor(tensor) })
}

pub(super) fn batch_mat_mul(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let adj_x = node.attr_bool_opt("adj_x")?.unwrap_or(false);
    let adj_y = node.attr_bool_opt("adj_y")?.unwrap_or(false);
    let (input, kernel) = match (ctx.input(node, 0)?, ctx.input(node, 1)?) {
        (Value::Tensor(x), Value::Tensor(y)) => {
            let operands = [x.clone(), y.clone()];
            return super::einsum::batch_mat_mul(ctx, node, operands, adj_x, adj_y);
        }
        (Value::Tensor(t), Value::Const(_)) if !adj_x => (t.clone(), ctx.f32_input(node, 1)?),
        _ => {
            return Err(
                ctx.refuse(node, "only a product of a tensor by a constant matrix, or of two tensors, is supported")
            )
        }
    };
    // Leading axes of 1 broadcast over the tensor's: the same matrix for every row.
    let kernel = match kernel.shape() {
        [ones @ .., _, _] if ones.iter().all(|&d| d == 1) => {
            let (k, n) = (kernel.shape()[kernel.ndim() - 2], kernel.shape()[kernel.ndim() - 1]);
            kernel.into_shape_with_order(vec![k, n]).map_err(|e| ctx.refuse(node, e.to_string()))?
        }
        _ => return Err(ctx.refuse(node, format!("the weight has shape {:?}, expected a matrix", kernel.shape()))),
    };
    Ok(Value::Tensor(dense_on_last_axis(ctx, node, input, kernel, adj_y, true)?))
}

/// `input · kernel` (`kernelᵀ` with `transpose`) on the last axis → `Dense` without bias; the
/// input a matrix unless `any_rank`.
fn dense_on_last_axis(
    ctx: &mut Context,
    node: &NodeDef,
    input: KTensor,
    kernel: ArrayD<f32>,
    transpose: bool,
    any_rank: bool,
) -> Result<KTensor, ConvertError> {
    if kernel.ndim() != 2 {
        return Err(ctx.refuse(node, format!("the weight has shape {:?}, expected a matrix", kernel.shape())));
    }
    let kernel = if transpose { kernel.t().as_standard_layout().into_owned() } else { kernel };
    if (!any_rank && input.rank() != 2) || input.rank() < 2 || input.channels() != Some(kernel.shape()[0]) {
        return Err(ctx
            .refuse(node, format!("input of shape {:?} does not match the weight {:?}", input.shape, kernel.shape())));
    }
    let units = kernel.shape()[1];
    let name = ctx.layer_name(&node.name);
    let mut shape = input.shape.clone();
    if let Some(last) = shape.last_mut() {
        *last = Some(units);
    }
    Ok(ctx.add_layer_tensor(node, layers::dense(&name, input.layer, kernel, None, "linear"), shape))
}

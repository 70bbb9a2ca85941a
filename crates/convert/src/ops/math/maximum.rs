//! TF `Maximum` / `Minimum`: of two tensors → `Maximum` / `Minimum` (broadcasting dimensions
//! of 1); `Maximum(x, 0)` → `ReLU`; constants are folded.

use tf2h5_keras::layers;
use tf2h5_tf::pb::NodeDef;

use super::elementwise::{self, Broadcast, Operands};
use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn maximum(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    extremum(ctx, node, "Maximum")
}

pub(super) fn minimum(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    extremum(ctx, node, "Minimum")
}

fn extremum(ctx: &mut Context, node: &NodeDef, class_name: &str) -> Result<Value, ConvertError> {
    match elementwise::operands(ctx, node)? {
        Operands::Consts(a, b) => elementwise::fold(ctx, node, &a, &b),
        Operands::Tensors(a, b) => elementwise::merge(ctx, node, class_name, vec![a, b]),
        Operands::TensorConst { tensor, constant, .. } => {
            let c = elementwise::broadcast(ctx, node, &tensor, &constant)?;
            if class_name == "Maximum" && c == Broadcast::Scalar(0.0) {
                let name = ctx.layer_name(&node.name);
                let shape = tensor.shape.clone();
                return Ok(ctx.add_layer(node, layers::relu(&name, tensor.layer, None), shape));
            }
            Err(ctx
                .refuse(node, format!("{} of a tensor and a constant other than max(x, 0) is not supported", node.op)))
        }
        _ => Err(ctx.refuse(node, "unsupported operands")),
    }
}

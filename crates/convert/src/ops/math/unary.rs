//! Element-wise unary math: `Sqrt`, `Rsqrt`, `Square`, `Neg`, `Reciprocal`, `Exp`, `Abs`.
//!
//! On constants they are folded (the arithmetic on weights that frozen graphs keep). On
//! tensors: `Square(x)` → `Multiply([x, x])`, `Neg(x)` → `Rescaling(scale=-1)`, `Exp` →
//! `Activation('exponential')`; the others have no exact Keras layer and are refused.

use tf2h5_keras::layers;
use tf2h5_tf::pb::NodeDef;

use super::elementwise::{self, Broadcast};
use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn unary(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    match ctx.input(node, 0)? {
        Value::Const(c) => super::const_fold::fold_unary(&node.op, c)
            .map(Value::Const)
            .ok_or_else(|| ctx.refuse(node, "cannot fold this constant")),
        Value::Tensor(t) => {
            let t = t.clone();
            match node.op.as_str() {
                "Square" => elementwise::merge(ctx, node, "Multiply", vec![t.clone(), t]),
                "Neg" => Ok(elementwise::rescaling(ctx, node, t, &Broadcast::Scalar(-1.0), &Broadcast::Scalar(0.0))),
                "Exp" => {
                    let name = ctx.layer_name(&node.name);
                    let shape = t.shape.clone();
                    Ok(ctx.add_layer(node, layers::activation(&name, t.layer, "exponential"), shape))
                }
                op => Err(ctx.refuse(node, format!("{op} of a computed tensor has no exact Keras layer"))),
            }
        }
        _ => Err(ctx.refuse(node, "unsupported input")),
    }
}

//! `SelectV2(condition, a, b)` on a condition the converter holds as 0.0/1.0 floats (a
//! comparison of ids or a `Cast` of a mask to bool: [`super::compare::holds_truth`]), one
//! branch a tensor `x` and the other a finite scalar constant `c`. Keras 3's masked softmax
//! (`Softmax(mask=...)` on the TensorFlow backend, as keras-hub's attention calls it) writes
//! `SelectV2(mask, scores, -1e9)` before the softmax and `SelectV2(mask, probabilities, 0)`
//! after it, which zeroes a fully masked row.
//!
//! With `w` the condition (`x` taken where it is true) or `1 - w` (`x` taken where it is false:
//! `Rescaling(-1, 1)`, exact on 0 and 1):
//! ```text
//! x · w + c · (1 - w)   →   Add([Multiply([x, w]), Rescaling(scale = -c, offset = c)(w)])
//! ```
//! (the `Multiply` alone when `c` is 0). Where `w` is 1 this is `x · 1 + (c - c) = x + 0 = x`,
//! where it is 0 `x · 0 + (0 + c) = c`: every step is exact in float32, for a finite `x` (TF
//! gives `c` where an infinite or NaN `x` is masked; the product gives NaN there). Attention
//! scores are finite wherever the model's outputs are. The merge layers broadcast the mask
//! `(batch, 1, 1, keys)` over the scores `(batch, heads, queries, keys)` in both Keras versions.
//! Other selects (of two tensors, of an infinite constant, on a computed float condition) are
//! refused naming the node.

use tf2h5_keras::layers;
use tf2h5_tf::pb::NodeDef;

use super::elementwise;
use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

pub(super) fn select_v2(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let condition = ctx.graph.data_inputs(node).next();
    let held = condition.as_ref().is_some_and(|c| super::compare::holds_truth(ctx, c));
    let mask = match ctx.input(node, 0)? {
        Value::Tensor(t) if held => t.clone(),
        _ => {
            return Err(ctx
                .refuse(node, "only a select on a mask of integer ids (a comparison or a cast to bool) is supported"))
        }
    };
    let (x, constant, x_where_true) = match (ctx.input(node, 1)?, ctx.input(node, 2)?) {
        (Value::Tensor(t), Value::Const(c)) => (t.clone(), c.clone(), true),
        (Value::Const(c), Value::Tensor(t)) => (t.clone(), c.clone(), false),
        _ => return Err(ctx.refuse(node, "only a select between a tensor and a constant is supported")),
    };
    let c = match constant.as_f32() {
        Some(values) if values.len() == 1 => values.iter().next().copied().unwrap_or_default(),
        _ => return Err(ctx.refuse(node, "only a select between a tensor and one float constant is supported")),
    };
    if !c.is_finite() {
        return Err(
            ctx.refuse(node, format!("selecting the constant {c} has no exact form as a product with the mask"))
        );
    }
    let name = ctx.layer_name(&node.name);
    let weight = if x_where_true {
        mask
    } else {
        let flipped = layers::rescaling(&format!("{name}_not"), mask.layer, &[-1.0], &[1.0]);
        ctx.add_inner_layer(flipped, mask.shape)
    };
    if c == 0.0 {
        return elementwise::merge(ctx, node, "Multiply", vec![x, weight]);
    }
    let shape = elementwise::broadcast_shape(ctx, node, &[x.clone(), weight.clone()])?;
    let kept = layers::merge("Multiply", &format!("{name}_kept"), vec![x.layer, weight.layer.clone()]);
    let kept = ctx.add_inner_layer(kept, shape);
    let filler = layers::rescaling(&format!("{name}_filler"), weight.layer, &[-c], &[c]);
    let filler: KTensor = ctx.add_inner_layer(filler, weight.shape);
    elementwise::merge(ctx, node, "Add", vec![kept, filler])
}

//! TF `Maximum` / `Minimum`: of two tensors → `Maximum` / `Minimum` (broadcasting dimensions
//! of 1); `Maximum(x, 0)` → `ReLU`; of a tensor and a scalar on the zero's side
//! (`tf.clip_by_value(x, lo, hi)` with lo ≤ 0 ≤ hi is `Maximum(Minimum(x, hi), lo)`) → the
//! split below; constants are folded.
//!
//! Exact split: `min(x, hi) = relu_hi(x) − relu(−x)` and `max(x, lo) = relu(x) − relu_{−lo}(−x)`
//! (`relu_m` a `ReLU` capped at `m`): one of the two terms is zero, so the `Add` of the
//! first and the negated second (`Rescaling(-1)`, exact) is exact, infinities included. Only
//! `ReLU(max_value)` is used, which every loader (tfjs too) reads; a bound on the far side of
//! zero would need a shift, which rounds, and is refused.

use tf2h5_keras::layers;
use tf2h5_tf::pb::NodeDef;

use super::elementwise::{self, Broadcast, Operands};
use crate::context::{Context, KTensor, Value};
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
            let Broadcast::Scalar(c) = elementwise::broadcast(ctx, node, &tensor, &constant)? else {
                return Err(
                    ctx.refuse(node, format!("{} of a tensor and a non-scalar constant is not supported", node.op))
                );
            };
            let name = ctx.layer_name(&node.name);
            let shape = tensor.shape.clone();
            match (class_name, c) {
                ("Maximum", 0.0) => Ok(ctx.add_layer(node, layers::relu(&name, tensor.layer, None), shape)),
                ("Maximum", lo) if lo < 0.0 => Ok(split(ctx, node, &name, &tensor, None, Some(-lo))),
                ("Minimum", hi) if hi >= 0.0 => Ok(split(ctx, node, &name, &tensor, Some(hi), None)),
                ("Maximum", _) => Err(ctx.refuse(
                    node,
                    format!(
                        "Maximum of a tensor and {c} > 0 has no exact Keras form (tf.math.l2_normalize's \
                         max(Σx², ε): Keras 3's UnitNormalization clamps min(rsqrt(Σx²), 1/ε) instead, \
                         which differs for norms below √ε)"
                    ),
                )),
                _ => Err(ctx.refuse(node, format!("Minimum of a tensor and {c} < 0 has no exact Keras form"))),
            }
        }
        _ => Err(ctx.refuse(node, "unsupported operands")),
    }
}

/// `relu_{above}(x) − relu_{below}(−x)` (each cap `None` for none): `ReLU`, `Rescaling(-1)`,
/// `ReLU`, `Rescaling(-1)`, `Add`, the last one standing for `node`.
fn split(ctx: &mut Context, node: &NodeDef, name: &str, x: &KTensor, above: Option<f32>, below: Option<f32>) -> Value {
    let shape = x.shape.clone();
    let inner = |ctx: &mut Context, step: &str, build: &dyn Fn(&str) -> tf2h5_keras::Layer| {
        let step_name = ctx.layer_name(&format!("{name}_{step}"));
        ctx.add_inner_layer(build(&step_name), shape.clone())
    };
    let positive = inner(ctx, "positive", &|n| layers::relu(n, x.layer.clone(), above));
    let negated = inner(ctx, "negated", &|n| layers::rescaling(n, x.layer.clone(), &[-1.0], &[0.0]));
    let negative = inner(ctx, "negative", &|n| layers::relu(n, negated.layer.clone(), below));
    let minus = inner(ctx, "minus", &|n| layers::rescaling(n, negative.layer.clone(), &[-1.0], &[0.0]));
    ctx.add_layer(node, layers::add(name, vec![positive.layer, minus.layer]), shape)
}

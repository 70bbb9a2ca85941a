//! TF `Pow`: of constants, folded; of a computed tensor, refused. TF's kernel (Eigen's `pow`)
//! rounds differently from repeated multiplication: `pow(x, 2)` differs from `x·x` and
//! `pow(x, 3)` from `x·x·x` on about a third of float32 inputs (by up to 2 ulp), so no Keras
//! layer computes it exactly. Its common case, the cube in a tanh-approximate GELU
//! (`0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`: `gelu(approximate=True)` in Keras, keras-hub's
//! BERT), is refused as that GELU: no Keras activation string selects the approximation either.

use tf2h5_tf::pb::NodeDef;

use super::elementwise::{self, Operands};
use crate::context::{resolve, Context, Value};
use crate::ConvertError;

/// The coefficient of x³ in the tanh approximation of GELU.
const GELU_TANH_CUBE_COEFFICIENT: f32 = 0.044715;

pub(super) fn pow(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    match elementwise::operands(ctx, node)? {
        Operands::Consts(a, b) => elementwise::fold(ctx, node, &a, &b),
        Operands::TensorConst { constant, tensor_first: true, .. } if constant.len() == 1 => {
            let exponent = constant.iter().next().copied().unwrap_or_default();
            if exponent == 3.0 && scaled_by_gelu_coefficient(ctx, node) {
                return Err(ctx.refuse(
                    node,
                    "a tanh-approximate GELU (gelu(approximate=True)) has no exact Keras form: no activation \
                     string selects the approximation, and x·x·x rounds differently from TF's pow(x, 3); \
                     the exact GELU (approximate=False) converts",
                ));
            }
            Err(ctx.refuse(
                node,
                format!(
                    "x to the power {exponent} has no exact Keras layer (TF's pow rounds differently from products)"
                ),
            ))
        }
        _ => {
            Err(ctx
                .refuse(node, "only a tensor to a constant scalar power is recognised (and has no exact Keras layer)"))
        }
    }
}

/// Whether a reader of `pow` multiplies it by GELU's 0.044715.
fn scaled_by_gelu_coefficient(ctx: &Context, pow: &NodeDef) -> bool {
    let graph = ctx.graph;
    let is_pow =
        |n: &NodeDef, i: usize| graph.data_inputs(n).nth(i).is_some_and(|t| resolve(graph, &t).node == pow.name);
    let coefficient = |n: &NodeDef, i: usize| {
        let Some(input) = graph.data_inputs(n).nth(i) else { return false };
        let value = graph.const_value(&resolve(graph, &input).node).ok().flatten();
        value.and_then(|c| c.as_f32().and_then(|a| (a.len() == 1).then(|| a.iter().next().copied()).flatten()))
            == Some(GELU_TANH_CUBE_COEFFICIENT)
    };
    graph
        .nodes()
        .iter()
        .filter(|n| n.op == "Mul")
        .any(|n| (is_pow(n, 0) && coefficient(n, 1)) || (is_pow(n, 1) && coefficient(n, 0)))
}

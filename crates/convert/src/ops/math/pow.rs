//! TF `Pow`: of constants, folded; of a tensor to a constant power 1 to 4, the product of that
//! many copies (`Multiply([x, x, x])` for x³; x¹ is x itself). In real arithmetic that is the
//! power itself; in float32 TF's kernel (Eigen's `pow`) is not correctly rounded and differs
//! from x·x·x by up to 2 ulp on about a third of inputs, a difference of rounding, not of
//! function, which verification measures like any other. The common case is the cube in a
//! tanh-approximate GELU (`0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, keras-hub's BERT,
//! `gelu(approximate=True)`): with the cube as a product, it converts as the layers of that
//! formula. Other exponents (½, negative, fractional) have no Keras layer and are refused.

use tf2h5_tf::pb::NodeDef;

use super::elementwise::{self, Operands};
use crate::context::{Context, Value};
use crate::ConvertError;

/// The largest power written as a product of copies; larger ones are rare in models and would
/// widen the rounding gap to TF's pow.
const LARGEST_PRODUCT_POWER: usize = 4;

pub(super) fn pow(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    match elementwise::operands(ctx, node)? {
        Operands::Consts(a, b) => elementwise::fold(ctx, node, &a, &b),
        Operands::TensorConst { tensor, constant, tensor_first: true } if constant.len() == 1 => {
            let exponent = constant.iter().next().copied().unwrap_or_default();
            match product_power(exponent) {
                Some(1) => Ok(Value::Tensor(tensor)),
                Some(copies) => elementwise::merge(ctx, node, "Multiply", vec![tensor; copies]),
                None => Err(ctx.refuse(
                    node,
                    format!(
                        "x to the power {exponent} has no Keras layer (only whole powers 1 to {LARGEST_PRODUCT_POWER} \
                         convert, as products)"
                    ),
                )),
            }
        }
        _ => Err(ctx.refuse(node, "only a tensor to a constant scalar power is supported")),
    }
}

/// The number of copies whose product is `x^exponent`, for a whole exponent from 1 up to
/// [`LARGEST_PRODUCT_POWER`].
fn product_power(exponent: f32) -> Option<usize> {
    let whole = exponent.fract() == 0.0 && (1.0..=LARGEST_PRODUCT_POWER as f32).contains(&exponent);
    whole.then_some(exponent as usize)
}

#[cfg(test)]
mod tests {
    use super::product_power;

    #[test]
    fn whole_powers_up_to_four_are_products() {
        assert_eq!(product_power(1.0), Some(1));
        assert_eq!(product_power(3.0), Some(3));
        assert_eq!(product_power(4.0), Some(4));
        for refused in [0.0, 0.5, -1.0, 2.5, 5.0, f32::NAN, f32::INFINITY] {
            assert_eq!(product_power(refused), None, "{refused}");
        }
    }
}

//! TF `RealDiv` of a tensor by a constant → `Normalization` (the preprocessing layer), which
//! both Keras versions compute as `(x - mean) / max(sqrt(variance), 1e-7)`.
//!
//! `x / d` is written as mean 0 and variance `fl(d²)`: `sqrt(fl(d²)) == d` holds for every
//! normal positive float32 `d`, which is checked, as is `d ≥ 1e-7`. Division is not
//! multiplication by `1/d` (they round differently), which is why this is not a `Rescaling`.
//! When the tensor comes from a `Rescaling(scale=1, offset=o)` read by nothing else (a TF
//! `Sub` of a mean), the two become one `Normalization(mean=-o)`: `x - (-o)` is `x + o`.
//! This is the EfficientNet/ConvNeXt `Normalization` layer (`Sub`, then `Sqrt`, `Maximum`
//! folded into the divisor, then `RealDiv`).

use tf2h5_keras::layers;
use tf2h5_tf::pb::NodeDef;

use super::elementwise::{self, Broadcast, Operands};
use crate::context::{Context, Value};
use crate::ConvertError;

/// Keras's `backend.epsilon()`, the floor of `Normalization`'s divisor.
const KERAS_EPSILON: f32 = 1e-7;

pub(super) fn real_div(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let (tensor, divisor) = match elementwise::operands(ctx, node)? {
        Operands::Consts(a, b) => return elementwise::fold(ctx, node, &a, &b),
        Operands::TensorConst { tensor, constant, tensor_first: true } => {
            let divisor = elementwise::broadcast(ctx, node, &tensor, &constant)?;
            if let Broadcast::Full(_) = divisor {
                return Err(ctx.refuse(
                    node,
                    format!(
                        "dividing by a constant of shape {:?} (neither a scalar nor one per channel)",
                        constant.shape()
                    ),
                ));
            }
            (tensor, divisor)
        }
        _ => return Err(ctx.refuse(node, "only a tensor divided by a constant is supported")),
    };
    let divisor_values = divisor.values();
    let variance: Vec<f32> = divisor_values.iter().map(|&d| d * d).collect();
    if let Some((d, _)) =
        divisor_values.iter().zip(&variance).find(|(&d, &v)| !(d >= KERAS_EPSILON && v.is_normal() && v.sqrt() == d))
    {
        return Err(
            ctx.refuse(node, format!("the divisor {d} cannot be expressed exactly as a Normalization variance"))
        );
    }
    let channels = tensor.channels().unwrap_or(0);
    // Fuse a preceding pure offset (`x - mean`).
    if let Some(layer) = ctx.fusible_layer(&tensor, |l| l.class_name == "Rescaling") {
        if let Some((scale, offset)) = elementwise::rescaling_params(layer) {
            if scale.iter().all(|&s| s == 1.0) {
                let (mean, variance) = matched(offset.iter().map(|&o| -o).collect(), variance.clone(), channels);
                let replacement = layers::normalization(&layer.name, String::new().into(), &mean, &variance);
                layer.class_name = replacement.class_name;
                layer.config = replacement.config;
                return Ok(ctx.fused(node, &tensor));
            }
        }
    }
    let zero = match divisor {
        Broadcast::Scalar(_) => vec![0.0],
        Broadcast::PerChannel(_) | Broadcast::Full(_) => vec![0.0; channels],
    };
    let (mean, variance) = matched(zero, variance, channels);
    let name = ctx.layer_name(&node.name);
    let shape = tensor.shape.clone();
    Ok(ctx.add_layer(node, layers::normalization(&name, tensor.layer, &mean, &variance), shape))
}

/// Keras 3 requires `mean` and `variance` of one shape: widen a scalar to one per channel.
fn matched(mean: Vec<f32>, variance: Vec<f32>, channels: usize) -> (Vec<f32>, Vec<f32>) {
    let widen = |v: Vec<f32>| if v.len() == 1 && channels > 1 { vec![v[0]; channels] } else { v };
    if mean.len() == variance.len() {
        (mean, variance)
    } else {
        (widen(mean), widen(variance))
    }
}

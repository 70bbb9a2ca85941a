//! Activations: TF `Relu`, `Relu6`, `Sigmoid`, `Tanh`, `Elu`, `Selu`, `Softplus`, `Softsign`,
//! `Softmax`, `LogSoftmax`, `LeakyRelu` (and swish/GELU, recognised as patterns, built here).
//!
//! Fused into the `activation` of a preceding layer whose spec can absorb one (dense and
//! convolutions with a linear activation) when nothing else reads its output (Softmax only into a rank-2 Dense, where Keras's softmax axis is TF's
//! last axis); otherwise an `Activation` layer. Only activations defined the same way in
//! tf-keras and Keras 3 are used. `Relu6` is `ReLU(max_value=6)`; `LeakyRelu` is the
//! `LeakyReLU` layer with `alpha` (never the `leaky_relu` activation string, whose default
//! slope differs between versions). TF's Softmax and LogSoftmax normalise the last axis, as
//! the `log_softmax` activation does in tf-keras, Keras 3 and tfjs (its `logSoftmax`).

use tf2h5_keras::layers;
use tf2h5_keras::spec::LayerSpec;
use tf2h5_keras::Layer;
use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::Registry;
use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Relu", |ctx, node| activation(ctx, node, "relu"));
    registry.insert("Sigmoid", |ctx, node| activation(ctx, node, "sigmoid"));
    registry.insert("Tanh", |ctx, node| activation(ctx, node, "tanh"));
    registry.insert("Elu", |ctx, node| activation(ctx, node, "elu"));
    registry.insert("Selu", |ctx, node| activation(ctx, node, "selu"));
    registry.insert("Softplus", |ctx, node| activation(ctx, node, "softplus"));
    registry.insert("Softsign", |ctx, node| activation(ctx, node, "softsign"));
    registry.insert("Softmax", softmax);
    registry.insert("LogSoftmax", |ctx, node| activation(ctx, node, "log_softmax"));
    registry.insert("Relu6", relu6);
    registry.insert("LeakyRelu", leaky_relu);
}

/// Fuses into the layer producing `input` if possible (`readers`: how many times the
/// activation's own TF nodes read that output); returns `None` if a layer is needed.
fn try_fuse(
    ctx: &mut Context,
    node: &NodeDef,
    input: &KTensor,
    activation: &str,
    only_dense: bool,
    readers: usize,
) -> Option<Value> {
    let absorbs = |layer: &Layer| {
        LayerSpec::parse(layer)
            .is_ok_and(|spec| spec.can_absorb_activation() && (!only_dense || matches!(spec, LayerSpec::Dense(_))))
    };
    let layer = ctx.fusible_layer_read_by(input, absorbs, readers)?;
    let mut spec = LayerSpec::parse(layer).ok()?;
    spec.absorb_activation(activation);
    spec.write_config(&mut layer.config);
    Some(ctx.fused(node, input))
}

fn activation(ctx: &mut Context, node: &NodeDef, activation: &str) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    Ok(apply(ctx, node, input, activation, 1))
}

/// `activation` applied to `input` for `node`: fused (when `node`'s pattern reads the input
/// `readers` times and nothing else does) or an `Activation` layer.
pub(crate) fn apply(ctx: &mut Context, node: &NodeDef, input: KTensor, activation: &str, readers: usize) -> Value {
    if let Some(fused) = try_fuse(ctx, node, &input, activation, false, readers) {
        return fused;
    }
    let name = ctx.layer_name(&node.name);
    let shape = input.shape.clone();
    ctx.add_layer(node, layers::activation(&name, input.layer, activation), shape)
}

fn softmax(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    if input.rank() == 2 {
        if let Some(fused) = try_fuse(ctx, node, &input, "softmax", true, 1) {
            return Ok(fused);
        }
    }
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::softmax(&name, input.layer, -1), input.shape))
}

fn relu6(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::relu(&name, input.layer, Some(6.0)), input.shape))
}

/// `LeakyRelu(alpha)` (TF's default alpha is 0.2) → `LeakyReLU(alpha)`.
fn leaky_relu(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let alpha = node.attr_float_opt("alpha")?.unwrap_or(0.2);
    if !(alpha >= 0.0 && alpha.is_finite()) {
        return Err(ctx.refuse(node, format!("alpha {alpha} is refused by Keras (negative or not finite)")));
    }
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::leaky_relu(&name, input.layer, alpha), input.shape))
}

//! Activations: TF `Relu`, `Relu6`, `Sigmoid`, `Tanh`, `Softmax`.
//!
//! Fused into the `activation` of a preceding `Conv2D`/`Dense` when nothing else reads its
//! output (Softmax only into a rank-2 Dense, where Keras's softmax axis is TF's last axis);
//! otherwise a layer of its own. `Relu6` is `ReLU(max_value=6)`, which means the same in
//! tf-keras and Keras 3. TF's Softmax normalises the last axis.

use tf2h5_keras::layers;
use tf2h5_tf::pb::NodeDef;

use super::Registry;
use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Relu", |ctx, node| activation(ctx, node, "relu"));
    registry.insert("Sigmoid", |ctx, node| activation(ctx, node, "sigmoid"));
    registry.insert("Tanh", |ctx, node| activation(ctx, node, "tanh"));
    registry.insert("Softmax", softmax);
    registry.insert("Relu6", relu6);
}

/// Fuses into the producing layer if possible; returns `None` if a layer is needed.
fn try_fuse(ctx: &mut Context, node: &NodeDef, activation: &str, classes: &[&str]) -> Result<Option<Value>, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let Some(layer) = ctx.fusible_layer(&input, classes) else { return Ok(None) };
    if layer.config.get("activation").and_then(|v| v.as_str()) != Some("linear") {
        return Ok(None);
    }
    layer.config.insert("activation".into(), serde_json::Value::String(activation.into()));
    Ok(Some(ctx.fused(node, &input)))
}

fn activation(ctx: &mut Context, node: &NodeDef, activation: &str) -> Result<Value, ConvertError> {
    if let Some(fused) = try_fuse(ctx, node, activation, &["Conv2D", "Dense"])? {
        return Ok(fused);
    }
    let input = ctx.tensor_input(node, 0)?;
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::activation(&name, input.layer, activation), input.shape))
}

fn softmax(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    if input.rank() == 2 {
        if let Some(fused) = try_fuse(ctx, node, "softmax", &["Dense"])? {
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

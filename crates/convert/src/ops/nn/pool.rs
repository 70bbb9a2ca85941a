//! TF `MaxPool` / `AvgPool` → Keras `MaxPooling2D` / `AveragePooling2D`.
//!
//! Both TF and Keras exclude SAME padding from the average, so `same` maps exactly.

use tf2h5_keras::layers::{self, PoolKind, Window2D};
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn max_pool(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    pool(ctx, node, PoolKind::Max)
}

pub(super) fn avg_pool(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    pool(ctx, node, PoolKind::Average)
}

fn pool(ctx: &mut Context, node: &NodeDef, kind: PoolKind) -> Result<Value, ConvertError> {
    super::require_nhwc(ctx, node)?;
    let input = ctx.tensor_input(node, 0)?;
    let window = Window2D {
        size: super::spatial_pair(ctx, node, "ksize", None)?,
        strides: super::spatial_pair(ctx, node, "strides", None)?,
        padding: super::padding(ctx, node)?,
        dilation: [1, 1],
    };
    let channels = input.shape.get(3).copied().flatten();
    let shape = super::window_output_shape(ctx, node, &input.shape, &window, channels)?;
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, layers::pool2d(&name, input.layer, kind, window), shape))
}

//! TF `MaxPool` / `AvgPool` (and their 3-D forms) → Keras `MaxPooling2D/3D` /
//! `AveragePooling2D/3D` ([`Pool`]); the 1-D ones arrive through `patterns::conv1d`.
//!
//! Both TF and Keras exclude SAME padding from the average, so `same` maps exactly.

use tf2h5_keras::spec::{LayerSpec, Pool, PoolKind, Window};
use tf2h5_tf::pb::NodeDef;

use crate::context::{Context, KTensor, Value};
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
    let rank = input.rank().saturating_sub(2).max(1);
    let window = Window {
        kernel: super::spatial(ctx, node, "ksize", rank, None)?,
        strides: super::spatial(ctx, node, "strides", rank, None)?,
        dilation: vec![1; rank],
        padding: super::padding(ctx, node)?,
    };
    add(ctx, node, input, Pool { kind, window })
}

/// Adds `pool` of `input` as `node`'s layer.
pub(crate) fn add(ctx: &mut Context, node: &NodeDef, input: KTensor, pool: Pool) -> Result<Value, ConvertError> {
    let shape =
        pool.output_shape(&input.shape).map_err(|e| ctx.refuse(node, format!("input {:?}: {e}", input.shape)))?;
    let name = ctx.layer_name(&node.name);
    Ok(ctx.add_layer(node, LayerSpec::Pool(pool).layer(&name, vec![input.layer], vec![]), shape))
}

//! TF `Mean` over H and W of an NHWC tensor → `GlobalAveragePooling2D` (keep_dims kept).
//! Means over the last axis appear inside layer normalizations, recognised as a whole
//! (`patterns::layer_norm`); other reductions have no Keras layer.

use tf2h5_keras::spec::{GlobalPool, LayerSpec, PoolKind};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn mean(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let mut axes = ctx.ints_input(node, 1)?;
    let rank = input.rank() as i64;
    for axis in &mut axes {
        if *axis < 0 {
            *axis += rank;
        }
    }
    axes.sort_unstable();
    if rank != 4 || axes != [1, 2] {
        return Err(ctx.refuse(
            node,
            format!("only the mean over H and W of an NHWC tensor is supported, got axes {axes:?} on rank {rank}"),
        ));
    }
    let keepdims = node.attr_bool_opt("keep_dims")?.unwrap_or(false);
    let shape = if keepdims { vec![None, Some(1), Some(1), input.shape[3]] } else { vec![None, input.shape[3]] };
    let name = ctx.layer_name(&node.name);
    let spec = LayerSpec::GlobalPool(GlobalPool { kind: PoolKind::Average, rank: 2, keepdims });
    Ok(ctx.add_layer(node, spec.layer(&name, vec![input.layer], vec![]), shape))
}

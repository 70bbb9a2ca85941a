//! TF `Mean` / `Max` over every spatial axis of a channels-last tensor →
//! `GlobalAveragePooling{1,2,3}D` / `GlobalMaxPooling{1,2,3}D` (over the steps of a sequence,
//! H and W of an image, ...; keep_dims kept).
//! Means over the last axis appear inside layer normalizations, recognised as a whole
//! (`patterns::layer_norm`); other reductions have no Keras layer.

use tf2h5_keras::spec::{GlobalPool, LayerSpec, PoolKind};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn mean(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    global_pool(ctx, node, PoolKind::Average)
}

pub(super) fn max(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    global_pool(ctx, node, PoolKind::Max)
}

fn global_pool(ctx: &mut Context, node: &NodeDef, kind: PoolKind) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let mut axes = ctx.ints_input(node, 1)?;
    let rank = input.rank() as i64;
    for axis in &mut axes {
        if *axis < 0 {
            *axis += rank;
        }
    }
    axes.sort_unstable();
    let keepdims = node.attr_bool_opt("keep_dims")?.unwrap_or(false);
    let spatial: Vec<i64> = (1..rank - 1).collect();
    if !(3..=5).contains(&rank) || axes != spatial {
        return Err(ctx.refuse(
            node,
            format!(
                "only the {} over every spatial axis of a channels-last tensor (rank 3 to 5) is supported, got \
                 axes {axes:?} on rank {rank}",
                node.op
            ),
        ));
    }
    let channels = input.shape[rank as usize - 1];
    let shape = if keepdims {
        [vec![None], vec![Some(1); spatial.len()], vec![channels]].concat()
    } else {
        vec![None, channels]
    };
    let name = ctx.layer_name(&node.name);
    let spec = LayerSpec::GlobalPool(GlobalPool { kind, rank: spatial.len(), keepdims });
    Ok(ctx.add_layer(node, spec.layer(&name, vec![input.layer], vec![]), shape))
}

//! TF `ReverseV2` → per reversed axis a 0/1 linear map (a bias-free `Dense` between
//! `Permute`s, see `axis.rs`), exact in every loader; Keras has no layer that reverses an
//! axis. The backward half of a `Bidirectional` RNN with `return_sequences` reverses its
//! outputs back to forward time this way.

use ndarray::Array2;
use tf2h5_tf::pb::NodeDef;

use super::axis::Steps;
use crate::context::{Context, Value};
use crate::ConvertError;

/// Longest axis reversed (the map is a (len × len) `Dense` kernel).
pub(super) const MAX_REVERSED: usize = 2048;

/// The (len × len) map that reverses an axis of length `len`.
pub(super) fn reversal(len: usize) -> Array2<f32> {
    Array2::from_shape_fn((len, len), |(i, j)| if i + j == len - 1 { 1.0 } else { 0.0 })
}

pub(super) fn reverse_v2(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let rank = input.rank() as i64;
    let mut axes = Vec::new();
    for axis in ctx.ints_input(node, 1)? {
        let axis = if axis < 0 { axis + rank } else { axis };
        if axis <= 0 || axis >= rank {
            return Err(ctx.refuse(
                node,
                format!("reversing axis {axis} of a rank-{rank} tensor (only non-batch axes can be reversed)"),
            ));
        }
        axes.push(axis as usize);
    }
    let name = ctx.layer_name(&node.name);
    let mut steps = Steps::new(ctx, &name);
    let reversed = axes.into_iter().try_fold(input.clone(), |x, axis| {
        let len = x.shape[axis].ok_or_else(|| format!("axis {axis} of {:?} has an unknown length", x.shape))?;
        if len > MAX_REVERSED {
            return Err(format!("reversing {len} cells of axis {axis} (at most {MAX_REVERSED} are built from layers)"));
        }
        if len == 1 {
            return Ok(x);
        }
        steps.linear_map(&x, axis, reversal(len))
    });
    let reversed = reversed.map_err(|e| ctx.refuse(node, e))?;
    Ok(if reversed == input { ctx.pass_through(node, reversed) } else { ctx.fused(node, &reversed) })
}

//! TF `MirrorPad` (`REFLECT`, `SYMMETRIC`) → per padded axis, `Concatenate` of the mirrored
//! start, the tensor and the mirrored end. Keras has no reflection-padding layer; each edge
//! is a crop of the cells it repeats (`Cropping`) reversed by a 0/1 linear map (a bias-free
//! `Dense`, see `axis.rs`), exact in every loader.
//!
//! `REFLECT` pads [a b c d] by 2 as [c b | a b c d | c b] (the edge cell is not repeated),
//! `SYMMETRIC` as [b a | a b c d | d c]; TF allows at most len − 1 (len) cells per side.

use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::axis::Steps;
use super::reverse::{reversal, MAX_REVERSED};
use crate::context::{Context, KTensor, Value};
use crate::ConvertError;

/// Most cells mirrored on one side (the reversal is a (cells × cells) `Dense` kernel).
const MAX_MIRRORED: usize = MAX_REVERSED;

pub(super) fn mirror_pad(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let paddings = ctx.ints_input(node, 1)?;
    let symmetric = match node.attr_str("mode")?.as_str() {
        "REFLECT" => false,
        "SYMMETRIC" => true,
        other => return Err(ctx.refuse(node, format!("mode '{other}' is not supported"))),
    };
    let rank = input.rank();
    if paddings.len() != 2 * rank || paddings.iter().any(|&p| p < 0) || paddings[..2] != [0, 0] {
        return Err(
            ctx.refuse(node, format!("paddings {paddings:?} of a rank-{rank} tensor (the batch cannot be padded)"))
        );
    }
    // The edge cell itself is repeated only by SYMMETRIC.
    let skip = usize::from(!symmetric);
    let mut pads = Vec::new();
    for axis in 1..rank {
        let (before, after) = (paddings[2 * axis] as usize, paddings[2 * axis + 1] as usize);
        if (before, after) == (0, 0) {
            continue;
        }
        let Some(len) = input.shape[axis] else {
            return Err(ctx.refuse(node, format!("axis {axis} of {:?} has an unknown length", input.shape)));
        };
        if before.max(after) + skip > len {
            return Err(ctx.refuse(node, format!("paddings {paddings:?} exceed axis {axis} of {:?}", input.shape)));
        }
        if before.max(after) > MAX_MIRRORED {
            return Err(ctx.refuse(
                node,
                format!(
                    "mirroring {} cells of axis {axis} (at most {MAX_MIRRORED} are built from layers)",
                    before.max(after)
                ),
            ));
        }
        pads.push((axis, len, before, after));
    }
    let name = ctx.layer_name(&node.name);
    let mut steps = Steps::new(ctx, &name);
    let padded = pads.into_iter().try_fold(input.clone(), |x, (axis, len, before, after)| {
        let mut parts = Vec::new();
        if before > 0 {
            parts.push(mirrored(&mut steps, &x, axis, skip, skip + before)?);
        }
        parts.push(x.clone());
        if after > 0 {
            parts.push(mirrored(&mut steps, &x, axis, len - skip - after, len - skip)?);
        }
        Ok::<_, String>(steps.concatenate(&parts, axis))
    });
    let padded = padded.map_err(|e| ctx.refuse(node, e))?;
    Ok(if padded == input { ctx.pass_through(node, padded) } else { ctx.fused(node, &padded) })
}

/// Cells `start..stop` of `axis`, in reverse order.
fn mirrored(steps: &mut Steps, x: &KTensor, axis: usize, start: usize, stop: usize) -> Result<KTensor, String> {
    let cells = steps.crop(x, axis, start, stop)?;
    let len = stop - start;
    if len == 1 {
        return Ok(cells);
    }
    steps.linear_map(&cells, axis, reversal(len))
}

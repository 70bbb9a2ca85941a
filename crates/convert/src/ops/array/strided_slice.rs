//! TF `StridedSlice`: of shape integers (folded, see `shape.rs`), or of the H and W axes of an
//! NHWC tensor → `Cropping2D` (what Keras's `Cropping2D` emits, e.g. in NASNet), or of the
//! channels (ShuffleNet's split) → `Permute` (N, H, C, W) → `Cropping2D` of H and C →
//! `Permute` back, exact and without `Lambda`. Slicing the batch, strides other than 1, the
//! ellipsis/new-axis/shrink masks on tensors, and slicing W together with the channels have
//! no Keras layer here.

use tf2h5_keras::layers;
use tf2h5_keras::spec::{LayerSpec, ResampleKind, Sides};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use super::shape::axis_slice;
use crate::context::{Context, Value};
use crate::ConvertError;

/// The bit masks of a `StridedSlice`.
pub(super) struct Masks {
    pub begin: i64,
    pub end: i64,
    pub ellipsis: i64,
    pub new_axis: i64,
    pub shrink: i64,
}

pub(super) fn strided_slice(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let mask = |name: &str| node.attr_int_opt(name).map(|v| v.unwrap_or(0));
    let masks = Masks {
        begin: mask("begin_mask")?,
        end: mask("end_mask")?,
        ellipsis: mask("ellipsis_mask")?,
        new_axis: mask("new_axis_mask")?,
        shrink: mask("shrink_axis_mask")?,
    };
    let input = ctx.input(node, 0)?.clone();
    match input {
        Value::Dims(d) => super::shape::strided_slice_dims(ctx, node, &d, &masks),
        Value::Const(c) if c.as_ints().is_some_and(|a| a.ndim() == 1) => {
            let dims = ctx.dims_input(node, 0)?;
            super::shape::strided_slice_dims(ctx, node, &dims, &masks)
        }
        Value::Tensor(t) => {
            let begin = ctx.ints_input(node, 1)?;
            let end = ctx.ints_input(node, 2)?;
            let strides = ctx.ints_input(node, 3)?;
            let refuse = |why: &str| {
                ctx.refuse(node, format!("slicing {:?} ({why}) has no Keras layer; only cropping H and W, or H and the channels, of an NHWC tensor", t.shape))
            };
            if t.rank() != 4 || begin.len() != 4 || end.len() != 4 || strides.len() != 4 {
                return Err(refuse("not a full 4-axis slice of a rank-4 tensor"));
            }
            if masks.ellipsis != 0 || masks.new_axis != 0 || masks.shrink != 0 || strides.iter().any(|&s| s != 1) {
                return Err(refuse("masks or strides"));
            }
            let bit = |m: i64, axis: usize| m & (1 << axis) != 0;
            // Batch: the whole axis (its length is unknown, so only masks or 0..0-with-mask).
            if !(bit(masks.begin, 0) || begin[0] == 0) || !bit(masks.end, 0) {
                return Err(refuse("the batch axis is sliced"));
            }
            // (start, end) crops of H, W and C.
            let mut crops = [[0usize; 2]; 3];
            let mut shape = t.shape.clone();
            for axis in 1..4 {
                let len = t.shape[axis].ok_or_else(|| refuse("unknown dimension"))? as i64;
                let (start, stop) =
                    axis_slice(len, begin[axis], end[axis], 1, bit(masks.begin, axis), bit(masks.end, axis), false)
                        .map_err(|e| refuse(&e))?;
                crops[axis - 1] = [start as usize, (len - stop) as usize];
                shape[axis] = Some((stop - start) as usize);
            }
            let [rows, cols, channels] = crops;
            if crops == [[0, 0]; 3] {
                return Ok(ctx.pass_through(node, t));
            }
            if channels != [0, 0] && cols != [0, 0] {
                return Err(refuse("the channels and the width are sliced together"));
            }
            let name = ctx.layer_name(&node.name);
            if channels == [0, 0] {
                return Ok(ctx.add_layer(node, cropping(&name, t.layer, [rows, cols]), shape));
            }
            // Channels to axis 2, where Cropping2D crops; then back.
            let swapped = |s: &[Option<usize>]| vec![s[0], s[1], s[3], s[2]];
            let to_cols = ctx.add_inner_layer(
                layers::permute(&format!("{name}_channels_to_cols"), t.layer.clone(), &[1, 3, 2]),
                swapped(&t.shape),
            );
            let cropped_shape = swapped(&shape);
            let cropped =
                ctx.add_inner_layer(cropping(&format!("{name}_crop"), to_cols.layer, [rows, channels]), cropped_shape);
            Ok(ctx.add_layer(node, layers::permute(&name, cropped.layer, &[1, 3, 2]), shape))
        }
        _ => Err(ctx.refuse(node, "only shape integers and NHWC tensors can be sliced")),
    }
}

/// `Cropping2D` of (before, after) rows and columns.
fn cropping(name: &str, input: String, sides: [[usize; 2]; 2]) -> tf2h5_keras::Layer {
    LayerSpec::Sides(Sides { kind: ResampleKind::Cropping, sides: sides.to_vec() }).layer(name, vec![input], vec![])
}

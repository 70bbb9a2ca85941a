//! TF `ResizeNearestNeighbor` → Keras `UpSampling2D(interpolation="nearest")`.
//!
//! Only whole-number enlargements map: with `align_corners` false, TF reads output pixel i
//! from input pixel floor(i · in / out) = floor(i / k) for out = k · in, exactly what
//! `UpSampling2D(size=k)` repeats. With `half_pixel_centers` (TF 2's `tf.image.resize`, which
//! Keras `UpSampling2D` itself calls) it reads floor((i + 0.5) / k), the same pixel: for
//! i = q·k + r with r < k, (r + 0.5) / k < 1. Other sizes and `align_corners` are refused.

use tf2h5_keras::spec::{LayerSpec, UpSampling};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn resize_nearest_neighbor(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let size = ctx.ints_input(node, 1)?;
    if node.attr_bool_opt("align_corners")?.unwrap_or(false) {
        return Err(ctx.refuse(node, "align_corners = true is not supported (UpSampling2D repeats pixels)"));
    }
    let (Some(h), Some(w)) = (input.shape.get(1).copied().flatten(), input.shape.get(2).copied().flatten()) else {
        return Err(
            ctx.refuse(node, format!("expected an NHWC input with known height and width, got {:?}", input.shape))
        );
    };
    let factor = |out: i64, size: usize| (out > 0 && (out as usize).is_multiple_of(size)).then(|| out as usize / size);
    let factors = match size.as_slice() {
        [out_h, out_w] if input.rank() == 4 => factor(*out_h, h).zip(factor(*out_w, w)),
        _ => None,
    };
    let Some((rows, cols)) = factors else {
        return Err(ctx.refuse(node, format!("size {size:?} is not a whole multiple of the input {:?}", input.shape)));
    };
    let shape = vec![None, Some(h * rows), Some(w * cols), input.shape[3]];
    let name = ctx.layer_name(&node.name);
    let spec = LayerSpec::UpSampling(UpSampling { size: vec![rows, cols] });
    Ok(ctx.add_layer(node, spec.layer(&name, vec![input.layer], vec![]), shape))
}

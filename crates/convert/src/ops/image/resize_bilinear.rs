//! TF `ResizeBilinear` → per resized axis, an exact linear map along it (`Permute` → bias-free
//! `Dense` holding the interpolation weights → `Permute`, see `array/axis.rs`).
//!
//! Why not `UpSampling2D(interpolation="bilinear")` or `Resizing`: the loaders disagree on
//! them. tf-keras 2.21 and Keras 3.15 call `tf.image.resize`, i.e. `half_pixel_centers`; tfjs
//! (tfjs-layers 4.x) runs `UpSampling2D` bilinear as `resizeBilinear(x, size)` (neither
//! option: TF 1's asymmetric corners) and `Resizing` with `alignCorners = !cropToAspectRatio`
//! (true by default). No resize layer gives the same pixels in all three; a `Dense` does.
//!
//! TF's sampling (`compute_interpolation_weights` in `resize_bilinear_op.cc`): output index o
//! reads the source coordinate x = (o + ½)·in/out − ½ (`half_pixel_centers`), o·(in−1)/(out−1)
//! (`align_corners`, out > 1) or o·in/out (neither), between floor(x) and floor(x) + 1 clamped
//! into the axis, weighted 1 − frac and frac; a coordinate below 0 reads the first cell.

use ndarray::Array2;
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, Value};
use crate::ops::array::axis::Steps;
use crate::ConvertError;

/// Largest interpolation matrix (input × output length of one axis) written as a `Dense`.
const MAX_MAP_ENTRIES: usize = 1 << 22;

/// How an output index maps to a source coordinate (TF's two flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coordinates {
    /// `half_pixel_centers` (TF 2's `tf.image.resize`).
    HalfPixel,
    /// `align_corners` (TF 1 option): corner pixels of input and output coincide.
    AlignCorners,
    /// Neither flag: o · in / out.
    Asymmetric,
}

pub(super) fn resize_bilinear(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let size = ctx.ints_input(node, 1)?;
    let align_corners = node.attr_bool_opt("align_corners")?.unwrap_or(false);
    let half_pixel = node.attr_bool_opt("half_pixel_centers")?.unwrap_or(false);
    let coordinates = match (align_corners, half_pixel) {
        (true, true) => return Err(ctx.refuse(node, "align_corners and half_pixel_centers together (TF rejects it)")),
        (true, false) => Coordinates::AlignCorners,
        (false, true) => Coordinates::HalfPixel,
        (false, false) => Coordinates::Asymmetric,
    };
    let (Some(h), Some(w)) = (input.dim(1), input.dim(2)) else {
        return Err(
            ctx.refuse(node, format!("expected an NHWC input with known height and width, got {:?}", input.shape))
        );
    };
    let out = match size.as_slice() {
        &[out_h, out_w] if input.rank() == 4 && out_h > 0 && out_w > 0 => [out_h as usize, out_w as usize],
        _ => return Err(ctx.refuse(node, format!("size {size:?} of an input shaped {:?}", input.shape))),
    };
    for (len, out) in [(h, out[0]), (w, out[1])] {
        if len.saturating_mul(out) > MAX_MAP_ENTRIES {
            return Err(ctx.refuse(
                node,
                format!("resizing an axis of {len} to {out} needs a {len}×{out} interpolation matrix (at most {MAX_MAP_ENTRIES} entries)"),
            ));
        }
    }
    let name = ctx.layer_name(&node.name);
    let mut steps = Steps::new(ctx, &name);
    let mut resized = Ok(input.clone());
    for (axis, (len, out)) in [(1, (h, out[0])), (2, (w, out[1]))] {
        // Every mode reads cell o for output o when the length stays.
        if len != out {
            resized = resized.and_then(|x| steps.linear_map(&x, axis, interpolation_matrix(len, out, coordinates)));
        }
    }
    let resized = resized.map_err(|e| ctx.refuse(node, e))?;
    Ok(if resized == input { ctx.pass_through(node, resized) } else { ctx.fused(node, &resized) })
}

/// The (len_in × len_out) weights of bilinear resampling of one axis, computed in f32 as TF.
pub(crate) fn interpolation_matrix(len_in: usize, len_out: usize, coordinates: Coordinates) -> Array2<f32> {
    let scale = match coordinates {
        Coordinates::AlignCorners if len_out > 1 => (len_in - 1) as f32 / (len_out - 1) as f32,
        _ => len_in as f32 / len_out as f32,
    };
    let last = (len_in - 1) as f32;
    let mut matrix = Array2::zeros((len_in, len_out));
    for o in 0..len_out {
        let x = match coordinates {
            Coordinates::HalfPixel => (o as f32 + 0.5) * scale - 0.5,
            _ => o as f32 * scale,
        };
        let x = x.clamp(0.0, last);
        let low = x.floor();
        let frac = x - low;
        let low = low as usize;
        let high = (low + 1).min(len_in - 1);
        matrix[[low, o]] += 1.0 - frac;
        matrix[[high, o]] += frac;
    }
    matrix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_pixel_doubling_weights_neighbours_one_to_three() {
        let m = interpolation_matrix(2, 4, Coordinates::HalfPixel);
        // x = -0.25, 0.25, 0.75, 1.25 → clamp 0 | 0.75·a + 0.25·b | 0.25·a + 0.75·b | clamp 1.
        assert_eq!(m, ndarray::array![[1.0, 0.75, 0.25, 0.0], [0.0, 0.25, 0.75, 1.0]]);
    }

    #[test]
    fn align_corners_keeps_the_corners_and_asymmetric_starts_at_zero() {
        let m = interpolation_matrix(3, 5, Coordinates::AlignCorners);
        assert_eq!(m.column(0).to_vec(), vec![1.0, 0.0, 0.0]);
        assert_eq!(m.column(1).to_vec(), vec![0.5, 0.5, 0.0]);
        assert_eq!(m.column(4).to_vec(), vec![0.0, 0.0, 1.0]);
        let m = interpolation_matrix(2, 4, Coordinates::Asymmetric);
        assert_eq!(m, ndarray::array![[1.0, 0.5, 0.0, 0.0], [0.0, 0.5, 1.0, 1.0]]);
    }

    #[test]
    fn every_output_sums_to_one_when_shrinking_and_growing() {
        for coordinates in [Coordinates::HalfPixel, Coordinates::AlignCorners, Coordinates::Asymmetric] {
            for (a, b) in [(7, 3), (3, 7), (1, 5), (5, 1)] {
                let m = interpolation_matrix(a, b, coordinates);
                assert!(m.columns().into_iter().all(|c| (c.sum() - 1.0).abs() < 1e-6), "{coordinates:?} {a}->{b}");
            }
        }
    }
}

//! TF `ResizeNearestNeighbor` and `ResizeBilinear`, which tract-tensorflow lacks.
//!
//! Nearest: TF picks input pixel `floor(i · in / out)` (`half_pixel_centers` false) or
//! `floor((i + 0.5) · in / out)` (true; TF 2's `tf.image.resize`). These are tract-core's
//! `Resize` with nearest interpolation, `floor` rounding and the `asymmetric` or
//! `tf_half_pixel_for_nn` coordinate transforms, given the scales `out / in` of H and W.
//! `align_corners` (a TF 1 option) is refused.
//!
//! Bilinear: TF's three samplings are tract-core's linear `Resize` with the ONNX coordinate
//! transforms `half_pixel`, `align_corners` and `asymmetric` (both clamp taps into the axis).

use tract_tensorflow::tfpb::tensorflow::NodeDef;
use tract_tensorflow::tract_core::ops::nn::{CoordTransformer, Interpolator, Nearest, Resize};
use tract_tensorflow::tract_hir::infer::*;
use tract_tensorflow::tract_hir::internal::*;

/// `ResizeNearestNeighbor` or `ResizeBilinear(images NHWC, size = [out_h, out_w])`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct TfResize {
    interpolator: Interpolator,
    coord_transformer: CoordTransformer,
}

/// Registered for the TF op.
pub fn resize_nearest_neighbor(
    _ctx: &tract_tensorflow::model::ParsingContext,
    node: &NodeDef,
) -> TractResult<Box<dyn InferenceOp>> {
    if node.get_attr_opt_bool("align_corners")?.unwrap_or(false) {
        bail!("node {}: ResizeNearestNeighbor with align_corners is not supported by the oracle", node.name);
    }
    let half_pixel_centers = node.get_attr_opt_bool("half_pixel_centers")?.unwrap_or(false);
    let coord_transformer =
        if half_pixel_centers { CoordTransformer::TfHalfPixelForNn } else { CoordTransformer::Asymmetric };
    Ok(expand(TfResize { interpolator: Interpolator::Nearest, coord_transformer }))
}

/// Registered for the TF op.
pub fn resize_bilinear(
    _ctx: &tract_tensorflow::model::ParsingContext,
    node: &NodeDef,
) -> TractResult<Box<dyn InferenceOp>> {
    let align_corners = node.get_attr_opt_bool("align_corners")?.unwrap_or(false);
    let half_pixel_centers = node.get_attr_opt_bool("half_pixel_centers")?.unwrap_or(false);
    let coord_transformer = match (align_corners, half_pixel_centers) {
        (true, true) => bail!("node {}: ResizeBilinear with align_corners and half_pixel_centers", node.name),
        (true, false) => CoordTransformer::AlignCorners,
        (false, true) => CoordTransformer::HalfPixel,
        (false, false) => CoordTransformer::Asymmetric,
    };
    Ok(expand(TfResize { interpolator: Interpolator::Linear, coord_transformer }))
}

/// The scale `out / in` as f32, nudged up until tract-core's output length
/// `(in as f32 · scale) as usize` (for a non-integral scale) reaches `out`.
fn scale(len_in: usize, len_out: usize) -> f32 {
    let mut scale = len_out as f32 / len_in as f32;
    while scale.round() != scale && ((len_in as f32 * scale) as usize) < len_out {
        scale = f32::from_bits(scale.to_bits() + 1);
    }
    scale
}

fn output_size(size: &Tensor) -> TractResult<[usize; 2]> {
    let size = size.cast_to::<i64>()?;
    match size.try_as_plain_ram()?.as_slice::<i64>()? {
        &[h, w] if h > 0 && w > 0 => Ok([h as usize, w as usize]),
        other => bail!("resize: size {other:?} is not two positive integers"),
    }
}

impl Expansion for TfResize {
    fn name(&self) -> StaticName {
        format!("TfResize{:?}", self.interpolator).into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 4)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[3], &inputs[0].shape[3])?;
        s.given(&inputs[1].value, move |s, size| {
            let [h, w] = output_size(&size)?;
            s.equals(&outputs[0].shape[1], h.to_dim())?;
            s.equals(&outputs[0].shape[2], w.to_dim())
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let Some(size) = model.outlet_fact(inputs[1])?.konst.clone() else {
            bail!("a TF resize needs a constant size")
        };
        let [out_h, out_w] = output_size(&size)?;
        let shape = model.outlet_fact(inputs[0])?.shape.clone();
        let (in_h, in_w) = (shape[1].to_usize()?, shape[2].to_usize()?);
        if in_h == 0 || in_w == 0 {
            bail!("resize of an empty image");
        }
        let scales = tensor1(&[1.0f32, scale(in_h, out_h), scale(in_w, out_w), 1.0]);
        let scales = model.add_const(format!("{prefix}.scales"), scales)?;
        let op = Resize {
            coord_transformer: self.coord_transformer.clone(),
            interpolator: self.interpolator.clone(),
            nearest: Nearest::Floor,
            optional_scales_input: Some(1),
            optional_sizes_input: None,
        };
        model.wire_node(prefix, op, &[inputs[0], scales])
    }
}

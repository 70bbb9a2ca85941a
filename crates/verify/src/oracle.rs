//! The source-side oracle: the TF graph run by tract-tensorflow, with our fixes for the ops
//! where tract is missing or wrong (see `shared/docs/TRACT_NOTES.md`).

use std::sync::Arc;

use ndarray::ArrayD;
use tract_tensorflow::prelude::*;
use tract_tensorflow::tfpb::tensorflow::{attr_value, AttrValue, DataType, GraphDef, NodeDef};
use tract_tensorflow::tract_core::ops::array::PadMode;
use tract_tensorflow::tract_hir::infer::*;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::cnn::{Conv, PaddingSpec};
use tract_tensorflow::tract_hir::ops::nn::{LayerLogSoftmax, LayerSoftmax};

use crate::VerifyError;

mod any;
mod concat_v2;
mod deconv;
mod einsum;
mod guard;
pub mod half;
mod keras1;
mod keras_lambda;
pub mod keras_source;
pub mod loops;
mod new_axis;
pub mod onnx;
mod onnx_recurrent;
mod pack;
mod resize;

/// tract's TensorFlow front end with tf2h5's op fixes registered:
/// - `FusedBatchNormV3`/`V2`: missing; same inference semantics as `FusedBatchNorm`.
/// - `Softmax`: tract normalises axes 1..rank on rank > 2; TF normalises the last axis.
/// - `LogSoftmax` (`tf.nn.log_softmax`): missing; tract-hir's `LayerLogSoftmax` over the last axis.
/// - `Conv2D`: tract ignores `dilations`, and needs the group of a grouped convolution (and
///   its kernel with the groups on the input axis).
/// - `Pad`: tract's rule demands TDim paddings and fails on TF's int32 constants.
/// - `ConcatV2`: tract reads a negative axis as a huge one and hangs, and demands one datum
///   type where shape arithmetic mixes TDim and int32 (`oracle/concat_v2.rs`).
/// - Missing element-wise ops (keras.applications graphs): `Sqrt`, `Square`, `Exp`,
///   `Reciprocal` (tract's own kernels); `Erf`, `Erfc`, `LeakyRelu`, `Elu`, `Selu`, `Softplus`,
///   `Softsign` (below, in f64); `SquaredDifference` (`(a - b)²` with broadcasting).
/// - `GatherV2`: tract's core `Gather` wants i64 indices; TF's are int32 (tensordot's shape
///   arithmetic): cast them first.
/// - `StridedSlice` with new axes (`mask[:, tf.newaxis, :]`): tract ignores `new_axis_mask`;
///   the slice without them, then `ExpandDims` (`oracle/new_axis.rs`).
/// - `BatchMatMulV2`/`V3`/`BatchMatMul` (Keras 3's `EinsumDense` on the TF backend): missing;
///   tract-hir's `MatMulInference` (numpy's matmul broadcasting, as TF's), `adj_x`/`adj_y` as
///   transposes.
/// - `SelectV2` (Keras 3's `take` wraps negative ids with it): missing; tract-hir's `Iff`
///   (ONNX `Where`: the same broadcasting select).
/// - `NotEqual` (a padding mask `ids != 0`, Keras `Masking`'s `x != mask_value`): missing;
///   tract-core's `CompNE`.
/// - `Any` (Keras `Masking`): missing; tract-core's `Reduce` with the `Any` reducer
///   (`oracle/any.rs`).
/// - `Einsum` (`EinsumDense`, `MultiHeadAttention`): missing; tract-core's `EinSum`
///   (`oracle/einsum.rs`).
/// - `BroadcastTo` (a ViT's class token): missing; tract-hir's `MultiBroadcastTo` (ONNX
///   `Expand`, the same bidirectional broadcast on the graphs TF accepts).
/// - Masked RNN loops: `SelectV2` (keeping a state where the mask is 0) and `ZerosLike` (the
///   first previous output) are missing; tract's `Iff` (ONNX `Where`, the same broadcasting
///   select) and `ConstantLike(0)`.
/// - `ExpandDims`: tract places a negative axis one too early (`axis + rank`, not `+ rank + 1`).
/// - `Pack`: tract reads a negative axis (`tf.stack(..., axis=-1)`) as unsigned and panics
///   (`oracle/pack.rs`).
/// - Missing pass-throughs: `StopGradient`, `Snapshot`, `PreventGradient`, the `tf.debugging`
///   checks `CheckNumerics`/`V2` and `EnsureShape` (forwarding when they pass), and `IdentityN`
///   (the custom-gradient wrapper around swish: output k is input k).
/// - `MirrorPad`: missing; a tract-core `Gather` of the cells each padded axis reads.
/// - `ResizeNearestNeighbor` (Keras `UpSampling2D`), `ResizeBilinear`: missing; tract-core's
///   `Resize` (`oracle/resize.rs`).
/// - `Conv2DBackpropInput`, `Conv3DBackpropInputV2` (Keras `Conv2DTranspose`,
///   `Conv3DTranspose`): missing; tract-core's `Deconv` (`oracle/deconv.rs`).
/// - `Conv3D`: missing; tract's `Conv` in 3-D, as `Conv2D` below.
/// - `MaxPool3D`, `AvgPool3D`: missing (tract's `MaxPool`/`AvgPool` rules read 4-value
///   attributes and take NDHWC for NCHW); tract's pools in 3-D, the average over the cells
///   inside the input as TF's.
pub fn tensorflow_with_fixes() -> tract_tensorflow::Tensorflow {
    use tract_tensorflow::tract_core::ops::math;
    let mut tf = tract_tensorflow::tensorflow();
    if let Some(&fused_batch_norm) = tf.op_register.0.get("FusedBatchNorm") {
        tf.op_register.insert("FusedBatchNormV2", fused_batch_norm);
        tf.op_register.insert("FusedBatchNormV3", fused_batch_norm);
    }
    tf.op_register.insert("Softmax", |_, _| Ok(expand(LayerSoftmax::new(-1, false))));
    tf.op_register.insert("LogSoftmax", |_, _| Ok(expand(LayerLogSoftmax { axis: -1, coerce_to_2d: false })));
    tf.op_register.insert("Conv2D", conv2d_with_dilations);
    tf.op_register.insert("Pad", |_, _| Ok(expand(TfPad::Zeros)));
    tf.op_register.insert("MirrorPad", mirror_pad);
    tf.op_register.insert("ConcatV2", |_, _| Ok(expand(concat_v2::ConcatV2)));
    tf.op_register.insert("Sqrt", |_, _| Ok(math::sqrt().into_hir()));
    tf.op_register.insert("Square", |_, _| Ok(math::square().into_hir()));
    tf.op_register.insert("Exp", |_, _| Ok(math::exp().into_hir()));
    tf.op_register.insert("Reciprocal", |_, _| Ok(math::recip().into_hir()));
    tf.op_register.insert("Erf", |_, _| Ok(unary(Unary::Erf)));
    tf.op_register.insert("Erfc", |_, _| Ok(unary(Unary::Erfc)));
    tf.op_register.insert("Elu", |_, _| Ok(unary(Unary::Elu)));
    tf.op_register.insert("Selu", |_, _| Ok(unary(Unary::Selu)));
    tf.op_register.insert("Softplus", |_, _| Ok(unary(Unary::Softplus)));
    tf.op_register.insert("Softsign", |_, _| Ok(unary(Unary::Softsign)));
    tf.op_register.insert("LeakyRelu", |_, node| {
        let alpha = node.get_attr_opt_float::<f32>("alpha")?.unwrap_or(0.2);
        Ok(unary(Unary::LeakyRelu(alpha.to_bits())))
    });
    tf.op_register.insert("SquaredDifference", |_, _| Ok(expand(SquaredDifference)));
    for alias in ["StopGradient", "Snapshot", "PreventGradient", "CheckNumerics", "CheckNumericsV2", "EnsureShape"] {
        tf.op_register.insert(alias, |_, _| Ok(Box::new(tract_tensorflow::tract_hir::ops::identity::Identity)));
    }
    tf.op_register.insert("GatherV2", |_, _| Ok(expand(GatherV2)));
    tf.op_register.insert("ResizeNearestNeighbor", resize::resize_nearest_neighbor);
    tf.op_register.insert("ResizeBilinear", resize::resize_bilinear);
    tf.op_register.insert("Conv2DBackpropInput", deconv::backprop_input);
    tf.op_register.insert("Conv3DBackpropInputV2", deconv::backprop_input);
    tf.op_register.insert("Conv3D", |_, node| Ok(expand(channels_last_conv(node, 3)?)));
    tf.op_register.insert("MaxPool3D", |_, node| pool3d(node, true));
    tf.op_register.insert("AvgPool3D", |_, node| pool3d(node, false));
    tf.op_register.insert("ExpandDims", |_, _| Ok(expand(ExpandDims)));
    tf.op_register.insert("Pack", pack::pack);
    tf.op_register.insert("SelectV2", |_, _| Ok(expand(tract_tensorflow::tract_hir::ops::logic::Iff)));
    tf.op_register
        .insert("ZerosLike", |_, _| Ok(Box::new(tract_tensorflow::tract_hir::ops::array::ConstantLike::new(0.0))));
    tf.op_register.insert("Einsum", einsum::einsum);
    for op in ["BatchMatMulV2", "BatchMatMulV3", "BatchMatMul"] {
        tf.op_register.insert(op, |_, node| {
            let adjoint = |key: &str| node.get_attr_opt_bool(key).map(|v| v.unwrap_or(false));
            let matmul = tract_tensorflow::tract_hir::ops::matmul::MatMulInference::default();
            Ok(expand(matmul.with_a_trans(adjoint("adj_x")?).with_b_trans(adjoint("adj_y")?)))
        });
    }
    tf.op_register.insert("SelectV2", |_, _| Ok(expand(tract_tensorflow::tract_hir::ops::logic::Iff)));
    tf.op_register.insert("NotEqual", |_, _| {
        use tract_tensorflow::tract_hir::ops::binary::BinIntoHir;
        Ok(tract_tensorflow::tract_core::ops::logic::CompNE.into_hir())
    });
    tf.op_register.insert("Any", any::any);
    tf.op_register.insert("BroadcastTo", |_, _| Ok(expand(tract_tensorflow::tract_hir::ops::array::MultiBroadcastTo)));
    tf.op_register.insert("IdentityN", |_, node| {
        Ok(expand(IdentityN(node.input.iter().filter(|i| !i.starts_with('^')).count())))
    });
    tf
}

/// Element-wise functions tract lacks, computed in f64 from their definitions (independently
/// of the engine's implementations, which verification compares against).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Unary {
    Erf,
    Erfc,
    Elu,
    Selu,
    Softplus,
    Softsign,
    /// The slope's f32 bits (so the op is `Eq`).
    LeakyRelu(u32),
}

impl Unary {
    fn eval(self, x: f32) -> f32 {
        let v = f64::from(x);
        let y = match self {
            Unary::Erf => 1.0 - erfc(v),
            Unary::Erfc => erfc(v),
            Unary::Elu => {
                if v > 0.0 {
                    v
                } else {
                    v.exp_m1()
                }
            }
            Unary::Selu => {
                let (alpha, scale) = (1.673_263_242_354_377_3, 1.050_700_987_355_480_5);
                scale * if v > 0.0 { v } else { alpha * v.exp_m1() }
            }
            Unary::Softplus => {
                if v > 0.0 {
                    v + (-v).exp().ln_1p()
                } else {
                    v.exp().ln_1p()
                }
            }
            Unary::Softsign => v / (1.0 + v.abs()),
            Unary::LeakyRelu(bits) => {
                // TF: x > 0 ? x : alpha * x, in float32.
                return if x > 0.0 { x } else { x * f32::from_bits(bits) };
            }
        };
        y as f32
    }
}

/// The complementary error function, W. J. Cody's rational approximations (relative error
/// below 1e-15 in f64 on each of the three ranges), with erfc(-x) = 2 - erfc(x). The
/// coefficients are written as published.
#[allow(clippy::excessive_precision)]
fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 0.5 {
        // erfc = 1 - erf, erf(a) = a P(a²)/Q(a²).
        const P: [f64; 5] = [
            3.209_377_589_138_469_4e3,
            3.774_852_376_853_020_2e2,
            1.138_641_541_510_501_6e2,
            3.161_123_743_870_565_6,
            1.857_777_061_846_031_5e-1,
        ];
        const Q: [f64; 4] = [
            2.844_236_833_439_170_6e3,
            1.282_616_526_077_372_3e3,
            2.440_246_379_344_441_7e2,
            2.360_129_095_234_412_1e1,
        ];
        let z = a * a;
        let num = (((P[4] * z + P[3]) * z + P[2]) * z + P[1]) * z + P[0];
        let den = (((z + Q[3]) * z + Q[2]) * z + Q[1]) * z + Q[0];
        let erf = x * num / den;
        return 1.0 - erf;
    } else if a < 4.0 {
        const P: [f64; 9] = [
            1.230_339_354_797_997_2e3,
            2.051_078_377_826_071_5e3,
            1.712_047_612_634_070_6e3,
            8.819_522_212_417_691e2,
            2.986_351_381_974_001_3e2,
            6.611_919_063_714_163e1,
            8.883_149_794_388_376,
            5.641_884_969_886_701e-1,
            2.153_115_354_744_038_3e-8,
        ];
        const Q: [f64; 8] = [
            1.230_339_354_803_749_5e3,
            3.439_367_674_143_721_6e3,
            4.362_619_090_143_247e3,
            3.290_799_235_733_459_7e3,
            1.621_389_574_566_690_2e3,
            5.371_811_018_620_098_6e2,
            1.176_939_508_913_125e2,
            1.574_492_611_070_983_5e1,
        ];
        let num = P.iter().rev().skip(1).fold(P[8], |acc, &p| acc * a + p);
        let den = Q.iter().rev().fold(1.0, |acc, &q| acc * a + q);
        (-a * a).exp() * num / den
    } else {
        const P: [f64; 6] = [
            -6.587_491_615_298_378e-4,
            -1.608_378_514_874_227_5e-2,
            -1.257_817_261_112_292_6e-1,
            -3.603_448_999_498_044_4e-1,
            -3.053_266_349_612_323_4e-1,
            -1.631_538_713_730_709_7e-2,
        ];
        const Q: [f64; 5] = [
            2.335_204_976_268_691_8e-3,
            6.051_834_131_244_131_5e-2,
            5.279_051_029_514_284e-1,
            1.872_952_849_923_460_5,
            2.568_520_192_289_822_4,
        ];
        let z = 1.0 / (a * a);
        let num = P.iter().rev().skip(1).fold(P[5], |acc, &p| acc * z + p);
        let den = Q.iter().rev().fold(1.0, |acc, &q| acc * z + q);
        let r = z * num / den;
        (-a * a).exp() / a * (1.0 / std::f64::consts::PI.sqrt() + r)
    };
    if x < 0.0 {
        2.0 - r
    } else {
        r
    }
}

impl tract_tensorflow::tract_core::ops::element_wise::ElementWiseMiniOp for Unary {
    fn name(&self) -> String {
        format!("tf2h5.{self:?}")
    }

    fn eval_in_place(&self, t: &mut Tensor, _out_dt: Option<DatumType>) -> TractResult<()> {
        let mut plain = t.try_as_plain_ram_mut()?;
        plain.as_slice_mut::<f32>()?.iter_mut().for_each(|x| *x = self.eval(*x));
        Ok(())
    }
}

/// An axis in `0..rank` from a scalar that may count from the end (TF's negative axes).
pub(crate) fn normalised_axis(axis: &Tensor, rank: i64) -> TractResult<usize> {
    let value = axis.cast_to_scalar::<i64>()?;
    let normalised = if value < 0 { value + rank } else { value };
    if !(0..rank).contains(&normalised) {
        bail!("axis {value} is out of range for rank {rank}");
    }
    Ok(normalised as usize)
}

fn unary(op: Unary) -> Box<dyn InferenceOp> {
    tract_tensorflow::tract_core::ops::element_wise::ElementWiseOp(Box::new(op), None).into_hir()
}

/// TF `SquaredDifference(a, b)` = `(a - b)²`, broadcasting.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct SquaredDifference;

impl Expansion for SquaredDifference {
    fn name(&self) -> StaticName {
        "SquaredDifference".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&inputs[1].datum_type, &inputs[0].datum_type)?;
        s.given_2(&inputs[0].shape, &inputs[1].shape, move |s, a, b| {
            let shape = tract_tensorflow::tract_core::broadcast::multi_broadcast(&[a, b])?;
            s.equals(&outputs[0].shape, ShapeFactoid::from(shape))
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        use tract_tensorflow::tract_core::ops::{change_axes::wire_with_rank_broadcast, math};
        let diff = wire_with_rank_broadcast(format!("{prefix}.sub"), model, math::sub(), inputs)?;
        model.wire_node(format!("{prefix}.square"), math::square(), &diff)
    }
}

/// TF `GatherV2(params, indices, axis)` with constant axis, indices of any integer type.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct GatherV2;

impl Expansion for GatherV2 {
    fn name(&self) -> StaticName {
        "GatherV2".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[2].rank, 0)?;
        s.given_3(&inputs[0].shape, &inputs[1].shape, &inputs[2].value, move |s, params, indices, axis| {
            let op =
                tract_tensorflow::tract_core::ops::array::Gather::new(normalised_axis(&axis, params.len() as i64)?);
            s.equals(&outputs[0].shape, op.compute_output_shape(&params, &indices)?)
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let Some(axis) = model.outlet_fact(inputs[2])?.konst.clone() else { bail!("GatherV2 needs a constant axis") };
        let axis = normalised_axis(&axis, model.outlet_fact(inputs[0])?.rank() as i64)?;
        let indices = model.wire_node(
            format!("{prefix}.indices"),
            tract_tensorflow::tract_core::ops::cast::cast(i64::datum_type()),
            &[inputs[1]],
        )?;
        let op = tract_tensorflow::tract_core::ops::array::Gather::new(axis);
        model.wire_node(prefix, op, &[inputs[0], indices[0]])
    }
}

/// TF `ExpandDims(x, axis)`: a new axis of size 1 at `axis`, counted from the end (of the
/// output) when negative.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct ExpandDims;

impl ExpandDims {
    /// The new axis may be anywhere in the output, which has one more dimension.
    fn axis(axis: &Tensor, rank: i64) -> TractResult<usize> {
        normalised_axis(axis, rank + 1)
    }
}

impl Expansion for ExpandDims {
    fn name(&self) -> StaticName {
        "ExpandDims".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.given_2(&inputs[0].shape, &inputs[1].value, move |s, shape, axis| {
            let axis = Self::axis(&axis, shape.len() as i64)?;
            let mut expanded = shape.clone();
            expanded.insert(axis, 1.to_dim());
            s.equals(&outputs[0].shape, ShapeFactoid::from(expanded))
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let Some(axis) = model.outlet_fact(inputs[1])?.konst.clone() else { bail!("ExpandDims needs a constant axis") };
        let rank = model.outlet_fact(inputs[0])?.rank() as i64;
        model.wire_node(prefix, AxisOp::Add(Self::axis(&axis, rank)?), &[inputs[0]])
    }
}

/// TF `IdentityN`: N outputs, output k is input k.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct IdentityN(usize);

impl Expansion for IdentityN {
    fn name(&self) -> StaticName {
        "IdentityN".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.0)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.0)?;
        check_output_arity(outputs, self.0)?;
        for (input, output) in inputs.iter().zip(outputs) {
            s.equals(&output.datum_type, &input.datum_type)?;
            s.equals(&output.shape, &input.shape)?;
        }
        Ok(())
    }

    fn wire(&self, _prefix: &str, _model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        Ok(inputs.into())
    }
}

/// TF `Pad` (with zeros) and `MirrorPad` (which tract-tensorflow lacks), with constant
/// paddings of any integer type.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
enum TfPad {
    /// `Pad`: zeros.
    Zeros,
    /// `MirrorPad` `REFLECT` (the edge cell is not repeated) or `SYMMETRIC` (it is).
    Mirror { symmetric: bool },
}

/// Registered for TF `MirrorPad`.
fn mirror_pad(_ctx: &tract_tensorflow::model::ParsingContext, node: &NodeDef) -> TractResult<Box<dyn InferenceOp>> {
    let symmetric = match node.get_attr_str("mode")?.as_str() {
        "REFLECT" => false,
        "SYMMETRIC" => true,
        other => bail!("node {}: MirrorPad mode {other}", node.name),
    };
    Ok(expand(TfPad::Mirror { symmetric }))
}

/// The input cell each of the `before + len + after` cells of a mirror-padded axis reads.
fn mirror_indices(len: usize, before: usize, after: usize, symmetric: bool) -> TractResult<Vec<i64>> {
    let edge = usize::from(!symmetric);
    if len == 0 || before + edge > len || after + edge > len {
        bail!("MirrorPad of {before} and {after} cells does not fit an axis of {len}");
    }
    let (len, skip) = (len as i64, i64::from(!symmetric));
    let read = |i: i64| match i {
        i if i < 0 => -i - 1 + skip,
        i if i >= len => 2 * len - 1 - i - skip,
        i => i,
    };
    Ok((-(before as i64)..len + after as i64).map(read).collect())
}

impl TfPad {
    fn pads(paddings: &Tensor) -> TractResult<Vec<(usize, usize)>> {
        let paddings = paddings.cast_to::<i64>()?;
        let values = paddings.try_as_plain_ram()?.as_slice::<i64>()?;
        if values.len() % 2 != 0 || values.iter().any(|&p| p < 0) {
            bail!("paddings {values:?} must be non-negative (before, after) pairs");
        }
        Ok(values.chunks(2).map(|p| (p[0] as usize, p[1] as usize)).collect())
    }
}

impl Expansion for TfPad {
    fn name(&self) -> StaticName {
        format!("{self:?}").into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.given_2(&inputs[0].shape, &inputs[1].value, move |s, shape, paddings| {
            let pads = Self::pads(&paddings)?;
            if pads.len() != shape.len() {
                bail!("paddings for rank {} applied to rank {}", pads.len(), shape.len());
            }
            let padded: TVec<TDim> = shape.iter().zip(&pads).map(|(d, (a, b))| d.clone() + (*a + *b) as i64).collect();
            s.equals(&outputs[0].shape, ShapeFactoid::from(padded))
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let Some(paddings) = model.outlet_fact(inputs[1])?.konst.clone() else {
            bail!("Pad paddings must be constant")
        };
        let pads = Self::pads(&paddings)?;
        let TfPad::Mirror { symmetric } = *self else {
            let datum_type = model.outlet_fact(inputs[0])?.datum_type;
            let zero = Tensor::zero_scalar_dt(datum_type)?.into_arc_tensor();
            let op = tract_tensorflow::tract_core::ops::array::Pad { pads, mode: PadMode::Constant(zero) };
            return model.wire_node(prefix, op, &[inputs[0]]);
        };
        // One gather of source cells per padded axis.
        let shape = model.outlet_fact(inputs[0])?.shape.clone();
        let mut x = inputs[0];
        for (axis, &(before, after)) in pads.iter().enumerate().filter(|(_, &p)| p != (0, 0)) {
            let indices = mirror_indices(shape[axis].to_usize()?, before, after, symmetric)?;
            let indices = model.add_const(format!("{prefix}.indices_{axis}"), tensor1(&indices))?;
            let gather = tract_tensorflow::tract_core::ops::array::Gather { axis, output_type: None };
            x = model.wire_node(format!("{prefix}.axis_{axis}"), gather, &[x, indices])?[0];
        }
        Ok(tvec!(x))
    }
}

fn conv2d_with_dilations(
    _ctx: &tract_tensorflow::model::ParsingContext,
    node: &NodeDef,
) -> TractResult<Box<dyn InferenceOp>> {
    Ok(expand(GroupedConv2D(channels_last_conv(node, 2)?)))
}

/// TF `MaxPool3D` / `AvgPool3D` (NDHWC, `ksize` and `strides` `[1, d, h, w, 1]`).
fn pool3d(node: &NodeDef, max: bool) -> TractResult<Box<dyn InferenceOp>> {
    use tract_tensorflow::tract_hir::ops::cnn::{HirMaxPool, HirSumPool, PoolSpec};
    use tract_tensorflow::tract_hir::ops::nn::DataFormat;
    if node.get_attr_opt_raw_str("data_format")?.is_some_and(|f| f != b"NDHWC") {
        bail!("node {}: only NDHWC {} is supported", node.name, node.op);
    }
    let spatial = |attr: &str| -> TractResult<TVec<usize>> {
        let values = node.get_attr_list_int::<usize>(attr)?;
        if values.len() != 5 || values[0] != 1 || values[4] != 1 {
            bail!("node {}: {attr} must be [1, d, h, w, 1], got {values:?}", node.name);
        }
        Ok(values[1..4].into())
    };
    let padding = match node.get_attr_raw_str("padding")? {
        b"VALID" => PaddingSpec::Valid,
        b"SAME" => PaddingSpec::SameUpper,
        other => bail!("node {}: unsupported padding {}", node.name, String::from_utf8_lossy(other)),
    };
    let spec = PoolSpec::new(DataFormat::NHWC, spatial("ksize")?, padding, None, Some(spatial("strides")?), 0, 0);
    Ok(if max { expand(HirMaxPool::new(spec, None)) } else { expand(HirSumPool::new(spec, false, true)) })
}

/// tract's `Conv` for a TF `Conv2D`/`Conv3D` node of `rank` spatial axes (channels last,
/// kernel (k…, in, out)), with its strides, dilations and padding.
fn channels_last_conv(node: &NodeDef, rank: usize) -> TractResult<Conv> {
    let spatial = |attr: &str| -> TractResult<Option<TVec<usize>>> {
        let Some(values) = node.get_attr_opt_list_int::<usize>(attr)? else { return Ok(None) };
        if values.len() != rank + 2 || values[0] != 1 || values[rank + 1] != 1 {
            bail!("node {}: {attr} must be [1, {rank} spatial values, 1], got {values:?}", node.name);
        }
        Ok(Some(values[1..=rank].into()))
    };
    if node.get_attr_opt_raw_str("data_format")?.is_some_and(|f| f != b"NHWC" && f != b"NDHWC") {
        bail!("node {}: only channels-last {} is supported", node.name, node.op);
    }
    let padding = match node.get_attr_raw_str("padding")? {
        b"VALID" => PaddingSpec::Valid,
        b"SAME" => PaddingSpec::SameUpper,
        other => bail!("node {}: unsupported padding {}", node.name, String::from_utf8_lossy(other)),
    };
    let strides = spatial("strides")?.ok_or_else(|| format_err!("node {}: no strides", node.name))?;
    let mut conv = Conv::default().hwio().nhwc().padding(padding).strides(strides);
    if let Some(dilations) = spatial("dilations")? {
        conv = conv.dilations(dilations);
    }
    Ok(conv)
}

/// A TF `Conv2D`, grouped when the filter has fewer input channels than the input (TF infers
/// `groups = input channels / filter input channels`; Keras `Conv2D(groups=...)`, e.g. in
/// ConvNeXt, relies on it). tract's `Conv` needs the group up front, so it is set once the
/// shapes are known.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct GroupedConv2D(Conv);

impl GroupedConv2D {
    fn grouped(&self, channels: usize, filter_in: usize) -> TractResult<Conv> {
        if filter_in == 0 || !channels.is_multiple_of(filter_in) {
            bail!("Conv2D: {channels} input channels are not a multiple of the filter's {filter_in}");
        }
        Ok(self.0.clone().group(channels / filter_in))
    }
}

impl Expansion for GroupedConv2D {
    fn name(&self) -> StaticName {
        "Conv2D".into()
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
        s.equals(&inputs[1].rank, 4)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&inputs[0].datum_type, &inputs[1].datum_type)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given_2(&inputs[0].shape, &inputs[1].shape, move |s, ishape, kshape| {
            let kshape = kshape.iter().map(|d| Ok(d.to_usize()?)).collect::<TractResult<TVec<usize>>>()?;
            let conv = self.grouped(ishape[3].to_usize()?, kshape[2])?;
            s.equals(&outputs[0].shape, ShapeFactoid::from(conv.output_shape(&ishape, &kshape)?))
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let channels = model.outlet_fact(inputs[0])?.shape[3].to_usize()?;
        let filters = model.outlet_fact(inputs[1])?.shape[3].to_usize()?;
        let filter_in = model.outlet_fact(inputs[1])?.shape[2].to_usize()?;
        if filter_in == channels {
            return self.0.wire(prefix, model, inputs);
        }
        // TF's grouped kernel is (h, w, in / g, out) with the groups on `out`; tract's grouped
        // HWIO is (h, w, in, out / g) with the groups on `in`: (h, w, i, g·o) → (h, w, i, g, o)
        // → (h, w, g, i, o) → (h, w, g·i, o).
        let conv = self.grouped(channels, filter_in)?;
        let groups = channels / filter_in;
        if filters % groups != 0 {
            bail!("Conv2D: {filters} filters are not a multiple of {groups} groups");
        }
        let steps = [
            AxisOp::Reshape(3, tvec![filters.to_dim()], tvec![groups.to_dim(), (filters / groups).to_dim()]),
            AxisOp::Move(3, 2),
            AxisOp::Reshape(2, tvec![groups.to_dim(), filter_in.to_dim()], tvec![channels.to_dim()]),
        ];
        let mut kernel = inputs[1];
        for (index, step) in steps.into_iter().enumerate() {
            kernel = model.wire_node(format!("{prefix}.kernel.{index}"), step, &[kernel])?[0];
        }
        conv.wire(prefix, model, &[inputs[0], kernel])
    }
}

/// Largest constant a splat is expanded to (the loader bounds splats the same way).
const MAX_SPLAT: usize = 1 << 24;

/// Makes every `Const` tensor of `graph` list every value. TF stores a constant whose values
/// are all equal (e.g. the zero `begin` of a `StridedSlice`) as a shape plus fewer values (the
/// last one repeats; none means zeros); tract's decoder fails on those ("out of bounds").
pub fn expand_splat_constants(graph: &mut GraphDef) {
    for node in graph.node.iter_mut().filter(|n| n.op == "Const") {
        let Some(AttrValue { value: Some(attr_value::Value::Tensor(proto)) }) = node.attr.get_mut("value") else {
            continue;
        };
        if !proto.tensor_content.is_empty() {
            continue;
        }
        let Some(shape) = proto.tensor_shape.as_ref() else { continue };
        let count =
            shape.dim.iter().try_fold(1usize, |acc, d| usize::try_from(d.size).ok().and_then(|d| acc.checked_mul(d)));
        let Some(count) = count.filter(|&c| c <= MAX_SPLAT) else { continue };
        fn fill<T: Copy + Default>(values: &mut Vec<T>, count: usize) {
            if values.len() < count {
                let last = values.last().copied().unwrap_or_default();
                values.resize(count, last);
            }
        }
        match DataType::try_from(proto.dtype) {
            Ok(DataType::DtFloat) => fill(&mut proto.float_val, count),
            Ok(DataType::DtDouble) => fill(&mut proto.double_val, count),
            Ok(DataType::DtInt64) => fill(&mut proto.int64_val, count),
            Ok(DataType::DtBool) => fill(&mut proto.bool_val, count),
            Ok(DataType::DtInt32 | DataType::DtInt16 | DataType::DtInt8 | DataType::DtUint8) => {
                fill(&mut proto.int_val, count)
            }
            _ => {}
        }
    }
}

/// A source model (TF or ONNX front end) with its input facts and outputs set, made runnable.
pub(crate) fn runnable(model: InferenceModel) -> Result<Arc<TypedRunnableModel>, VerifyError> {
    let oracle_error = |e: TractError| VerifyError::Oracle(format!("{e:#}"));
    let typed = guard::contained(|| model.into_typed()).map_err(oracle_error)?;
    // Every tensor's shape is known now: refuse absurd ones before anything is allocated.
    crate::limits::check_typed_model(&typed)?;
    // tract's optimiser has bugs of its own (e.g. its ChangeAxes pass mis-shapes a bias after
    // a padded strided Conv2D); the plain typed model computes the same function, slower.
    guard::contained(|| match guard::contained(|| typed.clone().into_optimized()) {
        Ok(optimized) => optimized.into_runnable(),
        Err(_) => typed.into_runnable(),
    })
    .map_err(oracle_error)
}

/// Runs `plan` on `inputs`; one f32 array per output, `names` naming them in errors.
pub(crate) fn run_plan(
    plan: &Arc<TypedRunnableModel>,
    inputs: TVec<TValue>,
    names: &[String],
) -> Result<Vec<ArrayD<f32>>, VerifyError> {
    let outputs = guard::contained(|| plan.run(inputs)).map_err(|e| VerifyError::Oracle(format!("{e:#}")))?;
    outputs
        .iter()
        .zip(names)
        .map(|(value, name)| {
            // Integer and boolean outputs (ids reshaped) compare as whole numbers, as the
            // engine computes them.
            let as_f32 = value.cast_to::<f32>().map_err(|e| VerifyError::Oracle(format!("output '{name}': {e:#}")))?;
            as_f32
                .to_plain_array_view::<f32>()
                .map(|v| v.to_owned())
                .map_err(|e| VerifyError::Oracle(format!("output '{name}': {e:#}")))
        })
        .collect()
}

/// A runnable TF graph with fixed input shapes (batch included).
pub struct Oracle {
    runner: Runner,
}

enum Runner {
    /// A straight-line graph, all in tract.
    Tract {
        plan: Arc<TypedRunnableModel>,
        output_names: Vec<String>,
        /// The type of each input: samples arrive as f32 (whole numbers for integer inputs)
        /// and are cast to it.
        input_types: Vec<DatumType>,
    },
    /// A graph with `While` loops, which tract cannot run: [`loops::LoopOracle`].
    Loops(loops::LoopOracle),
}

/// The tract type of `Placeholder` `name`'s `dtype` among `nodes` (f32 when the graph does
/// not say).
pub(crate) fn placeholder_type(nodes: &[NodeDef], name: &str) -> Result<DatumType, VerifyError> {
    let dtype =
        nodes.iter().find(|n| n.name == name && n.op == "Placeholder").and_then(|n| match n.attr.get("dtype") {
            Some(AttrValue { value: Some(attr_value::Value::Type(t)) }) => DataType::try_from(*t).ok(),
            _ => None,
        });
    match dtype {
        None | Some(DataType::DtFloat) => Ok(f32::datum_type()),
        Some(DataType::DtInt32) => Ok(i32::datum_type()),
        Some(DataType::DtInt64) => Ok(i64::datum_type()),
        Some(DataType::DtUint8) => Ok(u8::datum_type()),
        Some(DataType::DtBool) => Ok(bool::datum_type()),
        Some(other) => Err(VerifyError::Oracle(format!(
            "input '{name}' of type {} is not supported",
            tf2h5_tf::dtype_name(other as i32)
        ))),
    }
}

impl Oracle {
    /// Prepares `graph` (already pruned to what `outputs` need) for inputs named and shaped
    /// as given, producing the named node outputs.
    pub fn new(graph: &GraphDef, inputs: &[(String, Vec<usize>)], outputs: &[String]) -> Result<Oracle, VerifyError> {
        Self::from_graph(graph.clone(), inputs, outputs)
    }

    /// [`new`](Self::new) consuming the graph: tract copies the weights into its own tensors,
    /// and the graph's copy is freed as soon as tract has read it.
    pub fn from_graph(
        mut graph: GraphDef,
        inputs: &[(String, Vec<usize>)],
        outputs: &[String],
    ) -> Result<Oracle, VerifyError> {
        if graph.node.iter().any(|n| matches!(n.op.as_str(), "While" | "StatelessWhile")) {
            return Ok(Oracle { runner: Runner::Loops(loops::LoopOracle::new(graph, inputs, outputs)?) });
        }
        let oracle_error = |e: TractError| VerifyError::Oracle(format!("{e:#}"));
        let tf = tensorflow_with_fixes();
        let input_types =
            inputs.iter().map(|(name, _)| placeholder_type(&graph.node, name)).collect::<Result<Vec<_>, _>>()?;
        expand_splat_constants(&mut graph);
        half::batch_norm_in_float(&mut graph);
        new_axis::strided_slice_new_axes(&mut graph);
        let model = guard::contained(|| tf.model_for_proto_model(&graph));
        drop(graph);
        let mut model = model.map_err(oracle_error)?;
        let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
        model.set_input_names(&names).map_err(oracle_error)?;
        for (index, ((_, shape), &datum_type)) in inputs.iter().zip(&input_types).enumerate() {
            model.set_input_fact(index, InferenceFact::dt_shape(datum_type, shape)).map_err(oracle_error)?;
        }
        model.select_outputs_by_name(outputs).map_err(oracle_error)?;
        Ok(Oracle { runner: Runner::Tract { plan: runnable(model)?, output_names: outputs.to_vec(), input_types } })
    }

    /// Runs one set of inputs; returns one array per requested output.
    pub fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, VerifyError> {
        let (plan, output_names, input_types) = match &self.runner {
            Runner::Tract { plan, output_names, input_types } => (plan, output_names, input_types),
            Runner::Loops(oracle) => return oracle.run(inputs),
        };
        let inputs: TVec<TValue> = inputs
            .iter()
            .zip(input_types)
            .map(|(a, &datum_type)| typed_input(Tensor::from(a.clone()), datum_type))
            .collect::<Result<_, VerifyError>>()?;
        run_plan(plan, inputs, output_names)
    }
}

/// A sample (f32, whole numbers for an integer input) as a tract input of `datum_type`.
pub(crate) fn typed_input(tensor: Tensor, datum_type: DatumType) -> Result<TValue, VerifyError> {
    if datum_type == f32::datum_type() {
        return Ok(tensor.into());
    }
    let cast = tensor.cast_to_dt(datum_type).map_err(|e| VerifyError::Oracle(format!("{e:#}")))?;
    Ok(cast.into_owned().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_pads_read_the_cells_tf_documents() {
        // tf.pad([0, 1, 2, 3], [[2, 3]], "REFLECT") = [2, 1, 0, 1, 2, 3, 2, 1, 0]; SYMMETRIC repeats the edge.
        assert_eq!(mirror_indices(4, 2, 3, false).unwrap(), vec![2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(mirror_indices(4, 2, 3, true).unwrap(), vec![1, 0, 0, 1, 2, 3, 3, 2, 1]);
        assert!(mirror_indices(4, 4, 0, false).is_err());
        assert_eq!(mirror_indices(4, 4, 0, true).unwrap(), vec![3, 2, 1, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Python's math.erfc.
        let cases = [
            (-6f64, 2.0),
            (-4.5f64, 1.999999999803384),
            (-3.9f64, 1.9999999652077514),
            (-2.2f64, 1.998137153702018),
            (-1.0f64, 1.842700792949715),
            (-0.49f64, 1.511668261188523),
            (-0.1f64, 1.1124629160182848),
            (0f64, 1.0),
            (0.05f64, 0.9436280222029834),
            (0.3f64, 0.6713732405408726),
            (0.5f64, 0.4795001221869535),
            (0.51f64, 0.4707563801588296),
            (0.9f64, 0.20309178757716786),
            (1.5f64, 0.033894853524689274),
            (2.5f64, 0.0004069520174449589),
            (3.99f64, 1.6739211364520814e-08),
            (4.0f64, 1.541725790028002e-08),
            (4.2f64, 2.8554941795921843e-09),
            (5.5f64, 7.357847917974398e-15),
            (7f64, 4.183825607779414e-23),
            (9.5f64, 3.76921448565488e-41),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!((got - want).abs() <= 1e-13 * want.abs().max(1e-300), "erfc({x}) = {got}, want {want}");
        }
        assert!(erfc(f64::NAN).is_nan());
        assert_eq!(erfc(f64::INFINITY), 0.0);
        assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
    }

    #[test]
    fn unary_ops_follow_tf() {
        assert_eq!(Unary::LeakyRelu(0.2f32.to_bits()).eval(-2.0), -2.0 * 0.2f32);
        assert_eq!(Unary::LeakyRelu(0.2f32.to_bits()).eval(3.0), 3.0);
        assert!((Unary::Softplus.eval(-30.0) - (-30f64).exp() as f32).abs() < 1e-20);
        assert_eq!(Unary::Softplus.eval(100.0), 100.0);
        assert!((Unary::Erf.eval(1.0) - 0.842_700_8).abs() < 1e-7);
    }
}

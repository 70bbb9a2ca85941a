//! TF `Conv2DBackpropInput` and `Conv3DBackpropInputV2` (Keras `Conv2DTranspose` /
//! `Conv3DTranspose`, `tf.nn.conv2d_transpose` / `conv3d_transpose`), which tract-tensorflow
//! lacks, onto tract-core's `Deconv`.
//!
//! Written from TF's definition of the op, not from the converter's rule: the output sizes are
//! whatever `input_sizes` says; the padding is the forward convolution's from that output back
//! to the input (`VALID`: none; `SAME`: `max((in − 1)·stride + dilated kernel − out, 0)`, the
//! smaller half before), given to tract explicitly, with tract's `adjustments` making up the
//! rest of the output length. TF's filter is (k…, out, in); tract's HWIO deconvolution kernel
//! is (k…, in, out), so the last two axes are swapped.

use tract_tensorflow::tfpb::tensorflow::NodeDef;
use tract_tensorflow::tract_core::ops::cnn::{Deconv, KernelFormat, PoolSpec};
use tract_tensorflow::tract_hir::infer::*;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::cnn::PaddingSpec;
use tract_tensorflow::tract_hir::ops::nn::DataFormat;

/// `Conv2DBackpropInput` / `Conv3DBackpropInputV2` `(input_sizes, filter, out_backprop)`,
/// channels last; the rank is the number of strides.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct BackpropInput {
    strides: TVec<usize>,
    dilations: TVec<usize>,
    same: bool,
}

/// Registered for the TF ops.
pub fn backprop_input(
    _ctx: &tract_tensorflow::model::ParsingContext,
    node: &NodeDef,
) -> TractResult<Box<dyn InferenceOp>> {
    if node.get_attr_opt_raw_str("data_format")?.is_some_and(|f| f != b"NHWC" && f != b"NDHWC") {
        bail!("node {}: only channels-last {} is supported by the oracle", node.name, node.op);
    }
    let strides = node.get_attr_list_int::<usize>("strides")?;
    let rank = strides.len().saturating_sub(2);
    let spatial = |values: Vec<usize>, attr: &str| -> TractResult<TVec<usize>> {
        if values.len() != rank + 2 || values[0] != 1 || values[rank + 1] != 1 || !(2..=3).contains(&rank) {
            bail!("node {}: {attr} must be [1, {rank} spatial values, 1], got {values:?}", node.name);
        }
        Ok(values[1..=rank].into())
    };
    let dilations = node.get_attr_opt_list_int::<usize>("dilations")?.unwrap_or_else(|| vec![1; rank + 2]);
    let same = match node.get_attr_raw_str("padding")? {
        b"SAME" => true,
        b"VALID" => false,
        other => bail!("node {}: padding {} is not supported by the oracle", node.name, String::from_utf8_lossy(other)),
    };
    Ok(expand(BackpropInput {
        strides: spatial(strides, "strides")?,
        dilations: spatial(dilations, "dilations")?,
        same,
    }))
}

/// The requested output sizes (N, spatial…, C) as integers.
fn sizes(value: &Tensor) -> TractResult<TVec<usize>> {
    let value = value.cast_to::<i64>()?;
    let sizes = value.try_as_plain_ram()?.as_slice::<i64>()?.to_vec();
    if sizes.iter().any(|&v| v < 0) {
        bail!("negative input_sizes {sizes:?}");
    }
    Ok(sizes.iter().map(|&v| v as usize).collect())
}

impl Expansion for BackpropInput {
    fn name(&self) -> StaticName {
        "BackpropInput".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        let rank = self.strides.len();
        s.equals(&inputs[1].rank, rank as i64 + 2)?;
        s.equals(&inputs[2].rank, rank as i64 + 2)?;
        s.equals(&outputs[0].rank, rank as i64 + 2)?;
        s.equals(&outputs[0].datum_type, &inputs[2].datum_type)?;
        s.equals(&outputs[0].shape[0], &inputs[2].shape[0])?;
        s.equals(&outputs[0].shape[rank + 1], &inputs[1].shape[rank])?;
        s.equals(&inputs[2].shape[rank + 1], &inputs[1].shape[rank + 1])?;
        s.given(&inputs[0].value, move |s, value| {
            let sizes = sizes(&value)?;
            if sizes.len() != rank + 2 {
                bail!("input_sizes {sizes:?} is not {} values", rank + 2);
            }
            (1..=rank).try_for_each(|axis| s.equals(&outputs[0].shape[axis], sizes[axis].to_dim()))
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let Some(value) = model.outlet_fact(inputs[0])?.konst.clone() else {
            bail!("a transposed convolution needs constant input_sizes")
        };
        let output = sizes(&value)?;
        let filter = model.outlet_fact(inputs[1])?.shape.as_concrete().context("a constant filter")?.to_vec();
        let x = model.outlet_fact(inputs[2])?.shape.as_concrete().context("a concrete input shape")?.to_vec();
        let (mut before, mut after, mut adjustments) = (tvec![], tvec![], tvec![]);
        let rank = self.strides.len();
        for axis in 0..rank {
            let (input, out, kernel) = (x[axis + 1], output[axis + 1], filter[axis]);
            let (stride, dilation) = (self.strides[axis], self.dilations[axis]);
            let field = (kernel - 1) * dilation + 1;
            let full = (input.saturating_sub(1)) * stride + field;
            let total = if self.same { full.saturating_sub(out) } else { 0 };
            // The part of the output past the full deconvolution receives no taps.
            let Some(adjustment) = (out + total).checked_sub(full) else {
                bail!("transposed convolution: output size {out} is too small for input {input}");
            };
            before.push(total / 2);
            after.push(total - total / 2);
            adjustments.push(adjustment);
        }
        let kernel = model.wire_node(format!("{prefix}.filter_hwio"), AxisOp::Move(rank, rank + 1), &[inputs[1]])?;
        let bias = model.add_const(format!("{prefix}.bias"), Tensor::zero_scalar::<f32>()?)?;
        let pool_spec = PoolSpec::new(
            DataFormat::NHWC,
            filter[..rank].into(),
            PaddingSpec::Explicit(before, after),
            Some(self.dilations.clone()),
            Some(self.strides.clone()),
            filter[rank + 1],
            filter[rank],
        );
        let op = Deconv::new(pool_spec, KernelFormat::HWIO, adjustments, 1);
        model.wire_node(prefix, op, &[inputs[2], kernel[0], bias])
    }
}

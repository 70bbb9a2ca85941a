//! The source-side oracle: the TF graph run by tract-tensorflow, with our fixes for the ops
//! where tract is missing or wrong (see `shared/docs/TRACT_NOTES.md`).

use std::sync::Arc;

use ndarray::ArrayD;
use tract_tensorflow::prelude::*;
use tract_tensorflow::tfpb::tensorflow::NodeDef;
use tract_tensorflow::tract_core::ops::array::PadMode;
use tract_tensorflow::tract_hir::infer::*;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::cnn::{Conv, PaddingSpec};
use tract_tensorflow::tract_hir::ops::nn::LayerSoftmax;

use crate::VerifyError;

/// tract's TensorFlow front end with tf2h5's op fixes registered:
/// - `FusedBatchNormV3`/`V2`: missing; same inference semantics as `FusedBatchNorm`.
/// - `Softmax`: tract normalises axes 1..rank on rank > 2; TF normalises the last axis.
/// - `Conv2D`: tract ignores `dilations`.
/// - `Pad`: tract's rule demands TDim paddings and fails on TF's int32 constants.
pub fn tensorflow_with_fixes() -> tract_tensorflow::Tensorflow {
    let mut tf = tract_tensorflow::tensorflow();
    if let Some(&fused_batch_norm) = tf.op_register.0.get("FusedBatchNorm") {
        tf.op_register.insert("FusedBatchNormV2", fused_batch_norm);
        tf.op_register.insert("FusedBatchNormV3", fused_batch_norm);
    }
    tf.op_register.insert("Softmax", |_, _| Ok(expand(LayerSoftmax::new(-1, false))));
    tf.op_register.insert("Conv2D", conv2d_with_dilations);
    tf.op_register.insert("Pad", |_, _| Ok(expand(ConstantZeroPad)));
    tf
}

/// TF `Pad` with constant paddings of any integer type, padding with zeros.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct ConstantZeroPad;

impl ConstantZeroPad {
    fn pads(paddings: &Tensor) -> TractResult<Vec<(usize, usize)>> {
        let paddings = paddings.cast_to::<i64>()?;
        let values = paddings.try_as_plain_ram()?.as_slice::<i64>()?;
        if values.len() % 2 != 0 || values.iter().any(|&p| p < 0) {
            bail!("paddings {values:?} must be non-negative (before, after) pairs");
        }
        Ok(values.chunks(2).map(|p| (p[0] as usize, p[1] as usize)).collect())
    }
}

impl Expansion for ConstantZeroPad {
    fn name(&self) -> StaticName {
        "ConstantZeroPad".into()
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
        let Some(paddings) = model.outlet_fact(inputs[1])?.konst.clone() else { bail!("Pad paddings must be constant") };
        let datum_type = model.outlet_fact(inputs[0])?.datum_type;
        let zero = Tensor::zero_scalar_dt(datum_type)?.into_arc_tensor();
        let op = tract_tensorflow::tract_core::ops::array::Pad { pads: Self::pads(&paddings)?, mode: PadMode::Constant(zero) };
        model.wire_node(prefix, op, &[inputs[0]])
    }
}

fn conv2d_with_dilations(_ctx: &tract_tensorflow::model::ParsingContext, node: &NodeDef) -> TractResult<Box<dyn InferenceOp>> {
    let four = |attr: &str| -> TractResult<Option<TVec<usize>>> {
        let Some(values) = node.get_attr_opt_list_int::<usize>(attr)? else { return Ok(None) };
        if values.len() != 4 || values[0] != 1 || values[3] != 1 {
            bail!("node {}: {attr} must be [1, h, w, 1], got {values:?}", node.name);
        }
        Ok(Some(values[1..3].into()))
    };
    if node.get_attr_opt_raw_str("data_format")?.is_some_and(|f| f != b"NHWC") {
        bail!("node {}: only NHWC Conv2D is supported", node.name);
    }
    let padding = match node.get_attr_raw_str("padding")? {
        b"VALID" => PaddingSpec::Valid,
        b"SAME" => PaddingSpec::SameUpper,
        other => bail!("node {}: unsupported padding {}", node.name, String::from_utf8_lossy(other)),
    };
    let strides = four("strides")?.ok_or_else(|| format_err!("node {}: no strides", node.name))?;
    let mut conv = Conv::default().hwio().nhwc().padding(padding).strides(strides);
    if let Some(dilations) = four("dilations")? {
        conv = conv.dilations(dilations);
    }
    Ok(expand(conv))
}

/// A runnable TF graph with fixed input shapes (batch included).
pub struct Oracle {
    plan: Arc<TypedRunnableModel>,
    output_names: Vec<String>,
}

impl Oracle {
    /// Prepares `graph` (already pruned to what `outputs` need) for inputs named and shaped
    /// as given, producing the named node outputs.
    pub fn new(
        graph: &tract_tensorflow::tfpb::tensorflow::GraphDef,
        inputs: &[(String, Vec<usize>)],
        outputs: &[String],
    ) -> Result<Oracle, VerifyError> {
        let oracle_error = |e: TractError| VerifyError::Oracle(format!("{e:#}"));
        let tf = tensorflow_with_fixes();
        let mut model = tf.model_for_proto_model(graph).map_err(oracle_error)?;
        let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
        model.set_input_names(&names).map_err(oracle_error)?;
        for (index, (_, shape)) in inputs.iter().enumerate() {
            model.set_input_fact(index, f32::fact(shape).into()).map_err(oracle_error)?;
        }
        model.select_outputs_by_name(outputs).map_err(oracle_error)?;
        let typed = model.into_typed().map_err(oracle_error)?;
        // tract's optimiser has bugs of its own (e.g. its ChangeAxes pass mis-shapes a bias after
        // a padded strided Conv2D); the plain typed model computes the same function, slower.
        let plan = match typed.clone().into_optimized() {
            Ok(optimized) => optimized.into_runnable(),
            Err(_) => typed.into_runnable(),
        }
        .map_err(oracle_error)?;
        Ok(Oracle { plan, output_names: outputs.to_vec() })
    }

    /// Runs one set of inputs; returns one array per requested output.
    pub fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, VerifyError> {
        let oracle_error = |e: TractError| VerifyError::Oracle(format!("{e:#}"));
        let inputs: TVec<TValue> = inputs.iter().map(|a| Tensor::from(a.clone()).into()).collect();
        let outputs = self.plan.run(inputs).map_err(oracle_error)?;
        outputs
            .iter()
            .zip(&self.output_names)
            .map(|(value, name)| {
                value
                    .to_plain_array_view::<f32>()
                    .map(|v| v.to_owned())
                    .map_err(|e| VerifyError::Oracle(format!("output '{name}': {e:#}")))
            })
            .collect()
    }
}

//! TF `Any` (a logical or over axes; Keras's `Masking` reduces `x != mask_value` over the
//! features with it): missing in tract-tensorflow; tract-core's `Reduce` with its `Any`
//! reducer over the constant axes (negative ones counted from the end), then the reduced axes
//! removed unless `keep_dims`.

use tract_tensorflow::tfpb::tensorflow::NodeDef;
use tract_tensorflow::tract_core::ops::nn::{Reduce, Reducer};
use tract_tensorflow::tract_hir::internal::*;

/// `Any(input, axes)`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Any {
    keep_dims: bool,
}

/// The op for `node`.
pub fn any(_: &tract_tensorflow::model::ParsingContext, node: &NodeDef) -> TractResult<Box<dyn InferenceOp>> {
    Ok(expand(Any { keep_dims: node.get_attr_opt_bool("keep_dims")?.unwrap_or(false) }))
}

impl Expansion for Any {
    fn name(&self) -> StaticName {
        "Any".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, bool::datum_type())?;
        if self.keep_dims {
            s.equals(&outputs[0].rank, &inputs[0].rank)?;
        }
        Ok(())
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let rank = model.outlet_fact(inputs[0])?.rank() as i64;
        let axes = model.outlet_fact(inputs[1])?.konst.clone().context("Any needs constant axes")?;
        let axes = axes.cast_to::<i64>()?;
        let mut axes: TVec<usize> = axes
            .try_as_plain_ram()?
            .as_slice::<i64>()?
            .iter()
            .map(|&a| {
                let axis = if a < 0 { a + rank } else { a };
                ensure!((0..rank).contains(&axis), "Any axis {a} does not fit rank {rank}");
                Ok(axis as usize)
            })
            .collect::<TractResult<_>>()?;
        axes.sort_unstable();
        axes.dedup();
        let mut wire = model.wire_node(prefix, Reduce::new(axes.clone(), Reducer::Any), &[inputs[0]])?;
        if !self.keep_dims {
            for (removed, &axis) in axes.iter().enumerate() {
                wire = model.wire_node(format!("{prefix}.rm-{axis}"), AxisOp::Rm(axis - removed), &wire)?;
            }
        }
        Ok(wire)
    }
}

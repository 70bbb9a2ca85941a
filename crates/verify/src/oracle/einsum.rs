//! TF `Einsum` (what Keras's `EinsumDense` and `MultiHeadAttention` write), which
//! tract-tensorflow lacks: the equation read as tract-core's `AxesMapping` and run by
//! tract-core's `EinSum`, any number of operands, any equation without an ellipsis. This does
//! not share code with the converter's rule (which maps a few equations onto `Dense`).

use tract_tensorflow::tfpb::tensorflow::NodeDef;
use tract_tensorflow::tract_hir::internal::*;

/// `Einsum` with its parsed equation.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Einsum {
    axes: AxesMapping,
}

/// The op for `node`: its `equation` attribute parsed (an ellipsis is refused).
pub fn einsum(_: &tract_tensorflow::model::ParsingContext, node: &NodeDef) -> TractResult<Box<dyn InferenceOp>> {
    let equation: String = node.get_attr_str("equation")?;
    if equation.contains("...") {
        bail!("Einsum '{equation}': an ellipsis is not supported by the oracle");
    }
    Ok(expand(Einsum { axes: equation.parse()? }))
}

impl Expansion for Einsum {
    fn name(&self) -> StaticName {
        "Einsum".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.axes.input_count())?;
        check_output_arity(outputs, 1)?;
        for (ix, input) in inputs.iter().enumerate() {
            s.equals(&input.datum_type, &outputs[0].datum_type)?;
            s.equals(&input.rank, self.axes.rank(InOut::In(ix)) as i64)?;
        }
        s.equals(&outputs[0].rank, self.axes.rank(InOut::Out(0)) as i64)?;
        // Every letter has one size wherever it appears.
        for axis in self.axes.iter_all_axes() {
            let mut sizes = vec![];
            if let Some(&position) = axis.outputs[0].first() {
                sizes.push(outputs[0].shape[position].bex());
            }
            for (ix, positions) in axis.inputs.iter().enumerate() {
                sizes.extend(positions.iter().map(|&p| inputs[ix].shape[p].bex()));
            }
            s.equals_all(sizes)?;
        }
        Ok(())
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let operating_dt = model.outlet_fact(inputs[0])?.datum_type;
        let op = tract_tensorflow::tract_core::ops::einsum::EinSum::new(self.axes.clone(), operating_dt);
        model.wire_node(prefix, op, inputs)
    }
}

//! TF `Pack` (`tf.stack`) along any axis. tract-tensorflow's rule reads the axis as unsigned
//! and panics on `tf.stack(..., axis=-1)`; this one counts a negative axis from the end of
//! the output (rank + 1 axes), then wires what tract's does: the inputs cast to their common
//! type, a unit axis added to each, a concatenation along it. Independent of the converter's
//! rule (`Reshape`s and a `Concatenate`).

use tract_tensorflow::tfpb::tensorflow::NodeDef;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::array::TypedConcat;
use tract_tensorflow::tract_hir::ops::binary::wire_cast;

/// `Pack` of `n` inputs along `axis` (negative: from the end of the output).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Pack {
    n: usize,
    axis: i64,
}

/// The op for `node`.
pub fn pack(_: &tract_tensorflow::model::ParsingContext, node: &NodeDef) -> TractResult<Box<dyn InferenceOp>> {
    let n = node.input.iter().filter(|i| !i.starts_with('^')).count();
    let axis = node.get_attr_opt_int::<i64>("axis")?.unwrap_or(0);
    Ok(expand(Pack { n, axis }))
}

impl Pack {
    /// The new axis in an output of `rank + 1` axes.
    fn axis(&self, rank: usize) -> TractResult<usize> {
        let out = rank as i64 + 1;
        let axis = if self.axis < 0 { self.axis + out } else { self.axis };
        ensure!((0..out).contains(&axis), "Pack axis {} does not fit inputs of rank {rank}", self.axis);
        Ok(axis as usize)
    }
}

impl Expansion for Pack {
    fn name(&self) -> StaticName {
        "Pack".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.n)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.equals_all((0..self.n).map(|i| inputs[i].rank.bex()).collect())?;
        s.given_all((0..self.n).map(move |i| &inputs[i].datum_type), move |s, types| {
            if let Some(dt) = DatumType::super_type_for(types) {
                s.equals(&outputs[0].datum_type, dt)?;
            }
            Ok(())
        })?;
        s.given(&inputs[0].rank, move |s, rank| {
            let axis = self.axis(rank as usize)?;
            for d in 0..rank as usize {
                s.equals_all((0..self.n).map(|i| inputs[i].shape[d].bex()).collect())?;
                s.equals(&outputs[0].shape[if d < axis { d } else { d + 1 }], &inputs[0].shape[d])?;
            }
            s.equals(&outputs[0].shape[axis], self.n.to_dim())
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let axis = self.axis(model.outlet_fact(inputs[0])?.rank())?;
        let types = inputs.iter().map(|&i| Ok(model.outlet_fact(i)?.datum_type)).collect::<TractResult<TVec<_>>>()?;
        let dt = DatumType::super_type_for(types.iter()).context("the inputs have no common type")?;
        let cast = wire_cast(prefix, model, inputs, dt)?;
        let mut expanded = TVec::new();
        for (i, &input) in cast.iter().enumerate() {
            expanded.push(model.wire_node(format!("{prefix}.add_dims-{i}"), AxisOp::Add(axis), &[input])?[0]);
        }
        model.wire_node(prefix, TypedConcat::new(axis), &expanded)
    }
}

//! TF `ConcatV2` with a negative axis.
//!
//! tract-tensorflow's rule reads the axis as `i32 as usize`, so `axis=-1` (what Keras graphs
//! use) becomes 2^64 − 1 and shape inference loops over that many dimensions: tf2h5 hung on a
//! valid SavedModel (found by the mutation suite in `crates/fuzz`). This version normalises the
//! axis against the rank (int32 or int64, as TF allows) and refuses one out of range. It also
//! concatenates values of different integer types in their common type: shape arithmetic
//! (ConvNeXt's `tensordot`) joins TDim from `Shape` with int32 constants.

use tract_tensorflow::tract_hir::infer::*;
use tract_tensorflow::tract_hir::internal::*;
use tract_tensorflow::tract_hir::ops::array::TypedConcat;

/// `ConcatV2`: inputs are the tensors, then the axis.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ConcatV2;

impl Expansion for ConcatV2 {
    fn name(&self) -> StaticName {
        "ConcatV2".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_output_arity(outputs, 1)?;
        if inputs.len() < 2 {
            bail!("ConcatV2 needs at least one tensor and an axis");
        }
        let n = inputs.len() - 1;
        // Shape arithmetic mixes TDim (from `Shape`) with int32 constants: the common type.
        s.given_all((0..n).map(|i| (&inputs[i].datum_type).bex()), move |s, dts| {
            let super_type =
                DatumType::super_type_for(&dts).ok_or_else(|| format_err!("ConcatV2: no common type for {dts:?}"))?;
            s.equals(&outputs[0].datum_type, super_type)
        })?;
        s.equals_all((0..n).map(|i| (&inputs[i].rank).bex()).collect())?;
        s.equals(&inputs[n].rank, 0)?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.given_2(&inputs[0].rank, &inputs[n].value, move |s, rank, axis| {
            let axis = super::normalised_axis(&axis, rank)?;
            for d in (0..rank as usize).filter(|&d| d != axis) {
                let mut dims: Vec<_> = (0..n).map(|i| (&inputs[i].shape[d]).bex()).collect();
                dims.push((&outputs[0].shape[d]).bex());
                s.equals_all(dims)?;
            }
            let mut concat_dim = -1 * outputs[0].shape[axis].bex();
            for input in inputs.iter().take(n) {
                concat_dim = concat_dim + input.shape[axis].bex();
            }
            s.equals_zero(concat_dim)
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let (&axis, tensors) = inputs.split_last().ok_or_else(|| format_err!("ConcatV2 without inputs"))?;
        let Some(value) = model.outlet_fact(axis)?.konst.clone() else {
            bail!("ConcatV2: the axis must be a constant")
        };
        let first = *tensors.first().ok_or_else(|| format_err!("ConcatV2 without tensors"))?;
        let rank = model.outlet_fact(first)?.rank() as i64;
        let axis = super::normalised_axis(&value, rank)?;
        let types = tensors.iter().map(|t| Ok(model.outlet_fact(*t)?.datum_type)).collect::<TractResult<TVec<_>>>()?;
        let super_type = DatumType::super_type_for(types.iter())
            .ok_or_else(|| format_err!("ConcatV2: no common type for {types:?}"))?;
        let tensors = tract_tensorflow::tract_hir::ops::binary::wire_cast(prefix, model, tensors, super_type)?;
        model.wire_node(prefix, TypedConcat::new(axis), &tensors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_negative_axes() {
        assert_eq!(crate::oracle::normalised_axis(&tensor0(-1i32), 4).unwrap(), 3);
        assert_eq!(crate::oracle::normalised_axis(&tensor0(1i64), 4).unwrap(), 1);
        assert!(crate::oracle::normalised_axis(&tensor0(-5i32), 4).is_err());
        assert!(crate::oracle::normalised_axis(&tensor0(4i32), 4).is_err());
    }
}

//! Size limits that keep verification's memory bounded on hostile models.
//!
//! Weights are bounded by the bytes of the model file (the loaders check every tensor against
//! the bytes present), but tensors computed at run time are not: in a 1 KB file, a Placeholder
//! can claim shape (1, 1000000, 1000000, 3) and a Pad a million-wide border. Before anything
//! runs, every tensor of one sample is checked against [`MAX_TENSOR_ELEMENTS`]: the random
//! inputs ([`crate::inputs`]) and every node output of the typed tract model
//! ([`crate::oracle`]), whose shapes are all known once the input shapes are.

use tract_tensorflow::prelude::*;

use crate::VerifyError;

/// Largest tensor (elements per sample) tf2h5 computes: 2^27 float32 values, 512 MiB. Real
/// models stay far below (a 1024×1024×64 activation is 2^26).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 27;

/// Refuses a tensor of `shape` over the limit; `what` names it.
pub fn check_shape(what: &str, shape: &[usize]) -> Result<(), VerifyError> {
    match shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) {
        Some(n) if n <= MAX_TENSOR_ELEMENTS => Ok(()),
        n => Err(VerifyError::Input(format!(
            "{what} has shape {shape:?} ({} elements per sample); tf2h5 refuses tensors over {MAX_TENSOR_ELEMENTS} elements",
            n.map_or_else(|| "overflowing".to_string(), |n| n.to_string())
        ))),
    }
}

/// Refuses a model in which any node would compute a tensor over the limit.
pub fn check_typed_model(model: &TypedModel) -> Result<(), VerifyError> {
    for node in model.nodes() {
        for output in &node.outputs {
            let Some(dims) = output.fact.shape.as_concrete() else { continue };
            check_shape(&format!("node '{}' ({})", node.name, node.op.name()), dims)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_absurd_shapes() {
        assert!(check_shape("x", &[1, 224, 224, 3]).is_ok());
        let err = check_shape("input 'x'", &[1, 1_000_000, 1_000_000, 3]).unwrap_err().to_string();
        assert!(err.contains("input 'x'") && err.contains("refuses"), "{err}");
        assert!(check_shape("x", &[usize::MAX, 2]).unwrap_err().to_string().contains("overflowing"));
    }
}

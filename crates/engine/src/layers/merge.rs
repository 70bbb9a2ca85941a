//! What Keras's element-wise merge layers share (`Add`, `Subtract`, `Multiply`, `Maximum`,
//! `Minimum`): inputs of one rank whose dimensions are equal or 1 broadcast (NumPy rules, as
//! both Keras versions allow: a squeeze-and-excite gate (N,1,1,C) times (N,H,W,C)), and the
//! result is folded left to right, `((a ∘ b) ∘ c) ∘ ...`, as Keras does.

use ndarray::{ArrayD, IxDyn, Zip};

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Folds `inputs` with `op`, broadcasting; `min_inputs`/`max_inputs` bound their count.
pub(crate) fn fold(
    cfg: &LayerConfig<'_>,
    inputs: Vec<Input<'_>>,
    (min_inputs, max_inputs): (usize, usize),
    op: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Result<ArrayD<f32>, EngineError> {
    cfg.weights(&[])?;
    if inputs.len() < min_inputs || inputs.len() > max_inputs {
        return Err(cfg.invalid(format!("expects {min_inputs} to {max_inputs} inputs, got {}", inputs.len())));
    }
    let rank = inputs[0].ndim();
    if let Some(other) = inputs.iter().find(|x| x.ndim() != rank) {
        return Err(cfg.shape(format!("inputs have different ranks: {:?} and {:?}", inputs[0].shape(), other.shape())));
    }
    let mut shape = inputs[0].shape().to_vec();
    for x in &inputs[1..] {
        for (axis, (out, &d)) in shape.iter_mut().zip(x.shape()).enumerate() {
            *out = match (*out, d) {
                (a, b) if a == b || b == 1 => a,
                (1, b) => b,
                (a, b) => {
                    return Err(cfg.shape(format!(
                        "inputs {:?} and {:?} do not broadcast (axis {axis}: {a} vs {b})",
                        inputs[0].shape(),
                        x.shape()
                    )))
                }
            };
        }
    }
    let mut inputs = inputs.into_iter();
    let first = inputs.next().ok_or_else(|| cfg.invalid("no inputs"))?;
    let mut acc = if first.shape() == shape.as_slice() {
        tensor::into_standard(first)
    } else {
        first.broadcast(IxDyn(&shape)).ok_or_else(|| cfg.shape("broadcast failed"))?.to_owned()
    };
    for x in inputs {
        let x = x.broadcast(IxDyn(&shape)).ok_or_else(|| cfg.shape("broadcast failed"))?;
        Zip::from(&mut acc).and(&x).par_for_each(|a, &v| *a = op(*a, v));
    }
    Ok(acc)
}

/// TF's maximum/minimum propagate NaN; `f32::max` would drop it.
pub(crate) fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

/// See [`nan_max`].
pub(crate) fn nan_min(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.min(b)
    }
}

//! Keras `Normalization` (the preprocessing layer) on the last axis:
//! `(x - mean) / max(sqrt(variance), 1e-7)` in float32, as both Keras versions compute it
//! (`invert` computes `mean + x * max(sqrt(variance), 1e-7)`). `mean`/`variance` come from
//! the config (a number or one per channel: what tf2h5 writes) or, for an adapted layer, from
//! its `mean`, `variance` and `count` weights.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use super::rescaling::{check_last_axis, floats};
use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras's `backend.epsilon()`.
const EPSILON: f32 = 1e-7;

/// Keras `Normalization`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    let rank = x.ndim();
    let axis = cfg.axis_or("axis", -1)?;
    if super::resolve_axis(&cfg, axis, rank)? + 1 != rank {
        return Err(cfg.unsupported(format!("axis={axis} (only the last axis)")));
    }
    let (mean, variance) = if layer.config.get("mean").is_some_and(|v| !v.is_null()) {
        cfg.weights(&[])?;
        (floats(&cfg, "mean", None)?, floats(&cfg, "variance", None)?)
    } else {
        let w = cfg.weights(&["mean", "variance", "count"])?;
        (w[0].iter().copied().collect(), w[1].iter().copied().collect())
    };
    let last = x.shape().last().copied().unwrap_or(1);
    check_last_axis(&cfg, "mean", &mean, last)?;
    check_last_axis(&cfg, "variance", &variance, last)?;
    let invert = cfg.bool_or("invert", false)?;
    let divisor: Vec<f32> = variance.iter().map(|&v| v.sqrt().max(EPSILON)).collect();
    let pick = |values: &[f32], i: usize| {
        if values.len() == 1 {
            values[0]
        } else {
            values[i]
        }
    };
    let mut y = tensor::into_standard(x);
    if let Some(data) = y.as_slice_mut() {
        tensor::for_each_row(data, last, |row| {
            for (i, v) in row.iter_mut().enumerate() {
                *v = if invert {
                    pick(&mean, i) + *v * pick(&divisor, i)
                } else {
                    (*v - pick(&mean, i)) / pick(&divisor, i)
                };
            }
        });
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;

    #[test]
    fn divides_exactly() {
        let x = array![[1.0f32, 2.0], [3.0, -4.0]].into_dyn();
        let layer = layers::normalization("n", "x".into(), &[1.0, 0.0], &[4.0, 0.25]);
        let y = apply(&layer, vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y, array![[0.0f32, 4.0], [1.0, -8.0]].into_dyn());
        // x / 3 is not x * (1/3): the layer must divide.
        let d = 3.0f32;
        let layer = layers::normalization("n", "x".into(), &[0.0], &[d * d]);
        let x = array![[0.1f32, 7.0]].into_dyn();
        let y = apply(&layer, vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y, array![[0.1f32 / 3.0, 7.0 / 3.0]].into_dyn());
    }
}

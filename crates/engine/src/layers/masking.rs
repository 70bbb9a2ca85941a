//! Keras `Masking`: `x · any(x ≠ mask_value)` over the last axis, as tf-keras 2 and Keras 3
//! both compute it (the comparison in float32: a NaN differs from every value, so its step
//! stays, and NaN · 1 is NaN). Its output carries the `any` as the Keras mask
//! ([`crate::mask`]), which the recurrent layers reading it apply per step.

use ndarray::{ArrayD, Axis};
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `Masking`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    let keep = mask(layer, &x)?;
    let mut y = tensor::into_standard(x);
    let last = Axis(y.ndim() - 1);
    for (mut row, keep) in y.lanes_mut(last).into_iter().zip(keep.iter()) {
        let scale = if *keep { 1.0 } else { 0.0 };
        row.mapv_inplace(|v| v * scale);
    }
    Ok(y)
}

/// The mask a `Masking` layer attaches to its output: `any(x ≠ mask_value)` over the last
/// axis of its input `x`.
pub(crate) fn mask(layer: &Layer, x: &ArrayD<f32>) -> Result<ArrayD<bool>, EngineError> {
    let cfg = LayerConfig::new(layer);
    cfg.weights(&[])?;
    if x.ndim() < 2 {
        return Err(cfg.shape(format!("expects an input of rank 2 or more, got {:?}", x.shape())));
    }
    let mask_value = cfg.f64_or("mask_value", 0.0)? as f32;
    Ok(x.map_axis(Axis(x.ndim() - 1), |row| row.iter().any(|&v| v != mask_value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn zeroes_and_masks_the_steps_whose_features_all_equal_the_mask_value() {
        let layer = tf2h5_keras::layers::masking("m", "x".into(), -1.0);
        let x = array![[[-1.0f32, -1.0], [-1.0, 2.0], [f32::NAN, -1.0]]].into_dyn();
        assert_eq!(mask(&layer, &x).unwrap(), array![[false, true, true]].into_dyn());
        let y = apply(&layer, vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y.slice(ndarray::s![0, 0..2, ..]), array![[-0.0f32, -0.0], [-1.0, 2.0]]);
        assert!(y[[0, 2, 0]].is_nan() && y[[0, 2, 1]] == -1.0);
    }
}

//! Keras `ReLU` layer: `max_value` (null = no cap), `negative_slope`, `threshold`, computed
//! exactly as Keras's `relu` does it (same in tf-keras and Keras 3):
//! `pos = x > threshold ? x : 0` (plain relu when threshold is 0), clipped to
//! `[0, max_value]` when capped, minus `negative_slope * relu(threshold - x)`.
//! Keras refuses negative `max_value`, `negative_slope` or `threshold`, and so do we.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `ReLU`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.weights(&[])?;
    let max_value = cfg.opt_f64("max_value")?;
    let slope = cfg.f64_or("negative_slope", 0.0)?;
    let threshold = cfg.f64_or("threshold", 0.0)?;
    for (key, value) in [("max_value", max_value.unwrap_or(0.0)), ("negative_slope", slope), ("threshold", threshold)] {
        if value < 0.0 {
            return Err(cfg.invalid(format!("{key} must not be negative, got {value}")));
        }
    }
    // Keras casts the parameters to the input dtype before using them.
    let (max_value, slope, threshold) = (max_value.map(|m| m as f32), slope as f32, threshold as f32);
    let mut y = tensor::into_standard(x);
    tensor::map_inplace(&mut y, move |v| relu(v, max_value, slope, threshold));
    Ok(y)
}

#[inline]
fn relu(x: f32, max_value: Option<f32>, slope: f32, threshold: f32) -> f32 {
    let mut pos = if threshold != 0.0 {
        if x > threshold {
            x
        } else {
            0.0
        }
    } else if x < 0.0 {
        0.0
    } else {
        x
    };
    if let Some(max) = max_value {
        pos = pos.clamp(0.0, max);
    }
    if slope != 0.0 {
        let below = threshold - x;
        pos -= slope * if below > 0.0 { below } else { 0.0 };
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use serde_json::json;
    use tf2h5_keras::layers;

    fn run(max: Option<f32>, slope: f64, threshold: f64, x: ArrayD<f32>) -> Result<ArrayD<f32>, EngineError> {
        let mut layer = layers::relu("r", "x".into(), max);
        layer.config.insert("negative_slope".into(), json!(slope));
        layer.config.insert("threshold".into(), json!(threshold));
        apply(&layer, vec![Input::Owned(x)])
    }

    #[test]
    fn keras_relu_semantics() {
        let x = array![[-2.0f32, -0.5, 0.0, 0.5, 1.0, 3.0, 7.0]].into_dyn();
        assert_eq!(run(None, 0.0, 0.0, x.clone()).unwrap(), array![[0.0f32, 0.0, 0.0, 0.5, 1.0, 3.0, 7.0]].into_dyn());
        assert_eq!(
            run(Some(6.0), 0.0, 0.0, x.clone()).unwrap(),
            array![[0.0f32, 0.0, 0.0, 0.5, 1.0, 3.0, 6.0]].into_dyn()
        );
        assert_eq!(
            run(None, 0.5, 0.0, x.clone()).unwrap(),
            array![[-1.0f32, -0.25, 0.0, 0.5, 1.0, 3.0, 7.0]].into_dyn()
        );
        // threshold 1, slope 0.5, cap 5: x <= 1 -> 0.5 (x - 1); x > 1 -> min(x, 5).
        assert_eq!(
            run(Some(5.0), 0.5, 1.0, x.clone()).unwrap(),
            array![[-1.5f32, -0.75, -0.5, -0.25, 0.0, 3.0, 5.0]].into_dyn()
        );
        assert!(run(None, -0.1, 0.0, x.clone()).is_err());
        assert!(run(Some(-1.0), 0.0, 0.0, x).is_err());
    }
}

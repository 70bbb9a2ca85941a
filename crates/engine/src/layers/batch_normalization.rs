//! Keras `BatchNormalization` in inference mode, on the last axis only (`axis` -1, or
//! rank-1, possibly as a one-element list as tf-keras writes it once built).
//!
//! Weights: `gamma` if `scale`, `beta` if `center`, then `moving_mean`, `moving_variance`.
//! Computed in f32 the way TF's `batch_normalization` does, so rounding matches:
//! `scale = gamma * rsqrt(variance + epsilon)`, `y = x * scale + (beta - mean * scale)`.
//! Trap: `epsilon` is the layer's own (copied from the TF node), never a default.

use ndarray::ArrayD;
use tf2h5_keras::spec::LayerSpec;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `BatchNormalization`.
pub(crate) fn apply(spec: &LayerSpec, layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::Norm(norm) = spec else { return Err(cfg.invalid("internal error: not a normalization spec")) };
    let x = super::single_input(&cfg, inputs)?;
    let channels = super::last_axis_channels(&cfg, norm.axes.first().copied().unwrap_or(-1), &x)?;
    let epsilon = norm.epsilon as f32;
    let (center, scale) = (norm.center, norm.scale);
    let weights = cfg.spec_weights(spec, channels)?;
    let mut weights = weights.into_iter();
    let mut next = || weights.next().map(|w| w.iter().copied().collect::<Vec<f32>>());
    let gamma = if scale { next() } else { None };
    let beta = if center { next() } else { None };
    let (Some(mean), Some(variance)) = (next(), next()) else {
        return Err(cfg.invalid("missing moving statistics"));
    };

    let (multiplier, offset) = fold(&mean, &variance, gamma.as_deref(), beta.as_deref(), epsilon);
    let mut y = tensor::into_standard(x);
    if let Some(data) = y.as_slice_mut() {
        tensor::for_each_row(data, channels, |row| {
            for ((v, m), o) in row.iter_mut().zip(&multiplier).zip(&offset) {
                *v = *v * m + o;
            }
        });
    }
    Ok(y)
}

/// Per-channel `(multiplier, offset)` with TF's rounding: `inv = rsqrt(var + eps) * gamma`,
/// `offset = beta - mean * inv`.
fn fold(
    mean: &[f32],
    variance: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>) {
    let multiplier: Vec<f32> = variance
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let inv = 1.0 / (v + epsilon).sqrt();
            gamma.map_or(inv, |g| inv * g[i])
        })
        .collect();
    let offset = mean
        .iter()
        .zip(&multiplier)
        .enumerate()
        .map(|(i, (&m, &inv))| beta.map_or(-(m * inv), |b| b[i] - m * inv))
        .collect();
    (multiplier, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::run_layer as apply;
    use approx::assert_abs_diff_eq;
    use ndarray::array;
    use serde_json::json;
    use tf2h5_keras::layers::{self, BatchNormWeights};
    use tf2h5_keras::LayerError;

    fn weights() -> BatchNormWeights {
        BatchNormWeights {
            gamma: array![2.0f32, 0.5].into_dyn(),
            beta: array![1.0f32, -1.0].into_dyn(),
            moving_mean: array![3.0f32, 0.0].into_dyn(),
            moving_variance: array![4.0f32, 0.25].into_dyn(),
        }
    }

    #[test]
    fn formula_with_epsilon() {
        let layer = layers::batch_normalization("bn", "x".into(), 0.01, weights());
        let x = array![[[[5.0f32, 1.0]]], [[[3.0, -2.0]]]].into_dyn();
        let y = apply(&layer, vec![Input::Owned(x)]).unwrap();
        // channel 0: (5 - 3) / sqrt(4.01) * 2 + 1; channel 1: (1 - 0) / sqrt(0.26) * 0.5 - 1.
        let want0 = (2.0 / 4.01f64.sqrt() * 2.0 + 1.0) as f32;
        let want1 = (1.0 / 0.26f64.sqrt() * 0.5 - 1.0) as f32;
        assert_abs_diff_eq!(y[[0, 0, 0, 0]], want0, epsilon = 1e-6);
        assert_abs_diff_eq!(y[[0, 0, 0, 1]], want1, epsilon = 1e-6);
        assert_abs_diff_eq!(y[[1, 0, 0, 0]], 1.0, epsilon = 1e-6);
    }

    #[test]
    fn without_scale_and_center() {
        let mut layer = layers::batch_normalization("bn", "x".into(), 0.0, weights());
        layer.config.insert("scale".into(), json!(false));
        layer.config.insert("center".into(), json!(false));
        layer.config.insert("axis".into(), json!([1]));
        // gamma/beta present although disabled: Keras would not load this.
        assert!(apply(&layer, vec![Input::Owned(array![[1.0f32, 1.0]].into_dyn())]).is_err());
        layer.weights.retain(|w| w.name.starts_with("moving"));
        let y = apply(&layer, vec![Input::Owned(array![[5.0f32, 1.0]].into_dyn())]).unwrap();
        assert_eq!(y, array![[1.0f32, 2.0]].into_dyn());
    }

    #[test]
    fn wrong_axis_or_channels_are_errors() {
        let mut layer = layers::batch_normalization("bn", "x".into(), 0.001, weights());
        assert!(matches!(
            apply(&layer, vec![Input::Owned(ArrayD::zeros(vec![1, 3]))]),
            Err(EngineError::Layer(LayerError::Shape { .. }))
        ));
        layer.config.insert("axis".into(), json!(1));
        assert!(matches!(
            apply(&layer, vec![Input::Owned(ArrayD::zeros(vec![1, 2, 2, 2]))]),
            Err(EngineError::Unsupported { .. })
        ));
    }
}

//! Keras `LayerNormalization` over the last axis (`axis` -1, [-1] or [rank-1]):
//! `inv = rsqrt(var + epsilon) * gamma`, `y = x * inv + (beta - mean * inv)`, as TF's
//! `batch_normalization` (tf-keras) and Keras 3 compute it; mean and variance per row are
//! accumulated in f64 and rounded to f32. Weights: `gamma` if `scale`, `beta` if `center`.

use ndarray::ArrayD;
use tf2h5_keras::spec::LayerSpec;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `LayerNormalization`.
pub(crate) fn apply(spec: &LayerSpec, layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::Norm(norm) = spec else { return Err(cfg.invalid("internal error: not a normalization spec")) };
    let x = super::single_input(&cfg, inputs)?;
    let channels = super::last_axis_channels(&cfg, norm.axis, &x)?;
    let epsilon = norm.epsilon as f32;
    let (center, scale) = (norm.center, norm.scale);
    let weights = cfg.spec_weights(spec, channels)?;
    let mut weights = weights.into_iter().map(|w| w.iter().copied().collect::<Vec<f32>>());
    let gamma = if scale { weights.next() } else { None };
    let beta = if center { weights.next() } else { None };
    let mut y = tensor::into_standard(x);
    if channels == 0 {
        return Ok(y);
    }
    if let Some(data) = y.as_slice_mut() {
        tensor::for_each_row(data, channels, |row| {
            let n = row.len() as f64;
            let mean = (row.iter().map(|&v| f64::from(v)).sum::<f64>() / n) as f32;
            let var = (row.iter().map(|&v| (f64::from(v) - f64::from(mean)).powi(2)).sum::<f64>() / n) as f32;
            let inv = 1.0 / (var + epsilon).sqrt();
            for (i, v) in row.iter_mut().enumerate() {
                let inv = gamma.as_ref().map_or(inv, |g| inv * g[i]);
                let shift = beta.as_ref().map_or(-(mean * inv), |b| b[i] - mean * inv);
                *v = *v * inv + shift;
            }
        });
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::run_layer as apply;
    use approx::assert_abs_diff_eq;
    use ndarray::{array, Array1};
    use tf2h5_keras::layers;

    #[test]
    fn normalises_each_row() {
        let x = array![[[1.0f32, 2.0, 3.0, 6.0]], [[0.0, 0.0, 0.0, 0.0]]].into_dyn();
        let gamma = Array1::from(vec![1.0f32, 2.0, 1.0, 1.0]).into_dyn();
        let beta = Array1::from(vec![0.0f32, 0.0, 0.0, 1.0]).into_dyn();
        let layer = layers::layer_normalization("ln", "x".into(), 1e-6, gamma, beta);
        let y = apply(&layer, vec![Input::Borrowed(&x)]).unwrap();
        // mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5.
        let s = 1.0 / (3.5f64 + 1e-6).sqrt();
        for (i, want) in [-2.0 * s, -2.0 * s, 0.0, 3.0 * s + 1.0].iter().enumerate() {
            assert_abs_diff_eq!(f64::from(y[[0, 0, i]]), *want, epsilon = 1e-6);
        }
        assert_eq!(y[[1, 0, 3]], 1.0);
    }
}

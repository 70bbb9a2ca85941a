//! Keras `LayerNormalization` over the last axis (`axis` -1, [-1] or [rank-1]):
//! `inv = rsqrt(var + epsilon) * gamma`, `y = x * inv + (beta - mean * inv)`, as TF's
//! `batch_normalization` (tf-keras) and Keras 3 compute it; mean and variance per row are
//! accumulated in f64 and rounded to f32. Weights: `gamma` if `scale`, `beta` if `center`.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `LayerNormalization`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    let rank = x.ndim();
    let axis = cfg.axis_or("axis", -1)?;
    if rank < 2 || super::resolve_axis(&cfg, axis, rank)? + 1 != rank {
        return Err(cfg.unsupported(format!("axis={axis} on a rank-{rank} input (only the last axis)")));
    }
    if cfg.bool_or("rms_scaling", false)? {
        return Err(cfg.unsupported("rms_scaling=true"));
    }
    let epsilon = cfg.f64_or("epsilon", 1e-3)? as f32;
    let center = cfg.bool_or("center", true)?;
    let scale = cfg.bool_or("scale", true)?;
    let mut names = Vec::new();
    if scale {
        names.push("gamma");
    }
    if center {
        names.push("beta");
    }
    let weights = cfg.weights(&names)?;
    let channels = x.shape()[rank - 1];
    for (name, w) in names.iter().zip(&weights) {
        if w.shape() != [channels] {
            return Err(cfg.shape(format!(
                "weight '{name}' is {:?}, the input {:?} has {channels} channels",
                w.shape(),
                x.shape()
            )));
        }
    }
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

//! Keras `LayerNormalization` over any set of non-batch axes (`axis` -1, [2], [1, 2], ...):
//! `inv = rsqrt(var + epsilon) * gamma`, `y = x * inv + (beta - mean * inv)`, as TF's
//! `batch_normalization` (tf-keras) and Keras 3 compute it; mean and variance per group (the
//! elements sharing every other index) are accumulated in f64 and rounded to f32. Weights:
//! `gamma` if `scale`, `beta` if `center`, each of the input's sizes on the axes in increasing
//! order. Axes other than the trailing ones are moved last, normalised, and moved back.

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
    let rank = x.ndim();
    let mut axes = norm.axes.iter().map(|&a| super::resolve_axis(&cfg, a, rank)).collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    if axes.first() == Some(&0) {
        return Err(cfg.unsupported(format!("axis={:?} includes the batch axis", norm.axes)));
    }
    let group_shape: Vec<usize> = axes.iter().map(|&a| x.shape()[a]).collect();
    let channels = x.shape().last().copied().unwrap_or(0);
    let weights = cfg.spec_weights(spec, channels)?;
    if let Some(w) = weights.iter().find(|w| w.shape() != group_shape.as_slice()) {
        return Err(cfg.shape(format!(
            "weights of shape {:?} for an input {:?} normalised over axes {axes:?}",
            w.shape(),
            x.shape()
        )));
    }
    let epsilon = norm.epsilon as f32;
    let mut weights = weights.into_iter().map(|w| w.iter().copied().collect::<Vec<f32>>());
    let gamma = if norm.scale { weights.next() } else { None };
    let beta = if norm.center { weights.next() } else { None };
    // The normalised axes last, in increasing order: each group is then one row whose
    // element order is the weights' row-major order.
    let order: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).chain(axes.iter().copied()).collect();
    let trailing = order.iter().enumerate().all(|(i, &a)| i == a);
    let mut y = if trailing {
        tensor::into_standard(x)
    } else {
        x.view().permuted_axes(order.clone()).as_standard_layout().into_owned()
    };
    let group: usize = group_shape.iter().product();
    if let (Some(data), true) = (y.as_slice_mut(), group > 0) {
        tensor::for_each_row(data, group, |row| {
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
    if trailing {
        return Ok(y);
    }
    let mut inverse = vec![0; rank];
    for (i, &a) in order.iter().enumerate() {
        inverse[a] = i;
    }
    Ok(y.permuted_axes(inverse).as_standard_layout().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::run_layer as apply;
    use approx::assert_abs_diff_eq;
    use ndarray::{array, Array1, ArrayD};
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

    #[test]
    fn normalises_over_any_axes() {
        // (1, 2, 3): over axis 1 each column is a group of two; over [1, 2] all six are one.
        let columns = array![[[1.0f32, 2.0, 4.0], [3.0, 4.0, 0.0]]].into_dyn();
        let gamma = Array1::from(vec![1.0f32, 3.0]).into_dyn();
        let layer = layers::layer_normalization_over("ln", "x".into(), &[1], 0.0, Some(gamma), None);
        let y = apply(&layer, vec![Input::Borrowed(&columns)]).unwrap();
        let want = array![[[-1.0f32, -1.0, 1.0], [3.0, 3.0, -3.0]]].into_dyn();
        y.iter().zip(&want).for_each(|(a, b)| assert_abs_diff_eq!(*a, *b, epsilon = 1e-6));
        let x = array![[[1.0f32, 2.0, 4.0], [3.0, 2.0, 0.0]]].into_dyn();
        let beta = ArrayD::from_elem(vec![2, 3], 0.5f32);
        let layer = layers::layer_normalization_over("ln", "x".into(), &[1, 2], 0.0, None, Some(beta));
        let y = apply(&layer, vec![Input::Borrowed(&x)]).unwrap();
        // mean 2, variance (1 + 0 + 4 + 1 + 0 + 4) / 6 = 5/3.
        let s = 1.0 / (5.0f32 / 3.0).sqrt();
        assert_abs_diff_eq!(y[[0, 0, 2]], 2.0 * s + 0.5, epsilon = 1e-6);
        assert_abs_diff_eq!(y[[0, 1, 0]], s + 0.5, epsilon = 1e-6);
        let wrong =
            layers::layer_normalization_over("ln", "x".into(), &[1, 2], 0.0, Some(ArrayD::zeros(vec![3, 2])), None);
        assert!(apply(&wrong, vec![Input::Borrowed(&x)]).is_err());
        let batch = layers::layer_normalization_over("ln", "x".into(), &[0, 1], 0.0, None, None);
        assert!(apply(&batch, vec![Input::Borrowed(&x)]).is_err());
    }
}

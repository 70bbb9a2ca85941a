//! Keras `Dot` of two rank-3 tensors (batch, rows, columns): for each sample, the product
//! contracting axis `axes[0]` of the first with axis `axes[1]` of the second, as both Keras
//! versions' `batch_dot` computes it: (batch, free axis of x, free axis of y). `normalize`
//! (cosine proximity) is not supported.

use ndarray::{ArrayD, ArrayView2, Axis, Ix2, Ix3};
use serde_json::Value;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Dot`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    cfg.weights(&[])?;
    if cfg.bool_or("normalize", false)? {
        return Err(cfg.unsupported("normalize=true"));
    }
    let [x, y] = inputs.as_slice() else { return Err(cfg.invalid(format!("expects 2 inputs, got {}", inputs.len()))) };
    let bad = || cfg.invalid("'axes' must be an integer or a list of two");
    let axes: Vec<i64> = match layer.config.get("axes") {
        Some(Value::Array(items)) => items.iter().map(|v| v.as_i64().ok_or_else(bad)).collect::<Result<_, _>>()?,
        Some(v) => vec![v.as_i64().ok_or_else(bad)?; 2],
        None => return Err(bad()),
    };
    let [ax, ay] = axes.as_slice() else { return Err(bad()) };
    let (x, y) = (x.view().into_dimensionality::<Ix3>(), y.view().into_dimensionality::<Ix3>());
    let (Ok(x), Ok(y)) = (x, y) else { return Err(cfg.unsupported("inputs of a rank other than 3")) };
    let (ax, ay) = (super::resolve_axis(&cfg, *ax, 3)?, super::resolve_axis(&cfg, *ay, 3)?);
    if ax == 0 || ay == 0 || x.shape()[ax] != y.shape()[ay] || x.shape()[0] != y.shape()[0] {
        return Err(cfg.shape(format!("cannot contract {:?} axis {ax} with {:?} axis {ay}", x.shape(), y.shape())));
    }
    // Each sample as (free, contracted) times (contracted, free).
    let (rows, cols) = (x.shape()[3 - ax], y.shape()[3 - ay]);
    let mut out = ArrayD::zeros(vec![x.shape()[0], rows, cols]);
    for ((xs, ys), mut os) in x.outer_iter().zip(y.outer_iter()).zip(out.axis_iter_mut(Axis(0))) {
        let os = os.view_mut().into_dimensionality::<Ix2>().map_err(|e| cfg.shape(e))?;
        crate::gemm::matmul_into(oriented(xs, ax == 1), oriented(ys, ay == 2), os);
    }
    Ok(out)
}

/// `m`, transposed when its contracted axis comes first.
fn oriented(m: ArrayView2<'_, f32>, contracted_first: bool) -> ArrayView2<'_, f32> {
    if contracted_first {
        m.reversed_axes()
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;

    #[test]
    fn contracts_the_given_axes_per_sample() {
        // x (1, 2, 3), y (1, 4, 3): axes (2, 2) gives x · yᵀ, (1, 2, 4).
        let x = array![[[1.0f32, 2.0, 3.0], [0.0, 1.0, 0.0]]].into_dyn();
        let y = array![[[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]].into_dyn();
        let dot = layers::dot("d", vec!["x".into(), "y".into()], [2, 2]);
        let z = apply(&dot, vec![Input::Borrowed(&x), Input::Borrowed(&y)]).unwrap();
        assert_eq!(z, array![[[1.0f32, 2.0, 3.0, 6.0], [0.0, 1.0, 0.0, 1.0]]].into_dyn());
        // (1, 2) contracts x's rows with y's columns: y (1, 3, 2).
        let y = array![[[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]]].into_dyn();
        let dot = layers::dot("d", vec!["x".into(), "y".into()], [1, 2]);
        let z = apply(&dot, vec![Input::Borrowed(&x), Input::Borrowed(&y)]).unwrap();
        // z[j, k] = sum_i x[i, j] y[k, i]: (3, 3).
        assert_eq!(z, array![[[1.0f32, 0.0, 1.0], [2.0, 1.0, 3.0], [3.0, 0.0, 3.0]]].into_dyn());
        let wrong = layers::dot("d", vec!["x".into(), "y".into()], [2, 2]);
        assert!(apply(&wrong, vec![Input::Borrowed(&x), Input::Borrowed(&y)]).is_err());
    }
}

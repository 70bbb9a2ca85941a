//! Keras `Softmax` layer over `axis` (absolute on the full tensor including the batch, or
//! negative from the end; default -1), stabilised by subtracting each lane's max.

use ndarray::{ArrayD, Axis, Zip};
use tf2h5_keras::Layer;

use super::activation::softmax_lane;
use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `Softmax`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.weights(&[])?;
    let axis = super::resolve_axis(&cfg, cfg.axis_or("axis", -1)?, x.ndim())?;
    let mut y = tensor::into_standard(x);
    if axis + 1 == y.ndim() {
        let row_len = y.shape()[axis];
        if let Some(data) = y.as_slice_mut() {
            tensor::for_each_row(data, row_len, |row| softmax_lane(tensor::lane(row)));
            return Ok(y);
        }
    }
    Zip::from(y.lanes_mut(Axis(axis))).par_for_each(softmax_lane);
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::array;
    use tf2h5_keras::layers;

    #[test]
    fn softmax_over_a_middle_axis() {
        // Shape (1, 2, 2): axis 1 normalises x[0, :, j].
        let x = array![[[0.0f32, 1.0], [0.0, 3.0]]].into_dyn();
        let y = apply(&layers::softmax("s", "x".into(), 1), vec![Input::Owned(x.clone())]).unwrap();
        assert_abs_diff_eq!(y[[0, 0, 0]], 0.5, epsilon = 1e-7);
        assert_abs_diff_eq!(y[[0, 1, 0]], 0.5, epsilon = 1e-7);
        let e2 = (2.0f32).exp();
        assert_abs_diff_eq!(y[[0, 0, 1]], 1.0 / (1.0 + e2), epsilon = 1e-7);
        assert_abs_diff_eq!(y[[0, 1, 1]], e2 / (1.0 + e2), epsilon = 1e-7);
        // -2 is the same axis on a rank-3 tensor.
        let z = apply(&layers::softmax("s", "x".into(), -2), vec![Input::Owned(x.clone())]).unwrap();
        assert_eq!(y, z);
        // Last axis.
        let last = apply(&layers::softmax("s", "x".into(), -1), vec![Input::Owned(x.clone())]).unwrap();
        let e3 = (3.0f32).exp();
        assert_abs_diff_eq!(last[[0, 1, 1]], e3 / (1.0 + e3), epsilon = 1e-6);
        assert_abs_diff_eq!(last.sum(), 2.0, epsilon = 1e-6);
        assert!(apply(&layers::softmax("s", "x".into(), 3), vec![Input::Owned(x)]).is_err());
    }

    #[test]
    fn large_logits_are_stable() {
        let x = array![[1000.0f32, 1000.0]].into_dyn();
        let y = apply(&layers::softmax("s", "x".into(), -1), vec![Input::Owned(x)]).unwrap();
        assert_eq!(y, array![[0.5f32, 0.5]].into_dyn());
    }
}

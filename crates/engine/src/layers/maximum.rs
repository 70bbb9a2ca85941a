//! Keras `Maximum` / `Minimum`: element-wise extremum of the inputs, broadcasting dimensions
//! of 1; NaN propagates as in TF.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use super::merge::{nan_max, nan_min};
use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Maximum`.
pub(crate) fn apply_maximum(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    super::merge::fold(&LayerConfig::new(layer), inputs, (1, usize::MAX), nan_max)
}

/// Keras `Minimum`.
pub(crate) fn apply_minimum(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    super::merge::fold(&LayerConfig::new(layer), inputs, (1, usize::MAX), nan_min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;

    #[test]
    fn extrema_broadcast_and_keep_nan() {
        let a = array![[1.0f32, 5.0, f32::NAN]].into_dyn();
        let b = array![[3.0f32]].into_dyn();
        let max = apply_maximum(&layers::merge("Maximum", "m", vec![]), vec![Input::Borrowed(&a), Input::Borrowed(&b)])
            .unwrap();
        assert_eq!(&max.as_slice().unwrap()[..2], &[3.0, 5.0]);
        assert!(max[[0, 2]].is_nan());
        let min = apply_minimum(&layers::merge("Minimum", "m", vec![]), vec![Input::Borrowed(&a), Input::Borrowed(&b)])
            .unwrap();
        assert_eq!(&min.as_slice().unwrap()[..2], &[1.0, 3.0]);
    }
}

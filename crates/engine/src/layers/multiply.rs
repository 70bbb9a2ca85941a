//! Keras `Multiply`: element-wise product of its inputs, broadcasting dimensions of 1 (a
//! squeeze-and-excite gate), left to right.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Multiply`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    super::merge::fold(&LayerConfig::new(layer), inputs, (1, usize::MAX), |a, b| a * b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array4};
    use tf2h5_keras::layers;

    #[test]
    fn gates_each_channel() {
        let layer = layers::merge("Multiply", "m", vec!["x".into(), "g".into()]);
        let x = Array4::from_shape_fn((1, 2, 2, 2), |(_, h, w, c)| (h * 4 + w * 2 + c) as f32).into_dyn();
        let gate = array![[[[10.0f32, 0.5]]]].into_dyn();
        let y = apply(&layer, vec![Input::Borrowed(&x), Input::Borrowed(&gate)]).unwrap();
        assert_eq!(y.as_slice().unwrap(), &[0.0, 0.5, 20.0, 1.5, 40.0, 2.5, 60.0, 3.5]);
        // The gate first works too (the output takes the broadcast shape).
        let y2 = apply(&layer, vec![Input::Borrowed(&gate), Input::Borrowed(&x)]).unwrap();
        assert_eq!(y, y2);
    }
}

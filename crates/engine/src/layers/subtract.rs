//! Keras `Subtract`: exactly two inputs, `a - b`, broadcasting dimensions of 1.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Subtract`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    super::merge::fold(&LayerConfig::new(layer), inputs, (2, 2), |a, b| a - b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;

    #[test]
    fn subtracts_the_second_from_the_first() {
        let layer = layers::merge("Subtract", "s", vec!["a".into(), "b".into()]);
        let a = array![[5.0f32, 1.0]].into_dyn();
        let b = array![[2.0f32]].into_dyn();
        assert_eq!(
            apply(&layer, vec![Input::Borrowed(&a), Input::Borrowed(&b)]).unwrap(),
            array![[3.0f32, -1.0]].into_dyn()
        );
        assert!(apply(&layer, vec![Input::Borrowed(&a)]).is_err());
    }
}

//! Keras `Dropout`: at inference (how both loaders and tensorflowjs run a loaded model) the
//! identity; its `rate`, `noise_shape` and `seed` only act in training.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Dropout` at inference.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    Ok(super::single_input(&cfg, inputs)?.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use serde_json::json;

    #[test]
    fn is_the_identity_at_inference() {
        let mut layer = tf2h5_keras::layers::merge("Dropout", "drop", vec!["x".into()]);
        layer.config.insert("rate".into(), json!(0.5));
        let x = array![[1.0f32, -2.0, 3.0]].into_dyn();
        assert_eq!(apply(&layer, vec![Input::Borrowed(&x)]).unwrap(), x);
        assert!(apply(&layer, vec![Input::Borrowed(&x), Input::Borrowed(&x)]).is_err());
    }
}

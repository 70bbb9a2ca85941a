//! Keras `Add`: element-wise sum of its inputs, broadcasting dimensions of 1 (see `merge.rs`),
//! summed left to right as Keras does (`((a + b) + c) + ...`, which matters for rounding
//! with three or more).

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Add`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    super::merge::fold(&LayerConfig::new(layer), inputs, (1, usize::MAX), |a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;
    use tf2h5_keras::LayerError;

    #[test]
    fn sums_and_broadcasts_but_rejects_mismatches() {
        let layer = layers::add("add", vec!["a".into(), "b".into(), "c".into()]);
        let a = array![[1.0f32, 2.0]].into_dyn();
        let y = apply(
            &layer,
            vec![Input::Borrowed(&a), Input::Owned(array![[10.0f32, 20.0]].into_dyn()), Input::Borrowed(&a)],
        )
        .unwrap();
        assert_eq!(y, array![[12.0f32, 24.0]].into_dyn());
        let y = apply(&layer, vec![Input::Borrowed(&a), Input::Owned(array![[1.0f32]].into_dyn())]).unwrap();
        assert_eq!(y, array![[2.0f32, 3.0]].into_dyn());
        let err =
            apply(&layer, vec![Input::Borrowed(&a), Input::Owned(array![[1.0f32, 2.0, 3.0]].into_dyn())]).unwrap_err();
        assert!(matches!(err, EngineError::Layer(LayerError::Shape { ref layer, .. }) if layer == "add"));
        let err = apply(&layer, vec![Input::Borrowed(&a), Input::Owned(array![1.0f32, 2.0].into_dyn())]).unwrap_err();
        assert!(matches!(err, EngineError::Layer(LayerError::Shape { .. })));
    }
}

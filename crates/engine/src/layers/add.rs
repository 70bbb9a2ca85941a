//! Keras `Add`: element-wise sum of inputs of identical shape, summed left to right as
//! Keras does (`((a + b) + c) + ...`, which matters for rounding with three or more).

use ndarray::{ArrayD, Zip};
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `Add`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    cfg.weights(&[])?;
    let Some(first) = inputs.first() else {
        return Err(cfg.invalid("expects at least 1 input, got 0"));
    };
    if let Some(other) = inputs.iter().find(|x| x.shape() != first.shape()) {
        return Err(cfg.shape(format!(
            "inputs have different shapes {:?} and {:?}",
            first.shape(),
            other.shape()
        )));
    }
    let mut inputs = inputs.into_iter();
    let (Some(a), b) = (inputs.next(), inputs.next()) else {
        return Err(cfg.invalid("expects at least 1 input, got 0"));
    };
    // a + b == b + a exactly, so the accumulator may reuse either of the first two buffers.
    let (mut sum, b) = match (a, b) {
        (a, Some(b @ Input::Owned(_))) if matches!(a, Input::Borrowed(_)) => {
            (tensor::into_standard(b), Some(a))
        }
        (a, b) => (tensor::into_standard(a), b),
    };
    for x in b.into_iter().chain(inputs) {
        Zip::from(&mut sum).and(&*x).par_for_each(|s, &v| *s += v);
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;

    #[test]
    fn sums_same_shapes_and_rejects_others() {
        let layer = layers::add("add", vec!["a".into(), "b".into(), "c".into()]);
        let a = array![[1.0f32, 2.0]].into_dyn();
        let y = apply(
            &layer,
            vec![
                Input::Borrowed(&a),
                Input::Owned(array![[10.0f32, 20.0]].into_dyn()),
                Input::Borrowed(&a),
            ],
        )
        .unwrap();
        assert_eq!(y, array![[12.0f32, 24.0]].into_dyn());
        let err = apply(
            &layer,
            vec![
                Input::Borrowed(&a),
                Input::Owned(array![[1.0f32]].into_dyn()),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, EngineError::Shape { ref layer, .. } if layer == "add"));
    }
}

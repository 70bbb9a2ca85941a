//! Keras `Concatenate` along `axis` (absolute on the full tensor including the batch, or
//! negative from the end; default -1). All other dimensions must agree.

use ndarray::{ArrayD, ArrayViewD, Axis};
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Concatenate`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    cfg.weights(&[])?;
    let Some(first) = inputs.first() else {
        return Err(cfg.invalid("expects at least 1 input, got 0"));
    };
    let axis = super::resolve_axis(&cfg, cfg.axis_or("axis", -1)?, first.ndim())?;
    for x in &inputs {
        let same = x.ndim() == first.ndim()
            && x.shape().iter().zip(first.shape()).enumerate().all(|(i, (a, b))| i == axis || a == b);
        if !same {
            return Err(cfg.shape(format!(
                "inputs {:?} and {:?} differ outside the concatenation axis {axis}",
                first.shape(),
                x.shape()
            )));
        }
    }
    let views: Vec<ArrayViewD<'_, f32>> = inputs.iter().map(|x| x.view()).collect();
    ndarray::concatenate(Axis(axis), &views).map_err(|e| cfg.shape(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;
    use tf2h5_keras::LayerError;

    #[test]
    fn concatenates_on_the_given_axis() {
        let a = array![[[1.0f32, 2.0]], [[3.0, 4.0]]].into_dyn(); // (2, 1, 2)
        let b = array![[[5.0f32]], [[6.0]]].into_dyn(); // (2, 1, 1)
        let last = layers::concatenate("c", vec!["a".into(), "b".into()], -1);
        let y = apply(&last, vec![Input::Borrowed(&a), Input::Borrowed(&b)]).unwrap();
        assert_eq!(y, array![[[1.0f32, 2.0, 5.0]], [[3.0, 4.0, 6.0]]].into_dyn());
        let middle = layers::concatenate("c", vec!["a".into(), "a".into()], 1);
        let y = apply(&middle, vec![Input::Borrowed(&a), Input::Borrowed(&a)]).unwrap();
        assert_eq!(y, array![[[1.0f32, 2.0], [1.0, 2.0]], [[3.0, 4.0], [3.0, 4.0]]].into_dyn());
        let err = apply(&middle, vec![Input::Borrowed(&a), Input::Borrowed(&b)]).unwrap_err();
        assert!(matches!(err, EngineError::Layer(LayerError::Shape { .. })));
        let out_of_range = layers::concatenate("c", vec!["a".into(), "b".into()], 3);
        assert!(apply(&out_of_range, vec![Input::Borrowed(&a), Input::Borrowed(&b)]).is_err());
    }
}

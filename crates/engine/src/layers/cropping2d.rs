//! Keras `Cropping2D` (channels_last): `cropping` [[top, bottom], [left, right]] (or one
//! integer for all sides, or [vertical, horizontal]); the TF form is a `StridedSlice` of H, W.

use ndarray::{s, ArrayD};
use serde_json::Value;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Cropping2D`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.require_channels_last()?;
    cfg.weights(&[])?;
    let value = layer.config.get("cropping").unwrap_or(&Value::Null);
    let [[top, bottom], [left, right]] = match value {
        Value::Null => [[0, 0], [0, 0]],
        Value::Array(items) if items.len() == 2 && items.iter().all(Value::is_array) => {
            [cfg.parse_pair("cropping", &items[0], 0)?, cfg.parse_pair("cropping", &items[1], 0)?]
        }
        other => {
            let [v, h] = cfg.parse_pair("cropping", other, 0)?;
            [[v, v], [h, h]]
        }
    };
    let [_, h, w, _] = super::nhwc(&cfg, &x)?;
    let fits = |a: usize, b: usize, len: usize| a.checked_add(b).is_some_and(|sum| sum <= len);
    if !fits(top, bottom, h) || !fits(left, right, w) {
        return Err(cfg.shape(format!(
            "cropping {:?} is larger than the input {:?}",
            [[top, bottom], [left, right]],
            x.shape()
        )));
    }
    Ok(x.slice(s![.., top..h - bottom, left..w - right, ..]).to_owned().into_dyn())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;
    use tf2h5_keras::layers;

    #[test]
    fn crops_each_side() {
        let x = Array4::from_shape_fn((1, 3, 4, 1), |(_, h, w, _)| (h * 10 + w) as f32).into_dyn();
        let y = apply(&layers::cropping2d("c", "x".into(), [[1, 0], [1, 2]]), vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y.shape(), [1, 2, 1, 1]);
        assert_eq!(y.as_slice().unwrap(), &[11.0, 21.0]);
        assert!(apply(&layers::cropping2d("c", "x".into(), [[2, 2], [0, 0]]), vec![Input::Borrowed(&x)]).is_err());
        // Untrusted sizes: an overflowing sum is an error, not a wrap-around.
        let huge = layers::cropping2d("c", "x".into(), [[usize::MAX, 1], [0, 0]]);
        assert!(apply(&huge, vec![Input::Borrowed(&x)]).is_err());
    }
}

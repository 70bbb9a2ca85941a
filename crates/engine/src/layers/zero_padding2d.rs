//! Keras `ZeroPadding2D` (channels_last): `padding` [[top, bottom], [left, right]] (Keras
//! also accepts one integer for all sides, or [vertical, horizontal]).
//!
//! This is how a TF `Pad` before a `VALID` convolution is expressed, so the amounts are
//! taken exactly as written, asymmetric or not.

use ndarray::{s, ArrayD};
use serde_json::Value;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `ZeroPadding2D`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.require_channels_last()?;
    cfg.weights(&[])?;
    let [[top, bottom], [left, right]] = padding(&cfg)?;
    let [n, h, w, c] = super::nhwc(&cfg, &x)?;
    let too_large = || cfg.shape("padded output is too large");
    let out_h = h.checked_add(top).and_then(|v| v.checked_add(bottom)).ok_or_else(too_large)?;
    let out_w = w.checked_add(left).and_then(|v| v.checked_add(right)).ok_or_else(too_large)?;
    let mut out = tensor::zeros(&[n, out_h, out_w, c]).ok_or_else(too_large)?;
    out.slice_mut(s![.., top..top + h, left..left + w, ..]).assign(&*x);
    Ok(out)
}

fn padding(cfg: &LayerConfig<'_>) -> Result<[[usize; 2]; 2], EngineError> {
    let value = cfg.layer.config.get("padding").unwrap_or(&Value::Null);
    match value {
        Value::Null => Ok([[1, 1], [1, 1]]),
        Value::Array(items) if items.len() == 2 && items.iter().all(Value::is_array) => {
            Ok([cfg.parse_pair("padding", &items[0], 0)?, cfg.parse_pair("padding", &items[1], 0)?])
        }
        other => {
            // One integer, or (vertical, horizontal) symmetric amounts.
            let [v, h] = cfg.parse_pair("padding", other, 0)?;
            Ok([[v, v], [h, h]])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;
    use tf2h5_keras::layers;

    #[test]
    fn pads_asymmetrically() {
        let x = Array4::from_elem((1, 2, 2, 1), 1.0f32).into_dyn();
        let y = apply(&layers::zero_padding2d("zp", "x".into(), [[0, 1], [2, 0]]), vec![Input::Owned(x)]).unwrap();
        assert_eq!(y.shape(), [1, 3, 4, 1]);
        let rows: Vec<f32> = y.iter().copied().collect();
        assert_eq!(rows, vec![0., 0., 1., 1., 0., 0., 1., 1., 0., 0., 0., 0.]);
    }

    #[test]
    fn absurd_padding_is_an_error_not_an_abort() {
        let x = ArrayD::zeros(vec![1, 1, 1, 1]);
        let huge = 1usize << 40;
        let layer = layers::zero_padding2d("zp", "x".into(), [[huge, huge], [huge, huge]]);
        assert!(matches!(apply(&layer, vec![Input::Owned(x)]), Err(EngineError::Shape { .. })));
    }
}

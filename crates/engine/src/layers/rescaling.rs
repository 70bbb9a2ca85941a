//! Keras `Rescaling`: `x * scale + offset` in float32, each a number or a list broadcast over
//! the last axis (both Keras versions cast them to float32 and compute exactly this, two
//! roundings, which is how tf2h5 writes TF's `Mul`/`AddV2` by constants).

use ndarray::ArrayD;
use serde_json::Value;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// A number, or a list of numbers, from the config, as float32.
pub(crate) fn floats(cfg: &LayerConfig<'_>, key: &str, default: Option<f32>) -> Result<Vec<f32>, EngineError> {
    let bad = || cfg.invalid(format!("config key '{key}' must be a number or a list of numbers"));
    match cfg.layer.config.get(key) {
        None | Some(Value::Null) => {
            default.map(|d| vec![d]).ok_or_else(|| cfg.invalid(format!("config key '{key}' is missing")))
        }
        Some(Value::Array(items)) => items.iter().map(|v| v.as_f64().map(|x| x as f32).ok_or_else(bad)).collect(),
        Some(v) => v.as_f64().map(|x| vec![x as f32]).ok_or_else(bad),
    }
}

/// Checks that `values` is one value or one per element of the last axis of length `last`.
pub(crate) fn check_last_axis(
    cfg: &LayerConfig<'_>,
    key: &str,
    values: &[f32],
    last: usize,
) -> Result<(), EngineError> {
    if values.len() == 1 || values.len() == last {
        Ok(())
    } else {
        Err(cfg.shape(format!("'{key}' has {} values, the input's last axis has {last}", values.len())))
    }
}

/// Keras `Rescaling`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.weights(&[])?;
    let scale = floats(&cfg, "scale", None)?;
    let offset = floats(&cfg, "offset", Some(0.0))?;
    let last = x.shape().last().copied().unwrap_or(1);
    check_last_axis(&cfg, "scale", &scale, last)?;
    check_last_axis(&cfg, "offset", &offset, last)?;
    let mut y = tensor::into_standard(x);
    if scale.len() == 1 && offset.len() == 1 {
        let (s, o) = (scale[0], offset[0]);
        tensor::map_inplace(&mut y, move |v| v * s + o);
    } else if let Some(data) = y.as_slice_mut() {
        let pick = |values: &[f32], i: usize| {
            if values.len() == 1 {
                values[0]
            } else {
                values[i]
            }
        };
        tensor::for_each_row(data, last, |row| {
            for (i, v) in row.iter_mut().enumerate() {
                *v = *v * pick(&scale, i) + pick(&offset, i);
            }
        });
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;

    #[test]
    fn scales_and_offsets_per_channel() {
        let x = array![[[1.0f32, 2.0], [3.0, 4.0]]].into_dyn();
        let y = apply(&layers::rescaling("r", "x".into(), &[0.5], &[1.0]), vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y, array![[[1.5f32, 2.0], [2.5, 3.0]]].into_dyn());
        let y =
            apply(&layers::rescaling("r", "x".into(), &[1.0, -1.0], &[0.0, 10.0]), vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y, array![[[1.0f32, 8.0], [3.0, 6.0]]].into_dyn());
        assert!(
            apply(&layers::rescaling("r", "x".into(), &[1.0, 2.0, 3.0], &[0.0]), vec![Input::Borrowed(&x)]).is_err()
        );
    }
}

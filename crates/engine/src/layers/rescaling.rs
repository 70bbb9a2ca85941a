//! Keras `Rescaling`: `x * scale + offset` in float32, each a number or a (nested) list
//! broadcast against the input from the right, as numpy does (both Keras versions cast them
//! to float32 and compute exactly this, two roundings, which is how tf2h5 writes TF's
//! `Mul`/`AddV2` by constants of any broadcastable shape).

use ndarray::{ArrayD, IxDyn, Zip};
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

/// A number or (nested) list of numbers from the config as a float32 array (rank 0 for a
/// number); ragged lists are an error.
fn nested_floats(cfg: &LayerConfig<'_>, key: &str, default: Option<f32>) -> Result<ArrayD<f32>, EngineError> {
    let bad = || cfg.invalid(format!("config key '{key}' must be a number or a rectangular list of numbers"));
    let value = match cfg.layer.config.get(key) {
        None | Some(Value::Null) => {
            let d = default.ok_or_else(|| cfg.invalid(format!("config key '{key}' is missing")))?;
            return Ok(ArrayD::from_elem(IxDyn(&[]), d));
        }
        Some(v) => v,
    };
    let mut shape = Vec::new();
    let mut level = value;
    while let Value::Array(items) = level {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
    }
    let mut flat = Vec::new();
    fn collect(v: &Value, depth: usize, shape: &[usize], out: &mut Vec<f32>) -> Option<()> {
        match (v, shape.get(depth)) {
            (Value::Array(items), Some(&len)) if items.len() == len => {
                items.iter().try_for_each(|item| collect(item, depth + 1, shape, out))
            }
            (v, None) => v.as_f64().map(|x| out.push(x as f32)),
            _ => None,
        }
    }
    collect(value, 0, &shape, &mut flat).ok_or_else(bad)?;
    ArrayD::from_shape_vec(IxDyn(&shape), flat).map_err(|_| bad())
}

/// Keras `Rescaling`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.weights(&[])?;
    let scale = nested_floats(&cfg, "scale", None)?;
    let offset = nested_floats(&cfg, "offset", Some(0.0))?;
    let mut y = tensor::into_standard(x);
    let single =
        |values: &ArrayD<f32>| values.iter().next().copied().filter(|_| values.len() == 1 && values.ndim() <= 1);
    if let (Some(s), Some(o)) = (single(&scale), single(&offset)) {
        tensor::map_inplace(&mut y, move |v| v * s + o);
        return Ok(y);
    }
    // Numpy broadcasting from the right; a parameter may not widen the input.
    let broadcast = |key: &str, values: &ArrayD<f32>| {
        let fits = values.ndim() <= y.ndim()
            && values.shape().iter().rev().zip(y.shape().iter().rev()).all(|(&p, &d)| p == 1 || p == d);
        let view = values.broadcast(y.raw_dim()).filter(|_| fits);
        view.map(|v| v.to_owned()).ok_or_else(|| {
            cfg.shape(format!("'{key}' of shape {:?} does not broadcast to the input {:?}", values.shape(), y.shape()))
        })
    };
    let (scale, offset) = (broadcast("scale", &scale)?, broadcast("offset", &offset)?);
    Zip::from(&mut y).and(&scale).and(&offset).par_for_each(|v, &s, &o| *v = *v * s + o);
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

    #[test]
    fn broadcasts_nested_parameters_from_the_right() {
        let x = array![[[1.0f32, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]].into_dyn();
        let position = array![[10.0f32, 20.0], [30.0, 40.0]].into_dyn();
        let one = ArrayD::from_elem(IxDyn(&[]), 1.0f32);
        let add = layers::rescaling_broadcast("r", "x".into(), &one, &position);
        let y = apply(&add, vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y, array![[[11.0f32, 22.0], [33.0, 44.0]], [[15.0, 26.0], [37.0, 48.0]]].into_dyn());
        let per_token = array![[2.0f32], [-1.0]].into_dyn();
        let zero = ArrayD::from_elem(IxDyn(&[]), 0.0f32);
        let mul = layers::rescaling_broadcast("r", "x".into(), &per_token, &zero);
        let y = apply(&mul, vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y, array![[[2.0f32, 4.0], [-3.0, -4.0]], [[10.0, 12.0], [-7.0, -8.0]]].into_dyn());
        // A (3, 1) parameter would widen the token axis: refused, not broadcast.
        let wide = layers::rescaling_broadcast("r", "x".into(), &ArrayD::zeros(IxDyn(&[3, 1])), &zero);
        assert!(apply(&wide, vec![Input::Borrowed(&x)]).is_err());
        let mut ragged = add;
        ragged.config.insert("offset".into(), serde_json::json!([[1.0, 2.0], [3.0]]));
        assert!(apply(&ragged, vec![Input::Borrowed(&x)]).is_err());
    }
}

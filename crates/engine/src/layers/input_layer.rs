//! Keras `InputLayer`: passes the caller's array through after checking it against
//! `batch_input_shape` (rank, and every dimension that is not null, the batch included) and
//! its `dtype`: integer and boolean inputs (token ids, masks) arrive as f32 arrays of whole
//! numbers (exact below 2^24) in the dtype's range.

use ndarray::ArrayD;
use serde_json::Value;
use tf2h5_keras::layers::InputDtype;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::EngineError;

/// Fails unless `x` fits the layer's `batch_input_shape` (or Keras 3's `batch_shape`).
pub(crate) fn check(layer: &Layer, x: &ArrayD<f32>) -> Result<(), EngineError> {
    let cfg = LayerConfig::new(layer);
    let dtype = layer.config.get("dtype").and_then(Value::as_str).unwrap_or("float32");
    let dtype = InputDtype::parse(dtype).ok_or_else(|| cfg.unsupported(format!("dtype '{dtype}'")))?;
    if let Some((low, high)) = dtype.whole_range() {
        if let Some(bad) = x.iter().find(|v| v.fract() != 0.0 || !(low..=high).contains(*v)) {
            return Err(cfg.shape(format!("input value {bad} is not a whole number in {low}..={high}")));
        }
    }
    let key = if layer.config.contains_key("batch_input_shape") { "batch_input_shape" } else { "batch_shape" };
    let expected: Vec<Option<u64>> = layer
        .config
        .get(key)
        .and_then(Value::as_array)
        .and_then(|dims| {
            dims.iter().map(|d| if d.is_null() { Some(None) } else { d.as_u64().map(Some) }).collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| cfg.invalid("config key 'batch_input_shape' must be a list of integers or nulls"))?;
    let fits = expected.len() == x.ndim()
        && expected.iter().zip(x.shape()).all(|(want, &got)| want.is_none_or(|w| w == got as u64));
    if fits {
        Ok(())
    } else {
        let expected: Vec<String> =
            expected.iter().map(|d| d.map_or_else(|| "None".to_string(), |v| v.to_string())).collect();
        Err(cfg.shape(format!("input array has shape {:?}, expected ({})", x.shape(), expected.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_keras::layers;
    use tf2h5_keras::LayerError;

    #[test]
    fn checks_rank_and_known_dims() {
        let layer = layers::input_layer("x", &[None, Some(4), Some(3)]);
        check(&layer, &ArrayD::zeros(vec![2, 4, 3])).unwrap();
        check(&layer, &ArrayD::zeros(vec![0, 4, 3])).unwrap();
        let err = check(&layer, &ArrayD::zeros(vec![2, 4, 2])).unwrap_err();
        assert!(matches!(err, EngineError::Layer(LayerError::Shape { ref layer, .. }) if layer == "x"), "{err}");
        assert!(check(&layer, &ArrayD::zeros(vec![2, 4])).is_err());
        let ids = layers::typed_input_layer("ids", &[None, Some(2)], InputDtype::Int32);
        check(&ids, &ArrayD::from_shape_vec(vec![1, 2], vec![3.0, -7.0]).unwrap()).unwrap();
        assert!(check(&ids, &ArrayD::from_shape_vec(vec![1, 2], vec![3.5, 0.0]).unwrap()).is_err());
        let fixed_batch = layers::input_layer("y", &[Some(1), Some(2)]);
        assert!(check(&fixed_batch, &ArrayD::zeros(vec![2, 2])).is_err());
    }
}

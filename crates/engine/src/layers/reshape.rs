//! Keras `Reshape`: (batch, ...) → (batch, *target_shape), row-major (at most one -1).

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `Reshape`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.weights(&[])?;
    let target = layer.get_ints("target_shape").map_err(|e| cfg.invalid(e))?;
    let Some((&batch, rest)) = x.shape().split_first() else {
        return Err(cfg.shape("expects an input with a batch axis"));
    };
    let features: usize = rest.iter().product();
    let bad = || cfg.shape(format!("cannot reshape {:?} to (batch, {target:?})", x.shape()));
    // Sizes from the file are untrusted: checked arithmetic only.
    let dims: Vec<Option<usize>> = target
        .iter()
        .map(|&d| if d == -1 { Ok(None) } else { usize::try_from(d).map(Some).map_err(|_| bad()) })
        .collect::<Result<_, _>>()?;
    let known = dims.iter().flatten().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(bad)?;
    let wildcard = match dims.iter().filter(|d| d.is_none()).count() {
        0 => None,
        1 if known > 0 && features.is_multiple_of(known) => Some(features / known),
        _ => return Err(bad()),
    };
    let mut shape = vec![batch];
    shape.extend(dims.iter().map(|d| d.or(wildcard).unwrap_or(0)));
    if wildcard.is_none() && known != features {
        return Err(bad());
    }
    tensor::into_standard(x).into_shape_with_order(ndarray::IxDyn(&shape)).map_err(|e| cfg.shape(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_keras::layers;

    #[test]
    fn reshapes_after_the_batch() {
        let x = ArrayD::from_shape_vec(vec![2, 6], (0..12).map(|v| v as f32).collect()).unwrap();
        let y = apply(&layers::reshape("r", "x".into(), &[1, 2, 3]), vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y.shape(), [2, 1, 2, 3]);
        assert_eq!(y[[1, 0, 1, 2]], 11.0);
        assert!(apply(&layers::reshape("r", "x".into(), &[4]), vec![Input::Borrowed(&x)]).is_err());
        let with_target = |target: serde_json::Value| {
            let mut layer = layers::reshape("r", "x".into(), &[6]);
            layer.config.insert("target_shape".into(), target);
            apply(&layer, vec![Input::Borrowed(&x)])
        };
        assert_eq!(with_target(serde_json::json!([-1, 2])).unwrap().shape(), [2, 3, 2]);
        assert!(with_target(serde_json::json!([-1, -1])).is_err());
        assert!(with_target(serde_json::json!([1u64 << 40, 1u64 << 40])).is_err());
        assert!(with_target(serde_json::json!([-3, -2])).is_err());
    }
}

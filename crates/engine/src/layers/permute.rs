//! Keras `Permute`: reorders the non-batch axes; `dims` is a 1-based permutation.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::EngineError;

/// Keras `Permute`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.weights(&[])?;
    let dims = layer.get_ints("dims").map_err(|e| cfg.invalid(e))?;
    let rank = x.ndim();
    let mut axes = vec![0usize];
    axes.extend(dims.iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)));
    let mut seen = vec![false; rank];
    if axes.len() != rank || axes.iter().any(|&a| a >= rank || std::mem::replace(&mut seen[a], true)) {
        return Err(cfg.shape(format!("dims {dims:?} is not a permutation of the axes 1..{rank} of {:?}", x.shape())));
    }
    Ok(x.into_owned().permuted_axes(axes).as_standard_layout().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use tf2h5_keras::layers;

    #[test]
    fn swaps_axes() {
        let x = Array3::from_shape_fn((1, 2, 3), |(_, a, b)| (a * 10 + b) as f32).into_dyn();
        let y = apply(&layers::permute("p", "x".into(), &[2, 1]), vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y.shape(), [1, 3, 2]);
        assert_eq!(y[[0, 2, 1]], 12.0);
    }
}

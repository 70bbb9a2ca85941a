//! Keras `UpSampling2D` (channels_last, `interpolation="nearest"`): every pixel repeated
//! `size` = (rows, cols) times, output[i, j] = input[i / rows, j / cols]. Bilinear
//! interpolation is refused.

use ndarray::{ArrayD, Axis};
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `UpSampling2D`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.require_channels_last()?;
    cfg.weights(&[])?;
    if let Some(other) = cfg.opt_str("interpolation")?.filter(|i| *i != "nearest") {
        return Err(cfg.unsupported(format!("interpolation '{other}'")));
    }
    let [rows, cols] = cfg.pair_or("size", [2, 2])?;
    let [n, h, w, c] = super::nhwc(&cfg, &x)?;
    let too_large = || cfg.shape("upsampled output is too large");
    let shape = [n, h.checked_mul(rows).ok_or_else(too_large)?, w.checked_mul(cols).ok_or_else(too_large)?, c];
    let mut out = tensor::zeros(&shape).ok_or_else(too_large)?;
    for (i, mut row) in out.axis_iter_mut(Axis(1)).enumerate() {
        let source = x.index_axis(Axis(1), i / rows);
        for (j, mut pixel) in row.axis_iter_mut(Axis(1)).enumerate() {
            pixel.assign(&source.index_axis(Axis(1), j / cols));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;
    use tf2h5_keras::layers;

    #[test]
    fn repeats_rows_and_columns() {
        let x = Array4::from_shape_vec((1, 2, 2, 1), vec![1.0f32, 2.0, 3.0, 4.0]).unwrap().into_dyn();
        let y = apply(&layers::up_sampling2d("up", "x".into(), [2, 3]), vec![Input::Owned(x)]).unwrap();
        assert_eq!(y.shape(), [1, 4, 6, 1]);
        let first_rows: Vec<f32> = y.iter().take(12).copied().collect();
        assert_eq!(first_rows, vec![1., 1., 1., 2., 2., 2., 1., 1., 1., 2., 2., 2.]);
        assert_eq!(y[[0, 3, 5, 0]], 4.0);
    }
}

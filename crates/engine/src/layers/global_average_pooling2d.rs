//! Keras `GlobalAveragePooling2D` (channels_last): mean over height and width, to
//! (batch, channels), or (batch, 1, 1, channels) with `keepdims`. Sums in f64 so the mean
//! of a large map does not drift with summation order.

use ndarray::ArrayD;
use rayon::prelude::*;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `GlobalAveragePooling2D`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.require_channels_last()?;
    cfg.weights(&[])?;
    let keepdims = cfg.bool_or("keepdims", false)?;
    let [n, h, w, c] = super::nhwc(&cfg, &x)?;
    let shape = if keepdims { vec![n, 1, 1, c] } else { vec![n, c] };
    let mut out = tensor::zeros(&shape).ok_or_else(|| cfg.shape("output is too large"))?;
    if out.is_empty() {
        return Ok(out);
    }
    let per_image = h * w * c;
    if per_image == 0 {
        // The mean of an empty map is NaN, as TF's is.
        out.fill(f32::NAN);
        return Ok(out);
    }
    let count = (h * w) as f64;
    let x = x.as_standard_layout();
    let xs = x.as_slice().ok_or_else(|| cfg.shape("input is not contiguous"))?;
    let out_data = out.as_slice_mut().ok_or_else(|| cfg.shape("output is not contiguous"))?;
    out_data.par_chunks_mut(c).zip(xs.par_chunks(per_image)).for_each(|(dst, image)| {
        let mut sums = vec![0.0f64; c];
        for pixel in image.chunks_exact(c) {
            sums.iter_mut().zip(pixel).for_each(|(s, &v)| *s += f64::from(v));
        }
        dst.iter_mut().zip(&sums).for_each(|(d, s)| *d = (s / count) as f32);
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;
    use tf2h5_keras::layers;

    #[test]
    fn averages_over_h_and_w() {
        let x = Array4::from_shape_fn((2, 2, 3, 2), |(n, h, w, c)| {
            (n * 100 + h * 10 + w) as f32 * if c == 0 { 1.0 } else { -1.0 }
        });
        let y =
            apply(&layers::global_average_pooling2d("g", "x".into(), false), vec![Input::Owned(x.clone().into_dyn())])
                .unwrap();
        assert_eq!(y.shape(), [2, 2]);
        // mean of h*10 + w over h in 0..2, w in 0..3 = 5 + 1 = 6.
        assert_eq!(y.into_raw_vec_and_offset().0, vec![6.0, -6.0, 106.0, -106.0]);
        let k =
            apply(&layers::global_average_pooling2d("g", "x".into(), true), vec![Input::Owned(x.into_dyn())]).unwrap();
        assert_eq!(k.shape(), [2, 1, 1, 2]);
    }
}

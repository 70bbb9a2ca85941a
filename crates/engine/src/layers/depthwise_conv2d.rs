//! Keras `DepthwiseConv2D` (channels_last): depthwise_kernel (kh, kw, in, depth_multiplier),
//! bias (in · depth_multiplier); output channel `c·m + k` is input channel `c` convolved with
//! kernel[.., .., c, k]. `strides`, `dilation_rate`, `padding` `valid`/`same` with TF's
//! asymmetric SAME (see `window.rs`), then `activation`. Keras 3 rejects a `groups` key on
//! this class, so one is an error here too.
//!
//! Computed directly, one output row per task (in parallel): for each window cell, every
//! channel is multiplied and accumulated in f32, cells in (ky, kx) order as TF does; a 1×1
//! window without bias is then exactly `x · w`, which is how a per-channel scale is written.

use ndarray::ArrayD;
use rayon::prelude::*;

use super::activation::Activation;
use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::window::AxisWindow;
use crate::EngineError;
use tf2h5_keras::Layer;

/// Keras `DepthwiseConv2D`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.require_channels_last()?;
    if layer.config.contains_key("groups") {
        return Err(cfg.invalid("config key 'groups' is rejected by Keras 3 on DepthwiseConv2D"));
    }
    let kernel_size = cfg.pair("kernel_size")?;
    let strides = cfg.pair_or("strides", [1, 1])?;
    let dilation = cfg.pair_or("dilation_rate", [1, 1])?;
    if strides.iter().any(|&s| s > 1) && dilation.iter().any(|&d| d > 1) {
        return Err(cfg.invalid("strides > 1 together with dilation_rate > 1 is rejected by TF"));
    }
    let padding = cfg.padding()?;
    let activation = Activation::from_config(&cfg)?;
    let use_bias = cfg.bool_or("use_bias", true)?;
    let weights =
        if use_bias { cfg.weights(&["depthwise_kernel", "bias"])? } else { cfg.weights(&["depthwise_kernel"])? };
    let (kernel, bias) = (weights[0], weights.get(1).copied());
    let [n, h, w, c] = super::nhwc(&cfg, &x)?;
    let &[kh, kw, kc, m] = kernel.shape() else {
        return Err(cfg.shape(format!("depthwise_kernel must be (kh, kw, in, multiplier), got {:?}", kernel.shape())));
    };
    if [kh, kw] != kernel_size {
        return Err(cfg.shape(format!("kernel {:?} does not match kernel_size {kernel_size:?}", kernel.shape())));
    }
    if kc != c {
        return Err(cfg.shape(format!(
            "kernel {:?} expects {kc} channels, input {:?} has {c}",
            kernel.shape(),
            x.shape()
        )));
    }
    let declared = cfg.i64_or("depth_multiplier", 1)?;
    if declared != m as i64 {
        return Err(cfg.shape(format!("config depth_multiplier {declared} but kernel is {:?}", kernel.shape())));
    }
    let filters = c * m;
    if let Some(b) = bias {
        if b.shape() != [filters] {
            return Err(cfg.shape(format!("bias is {:?}, expected [{filters}]", b.shape())));
        }
    }
    let rows = AxisWindow::new(h, kh, strides[0], dilation[0], padding)
        .map_err(|e| cfg.shape(format!("height of input {:?}: {e}", x.shape())))?;
    let cols = AxisWindow::new(w, kw, strides[1], dilation[1], padding)
        .map_err(|e| cfg.shape(format!("width of input {:?}: {e}", x.shape())))?;
    let mut out = tensor::zeros(&[n, rows.out, cols.out, filters]).ok_or_else(|| cfg.shape("output is too large"))?;
    if out.is_empty() {
        return Ok(out);
    }
    let x = x.as_standard_layout();
    let xs = x.as_slice().ok_or_else(|| cfg.shape("input is not contiguous"))?;
    let kernel = kernel.as_standard_layout();
    let ks = kernel.as_slice().ok_or_else(|| cfg.shape("kernel is not contiguous"))?;
    let bias: Option<Vec<f32>> = bias.map(|b| b.iter().copied().collect());
    let row_len = cols.out * filters;
    let out_data = out.as_slice_mut().ok_or_else(|| cfg.shape("output is not contiguous"))?;
    out_data.par_chunks_mut(row_len).enumerate().for_each(|(r, row)| {
        let (image, oy) = (r / rows.out, r % rows.out);
        for (ox, acc) in row.chunks_exact_mut(filters).enumerate() {
            for ky in 0..kh {
                let Some(iy) = rows.source(oy, ky).filter(|&iy| iy < h) else {
                    continue;
                };
                for kx in 0..kw {
                    let Some(ix) = cols.source(ox, kx).filter(|&ix| ix < w) else {
                        continue;
                    };
                    let pixel = &xs[((image * h + iy) * w + ix) * c..][..c];
                    let taps = &ks[(ky * kw + kx) * c * m..][..c * m];
                    if m == 1 {
                        acc.iter_mut().zip(pixel).zip(taps).for_each(|((a, &v), &t)| *a += v * t);
                    } else {
                        for (ci, &v) in pixel.iter().enumerate() {
                            acc[ci * m..][..m].iter_mut().zip(&taps[ci * m..][..m]).for_each(|(a, &t)| *a += v * t);
                        }
                    }
                }
            }
            if let Some(bias) = &bias {
                acc.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
            }
        }
        activation.apply_rows(row, filters);
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array4, ArrayD};
    use tf2h5_keras::layers::{self, Padding, Window2D};

    fn ramp(shape: (usize, usize, usize, usize), scale: f32) -> Array4<f32> {
        let mut i = 0.0f32;
        Array4::from_shape_simple_fn(shape, || {
            i += 1.0;
            ((i * 7.0) % 13.0 - 6.0) * scale
        })
    }

    /// Direct definition with explicit padding before.
    fn reference(
        x: &Array4<f32>,
        k: &Array4<f32>,
        s: usize,
        d: usize,
        pads: [usize; 2],
        out: [usize; 2],
    ) -> Array4<f32> {
        let (n, h, w, c) = x.dim();
        let (kh, kw, _, m) = k.dim();
        Array4::from_shape_fn((n, out[0], out[1], c * m), |(b, oy, ox, f)| {
            let (ci, mi) = (f / m, f % m);
            let mut sum = 0.0;
            for ky in 0..kh {
                for kx in 0..kw {
                    let iy = (oy * s + ky * d) as isize - pads[0] as isize;
                    let ix = (ox * s + kx * d) as isize - pads[1] as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                        sum += x[[b, iy as usize, ix as usize, ci]] * k[[ky, kx, ci, mi]];
                    }
                }
            }
            sum
        })
    }

    #[test]
    fn matches_direct_definition() {
        let cases = [
            ((2, 9, 11, 3), (3, 3, 3, 1), 1, 1, Padding::Same),
            ((2, 9, 11, 3), (3, 3, 3, 2), 2, 1, Padding::Same),
            ((1, 10, 10, 4), (3, 3, 4, 1), 1, 2, Padding::Same),
            ((1, 10, 10, 2), (5, 5, 2, 3), 1, 2, Padding::Valid),
            ((1, 7, 7, 6), (7, 7, 6, 1), 1, 1, Padding::Same),
            ((2, 8, 8, 5), (3, 3, 5, 1), 2, 1, Padding::Valid),
        ];
        for (xs, ks, s, d, padding) in cases {
            let x = ramp(xs, 0.25);
            let k = ramp(ks, 0.1);
            let window = Window2D { size: [ks.0, ks.1], strides: [s, s], padding, dilation: [d, d] };
            let layer = layers::depthwise_conv2d("dw", "x".into(), window, k.clone().into_dyn(), None, "linear");
            let y = apply(&layer, vec![Input::Owned(x.clone().into_dyn())]).unwrap();
            let r = AxisWindow::new(xs.1, ks.0, s, d, padding).unwrap();
            let c = AxisWindow::new(xs.2, ks.1, s, d, padding).unwrap();
            let want = reference(&x, &k, s, d, [r.pad_before, c.pad_before], [r.out, c.out]);
            assert_eq!(y.shape(), want.shape(), "{xs:?} {ks:?}");
            for (a, b) in y.iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-4, "{xs:?} {ks:?} s{s} d{d}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn one_by_one_is_an_exact_channel_scale_and_bias_and_activation_apply() {
        let window = Window2D { size: [1, 1], strides: [1, 1], padding: Padding::Valid, dilation: [1, 1] };
        let scale = ArrayD::from_shape_vec(vec![1, 1, 2, 1], vec![0.1f32, -3.0]).unwrap();
        let layer =
            layers::depthwise_conv2d("dw", "x".into(), window, scale, Some(ArrayD::from_elem(vec![2], 0.5)), "relu");
        let x = ArrayD::from_shape_vec(vec![1, 1, 2, 2], vec![0.3f32, 1.0, -7.0, 0.2]).unwrap();
        let y = apply(&layer, vec![Input::Owned(x)]).unwrap();
        // relu(x · w + b): only the first element stays positive.
        assert_eq!(y.as_slice().unwrap(), &[0.3f32 * 0.1 + 0.5, 0.0, 0.0, 0.0]);
        let mut grouped = layer.clone();
        grouped.config.insert("groups".into(), serde_json::json!(2));
        assert!(apply(&grouped, vec![Input::Owned(ArrayD::zeros(vec![1, 1, 1, 2]))]).is_err());
    }
}

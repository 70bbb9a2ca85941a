//! Keras `Conv2D` (channels_last): kernel (kh, kw, in, filters), bias (filters), `strides`,
//! `dilation_rate`, `padding` `valid`/`same` with TF's asymmetric SAME (see `window.rs`),
//! then `activation`. With `groups` = g, the kernel is (kh, kw, in / g, filters) and filter
//! block j reads input channel block j.
//!
//! Computed as im2col + GEMM: the output positions are cut into tiles; for each tile (in
//! parallel) the input patches are copied into a (positions, kh·kw·in) matrix whose column
//! order (ky, kx, channel) is the kernel's own row-major order, so the kernel is used as a
//! (kh·kw·in, filters) matrix without copying, and the product is directly the NHWC output.
//! Bias and activation are applied to the tile while it is still in cache. A 1×1 stride-1
//! convolution skips the copy: its patch matrix *is* the input. A grouped convolution does
//! this per group, with the patches of the group's channels and its block of kernel columns.

use std::ops::Range;

use ndarray::{s, ArrayD, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::activation::Activation;
use crate::config::LayerConfig;
use crate::gemm::{matmul_into, matmul_serial};
use crate::tensor::{self, Input};
use crate::window::AxisWindow;
use crate::EngineError;
use tf2h5_keras::Layer;

/// Target size of one tile's patch matrix, in floats (4 MiB). Every tile's GEMM repacks the
/// whole kernel, so a tile needs hundreds of rows to amortise that (profiled on VGG16 at 224:
/// with 256 KiB tiles of 32 rows, packing took twice the time of the multiply itself).
const PATCH_FLOATS: usize = 1 << 20;
/// Fewest output positions per tile, so each GEMM still has rows to amortise its packing.
const MIN_TILE: usize = 32;

/// Keras `Conv2D`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.require_channels_last()?;
    let groups = cfg.i64_or("groups", 1)?;
    let groups =
        usize::try_from(groups).ok().filter(|&g| g > 0).ok_or_else(|| cfg.invalid(format!("groups={groups}")))?;
    let kernel_size = cfg.pair("kernel_size")?;
    let strides = cfg.pair_or("strides", [1, 1])?;
    let dilation = cfg.pair_or("dilation_rate", [1, 1])?;
    if strides.iter().any(|&s| s > 1) && dilation.iter().any(|&d| d > 1) {
        // TF refuses this combination, so Keras cannot run such a model either.
        return Err(cfg.invalid("strides > 1 together with dilation_rate > 1 is rejected by TF"));
    }
    let padding = cfg.padding()?;
    let activation = Activation::from_config(&cfg)?;
    let use_bias = cfg.bool_or("use_bias", true)?;
    let weights = if use_bias { cfg.weights(&["kernel", "bias"])? } else { cfg.weights(&["kernel"])? };
    let (kernel, bias) = (weights[0], weights.get(1).copied());

    let [n, h, w, c] = super::nhwc(&cfg, &x)?;
    let &[kh, kw, kc, filters] = kernel.shape() else {
        return Err(cfg.shape(format!("kernel must be (kh, kw, in, filters), got {:?}", kernel.shape())));
    };
    if [kh, kw] != kernel_size {
        return Err(cfg.shape(format!("kernel {:?} does not match kernel_size {kernel_size:?}", kernel.shape())));
    }
    if kc.checked_mul(groups) != Some(c) || filters % groups != 0 {
        return Err(cfg.shape(format!(
            "kernel {:?} with groups={groups} does not fit input {:?} ({kc} channels per group)",
            kernel.shape(),
            x.shape()
        )));
    }
    if let Some(declared) = cfg.opt_f64("filters")? {
        if declared != filters as f64 {
            return Err(cfg.shape(format!("config filters {declared} but kernel is {:?}", kernel.shape())));
        }
    }
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
    let kernel = kernel.as_standard_layout();
    let patch_len = kh * kw * kc;
    let group_filters = filters / groups;
    let kernel2d = kernel.view().into_shape_with_order((patch_len, filters)).map_err(|e| cfg.shape(e))?;
    let geometry = Geometry { h, w, c, rows, cols };
    let bias = bias.map(|b| b.iter().copied().collect::<Vec<f32>>());
    let xs = x.as_slice().ok_or_else(|| cfg.shape("input is not contiguous"))?;
    let out_data = out.as_slice_mut().ok_or_else(|| cfg.shape("output is not contiguous"))?;
    let positions = out_data.len() / filters;
    // A 1x1 stride-1 window reads each input pixel exactly once, in output order.
    let direct = kh == 1 && kw == 1 && strides == [1, 1] && groups == 1;
    let tile = tile_positions(positions, patch_len);
    // Tiles are the parallel tasks; only when there are fewer than threads does each GEMM split.
    let multiply = if positions.div_ceil(tile) >= rayon::current_num_threads() { matmul_serial } else { matmul_into };

    out_data
        .par_chunks_mut(tile * filters)
        .enumerate()
        .try_for_each_init(Vec::new, |buffer: &mut Vec<f32>, (t, chunk)| {
            let count = chunk.len() / filters;
            let first = t * tile;
            let mut out = ArrayViewMut2::from_shape((count, filters), &mut *chunk)?;
            for group in 0..groups {
                let patches = if direct {
                    ArrayView2::from_shape((count, c), &xs[first * c..(first + count) * c])?
                } else {
                    buffer.resize(count * patch_len, 0.0);
                    geometry.fill_patches(xs, first, group * kc..(group + 1) * kc, &mut buffer[..count * patch_len]);
                    ArrayView2::from_shape((count, patch_len), &buffer[..count * patch_len])?
                };
                let columns = group * group_filters..(group + 1) * group_filters;
                multiply(patches, kernel2d.slice(s![.., columns.clone()]), out.slice_mut(s![.., columns]));
            }
            if let Some(bias) = &bias {
                chunk.chunks_exact_mut(filters).for_each(|row| row.iter_mut().zip(bias).for_each(|(v, b)| *v += b));
            }
            activation.apply_rows(chunk, filters);
            Ok::<(), ndarray::ShapeError>(())
        })
        .map_err(|e| cfg.shape(e))?;
    Ok(out)
}

/// Output positions per tile: a patch matrix of about [`PATCH_FLOATS`], but at least four
/// tiles per thread when there are enough positions.
fn tile_positions(positions: usize, patch_len: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let by_cache = (PATCH_FLOATS / patch_len.max(1)).max(MIN_TILE);
    let by_parallelism = positions.div_ceil(threads * 4).max(MIN_TILE);
    by_cache.min(by_parallelism).clamp(1, positions.max(1))
}

/// Where each output position reads its input.
struct Geometry {
    h: usize,
    w: usize,
    c: usize,
    rows: AxisWindow,
    cols: AxisWindow,
}

impl Geometry {
    /// Writes the patches of output positions `first..first + n` (n = patches.len() / patch
    /// length) over input `channels` as rows of `patches`, zeros where the window lies in the
    /// padding.
    fn fill_patches(&self, xs: &[f32], first: usize, channels: Range<usize>, patches: &mut [f32]) {
        let (kh, kw, c) = (self.rows.kernel, self.cols.kernel, channels.len());
        let patch_len = kh * kw * c;
        if patch_len == 0 {
            return;
        }
        let per_image = self.rows.out * self.cols.out;
        for (i, patch) in patches.chunks_exact_mut(patch_len).enumerate() {
            let p = first + i;
            let (image, oy, ox) = (p / per_image, (p % per_image) / self.cols.out, p % self.cols.out);
            for ky in 0..kh {
                let iy = self.rows.source(oy, ky).filter(|&iy| iy < self.h);
                for kx in 0..kw {
                    let dst = &mut patch[(ky * kw + kx) * c..][..c];
                    match (iy, self.cols.source(ox, kx).filter(|&ix| ix < self.w)) {
                        (Some(iy), Some(ix)) => dst.copy_from_slice(
                            &xs[((image * self.h + iy) * self.w + ix) * self.c + channels.start..][..c],
                        ),
                        _ => dst.fill(0.0),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array4, ArrayD};
    use tf2h5_keras::layers::{self, Padding, Window2D};

    fn conv(window: Window2D, kernel: ArrayD<f32>, bias: Option<ArrayD<f32>>, x: ArrayD<f32>) -> ArrayD<f32> {
        let layer = layers::conv2d("conv", "x".into(), window, kernel, bias, "linear");
        apply(&layer, vec![Input::Owned(x)]).unwrap()
    }

    /// Direct definition of a channels_last convolution with explicit padding before.
    fn reference(
        x: &Array4<f32>,
        k: &Array4<f32>,
        s: usize,
        d: usize,
        pads: [usize; 2],
        out: [usize; 2],
    ) -> Array4<f32> {
        let (n, h, w, c) = x.dim();
        let (kh, kw, _, f) = k.dim();
        Array4::from_shape_fn((n, out[0], out[1], f), |(b, oy, ox, fo)| {
            let mut sum = 0.0;
            for ky in 0..kh {
                for kx in 0..kw {
                    let iy = (oy * s + ky * d) as isize - pads[0] as isize;
                    let ix = (ox * s + kx * d) as isize - pads[1] as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                        for ci in 0..c {
                            sum += x[[b, iy as usize, ix as usize, ci]] * k[[ky, kx, ci, fo]];
                        }
                    }
                }
            }
            sum
        })
    }

    fn ramp(shape: (usize, usize, usize, usize), scale: f32) -> Array4<f32> {
        let mut i = 0.0;
        Array4::from_shape_simple_fn(shape, || {
            i += 1.0;
            ((i * 7.0) % 13.0 - 6.0) * scale
        })
    }

    #[test]
    fn same_stride_2_on_4x4_pads_only_bottom_right() {
        // 4x4 input, 3x3 ones kernel, SAME stride 2: out 2x2, total pad 1 -> 0 top, 1 bottom.
        let x = ArrayD::from_shape_vec(vec![1, 4, 4, 1], (1..=16).map(|v| v as f32).collect()).unwrap();
        let window = Window2D { size: [3, 3], strides: [2, 2], padding: Padding::Same, dilation: [1, 1] };
        let y = conv(window, ArrayD::ones(vec![3, 3, 1, 1]), None, x);
        // out[0,0] = rows 0..3, cols 0..3 = 1+2+3+5+6+7+9+10+11 = 54
        // out[0,1] = rows 0..3, cols 2..4 = 3+4+7+8+11+12 = 45
        // out[1,0] = rows 2..4, cols 0..3 = 9+10+11+13+14+15 = 72
        // out[1,1] = rows 2..4, cols 2..4 = 11+12+15+16 = 54
        assert_eq!(y.into_raw_vec_and_offset().0, vec![54.0, 45.0, 72.0, 54.0]);
    }

    #[test]
    fn same_stride_2_on_5x5_pads_one_each_side() {
        // 5x5 input, 3x3 ones kernel, SAME stride 2: out 3x3, total pad 2 -> 1 top, 1 bottom.
        let x = ArrayD::from_shape_vec(vec![1, 5, 5, 1], (1..=25).map(|v| v as f32).collect()).unwrap();
        let window = Window2D { size: [3, 3], strides: [2, 2], padding: Padding::Same, dilation: [1, 1] };
        let y = conv(window, ArrayD::ones(vec![3, 3, 1, 1]), Some(ArrayD::from_elem(vec![1], 0.5)), x);
        assert_eq!(y.shape(), [1, 3, 3, 1]);
        // Top-left window covers rows 0..2, cols 0..2 = 1+2+6+7 = 16 (+0.5 bias).
        assert_eq!(y[[0, 0, 0, 0]], 16.5);
        // Center window rows 1..4, cols 1..4 = 7+8+9+12+13+14+17+18+19 = 117.
        assert_eq!(y[[0, 1, 1, 0]], 117.5);
        // Bottom-right rows 3..5, cols 3..5 = 19+20+24+25 = 88.
        assert_eq!(y[[0, 2, 2, 0]], 88.5);
    }

    #[test]
    fn matches_direct_definition() {
        // Several geometries, multi-channel, batch 2; sized to cover multiple tiles.
        let cases = [
            ((2, 9, 11, 3), (3, 3, 3, 5), 1, 1, Padding::Same),
            ((2, 9, 11, 3), (3, 3, 3, 5), 2, 1, Padding::Same),
            ((2, 9, 11, 3), (3, 2, 3, 4), 2, 1, Padding::Valid),
            ((1, 10, 10, 2), (3, 3, 2, 3), 1, 2, Padding::Same),
            ((1, 10, 10, 2), (3, 3, 2, 3), 1, 3, Padding::Valid),
            ((3, 20, 20, 8), (1, 1, 8, 40), 1, 1, Padding::Valid),
            ((1, 7, 7, 6), (1, 1, 6, 5), 2, 1, Padding::Same),
            ((1, 30, 30, 4), (5, 5, 4, 7), 1, 1, Padding::Same),
        ];
        for (xs, ks, s, d, padding) in cases {
            let x = ramp(xs, 0.25);
            let k = ramp(ks, 0.1);
            let window = Window2D { size: [ks.0, ks.1], strides: [s, s], padding, dilation: [d, d] };
            let y = conv(window, k.clone().into_dyn(), None, x.clone().into_dyn());
            let axis = |input: usize, kernel: usize| AxisWindow::new(input, kernel, s, d, padding).unwrap();
            let (r, c) = (axis(xs.1, ks.0), axis(xs.2, ks.1));
            let want = reference(&x, &k, s, d, [r.pad_before, c.pad_before], [r.out, c.out]);
            assert_eq!(y.shape(), want.shape(), "{xs:?} {ks:?}");
            for (a, b) in y.iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-4, "{xs:?} {ks:?} s{s} d{d}: {a} vs {b}");
            }
        }
    }

    /// groups = 2: each half of the filters sees its half of the channels, as two separate
    /// convolutions would.
    #[test]
    fn grouped_matches_one_convolution_per_group() {
        let window = Window2D { size: [3, 3], strides: [2, 2], padding: Padding::Same, dilation: [1, 1] };
        let x = ramp((2, 7, 6, 4), 0.1);
        let k = ramp((3, 3, 2, 6), 0.05);
        let layer =
            layers::with_groups(layers::conv2d("g", "x".into(), window, k.clone().into_dyn(), None, "linear"), 2);
        let y = apply(&layer, vec![Input::Owned(x.clone().into_dyn())]).unwrap();
        assert_eq!(y.shape(), [2, 4, 3, 6]);
        for group in 0..2 {
            let xg = x.slice(ndarray::s![.., .., .., group * 2..group * 2 + 2]).to_owned();
            let kg = k.slice(ndarray::s![.., .., .., group * 3..group * 3 + 3]).to_owned();
            // SAME, stride 2 on 7×6: pads (1, 1) rows, (0, 1) columns; only the leading pads matter.
            let expected = reference(&xg, &kg, 2, 1, [1, 0], [4, 3]);
            let actual = y.slice(ndarray::s![.., .., .., group * 3..group * 3 + 3]);
            for (a, e) in actual.iter().zip(expected.iter()) {
                assert!((a - e).abs() <= 1e-4, "group {group}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let window = Window2D { size: [3, 3], strides: [1, 1], padding: Padding::Same, dilation: [1, 1] };
        let x = || vec![Input::Owned(ArrayD::zeros(vec![1, 4, 4, 2]))];
        // Wrong input channel count.
        let layer = layers::conv2d("c1", "x".into(), window, ArrayD::zeros(vec![3, 3, 3, 1]), None, "linear");
        assert!(matches!(apply(&layer, x()), Err(EngineError::Shape { .. })));
        // Groups that do not divide the input channels.
        let mut layer = layers::conv2d("c2", "x".into(), window, ArrayD::zeros(vec![3, 3, 2, 1]), None, "linear");
        layer.config.insert("groups".into(), serde_json::json!(2));
        let err = apply(&layer, x()).unwrap_err();
        assert!(matches!(err, EngineError::Shape { .. }) && err.to_string().contains("c2"), "{err}");
        // Zero stride.
        let mut layer = layers::conv2d("c3", "x".into(), window, ArrayD::zeros(vec![3, 3, 2, 1]), None, "linear");
        layer.config.insert("strides".into(), serde_json::json!([0, 1]));
        assert!(apply(&layer, x()).is_err());
        // Valid window larger than the input.
        let big = Window2D { size: [5, 5], padding: Padding::Valid, ..window };
        let layer = layers::conv2d("c4", "x".into(), big, ArrayD::zeros(vec![5, 5, 2, 1]), None, "linear");
        assert!(matches!(apply(&layer, x()), Err(EngineError::Shape { .. })));
        // Rank-3 input.
        let layer = layers::conv2d("c5", "x".into(), window, ArrayD::zeros(vec![3, 3, 2, 1]), None, "relu");
        assert!(apply(&layer, vec![Input::Owned(ArrayD::zeros(vec![4, 4, 2]))]).is_err());
    }

    #[test]
    fn empty_batch_and_zero_channels() {
        let window = Window2D { size: [3, 3], strides: [1, 1], padding: Padding::Same, dilation: [1, 1] };
        let layer = layers::conv2d("c", "x".into(), window, ArrayD::zeros(vec![3, 3, 2, 4]), None, "linear");
        let y = apply(&layer, vec![Input::Owned(ArrayD::zeros(vec![0, 4, 4, 2]))]).unwrap();
        assert_eq!(y.shape(), [0, 4, 4, 4]);
        let layer = layers::conv2d(
            "c",
            "x".into(),
            window,
            ArrayD::zeros(vec![3, 3, 0, 4]),
            Some(ArrayD::ones(vec![4])),
            "linear",
        );
        let y = apply(&layer, vec![Input::Owned(ArrayD::zeros(vec![1, 4, 4, 0]))]).unwrap();
        assert_eq!(y, ArrayD::<f32>::ones(vec![1, 4, 4, 4]));
    }
}

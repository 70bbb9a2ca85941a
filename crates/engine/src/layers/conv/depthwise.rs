//! Depthwise convolution, computed directly (no GEMM: each output channel reads one input
//! channel): output channel `c·m + k` is input channel `c` through kernel `[.., c, k]`. One
//! parallel task per output row; the inner loop runs over contiguous channels, with a fast
//! path for multiplier 1 (MobileNet, EfficientNet, ConvNeXt).

use ndarray::ArrayD;
use rayon::prelude::*;

use crate::config::LayerConfig;
use crate::layers::activation::Activation;
use crate::window::Grid;
use crate::EngineError;

/// `x` convolved depthwise by `kernel` (taps…, in, `m`) on `grid`.
pub(super) fn conv(
    cfg: &LayerConfig<'_>,
    grid: &Grid,
    x: &ArrayD<f32>,
    kernel: &ArrayD<f32>,
    m: usize,
    bias: Option<&[f32]>,
    activation: Activation,
) -> Result<ArrayD<f32>, EngineError> {
    let c = grid.channels;
    let filters = c * m;
    let [kd, kh, kw] = [grid.axes[0].kernel, grid.axes[1].kernel, grid.axes[2].kernel];
    let row_len = grid.axes[2].out * filters;
    cfg.compute(&grid.output_shape(filters), [x, kernel], |[xs, ks], out_data| {
        out_data.par_chunks_mut(row_len).enumerate().for_each(|(r, row)| {
            let (image, o) = grid.position(r * grid.axes[2].out);
            for (ox, acc) in row.chunks_exact_mut(filters).enumerate() {
                for z in 0..kd {
                    let Some(iz) = grid.source(0, o[0], z) else { continue };
                    for y in 0..kh {
                        let Some(iy) = grid.source(1, o[1], y) else { continue };
                        for xk in 0..kw {
                            let Some(ix) = grid.source(2, ox, xk) else { continue };
                            let pixel = &xs[grid.pixel(image, [iz, iy, ix])..][..c];
                            let taps = &ks[((z * kh + y) * kw + xk) * filters..][..filters];
                            if m == 1 {
                                acc.iter_mut().zip(pixel).zip(taps).for_each(|((a, &v), &t)| *a += v * t);
                            } else {
                                for (ci, &v) in pixel.iter().enumerate() {
                                    acc[ci * m..][..m]
                                        .iter_mut()
                                        .zip(&taps[ci * m..][..m])
                                        .for_each(|(a, &t)| *a += v * t);
                                }
                            }
                        }
                    }
                }
                if let Some(bias) = bias {
                    acc.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
                }
            }
            activation.apply_rows(row, filters);
        });
        Ok(())
    })
}

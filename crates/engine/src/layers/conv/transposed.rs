//! Transposed convolution (`Conv{1,2,3}DTranspose`), the gradient of a convolution with
//! respect to its input: output cell `o` gathers input cell `i` through tap `t` where
//! `i·stride + t·dilation − pad_before = o`. The kernel is (taps…, filters, in).
//!
//! Output lengths are Keras's `deconv_output_length` ([`Conv::transposed_length`]); the
//! padding is TF's for the forward convolution from that output back to the input: none for
//! `valid`, and for `same` half of `max((in − 1)·stride + effective_kernel − out, 0)`
//! before (the smaller half), as `tf.nn.conv2d_transpose` computes it.

use ndarray::ArrayD;
use rayon::prelude::*;
use tf2h5_keras::spec::{Conv, Padding};

use crate::config::LayerConfig;
use crate::layers::activation::Activation;
use crate::window::AXES;
use crate::EngineError;

/// One spatial axis of a transposed convolution.
#[derive(Clone, Copy)]
struct Axis {
    input: usize,
    out: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_before: usize,
}

impl Axis {
    /// The input cell output `o` reads through tap `t`, if any.
    #[inline]
    fn source(&self, o: usize, t: usize) -> Option<usize> {
        let shifted = (o + self.pad_before).checked_sub(t * self.dilation)?;
        (shifted % self.stride == 0).then_some(shifted / self.stride).filter(|&i| i < self.input)
    }
}

/// `x` (batch, spatial…, in) through the transposed convolution `conv` with `kernel`.
pub(super) fn conv(
    cfg: &LayerConfig<'_>,
    conv: &Conv,
    output_padding: Option<&[usize]>,
    x: &ArrayD<f32>,
    kernel: &ArrayD<f32>,
    bias: Option<&[f32]>,
    activation: Activation,
) -> Result<ArrayD<f32>, EngineError> {
    let rank = conv.rank();
    if rank > AXES || x.ndim() != rank + 2 {
        return Err(cfg.shape(format!("a {rank}-D transposed convolution needs a rank-{} input", rank + 2)));
    }
    let unit = Axis { input: 1, out: 1, kernel: 1, stride: 1, dilation: 1, pad_before: 0 };
    let mut axes = [unit; AXES];
    for a in 0..rank {
        let (input, w) = (x.shape()[1 + a], &conv.window);
        let out = conv.transposed_length(a, input, output_padding);
        let effective = (w.kernel[a] - 1) * w.dilation[a] + 1;
        let pad_total = ((input.saturating_sub(1)) * w.strides[a] + effective).saturating_sub(out);
        let pad_before = if w.padding == Padding::Valid { 0 } else { pad_total / 2 };
        axes[AXES - rank + a] =
            Axis { input, out, kernel: w.kernel[a], stride: w.strides[a], dilation: w.dilation[a], pad_before };
    }
    let (n, c) = (x.shape()[0], x.shape()[rank + 1]);
    let filters = kernel.shape()[rank];
    let mut shape = vec![n];
    shape.extend(axes[AXES - rank..].iter().map(|a| a.out));
    shape.push(filters);
    let [ad, ah, aw] = axes;
    let row_len = aw.out * filters;
    cfg.compute(&shape, [x, kernel], |[xs, ks], out_data| {
        // One task per output row (image, od, oh); each output cell gathers its taps.
        out_data.par_chunks_mut(row_len).enumerate().for_each(|(r, row)| {
            let (image, od, oh) = (r / (ad.out * ah.out), (r / ah.out) % ad.out, r % ah.out);
            for (ow, acc) in row.chunks_exact_mut(filters).enumerate() {
                for z in 0..ad.kernel {
                    let Some(iz) = ad.source(od, z) else { continue };
                    for y in 0..ah.kernel {
                        let Some(iy) = ah.source(oh, y) else { continue };
                        for xk in 0..aw.kernel {
                            let Some(ix) = aw.source(ow, xk) else { continue };
                            let pixel = &xs[(((image * ad.input + iz) * ah.input + iy) * aw.input + ix) * c..][..c];
                            let taps = &ks[((z * ah.kernel + y) * aw.kernel + xk) * filters * c..][..filters * c];
                            for (a, tap) in acc.iter_mut().zip(taps.chunks_exact(c)) {
                                *a += tap.iter().zip(pixel).map(|(t, v)| t * v).sum::<f32>();
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

//! The 2-D pooling kernel shared by `MaxPooling2D` and `AveragePooling2D` (channels_last):
//! `pool_size`, `strides` (null means `pool_size`, as in Keras), `padding` `valid`/`same`.
//!
//! Trap: padded cells are not values. Max ignores them; average divides by the number of
//! *real* cells in the window, as TF's AvgPool does (not by the window size).

use ndarray::ArrayD;
use rayon::prelude::*;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::window::AxisWindow;
use crate::EngineError;
use tf2h5_keras::Layer;

/// Which reduction a pool applies to its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolKind {
    /// Largest real cell.
    Max,
    /// Mean of the real cells.
    Average,
}

/// Runs the pool described by `layer`'s config.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>, kind: PoolKind) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.require_channels_last()?;
    cfg.weights(&[])?;
    let pool_size = cfg.pair("pool_size")?;
    let strides = cfg.pair_or("strides", pool_size)?;
    let padding = cfg.padding()?;
    let [n, h, w, c] = super::nhwc(&cfg, &x)?;
    let rows = AxisWindow::new(h, pool_size[0], strides[0], 1, padding)
        .map_err(|e| cfg.shape(format!("height of input {:?}: {e}", x.shape())))?;
    let cols = AxisWindow::new(w, pool_size[1], strides[1], 1, padding)
        .map_err(|e| cfg.shape(format!("width of input {:?}: {e}", x.shape())))?;

    let mut out = tensor::zeros(&[n, rows.out, cols.out, c]).ok_or_else(|| cfg.shape("output is too large"))?;
    if out.is_empty() {
        return Ok(out);
    }
    let x = x.as_standard_layout();
    let xs = x.as_slice().ok_or_else(|| cfg.shape("input is not contiguous"))?;
    let out_data = out.as_slice_mut().ok_or_else(|| cfg.shape("output is not contiguous"))?;
    // One task per output row (image, oy): each writes cols.out * c contiguous values.
    out_data.par_chunks_mut(cols.out * c).enumerate().for_each(|(row_index, out_row)| {
        let (image, oy) = (row_index / rows.out, row_index % rows.out);
        let (y0, ny) = rows.clipped(oy, h);
        for (ox, dst) in out_row.chunks_exact_mut(c).enumerate() {
            let (x0, nx) = cols.clipped(ox, w);
            let cell = |iy: usize, ix: usize| &xs[((image * h + iy) * w + ix) * c..][..c];
            match kind {
                PoolKind::Max => {
                    dst.fill(f32::NEG_INFINITY);
                    for iy in y0..y0 + ny {
                        for ix in x0..x0 + nx {
                            dst.iter_mut().zip(cell(iy, ix)).for_each(|(d, &v)| *d = d.max(v));
                        }
                    }
                }
                PoolKind::Average => {
                    for iy in y0..y0 + ny {
                        for ix in x0..x0 + nx {
                            dst.iter_mut().zip(cell(iy, ix)).for_each(|(d, &v)| *d += v);
                        }
                    }
                    let count = (ny * nx) as f32;
                    dst.iter_mut().for_each(|d| *d /= count);
                }
            }
        }
    });
    Ok(out)
}

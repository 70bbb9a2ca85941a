//! Every Keras pool: `MaxPooling{1,2,3}D` / `AveragePooling{1,2,3}D` over a window (the
//! [`Pool`] spec, run on the 3-D [`Grid`]) and `GlobalMaxPooling{1,2,3}D` /
//! `GlobalAveragePooling{1,2,3}D` over every spatial axis ([`GlobalPool`]).
//!
//! Trap: padded cells are not values. Max ignores them (even when every real cell is
//! negative); average divides by the number of *real* cells in the window, as TF's AvgPool
//! does. Global averages sum in f64 so the mean of a large map does not drift with the
//! summation order; the mean of an empty map is NaN, as TF's is.

use ndarray::ArrayD;
use rayon::prelude::*;
use tf2h5_keras::spec::{GlobalPool, LayerSpec, PoolKind};
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::Input;
use crate::window::Grid;
use crate::EngineError;

/// Runs the windowed pool `spec` of `layer`.
pub(crate) fn apply(spec: &LayerSpec, layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::Pool(pool) = spec else { return Err(cfg.invalid("internal error: not a pool spec")) };
    let x = super::single_input(&cfg, inputs)?;
    cfg.spec_weights(spec, 0)?;
    let grid = Grid::new(&pool.window, x.shape()).map_err(|e| cfg.shape(format!("input {:?}: {e}", x.shape())))?;
    let c = grid.channels;
    let [axis_d, axis_h, axis_w] = grid.axes;
    cfg.compute(&grid.output_shape(c), [&*x], |[xs], out_data| {
        // One task per output row: each writes (output width · channels) contiguous values.
        out_data.par_chunks_mut(axis_w.out * c).enumerate().for_each(|(r, out_row)| {
            let (image, o) = grid.position(r * axis_w.out);
            let (z0, nz) = axis_d.clipped(o[0], grid.input[0]);
            let (y0, ny) = axis_h.clipped(o[1], grid.input[1]);
            for (ox, dst) in out_row.chunks_exact_mut(c).enumerate() {
                let (x0, nx) = axis_w.clipped(ox, grid.input[2]);
                let cells = (z0..z0 + nz)
                    .flat_map(|z| (y0..y0 + ny).flat_map(move |y| (x0..x0 + nx).map(move |x| [z, y, x])))
                    .map(|at| &xs[grid.pixel(image, at)..][..c]);
                match pool.kind {
                    PoolKind::Max => {
                        dst.fill(f32::NEG_INFINITY);
                        cells.for_each(|cell| dst.iter_mut().zip(cell).for_each(|(d, &v)| *d = d.max(v)));
                    }
                    PoolKind::Average => {
                        cells.for_each(|cell| dst.iter_mut().zip(cell).for_each(|(d, &v)| *d += v));
                        let count = (nz * ny * nx) as f32;
                        dst.iter_mut().for_each(|d| *d /= count);
                    }
                }
            }
        });
        Ok(())
    })
}

/// Runs the global pool `spec` of `layer`: (batch, channels), or unit spatial axes with
/// `keepdims`.
pub(crate) fn apply_global(
    spec: &LayerSpec,
    layer: &Layer,
    inputs: Vec<Input<'_>>,
) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::GlobalPool(GlobalPool { kind, rank, keepdims }) = *spec else {
        return Err(cfg.invalid("internal error: not a global pool spec"));
    };
    let x = super::single_input(&cfg, inputs)?;
    cfg.spec_weights(spec, 0)?;
    if x.ndim() != rank + 2 {
        return Err(cfg.shape(format!("expects a rank-{} input, got {:?}", rank + 2, x.shape())));
    }
    let (n, c) = (x.shape()[0], x.shape()[rank + 1]);
    let cells: usize = x.shape()[1..=rank].iter().product();
    let shape = if keepdims { [vec![n], vec![1; rank], vec![c]].concat() } else { vec![n, c] };
    cfg.compute(&shape, [&*x], |[xs], out_data| {
        if cells * c == 0 {
            out_data.fill(if kind == PoolKind::Average { f32::NAN } else { f32::NEG_INFINITY });
            return Ok(());
        }
        out_data.par_chunks_mut(c).zip(xs.par_chunks(cells * c)).for_each(|(dst, image)| match kind {
            PoolKind::Average => {
                let mut sums = vec![0.0f64; c];
                for pixel in image.chunks_exact(c) {
                    sums.iter_mut().zip(pixel).for_each(|(s, &v)| *s += f64::from(v));
                }
                dst.iter_mut().zip(&sums).for_each(|(d, s)| *d = (s / cells as f64) as f32);
            }
            PoolKind::Max => {
                dst.fill(f32::NEG_INFINITY);
                for pixel in image.chunks_exact(c) {
                    dst.iter_mut().zip(pixel).for_each(|(d, &v)| *d = d.max(v));
                }
            }
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_keras::spec::{Padding, Pool, Window};

    fn pool(kind: PoolKind, kernel: &[usize], strides: &[usize], padding: Padding, x: ArrayD<f32>) -> ArrayD<f32> {
        let window =
            Window { kernel: kernel.to_vec(), strides: strides.to_vec(), dilation: vec![1; kernel.len()], padding };
        let layer = LayerSpec::Pool(Pool { kind, window }).layer("p", vec!["x".into()], vec![]);
        apply(&LayerSpec::parse(&layer).unwrap(), &layer, vec![Input::Owned(x)]).unwrap()
    }

    fn counting(shape: &[usize], sign: f32) -> ArrayD<f32> {
        let len = shape.iter().product::<usize>();
        ArrayD::from_shape_vec(shape.to_vec(), (1..=len).map(|v| sign * v as f32).collect()).unwrap()
    }

    #[test]
    fn same_padding_is_ignored_by_max_and_excluded_from_the_mean() {
        // 3x3 input 1..9, 2x2 pool stride 2 SAME: windows {1,2,4,5}, {3,6}, {7,8}, {9}.
        let y = pool(PoolKind::Max, &[2, 2], &[2, 2], Padding::Same, counting(&[1, 3, 3, 1], -1.0));
        assert_eq!(y.into_raw_vec_and_offset().0, vec![-1.0, -3.0, -7.0, -9.0]);
        let y = pool(PoolKind::Average, &[2, 2], &[2, 2], Padding::Same, counting(&[1, 3, 3, 1], 1.0));
        assert_eq!(y.into_raw_vec_and_offset().0, vec![3.0, 4.5, 7.5, 9.0]);
        let y = pool(PoolKind::Average, &[3, 3], &[1, 1], Padding::Same, counting(&[1, 3, 3, 1], 1.0));
        assert_eq!(y[[0, 0, 1, 0]], (1.0 + 2.0 + 3.0 + 4.0 + 5.0 + 6.0) / 6.0);
    }

    #[test]
    fn one_and_three_dimensional_pools() {
        let y = pool(PoolKind::Max, &[2], &[2], Padding::Valid, counting(&[1, 5, 2], 1.0));
        assert_eq!(y.into_raw_vec_and_offset().0, vec![3.0, 4.0, 7.0, 8.0]);
        // 2x2x2 cube 1..8, one channel: the mean is 4.5.
        let y = pool(PoolKind::Average, &[2, 2, 2], &[2, 2, 2], Padding::Valid, counting(&[1, 2, 2, 2, 1], 1.0));
        assert_eq!(y.into_raw_vec_and_offset().0, vec![4.5]);
    }

    #[test]
    fn global_pools_reduce_every_spatial_axis() {
        let x = ndarray::Array4::from_shape_fn((2, 2, 3, 2), |(n, h, w, c)| {
            (n * 100 + h * 10 + w) as f32 * if c == 0 { 1.0 } else { -1.0 }
        })
        .into_dyn();
        let global = |kind, keepdims, x: &ArrayD<f32>| {
            let layer = LayerSpec::GlobalPool(GlobalPool { kind, rank: x.ndim() - 2, keepdims }).layer(
                "g",
                vec!["x".into()],
                vec![],
            );
            apply_global(&LayerSpec::parse(&layer).unwrap(), &layer, vec![Input::Borrowed(x)]).unwrap()
        };
        // mean of h*10 + w over h in 0..2, w in 0..3 = 5 + 1 = 6.
        assert_eq!(global(PoolKind::Average, false, &x).into_raw_vec_and_offset().0, vec![6.0, -6.0, 106.0, -106.0]);
        assert_eq!(global(PoolKind::Average, true, &x).shape(), [2, 1, 1, 2]);
        assert_eq!(global(PoolKind::Max, false, &x).into_raw_vec_and_offset().0, vec![12.0, 0.0, 112.0, -100.0]);
        assert_eq!(global(PoolKind::Max, true, &counting(&[1, 4, 1], 1.0)).into_raw_vec_and_offset().0, vec![4.0]);
    }
}

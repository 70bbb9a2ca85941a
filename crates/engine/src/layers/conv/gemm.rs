//! Standard (grouped) convolution as im2col + GEMM: the output positions are cut into tiles;
//! for each tile (in parallel) the input patches are copied into a (positions, taps·in)
//! matrix whose column order (kd, ky, kx, channel) is the kernel's own row-major order, so
//! the kernel is used as a (taps·in, filters) matrix without copying, and the product is
//! directly the channels_last output. Bias and activation are applied to the tile while it is
//! still in cache. A 1×…×1 stride-1 convolution skips the copy: its patch matrix *is* the
//! input. A grouped convolution does this per group, with the patches of the group's
//! channels and its block of kernel columns.

use std::ops::Range;

use ndarray::{s, ArrayD, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::config::LayerConfig;
use crate::gemm::{matmul_into, matmul_serial};
use crate::layers::activation::Activation;
use crate::window::Grid;
use crate::EngineError;

/// Target size of one tile's patch matrix, in floats (4 MiB). Every tile's GEMM repacks the
/// whole kernel, so a tile needs hundreds of rows to amortise that (profiled on VGG16 at 224:
/// with 256 KiB tiles of 32 rows, packing took twice the time of the multiply itself).
const PATCH_FLOATS: usize = 1 << 20;
/// Fewest output positions per tile, so each GEMM still has rows to amortise its packing.
const MIN_TILE: usize = 32;

/// `x` convolved by `kernel` (taps…, in / groups, filters) on `grid`.
pub(super) fn conv(
    cfg: &LayerConfig<'_>,
    grid: &Grid,
    x: &ArrayD<f32>,
    kernel: &ArrayD<f32>,
    groups: usize,
    bias: Option<&[f32]>,
    activation: Activation,
) -> Result<ArrayD<f32>, EngineError> {
    let filters = kernel.shape().last().copied().unwrap_or(0);
    let group_channels = grid.channels / groups;
    let patch_len = grid.taps() * group_channels;
    let group_filters = filters / groups;
    let c = grid.channels;
    cfg.compute(&grid.output_shape(filters), [x, kernel], |[xs, ks], out_data| {
        let kernel2d = ArrayView2::from_shape((patch_len, filters), ks).map_err(|e| cfg.shape(e))?;
        let positions = out_data.len() / filters;
        // A 1×…×1 stride-1 window reads each input pixel exactly once, in output order.
        let direct = grid.taps() == 1 && grid.axes.iter().all(|a| a.stride == 1) && groups == 1;
        let tile = tile_positions(positions, patch_len);
        // Tiles are the parallel tasks; only when there are fewer than threads does each GEMM split.
        let multiply =
            if positions.div_ceil(tile) >= rayon::current_num_threads() { matmul_serial } else { matmul_into };

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
                        let channels = group * group_channels..(group + 1) * group_channels;
                        fill_patches(grid, xs, first, channels, &mut buffer[..count * patch_len]);
                        ArrayView2::from_shape((count, patch_len), &buffer[..count * patch_len])?
                    };
                    let columns = group * group_filters..(group + 1) * group_filters;
                    multiply(patches, kernel2d.slice(s![.., columns.clone()]), out.slice_mut(s![.., columns]));
                }
                if let Some(bias) = bias {
                    chunk.chunks_exact_mut(filters).for_each(|row| row.iter_mut().zip(bias).for_each(|(v, b)| *v += b));
                }
                activation.apply_rows(chunk, filters);
                Ok::<(), ndarray::ShapeError>(())
            })
            .map_err(|e| cfg.shape(e))?;
        Ok(())
    })
}

/// Output positions per tile: a patch matrix of about [`PATCH_FLOATS`], but at least four
/// tiles per thread when there are enough positions.
fn tile_positions(positions: usize, patch_len: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let by_cache = (PATCH_FLOATS / patch_len.max(1)).max(MIN_TILE);
    let by_parallelism = positions.div_ceil(threads * 4).max(MIN_TILE);
    by_cache.min(by_parallelism).clamp(1, positions.max(1))
}

/// Writes the patches of output positions `first..first + n` (n = patches.len() / patch
/// length) over input `channels` as rows of `patches`, zeros where the window lies in the
/// padding.
fn fill_patches(grid: &Grid, xs: &[f32], first: usize, channels: Range<usize>, patches: &mut [f32]) {
    let [kd, kh, kw] = [grid.axes[0].kernel, grid.axes[1].kernel, grid.axes[2].kernel];
    let c = channels.len();
    let patch_len = kd * kh * kw * c;
    if patch_len == 0 {
        return;
    }
    for (i, patch) in patches.chunks_exact_mut(patch_len).enumerate() {
        let (image, o) = grid.position(first + i);
        for z in 0..kd {
            let plane = &mut patch[z * kh * kw * c..][..kh * kw * c];
            let Some(iz) = grid.source(0, o[0], z) else {
                plane.fill(0.0);
                continue;
            };
            for y in 0..kh {
                let iy = grid.source(1, o[1], y);
                for x in 0..kw {
                    let dst = &mut plane[(y * kw + x) * c..][..c];
                    match (iy, grid.source(2, o[2], x)) {
                        (Some(iy), Some(ix)) => {
                            dst.copy_from_slice(&xs[grid.pixel(image, [iz, iy, ix]) + channels.start..][..c])
                        }
                        _ => dst.fill(0.0),
                    }
                }
            }
        }
    }
}

//! Matrix product split across rayon threads.
//!
//! ndarray's `general_mat_mul` (matrixmultiply) is single-threaded unless its `threading`
//! feature is on, which the workspace does not enable. Halving the larger of the output's
//! rows and columns until each block is small keeps all cores busy both for tall products
//! (early convolutions: many positions, few filters) and wide ones (late convolutions and
//! dense layers: few rows, many outputs), without ever splitting the reduction axis, so each
//! output element is summed in the same order as in one call.
//!
//! Products with many rows (a `Dense` on every pixel, as in ConvNeXt: 25088 × 384 by 384 ×
//! 1536 at batch 8) are cut into a few tall row blocks, one per task, each a single serial
//! product: halving down to small blocks would repack the whole of `b` for every block
//! (profiled: packing took as long as the multiply).
//!
//! Products with only a few rows (a dense layer at batch 1, the last convolutions of a small
//! image) take the streaming path instead: matrixmultiply packs the whole right-hand matrix
//! on every call, which for a 25088×4096 VGG16 kernel means copying 400 MB into a fresh
//! buffer to multiply it by one row. Streaming reads each kernel row once, for all rows of `a`.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Below this many multiply-adds a block runs on the current thread.
const MIN_BLOCK_WORK: usize = 1 << 19;
/// Fewest rows per row block for a product to be cut into row blocks only.
const TALL_BLOCK_ROWS: usize = 256;
/// Products with at most this many rows stream `b` instead of packing it.
const SKINNY_ROWS: usize = 4;
/// Columns of `c` per parallel task of the streaming product.
const SKINNY_COLUMNS: usize = 512;
/// Blocks are split on multiples of this, matrixmultiply's micro-kernel size, so that no
/// block ends with a mostly empty panel.
const ALIGN: usize = 16;

/// `c = a · b`, overwriting `c`. Shapes must agree: `a` (m, k), `b` (k, n), `c` (m, n).
pub(crate) fn matmul_into(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, mut c: ArrayViewMut2<'_, f32>) {
    let (m, k) = a.dim();
    let n = b.ncols();
    debug_assert_eq!(b.nrows(), k);
    debug_assert_eq!(c.dim(), (m, n));
    let work = m.saturating_mul(n).saturating_mul(k.max(1));
    if m <= SKINNY_ROWS {
        if let Some(b) = b.as_slice() {
            return streaming_into(a, b, n, c);
        }
    }
    if work <= MIN_BLOCK_WORK || (m < 2 * ALIGN && n < 2 * ALIGN) {
        return matmul_serial(a, b, c);
    }
    let tasks = 2 * rayon::current_num_threads().max(1);
    if m >= tasks * TALL_BLOCK_ROWS {
        let rows = m.div_ceil(tasks).next_multiple_of(ALIGN);
        let a_blocks: Vec<ArrayView2<'_, f32>> = a.axis_chunks_iter(Axis(0), rows).collect();
        let c_blocks: Vec<ArrayViewMut2<'_, f32>> = c.axis_chunks_iter_mut(Axis(0), rows).collect();
        a_blocks.into_par_iter().zip(c_blocks).for_each(|(a, c)| matmul_serial(a, b, c));
        return;
    }
    if m >= n && m >= 2 * ALIGN {
        let mid = (m / 2).next_multiple_of(ALIGN).min(m);
        let (a_top, a_bottom) = a.split_at(Axis(0), mid);
        let (c_top, c_bottom) = c.split_at(Axis(0), mid);
        rayon::join(|| matmul_into(a_top, b, c_top), || matmul_into(a_bottom, b, c_bottom));
    } else {
        let mid = (n / 2).next_multiple_of(ALIGN).min(n);
        let (b_left, b_right) = b.split_at(Axis(1), mid);
        let (c_left, c_right) = c.split_at(Axis(1), mid);
        rayon::join(|| matmul_into(a, b_left, c_left), || matmul_into(a, b_right, c_right));
    }
}

/// `c = a · b` on the current thread, for callers that already run blocks in parallel
/// (splitting further would repack `b` for every block).
pub(crate) fn matmul_serial(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, mut c: ArrayViewMut2<'_, f32>) {
    general_mat_mul(1.0, &a, &b, 0.0, &mut c);
}

/// `c = a · b` for a few rows of `a`, `b` row-major (k, n) in `b_data`: every row of `b` is
/// read once and added, scaled, to each row of `c`; column blocks run in parallel.
fn streaming_into(a: ArrayView2<'_, f32>, b_data: &[f32], n: usize, mut c: ArrayViewMut2<'_, f32>) {
    c.fill(0.0);
    if n == 0 {
        return;
    }
    let blocks: Vec<ArrayViewMut2<'_, f32>> = c.axis_chunks_iter_mut(Axis(1), SKINNY_COLUMNS).collect();
    let stream = |(index, mut block): (usize, ArrayViewMut2<'_, f32>)| {
        let first = index * SKINNY_COLUMNS;
        let width = block.ncols();
        let mut outs: Vec<&mut [f32]> = block.rows_mut().into_iter().filter_map(|row| row.into_slice()).collect();
        for (i, b_row) in b_data.chunks_exact(n).enumerate() {
            let b_part = &b_row[first..first + width];
            for (row, out) in outs.iter_mut().enumerate() {
                let scale = a[[row, i]];
                out.iter_mut().zip(b_part).for_each(|(o, &v)| *o += scale * v);
            }
        }
    };
    if a.nrows() * a.ncols() * n <= MIN_BLOCK_WORK {
        blocks.into_iter().enumerate().for_each(stream);
    } else {
        use rayon::prelude::*;
        blocks.into_par_iter().enumerate().for_each(stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn split_product_equals_direct_product() {
        for &(m, k, n) in &[
            (1, 3, 1),
            (300, 70, 40),
            (5, 200, 1000),
            (64, 64, 64),
            (33, 0, 40),
            (1, 2000, 1500),
            (3, 700, 513),
            (2, 5, 0),
        ] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
            let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.5 - 3.0);
            let mut c = Array2::from_elem((m, n), f32::NAN);
            matmul_into(a.view(), b.view(), c.view_mut());
            let expected = a.dot(&b);
            if m > SKINNY_ROWS {
                assert_eq!(c, expected, "{m}x{k}x{n}");
            } else {
                // The streaming path sums in another order: equal up to rounding.
                let worst = (&c - &expected).iter().fold(0f32, |w, d| w.max(d.abs()));
                let scale = expected.iter().fold(1f32, |w, d| w.max(d.abs()));
                assert!(worst <= 1e-5 * scale, "{m}x{k}x{n}: off by {worst}");
            }
        }
    }
}

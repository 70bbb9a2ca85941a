//! Matrix product split across rayon threads.
//!
//! ndarray's `general_mat_mul` (matrixmultiply) is single-threaded unless its `threading`
//! feature is on, which the workspace does not enable. Halving the larger of the output's
//! rows and columns until each block is small keeps all cores busy both for tall products
//! (early convolutions: many positions, few filters) and wide ones (late convolutions and
//! dense layers: few rows, many outputs), without ever splitting the reduction axis, so each
//! output element is summed in the same order as in one call.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};

/// Below this many multiply-adds a block runs on the current thread.
const MIN_BLOCK_WORK: usize = 1 << 19;
/// Blocks are split on multiples of this, matrixmultiply's micro-kernel size, so that no
/// block ends with a mostly empty panel.
const ALIGN: usize = 16;

/// `c = a · b`, overwriting `c`. Shapes must agree: `a` (m, k), `b` (k, n), `c` (m, n).
pub(crate) fn matmul_into(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    debug_assert_eq!(b.nrows(), k);
    debug_assert_eq!(c.dim(), (m, n));
    let work = m.saturating_mul(n).saturating_mul(k.max(1));
    if work <= MIN_BLOCK_WORK || (m < 2 * ALIGN && n < 2 * ALIGN) {
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        return;
    }
    if m >= n && m >= 2 * ALIGN {
        let mid = (m / 2).next_multiple_of(ALIGN).min(m);
        let (a_top, a_bottom) = a.split_at(Axis(0), mid);
        let (c_top, c_bottom) = c.split_at(Axis(0), mid);
        rayon::join(
            || matmul_into(a_top, b, c_top),
            || matmul_into(a_bottom, b, c_bottom),
        );
    } else {
        let mid = (n / 2).next_multiple_of(ALIGN).min(n);
        let (b_left, b_right) = b.split_at(Axis(1), mid);
        let (c_left, c_right) = c.split_at(Axis(1), mid);
        rayon::join(
            || matmul_into(a, b_left, c_left),
            || matmul_into(a, b_right, c_right),
        );
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
        ] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
            let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.5 - 3.0);
            let mut c = Array2::from_elem((m, n), f32::NAN);
            matmul_into(a.view(), b.view(), c.view_mut());
            assert_eq!(c, a.dot(&b), "{m}x{k}x{n}");
        }
    }
}

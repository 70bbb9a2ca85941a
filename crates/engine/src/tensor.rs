//! Small tensor helpers shared by the layers: ownership, layout, element-count checks and
//! rayon-parallel element and row loops.

use std::borrow::Cow;

use ndarray::{ArrayD, ArrayViewMut1, IxDyn};
use rayon::prelude::*;

/// A layer input: owned when this layer is the last reader of it (so it can be reused in
/// place), borrowed otherwise.
pub(crate) type Input<'x> = Cow<'x, ArrayD<f32>>;

/// Below this many elements a loop is not worth splitting across threads.
const PAR_MIN_ELEMENTS: usize = 1 << 15;

/// The input as an owned array in standard (row-major) layout, reusing its buffer when it
/// is owned and already row-major.
pub(crate) fn into_standard(x: Input<'_>) -> ArrayD<f32> {
    match x {
        Cow::Owned(a) if a.is_standard_layout() => a,
        other => other.as_standard_layout().into_owned(),
    }
}

/// Number of elements of `shape`, or `None` if it overflows what an allocation can hold.
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    // Arrays are limited to isize::MAX bytes; f32 is 4 bytes.
    (count <= isize::MAX as usize / 4).then_some(count)
}

/// A zero-filled array of `shape`, or `None` if its size overflows or cannot be allocated
/// (a config asking for an absurd padding must be an error, not an abort).
pub(crate) fn zeros(shape: &[usize]) -> Option<ArrayD<f32>> {
    let count = element_count(shape)?;
    let mut data = Vec::new();
    data.try_reserve_exact(count).ok()?;
    data.resize(count, 0.0);
    ArrayD::from_shape_vec(IxDyn(shape), data).ok()
}

/// Applies `f` to every element, in parallel for large arrays.
pub(crate) fn map_inplace(x: &mut ArrayD<f32>, f: impl Fn(f32) -> f32 + Sync + Send) {
    if x.len() < PAR_MIN_ELEMENTS {
        x.mapv_inplace(f);
    } else if let Some(data) = x.as_slice_memory_order_mut() {
        data.par_chunks_mut(PAR_MIN_ELEMENTS).for_each(|chunk| chunk.iter_mut().for_each(|v| *v = f(*v)));
    } else {
        x.par_mapv_inplace(f);
    }
}

/// Calls `f` on each row of `row_len` consecutive elements of `data`, in parallel for
/// large buffers. Does nothing if `row_len` is 0.
pub(crate) fn for_each_row(data: &mut [f32], row_len: usize, f: impl Fn(&mut [f32]) + Sync + Send) {
    if row_len == 0 {
        return;
    }
    if data.len() < PAR_MIN_ELEMENTS {
        data.chunks_exact_mut(row_len).for_each(f);
    } else {
        let rows_per_task = (PAR_MIN_ELEMENTS / row_len).max(1);
        data.par_chunks_mut(rows_per_task * row_len).for_each(|rows| rows.chunks_exact_mut(row_len).for_each(&f));
    }
}

/// A mutable 1-D view of a slice (so row and lane code can share one function).
pub(crate) fn lane(slice: &mut [f32]) -> ArrayViewMut1<'_, f32> {
    ArrayViewMut1::from(slice)
}

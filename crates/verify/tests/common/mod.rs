//! What the fixture tests share: reading a fixture's `.npy` arrays.

use std::path::Path;

use ndarray::ArrayD;

/// A fixture array as f32: float32 as is, int32/int64 ids as whole numbers (the form both
/// engines take integer inputs in).
pub fn read_array(file: &Path) -> ArrayD<f32> {
    if let Ok(array) = ndarray_npy::read_npy::<_, ArrayD<f32>>(file) {
        return array;
    }
    match ndarray_npy::read_npy::<_, ArrayD<i32>>(file) {
        Ok(ids) => ids.mapv(|v| v as f32),
        Err(_) => ndarray_npy::read_npy::<_, ArrayD<i64>>(file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .mapv(|v| v as f32),
    }
}

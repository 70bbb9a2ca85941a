//! Keras `AveragePooling2D`: the mean of the real cells of each window. With `same`
//! padding the border windows divide by their count of real cells, as TF does.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use super::pooling2d::{self, PoolKind};
use crate::tensor::Input;
use crate::EngineError;

/// Keras `AveragePooling2D`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    pooling2d::apply(layer, inputs, PoolKind::Average)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_keras::layers::{self, Padding, Window2D};

    #[test]
    fn same_padding_is_excluded_from_the_mean() {
        // 3x3 input 1..9, 2x2 pool stride 2 SAME: windows {1,2,4,5}, {3,6}, {7,8}, {9}.
        let x = ArrayD::from_shape_vec(vec![1, 3, 3, 1], (1..=9).map(|v| v as f32).collect()).unwrap();
        let window = Window2D { size: [2, 2], strides: [2, 2], padding: Padding::Same, dilation: [1, 1] };
        let layer = layers::pool2d("ap", "x".into(), layers::PoolKind::Average, window);
        let y = apply(&layer, vec![Input::Owned(x)]).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![3.0, 4.5, 7.5, 9.0]);
    }

    #[test]
    fn same_stride_1_3x3_pool_counts_real_cells() {
        // 3x3 ones * index, pool 3x3 stride 1 SAME: corner window has 4 real cells.
        let x = ArrayD::from_shape_vec(vec![1, 3, 3, 1], (1..=9).map(|v| v as f32).collect()).unwrap();
        let window = Window2D { size: [3, 3], strides: [1, 1], padding: Padding::Same, dilation: [1, 1] };
        let layer = layers::pool2d("ap", "x".into(), layers::PoolKind::Average, window);
        let y = apply(&layer, vec![Input::Owned(x)]).unwrap();
        assert_eq!(y[[0, 0, 0, 0]], (1.0 + 2.0 + 4.0 + 5.0) / 4.0);
        assert_eq!(y[[0, 1, 1, 0]], 5.0);
        assert_eq!(y[[0, 0, 1, 0]], (1.0 + 2.0 + 3.0 + 4.0 + 5.0 + 6.0) / 6.0);
    }

    #[test]
    fn strides_default_to_pool_size() {
        let x = ArrayD::from_shape_vec(vec![1, 2, 2, 1], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let window = Window2D { size: [2, 2], strides: [1, 1], padding: Padding::Valid, dilation: [1, 1] };
        let mut layer = layers::pool2d("ap", "x".into(), layers::PoolKind::Average, window);
        layer.config.insert("strides".into(), serde_json::Value::Null);
        let y = apply(&layer, vec![Input::Owned(x)]).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![2.5]);
    }
}

//! Keras `MaxPooling2D`: the largest real cell of each window; padded cells never win,
//! even when every real cell is negative (see `pooling2d.rs`).

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use super::pooling2d::{self, PoolKind};
use crate::tensor::Input;
use crate::EngineError;

/// Keras `MaxPooling2D`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    pooling2d::apply(layer, inputs, PoolKind::Max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_keras::layers::{self, Padding, Window2D};

    #[test]
    fn same_padding_is_ignored_by_max() {
        // All-negative 3x3 input, 2x2 pool stride 2 SAME: out 2x2, pad 1 at bottom/right.
        let x = ArrayD::from_shape_vec(vec![1, 3, 3, 1], (1..=9).map(|v| -(v as f32)).collect()).unwrap();
        let window = Window2D { size: [2, 2], strides: [2, 2], padding: Padding::Same, dilation: [1, 1] };
        let layer = layers::pool2d("mp", "x".into(), layers::PoolKind::Max, window);
        let y = apply(&layer, vec![Input::Owned(x)]).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![-1.0, -3.0, -7.0, -9.0]);
    }

    #[test]
    fn valid_with_channels() {
        // 1x2x4x2, pool 2x2 stride 2 valid -> 1x1x2x2.
        let x = ArrayD::from_shape_vec(vec![1, 2, 4, 2], (0..16).map(|v| v as f32).collect()).unwrap();
        let window = Window2D { size: [2, 2], strides: [2, 2], padding: Padding::Valid, dilation: [1, 1] };
        let layer = layers::pool2d("mp", "x".into(), layers::PoolKind::Max, window);
        let y = apply(&layer, vec![Input::Owned(x)]).unwrap();
        assert_eq!(y.shape(), [1, 1, 2, 2]);
        // Window (0,0): pixels (0,0),(0,1),(1,0),(1,1) -> channel 0 values 0,2,8,10.
        assert_eq!(y.into_raw_vec_and_offset().0, vec![10.0, 11.0, 14.0, 15.0]);
    }
}

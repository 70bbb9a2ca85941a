//! Keras `Flatten`: (batch, d1, d2, ...) → (batch, d1·d2·...), row-major, so an NHWC tensor
//! flattens in H, W, C order (channels_last only: channels_first would transpose first).

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `Flatten`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.require_channels_last()?;
    let Some((&batch, rest)) = x.shape().split_first() else {
        return Err(cfg.shape("expects an input with a batch axis, got a scalar"));
    };
    let features: usize = rest.iter().product();
    let shape = [batch, features];
    tensor::into_standard(x).into_shape_with_order(ndarray::IxDyn(&shape)).map_err(|e| cfg.shape(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;
    use tf2h5_keras::layers;

    #[test]
    fn flattens_in_h_w_c_order() {
        let x = Array4::from_shape_fn((2, 2, 3, 2), |(n, h, w, c)| (n * 1000 + h * 100 + w * 10 + c) as f32);
        let y = apply(&layers::flatten("f", "x".into()), vec![Input::Borrowed(&x.clone().into_dyn())]).unwrap();
        assert_eq!(y.shape(), [2, 12]);
        assert_eq!(y[[0, 1]], 1.0); // h0 w0 c1
        assert_eq!(y[[0, 2]], 10.0); // h0 w1 c0
        assert_eq!(y[[1, 6]], 1100.0); // n1 h1 w0 c0
                                       // A non-standard layout (transposed view turned owned) flattens by logical order.
        let t = x.clone().into_dyn().reversed_axes().reversed_axes();
        assert_eq!(apply(&layers::flatten("f", "x".into()), vec![Input::Owned(t)]).unwrap(), y);
        let one = apply(&layers::flatten("f", "x".into()), vec![Input::Owned(ArrayD::zeros(vec![3]))]).unwrap();
        assert_eq!(one.shape(), [3, 1]);
    }
}

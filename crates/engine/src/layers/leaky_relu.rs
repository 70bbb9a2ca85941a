//! Keras `LeakyReLU`: `x > 0 ? x : alpha · x` (TF's `leaky_relu` kernel). The slope is read
//! from `alpha` (tf-keras; Keras 3 accepts it) or `negative_slope` (Keras 3); default 0.3 in
//! both versions. Negative slopes are refused, as Keras 3 does.

use ndarray::ArrayD;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `LeakyReLU`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    cfg.weights(&[])?;
    let alpha = match cfg.opt_f64("alpha")? {
        Some(a) => a,
        None => cfg.f64_or("negative_slope", 0.3)?,
    };
    if alpha < 0.0 {
        return Err(cfg.invalid(format!("the slope must not be negative, got {alpha}")));
    }
    let alpha = alpha as f32;
    let mut y = tensor::into_standard(x);
    tensor::map_inplace(&mut y, move |v| if v > 0.0 { v } else { v * alpha });
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::layers;

    #[test]
    fn leaks_with_alpha() {
        let x = array![[-2.0f32, 0.0, 3.0]].into_dyn();
        let y = apply(&layers::leaky_relu("l", "x".into(), 0.1), vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(y, array![[-2.0f32 * 0.1, 0.0, 3.0]].into_dyn());
    }
}

//! Keras `Dense`: `activation(x · kernel + bias)` on the last axis of an input of any rank
//! ≥ 2 (Keras applies it like a `tensordot` over the last axis). Kernel (in, units), bias
//! (units) when `use_bias` (Keras's default).

use ndarray::{ArrayD, ArrayView2, ArrayViewMut2};

use super::activation::Activation;
use crate::config::LayerConfig;
use crate::gemm::matmul_into;
use crate::tensor::{self, Input};
use crate::EngineError;
use tf2h5_keras::spec::LayerSpec;
use tf2h5_keras::Layer;

/// Keras `Dense`.
pub(crate) fn apply(spec: &LayerSpec, layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::Dense(dense) = spec else { return Err(cfg.invalid("internal error: not a dense spec")) };
    let x = super::single_input(&cfg, inputs)?;
    if x.ndim() < 2 {
        return Err(cfg.shape(format!("expects an input of rank 2 or more, got {:?}", x.shape())));
    }
    let in_dim = x.shape()[x.ndim() - 1];
    let activation = Activation::parse(&cfg, &dense.activation)?;
    let weights = cfg.spec_weights(spec, in_dim)?;
    let (kernel, bias) = (weights[0], weights.get(1).copied());
    let units = dense.units;

    let mut out_shape = x.shape().to_vec();
    if let Some(last) = out_shape.last_mut() {
        *last = units;
    }
    let rows: usize = x.shape()[..x.ndim() - 1].iter().product();
    let mut out = tensor::zeros(&out_shape).ok_or_else(|| cfg.shape("output is too large"))?;
    if out.is_empty() {
        return Ok(out);
    }
    let x = x.as_standard_layout();
    let kernel = kernel.view().into_dimensionality::<ndarray::Ix2>().map_err(|e| cfg.shape(e))?;
    let bias = bias.map(|b| b.iter().copied().collect::<Vec<f32>>());
    let out_data = out.as_slice_mut().ok_or_else(|| cfg.shape("output is not contiguous"))?;
    {
        let a = x.as_slice().and_then(|s| ArrayView2::from_shape((rows, in_dim), s).ok());
        let a = a.ok_or_else(|| cfg.shape(format!("cannot view input {:?} as ({rows}, {in_dim})", x.shape())))?;
        let c = ArrayViewMut2::from_shape((rows, units), &mut *out_data).map_err(|e| cfg.shape(e))?;
        matmul_into(a, kernel, c);
    }
    tensor::for_each_row(out_data, units, |row| {
        if let Some(bias) = &bias {
            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        }
        activation.apply_rows(row, units);
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::run_layer as apply;
    use ndarray::array;
    use tf2h5_keras::layers;
    use tf2h5_keras::LayerError;

    #[test]
    fn dense_on_rank_3_with_bias_and_relu() {
        let kernel = array![[1.0f32, -1.0], [2.0, 0.5]].into_dyn();
        let layer = layers::dense("d", "x".into(), kernel, Some(array![0.5f32, -1.0].into_dyn()), "relu");
        let x = array![[[1.0f32, 1.0], [2.0, -1.0]]].into_dyn();
        let y = apply(&layer, vec![Input::Owned(x)]).unwrap();
        // [1,1]·K = [3, -0.5] + b = [3.5, -1.5] -> relu [3.5, 0]; [2,-1]·K = [0, -2.5] + b -> [0.5, 0].
        assert_eq!(y, array![[[3.5f32, 0.0], [0.5, 0.0]]].into_dyn());
    }

    #[test]
    fn wrong_sizes_are_errors_naming_the_layer() {
        let layer = layers::dense("dd", "x".into(), ArrayD::zeros(vec![3, 2]), Some(ArrayD::zeros(vec![2])), "linear");
        let err = apply(&layer, vec![Input::Owned(ArrayD::zeros(vec![1, 4]))]).unwrap_err();
        assert!(matches!(err, EngineError::Layer(LayerError::Shape { ref layer, .. }) if layer == "dd"));
        let bad_bias =
            layers::dense("db", "x".into(), ArrayD::zeros(vec![3, 2]), Some(ArrayD::zeros(vec![3])), "linear");
        assert!(apply(&bad_bias, vec![Input::Owned(ArrayD::zeros(vec![1, 3]))]).is_err());
        let mut no_bias = layers::dense("dn", "x".into(), ArrayD::zeros(vec![3, 2]), None, "linear");
        assert_eq!(apply(&no_bias.clone(), vec![Input::Owned(ArrayD::ones(vec![1, 3]))]).unwrap().shape(), [1, 2]);
        no_bias.config.insert("use_bias".into(), serde_json::json!(true));
        assert!(matches!(
            apply(&no_bias, vec![Input::Owned(ArrayD::ones(vec![1, 3]))]),
            Err(EngineError::Layer(LayerError::Config { .. }))
        ));
    }
}

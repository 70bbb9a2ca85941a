//! Keras `Embedding`: row `i` of `embeddings` (input_dim, output_dim) for each index `i` of
//! the input, which holds integers (carried as f32, exact below 2^24). An index that is not
//! a whole number in `0..input_dim` is an error (TF's gather fails on it too).

use ndarray::ArrayD;
use tf2h5_keras::spec::LayerSpec;
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Keras `Embedding`.
pub(crate) fn apply(spec: &LayerSpec, layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::Embedding(embedding) = *spec else {
        return Err(cfg.invalid("internal error: not an embedding spec"));
    };
    let x = super::single_input(&cfg, inputs)?;
    // The table's shape is fixed by the spec, not by the input's channels.
    let table = cfg.spec_weights(spec, 0)?[0].as_standard_layout();
    let rows = table.as_slice().ok_or_else(|| cfg.shape("embeddings are not contiguous"))?;
    let (input_dim, output_dim) = (embedding.input_dim, embedding.output_dim);
    let mut shape = x.shape().to_vec();
    shape.push(output_dim);
    let mut out = tensor::zeros(&shape).ok_or_else(|| cfg.shape("output is too large"))?;
    let out_data = out.as_slice_mut().ok_or_else(|| cfg.shape("output is not contiguous"))?;
    for (dst, &index) in out_data.chunks_exact_mut(output_dim).zip(x.iter()) {
        if index.fract() != 0.0 || !(0.0..input_dim as f32).contains(&index) {
            return Err(cfg.shape(format!("index {index} is not an integer in 0..{input_dim}")));
        }
        let row = index as usize * output_dim;
        dst.copy_from_slice(&rows[row..row + output_dim]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_keras::spec::Embedding;
    use tf2h5_keras::Weight;

    #[test]
    fn looks_up_rows_and_refuses_bad_indices() {
        let table = ArrayD::from_shape_fn(vec![4, 2], |i| (i[0] * 10 + i[1]) as f32);
        let spec = LayerSpec::Embedding(Embedding { input_dim: 4, output_dim: 2, mask_zero: false });
        let layer = spec.layer("e", vec!["x".into()], vec![Weight::new("embeddings", table)]);
        let run = |ids: Vec<f32>| {
            let ids = ArrayD::from_shape_vec(vec![1, ids.len()], ids).unwrap();
            super::super::run_layer(&layer, vec![Input::Owned(ids)])
        };
        let y = run(vec![3.0, 0.0, 1.0]).unwrap();
        assert_eq!(y.shape(), [1, 3, 2]);
        assert_eq!(y.into_raw_vec_and_offset().0, vec![30.0, 31.0, 0.0, 1.0, 10.0, 11.0]);
        for bad in [4.0, -1.0, 0.5, f32::NAN] {
            assert!(run(vec![bad]).is_err(), "{bad}");
        }
    }
}

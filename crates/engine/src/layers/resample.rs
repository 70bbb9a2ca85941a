//! Rank-generic edits of the spatial axes (channels_last): `ZeroPadding{1,2,3}D` and
//! `Cropping{1,2,3}D` ([`Sides`]), and nearest `UpSampling{1,2,3}D` ([`UpSampling`]), which
//! repeats each cell `size` times along each spatial axis.

use ndarray::{ArrayD, Axis, Slice};
use tf2h5_keras::spec::{LayerSpec, ResampleKind, Sides, UpSampling};
use tf2h5_keras::Layer;

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;

/// Runs `ZeroPadding` or `Cropping`.
pub(crate) fn apply_sides(spec: &LayerSpec, layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::Sides(sides) = spec else {
        return Err(cfg.invalid("internal error: not a padding or cropping spec"));
    };
    let x = super::single_input(&cfg, inputs)?;
    cfg.spec_weights(spec, 0)?;
    let input: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
    let shape: Vec<usize> =
        Sides::output_shape(sides, &input).map_err(|e| cfg.shape(e))?.into_iter().map(|d| d.unwrap_or(0)).collect();
    // The region of the larger tensor that the smaller one fills.
    let region = |axis: usize, len: usize| match axis.checked_sub(1).and_then(|a| sides.sides.get(a)) {
        Some(&[before, _]) => Slice::from(before..before + len),
        None => Slice::from(..),
    };
    if sides.kind == ResampleKind::Cropping {
        return Ok(x.slice_each_axis(|d| region(d.axis.index(), shape[d.axis.index()])).to_owned());
    }
    let mut out = tensor::zeros(&shape).ok_or_else(|| cfg.shape("padded output is too large"))?;
    out.slice_each_axis_mut(|d| region(d.axis.index(), x.shape()[d.axis.index()])).assign(&*x);
    Ok(out)
}

/// Runs nearest `UpSampling`.
pub(crate) fn apply_up_sampling(
    spec: &LayerSpec,
    layer: &Layer,
    inputs: Vec<Input<'_>>,
) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let LayerSpec::UpSampling(UpSampling { size }) = spec else {
        return Err(cfg.invalid("internal error: not an upsampling spec"));
    };
    let x = super::single_input(&cfg, inputs)?;
    cfg.spec_weights(spec, 0)?;
    if x.ndim() != size.len() + 2 {
        return Err(cfg.shape(format!("expects a rank-{} input, got {:?}", size.len() + 2, x.shape())));
    }
    let mut y = x.into_owned();
    for (a, &factor) in size.iter().enumerate() {
        let axis = Axis(a + 1);
        let len = y.shape()[a + 1].checked_mul(factor).ok_or_else(|| cfg.shape("upsampled output is too large"))?;
        let mut shape = y.shape().to_vec();
        shape[a + 1] = len;
        let mut out = tensor::zeros(&shape).ok_or_else(|| cfg.shape("upsampled output is too large"))?;
        for (i, mut lane) in out.axis_iter_mut(axis).enumerate() {
            lane.assign(&y.index_axis(axis, i / factor));
        }
        y = out;
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf2h5_keras::LayerError;

    fn run(spec: LayerSpec, x: ArrayD<f32>) -> Result<ArrayD<f32>, EngineError> {
        let layer = spec.layer("r", vec!["x".into()], vec![]);
        let spec = LayerSpec::parse(&layer).unwrap();
        let f = if matches!(spec, LayerSpec::UpSampling(_)) { apply_up_sampling } else { apply_sides };
        f(&spec, &layer, vec![Input::Owned(x)])
    }

    #[test]
    fn pads_and_crops_each_side_in_any_rank() {
        let pad = LayerSpec::Sides(Sides { kind: ResampleKind::ZeroPadding, sides: vec![[0, 1], [2, 0]] });
        let y = run(pad, ArrayD::from_elem(vec![1, 2, 2, 1], 1.0)).unwrap();
        assert_eq!(y.shape(), [1, 3, 4, 1]);
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![0., 0., 1., 1., 0., 0., 1., 1., 0., 0., 0., 0.]);
        let x = ArrayD::from_shape_fn(vec![1, 3, 4, 1], |ix| (ix[1] * 10 + ix[2]) as f32);
        let crop = |sides: Vec<[usize; 2]>| LayerSpec::Sides(Sides { kind: ResampleKind::Cropping, sides });
        let y = run(crop(vec![[1, 0], [1, 2]]), x.clone()).unwrap();
        assert_eq!(y.as_slice().unwrap(), &[11.0, 21.0]);
        assert!(run(crop(vec![[2, 2], [0, 0]]), x.clone()).is_err());
        assert!(run(crop(vec![[usize::MAX, 1], [0, 0]]), x).is_err());
        let y = run(crop(vec![[1, 2]]), ArrayD::from_shape_fn(vec![1, 5, 1], |ix| ix[1] as f32)).unwrap();
        assert_eq!(y.as_slice().unwrap(), &[1.0, 2.0]);
        let huge = LayerSpec::Sides(Sides { kind: ResampleKind::ZeroPadding, sides: vec![[1 << 40, 1 << 40]; 3] });
        assert!(matches!(
            run(huge, ArrayD::zeros(vec![1, 1, 1, 1, 1])),
            Err(EngineError::Layer(LayerError::Shape { .. }))
        ));
    }

    #[test]
    fn upsampling_repeats_cells_in_any_rank() {
        let x = ArrayD::from_shape_vec(vec![1, 2, 2, 1], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let y = run(LayerSpec::UpSampling(UpSampling { size: vec![2, 3] }), x).unwrap();
        assert_eq!(y.shape(), [1, 4, 6, 1]);
        assert_eq!(
            y.iter().take(12).copied().collect::<Vec<_>>(),
            vec![1., 1., 1., 2., 2., 2., 1., 1., 1., 2., 2., 2.]
        );
        assert_eq!(y[[0, 3, 5, 0]], 4.0);
        let y = run(
            LayerSpec::UpSampling(UpSampling { size: vec![2] }),
            ArrayD::from_shape_vec(vec![1, 2, 1], vec![1.0, 2.0]).unwrap(),
        );
        assert_eq!(y.unwrap().as_slice().unwrap(), &[1.0, 1.0, 2.0, 2.0]);
    }
}

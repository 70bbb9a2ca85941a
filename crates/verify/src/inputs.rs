//! Verification inputs: seeded random samples, or the user's arrays split into samples.

use std::borrow::Cow;

use ndarray::{ArrayD, Axis, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use tf2h5_convert::Endpoint;
use tf2h5_tf::Translation;

use crate::{Options, VerifyError};

/// One sample: one array per model input (model input order), each with batch 1
/// (or the graph's fixed batch size).
pub type Sample = Vec<ArrayD<f32>>;

/// The samples to verify with: the user's inputs if any, else `options.samples` draws of a
/// standard normal from a ChaCha8 stream seeded with `options.seed`. For a translated (ONNX)
/// model, `translation` says how the user's arrays, given in the source model's layout, map
/// to the Keras inputs.
pub fn samples(
    inputs: &[Endpoint],
    translation: Option<&Translation>,
    options: &Options,
) -> Result<Vec<Sample>, VerifyError> {
    if !options.inputs.is_empty() {
        return user_samples(inputs, translation, options);
    }
    let shapes: Vec<(String, Vec<usize>)> =
        inputs.iter().map(|input| (input.tf_node.clone(), concrete_shape(&input.shape, 1))).collect();
    random_samples(&shapes, &vec![None; shapes.len()], 0, options)
}

/// The samples of verification run `run_index` at the input shapes `run` (batch 1; see
/// [`crate::dynamic`]) of `graph`'s inputs: the user's inputs for the first run if there are
/// any, else seeded random draws ([`samples`]) in a stream of their own per run, integer
/// inputs drawn uniformly from the range the graph allows ([`crate::ranges`]), or else from
/// the range of the user's data.
pub fn samples_at(
    inputs: &[Endpoint],
    run: &[(String, Vec<usize>)],
    run_index: usize,
    graph: Option<&tf2h5_tf::TfGraph>,
    options: &Options,
) -> Result<Vec<Sample>, VerifyError> {
    let translation = graph.and_then(|g| g.translation.as_ref());
    let user = if options.inputs.is_empty() { None } else { Some(user_samples(inputs, translation, options)?) };
    let ranges = run
        .iter()
        .enumerate()
        .map(|(index, (name, _))| {
            let given = user.as_deref().and_then(|samples| value_range(samples.iter().filter_map(|s| s.get(index))));
            // Without a graph (a Keras `.h5` source, whose inputs are float32) nothing is integer.
            graph.map_or(Ok(None), |graph| crate::ranges::input_range(graph, name, given))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match user {
        Some(samples) if run_index == 0 => Ok(samples),
        _ => random_samples(run, &ranges, run_index, options),
    }
}

/// The smallest and largest value in `arrays` (whole numbers: integer inputs' data).
fn value_range<'a>(arrays: impl Iterator<Item = &'a ArrayD<f32>>) -> Option<(i64, i64)> {
    let values = arrays.flat_map(|a| a.iter().copied());
    let (min, max) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (min <= max).then_some((min as i64, max as i64))
}

/// `options.samples` draws for inputs of the given shapes (batch 1), from ChaCha8 streams
/// `(run_index << 32) + sample` seeded with `options.seed`: a standard normal, or for an
/// integer input with range `low..high`, whole numbers drawn uniformly from it.
fn random_samples(
    shapes: &[(String, Vec<usize>)],
    ranges: &[Option<(i64, i64)>],
    run_index: usize,
    options: &Options,
) -> Result<Vec<Sample>, VerifyError> {
    if options.samples == 0 {
        return Err(VerifyError::Input("at least one sample is needed".into()));
    }
    for (name, shape) in shapes {
        crate::limits::check_shape(&format!("input '{name}'"), shape)?;
    }
    Ok((0..options.samples)
        .map(|index| {
            let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
            rng.set_stream(((run_index as u64) << 32) + index as u64);
            shapes
                .iter()
                .zip(ranges)
                .map(|((_, shape), range)| match range {
                    Some((low, high)) => {
                        ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.gen_range(*low..*high) as f32)
                    }
                    None => standard_normal(&mut rng, shape),
                })
                .collect()
        })
        .collect())
}

/// Most samples run through an engine at once. Batching makes both engines' products
/// efficient (tract runs ResNet50 at batch 8 about three times faster per sample than at
/// batch 1), and the bound keeps the activations held at once small.
pub const MAX_BATCH: usize = 8;

/// The samples stacked into equal batches along axis 0: the largest batch size up to
/// [`MAX_BATCH`] that divides the sample count (the oracle is prepared for one fixed shape),
/// or one sample per batch when an input's batch axis is fixed by the graph. `source_batch`:
/// the batch size a translated source fixes while the converted graph leaves it free
/// ([`tf2h5_tf::Translation::fixed_batch`]); every batch then has exactly that many rows
/// (random samples are drawn at that size, rows of the user's data are stacked to it).
pub fn batches(
    inputs: &[Endpoint],
    samples: &[Sample],
    source_batch: Option<usize>,
) -> Result<Vec<Sample>, VerifyError> {
    let free_batch_axis = inputs.iter().all(|input| input.shape.first() == Some(&None));
    let size = match source_batch {
        Some(rows_wanted) => {
            let rows = samples.first().and_then(|s| s.first()).and_then(|a| a.shape().first().copied()).unwrap_or(1);
            let per_batch = rows_wanted.checked_div(rows).unwrap_or(0);
            if per_batch == 0 || rows_wanted % rows != 0 || !samples.len().is_multiple_of(per_batch) {
                return Err(VerifyError::Input(format!(
                    "the source model fixes its batch size at {rows_wanted}: give a multiple of {rows_wanted} samples"
                )));
            }
            per_batch
        }
        None if free_batch_axis => {
            (1..=MAX_BATCH.min(samples.len())).rev().find(|b| samples.len().is_multiple_of(*b)).unwrap_or(1)
        }
        None => 1,
    };
    samples
        .chunks(size)
        .map(|chunk| {
            (0..inputs.len())
                .map(|i| {
                    let views: Vec<_> = chunk.iter().filter_map(|sample| sample.get(i).map(|a| a.view())).collect();
                    ndarray::concatenate(Axis(0), &views)
                        .map_err(|e| VerifyError::Input(format!("stacking samples of input {i}: {e}")))
                })
                .collect()
        })
        .collect()
}

/// `(Placeholder name, shape)` of every input of a sample (or batch), for the oracle.
pub fn sample_shapes(inputs: &[Endpoint], samples: &[Sample]) -> Vec<(String, Vec<usize>)> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let shape = samples.first().and_then(|s| s.get(i)).map(|a| a.shape().to_vec()).unwrap_or_default();
            (input.tf_node.clone(), shape)
        })
        .collect()
}

fn concrete_shape(shape: &[Option<usize>], batch: usize) -> Vec<usize> {
    shape.iter().map(|d| d.unwrap_or(batch)).collect()
}

/// Box–Muller from uniform draws: avoids a distribution dependency, deterministic per seed.
fn standard_normal(rng: &mut ChaCha8Rng, shape: &[usize]) -> ArrayD<f32> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = rng.gen();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    })
}

/// The user's arrays by input. A translated model's input may be named as in the source
/// file (`x:0`) or as in the Keras model (`x_0`); its data is in the source file's layout
/// (NCHW for most ONNX images, what onnxruntime takes) and is permuted to the Keras input's.
fn user_samples(
    inputs: &[Endpoint],
    translation: Option<&Translation>,
    options: &Options,
) -> Result<Vec<Sample>, VerifyError> {
    let source = |input: &Endpoint| translation.and_then(|t| t.tensors.get(&input.tf_node));
    let is_named =
        |input: &Endpoint, name: &str| input.tf_node == name || source(input).is_some_and(|s| s.name == name);
    for (name, _) in &options.inputs {
        if !inputs.iter().any(|i| is_named(i, name)) {
            let known: Vec<&str> = inputs
                .iter()
                .flat_map(|i| std::iter::once(i.tf_node.as_str()).chain(source(i).map(|s| s.name.as_str())))
                .collect();
            return Err(VerifyError::Input(format!("'{name}' is not a model input (inputs: {known:?})")));
        }
    }
    let mut per_input = Vec::new();
    for input in inputs {
        let (_, array) = options
            .inputs
            .iter()
            .find(|(name, _)| is_named(input, name))
            .ok_or_else(|| VerifyError::Input(format!("no data given for input '{}'", input.tf_node)))?;
        // Keras axis j is source axis permutation[j]; the data comes in the source's order, its
        // samples along the source's batch axis (axis 0 unless the source has it elsewhere).
        let permutation = source(input).and_then(|s| s.permutation.as_ref()).filter(|p| p.len() == input.shape.len());
        let mut expected = input.shape.clone();
        if let Some(permutation) = permutation {
            for (&source_axis, &dim) in permutation.iter().zip(&input.shape) {
                expected[source_axis] = dim;
            }
        }
        let batch = permutation.map_or(0, |p| p[0]);
        let matches = array.ndim() == expected.len()
            && array
                .shape()
                .iter()
                .zip(&expected)
                .enumerate()
                .all(|(axis, (&d, e))| axis == batch || e.is_none_or(|e| e == d));
        if !matches || array.shape()[batch] == 0 {
            let dims = expected.iter().enumerate().map(|(axis, d)| match d {
                _ if axis == batch => "samples".to_string(),
                Some(d) => d.to_string(),
                None => "?".into(),
            });
            return Err(VerifyError::Input(format!(
                "data for '{}' has shape {:?}, expected ({})",
                input.tf_node,
                array.shape(),
                dims.collect::<Vec<_>>().join(", ")
            )));
        }
        let array: Cow<ArrayD<f32>> = match permutation {
            Some(permutation) => {
                Cow::Owned(array.view().permuted_axes(IxDyn(permutation)).as_standard_layout().into_owned())
            }
            None => Cow::Borrowed(array),
        };
        per_input.push(array);
    }
    let count = per_input.first().map(|a| a.shape()[0]).unwrap_or(0);
    if per_input.iter().any(|a| a.shape()[0] != count) {
        return Err(VerifyError::Input("all inputs must hold the same number of samples".into()));
    }
    Ok((0..count)
        .map(|s| per_input.iter().map(|a| a.index_axis(Axis(0), s).insert_axis(Axis(0)).to_owned()).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(shape: &[Option<usize>]) -> Endpoint {
        Endpoint { layer: "x".into(), tf_node: "x".into(), shape: shape.to_vec() }
    }

    #[test]
    fn samples_are_stacked_into_equal_batches() {
        let inputs = [endpoint(&[None, Some(2)])];
        let options = Options { samples: 12, ..Default::default() };
        let samples = samples(&inputs, None, &options).unwrap();
        let stacked = batches(&inputs, &samples, None).unwrap();
        // 12 samples: batches of 6 (the largest divisor up to 8), in sample order.
        assert_eq!(stacked.len(), 2);
        assert_eq!(stacked[0][0].shape(), [6, 2]);
        assert_eq!(stacked[1][0].slice(ndarray::s![5, ..]), samples[11][0].slice(ndarray::s![0, ..]));
        // A graph with a fixed batch of 1 gets one sample per run.
        let fixed = [endpoint(&[Some(1), Some(2)])];
        assert_eq!(batches(&fixed, &samples, None).unwrap().len(), 12);
        // A source that fixes its batch size while the converted model leaves it free: the
        // batches have exactly that many rows.
        assert_eq!(batches(&inputs, &samples, Some(1)).unwrap().len(), 12);
        let by_three = batches(&inputs, &samples, Some(3)).unwrap();
        assert_eq!(by_three.len(), 4);
        assert_eq!(by_three[0][0].shape(), [3, 2]);
        assert!(batches(&inputs, &samples, Some(5)).is_err());
    }

    #[test]
    fn random_samples_are_seeded_and_distinct() {
        let inputs = [endpoint(&[None, Some(3), Some(2)])];
        let options = Options { samples: 3, seed: 7, ..Default::default() };
        let a = samples(&inputs, None, &options).unwrap();
        let b = samples(&inputs, None, &options).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0][0].shape(), &[1, 3, 2]);
        assert_ne!(a[0], a[1]);
        let other_seed = samples(&inputs, None, &Options { seed: 8, ..options }).unwrap();
        assert_ne!(a, other_seed);
    }

    #[test]
    fn user_inputs_are_split_and_checked() {
        let inputs = [endpoint(&[None, Some(2)])];
        let data = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let options = Options { inputs: vec![("x".into(), data)], ..Default::default() };
        let split = samples(&inputs, None, &options).unwrap();
        assert_eq!(split.len(), 3);
        assert_eq!(split[2][0].as_slice().unwrap(), &[5.0, 6.0]);
        let wrong = ArrayD::zeros(IxDyn(&[3, 5]));
        let options = Options { inputs: vec![("x".into(), wrong)], ..Default::default() };
        assert!(samples(&inputs, None, &options).unwrap_err().to_string().contains("expected (samples, 2)"));
    }
}

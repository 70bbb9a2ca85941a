//! Running a model's layer graph: resolve every layer's inputs and function once, then walk
//! the layers in their (topological) order.
//!
//! Memory: each value counts the layers still to read it. When the last reader runs it gets
//! the value *owned* (so element-wise layers reuse the buffer), and the value is gone from
//! the table; a big model thus never holds more than its live activations.

use std::borrow::Cow;
use std::collections::HashMap;

use ndarray::ArrayD;
use tf2h5_keras::{KerasModel, Layer, LayerError};

use tf2h5_keras::spec::LayerSpec;

use crate::config::LayerConfig;
use crate::layers::{self, input_layer, LayerFn};
use crate::mask::{self, Flow};
use crate::tensor::Input;
use crate::EngineError;

/// What computes a layer.
enum Kind {
    /// An `InputLayer`, fed the caller's array at this position of `model.inputs`.
    Input(usize),
    /// Any other layer: its spec, parsed once, and its family's kernel.
    Apply(Box<LayerSpec>, LayerFn),
}

/// One layer to run.
struct Step {
    /// Index into `model.layers`.
    layer: usize,
    /// Indices into `model.layers` of its inputs, in `inbound` order.
    inbound: Vec<usize>,
    kind: Kind,
    /// How it makes or reads a Keras mask.
    mask: Flow,
}

/// A checked, resolved execution order for one model.
pub(crate) struct Plan<'m> {
    model: &'m KerasModel,
    steps: Vec<Step>,
    /// Per layer: how many step inputs read it (0 for layers that are not run).
    readers: Vec<usize>,
    /// Per layer: whether it is a model output (so never consumed by a reader).
    is_output: Vec<bool>,
    outputs: Vec<usize>,
    keep_all: bool,
}

impl<'m> Plan<'m> {
    /// Checks the model's structure and resolves every layer that has to run: all of them
    /// when `keep_all`, otherwise only those the outputs depend on.
    pub fn new(model: &'m KerasModel, keep_all: bool) -> Result<Self, EngineError> {
        let n = model.layers.len();
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(n);
        let mut inbound = Vec::with_capacity(n);
        for (i, layer) in model.layers.iter().enumerate() {
            let cfg = LayerConfig::new(layer);
            let sources = layer
                .inbound
                .iter()
                .map(|source| match index.get(source.as_str()) {
                    Some(&s) => Ok(s),
                    None if model.layers.iter().any(|l| &l.name == source) => Err(cfg.invalid(format!(
                        "reads '{source}', which comes after it (layers must be in topological order)"
                    ))),
                    None => Err(cfg.invalid(format!("reads '{source}', which is not a layer of the model"))),
                })
                .collect::<Result<Vec<usize>, _>>()?;
            if index.insert(layer.name.as_str(), i).is_some() {
                return Err(cfg.invalid("another layer has the same name"));
            }
            inbound.push(sources);
        }

        if model.inputs.is_empty() {
            return Err(EngineError::Layer(LayerError::Config {
                layer: model.name.clone(),
                message: "the model has no inputs".into(),
            }));
        }
        for (position, name) in model.inputs.iter().enumerate() {
            let not_input =
                |message: &str| EngineError::Layer(LayerError::Config { layer: name.clone(), message: message.into() });
            match index.get(name.as_str()) {
                None => return Err(not_input("model input is not a layer of the model")),
                Some(&i) if model.layers[i].class_name != "InputLayer" => {
                    return Err(not_input("model input is not an InputLayer"))
                }
                Some(_) if model.inputs[..position].contains(name) => {
                    return Err(not_input("listed twice in the model's inputs"))
                }
                Some(_) => {}
            }
        }
        let outputs = model
            .outputs
            .iter()
            .map(|name| {
                index.get(name.as_str()).copied().ok_or_else(|| {
                    EngineError::Layer(LayerError::Config {
                        layer: name.clone(),
                        message: "model output is not a layer of the model".into(),
                    })
                })
            })
            .collect::<Result<Vec<usize>, _>>()?;
        if outputs.is_empty() {
            return Err(EngineError::Layer(LayerError::Config {
                layer: model.name.clone(),
                message: "the model has no outputs".into(),
            }));
        }

        // Layers the outputs depend on; inbound indices are always earlier, so one reverse
        // sweep finds them all.
        let mut needed = vec![keep_all; n];
        outputs.iter().for_each(|&o| needed[o] = true);
        for i in (0..n).rev() {
            if needed[i] {
                inbound[i].iter().for_each(|&s| needed[s] = true);
            }
        }

        let mut steps = Vec::with_capacity(n);
        let mut readers = vec![0; n];
        // The mask each layer's output carries (by its maker's index).
        let mut carried: Vec<Option<usize>> = vec![None; n];
        for (i, (layer, sources)) in model.layers.iter().zip(inbound).enumerate() {
            if !needed[i] {
                continue;
            }
            let kind = step_kind(model, layer, &sources)?;
            let mask = match &kind {
                Kind::Input(_) => Flow::default(),
                Kind::Apply(spec, _) => {
                    let input_masks: Vec<Option<usize>> = sources.iter().map(|&s| carried[s]).collect();
                    mask::flow(spec, layer, i, &input_masks, &model.layers)?
                }
            };
            carried[i] = mask.carries;
            sources.iter().for_each(|&s| readers[s] += 1);
            steps.push(Step { layer: i, inbound: sources, kind, mask });
        }
        let mut is_output = vec![false; n];
        outputs.iter().for_each(|&o| is_output[o] = true);
        Ok(Plan { model, steps, readers, is_output, outputs, keep_all })
    }

    /// Runs the plan and returns the model's outputs in order.
    pub fn run_outputs(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, EngineError> {
        let mut values = self.execute(inputs)?;
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for (k, &o) in self.outputs.iter().enumerate() {
            // The same layer may be listed twice: only its last listing takes the value.
            let value = if self.outputs[k + 1..].contains(&o) { values[o].clone() } else { values[o].take() };
            let value = value.ok_or_else(|| self.lost(o))?;
            outputs.push(value.into_owned());
        }
        Ok(outputs)
    }

    /// Runs the plan and returns every layer's output by name.
    pub fn run_all(&self, inputs: &[ArrayD<f32>]) -> Result<HashMap<String, ArrayD<f32>>, EngineError> {
        let values = self.execute(inputs)?;
        Ok(self
            .model
            .layers
            .iter()
            .zip(values)
            .filter_map(|(layer, value)| Some((layer.name.clone(), value?.into_owned())))
            .collect())
    }

    /// Runs every step; returns the values left in the table (the outputs, or everything
    /// when `keep_all`).
    fn execute<'a>(&self, inputs: &'a [ArrayD<f32>]) -> Result<Vec<Option<Input<'a>>>, EngineError> {
        let expected = self.model.inputs.len();
        if inputs.len() != expected {
            let layer = self.model.inputs.get(inputs.len()).or(self.model.inputs.last());
            return Err(EngineError::Layer(LayerError::Config {
                layer: layer.cloned().unwrap_or_else(|| self.model.name.clone()),
                message: format!("the model takes {expected} input arrays, {} were given", inputs.len()),
            }));
        }
        let mut values: Vec<Option<Input<'a>>> = vec![None; self.model.layers.len()];
        let mut masks: Vec<Option<ArrayD<bool>>> = vec![None; self.model.layers.len()];
        let mut remaining = self.readers.clone();
        for step in &self.steps {
            let layer = &self.model.layers[step.layer];
            let output = match step.kind {
                Kind::Input(position) => {
                    let x = &inputs[position];
                    input_layer::check(layer, x)?;
                    Cow::Borrowed(x)
                }
                Kind::Apply(ref spec, apply) => {
                    // Take the values this step is the last reader of, so the layer may
                    // consume them; borrow the others.
                    let mut taken: Vec<Option<Input<'a>>> = step
                        .inbound
                        .iter()
                        .map(|&s| {
                            let last = !self.keep_all && !self.is_output[s] && remaining[s] == 1;
                            if last {
                                values[s].take()
                            } else {
                                None
                            }
                        })
                        .collect();
                    let mut args = Vec::with_capacity(step.inbound.len());
                    for (&s, taken) in step.inbound.iter().zip(taken.iter_mut()) {
                        let arg = match (taken.take(), &values[s]) {
                            (Some(owned), _) => owned,
                            (None, Some(value)) => Cow::Borrowed(&**value),
                            (None, None) => return Err(self.lost(s)),
                        };
                        args.push(arg);
                    }
                    if step.mask.makes {
                        masks[step.layer] = Some(mask::compute(spec, layer, &args[0])?);
                    }
                    let output = match step.mask.reads {
                        Some(maker) => {
                            let mask = masks[maker].as_ref().ok_or_else(|| self.lost(maker))?;
                            layers::apply_masked(spec, layer, args, mask)?
                        }
                        None => apply(spec, layer, args)?,
                    };
                    Cow::Owned(output)
                }
            };
            for &s in &step.inbound {
                remaining[s] -= 1;
                if remaining[s] == 0 && !self.keep_all && !self.is_output[s] {
                    values[s] = None;
                }
            }
            values[step.layer] = Some(output);
        }
        Ok(values)
    }

    /// The error for a value that should still be in the table (an engine bug, reported
    /// rather than panicking).
    fn lost(&self, layer: usize) -> EngineError {
        EngineError::Layer(LayerError::Config {
            layer: self.model.layers[layer].name.clone(),
            message: "internal error: output freed before its last reader ran".into(),
        })
    }
}

/// Resolves how to compute `layer`, checking the parts of its structure that do not depend
/// on the input data.
fn step_kind(model: &KerasModel, layer: &Layer, sources: &[usize]) -> Result<Kind, EngineError> {
    let cfg = LayerConfig::new(layer);
    if layer.class_name == "InputLayer" {
        if !sources.is_empty() {
            return Err(cfg.invalid("an InputLayer cannot read other layers"));
        }
        let position = model
            .inputs
            .iter()
            .position(|name| name == &layer.name)
            .ok_or_else(|| cfg.invalid("this InputLayer is not one of the model's inputs"))?;
        return Ok(Kind::Input(position));
    }
    let spec = LayerSpec::parse(layer).map_err(|e| cfg.keras_error(e))?;
    let unsupported = || EngineError::Unsupported { layer: layer.name.clone(), class_name: layer.class_name.clone() };
    let apply = layers::lookup(spec.family()).filter(|_| layers::runs(&spec)).ok_or_else(unsupported)?;
    cfg.require_float32()?;
    if sources.is_empty() {
        return Err(cfg.invalid("has no inbound layer"));
    }
    Ok(Kind::Apply(Box::new(spec), apply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{run, run_all_layers};
    use ndarray::{array, ArrayD};
    use tf2h5_keras::layers::{self, BatchNormWeights};
    use tf2h5_keras::spec::{Conv, ConvVariant, Padding, Pool, PoolKind, Window};

    fn model(layers: Vec<Layer>, inputs: &[&str], outputs: &[&str]) -> KerasModel {
        KerasModel {
            name: "m".into(),
            layers,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn ramp(shape: &[usize], scale: f32) -> ArrayD<f32> {
        let mut i = 0.0f32;
        ArrayD::from_shape_simple_fn(shape.to_vec(), || {
            i += 1.0;
            ((i * 7.0) % 13.0 - 6.0) * scale
        })
    }

    #[test]
    fn small_cnn_end_to_end() {
        let channels = 4;
        let same2 = Window { kernel: vec![3, 3], strides: vec![2, 2], dilation: vec![1, 1], padding: Padding::Same };
        let pool = Pool {
            kind: PoolKind::Max,
            window: Window { strides: vec![2, 2], ..Window::new(vec![2, 2], Padding::Valid) },
        };
        let bn = BatchNormWeights {
            gamma: ArrayD::from_elem(vec![channels], 1.5),
            beta: ArrayD::from_elem(vec![channels], 0.1),
            moving_mean: ArrayD::from_elem(vec![channels], 0.2),
            moving_variance: ArrayD::from_elem(vec![channels], 2.0),
        };
        let m = model(
            vec![
                layers::input_layer("image", &[None, Some(8), Some(8), Some(3)]),
                Conv::new(same2, ConvVariant::Standard { filters: channels, groups: 1 }).layer(
                    "conv",
                    "image".into(),
                    vec![ramp(&[3, 3, 3, channels], 0.1)],
                    Some(ramp(&[channels], 0.01)),
                ),
                layers::batch_normalization("bn", "conv".into(), 1e-3, bn),
                layers::relu("relu", "bn".into(), None),
                LayerSpec::Pool(pool).layer("pool", vec!["relu".into()], vec![]),
                layers::flatten("flatten", "pool".into()),
                layers::dense(
                    "dense",
                    "flatten".into(),
                    ramp(&[2 * 2 * channels, 5], 0.05),
                    Some(ramp(&[5], 0.1)),
                    "softmax",
                ),
            ],
            &["image"],
            &["dense"],
        );
        let x = ramp(&[3, 8, 8, 3], 0.3);
        let outputs = run(&m, std::slice::from_ref(&x)).unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].shape(), [3, 5]);
        for row in outputs[0].rows() {
            approx::assert_abs_diff_eq!(row.sum(), 1.0, epsilon = 1e-6);
            assert!(row.iter().all(|&p| p > 0.0));
        }
        let all = run_all_layers(&m, std::slice::from_ref(&x)).unwrap();
        assert_eq!(all.len(), 7);
        assert_eq!(all["image"], x);
        assert_eq!(all["conv"].shape(), [3, 4, 4, channels]);
        assert_eq!(all["pool"].shape(), [3, 2, 2, channels]);
        assert_eq!(all["flatten"].shape(), [3, 16]);
        assert_eq!(all["dense"], outputs[0]);
    }

    #[test]
    fn branches_reuse_and_output_intermediates() {
        // x -> a (relu) -> add(a, a) ; a is also a model output ; b (sigmoid) is dead in `run`.
        let m = model(
            vec![
                layers::input_layer("x", &[None, Some(2)]),
                layers::activation("a", "x".into(), "relu"),
                layers::add("sum", vec!["a".into(), "a".into()]),
                layers::activation("b", "x".into(), "sigmoid"),
                layers::concatenate("cat", vec!["sum".into(), "x".into()], -1),
            ],
            &["x"],
            &["cat", "a", "a"],
        );
        let x = array![[-1.0f32, 2.0]].into_dyn();
        let out = run(&m, std::slice::from_ref(&x)).unwrap();
        assert_eq!(out[0], array![[0.0f32, 4.0, -1.0, 2.0]].into_dyn());
        assert_eq!(out[1], array![[0.0f32, 2.0]].into_dyn());
        assert_eq!(out[2], out[1]);
        assert_eq!(x, array![[-1.0f32, 2.0]].into_dyn(), "inputs are never modified");
        let all = run_all_layers(&m, &[x]).unwrap();
        assert_eq!(all.len(), 5);
        assert!(all.contains_key("b"));
    }

    #[test]
    fn structural_errors_name_the_layer() {
        let unsupported = model(
            vec![layers::input_layer("x", &[None, Some(2)]), {
                let mut l = layers::activation("lam", "x".into(), "relu");
                l.class_name = "Lambda".into();
                l
            }],
            &["x"],
            &["lam"],
        );
        let err = run(&unsupported, &[ArrayD::zeros(vec![1, 2])]).unwrap_err();
        assert!(
            matches!(&err, EngineError::Unsupported { layer, class_name } if layer == "lam" && class_name == "Lambda")
        );
        assert!(err.to_string().contains("Lambda") && err.to_string().contains("lam"));

        let unordered = model(
            vec![
                layers::input_layer("x", &[None, Some(2)]),
                layers::activation("a", "b".into(), "relu"),
                layers::activation("b", "x".into(), "relu"),
            ],
            &["x"],
            &["a"],
        );
        let err = run(&unordered, &[ArrayD::zeros(vec![1, 2])]).unwrap_err();
        assert!(matches!(&err, EngineError::Layer(LayerError::Config { layer, .. }) if layer == "a"), "{err}");

        let good = model(
            vec![layers::input_layer("x", &[None, Some(2)]), layers::activation("a", "x".into(), "relu")],
            &["x"],
            &["a"],
        );
        assert!(run(&good, &[]).is_err());
        let err = run(&good, &[ArrayD::zeros(vec![1, 3])]).unwrap_err();
        assert!(matches!(&err, EngineError::Layer(LayerError::Shape { layer, .. }) if layer == "x"), "{err}");
        let bad_output = model(good.layers.clone(), &["x"], &["nope"]);
        assert!(run(&bad_output, &[ArrayD::zeros(vec![1, 2])]).is_err());
    }
}

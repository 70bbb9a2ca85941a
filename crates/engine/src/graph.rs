//! Running a model's layer graph: resolve every layer's inputs and function once, then walk
//! the layers in their (topological) order.
//!
//! Memory: each value counts the layers still to read it. When the last reader runs it gets
//! the value *owned* (so element-wise layers reuse the buffer), and the value is gone from
//! the table; a big model thus never holds more than its live activations.

use std::borrow::Cow;
use std::collections::HashMap;

use ndarray::ArrayD;
use tf2h5_keras::{KerasModel, Layer, LayerError, LayerOutput};

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
    /// The value slots of its inputs, in `inbound` order.
    inbound: Vec<usize>,
    kind: Kind,
    /// How it makes or reads a Keras mask.
    mask: Flow,
}

/// A checked, resolved execution order for one model.
///
/// Every layer output has a value slot: a layer's outputs take consecutive slots from
/// `first_slot[layer]` (one for most layers; a recurrent layer with `return_state` also
/// returns its states).
pub(crate) struct Plan<'m> {
    model: &'m KerasModel,
    steps: Vec<Step>,
    /// Per layer: the slot of its output 0.
    first_slot: Vec<usize>,
    /// Per slot: how many step inputs read it (0 for layers that are not run).
    readers: Vec<usize>,
    /// Per slot: whether it is a model output (so never consumed by a reader).
    is_output: Vec<bool>,
    /// The slots of the model's outputs.
    outputs: Vec<usize>,
    keep_all: bool,
}

impl<'m> Plan<'m> {
    /// Checks the model's structure and resolves every layer that has to run: all of them
    /// when `keep_all`, otherwise only those the outputs depend on.
    pub fn new(model: &'m KerasModel, keep_all: bool) -> Result<Self, EngineError> {
        let n = model.layers.len();
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        let mut first_slot = Vec::with_capacity(n);
        let mut slot_count = 0;
        let mut inbound = Vec::with_capacity(n);
        for (i, layer) in model.layers.iter().enumerate() {
            let cfg = LayerConfig::new(layer);
            let sources = layer
                .inbound
                .iter()
                .map(|source| match index.get(source.layer.as_str()) {
                    Some(&s) => slot_of(&cfg, model, &kinds, &first_slot, s, source),
                    None if model.layers.iter().any(|l| l.name == source.layer) => Err(cfg.invalid(format!(
                        "reads '{source}', which comes after it (layers must be in topological order)"
                    ))),
                    None => Err(cfg.invalid(format!("reads '{source}', which is not a layer of the model"))),
                })
                .collect::<Result<Vec<usize>, _>>()?;
            if index.insert(layer.name.as_str(), i).is_some() {
                return Err(cfg.invalid("another layer has the same name"));
            }
            // Settled here for the output count; an error only matters if the layer must run.
            let kind = step_kind(model, layer, sources.len());
            first_slot.push(slot_count);
            slot_count += output_count(&kind);
            kinds.push(kind);
            inbound.push(sources);
        }
        // The layer owning each slot.
        let mut layer_of_slot = Vec::with_capacity(slot_count);
        for (i, kind) in kinds.iter().enumerate() {
            layer_of_slot.extend(std::iter::repeat_n(i, output_count(kind)));
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
            .map(|output| {
                let missing = || {
                    EngineError::Layer(LayerError::Config {
                        layer: output.to_string(),
                        message: "model output is not a layer of the model".into(),
                    })
                };
                let &i = index.get(output.layer.as_str()).ok_or_else(missing)?;
                slot_of(&LayerConfig::new(&model.layers[i]), model, &kinds, &first_slot, i, output)
            })
            .collect::<Result<Vec<usize>, _>>()?;
        if outputs.is_empty() {
            return Err(EngineError::Layer(LayerError::Config {
                layer: model.name.clone(),
                message: "the model has no outputs".into(),
            }));
        }

        // Layers the outputs depend on; inbound layers are always earlier, so one reverse
        // sweep finds them all.
        let mut needed = vec![keep_all; n];
        outputs.iter().for_each(|&o| needed[layer_of_slot[o]] = true);
        for i in (0..n).rev() {
            if needed[i] {
                inbound[i].iter().for_each(|&s| needed[layer_of_slot[s]] = true);
            }
        }

        let mut steps = Vec::with_capacity(n);
        let mut readers = vec![0; slot_count];
        // The mask each slot carries (by its maker's index): only a layer's output 0 does
        // (Keras gives a recurrent layer's states no mask).
        let mut carried: Vec<Option<usize>> = vec![None; slot_count];
        for (i, ((layer, sources), kind)) in model.layers.iter().zip(inbound).zip(kinds).enumerate() {
            if !needed[i] {
                continue;
            }
            let kind = kind?;
            let mask = match &kind {
                Kind::Input(_) => Flow::default(),
                Kind::Apply(spec, _) => {
                    let input_masks: Vec<Option<usize>> = sources.iter().map(|&s| carried[s]).collect();
                    mask::flow(spec, layer, i, &input_masks, &model.layers)?
                }
            };
            carried[first_slot[i]] = mask.carries;
            sources.iter().for_each(|&s| readers[s] += 1);
            steps.push(Step { layer: i, inbound: sources, kind, mask });
        }
        let mut is_output = vec![false; slot_count];
        outputs.iter().for_each(|&o| is_output[o] = true);
        Ok(Plan { model, steps, first_slot, readers, is_output, outputs, keep_all })
    }

    /// Runs the plan and returns the model's outputs in order.
    pub fn run_outputs(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, EngineError> {
        let mut values = self.execute(inputs)?;
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for (k, &o) in self.outputs.iter().enumerate() {
            // The same output may be listed twice: only its last listing takes the value.
            let value = if self.outputs[k + 1..].contains(&o) { values[o].clone() } else { values[o].take() };
            let value = value.ok_or_else(|| self.lost(o))?;
            outputs.push(value.into_owned());
        }
        Ok(outputs)
    }

    /// Runs the plan and returns every layer's outputs by name: output 0 under the layer's
    /// name, output `k` under `name:k` (see [`tf2h5_keras::LayerOutput`]).
    pub fn run_all(&self, inputs: &[ArrayD<f32>]) -> Result<HashMap<String, ArrayD<f32>>, EngineError> {
        let mut values = self.execute(inputs)?;
        let mut all = HashMap::with_capacity(values.len());
        for (i, layer) in self.model.layers.iter().enumerate() {
            let end = self.first_slot.get(i + 1).copied().unwrap_or(values.len());
            let first = self.first_slot[i];
            for (k, value) in values[first..end].iter_mut().enumerate() {
                if let Some(value) = value.take() {
                    all.insert(LayerOutput::new(layer.name.clone(), k).to_string(), value.into_owned());
                }
            }
        }
        Ok(all)
    }

    /// Runs every step; returns the values left in the slots (the outputs, or everything
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
        let mut values: Vec<Option<Input<'a>>> = vec![None; self.readers.len()];
        let mut masks: Vec<Option<ArrayD<bool>>> = vec![None; self.model.layers.len()];
        let mut remaining = self.readers.clone();
        for step in &self.steps {
            let layer = &self.model.layers[step.layer];
            let first = self.first_slot[step.layer];
            match step.kind {
                Kind::Input(position) => {
                    let x = &inputs[position];
                    input_layer::check(layer, x)?;
                    values[first] = Some(Cow::Borrowed(x));
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
                    let outputs = match step.mask.reads {
                        Some(maker) => {
                            let mask = masks[maker].as_ref().ok_or_else(|| self.lost(self.first_slot[maker]))?;
                            layers::apply_masked(spec, layer, args, mask)?
                        }
                        None => apply(spec, layer, args)?,
                    };
                    let count = spec.output_count();
                    if outputs.len() != count {
                        return Err(LayerConfig::new(layer)
                            .invalid(format!("internal error: {} outputs instead of {count}", outputs.len())));
                    }
                    for (k, output) in outputs.into_iter().enumerate() {
                        values[first + k] = Some(Cow::Owned(output));
                    }
                }
            }
            for &s in &step.inbound {
                remaining[s] -= 1;
                if remaining[s] == 0 && !self.keep_all && !self.is_output[s] {
                    values[s] = None;
                }
            }
        }
        Ok(values)
    }

    /// The error for a value that should still be in its slot (an engine bug, reported
    /// rather than panicking).
    fn lost(&self, slot: usize) -> EngineError {
        let layer = self.first_slot.partition_point(|&first| first <= slot).saturating_sub(1);
        EngineError::Layer(LayerError::Config {
            layer: self.model.layers[layer].name.clone(),
            message: "internal error: output freed before its last reader ran".into(),
        })
    }
}

/// How many outputs a layer returns (one for a layer the engine cannot run).
fn output_count(kind: &Result<Kind, EngineError>) -> usize {
    match kind {
        Ok(Kind::Apply(spec, _)) => spec.output_count(),
        Ok(Kind::Input(_)) | Err(_) => 1,
    }
}

/// The slot of `source`, an output of the (earlier) layer `layer`; an error, in the words of
/// the layer reading it (`cfg`), when the layer has no such output.
fn slot_of(
    cfg: &LayerConfig<'_>,
    model: &KerasModel,
    kinds: &[Result<Kind, EngineError>],
    first_slot: &[usize],
    layer: usize,
    source: &LayerOutput,
) -> Result<usize, EngineError> {
    let count = output_count(&kinds[layer]);
    if source.index >= count {
        return Err(cfg.invalid(format!(
            "reads output {} of '{}', which has {count} output(s)",
            source.index, model.layers[layer].name
        )));
    }
    Ok(first_slot[layer] + source.index)
}

/// Resolves how to compute `layer`, checking the parts of its structure that do not depend
/// on the input data.
fn step_kind(model: &KerasModel, layer: &Layer, sources: usize) -> Result<Kind, EngineError> {
    let cfg = LayerConfig::new(layer);
    if layer.class_name == "InputLayer" {
        if sources != 0 {
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
    if sources == 0 {
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
            outputs: outputs.iter().map(|&s| s.into()).collect(),
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
    fn layers_with_several_outputs_are_read_by_index() {
        // seq, h, c = LSTM(return_sequences, return_state); concat(h, c); outputs [concat, c].
        let options = layers::RecurrentOptions {
            return_sequences: true,
            go_backwards: false,
            return_state: true,
            activation: "tanh",
            recurrent_activation: "sigmoid",
        };
        let lstm = |name: &str| {
            let (kernel, recurrent) = (ramp(&[3, 8], 0.1), ramp(&[2, 8], 0.1));
            layers::recurrent(name, "x".into(), layers::RecurrentKind::Lstm, options, kernel, recurrent, None)
        };
        let states = |index: usize| vec![LayerOutput::new("lstm", 1), LayerOutput::new("lstm", index)];
        let m = model(
            vec![
                layers::input_layer("x", &[None, Some(4), Some(3)]),
                lstm("lstm"),
                layers::concatenate("hc", states(2), -1),
            ],
            &["x"],
            &[],
        );
        let m = KerasModel { outputs: vec!["hc".into(), LayerOutput::new("lstm", 2)], ..m };
        let x = ramp(&[2, 4, 3], 0.2);
        let out = run(&m, std::slice::from_ref(&x)).unwrap();
        let whole = crate::layers::run_layer_outputs(&lstm("lstm"), vec![Cow::Borrowed(&x)]).unwrap();
        let hc = ndarray::concatenate(ndarray::Axis(1), &[whole[1].view(), whole[2].view()]).unwrap();
        assert_eq!(out, [hc, whole[2].clone()]);
        let all = run_all_layers(&m, std::slice::from_ref(&x)).unwrap();
        assert_eq!(all["lstm"], whole[0]);
        assert_eq!(all["lstm:2"], whole[2]);

        let mut beyond = m.clone();
        beyond.layers[2] = layers::concatenate("hc", states(3), -1);
        let err = run(&beyond, std::slice::from_ref(&x)).unwrap_err().to_string();
        assert!(err.contains("'hc'") && err.contains("output 3 of 'lstm', which has 3 output(s)"), "{err}");
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

//! Keras recurrent layers: `LSTM`, `GRU` (`reset_after` true and false), `SimpleRNN`, and
//! `Bidirectional` around any of them (merge modes `concat`, `sum`, `mul`, `ave`).
//!
//! This file reads the configs and weights; `cell.rs` runs the recurrence. Supported options:
//! `return_sequences`, `go_backwards`, `use_bias`, any activation of the shared table, and
//! `return_state` (the output, then the final states: LSTM `h, c`, GRU and SimpleRNN `h`; a
//! `Bidirectional` the forward direction's, then the backward one's).
//! Refused, each naming the option: `Bidirectional` without a merge
//! (two outputs), `stateful`, `time_major`, a `Bidirectional` with its own
//! `backward_layer`, and a `hard_sigmoid` activation (tf-keras computes 0.2·x + 0.5 and
//! Keras 3 x/6 + 0.5: the same file would predict differently in the two loaders).
//! Dropouts are identities at inference. A layer may read a Keras mask ([`apply_masked`],
//! [`run_bidirectional`]): masked steps keep the states and repeat the previous output, or
//! output zeros with `zero_output_for_mask` (which `Bidirectional` sets to return_sequences).

mod cell;

use ndarray::{ArrayD, CowArray, Ix2, IxDyn};
use serde_json::Value;
use tf2h5_keras::{Layer, Weight};

use super::activation::Activation;
use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;
use cell::{reverse_time, Cell, CellKind, Recurrence};

/// Keras `LSTM`.
pub(crate) fn apply_lstm(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<Outputs, EngineError> {
    apply_single(layer, inputs)
}

/// Keras `GRU`.
pub(crate) fn apply_gru(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<Outputs, EngineError> {
    apply_single(layer, inputs)
}

/// Keras `SimpleRNN`.
pub(crate) fn apply_simple_rnn(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<Outputs, EngineError> {
    apply_single(layer, inputs)
}

fn apply_single(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<Outputs, EngineError> {
    run_single(layer, inputs, None)
}

/// A `LSTM`, `GRU` or `SimpleRNN` reading the Keras `mask` (batch, time) of its input.
pub(crate) fn apply_masked(layer: &Layer, inputs: Vec<Input<'_>>, mask: &ArrayD<bool>) -> Result<Outputs, EngineError> {
    run_single(layer, inputs, Some(mask))
}

/// A layer's outputs: its output, then with `return_state` its final states.
type Outputs = Vec<ArrayD<f32>>;

fn run_single(layer: &Layer, inputs: Vec<Input<'_>>, mask: Option<&ArrayD<bool>>) -> Result<Outputs, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    let cell = read_cell(&cfg, &layer.weights.iter().collect::<Vec<_>>())?;
    let sequences = Sequences::of(&cfg, &x, &cell)?;
    let mask = sequences.mask(&cfg, mask, x.shape())?;
    let mask = mask.as_ref().map(|m| m.as_slice().expect("standard layout"));
    let x = x.as_standard_layout();
    let Recurrence { output, states } =
        cell.run(x.as_slice().expect("standard layout"), sequences.batch, sequences.time, mask);
    let mut outputs = vec![sequences.output(&cfg, &cell, output)?];
    if cell.return_state {
        outputs.extend(states.into_iter().map(ndarray::Array2::into_dyn));
    }
    Ok(outputs)
}

/// Keras `Bidirectional`: the wrapped layer reads the sequence forwards and a copy of it
/// (its second half of the weights) backwards, in parallel; with `return_sequences` the
/// backward outputs are put back in time order before merging, as Keras does.
pub(crate) fn apply_bidirectional(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<Outputs, EngineError> {
    run_bidirectional(layer, inputs, None)
}

/// A `Bidirectional`, reading the Keras `mask` (batch, time) of its input if given. Both
/// directions apply it (the backward one to the reversed sequence), and, as tf-keras's and
/// Keras 3's `Bidirectional` force `zero_output_for_mask = return_sequences` on the layers it
/// wraps, with return_sequences a masked step outputs zeros in either direction.
pub(crate) fn run_bidirectional(
    layer: &Layer,
    inputs: Vec<Input<'_>>,
    mask: Option<&ArrayD<bool>>,
) -> Result<Outputs, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    if layer.config.get("backward_layer").is_some_and(|v| !v.is_null()) {
        return Err(cfg.unsupported("a separate backward_layer"));
    }
    let merge = match cfg.opt_str("merge_mode")? {
        Some("concat") => Merge::Concat,
        Some("sum") => Merge::Sum,
        Some("mul") => Merge::Mul,
        Some("ave") => Merge::Average,
        None => return Err(cfg.unsupported("merge_mode None (two outputs)")),
        Some(other) => return Err(cfg.unsupported(format!("merge_mode '{other}'"))),
    };
    let inner = inner_layer(&cfg)?;
    let inner_cfg = LayerConfig::new(&inner);
    if !matches!(inner.class_name.as_str(), "LSTM" | "GRU" | "SimpleRNN") {
        return Err(cfg.unsupported(format!("wrapped layer {}", inner.class_name)));
    }
    if !layer.weights.len().is_multiple_of(2) {
        return Err(cfg.invalid(format!("expects two equal weight sets, got {} weights", layer.weights.len())));
    }
    let (forward_weights, backward_weights) = layer.weights.split_at(layer.weights.len() / 2);
    let mut forward = read_cell(&inner_cfg, &forward_weights.iter().collect::<Vec<_>>())?;
    let mut backward = read_cell(&inner_cfg, &backward_weights.iter().collect::<Vec<_>>())?;
    backward.go_backwards = !forward.go_backwards;
    for cell in [&mut forward, &mut backward] {
        cell.zero_output_for_mask = cell.return_sequences;
    }
    let sequences = Sequences::of(&inner_cfg, &x, &forward)?;
    let (batch, time) = (sequences.batch, sequences.time);
    let mask = sequences.mask(&cfg, mask, x.shape())?;
    let mask = mask.as_ref().map(|m| m.as_slice().expect("standard layout"));
    let x = x.as_standard_layout();
    let x = x.as_slice().expect("standard layout");
    let (forward_run, backward_run) =
        rayon::join(|| forward.run(x, batch, time, mask), || backward.run(x, batch, time, mask));
    let (forward_out, mut backward_out) = (forward_run.output, backward_run.output);
    let mut states: Outputs = Vec::new();
    if forward.return_state {
        states.extend(forward_run.states.into_iter().chain(backward_run.states).map(ndarray::Array2::into_dyn));
    }
    if forward.return_sequences {
        reverse_time(&mut backward_out, batch, time, backward.units);
    }
    let merged = match merge {
        Merge::Concat => {
            let units = forward.units;
            let forward_rows = forward_out.chunks_exact(units.max(1));
            let backward_rows = backward_out.chunks_exact(units.max(1));
            let mut out = Vec::with_capacity(forward_out.len() * 2);
            forward_rows.zip(backward_rows).for_each(|(f, b)| {
                out.extend_from_slice(f);
                out.extend_from_slice(b);
            });
            sequences.output_with_units(&cfg, &forward, out, 2 * units)?
        }
        Merge::Sum => sequences.output(&cfg, &forward, zip_with(forward_out, &backward_out, |f, b| f + b))?,
        Merge::Mul => sequences.output(&cfg, &forward, zip_with(forward_out, &backward_out, |f, b| f * b))?,
        Merge::Average => {
            sequences.output(&cfg, &forward, zip_with(forward_out, &backward_out, |f, b| (f + b) / 2.0))?
        }
    };
    states.insert(0, merged);
    Ok(states)
}

#[derive(Debug, Clone, Copy)]
enum Merge {
    Concat,
    Sum,
    Mul,
    Average,
}

fn zip_with(mut a: Vec<f32>, b: &[f32], f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    a.iter_mut().zip(b).for_each(|(a, b)| *a = f(*a, *b));
    a
}

/// The wrapped layer of a `Bidirectional` (`config.layer`: class_name and config), weightless.
pub(crate) fn inner_layer(cfg: &LayerConfig<'_>) -> Result<Layer, EngineError> {
    let inner = cfg.layer.config.get("layer").and_then(Value::as_object);
    let inner = inner.ok_or_else(|| cfg.invalid("config key 'layer' (the wrapped layer) is missing"))?;
    let class_name = inner.get("class_name").and_then(Value::as_str);
    let config = inner.get("config").and_then(Value::as_object);
    let (Some(class_name), Some(config)) = (class_name, config) else {
        return Err(cfg.invalid("config key 'layer' needs a class_name and a config"));
    };
    // Errors about the wrapped layer name the Bidirectional layer, whose name the user sees.
    Ok(Layer {
        name: cfg.layer.name.clone(),
        class_name: class_name.to_string(),
        config: config.clone(),
        inbound: vec![],
        weights: vec![],
    })
}

/// The cell of a LSTM/GRU/SimpleRNN config with its weights (kernel, recurrent_kernel and,
/// with `use_bias`, bias; in that order, whatever their names).
fn read_cell<'a>(cfg: &LayerConfig<'_>, weights: &[&'a Weight]) -> Result<Cell<'a>, EngineError> {
    let kind = match cfg.layer.class_name.as_str() {
        "LSTM" => CellKind::Lstm,
        "GRU" => CellKind::Gru { reset_after: cfg.bool_or("reset_after", true)? },
        "SimpleRNN" => CellKind::Simple,
        other => return Err(cfg.invalid(format!("{other} is not a recurrent layer"))),
    };
    if cfg.bool_or("stateful", false)? {
        return Err(cfg.unsupported("stateful=True"));
    }
    if cfg.bool_or("time_major", false)? {
        return Err(cfg.unsupported("time_major=True"));
    }
    let activation = rnn_activation(cfg, "activation", "tanh")?;
    let recurrent_activation = match kind {
        CellKind::Simple => Activation::Linear,
        _ => rnn_activation(cfg, "recurrent_activation", "sigmoid")?,
    };
    let use_bias = cfg.bool_or("use_bias", true)?;
    let expected = if use_bias { 3 } else { 2 };
    if weights.len() != expected {
        return Err(cfg.invalid(format!(
            "expects {expected} weights (kernel, recurrent_kernel{}), got {}",
            if use_bias { ", bias" } else { "" },
            weights.len()
        )));
    }
    let matrix = |w: &'a Weight| {
        w.value
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| cfg.shape(format!("weight '{}' must be a matrix, got {:?}", w.name, w.value.shape())))
    };
    let kernel = matrix(weights[0])?;
    let recurrent_kernel = matrix(weights[1])?;
    let gates = kind.gates();
    let units = recurrent_kernel.nrows();
    let width = gates * units;
    if recurrent_kernel.ncols() != width || kernel.ncols() != width {
        return Err(cfg.shape(format!(
            "kernel {:?} and recurrent_kernel {:?} must be (in, {gates}·units) and (units, {gates}·units)",
            kernel.shape(),
            recurrent_kernel.shape()
        )));
    }
    if let Some(declared) = cfg.opt_f64("units")? {
        if declared != units as f64 {
            return Err(
                cfg.shape(format!("config units {declared} but recurrent_kernel is {:?}", recurrent_kernel.shape()))
            );
        }
    }
    let (input_bias, recurrent_bias) = match weights.get(2) {
        None => (None, None),
        Some(bias) => {
            let flat: Vec<f32> = bias.value.iter().copied().collect();
            match (kind, bias.value.shape()) {
                (CellKind::Gru { reset_after: true }, [2, w]) if *w == width => {
                    (Some(flat[..width].to_vec()), Some(flat[width..].to_vec()))
                }
                (CellKind::Gru { reset_after: true }, shape) => {
                    return Err(cfg.shape(format!("bias is {shape:?}, expected [2, {width}] with reset_after")))
                }
                (_, [w]) if *w == width => (Some(flat), None),
                (_, shape) => return Err(cfg.shape(format!("bias is {shape:?}, expected [{width}]"))),
            }
        }
    };
    Ok(Cell {
        kind,
        units,
        activation,
        recurrent_activation,
        kernel,
        recurrent_kernel,
        input_bias,
        recurrent_bias,
        go_backwards: cfg.bool_or("go_backwards", false)?,
        return_sequences: cfg.bool_or("return_sequences", false)?,
        zero_output_for_mask: cfg.bool_or("zero_output_for_mask", false)?,
        return_state: cfg.bool_or("return_state", false)?,
    })
}

/// An RNN activation key (absent: Keras's default), refusing `hard_sigmoid` with the reason.
fn rnn_activation(cfg: &LayerConfig<'_>, key: &str, default: &str) -> Result<Activation, EngineError> {
    match cfg.opt_str(key)?.unwrap_or(default) {
        "hard_sigmoid" => Err(cfg.unsupported(format!(
            "{key} 'hard_sigmoid' (tf-keras computes 0.2·x + 0.5, Keras 3 x/6 + 0.5: no file loads the same in both)"
        ))),
        name => Activation::parse(cfg, name),
    }
}

/// The (batch, time) of a layer's input, checked against the cell's kernel.
struct Sequences {
    batch: usize,
    time: usize,
}

impl Sequences {
    fn of(cfg: &LayerConfig<'_>, x: &ArrayD<f32>, cell: &Cell<'_>) -> Result<Self, EngineError> {
        match *x.shape() {
            [batch, time, features] if features == cell.kernel.nrows() => Ok(Sequences { batch, time }),
            _ => Err(cfg.shape(format!("expects a (batch, time, {}) input, got {:?}", cell.kernel.nrows(), x.shape()))),
        }
    }

    /// The (batch, time) `mask` of these sequences (`input` is their shape), in standard layout.
    fn mask<'m>(
        &self,
        cfg: &LayerConfig<'_>,
        mask: Option<&'m ArrayD<bool>>,
        input: &[usize],
    ) -> Result<Option<CowArray<'m, bool, IxDyn>>, EngineError> {
        match mask {
            Some(mask) if mask.shape() != [self.batch, self.time] => {
                Err(cfg.shape(format!("mask {:?} does not fit the input {input:?}", mask.shape())))
            }
            Some(mask) => Ok(Some(mask.as_standard_layout())),
            None => Ok(None),
        }
    }

    fn output(&self, cfg: &LayerConfig<'_>, cell: &Cell<'_>, data: Vec<f32>) -> Result<ArrayD<f32>, EngineError> {
        self.output_with_units(cfg, cell, data, cell.units)
    }

    fn output_with_units(
        &self,
        cfg: &LayerConfig<'_>,
        cell: &Cell<'_>,
        data: Vec<f32>,
        units: usize,
    ) -> Result<ArrayD<f32>, EngineError> {
        let shape = if cell.return_sequences { vec![self.batch, self.time, units] } else { vec![self.batch, units] };
        tensor::element_count(&shape).ok_or_else(|| cfg.shape("output is too large"))?;
        ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| cfg.shape(e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::run_layer_outputs;
    use super::*;
    use ndarray::{Array, ArrayD};
    use serde_json::json;
    use tf2h5_keras::layers::{self, RecurrentKind, RecurrentOptions};
    use tf2h5_keras::LayerError;

    const OPTIONS: RecurrentOptions<'static> = RecurrentOptions {
        return_sequences: true,
        go_backwards: false,
        return_state: false,
        activation: "tanh",
        recurrent_activation: "sigmoid",
    };

    fn ramp(shape: &[usize], scale: f32) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        Array::from_shape_fn(n, |i| ((i * 7 % 11) as f32 - 5.0) * scale).into_shape_with_order(shape.to_vec()).unwrap()
    }

    fn lstm(options: RecurrentOptions<'_>) -> Layer {
        let bias = Some(ramp(&[8], 0.1));
        layers::recurrent("rnn", "x".into(), RecurrentKind::Lstm, options, ramp(&[3, 8], 0.1), ramp(&[2, 8], 0.2), bias)
    }

    fn run(layer: &Layer, x: ArrayD<f32>) -> Result<ArrayD<f32>, EngineError> {
        super::super::run_layer(layer, vec![Input::Owned(x)])
    }

    #[test]
    fn one_step_lstm_by_hand() {
        // One unit, one feature, one step from zero state: c = i·g, h = o·tanh(c).
        let layer = layers::recurrent(
            "one",
            "x".into(),
            RecurrentKind::Lstm,
            OPTIONS,
            ArrayD::from_shape_vec(vec![1, 4], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
            ArrayD::zeros(vec![1, 4]),
            Some(ArrayD::from_shape_vec(vec![4], vec![0.5, 0.0, -1.0, 0.25]).unwrap()),
        );
        let y = run(&layer, ArrayD::from_elem(vec![1, 1, 1], 0.5)).unwrap();
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        let c = sigmoid(0.5 + 0.5) * (1.5f32 - 1.0).tanh();
        let h = sigmoid(2.0 + 0.25) * c.tanh();
        assert_eq!(y.shape(), [1, 1, 1]);
        assert!((y[[0, 0, 0]] - h).abs() < 1e-6, "{} vs {h}", y[[0, 0, 0]]);
        // With return_state: [sequences, h, c].
        let mut with_state = layer.clone();
        with_state.config.insert("return_state".into(), json!(true));
        let outputs =
            run_layer_outputs(&with_state, vec![Input::Owned(ArrayD::from_elem(vec![1, 1, 1], 0.5))]).unwrap();
        assert_eq!(outputs.len(), 3);
        assert_eq!(outputs[0], y);
        assert_eq!(outputs[1], y.index_axis(ndarray::Axis(1), 0));
        assert_eq!(outputs[2].shape(), [1, 1]);
        assert!((outputs[2][[0, 0]] - c).abs() < 1e-6, "{} vs {c}", outputs[2][[0, 0]]);
    }

    #[test]
    fn return_state_returns_each_directions_final_states() {
        let x = ramp(&[2, 4, 3], 0.3);
        let last = RecurrentOptions { return_sequences: false, ..OPTIONS };
        let with_state = RecurrentOptions { return_state: true, ..last };
        let forward_last = run(&lstm(last), x.clone()).unwrap();
        let single = run_layer_outputs(&lstm(with_state), vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(single.len(), 3);
        assert_eq!(single[0], forward_last);
        assert_eq!(single[1], forward_last, "h is the last output");
        let backward_weights: Vec<ArrayD<f32>> = vec![ramp(&[3, 8], -0.1), ramp(&[2, 8], 0.15), ramp(&[8], 0.2)];
        let backward = layers::recurrent(
            "b",
            "x".into(),
            RecurrentKind::Lstm,
            RecurrentOptions { go_backwards: true, ..with_state },
            backward_weights[0].clone(),
            backward_weights[1].clone(),
            Some(backward_weights[2].clone()),
        );
        let backward_outputs = run_layer_outputs(&backward, vec![Input::Borrowed(&x)]).unwrap();
        let both = layers::bidirectional("bi", lstm(with_state), backward_weights, "sum");
        let outputs = run_layer_outputs(&both, vec![Input::Borrowed(&x)]).unwrap();
        assert_eq!(outputs.len(), 5, "[merged, h_fw, c_fw, h_bw, c_bw]");
        assert_eq!(outputs[0], &single[0] + &backward_outputs[0]);
        assert_eq!(outputs[1..3], single[1..3]);
        assert_eq!(outputs[3..5], backward_outputs[1..3]);
    }

    #[test]
    fn go_backwards_reads_the_reversed_sequence() {
        let x = ramp(&[2, 4, 3], 0.3);
        let mut reversed = x.clone();
        reversed.invert_axis(ndarray::Axis(1));
        let backwards = run(&lstm(RecurrentOptions { go_backwards: true, ..OPTIONS }), x).unwrap();
        let forwards = run(&lstm(OPTIONS), reversed).unwrap();
        assert_eq!(backwards, forwards);
    }

    #[test]
    fn bidirectional_concat_is_forward_then_reversed_backward() {
        let x = ramp(&[2, 4, 3], 0.3);
        let backward_weights: Vec<ArrayD<f32>> = vec![ramp(&[3, 8], -0.1), ramp(&[2, 8], 0.15), ramp(&[8], 0.2)];
        let backward_layer = layers::recurrent(
            "b",
            "x".into(),
            RecurrentKind::Lstm,
            RecurrentOptions { go_backwards: true, ..OPTIONS },
            backward_weights[0].clone(),
            backward_weights[1].clone(),
            Some(backward_weights[2].clone()),
        );
        let both = layers::bidirectional("bi", lstm(OPTIONS), backward_weights, "concat");
        let y = run(&both, x.clone()).unwrap();
        let forward = run(&lstm(OPTIONS), x.clone()).unwrap();
        let mut backward = run(&backward_layer, x).unwrap();
        backward.invert_axis(ndarray::Axis(1));
        let expected = ndarray::concatenate(ndarray::Axis(2), &[forward.view(), backward.view()]).unwrap();
        assert_eq!(y, expected);
    }

    #[test]
    fn masked_steps_keep_the_state_and_repeat_the_output() {
        // Steps 0 and 2 of one sequence are read; step 1 is masked, as is step 0 of another.
        let x = ramp(&[2, 3, 3], 0.3);
        let mask = ndarray::arr2(&[[true, false, true], [false, true, true]]).into_dyn();
        for kind in [RecurrentKind::Lstm, RecurrentKind::Gru { reset_after: false }, RecurrentKind::SimpleRnn] {
            let gates = match kind {
                RecurrentKind::Lstm => 4,
                RecurrentKind::Gru { .. } => 3,
                RecurrentKind::SimpleRnn => 1,
            };
            let layer = |options| {
                let kernels = (ramp(&[3, 2 * gates], 0.1), ramp(&[2, 2 * gates], 0.2));
                layers::recurrent("rnn", "x".into(), kind, options, kernels.0, kernels.1, Some(ramp(&[2 * gates], 0.1)))
            };
            let y = apply_masked(&layer(OPTIONS), vec![Input::Borrowed(&x)], &mask).unwrap().swap_remove(0);
            let unmasked_steps = |b: usize, steps: &[usize]| {
                let picked = ndarray::stack(
                    ndarray::Axis(0),
                    &steps.iter().map(|&t| x.slice(ndarray::s![b, t, ..])).collect::<Vec<_>>(),
                )
                .unwrap();
                run(&layer(OPTIONS), picked.insert_axis(ndarray::Axis(0)).into_dyn()).unwrap()
            };
            // (A GEMM over other rows may round differently: compared to 1e-6.)
            let close = |a: ndarray::ArrayViewD<f32>, b: ndarray::ArrayViewD<f32>| {
                a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(a, b)| (a - b).abs() < 1e-6)
            };
            let first = unmasked_steps(0, &[0, 2]);
            assert!(close(y.slice(ndarray::s![0, 0, ..]).into_dyn(), first.slice(ndarray::s![0, 0, ..]).into_dyn()));
            assert_eq!(y.slice(ndarray::s![0, 1, ..]), y.slice(ndarray::s![0, 0, ..]), "repeats the output");
            let kept = close(y.slice(ndarray::s![0, 2, ..]).into_dyn(), first.slice(ndarray::s![0, 1, ..]).into_dyn());
            assert!(kept, "{kind:?} kept the state");
            let second = unmasked_steps(1, &[1, 2]);
            assert!(y.slice(ndarray::s![1, 0, ..]).iter().all(|&v| v == 0.0), "zeros before the first step");
            assert!(close(
                y.slice(ndarray::s![1, 1.., ..]).into_dyn(),
                second.slice(ndarray::s![0, .., ..]).into_dyn()
            ));
            let last = RecurrentOptions { return_sequences: false, ..OPTIONS };
            let y_last = apply_masked(&layer(last), vec![Input::Borrowed(&x)], &mask).unwrap().swap_remove(0);
            assert_eq!(y_last, y.slice(ndarray::s![.., 2, ..]).into_dyn());
            let wrong = ndarray::arr2(&[[true, false]]).into_dyn();
            assert!(apply_masked(&layer(OPTIONS), vec![Input::Borrowed(&x)], &wrong).is_err());
        }
    }

    #[test]
    fn masked_bidirectional_reads_only_the_unmasked_steps_and_outputs_zeros_at_the_others() {
        // Sequence 0 has a padded tail (steps 3, 4); sequence 1 a masked step inside (1).
        let x = ramp(&[2, 5, 3], 0.3);
        let mask = ndarray::arr2(&[[true, true, true, false, false], [true, false, true, true, true]]).into_dyn();
        let backward_weights: Vec<ArrayD<f32>> = vec![ramp(&[3, 8], -0.1), ramp(&[2, 8], 0.15), ramp(&[8], 0.2)];
        let both = |options| layers::bidirectional("bi", lstm(options), backward_weights.clone(), "concat");
        let y = run_bidirectional(&both(OPTIONS), vec![Input::Borrowed(&x)], Some(&mask)).unwrap().swap_remove(0);
        // Each sequence as if only its unmasked steps were there, unmasked.
        let unmasked = |b: usize, steps: &[usize]| {
            let views: Vec<_> = steps.iter().map(|&t| x.slice(ndarray::s![b, t, ..])).collect();
            let picked = ndarray::stack(ndarray::Axis(0), &views).unwrap().insert_axis(ndarray::Axis(0));
            run(&both(OPTIONS), picked.into_dyn()).unwrap()
        };
        let close = |a: ndarray::ArrayViewD<f32>, b: ndarray::ArrayViewD<f32>| {
            a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(a, b)| (a - b).abs() < 1e-6)
        };
        for (b, steps) in [(0, vec![0, 1, 2]), (1, vec![0, 2, 3, 4])] {
            let expected = unmasked(b, &steps);
            for (k, &t) in steps.iter().enumerate() {
                let got = y.slice(ndarray::s![b, t, ..]).into_dyn();
                assert!(close(got, expected.slice(ndarray::s![0, k, ..]).into_dyn()), "sequence {b}, step {t}");
            }
        }
        for (b, t) in [(0, 3), (0, 4), (1, 1)] {
            assert!(y.slice(ndarray::s![b, t, ..]).iter().all(|&v| v == 0.0), "zeros at masked step {t} of {b}");
        }
        // Without return_sequences: the last outputs of the unmasked steps (states carried).
        let last = RecurrentOptions { return_sequences: false, ..OPTIONS };
        let y_last = run_bidirectional(&both(last), vec![Input::Borrowed(&x)], Some(&mask)).unwrap().swap_remove(0);
        let x_last = unmasked(0, &[0, 1, 2]);
        // (Two units each way: the forward ends at the last step, the backward at the first.)
        let forward_last = x_last.slice(ndarray::s![0, 2, ..2]);
        assert!(close(y_last.slice(ndarray::s![0, ..2]).into_dyn(), forward_last.into_dyn()));
        assert!(close(y_last.slice(ndarray::s![0, 2..]).into_dyn(), x_last.slice(ndarray::s![0, 0, 2..]).into_dyn()));
    }

    #[test]
    fn refusals_name_the_option() {
        let x = || ramp(&[1, 2, 3], 0.1);
        let mut layer = lstm(OPTIONS);
        layer.config.insert("recurrent_activation".into(), json!("hard_sigmoid"));
        let err = run(&layer, x()).unwrap_err().to_string();
        assert!(err.contains("'rnn'") && err.contains("hard_sigmoid") && err.contains("Keras 3"), "{err}");
        for (key, value) in [("stateful", json!(true)), ("time_major", json!(true))] {
            let mut layer = lstm(OPTIONS);
            layer.config.insert(key.into(), value);
            let err = run(&layer, x()).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        let mut both = layers::bidirectional(
            "bi",
            lstm(OPTIONS),
            lstm(OPTIONS).weights.into_iter().map(|w| w.value).collect(),
            "concat",
        );
        both.config.insert("merge_mode".into(), json!(null));
        assert!(run(&both, x()).unwrap_err().to_string().contains("merge_mode"));
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(matches!(
            run(&lstm(OPTIONS), ramp(&[1, 2, 4], 0.1)),
            Err(EngineError::Layer(LayerError::Shape { .. }))
        ));
        assert!(matches!(run(&lstm(OPTIONS), ramp(&[2, 3], 0.1)), Err(EngineError::Layer(LayerError::Shape { .. }))));
        let mut layer = lstm(OPTIONS);
        layer.weights[2].value = ramp(&[2, 8], 0.1);
        assert!(matches!(run(&layer, ramp(&[1, 2, 3], 0.1)), Err(EngineError::Layer(LayerError::Shape { .. }))));
        layer.weights.pop();
        assert!(matches!(run(&layer, ramp(&[1, 2, 3], 0.1)), Err(EngineError::Layer(LayerError::Config { .. }))));
        // An empty sequence is a zero state, as in Keras.
        let y = run(&lstm(RecurrentOptions { return_sequences: false, ..OPTIONS }), ramp(&[2, 0, 3], 0.1)).unwrap();
        assert_eq!(y, ArrayD::<f32>::zeros(vec![2, 2]));
    }
}

//! TF1 `tf.compat.v1.nn.dynamic_rnn` loops, frozen → Keras `LSTM`, `GRU`, `SimpleRNN`.
//!
//! `dynamic_rnn(cell, x)` (batch-major, no `sequence_length`) writes: `x` made time-major
//! (`Transpose` by `concat([1, 0], range(2, rank))`) and `TensorArrayScatterV3`'d into an
//! input array; a TF1 loop frame (raised back to a `While` by the loader, see
//! `tf2h5_tf::frames`) whose loop values are a counter, the time step (from 0, +1 per step),
//! the output array's flow and the cell's states (zeros from `Fill`), and whose body reads
//! `TensorArrayReadV3(input, time)`, runs the cell and `TensorArrayWriteV3`s its output at the
//! time step; after the loop, `TensorArrayGatherV3` of every step and the `Transpose` back,
//! the match's output (return_sequences). The cells project `concat(x, state)` by one kernel
//! of `features + units` rows (`rnn_cell_impl.py`):
//! - `LSTMCell`/`BasicLSTMCell`: `z = concat(x, h)·K + b` split in four `i j f o`;
//!   `c' = σ(f + forget_bias)·c + σ(i)·act(j)`, `h' = σ(o)·act(c')` → Keras's `i f c o`
//!   column blocks, `forget_bias` added to the `f` bias;
//! - `GRUCell`: `σ(concat(x, h)·K_g + b_g)` split in two `r u`; `c = act(concat(x, r·h)·K_c +
//!   b_c)`; `h' = u·h + (1 − u)·c` → Keras's `GRU(reset_after=False)` with blocks `z(=u) r h`;
//! - `BasicRNNCell`: `h' = act(concat(x, h)·K + b)` → `SimpleRNN`.
//!
//! Anything else (another cell, peepholes, projections, `sequence_length`, time-major
//! inputs, the final state read after the loop) is no match; the `While` then refuses itself,
//! naming its scope.

use ndarray::{s, ArrayD, Axis, Ix2};
use tf2h5_keras::layers::RecurrentKind;
use tf2h5_tf::pb::NodeDef;
use tf2h5_tf::{ConstTensor, TensorRef};

use super::recurrent::{self, Body, Cell, Recurrent, Weights};
use super::{Kind, Match, View};

/// The layer ending at `output`, the batch-major `Transpose` of the gathered outputs, if it
/// is one.
pub(super) fn find(view: &View, output: &NodeDef) -> Option<Match> {
    if output.op != "Transpose" || perm(view, &view.input(output, 1)?)? != [1, 0, 2] {
        return None;
    }
    let gather = view.producer(&view.input(output, 0)?, &["TensorArrayGatherV3"])?;
    let outputs = view.producer(&view.input(gather, 0)?, &["TensorArrayV3"])?;
    // Every element of the output array, in order.
    let size = view.input(outputs, 0)?;
    (whole_range(view, &view.input(gather, 1)?)? == size).then_some(())?;
    let flow = view.input(gather, 2)?;
    let (while_node, body, cond, loop_inputs) = recurrent::loop_parts(view, &flow)?;
    let body = Body::new(&body);
    // The body writes the step's output at the time step into the output array.
    let out_slot = flow.output;
    (loop_inputs[out_slot] == TensorRef { node: outputs.name.clone(), output: 1 }).then_some(())?;
    let write = body.producer(body.f.outputs.get(out_slot)?, "TensorArrayWriteV3")?;
    let handle = |slot: usize| loop_inputs[slot] == TensorRef { node: outputs.name.clone(), output: 0 };
    (handle(body.arg(&body.input(write, 0)?)?) && body.arg(&body.input(write, 3)?)? == out_slot).then_some(())?;
    let time_slot = body.arg(&body.input(write, 1)?)?;
    let new_h = body.input(write, 2)?;
    recurrent::counts_time(view, &body, &cond, &loop_inputs, time_slot)?;
    // It reads the step's input at the time step from the array `x` was scattered into.
    let [read] = body.f.nodes.iter().filter(|n| n.op == "TensorArrayReadV3").collect::<Vec<_>>()[..] else {
        return None;
    };
    (body.arg(&body.input(read, 1)?)? == time_slot).then_some(())?;
    let inputs = view.producer(&loop_inputs[body.arg(&body.input(read, 0)?)?], &["TensorArrayV3"])?;
    let scatter = view.producer(&loop_inputs[body.arg(&body.input(read, 2)?)?], &["TensorArrayScatterV3"])?;
    let scattered_into =
        |i: usize, output: usize| view.input(scatter, i) == Some(TensorRef { node: inputs.name.clone(), output });
    (scattered_into(0, 0) && scattered_into(3, 1)).then_some(())?;
    // (TF checks that the indices cover the scattered rows: element t is row t.)
    whole_range(view, &view.input(scatter, 1)?)?;
    let time_major = view.producer(&view.input(scatter, 2)?, &["Transpose"])?;
    (perm(view, &view.input(time_major, 1)?)? == [1, 0, 2]).then_some(())?;
    let input = view.input(time_major, 0)?;
    // The cell, its weights and states (each from zeros, returned as the cell computes it).
    let x = TensorRef { node: read.name.clone(), output: 0 };
    let weights = Weights { view, body: &body, loop_inputs: &loop_inputs };
    let cell = lstm(&body, &weights, &x, &new_h)
        .or_else(|| gru(&body, &weights, &x, &new_h))
        .or_else(|| basic_rnn(&body, &weights, &x, &new_h))?;
    for (slot, new_state) in &cell.states {
        (body.resolve(&body.f.outputs[*slot]) == *new_state).then_some(())?;
        recurrent::is_zeros(view, &loop_inputs[*slot])?;
    }
    let inner = recurrent::layer_nodes(view, output, &[&input], &[])?;
    let recurrent = Recurrent {
        input,
        mask: None,
        scope: tf2h5_tf::loop_scope(&while_node.name),
        kind: cell.kind,
        activation: cell.activation,
        recurrent_activation: cell.recurrent_activation,
        return_sequences: true,
        go_backwards: false,
        zero_output_for_mask: false,
        kernel: cell.kernel,
        recurrent_kernel: cell.recurrent_kernel,
        bias: cell.bias,
        while_node: while_node.name.clone(),
        output_read: true,
        states: Vec::new(),
    };
    Some(Match { inner, kind: Kind::Recurrent(Box::new(recurrent)) })
}

/// Longest permutation or index range computed here (a transpose's is a handful).
const MAX_COMPUTED_INTS: i64 = 64;

/// A permutation: a constant, or `dynamic_rnn`'s `concat([1, 0], range(2, rank))` computed.
fn perm(view: &View, tensor: &TensorRef) -> Option<Vec<i64>> {
    if let Some(ints) = view.ints(tensor) {
        return Some(ints);
    }
    let concat = view.producer(tensor, &["ConcatV2"])?;
    let parts: Vec<TensorRef> =
        view.graph.data_inputs(concat).map(|r| crate::context::resolve(view.graph, &r)).collect();
    let (axis, parts) = parts.split_last()?;
    (view.ints(axis)? == [0]).then_some(())?;
    let mut ints = Vec::new();
    for part in parts {
        match view.ints(part) {
            Some(values) => ints.extend(values),
            None => {
                let range = view.producer(part, &["Range"])?;
                let bound = |i: usize| match view.ints(&view.input(range, i)?)?[..] {
                    [v] => Some(v),
                    _ => None,
                };
                let (start, limit, delta) = (bound(0)?, bound(1)?, bound(2)?);
                (delta == 1 && (0..=MAX_COMPUTED_INTS).contains(&(limit - start))).then_some(())?;
                ints.extend(start..limit);
            }
        }
    }
    Some(ints)
}

/// `Range(0, n, 1)`, the indices of every element of an array of `n`: `n`.
fn whole_range(view: &View, tensor: &TensorRef) -> Option<TensorRef> {
    let range = view.producer(tensor, &["Range"])?;
    let one = |i: usize, v: i64| view.ints(&view.input(range, i)?).is_some_and(|ints| ints == [v]).then_some(());
    one(0, 0)?;
    one(2, 1)?;
    view.input(range, 1)
}

/// A kernel's rows for the step's input and for a state, the bias, and that state.
type ConcatProjection = (ArrayD<f32>, ArrayD<f32>, Option<ArrayD<f32>>, TensorRef);

/// `concat(x, s)·K (+ b)` along the features, as TF1's cells project the step's input and a
/// state in one product: `(K's rows for x, K's rows for s, b, s)`, `K` having `gates·units`
/// columns and `units` rows for `s`.
fn concat_projection(
    body: &Body,
    weights: &Weights,
    tensor: &TensorRef,
    x: &TensorRef,
    gates: usize,
) -> Option<ConcatProjection> {
    let (product, bias) = match body.producer(tensor, "BiasAdd") {
        Some(add) => (body.input(add, 0)?, Some(weights.value(&body.input(add, 1)?)?)),
        None => (tensor.clone(), None),
    };
    let (joined, kernel) = body.matmul(&product)?;
    let concat = body.producer(&joined, "ConcatV2")?;
    let [first, state, axis] = [body.input(concat, 0)?, body.input(concat, 1)?, body.input(concat, 2)?];
    let axis = body.int_constant(&axis)?;
    (body.input(concat, 3).is_none() && (axis == 1 || axis == -1) && first == *x).then_some(())?;
    let kernel = weights.value(&kernel)?.into_dimensionality::<Ix2>().ok()?;
    let (rows, columns) = kernel.dim();
    let units = columns / gates;
    (gates > 0 && columns % gates == 0 && rows > units).then_some(())?;
    let features = rows - units;
    let input_rows = kernel.slice(s![..features, ..]).to_owned().into_dyn();
    let state_rows = kernel.slice(s![features.., ..]).to_owned().into_dyn();
    Some((input_rows, state_rows, bias, state))
}

/// The last axis of `array` cut in `parts` equal blocks, put back in the `order` given.
fn blocks(array: &ArrayD<f32>, parts: usize, order: &[usize]) -> Option<ArrayD<f32>> {
    let axis = Axis(array.ndim().checked_sub(1)?);
    let width = array.len_of(axis) / parts;
    let views: Vec<_> =
        order.iter().map(|&k| array.slice_axis(axis, ndarray::Slice::from(k * width..(k + 1) * width))).collect();
    ndarray::concatenate(axis, &views).ok()
}

/// `LSTMCell`/`BasicLSTMCell`: gates `i j f o` of `concat(x, h)·K + b`, `forget_bias` added
/// to `f` before its sigmoid.
fn lstm(body: &Body, weights: &Weights, x: &TensorRef, new_h: &TensorRef) -> Option<Cell> {
    let gate = |k: usize| {
        move |t: &TensorRef| -> Option<(&'static str, TensorRef)> {
            let (act, input) = body.activation(t)?;
            Some((act, body.split(&input, 4, k)?))
        }
    };
    // h' = σ(o)·act(c')
    let ((recurrent_activation, z), out) = body.operands(new_h, &["Mul"], gate(3))?;
    let (activation, new_c) = body.activation(&out)?;
    // c' = σ(f + forget_bias)·c + σ(i)·act(j)
    let forget = |t: &TensorRef| -> Option<(usize, f32)> {
        let node = body.node(t).filter(|n| n.op == "Mul")?;
        let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
        let found = [(&a, &b), (&b, &a)].into_iter().find_map(|(g, c)| {
            let (act, f_in) = body.activation(g)?;
            let is_f = |t: &TensorRef| (body.split(t, 4, 2).as_ref() == Some(&z)).then_some(());
            let forget_bias = match body.operands(&f_in, &["AddV2", "Add"], is_f) {
                Some(((), bias)) => scalar(body, &bias)?,
                None => is_f(&f_in).map(|()| 0.0)?,
            };
            (act == recurrent_activation).then_some((body.arg(c)?, forget_bias))
        });
        found
    };
    let ((c_slot, forget_bias), candidate) = body.operands(&new_c, &["AddV2", "Add"], forget)?;
    let ((act_i, zi), j) = body.operands(&candidate, &["Mul"], gate(0))?;
    let (act_j, zj) = body.activation(&j)?;
    (act_i == recurrent_activation && zi == z && act_j == activation && body.split(&zj, 4, 1)? == z).then_some(())?;
    let (kernel, recurrent_kernel, bias, h) = concat_projection(body, weights, &z, x, 4)?;
    let h_slot = body.arg(&h)?;
    // Keras's gate order is i f c o; its bias holds the forget bias.
    let order = [0, 2, 1, 3];
    let units = recurrent_kernel.shape()[0];
    let mut bias = match bias {
        Some(bias) => blocks(&bias, 4, &order)?,
        None => ArrayD::zeros(vec![4 * units]),
    };
    (bias.len() == 4 * units).then_some(())?;
    bias.slice_axis_mut(Axis(0), ndarray::Slice::from(units..2 * units)).mapv_inplace(|b| b + forget_bias);
    Some(Cell {
        kind: RecurrentKind::Lstm,
        activation,
        recurrent_activation,
        kernel: blocks(&kernel, 4, &order)?,
        recurrent_kernel: blocks(&recurrent_kernel, 4, &order)?,
        bias: Some(bias),
        states: vec![(h_slot, body.resolve(new_h)), (c_slot, body.resolve(&new_c))],
    })
}

/// `GRUCell`: `σ(concat(x, h)·K_g + b_g)` split in `r u`, `c = act(concat(x, r·h)·K_c + b_c)`,
/// `h' = u·h + (1 − u)·c`.
fn gru(body: &Body, weights: &Weights, x: &TensorRef, new_h: &TensorRef) -> Option<Cell> {
    let (u, h_slot, c) = recurrent::gru_update(body, new_h)?;
    let (activation, candidate) = body.activation(&c)?;
    let gates = body.split(&u, 2, 1)?;
    let (recurrent_activation, gate_inputs) = body.activation(&gates)?;
    let (gate_kernel, gate_recurrent, gate_bias, h) = concat_projection(body, weights, &gate_inputs, x, 2)?;
    let (kernel, recurrent_kernel, bias, reset_h) = concat_projection(body, weights, &candidate, x, 1)?;
    (body.arg(&h)? == h_slot).then_some(())?;
    let is_r = |t: &TensorRef| (body.split(t, 2, 0).as_ref() == Some(&gates)).then_some(());
    let ((), state) = body.operands(&reset_h, &["Mul"], is_r)?;
    (body.arg(&state)? == h_slot).then_some(())?;
    let units = recurrent_kernel.shape()[0];
    let zeros = |n: usize| ArrayD::zeros(vec![n]);
    let (gate_bias, bias) = (gate_bias.unwrap_or_else(|| zeros(2 * units)), bias.unwrap_or_else(|| zeros(units)));
    // Keras's blocks are z(= u) r h.
    let joined = |gate: &ArrayD<f32>, candidate: &ArrayD<f32>| -> Option<ArrayD<f32>> {
        let axis = Axis(gate.ndim().checked_sub(1)?);
        ndarray::concatenate(axis, &[blocks(gate, 2, &[1, 0])?.view(), candidate.view()]).ok()
    };
    Some(Cell {
        kind: RecurrentKind::Gru { reset_after: false },
        activation,
        recurrent_activation,
        kernel: joined(&gate_kernel, &kernel)?,
        recurrent_kernel: joined(&gate_recurrent, &recurrent_kernel)?,
        bias: Some(joined(&gate_bias, &bias)?),
        states: vec![(h_slot, body.resolve(new_h))],
    })
}

/// `BasicRNNCell`: `h' = act(concat(x, h)·K + b)`.
fn basic_rnn(body: &Body, weights: &Weights, x: &TensorRef, new_h: &TensorRef) -> Option<Cell> {
    let (activation, z) = body.activation(new_h)?;
    let (kernel, recurrent_kernel, bias, h) = concat_projection(body, weights, &z, x, 1)?;
    Some(Cell {
        kind: RecurrentKind::SimpleRnn,
        activation,
        recurrent_activation: "sigmoid",
        kernel,
        recurrent_kernel,
        bias,
        states: vec![(body.arg(&h)?, body.resolve(new_h))],
    })
}

/// A float constant of one value, in the body.
fn scalar(body: &Body, tensor: &TensorRef) -> Option<f32> {
    let node = body.producer(tensor, "Const")?;
    match ConstTensor::from_node(node).ok()?.as_f32()?.as_slice()? {
        [v] => Some(*v),
        _ => None,
    }
}

//! tf-keras recurrent layers, as TF2 SavedModels hold them → Keras `LSTM`, `GRU`, `SimpleRNN`.
//!
//! tf-keras compiles an RNN layer to a `While` loop over `TensorList`s (the loader keeps it,
//! with its body and cond frozen, see `tf2h5_tf::LoopFunction`):
//! `x (batch, time, features) → Transpose [1, 0, 2] (→ ReverseV2 [0] for go_backwards) →
//! TensorListFromTensor`, read in the body by `TensorListGetItem(list, time)`; the body writes
//! each step's output with `TensorListSetItem` into a list the layer `TensorListStack`s, then
//! `Transpose`s back (return_sequences) or slices the last step of (`[-1]`). The loop values
//! are the loop counter, the time step (from 0, +1 per step), the output list, the states
//! (zeros from `Fill`) and the x list; the weights are loop values too (the `standard_lstm`/
//! `standard_gru` functions) or constants in the body (the generic loop of `keras.backend.rnn`,
//! whose variable reads the loader froze there).
//!
//! Matched from the output node, the body must compute one of these cells, with the
//! activations named by its ops (`tanh`, `sigmoid`, `relu`, ...):
//! - LSTM: `z = x·K + h·R (+ b)`, split in four `i f c o`; `c' = σ(f)·c + σ(i)·act(c)`,
//!   `h' = σ(o)·act(c')`;
//! - GRU with `reset_after` (tf-keras's `standard_gru`, Keras 3's cell): `x·K + b_in` split in
//!   three `z r h`, `h·R + b_rec` split or column-sliced in three; `z = σ(x_z + r_z)`,
//!   `r = σ(x_r + r_r)`, `hh = act(x_h + r·r_h)`, `h' = z·h + (1 − z)·hh`; Keras's bias is the
//!   (2, 3·units) stack of the two biases (Keras 3 unstacks it in the body: `Split` + `Squeeze`);
//! - GRU without `reset_after` (generic loop): `x·K (+ b)` split in three, `h·R[:, :2u]` split
//!   in two (`SplitV`); `z`, `r` as above, `hh = act(x_h + (r·h)·R[:, 2u:])`;
//! - SimpleRNN: `h' = act(x·K (+ b) + h·R)`.
//!
//! A masked layer (an `Embedding(mask_zero=True)` feeds it) reads a second list, the mask
//! `ExpandDims(ids != 0, -1)` made time-major, and at each step selects with it
//! (`SelectV2(Tile(mask_t), new, old)`) every state and the output, whose previous value is
//! one more loop value starting at zeros. The layer then reads that mask in Keras: the
//! `Embedding` of the same ids gets `mask_zero=True` (`Context::carry_mask`).
//!
//! Anything else (another cell, another mask, initial states that are not zeros, a state read
//! outside the layer) is no match; the `While` then refuses itself, naming its layer.

use std::collections::{HashMap, HashSet};

use ndarray::{ArrayD, Axis};
use tf2h5_keras::layers::{self, RecurrentKind, RecurrentOptions};
use tf2h5_keras::{Layer, LayerOutput};
use tf2h5_tf::pb::{attr_value::Value as AttrValue, NodeDef};
use tf2h5_tf::{ConstTensor, LoopFunction, NodeExt, TensorRef};

use super::{Kind, Match, View};
use crate::context::{self, Context, KTensor, Mask, Value};
use crate::ConvertError;

/// A recognised recurrent layer.
#[derive(Debug, Clone)]
pub(crate) struct Recurrent {
    /// The (batch, time, features) input.
    pub(super) input: TensorRef,
    /// The (batch, time) mask the loop applies per step, if any.
    pub(super) mask: Option<TensorRef>,
    /// The layer's name scope (`model/lstm`).
    pub(super) scope: String,
    pub(super) kind: RecurrentKind,
    pub(super) activation: &'static str,
    pub(super) recurrent_activation: &'static str,
    pub(super) return_sequences: bool,
    pub(super) go_backwards: bool,
    /// Masked steps output zeros instead of the previous output (only with return_sequences).
    pub(super) zero_output_for_mask: bool,
    pub(super) kernel: ArrayD<f32>,
    pub(super) recurrent_kernel: ArrayD<f32>,
    pub(super) bias: Option<ArrayD<f32>>,
    /// The loop node.
    pub(super) while_node: String,
    /// Whether a TF node outside the loop holds the layer's output; false when only the
    /// final states are read.
    pub(super) output_read: bool,
    /// With `return_state`: the loop outputs holding the final states, in Keras's order
    /// (`h`, then the LSTM's `c`); empty when nothing reads them.
    pub(super) states: Vec<TensorRef>,
}

fn is_loop(node: &NodeDef) -> bool {
    matches!(node.op.as_str(), "While" | "StatelessWhile")
}

/// The recurrent layer ending at `output` (the `Transpose` or last-step `StridedSlice` of the
/// loop's stacked outputs), or at the loop itself when only its final states are read, if
/// it is one.
pub(super) fn find(view: &View, output: &NodeDef) -> Option<Match> {
    // The loop, the slot of its output list (`None`: the list is not read) and whether it
    // returns every step.
    let (loop_output, stacked_slot, return_sequences) = if is_loop(output) {
        (TensorRef { node: output.name.clone(), output: 0 }, None, false)
    } else {
        let return_sequences = match output.op.as_str() {
            "Transpose" => {
                let perm = view.ints(&view.input(output, 1)?)?;
                (perm == [1, 0, 2]).then_some(true)?
            }
            "StridedSlice" => is_last_step(view, output).then_some(false)?,
            _ => return None,
        };
        let stack = view.producer(&view.input(output, 0)?, &["TensorListStack"])?;
        let stacked = view.input(stack, 0)?;
        let slot = stacked.output;
        (stacked, Some(slot), return_sequences)
    };
    let (while_node, body, cond, loop_inputs) = loop_parts(view, &loop_output)?;
    let body = Body::new(&body);
    // The output list, unless only the states are read and freezing dropped it: written at
    // the time step (or at 0, keeping only the last step).
    let writes_own_list = |slot: usize| {
        let set = body.producer(body.f.outputs.get(slot)?, "TensorListSetItem")?;
        (body.arg(&body.input(set, 0)?)? == slot).then_some(set)
    };
    let set = match stacked_slot {
        Some(slot) => Some(writes_own_list(slot)?),
        None => (0..loop_inputs.len()).find_map(writes_own_list),
    };
    // A masked loop writes `SelectV2(mask_t, h', kept)`: `kept` is the previous output, a loop
    // value the select also returns, from zeros; or, with `zero_output_for_mask` (which
    // `Bidirectional` forces on a layer with return_sequences), zeros the loop hands on unchanged.
    let (new_h, mask_get, zero_output_for_mask) = match set.map(|set| body.input(set, 2)) {
        None => (None, None, false),
        Some(written) => {
            let written = written?;
            match body.masked(&written) {
                Some((mask_get, value, kept)) => {
                    let returned = &body.f.outputs[kept];
                    let zero_output = body.arg(returned) == Some(kept);
                    (zero_output || body.resolve(returned) == body.resolve(&written)).then_some(())?;
                    (return_sequences || !zero_output).then_some(())?;
                    is_zeros(view, &loop_inputs[kept])?;
                    (Some(value), Some(mask_get), zero_output)
                }
                None => (Some(written), None, false),
            }
        }
    };
    // The input list, read at the time step.
    let mask_name = mask_get.map(|g| g.name.as_str());
    let get = body.f.nodes.iter().find(|n| n.op == "TensorListGetItem" && Some(n.name.as_str()) != mask_name)?;
    let in_slot = body.arg(&body.input(get, 0)?)?;
    let time_slot = body.arg(&body.input(get, 1)?)?;
    if let Some(set) = set {
        match body.arg(&body.input(set, 1)?) {
            Some(slot) if slot == time_slot => {}
            None if !return_sequences && body.int_constant(&body.input(set, 1)?)? == 0 => {}
            _ => return None,
        }
    }
    counts_time(view, &body, &cond, &loop_inputs, time_slot)?;
    // The sequence: x transposed to time-major (and reversed for go_backwards).
    let (input, go_backwards) = time_major_source(view, &loop_inputs[in_slot])?;
    // The mask (batch, time), read at the time step: `ExpandDims(mask, -1)`, made time-major
    // (and reversed) as the sequence is.
    let mask = match mask_get {
        Some(mask_get) => {
            (body.arg(&body.input(mask_get, 1)?)? == time_slot).then_some(())?;
            let (expanded, reversed) = time_major_source(view, &loop_inputs[body.arg(&body.input(mask_get, 0)?)?])?;
            let expand = view.producer(&expanded, &["ExpandDims"])?;
            let axis = view.ints(&view.input(expand, 1)?)?;
            (reversed == go_backwards && (axis == [-1] || axis == [2])).then_some(())?;
            Some(view.input(expand, 0)?)
        }
        None => None,
    };
    // The cell, its weights and states.
    let weights = Weights { view, body: &body, loop_inputs: &loop_inputs };
    let cell_of = |new_h: &TensorRef| {
        lstm(&body, &weights, get, new_h)
            .or_else(|| gru(&body, &weights, get, new_h))
            .or_else(|| gru_reset_before(&body, &weights, get, new_h))
            .or_else(|| simple_rnn(&body, &weights, get, new_h))
    };
    let cell = match new_h {
        Some(new_h) => cell_of(&new_h)?,
        // Without an output list, the state `h` is the loop value the cell computes it for.
        None => (0..loop_inputs.len()).find_map(|slot| {
            cell_of(&body.resolve(&body.f.outputs[slot])).filter(|cell| cell.states.first().map(|s| s.0) == Some(slot))
        })?,
    };
    for (slot, new_state) in &cell.states {
        let returned = body.resolve(&body.f.outputs[*slot]);
        match mask_get {
            None => (returned == *new_state).then_some(())?,
            // Masked: the state is kept where the mask is 0.
            Some(mask_get) => {
                let (get, value, kept) = body.masked(&returned)?;
                (get.name == mask_get.name && value == *new_state && kept == *slot).then_some(())?
            }
        }
        let zeros = view.producer(&loop_inputs[*slot], &["Fill"])?;
        (view.scalar(&view.input(zeros, 1)?)? == 0.0).then_some(())?;
    }
    // The final states other nodes read make the layer return them (`return_state`).
    let exits: Vec<TensorRef> =
        cell.states.iter().map(|(slot, _)| TensorRef { node: while_node.name.clone(), output: *slot }).collect();
    let states = if exits.iter().any(|exit| view.consumers.contains_key(exit)) { exits } else { Vec::new() };
    let sources: Vec<&TensorRef> = std::iter::once(&input).chain(&mask).collect();
    let inner = layer_nodes(view, output, &sources, &states)?;
    let recurrent = Recurrent {
        input,
        mask,
        scope: tf2h5_tf::loop_scope(&while_node.name).to_string(),
        kind: cell.kind,
        activation: cell.activation,
        recurrent_activation: cell.recurrent_activation,
        return_sequences,
        go_backwards,
        zero_output_for_mask,
        kernel: cell.kernel,
        recurrent_kernel: cell.recurrent_kernel,
        bias: cell.bias,
        while_node: while_node.name.clone(),
        output_read: stacked_slot.is_some(),
        states,
    };
    Some(Match { inner, kind: Kind::Recurrent(Box::new(recurrent)) })
}

/// The `While` loop whose output `tensor` is, with its body and cond (graph form) and its
/// inputs (aliases resolved), one per loop value.
pub(super) fn loop_parts<'g>(
    view: &View<'g>,
    tensor: &TensorRef,
) -> Option<(&'g NodeDef, LoopFunction, LoopFunction, Vec<TensorRef>)> {
    let graph = view.graph;
    let while_node = graph.node(&tensor.node).filter(|n| is_loop(n))?;
    let function = |attr: &str| match while_node.attr.get(attr).and_then(|a| a.value.as_ref()) {
        Some(AttrValue::Func(f)) => tf2h5_tf::loop_function(&graph.graph, &f.name).ok(),
        _ => None,
    };
    let (body, cond) = (function("body")?, function("cond")?);
    let loop_inputs: Vec<TensorRef> = graph.data_inputs(while_node).map(|r| context::resolve(graph, &r)).collect();
    let counts_match = loop_inputs.len() == body.inputs.len() && body.outputs.len() == loop_inputs.len();
    counts_match.then_some((while_node, body, cond, loop_inputs))
}

/// The loop value `time_slot` is the time step: from 0, one more per step, compared by the
/// cond (beside it the cond may bound a loop counter: tf.while_loop's maximum_iterations).
pub(super) fn counts_time(
    view: &View,
    body: &Body,
    cond: &LoopFunction,
    loop_inputs: &[TensorRef],
    time_slot: usize,
) -> Option<()> {
    (view.ints(&loop_inputs[time_slot])? == [0]).then_some(())?;
    let step = body.producer(&body.f.outputs[time_slot], "AddV2")?;
    let [a, b] = [body.input(step, 0)?, body.input(step, 1)?];
    let counts = |t: &TensorRef, one: &TensorRef| body.arg(t) == Some(time_slot) && body.int_constant(one) == Some(1);
    (counts(&a, &b) || counts(&b, &a)).then_some(())?;
    let cond_body = Body::new(cond);
    let compares_time = |less: &&NodeDef| cond_body.input(less, 0).and_then(|t| cond_body.arg(&t)) == Some(time_slot);
    cond.nodes.iter().filter(|n| n.op == "Less").find(compares_time).map(|_| ())
}

/// The inner nodes of the layer ending at `output`: what the loop and its read-out need that
/// the `sources` (the input, and the mask) do not; `None` unless only the layer reads them
/// (and others its output and the loop's final states `exits`).
pub(super) fn layer_nodes(
    view: &View,
    output: &NodeDef,
    sources: &[&TensorRef],
    exits: &[TensorRef],
) -> Option<Vec<String>> {
    let graph = view.graph;
    let layer_nodes = graph.nodes_needed_by(std::slice::from_ref(&output.name)).ok()?;
    let sources: Vec<String> = sources.iter().map(|t| t.node.clone()).collect();
    let input_nodes: HashSet<String> = graph.nodes_needed_by(&sources).ok()?.into_iter().collect();
    let inner: Vec<&NodeDef> = layer_nodes
        .iter()
        .filter(|n| **n != output.name && !input_nodes.contains(*n))
        .filter_map(|n| graph.node(n))
        .collect();
    closed(view, &inner, output, exits).then(|| inner.iter().map(|n| n.name.clone()).collect())
}

/// Builds the layer of a match at its output node.
pub(super) fn build(ctx: &mut Context, node: &NodeDef, found: &Recurrent) -> Result<Value, ConvertError> {
    if found.zero_output_for_mask {
        return Err(ctx.refuse(
            node,
            format!(
                "the loop of layer '{}' writes zeros at masked steps (zero_output_for_mask, which a Bidirectional \
                 with return_sequences forces) but is not one direction of such a Bidirectional",
                found.scope
            ),
        ));
    }
    let (input, time, mask) = input_and_mask(ctx, node, found)?;
    let name = ctx.layer_name(&found.scope);
    let layer = found.layer(&name, input.layer);
    Ok(Value::Tensor(add_sequence_layer(ctx, node, layer, found, time, found.units(), mask)))
}

/// Adds `layer`, built for `found` at `node`, whose output steps have `units` values; with
/// return_sequences its output carries the `mask` its input does.
pub(super) fn add_sequence_layer(
    ctx: &mut Context,
    node: &NodeDef,
    layer: Layer,
    found: &Recurrent,
    time: usize,
    units: usize,
    mask: Option<Mask>,
) -> KTensor {
    let shape = if found.return_sequences { vec![None, Some(time), Some(units)] } else { vec![None, Some(units)] };
    let name = layer.name.clone();
    // Only the final states read: no TF node holds the layer's output.
    let output =
        if found.output_read { ctx.add_layer_tensor(node, layer, shape) } else { ctx.add_inner_layer(layer, shape) };
    for (k, state) in found.states.iter().enumerate() {
        let tensor = KTensor { layer: LayerOutput::new(name.clone(), 1 + k), shape: vec![None, Some(found.units())] };
        ctx.set_output_value(state.clone(), Value::Tensor(tensor));
    }
    if let (Some(mask), true) = (mask, found.return_sequences) {
        ctx.pass_mask(&output, &mask);
    }
    output
}

/// The layer's (batch, time, features) input, checked against the kernel, with its time
/// steps and the mask Keras attaches to it, which must be the one the loop reads.
pub(super) fn input_and_mask(
    ctx: &mut Context,
    node: &NodeDef,
    found: &Recurrent,
) -> Result<(KTensor, usize, Option<Mask>), ConvertError> {
    let input = match ctx.value_of(node, &found.input)? {
        Value::Tensor(t) => t.clone(),
        _ => return Err(ctx.refuse(node, "the recurrent layer's input is not a computed tensor")),
    };
    let (Some(time), Some(features), 3) = (input.dim(1), input.dim(2), input.rank()) else {
        return Err(
            ctx.refuse(node, format!("input {:?} is not (batch, time, features) with known sizes", input.shape))
        );
    };
    if found.kernel.shape().first() != Some(&features) {
        return Err(
            ctx.refuse(node, format!("input {:?} does not match the kernel {:?}", input.shape, found.kernel.shape()))
        );
    }
    let Some(mask) = &found.mask else { return Ok((input, time, None)) };
    match ctx.value_of(node, mask)? {
        Value::Mask(mask) => {
            let mask = mask.clone();
            if !ctx.carry_mask(&input, &mask) {
                return Err(ctx.refuse(
                    node,
                    format!(
                        "the loop of layer '{}' reads the mask {}, which Keras would not attach to its input \
                         (an Embedding(mask_zero=True) of those ids, a Masking of that tensor, or a masked \
                         recurrent layer with return_sequences reading one, must feed it directly)",
                        found.scope,
                        mask.describe()
                    ),
                ));
            }
            Ok((input, time, Some(mask)))
        }
        _ => Err(ctx.refuse(
            node,
            format!(
                "the loop of layer '{}' reads a mask that is not an Embedding(mask_zero=True)'s ids != 0 nor a \
                 Masking layer's",
                found.scope
            ),
        )),
    }
}

impl Recurrent {
    /// The loop, where the layer is built when nodes read its final states (they may come
    /// before the layer's output node).
    pub(super) fn loop_node(&self) -> Option<&str> {
        (!self.states.is_empty()).then_some(self.while_node.as_str())
    }

    /// The Keras layer `name` this loop computes, reading the layer output `input`.
    pub(super) fn layer(&self, name: &str, input: LayerOutput) -> Layer {
        let options = RecurrentOptions {
            return_sequences: self.return_sequences,
            go_backwards: self.go_backwards,
            return_state: !self.states.is_empty(),
            activation: self.activation,
            recurrent_activation: self.recurrent_activation,
        };
        let (kernel, recurrent_kernel, bias) = (self.kernel.clone(), self.recurrent_kernel.clone(), self.bias.clone());
        layers::recurrent(name, input, self.kind, options, kernel, recurrent_kernel, bias)
    }

    /// The values of each output step.
    pub(super) fn units(&self) -> usize {
        self.recurrent_kernel.shape().first().copied().unwrap_or(0)
    }

    /// Whether `backward` is this layer's backward twin in a Keras `Bidirectional` that writes
    /// zeros at masked steps: the same cell and sequence (and mask), read the other way,
    /// both with return_sequences and `zero_output_for_mask`.
    pub(super) fn is_masked_twin(&self, backward: &Recurrent) -> bool {
        let same_shapes = self.kernel.shape() == backward.kernel.shape()
            && self.recurrent_kernel.shape() == backward.recurrent_kernel.shape()
            && self.bias.as_ref().map(|b| b.shape().to_vec()) == backward.bias.as_ref().map(|b| b.shape().to_vec());
        let both = |f: fn(&Recurrent) -> bool| f(self) && f(backward);
        same_shapes
            && both(|r| r.return_sequences && r.zero_output_for_mask && r.mask.is_some() && r.states.is_empty())
            && self.input == backward.input
            && self.mask == backward.mask
            && self.kind == backward.kind
            && (self.activation, self.recurrent_activation) == (backward.activation, backward.recurrent_activation)
            && !self.go_backwards
            && backward.go_backwards
    }

    /// The weights in Keras's order: kernel, recurrent kernel, then the bias if any.
    pub(super) fn weights(&self) -> Vec<ArrayD<f32>> {
        [self.kernel.clone(), self.recurrent_kernel.clone()].into_iter().chain(self.bias.clone()).collect()
    }

    /// The layer's name scope (`model/bidirectional/forward_lstm`).
    pub(super) fn scope(&self) -> &str {
        &self.scope
    }
}

/// What a loop's `TensorListFromTensor` unstacks, seen before it was made time-major:
/// `Transpose([1, 0, 2])` of the returned tensor, then `ReverseV2([0])` when the bool is true.
fn time_major_source(view: &View, list: &TensorRef) -> Option<(TensorRef, bool)> {
    let unstack = view.producer(list, &["TensorListFromTensor"])?;
    let mut time_major = view.input(unstack, 0)?;
    let reversed = match view.producer(&time_major, &["ReverseV2"]) {
        Some(reverse) => {
            let axis = view.ints(&view.input(reverse, 1)?)?;
            (axis == [0]).then_some(())?;
            time_major = view.input(reverse, 0)?;
            true
        }
        None => false,
    };
    let transpose = view.producer(&time_major, &["Transpose"])?;
    let perm = view.ints(&view.input(transpose, 1)?)?;
    (perm == [1, 0, 2]).then(|| Some((view.input(transpose, 0)?, reversed)))?
}

/// Zeros of a computed shape (`ZerosLike`, or `Fill` with 0).
pub(super) fn is_zeros(view: &View, tensor: &TensorRef) -> Option<()> {
    if view.producer(tensor, &["ZerosLike"]).is_some() {
        return Some(());
    }
    let fill = view.producer(tensor, &["Fill"])?;
    (view.scalar(&view.input(fill, 1)?)? == 0.0).then_some(())
}

/// `StridedSlice` taking the last element of axis 0 (`[-1]`).
fn is_last_step(view: &View, slice: &NodeDef) -> bool {
    let ints = |i: usize| -> Option<Vec<i64>> { view.ints(&view.input(slice, i)?) };
    let mask = |attr: &str| slice.attr_int_opt(attr).ok().flatten().unwrap_or(0);
    ints(1) == Some(vec![-1])
        && ints(2) == Some(vec![0])
        && ints(3) == Some(vec![1])
        && mask("shrink_axis_mask") == 1
        && ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"].iter().all(|m| mask(m) == 0)
}

/// Every read of a node of the match comes from the match, but the reads of its output (a
/// layer output node's output 0, the loop's final states `exits`). Reads are counted as
/// `View::consumers` counts them: through aliases (`Identity`), not by the aliases.
fn closed(view: &View, inner: &[&NodeDef], output: &NodeDef, exits: &[TensorRef]) -> bool {
    let members: HashSet<&str> =
        inner.iter().map(|n| n.name.as_str()).chain(std::iter::once(output.name.as_str())).collect();
    let mut reads: HashMap<&str, usize> = HashMap::new();
    for member in inner.iter().copied().chain(std::iter::once(output)).filter(|n| !context::is_alias(&n.op)) {
        for input in view.graph.data_inputs(member) {
            let input = context::resolve(view.graph, &input);
            if let Some(&name) = members.get(input.node.as_str()) {
                *reads.entry(name).or_default() += 1;
            }
        }
    }
    let read_outside =
        |r: &TensorRef| exits.contains(r) || (r.node == output.name && r.output == 0 && !is_loop(output));
    inner.iter().copied().chain(std::iter::once(output)).all(|n| {
        let total: usize =
            view.consumers.iter().filter(|(r, _)| r.node == n.name && !read_outside(r)).map(|(_, c)| c).sum();
        total == reads.get(n.name.as_str()).copied().unwrap_or(0)
    })
}

/// A loop function's nodes, read through `Identity`.
pub(super) struct Body<'f> {
    pub(super) f: &'f LoopFunction,
    nodes: HashMap<&'f str, &'f NodeDef>,
}

impl<'f> Body<'f> {
    pub(super) fn new(f: &'f LoopFunction) -> Self {
        Body { f, nodes: f.nodes.iter().map(|n| (n.name.as_str(), n)).collect() }
    }

    pub(super) fn resolve(&self, tensor: &TensorRef) -> TensorRef {
        let mut current = tensor.clone();
        for _ in 0..self.nodes.len() {
            match self.nodes.get(current.node.as_str()) {
                Some(n) if n.op == "Identity" => match n.input.first().and_then(|i| TensorRef::parse(i)) {
                    Some(next) => current = next,
                    None => break,
                },
                _ => break,
            }
        }
        current
    }

    pub(super) fn input(&self, node: &NodeDef, index: usize) -> Option<TensorRef> {
        let input = node.input.iter().filter_map(|i| TensorRef::parse(i)).nth(index)?;
        Some(self.resolve(&input))
    }

    pub(super) fn node(&self, tensor: &TensorRef) -> Option<&'f NodeDef> {
        self.nodes.get(self.resolve(tensor).node.as_str()).copied()
    }

    /// The node computing `tensor` (output 0), if its op is `op`.
    pub(super) fn producer(&self, tensor: &TensorRef, op: &str) -> Option<&'f NodeDef> {
        let resolved = self.resolve(tensor);
        self.node(&resolved).filter(|n| n.op == op && resolved.output == 0)
    }

    /// `SelectV2(Tile(mask_t), value, kept)`, as a masked loop keeps a value where the step's
    /// mask `mask_t` (a `TensorListGetItem`) is false: `(mask_t, value, kept's slot)`.
    fn masked(&self, tensor: &TensorRef) -> Option<(&'f NodeDef, TensorRef, usize)> {
        let select = self.producer(tensor, "SelectV2")?;
        let tile = self.producer(&self.input(select, 0)?, "Tile")?;
        let get = self.producer(&self.input(tile, 0)?, "TensorListGetItem")?;
        Some((get, self.input(select, 1)?, self.arg(&self.input(select, 2)?)?))
    }

    /// The loop slot of a placeholder.
    pub(super) fn arg(&self, tensor: &TensorRef) -> Option<usize> {
        let node = self.node(tensor)?;
        if node.op != "Placeholder" {
            return None;
        }
        self.f.inputs.iter().position(|i| *i == node.name)
    }

    pub(super) fn int_constant(&self, tensor: &TensorRef) -> Option<i64> {
        let node = self.producer(tensor, "Const")?;
        let value = ConstTensor::from_node(node).ok()?;
        let ints: Vec<i64> = value.as_ints()?.iter().copied().collect();
        match ints.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// The operands of a commutative binary `op` at `tensor`, in either order, the first
    /// satisfying `first`.
    pub(super) fn operands<T>(
        &self,
        tensor: &TensorRef,
        ops: &[&str],
        first: impl Fn(&TensorRef) -> Option<T>,
    ) -> Option<(T, TensorRef)> {
        let node = self.node(tensor).filter(|n| ops.contains(&n.op.as_str()))?;
        let [a, b] = [self.input(node, 0)?, self.input(node, 1)?];
        if let Some(found) = first(&a) {
            return Some((found, b));
        }
        first(&b).map(|found| (found, a))
    }

    /// `act(t)` for a Keras activation op: its name and input.
    pub(super) fn activation(&self, tensor: &TensorRef) -> Option<(&'static str, TensorRef)> {
        let node = self.node(tensor)?;
        let name = match node.op.as_str() {
            "Tanh" => "tanh",
            "Sigmoid" => "sigmoid",
            "Relu" => "relu",
            "Elu" => "elu",
            "Selu" => "selu",
            "Softplus" => "softplus",
            "Softsign" => "softsign",
            _ => return None,
        };
        Some((name, self.input(node, 0)?))
    }

    /// `Split` output `k` of `tensor` into `parts` along axis 1 (or -1): the split input.
    pub(super) fn split(&self, tensor: &TensorRef, parts: i64, k: usize) -> Option<TensorRef> {
        let resolved = self.resolve(tensor);
        let node = self.node(&resolved).filter(|n| n.op == "Split")?;
        let axis = self.int_constant(&self.input(node, 0)?)?;
        let count = node.attr_int_opt("num_split").ok()??;
        (resolved.output == k && count == parts && (axis == 1 || axis == -1)).then(|| self.input(node, 1))?
    }

    /// `SplitV` output `k` of `tensor` along axis 1 (or -1): the split input and the sizes.
    fn split_v(&self, tensor: &TensorRef, k: usize) -> Option<(TensorRef, Vec<i64>)> {
        let resolved = self.resolve(tensor);
        let node = self.node(&resolved).filter(|n| n.op == "SplitV")?;
        let sizes_node = self.producer(&self.input(node, 1)?, "Const")?;
        let sizes: Vec<i64> = ConstTensor::from_node(sizes_node).ok()?.as_ints()?.iter().copied().collect();
        let axis = self.int_constant(&self.input(node, 2)?)?;
        (resolved.output == k && k < sizes.len() && (axis == 1 || axis == -1))
            .then(|| Some((self.input(node, 0)?, sizes)))?
    }

    /// `t[:, start:start + width / 3]` of a `(batch, width)` tensor, a plain `StridedSlice`
    /// (Keras 3's GRU cuts its recurrent projection so): the sliced tensor.
    fn column_slice(&self, tensor: &TensorRef, start: usize, width: usize) -> Option<TensorRef> {
        let slice = self.producer(tensor, "StridedSlice")?;
        let ints = |i: usize| -> Option<Vec<i64>> {
            let node = self.producer(&self.input(slice, i)?, "Const")?;
            Some(ConstTensor::from_node(node).ok()?.as_ints()?.iter().copied().collect())
        };
        let (begin, end, strides) = (ints(1)?, ints(2)?, ints(3)?);
        let mask = |attr: &str| slice.attr_int_opt(attr).ok().flatten().unwrap_or(0);
        let plain = ["ellipsis_mask", "new_axis_mask", "shrink_axis_mask"].iter().all(|m| mask(m) == 0);
        let whole_batch = mask("begin_mask") & 1 != 0 && mask("end_mask") & 1 != 0;
        (plain && whole_batch && begin.len() == 2 && end.len() == 2 && strides == [1, 1]).then_some(())?;
        let width = i64::try_from(width).ok()?;
        let at = |v: i64| if v < 0 { (v + width).max(0) } else { v.min(width) };
        let from = if mask("begin_mask") & 2 != 0 { 0 } else { at(begin[1]) };
        let to = if mask("end_mask") & 2 != 0 { width } else { at(end[1]) };
        (from == i64::try_from(start).ok()? && to == from + width / 3).then(|| self.input(slice, 0))?
    }

    /// `MatMul(a, w)` without transposes: `(a, w)`.
    pub(super) fn matmul(&self, tensor: &TensorRef) -> Option<(TensorRef, TensorRef)> {
        let node = self.producer(tensor, "MatMul")?;
        let flag = |attr: &str| node.attr_bool_opt(attr).ok().flatten().unwrap_or(false);
        if flag("transpose_a") || flag("transpose_b") {
            return None;
        }
        Some((self.input(node, 0)?, self.input(node, 1)?))
    }
}

/// Where a body's weights come from: its constants, or the loop's constant inputs.
pub(super) struct Weights<'v, 'g> {
    pub(super) view: &'v View<'g>,
    pub(super) body: &'v Body<'v>,
    pub(super) loop_inputs: &'v [TensorRef],
}

impl Weights<'_, '_> {
    pub(super) fn value(&self, tensor: &TensorRef) -> Option<ArrayD<f32>> {
        if let Some(node) = self.body.producer(tensor, "Const") {
            return ConstTensor::from_node(node).ok()?.as_f32().cloned();
        }
        if let Some(slice) = self.body.producer(tensor, "StridedSlice") {
            return self.column_block(slice);
        }
        if let Some(squeeze) = self.body.producer(tensor, "Squeeze") {
            return self.row(squeeze);
        }
        let outer = &self.loop_inputs[self.body.arg(tensor)?];
        if let Some(value) = self.view.constant(outer) {
            return value.as_f32().cloned();
        }
        // `tf.unstack` of a constant (standard_gru's two bias rows).
        let node = self.view.graph.node(&outer.node).filter(|n| n.op == "Unpack")?;
        let axis = node.attr_int_opt("axis").ok().flatten().unwrap_or(0);
        let whole = self.view.constant(&self.view.input(node, 0)?)?.as_f32()?.clone();
        (axis == 0 && outer.output < whole.shape().first().copied().unwrap_or(0))
            .then(|| whole.index_axis(Axis(0), outer.output).to_owned())
    }
}

impl Weights<'_, '_> {
    /// `Squeeze(Split(0, w)[k])` of a weight split in rows of one (Keras 3's `unstack` of the
    /// GRU's two bias rows): row `k`.
    fn row(&self, squeeze: &NodeDef) -> Option<ArrayD<f32>> {
        let part = self.body.input(squeeze, 0)?;
        let split = self.body.node(&part).filter(|n| n.op == "Split")?;
        let whole = self.value(&self.body.input(split, 1)?)?;
        let parts = usize::try_from(split.attr_int_opt("num_split").ok()??).ok()?;
        let dims = squeeze.attr_ints_opt("squeeze_dims").ok().flatten().unwrap_or_default();
        let rows_of_one = whole.shape().first() == Some(&parts) && (dims.is_empty() || dims == [0]);
        (self.body.int_constant(&self.body.input(split, 0)?)? == 0 && rows_of_one && whole.ndim() == 2)
            .then(|| whole.index_axis(Axis(0), part.output).to_owned())
    }

    /// `w[:, a:b]` of a matrix weight (GRU's recurrent kernel, cut in two by its cell):
    /// unit strides, no axis added or removed.
    fn column_block(&self, slice: &NodeDef) -> Option<ArrayD<f32>> {
        let whole = self.value(&self.body.input(slice, 0)?)?;
        let ints = |i: usize| -> Option<Vec<i64>> {
            let node = self.body.producer(&self.body.input(slice, i)?, "Const")?;
            Some(ConstTensor::from_node(node).ok()?.as_ints()?.iter().copied().collect())
        };
        let (begin, end, strides) = (ints(1)?, ints(2)?, ints(3)?);
        let mask = |attr: &str| slice.attr_int_opt(attr).ok().flatten().unwrap_or(0);
        let plain = ["ellipsis_mask", "new_axis_mask", "shrink_axis_mask"].iter().all(|m| mask(m) == 0);
        (whole.ndim() == 2 && begin.len() == 2 && end.len() == 2 && strides == [1, 1] && plain).then_some(())?;
        let mut block = whole.view();
        for axis in 0..2 {
            let size = whole.shape()[axis] as i64;
            let at = |v: i64| if v < 0 { (v + size).max(0) } else { v.min(size) };
            let start = if mask("begin_mask") & (1 << axis) != 0 { 0 } else { at(begin[axis]) };
            let stop = if mask("end_mask") & (1 << axis) != 0 { size } else { at(end[axis]) };
            (start <= stop).then_some(())?;
            block.slice_axis_inplace(Axis(axis), ndarray::Slice::from(start as usize..stop as usize));
        }
        Some(block.to_owned())
    }
}

/// A recognised cell: its kind, activations, weights, and each state's slot and new value.
pub(super) struct Cell {
    pub(super) kind: RecurrentKind,
    pub(super) activation: &'static str,
    pub(super) recurrent_activation: &'static str,
    pub(super) kernel: ArrayD<f32>,
    pub(super) recurrent_kernel: ArrayD<f32>,
    pub(super) bias: Option<ArrayD<f32>>,
    pub(super) states: Vec<(usize, TensorRef)>,
}

/// A cell's kernel, recurrent kernel, bias and the slot of the state it multiplies.
type Projections = (ArrayD<f32>, ArrayD<f32>, Option<ArrayD<f32>>, usize);

/// `x·K + h·R (+ b)`: `(K, R, b, h's slot)` when `x` is the step's input.
fn projections(body: &Body, weights: &Weights, z: &TensorRef, x: &TensorRef) -> Option<Projections> {
    let (sum, bias) = match body.producer(z, "BiasAdd") {
        Some(add) => (body.input(add, 0)?, Some(weights.value(&body.input(add, 1)?)?)),
        None => (z.clone(), None),
    };
    let input_product = |t: &TensorRef| body.matmul(t).filter(|(a, _)| body.resolve(a) == *x);
    let ((_, kernel), other) = body.operands(&sum, &["AddV2", "Add"], input_product)?;
    let (h, recurrent_kernel) = body.matmul(&other)?;
    Some((weights.value(&kernel)?, weights.value(&recurrent_kernel)?, bias, body.arg(&h)?))
}

fn lstm(body: &Body, weights: &Weights, get: &NodeDef, new_h: &TensorRef) -> Option<Cell> {
    let x = TensorRef { node: get.name.clone(), output: 0 };
    // h' = σ(o)·act(c')
    let gate = |k: usize| {
        move |t: &TensorRef| -> Option<(&'static str, TensorRef)> {
            let (act, input) = body.activation(t)?;
            let z = body.split(&input, 4, k)?;
            Some((act, z))
        }
    };
    let ((recurrent_activation, z), out) = body.operands(new_h, &["Mul"], gate(3))?;
    let (activation, new_c) = body.activation(&out)?;
    // c' = σ(f)·c + σ(i)·act(g)
    let forget = |t: &TensorRef| -> Option<(usize, TensorRef)> {
        let node = body.node(t).filter(|n| n.op == "Mul")?;
        let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
        for (g, c) in [(&a, &b), (&b, &a)] {
            if let (Some((act, fz)), Some(slot)) = (gate(1)(g), body.arg(c)) {
                if act == recurrent_activation && fz == z {
                    return Some((slot, g.clone()));
                }
            }
        }
        None
    };
    let ((c_slot, _), candidate) = body.operands(&new_c, &["AddV2", "Add"], forget)?;
    let ((act_i, zi), g) = body.operands(&candidate, &["Mul"], gate(0))?;
    let (act_g, zg) = body.activation(&g)?;
    (act_i == recurrent_activation && zi == z && act_g == activation && body.split(&zg, 4, 2)? == z).then_some(())?;
    let (kernel, recurrent_kernel, bias, h_slot) = projections(body, weights, &z, &x)?;
    Some(Cell {
        kind: RecurrentKind::Lstm,
        activation,
        recurrent_activation,
        kernel,
        recurrent_kernel,
        bias,
        states: vec![(h_slot, body.resolve(new_h)), (c_slot, body.resolve(&new_c))],
    })
}

/// A GRU's update `h' = z·h + (1 − z)·hh`, both its forms': `(z, h's slot, hh)`.
pub(super) fn gru_update(body: &Body, new_h: &TensorRef) -> Option<(TensorRef, usize, TensorRef)> {
    let keep = |t: &TensorRef| -> Option<(TensorRef, usize)> {
        let node = body.node(t).filter(|n| n.op == "Mul")?;
        let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
        [(a.clone(), b.clone()), (b, a)].into_iter().find_map(|(z, h)| Some((z, body.arg(&h)?)))
    };
    let ((z, h_slot), update) = body.operands(new_h, &["AddV2", "Add"], keep)?;
    let one_minus_z = |t: &TensorRef| -> Option<()> {
        let node = body.node(t).filter(|n| n.op == "Sub")?;
        let one = body.producer(&body.input(node, 0)?, "Const")?;
        let one = ConstTensor::from_node(one).ok()?.as_f32()?.iter().copied().collect::<Vec<f32>>();
        (one == [1.0] && body.resolve(&body.input(node, 1)?) == body.resolve(&z)).then_some(())
    };
    let (_, hh) = body.operands(&update, &["Mul"], one_minus_z)?;
    Some((z, h_slot, hh))
}

/// GRU with `reset_after`: `x·K + b_in` split in three `x_z x_r x_h`; `h·R + b_rec` cut in
/// three `r_z r_r r_h` (tf-keras's `standard_gru` splits it, Keras 3's cell slices its columns);
/// `z = σ(x_z + r_z)`, `r = σ(x_r + r_r)`, `hh = act(x_h + r·r_h)`.
fn gru(body: &Body, weights: &Weights, get: &NodeDef, new_h: &TensorRef) -> Option<Cell> {
    let x = TensorRef { node: get.name.clone(), output: 0 };
    let (z, h_slot, hh) = gru_update(body, new_h)?;
    let (activation, hh_in) = body.activation(&hh)?;
    let (recurrent_activation, z_in) = body.activation(&z)?;
    // x·K + b_in, found from the update gate's input side; it gives the units.
    let node = body.node(&z_in).filter(|n| matches!(n.op.as_str(), "AddV2" | "Add"))?;
    let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
    let (x_side, z_h) =
        [(a.clone(), b.clone()), (b, a)].into_iter().find_map(|(a, b)| Some((body.split(&a, 3, 0)?, b)))?;
    let biased = |t: &TensorRef| -> Option<(TensorRef, TensorRef, ArrayD<f32>)> {
        let (sum, bias) = match body.producer(t, "BiasAdd") {
            Some(add) => (body.input(add, 0)?, body.input(add, 1)?),
            None => body.operands(t, &["AddV2", "Add"], |s| body.matmul(s).map(|_| s.clone()))?,
        };
        let (a, w) = body.matmul(&sum)?;
        Some((a, w, weights.value(&bias)?))
    };
    let (xa, kernel, input_bias) = biased(&x_side)?;
    (body.resolve(&xa) == x).then_some(())?;
    let kernel = weights.value(&kernel)?;
    let units = kernel.shape().get(1).filter(|c| *c % 3 == 0)? / 3;
    let h_third = |t: &TensorRef, k: usize| body.split(t, 3, k).or_else(|| body.column_slice(t, k * units, 3 * units));
    let h_side = h_third(&z_h, 0)?;
    // r = σ(x_r + r_r), in either order.
    let r_gate = |t: &TensorRef| -> Option<()> {
        let (act, r_in) = body.activation(t)?;
        let node = body.node(&r_in).filter(|n| matches!(n.op.as_str(), "AddV2" | "Add"))?;
        let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
        let sides = |xr: &TensorRef, hr: &TensorRef| {
            body.split(xr, 3, 1).as_ref() == Some(&x_side) && h_third(hr, 1).as_ref() == Some(&h_side)
        };
        (act == recurrent_activation && (sides(&a, &b) || sides(&b, &a))).then_some(())
    };
    // hh = act(x_h + r·r_h)
    let node = body.node(&hh_in).filter(|n| matches!(n.op.as_str(), "AddV2" | "Add"))?;
    let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
    let (_, r_h) = [(a.clone(), b.clone()), (b, a)]
        .into_iter()
        .filter(|(xh, _)| body.split(xh, 3, 2).as_ref() == Some(&x_side))
        .find_map(|(_, other)| body.operands(&other, &["Mul"], r_gate))?;
    (h_third(&r_h, 2)? == h_side).then_some(())?;
    let (ha, recurrent_kernel, recurrent_bias) = biased(&h_side)?;
    (body.arg(&ha) == Some(h_slot)).then_some(())?;
    let bias = ndarray::stack(Axis(0), &[input_bias.view(), recurrent_bias.view()]).ok()?;
    Some(Cell {
        kind: RecurrentKind::Gru { reset_after: true },
        activation,
        recurrent_activation,
        kernel,
        recurrent_kernel: weights.value(&recurrent_kernel)?,
        bias: Some(bias.into_dyn()),
        states: vec![(h_slot, body.resolve(new_h))],
    })
}

/// GRU without `reset_after` (tf-keras's and Keras 3's `GRUCell`, generic loop): the reset
/// gate scales the state before the recurrent kernel's last third,
/// `x·K (+ b)` split in three `x_z x_r x_h`; `h·R[:, :2u]` split (`SplitV` [u, u, -1]) in
/// `h_z h_r`; `z = σ(x_z + h_z)`, `r = σ(x_r + h_r)`, `hh = act(x_h + (r·h)·R[:, 2u:])`.
fn gru_reset_before(body: &Body, weights: &Weights, get: &NodeDef, new_h: &TensorRef) -> Option<Cell> {
    let x = TensorRef { node: get.name.clone(), output: 0 };
    let (z, h_slot, hh) = gru_update(body, new_h)?;
    let (activation, hh_in) = body.activation(&hh)?;
    let (recurrent_activation, z_in) = body.activation(&z)?;
    let gate_sum = |t: &TensorRef, k: usize| -> Option<(TensorRef, (TensorRef, Vec<i64>))> {
        let node = body.node(t).filter(|n| matches!(n.op.as_str(), "AddV2" | "Add"))?;
        let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
        [(a.clone(), b.clone()), (b, a)]
            .into_iter()
            .find_map(|(a, b)| Some((body.split(&a, 3, k)?, body.split_v(&b, k)?)))
    };
    let (x_side, (h_side, sizes)) = gate_sum(&z_in, 0)?;
    let r_times_h = |t: &TensorRef| -> Option<()> {
        let node = body.node(t).filter(|n| n.op == "Mul")?;
        let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
        let gate = |r: &TensorRef, h: &TensorRef| -> Option<()> {
            let (act, r_in) = body.activation(r)?;
            let (xr, (hr, _)) = gate_sum(&r_in, 1)?;
            (act == recurrent_activation && xr == x_side && hr == h_side && body.arg(h)? == h_slot).then_some(())
        };
        gate(&a, &b).or_else(|| gate(&b, &a))
    };
    let candidate = |t: &TensorRef| -> Option<TensorRef> {
        let (rh, kernel) = body.matmul(t)?;
        r_times_h(&rh)?;
        Some(kernel)
    };
    let node = body.node(&hh_in).filter(|n| matches!(n.op.as_str(), "AddV2" | "Add"))?;
    let [a, b] = [body.input(node, 0)?, body.input(node, 1)?];
    let (xh, kernel_h) = [(a.clone(), b.clone()), (b, a)]
        .into_iter()
        .find_map(|(xh, other)| Some((body.split(&xh, 3, 2)?, candidate(&other)?)))?;
    (xh == x_side).then_some(())?;
    // x·K (+ b) and h·R[:, :2u]
    let (input_product, bias) = match body.producer(&x_side, "BiasAdd") {
        Some(add) => (body.input(add, 0)?, Some(weights.value(&body.input(add, 1)?)?)),
        None => (x_side.clone(), None),
    };
    let (xa, kernel) = body.matmul(&input_product)?;
    let (ha, kernel_zr) = body.matmul(&h_side)?;
    (body.resolve(&xa) == x && body.arg(&ha) == Some(h_slot)).then_some(())?;
    let (kernel_zr, kernel_h) = (weights.value(&kernel_zr)?, weights.value(&kernel_h)?);
    let units = kernel_h.shape().first().copied()?;
    let units_i64 = i64::try_from(units).ok()?;
    let split_ok =
        matches!(sizes.as_slice(), [a, b, rest] if *a == units_i64 && *b == units_i64 && (*rest == -1 || *rest == 0));
    let shapes_ok = kernel_zr.shape() == [units, 2 * units] && kernel_h.shape() == [units, units];
    (split_ok && shapes_ok).then_some(())?;
    let recurrent_kernel = ndarray::concatenate(Axis(1), &[kernel_zr.view(), kernel_h.view()]).ok()?;
    Some(Cell {
        kind: RecurrentKind::Gru { reset_after: false },
        activation,
        recurrent_activation,
        kernel: weights.value(&kernel)?,
        recurrent_kernel,
        bias,
        states: vec![(h_slot, body.resolve(new_h))],
    })
}

fn simple_rnn(body: &Body, weights: &Weights, get: &NodeDef, new_h: &TensorRef) -> Option<Cell> {
    let x = TensorRef { node: get.name.clone(), output: 0 };
    let (activation, sum) = body.activation(new_h)?;
    // act(x·K + b + h·R), or act(x·K + h·R + b) through `projections`.
    let input_side = |t: &TensorRef| -> Option<(TensorRef, Option<ArrayD<f32>>)> {
        match body.producer(t, "BiasAdd") {
            Some(add) => {
                let (a, k) = body.matmul(&body.input(add, 0)?)?;
                (body.resolve(&a) == x).then_some(())?;
                Some((k, Some(weights.value(&body.input(add, 1)?)?)))
            }
            None => {
                let (a, k) = body.matmul(t)?;
                (body.resolve(&a) == x).then_some((k, None))
            }
        }
    };
    let ((kernel, bias), other) = body.operands(&sum, &["AddV2", "Add"], input_side)?;
    let (h, recurrent_kernel) = body.matmul(&other)?;
    let h_slot = body.arg(&h)?;
    Some(Cell {
        kind: RecurrentKind::SimpleRnn,
        activation,
        recurrent_activation: "sigmoid",
        kernel: weights.value(&kernel)?,
        recurrent_kernel: weights.value(&recurrent_kernel)?,
        bias,
        states: vec![(h_slot, body.resolve(new_h))],
    })
}

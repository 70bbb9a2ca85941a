//! `KerasRecurrent` → Keras `LSTM`, `GRU`, `SimpleRNN`, or `Bidirectional` around one.
//!
//! No TensorFlow op computes a whole recurrent layer in the form Keras stores it, so the
//! front ends that recognise one (the ONNX translator for `LSTM`/`GRU`/`RNN` nodes) write
//! this tf2h5-only op, with the weights already in Keras's layout and gate order:
//! inputs `x` (batch, time, features), `kernel` (features, g·units), `recurrent_kernel`
//! (units, g·units), `bias` (g·units, or (2, 3·units) for a GRU with `reset_after`), then,
//! for a bidirectional layer, the backward direction's three. Attributes: `cell` (`LSTM`,
//! `GRU`, `SimpleRNN`), `reset_after`, `activation`, `recurrent_activation`,
//! `return_sequences`, `go_backwards`, and `merge_mode` (empty for one direction; `concat`,
//! `sum`, `mul` or `ave`).

use tf2h5_keras::layers::{self, RecurrentKind, RecurrentOptions};
use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, Mask, Value};
use crate::ConvertError;

/// The op name front ends write for a whole recurrent layer.
pub(crate) const OP: &str = "KerasRecurrent";

pub(super) fn keras_recurrent(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let input = ctx.tensor_input(node, 0)?;
    let kind = match node.attr_str("cell")?.as_str() {
        "LSTM" => RecurrentKind::Lstm,
        "GRU" => RecurrentKind::Gru { reset_after: node.attr_bool_opt("reset_after")?.unwrap_or(true) },
        "SimpleRNN" => RecurrentKind::SimpleRnn,
        other => return Err(ctx.refuse(node, format!("cell '{other}' is not a Keras recurrent layer"))),
    };
    let activation = node.attr_str("activation")?;
    let recurrent_activation = node.attr_str("recurrent_activation")?;
    let options = RecurrentOptions {
        return_sequences: node.attr_bool_opt("return_sequences")?.unwrap_or(false),
        go_backwards: node.attr_bool_opt("go_backwards")?.unwrap_or(false),
        return_state: false,
        activation: &activation,
        recurrent_activation: &recurrent_activation,
    };
    let merge_mode = node.attr_str_opt("merge_mode")?.unwrap_or_default();
    let directions = if merge_mode.is_empty() { 1 } else { 2 };
    if ctx.input_count(node) != 1 + 3 * directions {
        return Err(
            ctx.refuse(node, format!("expects x and {} weights, got {} inputs", 3 * directions, ctx.input_count(node)))
        );
    }
    let weights = (1..1 + 3 * directions).map(|i| ctx.f32_input(node, i)).collect::<Result<Vec<_>, _>>()?;
    let [Some(time), Some(features)] = [input.dim(1), input.dim(2)] else {
        return Err(
            ctx.refuse(node, format!("input {:?} is not (batch, time, features) with known sizes", input.shape))
        );
    };
    let units = weights[1].shape().first().copied().unwrap_or(0);
    if input.rank() != 3 || weights[0].shape().first() != Some(&features) {
        return Err(
            ctx.refuse(node, format!("input {:?} does not match the kernel {:?}", input.shape, weights[0].shape()))
        );
    }
    let name = ctx.layer_name(&node.name);
    let mut weights = weights.into_iter();
    let mut next = || weights.next().expect("counted above");
    let forward = layers::recurrent(&name, input.layer, kind, options, next(), next(), Some(next()));
    let (layer, out_units) = match merge_mode.as_str() {
        "" => (forward, units),
        "concat" | "sum" | "mul" | "ave" => {
            let out_units = if merge_mode == "concat" { 2 * units } else { units };
            (layers::bidirectional(&name, forward, vec![next(), next(), next()], &merge_mode), out_units)
        }
        other => return Err(ctx.refuse(node, format!("merge_mode '{other}' is not supported"))),
    };
    let shape =
        if options.return_sequences { vec![None, Some(time), Some(out_units)] } else { vec![None, Some(out_units)] };
    Ok(ctx.add_layer(node, layer, shape))
}

/// `NotEqual(ids, 0)` read only as the mask of recurrent loops (each reader an `ExpandDims`
/// made time-major into a loop's `TensorList`): the mask an `Embedding(mask_zero=True)`
/// attaches to its output, which those layers apply per step (`patterns/recurrent.rs`).
/// `None` when `node` is not such a mask (the comparison is then converted as a value).
pub(crate) fn loop_mask(ctx: &Context, node: &NodeDef) -> Option<Value> {
    let graph = ctx.graph;
    let reads_node = |n: &&NodeDef| graph.data_inputs(n).any(|i| crate::context::resolve(graph, &i).node == node.name);
    // (Aliases are read through: a frozen graph hands the mask into each layer by Identity.)
    let readers: Vec<&NodeDef> =
        graph.nodes().iter().filter(|n| !crate::context::is_alias(&n.op)).filter(reads_node).collect();
    let feeds_loop = |n: &&NodeDef| {
        n.op == "ExpandDims"
            && reader(ctx, n, &["Transpose"]).is_some_and(|t| {
                let reversed = reader(ctx, t, &["ReverseV2"]);
                reader(ctx, reversed.unwrap_or(t), &["TensorListFromTensor"]).is_some()
            })
    };
    if node.op != "NotEqual" || readers.is_empty() || !readers.iter().all(feeds_loop) {
        return None;
    }
    let is_zero = |v: &Value| match v {
        Value::Const(c) => c.as_ints().is_some_and(|a| a.len() == 1 && a.iter().all(|&i| i == 0)),
        _ => false,
    };
    match (ctx.input(node, 0).ok()?, ctx.input(node, 1).ok()?) {
        (Value::Tensor(ids), zero) | (zero, Value::Tensor(ids)) if is_zero(zero) => {
            Some(Value::Mask(Mask::NonZeroIds(ids.clone())))
        }
        _ => None,
    }
}

/// A `While` loop no recurrent pattern claimed (`patterns/recurrent.rs`): refused as a loop,
/// naming the layer it came from.
pub(super) fn unrecognised_loop(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    Err(loop_refusal(ctx, node))
}

/// A `TensorList` made for a loop (`TensorListReserve`, `TensorListFromTensor`) that no
/// recurrent pattern claimed: refused as its loop is, since the list is only its state.
pub(super) fn loop_list(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    match reader(ctx, node, &["While", "StatelessWhile"]) {
        Some(while_node) => Err(loop_refusal(ctx, while_node)),
        None => Err(ctx.refuse(node, "a TensorList that no While loop reads is not supported")),
    }
}

/// The refusal of the loop that `node` makes its sequence time-major for (the `Transpose`,
/// then maybe `ReverseV2`, before a `TensorListFromTensor` that a `While` reads), if it does:
/// a loop no recurrent pattern claimed is refused as the loop, whichever node is met first.
pub(crate) fn loop_sequence_refusal(ctx: &Context, node: &NodeDef) -> Option<ConvertError> {
    let reversed = reader(ctx, node, &["ReverseV2"]);
    // (A TF1 loop, `tf.compat.v1.nn.dynamic_rnn`'s, scatters it into a `TensorArray`.)
    let list = reader(ctx, reversed.unwrap_or(node), &["TensorListFromTensor", "TensorArrayScatterV3"])?;
    Some(loop_refusal(ctx, reader(ctx, list, &["While", "StatelessWhile"])?))
}

/// A node of one of `ops` that reads `node` (aliases resolved).
fn reader<'g>(ctx: &Context<'g>, node: &NodeDef, ops: &[&str]) -> Option<&'g NodeDef> {
    let graph = ctx.graph;
    let reads_node = |n: &&NodeDef| graph.data_inputs(n).any(|i| crate::context::resolve(graph, &i).node == node.name);
    graph.nodes().iter().filter(|n| ops.contains(&n.op.as_str())).find(reads_node)
}

/// Why loop `node` is refused, naming its layer; a TF1 loop over `TensorArray`s (`dynamic_rnn`,
/// masked by `sequence_length` when its body selects: `Select`/`SelectV2`) and a masked RNN
/// (its body keeps the previous state where the mask is 0) say so.
fn loop_refusal(ctx: &Context, node: &NodeDef) -> ConvertError {
    let scope = tf2h5_tf::loop_scope(&node.name);
    let body = match node.attr.get("body").and_then(|a| a.value.as_ref()) {
        Some(tf2h5_tf::pb::attr_value::Value::Func(f)) => tf2h5_tf::loop_function(&ctx.graph.graph, &f.name).ok(),
        _ => None,
    };
    let has = |ops: &[&str]| body.as_ref().is_some_and(|b| b.nodes.iter().any(|n| ops.contains(&n.op.as_str())));
    let tensor_arrays = has(&["TensorArrayReadV3", "TensorArrayWriteV3"]);
    let message = if tensor_arrays && has(&["Select", "SelectV2"]) {
        format!(
            "a TF1 While loop over TensorArrays from '{scope}' that masks its steps by length \
             (tf.compat.v1.nn.dynamic_rnn's sequence_length): no Keras layer masks by length; \
             dynamic_rnn without sequence_length converts"
        )
    } else if tensor_arrays {
        format!(
            "a TF1 While loop over TensorArrays from '{scope}' that is not a tf.compat.v1.nn.dynamic_rnn as tf2h5 \
             converts them (batch-major input, no sequence_length, an LSTMCell, BasicLSTMCell, GRUCell or \
             BasicRNNCell without peepholes, projections or clipping, its outputs read rather than its final state)"
        )
    } else if has(&["Select", "SelectV2"]) {
        format!(
            "a While loop from layer '{scope}' that reads a mask at each step in a form tf2h5 does not convert \
             (it converts an LSTM, GRU or SimpleRNN reading the mask of an Embedding(mask_zero=True) or of a \
             Masking layer)"
        )
    } else {
        format!(
            "a While loop from layer '{scope}' that is not a Keras LSTM, GRU or SimpleRNN as tf2h5 recognises them \
             (zero initial states, the outputs read as the layer returns them)"
        )
    };
    ctx.refuse(node, message)
}

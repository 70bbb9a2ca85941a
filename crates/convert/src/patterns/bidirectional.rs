//! Keras `Bidirectional` around a masked recurrent layer with `return_sequences`, as tf-keras 2
//! and Keras 3 write it: two loops over the same sequence and mask (`patterns/recurrent.rs`),
//! the backward one `go_backwards` (it reads the sequence and the mask reversed), its outputs
//! reversed back (`ReverseV2` on the time axis), then merged: `concat`
//! (`ConcatV2([y, y_rev], -1)`), `sum` (`y + y_rev`), `mul` (`y · y_rev`) or `ave`
//! (`(y + y_rev) / 2`).
//!
//! Such a `Bidirectional` forces `zero_output_for_mask` on both layers (tf-keras's and Keras 3's
//! `Bidirectional.__init__`): a masked step outputs zeros, not the previous output, so neither
//! loop is a Keras layer on its own. The pair becomes one Keras `Bidirectional`, which computes
//! exactly that in both loaders and passes the mask on. Matched at the merge, which Keras
//! builds after both loops; an unmasked `Bidirectional` stays two layers and a merge.

use tf2h5_keras::layers;
use tf2h5_tf::pb::NodeDef;

use super::recurrent::{self, Recurrent};
use super::{Kind, Match, View};
use crate::context::{Context, Value};
use crate::ConvertError;

/// A recognised masked `Bidirectional`.
#[derive(Debug, Clone)]
pub(crate) struct Bidirectional {
    forward: Box<Recurrent>,
    backward: Box<Recurrent>,
    merge_mode: &'static str,
}

/// The masked `Bidirectional` whose merge is `node`, if it is one.
pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    let (merge_mode, operands, mut inner) = merge(view, node)?;
    let [a, b] = operands;
    let (forward_out, reverse) = [(a.clone(), b.clone()), (b, a)]
        .into_iter()
        .find_map(|(f, r)| Some((f, view.producer(&r, &["ReverseV2"])?)))?;
    (view.ints(&view.input(reverse, 1)?)? == [1]).then_some(())?;
    let backward_out = view.input(reverse, 0)?;
    let direction = |tensor: &tf2h5_tf::TensorRef| -> Option<(Match, &NodeDef)> {
        let output = view.producer(tensor, &["Transpose"])?;
        (view.readers(&output.name) == 1).then_some(())?;
        Some((recurrent::find(view, output)?, output))
    };
    let (forward, forward_node) = direction(&forward_out)?;
    let (backward, backward_node) = direction(&backward_out)?;
    let (Kind::Recurrent(forward_layer), Kind::Recurrent(backward_layer)) = (forward.kind, backward.kind) else {
        return None;
    };
    (forward_layer.is_masked_twin(&backward_layer) && view.readers(&reverse.name) == 1).then_some(())?;
    inner.extend(forward.inner.into_iter().chain(backward.inner));
    inner.extend([forward_node, backward_node, reverse].iter().map(|n| n.name.clone()));
    let kind = Kind::Bidirectional(Bidirectional { forward: forward_layer, backward: backward_layer, merge_mode });
    Some(Match { inner, kind })
}

/// The merge at `node`: its Keras `merge_mode`, its two operands (Keras's forward output first
/// for `concat`; either order otherwise) and its inner nodes (`ave`'s sum).
fn merge(view: &View, node: &NodeDef) -> Option<(&'static str, [tf2h5_tf::TensorRef; 2], Vec<String>)> {
    match node.op.as_str() {
        "ConcatV2" => {
            let inputs: Vec<_> = (0..3).map(|i| view.input(node, i)).collect::<Option<_>>()?;
            let last_axis = matches!(view.ints(&inputs[2])?.as_slice(), [-1] | [2]);
            (view.graph.data_inputs(node).count() == 3 && last_axis)
                .then(|| ("concat", [inputs[0].clone(), inputs[1].clone()], vec![]))
        }
        "AddV2" | "Add" => Some(("sum", view.inputs2(node)?, vec![])),
        "Mul" => Some(("mul", view.inputs2(node)?, vec![])),
        "RealDiv" => {
            let [sum, two] = view.inputs2(node)?;
            let add = view.producer(&sum, &["AddV2", "Add"])?;
            (view.scalar(&two)? == 2.0 && view.readers(&add.name) == 1)
                .then(|| Some(("ave", view.inputs2(add)?, vec![add.name.clone()])))?
        }
        _ => None,
    }
}

/// Builds the `Bidirectional` of a match at its merge node.
pub(super) fn build(ctx: &mut Context, node: &NodeDef, found: &Bidirectional) -> Result<Value, ConvertError> {
    let (input, time, mask) = recurrent::input_and_mask(ctx, node, &found.forward)?;
    // Named as Keras names it: the scope holding `forward_lstm` and `backward_lstm`.
    let scope = found.forward.scope();
    let name = ctx.layer_name(scope.rsplit_once('/').map_or(scope, |(parent, _)| parent));
    let forward = found.forward.layer(&name, input.layer);
    let layer = layers::bidirectional(&name, forward, found.backward.weights(), found.merge_mode);
    let units = found.forward.units() * if found.merge_mode == "concat" { 2 } else { 1 };
    Ok(Value::Tensor(recurrent::add_sequence_layer(ctx, node, layer, &found.forward, time, units, mask)))
}

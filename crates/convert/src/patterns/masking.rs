//! Keras `Masking(mask_value)`, as tf-keras 2 and Keras 3 write it:
//! `keep = Any(NotEqual(x, mask_value), axis=-1, keep_dims)`, the output `x · Cast(keep)`
//! (tf-keras) or `SelectV2(keep, x, 0)` (Keras 3), and the mask the layer attaches, which
//! the recurrent loops reading it apply per step (`patterns/recurrent.rs`):
//! `Squeeze(keep, -1)` in tf-keras, `Any(NotEqual(x, mask_value), axis=-1)` computed again by
//! Keras 3 (its `compute_mask`).
//!
//! Matched at the `Mul` or `SelectV2`; the `NotEqual`, `Any` (and `Cast`) are its inner nodes.
//! The `Any` is also read by the squeezes making the mask: each becomes that mask
//! ([`squeezed_mask`]), which only a recurrent layer whose input is this `Masking` may read.
//! Keras 3's separate mask is matched at its `Any` ([`find_mask`]).

use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, ConstTensor, NodeExt, TensorRef, TfGraph};

use super::{Kind, Match, View};
use crate::context::{self, Context, Mask, Value};
use crate::ConvertError;

/// A recognised `Masking` layer.
#[derive(Debug, Clone)]
pub(crate) struct Masking {
    /// The masked tensor.
    input: TensorRef,
    /// The mask value.
    value: f32,
}

/// The `Masking` whose output is `node`, if it is one: tf-keras's `Mul(x, Cast(keep))` or
/// Keras 3's `SelectV2(keep, x, 0)`.
pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    // (x, keep, the cast between them if any)
    let (input, keep, cast) = match node.op.as_str() {
        "Mul" => {
            let [a, b] = view.inputs2(node)?;
            let (input, cast) = [(a.clone(), b.clone()), (b, a)]
                .into_iter()
                .find_map(|(x, keep)| Some((x, view.producer(&keep, &["Cast"])?)))?;
            (input, view.input(cast, 0)?, Some(cast))
        }
        "SelectV2" if view.graph.data_inputs(node).count() == 3 => {
            (view.scalar(&view.input(node, 2)?)? == 0.0).then_some(())?;
            (view.input(node, 1)?, view.input(node, 0)?, None)
        }
        _ => return None,
    };
    let any = view.producer(&keep, &["Any"])?;
    let (compared, value, not_equal) = any_not_equal(view.graph, any, true)?;
    (compared == input).then_some(())?;
    // The comparison feeds only the `Any`, the cast only this `Mul`; every other reader of the
    // `Any` squeezes it into the mask (Keras 3's squeeze, unread, is not among the needed nodes).
    let keeper = cast.map_or(node.name.as_str(), |c| c.name.as_str());
    let squeezes = readers(view.graph, &any.name);
    let other_readers = squeezes.iter().filter(|r| r.name != keeper);
    let only_masks = other_readers.clone().all(|r| squeezed_any(view.graph, r).is_some());
    let any_reads = 1 + other_readers.count();
    let counts_match = view.readers(&not_equal.name) == 1 && cast.is_none_or(|c| view.readers(&c.name) == 1);
    (only_masks && counts_match && (1..=any_reads).contains(&view.readers(&any.name))).then_some(())?;
    let inner = [Some(not_equal), Some(any), cast].into_iter().flatten().map(|n| n.name.clone()).collect();
    Some(Match { inner, kind: Kind::Masking(Masking { input, value }) })
}

/// The mask Keras 3's `Masking` attaches, computed again from its input at `node`:
/// `Any(NotEqual(x, v), -1)` without keep_dims, read only by the `ExpandDims` that recurrent
/// loops make time-major. (A loop reading it checks the rest, see `patterns/recurrent.rs`.)
pub(super) fn find_mask(view: &View, node: &NodeDef) -> Option<Match> {
    (node.op == "Any" && !node.attr_bool_opt("keep_dims").ok()?.unwrap_or(false)).then_some(())?;
    let (input, value, not_equal) = any_not_equal(view.graph, node, false)?;
    let readers = readers(view.graph, &node.name);
    let all_expand = !readers.is_empty() && readers.iter().all(|r| r.op == "ExpandDims");
    (all_expand && view.readers(&node.name) == readers.len() && view.readers(&not_equal.name) == 1).then_some(())?;
    Some(Match { inner: vec![not_equal.name.clone()], kind: Kind::MaskingMask(Masking { input, value }) })
}

/// The mask of a [`find_mask`] match: `Masking(value)`'s of its input.
pub(super) fn build_mask(ctx: &mut Context, node: &NodeDef, found: &Masking) -> Result<Value, ConvertError> {
    match ctx.value_of(node, &found.input)? {
        Value::Tensor(x) => Ok(Value::Mask(Mask::Masking { input: x.clone(), value: found.value })),
        _ => Err(ctx.refuse(node, "a Keras Masking's mask of something other than a computed tensor")),
    }
}

/// Builds the `Masking` layer of a match at its `Mul`.
pub(super) fn build(ctx: &mut Context, node: &NodeDef, found: &Masking) -> Result<Value, ConvertError> {
    let input = match ctx.value_of(node, &found.input)? {
        Value::Tensor(t) if t.rank() >= 3 => t.clone(),
        other => {
            let what = match other {
                Value::Tensor(t) => format!("a tensor of shape {:?}", t.shape),
                _ => "not a computed tensor".into(),
            };
            return Err(ctx.refuse(node, format!("a Keras Masking of (batch, time, features) reads {what}")));
        }
    };
    if !found.value.is_finite() {
        // The config holds JSON numbers.
        return Err(ctx.refuse(node, format!("a Keras Masking with mask_value {} is not supported", found.value)));
    }
    let name = ctx.layer_name(&node.name);
    let shape = input.shape.clone();
    Ok(ctx.add_layer(node, layers::masking(&name, input.layer, found.value), shape))
}

/// `Squeeze(Any(NotEqual(x, v), -1, keep_dims), [-1])`: the mask a `Masking(v)` of `x`
/// attaches to its output. `None` when `node` is not one (then converted as a squeeze).
pub(crate) fn squeezed_mask(ctx: &Context, node: &NodeDef) -> Option<Value> {
    let any = squeezed_any(ctx.graph, node)?;
    let (input, value, _) = any_not_equal(ctx.graph, any, true)?;
    match ctx.value_of(node, &input).ok()? {
        Value::Tensor(x) => Some(Value::Mask(Mask::Masking { input: x.clone(), value })),
        _ => None,
    }
}

/// The `Any` that `node` squeezes on its last axis, if `node` is such a `Squeeze`.
fn squeezed_any<'g>(graph: &'g TfGraph, node: &NodeDef) -> Option<&'g NodeDef> {
    let dims = node.attr_ints_opt("squeeze_dims").ok()??;
    (node.op == "Squeeze" && dims == [-1]).then_some(())?;
    producer(graph, node, 0, "Any")
}

/// `Any(NotEqual(x, v), [-1], keep_dims)` with `v` one float constant: `(x, v, NotEqual)`.
fn any_not_equal<'g>(graph: &'g TfGraph, any: &NodeDef, keep_dims: bool) -> Option<(TensorRef, f32, &'g NodeDef)> {
    let axes = ConstTensor::from_node(producer(graph, any, 1, "Const")?).ok()?;
    let last_axis = axes.as_ints()?.iter().copied().collect::<Vec<i64>>() == [-1];
    let keeps = any.attr_bool_opt("keep_dims").ok()?.unwrap_or(false) == keep_dims;
    (any.op == "Any" && last_axis && keeps && graph.data_inputs(any).count() == 2).then_some(())?;
    let not_equal = producer(graph, any, 0, "NotEqual")?;
    let operands: Vec<TensorRef> = graph.data_inputs(not_equal).map(|r| context::resolve(graph, &r)).collect();
    let scalar = |t: &TensorRef| -> Option<f32> {
        let node = graph.node(&t.node).filter(|n| n.op == "Const")?;
        let value = ConstTensor::from_node(node).ok()?;
        let values = value.as_f32()?;
        (values.len() == 1).then(|| values.iter().copied().next()).flatten()
    };
    match operands.as_slice() {
        [x, v] | [v, x] if scalar(v).is_some() && scalar(x).is_none() => Some((x.clone(), scalar(v)?, not_equal)),
        _ => None,
    }
}

/// The node producing data input `index` of `node` (output 0, aliases resolved), if its op
/// is `op`.
fn producer<'g>(graph: &'g TfGraph, node: &NodeDef, index: usize, op: &str) -> Option<&'g NodeDef> {
    let input = context::resolve(graph, &graph.data_inputs(node).nth(index)?);
    graph.node(&input.node).filter(|n| n.op == op && input.output == 0)
}

/// The nodes reading output 0 of `name` (aliases resolved, not counted themselves).
fn readers<'g>(graph: &'g TfGraph, name: &str) -> Vec<&'g NodeDef> {
    let reads = |n: &&NodeDef| {
        graph.data_inputs(n).map(|r| context::resolve(graph, &r)).any(|r| r.node == name && r.output == 0)
    };
    graph.nodes().iter().filter(|n| !context::is_alias(&n.op)).filter(reads).collect()
}

//! Multi-node TF subgraphs that one Keras layer expresses, recognised before conversion.
//!
//! Some Keras layers reach a frozen graph as several nodes: swish as `x · sigmoid(x)`, GELU as
//! `0.5 · x · erfc(-x/√2)`, `LayerNormalization` as moments plus a decomposed normalisation (and Keras 3's
//! `BatchNormalization` as the same arithmetic on its moving statistics; jax's centred
//! `LayerNorm` and written-out softmax as jax2tf exports them),
//! a dilated depthwise convolution as `SpaceToBatchND → conv → BatchToSpaceND`, a `Conv1D` as
//! `ExpandDims → Conv2D → Squeeze`, a `SeparableConv2D` as a depthwise then a 1×1
//! convolution, Keras 3's wrapping of negative embedding ids, a Keras `Masking`, recurrent
//! layers from `While` loops and a masked `Bidirectional` from two of them. Converting
//! those node by node is impossible (a mean over channels has no layer) or inexact, so a pass
//! over the needed nodes finds them first. A match names its output node, which builds the
//! layer, and its inner nodes, which are then skipped; a match is only accepted when nothing
//! outside it reads an inner node. Each pattern has its own file.

mod bidirectional;
mod conv1d;
mod dilated_conv;
mod dynamic_rnn;
mod gelu;
mod masking;
mod normalization;
mod recurrent;
mod reduction;
mod separable;
mod softmax;
mod swish;
mod take;

pub(crate) use masking::squeezed_mask;

use std::collections::{HashMap, HashSet};

use tf2h5_tf::{pb::NodeDef, ConstTensor, TensorRef, TfGraph};

use crate::context::{self, Context, Value};
use crate::ConvertError;

/// What a match builds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `Activation('swish')` (or a fused activation) on `input`, which the pattern reads
    /// `reads` times.
    Swish { input: TensorRef, reads: usize },
    /// `Activation('gelu')` (exact erf form) on `input`, read `reads` times.
    Gelu { input: TensorRef, reads: usize },
    /// `LayerNormalization` over the last axis.
    LayerNorm(normalization::LayerNorm),
    /// Inference `BatchNormalization` over the last axis, from decomposed arithmetic.
    BatchNorm(normalization::BatchNorm),
    /// A convolution with `dilation_rate` instead of space-to-batch.
    DilatedConv(dilated_conv::DilatedConv),
    /// A 1-D convolution or pool instead of a 2-D one between `ExpandDims` and `Squeeze`.
    OneD(conv1d::OneD),
    /// A `SeparableConv2D` instead of a depthwise then a 1×1 convolution.
    Separable(separable::Separable),
    /// The value of `input` (Keras 3's wrapping of negative ids, for valid ids).
    PassThrough { input: TensorRef },
    /// A Keras `LSTM`, `GRU` or `SimpleRNN` from a `While` loop (tf-keras's and Keras 3's
    /// over TensorLists, or TF1 `dynamic_rnn`'s over TensorArrays).
    Recurrent(Box<recurrent::Recurrent>),
    /// A Keras `Bidirectional` from two masked loops and their merge.
    Bidirectional(bidirectional::Bidirectional),
    /// `Softmax` over one axis, from written-out arithmetic.
    Softmax(softmax::Softmax),
    /// Keras `Masking`: the input times whether any feature differs from the mask value.
    Masking(masking::Masking),
    /// The mask a Keras 3 `Masking` attaches, which recurrent loops read.
    MaskingMask(masking::Masking),
}

/// One recognised subgraph.
#[derive(Debug, Clone)]
pub(crate) struct Match {
    /// Inner nodes, not converted on their own.
    pub inner: Vec<String>,
    /// What to build at the output node.
    pub kind: Kind,
}

impl Match {
    /// The inner node to build the match at instead of its output node, because nodes
    /// outside the match read it: a recurrent layer's loop, whose final states other nodes
    /// may read before the layer's output node comes.
    fn built_at(&self) -> Option<&str> {
        match &self.kind {
            Kind::Recurrent(recurrent) => recurrent.loop_node(),
            _ => None,
        }
    }
}

/// All matches of a graph, by the node they are built at (their output node, or
/// [`Match::built_at`]).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    by_output: HashMap<String, (String, Match)>,
    inner: HashSet<String>,
}

impl Plan {
    /// Whether `name` is an inner node of some match (or the output node of a match built
    /// at an inner node).
    pub fn is_inner(&self, name: &str) -> bool {
        self.inner.contains(name)
    }

    /// The match built at node `name`, with its output node.
    pub fn output(&self, name: &str) -> Option<(&str, &Match)> {
        self.by_output.get(name).map(|(output, found)| (output.as_str(), found))
    }
}

/// Finds every pattern among the nodes in `order` (the nodes the outputs need).
pub(crate) fn find(graph: &TfGraph, order: &[String], outputs: &[String]) -> Plan {
    let view = View { graph, consumers: context::count_consumers(graph, order, outputs) };
    let mut plan = Plan::default();
    let matchers: [fn(&View, &NodeDef) -> Option<Match>; 13] = [
        bidirectional::find,
        recurrent::find,
        dynamic_rnn::find,
        masking::find,
        masking::find_mask,
        normalization::find,
        softmax::find,
        gelu::find,
        swish::find,
        dilated_conv::find,
        conv1d::find,
        separable::find,
        take::find,
    ];
    // Later nodes first, so a larger pattern claims its nodes before a sub-pattern could.
    for name in order.iter().rev() {
        if plan.inner.contains(name) || plan.by_output.contains_key(name) {
            continue;
        }
        let Some(node) = graph.node(name) else { continue };
        for matcher in matchers {
            if let Some(found) = matcher(&view, node) {
                let taken = found.inner.iter().any(|n| plan.inner.contains(n) || plan.by_output.contains_key(n));
                if !taken {
                    plan.inner.extend(found.inner.iter().cloned());
                    let at = found.built_at().unwrap_or(name).to_string();
                    if at != *name {
                        plan.inner.remove(&at);
                        plan.inner.insert(name.clone());
                    }
                    plan.by_output.insert(at, (name.clone(), found));
                    break;
                }
            }
        }
    }
    plan
}

/// Builds the layer(s) of `found` for its output `node`.
pub(crate) fn build(ctx: &mut Context, node: &NodeDef, found: &Match) -> Result<Value, ConvertError> {
    let value = match &found.kind {
        Kind::Swish { input, reads } => activation(ctx, node, input, "swish", *reads)?,
        Kind::Gelu { input, reads } => activation(ctx, node, input, "gelu", *reads)?,
        Kind::LayerNorm(ln) => normalization::build_layer_norm(ctx, node, ln)?,
        Kind::BatchNorm(bn) => normalization::build_batch_norm(ctx, node, bn)?,
        Kind::DilatedConv(conv) => dilated_conv::build(ctx, node, conv)?,
        Kind::OneD(one_d) => conv1d::build(ctx, node, one_d)?,
        Kind::Separable(separable) => separable::build(ctx, node, separable)?,
        Kind::Recurrent(recurrent) => recurrent::build(ctx, node, recurrent)?,
        Kind::Bidirectional(bidirectional) => bidirectional::build(ctx, node, bidirectional)?,
        Kind::Softmax(softmax) => softmax::build(ctx, node, softmax)?,
        Kind::Masking(masking) => masking::build(ctx, node, masking)?,
        Kind::MaskingMask(masking) => masking::build_mask(ctx, node, masking)?,
        Kind::PassThrough { input } => match ctx.value_of(node, input)?.clone() {
            Value::Tensor(t) => ctx.pass_through(node, t),
            other => other,
        },
    };
    if let Value::Tensor(t) = &value {
        ctx.absorbed(t, &found.inner);
    }
    Ok(value)
}

fn activation(
    ctx: &mut Context,
    node: &NodeDef,
    input: &TensorRef,
    activation: &str,
    reads: usize,
) -> Result<Value, ConvertError> {
    let tensor = match ctx.value_of(node, input)? {
        Value::Tensor(t) => t.clone(),
        _ => return Err(ctx.refuse(node, format!("{activation} of something other than a computed tensor"))),
    };
    // Fused into the layer before when the pattern's own `reads` are all its readers.
    Ok(crate::ops::nn::activation::apply(ctx, node, tensor, activation, reads))
}

/// The graph as matchers see it: aliases resolved, consumers counted.
pub(crate) struct View<'g> {
    graph: &'g TfGraph,
    consumers: HashMap<TensorRef, usize>,
}

impl<'g> View<'g> {
    /// Data input `index` of `node`, aliases resolved.
    fn input(&self, node: &NodeDef, index: usize) -> Option<TensorRef> {
        self.graph.data_inputs(node).nth(index).map(|r| context::resolve(self.graph, &r))
    }

    /// The two data inputs of a binary op.
    fn inputs2(&self, node: &NodeDef) -> Option<[TensorRef; 2]> {
        if self.graph.data_inputs(node).count() != 2 {
            return None;
        }
        Some([self.input(node, 0)?, self.input(node, 1)?])
    }

    /// The node producing `tensor` (output 0 only), if its op is one of `ops`.
    fn producer(&self, tensor: &TensorRef, ops: &[&str]) -> Option<&'g NodeDef> {
        let node = self.graph.node(&tensor.node)?;
        (tensor.output == 0 && ops.contains(&node.op.as_str())).then_some(node)
    }

    /// How many times the nodes `members` read output 0 of `name`.
    fn reads_by(&self, name: &str, members: &[&NodeDef]) -> usize {
        members
            .iter()
            .flat_map(|m| self.graph.data_inputs(m).map(|r| context::resolve(self.graph, &r)))
            .filter(|r| r.node == name && r.output == 0)
            .count()
    }

    /// How many nodes read output 0 of `name`.
    fn readers(&self, name: &str) -> usize {
        self.consumers.get(&TensorRef { node: name.to_string(), output: 0 }).copied().unwrap_or(0)
    }

    /// The value of a `Const` node.
    fn constant(&self, tensor: &TensorRef) -> Option<ConstTensor> {
        let node = self.producer(tensor, &["Const"])?;
        ConstTensor::from_node(node).ok()
    }

    /// The value of a `Const` node, possibly reshaped (Keras 3 reshapes per-channel
    /// parameters for broadcasting before using them).
    fn constant_through_reshape(&self, tensor: &TensorRef) -> Option<ConstTensor> {
        match self.producer(tensor, &["Reshape", "ExpandDims", "Squeeze"]) {
            Some(reshape) => self.constant_through_reshape(&self.input(reshape, 0)?),
            None => self.constant(tensor),
        }
    }

    /// The value of a `Const` node of integers, flattened.
    fn ints(&self, tensor: &TensorRef) -> Option<Vec<i64>> {
        Some(self.constant(tensor)?.as_ints()?.iter().copied().collect())
    }

    /// `tensor` without an optional `Maximum(floor, ·)` (operands in either order) whose other
    /// operand is the scalar `floor`; the `Maximum` joins `inner`. `None` for any other bound.
    fn without_floor(&self, tensor: TensorRef, floor: f32, inner: &mut Vec<&'g NodeDef>) -> Option<TensorRef> {
        let Some(max) = self.producer(&tensor, &["Maximum"]) else { return Some(tensor) };
        let [a, b] = self.inputs2(max)?;
        let floored = match (self.scalar(&a), self.scalar(&b)) {
            (Some(f), None) if f == floor => b,
            (None, Some(f)) if f == floor => a,
            _ => return None,
        };
        inner.push(max);
        Some(floored)
    }

    /// A float constant holding a single value.
    fn scalar(&self, tensor: &TensorRef) -> Option<f32> {
        let c = self.constant(tensor)?;
        let a = c.as_f32()?;
        (a.len() == 1).then(|| a.iter().copied().next().unwrap_or(0.0))
    }

    /// True when every read of each inner node comes from a node of the match (`inner` plus
    /// `output`), so skipping the inner nodes loses nothing.
    fn closed(&self, inner: &[&NodeDef], output: &NodeDef) -> bool {
        let members: Vec<&NodeDef> = inner.iter().copied().chain(std::iter::once(output)).collect();
        inner.iter().all(|n| {
            let reads = self.reads_by(&n.name, &members);
            reads == self.readers(&n.name) && reads > 0
        })
    }
}

/// `a == b` within a relative `tolerance` (constants such as 1/√2 are written with varying
/// precision by different TF versions).
fn close(a: f32, b: f64, tolerance: f64) -> bool {
    (f64::from(a) - b).abs() <= tolerance * b.abs()
}

/// Names of matched inner nodes.
fn names(nodes: &[&NodeDef]) -> Vec<String> {
    nodes.iter().map(|n| n.name.clone()).collect()
}

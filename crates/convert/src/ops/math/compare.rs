//! Comparisons of integer ids with a constant (`NotEqual(ids, 0)`: BERT's padding mask):
//! an `Embedding(bound, 1)` whose table holds the comparison's result for every valid id
//! (1.0 where true, 0.0 where false), then a `Reshape` dropping its unit axis. The valid ids are
//! `0..bound`, the bound the graph puts on them ([`tf2h5_tf::ids::id_bound`]: the rows of an
//! embedding table they are looked up in), so the table is exact by construction.
//!
//! `NotEqual(ids, 0)` that only recurrent loops read is their Keras mask instead
//! ([`crate::ops::nn::loop_mask`]).
//!
//! The boolean result is held as those 0.0/1.0 floats: a `Cast` of it to float32 changes
//! nothing (see `shape::cast`). Comparisons of float tensors have no exact standard layer and
//! are refused.

use ndarray::ArrayD;
use tf2h5_keras::layers;
use tf2h5_keras::spec::{Embedding, LayerSpec};
use tf2h5_keras::Weight;
use tf2h5_tf::{pb::NodeDef, ConstTensor};

use crate::context::{Context, Value};
use crate::ConvertError;

/// What a comparison computes on two integers.
type Predicate = fn(i64, i64) -> bool;

/// The comparison ops, and what each computes.
const COMPARISONS: &[(&str, Predicate)] = &[
    ("Equal", |a, b| a == b),
    ("NotEqual", |a, b| a != b),
    ("Less", |a, b| a < b),
    ("LessEqual", |a, b| a <= b),
    ("Greater", |a, b| a > b),
    ("GreaterEqual", |a, b| a >= b),
];

/// Whether `op` is a comparison this module converts (its output is held as 0.0/1.0).
pub(crate) fn is_comparison(op: &str) -> bool {
    COMPARISONS.iter().any(|(name, _)| *name == op)
}

pub(super) fn register(registry: &mut crate::ops::Registry) {
    for (op, _) in COMPARISONS {
        registry.insert(*op, compare);
    }
}

fn compare(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    // The mask of an Embedding(mask_zero=True), read by recurrent loops, stays a mask.
    if let Some(mask) = crate::ops::nn::loop_mask(ctx, node) {
        return Ok(mask);
    }
    let Some(&(_, holds)) = COMPARISONS.iter().find(|(op, _)| *op == node.op) else {
        return Err(ctx.refuse(node, "not a comparison"));
    };
    let (ids, constant, ids_first) = match (ctx.input(node, 0)?, ctx.input(node, 1)?) {
        (Value::Tensor(t), Value::Const(c)) => (t.clone(), c.clone(), true),
        (Value::Const(c), Value::Tensor(t)) => (t.clone(), c.clone(), false),
        _ => return Err(ctx.refuse(node, "only a comparison of integer ids with a constant is supported")),
    };
    let value = match &constant {
        ConstTensor::Int(c) if c.len() == 1 => c.iter().next().copied().unwrap_or_default(),
        _ => return Err(ctx.refuse(node, "only a comparison of integer ids with one integer constant is supported")),
    };
    let ids_input = ctx.graph.data_inputs(node).nth(if ids_first { 0 } else { 1 });
    let source = ids_input.and_then(|input| tf2h5_tf::ids::id_source(ctx.graph, &input.node));
    let bound = source.and_then(|source| tf2h5_tf::ids::id_bound(ctx.graph, &source.name));
    let Some(bound) = bound.filter(|&b| b <= 1 << 24) else {
        return Err(
            ctx.refuse(node, "comparing integers nothing bounds (no embedding table reads them) is not supported")
        );
    };
    let Some(dims) = ids.shape[1..].iter().copied().collect::<Option<Vec<usize>>>() else {
        return Err(ctx.refuse(node, format!("comparing ids of unknown shape {:?} is not supported", ids.shape)));
    };
    let table: Vec<f32> = (0..bound)
        .map(|id| if ids_first { holds(id, value) } else { holds(value, id) })
        .map(|truth| if truth { 1.0 } else { 0.0 })
        .collect();
    let table = ArrayD::from_shape_vec(vec![bound as usize, 1], table).map_err(|e| ctx.refuse(node, e.to_string()))?;
    let name = ctx.layer_name(&node.name);
    let spec = LayerSpec::Embedding(Embedding { input_dim: bound as usize, output_dim: 1, mask_zero: false });
    let lookup = spec.layer(&format!("{name}_table"), vec![ids.layer.clone()], vec![Weight::new("embeddings", table)]);
    let mut lookup_shape = ids.shape.clone();
    lookup_shape.push(Some(1));
    let looked_up = ctx.add_inner_layer(lookup, lookup_shape);
    Ok(ctx.add_layer(node, layers::reshape(&name, looked_up.layer, &dims), ids.shape))
}

//! Comparisons of integer ids with a constant (`NotEqual(ids, 0)`: BERT's padding mask):
//! an `Embedding(bound, 1)` whose table holds the comparison's result for every valid id
//! (1.0 where true, 0.0 where false), then a `Reshape` dropping its unit axis. The valid ids are
//! `0..bound`, the bound the graph puts on them ([`tf2h5_tf::ids::id_bound`]: the rows of an
//! embedding table they are looked up in), so the table is exact by construction.
//!
//! A `Cast` of ids to bool is the comparison `ids != 0`, tabulated the same way (keras-hub's
//! int32 `padding_mask`, whose range is 0..2 when nothing else bounds it: see
//! [`tf2h5_tf::ids::MASK_BOUND`]).
//!
//! `NotEqual(ids, 0)` that only recurrent loops read is their Keras mask instead
//! ([`crate::ops::nn::loop_mask`]).
//!
//! The boolean result is held as those 0.0/1.0 floats ([`holds_truth`]): a `Cast` of it to
//! float32 changes nothing (see `shape::cast`), a `SelectV2` on it is a product with it
//! (`math::select`). Comparisons of float tensors have no exact standard layer and are refused;
//! comparisons of two constants are folded.

use ndarray::ArrayD;
use tf2h5_keras::layers;
use tf2h5_keras::spec::{Embedding, LayerSpec};
use tf2h5_keras::Weight;
use tf2h5_tf::{pb::DataType, pb::NodeDef, ConstTensor, NodeExt, TensorRef};

use crate::context::{Context, KTensor, Value};
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
fn is_comparison(op: &str) -> bool {
    COMPARISONS.iter().any(|(name, _)| *name == op)
}

/// Whether the boolean `tensor` (read through reshapes and slices) is a comparison or a `Cast`
/// to bool this module converted, which the converter holds as 0.0/1.0 floats.
pub(crate) fn holds_truth(ctx: &Context, tensor: &TensorRef) -> bool {
    let source = tf2h5_tf::ids::id_source(ctx.graph, &tensor.node);
    source.is_some_and(|source| is_comparison(&source.op) || tf2h5_tf::ids::casts_to_bool(source))
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
        (Value::Const(a), Value::Const(b)) => {
            return super::const_fold::fold_comparison(&node.op, a, b).map(Value::Const).ok_or_else(|| {
                ctx.refuse(node, format!("cannot compare constants of shapes {:?} and {:?}", a.shape(), b.shape()))
            })
        }
        _ => return Err(ctx.refuse(node, "only a comparison of integer ids with a constant is supported")),
    };
    let value = match &constant {
        ConstTensor::Int(c) if c.len() == 1 => c.iter().next().copied().unwrap_or_default(),
        _ => return Err(ctx.refuse(node, "only a comparison of integer ids with one integer constant is supported")),
    };
    let ids_input = ctx.graph.data_inputs(node).nth(if ids_first { 0 } else { 1 });
    tabulate(ctx, node, &ids, ids_input, |id| if ids_first { holds(id, value) } else { holds(value, id) })
}

/// `Cast(ids, bool)`: the comparison `ids != 0`.
pub(crate) fn cast_to_bool(ctx: &mut Context, node: &NodeDef, ids: &KTensor) -> Result<Value, ConvertError> {
    let from = node.attr_type_opt("SrcT")?;
    let input = ctx.graph.data_inputs(node).next();
    if from == Some(DataType::DtBool as i32) && input.as_ref().is_some_and(|input| holds_truth(ctx, input)) {
        return Ok(ctx.pass_through(node, ids.clone()));
    }
    if !from.is_some_and(|t| crate::ops::array::is_whole_number_type(t) && t != DataType::DtBool as i32) {
        let from = from.map_or_else(|| "an unset type".to_string(), tf2h5_tf::dtype_name);
        return Err(ctx.refuse(node, format!("casting {from} to bool is not supported (only integer ids or masks)")));
    }
    tabulate(ctx, node, ids, input, |id| id != 0)
}

/// `truth` of every valid value of the integer tensor `ids` (read from graph tensor
/// `ids_input`), as 0.0/1.0: an `Embedding` table over `0..bound` and a `Reshape` dropping its
/// unit axis. Refused when nothing bounds the ids.
fn tabulate(
    ctx: &mut Context,
    node: &NodeDef,
    ids: &KTensor,
    ids_input: Option<TensorRef>,
    truth: impl Fn(i64) -> bool,
) -> Result<Value, ConvertError> {
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
    let table: Vec<f32> = (0..bound).map(|id| if truth(id) { 1.0 } else { 0.0 }).collect();
    let table = ArrayD::from_shape_vec(vec![bound as usize, 1], table).map_err(|e| ctx.refuse(node, e.to_string()))?;
    let name = ctx.layer_name(&node.name);
    let spec = LayerSpec::Embedding(Embedding { input_dim: bound as usize, output_dim: 1, mask_zero: false });
    let lookup = spec.layer(&format!("{name}_table"), vec![ids.layer.clone()], vec![Weight::new("embeddings", table)]);
    let mut lookup_shape = ids.shape.clone();
    lookup_shape.push(Some(1));
    let looked_up = ctx.add_inner_layer(lookup, lookup_shape);
    Ok(ctx.add_layer(node, layers::reshape(&name, looked_up.layer, &dims), ids.shape.clone()))
}

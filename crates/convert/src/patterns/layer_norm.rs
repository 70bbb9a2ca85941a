//! Layer normalization over the last axis → `LayerNormalization(axis=-1, epsilon)`.
//!
//! tf-keras's (unfused) `LayerNormalization` and `tf.nn.moments` + `tf.nn.batch_normalization`
//! freeze to:
//! ```text
//! mean = Mean(x, -1, keep_dims)            var = Mean(SquaredDifference(x, StopGradient(mean)), -1, keep_dims)
//! inv  = Rsqrt(var + eps) [* gamma]        out = x * inv + (beta - mean * inv)   [or + Neg(mean * inv)]
//! ```
//! Keras 3 computes `x * inv + (-mean * inv + beta)`, the same float32 operations. Without
//! gamma or beta the layer gets ones / zeros, which change nothing (`inv * 1`, `0 - m`).
//! (tf-keras's *fused* form, used when epsilon ≥ 1.001e-5, reshapes into a training-mode
//! `FusedBatchNormV3` and is not recognised.)

use ndarray::ArrayD;
use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, NodeExt, TensorRef};

use super::{Kind, Match, View};
use crate::context::{Context, Value};
use crate::ConvertError;

/// A recognised layer normalization.
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    input: TensorRef,
    /// Reduction axes of the two means (checked against the input rank when building).
    axes: TensorRef,
    epsilon: TensorRef,
    gamma: Option<TensorRef>,
    beta: Option<TensorRef>,
}

/// `Mul(a, b)`: the operand that is not `known`, if the other one is.
fn other(view: &View, node: &NodeDef, known: &TensorRef) -> Option<TensorRef> {
    let [a, b] = view.inputs2(node)?;
    if &a == known {
        Some(b)
    } else if &b == known {
        Some(a)
    } else {
        None
    }
}

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    if !matches!(node.op.as_str(), "AddV2" | "Add") {
        return None;
    }
    let [a, b] = view.inputs2(node)?;
    for (scaled, shifted) in [(&a, &b), (&b, &a)] {
        if let Some(found) = try_match(view, node, scaled, shifted) {
            return Some(found);
        }
    }
    None
}

fn try_match(view: &View, out: &NodeDef, scaled: &TensorRef, shifted: &TensorRef) -> Option<Match> {
    // shifted = beta - mean * inv, or -(mean * inv).
    let shift = view.producer(shifted, &["Sub", "Neg"])?;
    let (beta, m2_ref) = if shift.op == "Sub" {
        let [beta, m2] = view.inputs2(shift)?;
        view.constant(&beta)?;
        (Some(beta), m2)
    } else {
        (None, view.input(shift, 0)?)
    };
    let m2 = view.producer(&m2_ref, &["Mul"])?;
    // scaled = x * inv, and m2 = mean * inv: inv is the operand they share.
    let m1 = view.producer(scaled, &["Mul"])?;
    let [p, q] = view.inputs2(m1)?;
    for (x, inv) in [(&p, &q), (&q, &p)] {
        let Some(mean_ref) = other(view, m2, inv) else { continue };
        let Some(mean) = view.producer(&mean_ref, &["Mean"]) else { continue };
        if view.input(mean, 0).as_ref() != Some(x) || !keep_dims(mean) {
            continue;
        }
        // inv = rsqrt(var + eps) [* gamma]
        let (rsqrt, gamma, gamma_node) = match view.producer(inv, &["Rsqrt", "Mul"]) {
            Some(n) if n.op == "Rsqrt" => (n, None, None),
            Some(n) => {
                let [r, g] = view.inputs2(n)?;
                let (r, g) = if view.constant(&g).is_some() { (r, g) } else { (g, r) };
                view.constant(&g)?;
                (view.producer(&r, &["Rsqrt"])?, Some(g), Some(n))
            }
            None => continue,
        };
        let add_eps = view.producer(&view.input(rsqrt, 0)?, &["AddV2", "Add"])?;
        let [u, v] = view.inputs2(add_eps)?;
        let (var_ref, epsilon) = if view.scalar(&v).is_some() { (u, v) } else { (v, u) };
        view.scalar(&epsilon)?;
        let var = view.producer(&var_ref, &["Mean"])?;
        let sq = view.producer(&view.input(var, 0)?, &["SquaredDifference"])?;
        let [s0, s1] = view.inputs2(sq)?;
        let sq_ok = (&s0 == x && s1 == mean_ref) || (&s1 == x && s0 == mean_ref);
        let axes = view.input(mean, 1)?;
        let var_axes = view.input(var, 1)?;
        if !sq_ok || !keep_dims(var) || view.constant(&axes) != view.constant(&var_axes) || view.constant(&axes).is_none() {
            continue;
        }
        let mut inner = vec![shift, m2, m1, mean, rsqrt, add_eps, var, sq];
        inner.extend(gamma_node);
        if !view.closed(&inner, out) {
            continue;
        }
        let ln = LayerNorm { input: x.clone(), axes, epsilon, gamma, beta };
        return Some(Match { inner: super::names(&inner), kind: Kind::LayerNorm(ln) });
    }
    None
}

fn keep_dims(node: &NodeDef) -> bool {
    node.attr_bool_opt("keep_dims").ok().flatten().unwrap_or(false)
}

pub(super) fn build(ctx: &mut Context, node: &NodeDef, ln: &LayerNorm) -> Result<Value, ConvertError> {
    let tensor = match ctx.value_of(node, &ln.input)? {
        Value::Tensor(t) => t.clone(),
        _ => return Err(ctx.refuse(node, "layer normalization of something other than a computed tensor")),
    };
    let rank = tensor.rank() as i64;
    let axes: Vec<i64> = match ctx.value_of(node, &ln.axes)? {
        Value::Const(c) => c.as_ints().map(|a| a.iter().copied().collect()).unwrap_or_default(),
        _ => vec![],
    };
    if axes != [-1] && axes != [rank - 1] {
        return Err(ctx.refuse(node, format!("layer normalization over axes {axes:?} of a rank-{rank} tensor (only the last axis is supported)")));
    }
    let channels = tensor.channels().ok_or_else(|| ctx.refuse(node, "unknown channel count"))?;
    let per_channel = |ctx: &Context, r: &Option<TensorRef>, default: f32| -> Result<ArrayD<f32>, ConvertError> {
        let Some(r) = r else { return Ok(ArrayD::from_elem(vec![channels], default)) };
        let value = match ctx.value_of(node, r)? {
            Value::Const(c) => c.as_f32().cloned(),
            _ => None,
        };
        match value {
            Some(v) if v.len() == channels => Ok(v.into_shape_with_order(vec![channels]).map_err(|e| ctx.refuse(node, e.to_string()))?),
            Some(v) if v.len() == 1 => Ok(ArrayD::from_elem(vec![channels], v.iter().copied().next().unwrap_or(default))),
            _ => Err(ctx.refuse(node, "gamma and beta must be one constant per channel")),
        }
    };
    let gamma = per_channel(ctx, &ln.gamma, 1.0)?;
    let beta = per_channel(ctx, &ln.beta, 0.0)?;
    let epsilon = match ctx.value_of(node, &ln.epsilon)? {
        Value::Const(c) => c.as_f32().and_then(|a| a.iter().copied().next()),
        _ => None,
    }
    .ok_or_else(|| ctx.refuse(node, "epsilon must be a float constant"))?;
    let name = ctx.layer_name(&node.name);
    let shape = tensor.shape.clone();
    Ok(ctx.add_layer(node, layers::layer_normalization(&name, tensor.layer, epsilon, gamma, beta), shape))
}

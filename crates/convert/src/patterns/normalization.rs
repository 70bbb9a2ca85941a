//! Decomposed normalisations → `LayerNormalization` or `BatchNormalization`.
//!
//! Both freeze to the same arithmetic around a mean and a variance:
//! ```text
//! inv = Rsqrt(var + eps) [* gamma]        out = x * inv + (beta - mean * inv)   [or + (Neg(mean) * inv + beta), + Neg(mean * inv), + Neg(mean) * inv]
//! ```
//! - **Layer normalization** over any axes: tf-keras's (unfused) `LayerNormalization`
//!   and `tf.nn.moments` + `tf.nn.batch_normalization` compute the moments from `x`:
//!   `mean = Mean(x, axes, keep_dims)`, `var = Mean(SquaredDifference(x, StopGradient(mean)), axes, keep_dims)`.
//!   Keras 3 computes `x * inv + (-mean * inv + beta)`, the same float32 operations (negation
//!   is exact, and `-a + b` is `b - a` in IEEE).
//!   (tf-keras's *fused* form, used when epsilon ≥ 1.001e-5, reshapes into a training-mode
//!   `FusedBatchNormV3` and is not recognised.)
//! - **Batch normalization** at inference: `mean` and `var` are constants (the moving
//!   statistics), possibly reshaped for broadcasting, as Keras 3's `BatchNormalization`
//!   exports them (`model.export`) and `tf.nn.batch_normalization` on variables freezes.
//!
//! Layer normalization runs over any one non-batch axis, or several adjacent ones (gamma and
//! beta reshaped to the broadcast shape, as tf-keras writes them for `axis=[1, 2]`): those are
//! merged into one axis by a `Reshape` around the layer, because Keras 3's legacy loader drops
//! an `axis` list of several axes. Without gamma or beta it is written with `scale=False` /
//! `center=False`. A batch normalization without them gets ones
//! / zeros, which change nothing (`inv * 1`, `0 - m`).

mod centered;

use ndarray::ArrayD;
use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, TensorRef};

use super::reduction::keep_dims;
use super::{Kind, Match, View};
use crate::context::{Context, Value};
use crate::ConvertError;
use crate::KTensor;

/// A recognised layer normalization.
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    input: TensorRef,
    /// Reduction axes of the two means (checked against the input rank when building).
    axes: TensorRef,
    /// Target shapes of the `Reshape`s that put the reduced axes back as size 1 after means
    /// taken without `keep_dims` (checked against the input's shape when building).
    restores: Vec<TensorRef>,
    common: Common,
}

/// A recognised inference-mode batch normalization over the last axis.
#[derive(Debug, Clone)]
pub(crate) struct BatchNorm {
    input: TensorRef,
    mean: TensorRef,
    variance: TensorRef,
    common: Common,
}

/// What both normalisations share.
#[derive(Debug, Clone)]
struct Common {
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
        if let Some(found) =
            try_match(view, node, scaled, shifted).or_else(|| centered::find(view, node, scaled, shifted))
        {
            return Some(found);
        }
    }
    None
}

fn try_match(view: &View, out: &NodeDef, scaled: &TensorRef, shifted: &TensorRef) -> Option<Match> {
    // shifted = beta - mean * inv, -mean * inv + beta (Keras 3), -(mean * inv), or -mean * inv
    // (no beta). `negated`: the mean is negated before the product.
    let shift = view.producer(shifted, &["Sub", "Neg", "Mul", "AddV2", "Add"])?;
    let (beta, m2, negated) = match shift.op.as_str() {
        "Sub" => {
            let [beta, m2] = view.inputs2(shift)?;
            view.constant_through_reshape(&beta)?;
            (Some(beta), view.producer(&m2, &["Mul"])?, false)
        }
        "AddV2" | "Add" => {
            let [a, b] = view.inputs2(shift)?;
            let (beta, m2) = if view.constant_through_reshape(&a).is_some() { (a, b) } else { (b, a) };
            view.constant_through_reshape(&beta)?;
            (Some(beta), view.producer(&m2, &["Mul"])?, true)
        }
        "Neg" => (None, view.producer(&view.input(shift, 0)?, &["Mul"])?, false),
        _ => (None, shift, true),
    };
    // scaled = x * inv, and m2 = mean * inv: inv is the operand they share.
    let m1 = view.producer(scaled, &["Mul"])?;
    let [p, q] = view.inputs2(m1)?;
    for (x, inv) in [(&p, &q), (&q, &p)] {
        let Some(mut mean_ref) = other(view, m2, inv) else { continue };
        let mut inner = vec![m2, m1];
        if negated {
            // -mean * inv: the mean is negated first.
            let Some(neg) = view.producer(&mean_ref, &["Neg"]) else { continue };
            mean_ref = view.input(neg, 0)?;
            inner.push(neg);
        }
        if !std::ptr::eq(shift, m2) {
            inner.push(shift);
        }
        let Some((var_ref, common)) = inverse_deviation(view, inv, beta.clone(), &mut inner) else { continue };

        let kind = if let Some(moments) = moments_of(view, x, &mean_ref, &var_ref) {
            let (mean, var, sq, axes) = moments;
            inner.extend([mean, var, sq]);
            Kind::LayerNorm(LayerNorm { input: x.clone(), axes, restores: vec![], common })
        } else if view.constant_through_reshape(&mean_ref).is_some()
            && view.constant_through_reshape(&var_ref).is_some()
        {
            Kind::BatchNorm(BatchNorm { input: x.clone(), mean: mean_ref.clone(), variance: var_ref.clone(), common })
        } else {
            continue;
        };
        if !view.closed(&inner, out) {
            continue;
        }
        return Some(Match { inner: super::names(&inner), kind });
    }
    None
}

/// `inv = Rsqrt(var + eps) [* gamma]`: the variance, and epsilon, gamma and `beta` as the
/// parameters; the nodes go to `inner`.
fn inverse_deviation<'g>(
    view: &View<'g>,
    inv: &TensorRef,
    beta: Option<TensorRef>,
    inner: &mut Vec<&'g NodeDef>,
) -> Option<(TensorRef, Common)> {
    let (rsqrt, gamma, gamma_node) = match view.producer(inv, &["Rsqrt", "Mul"])? {
        n if n.op == "Rsqrt" => (n, None, None),
        n => {
            let [r, g] = view.inputs2(n)?;
            let (r, g) = if view.constant_through_reshape(&g).is_some() { (r, g) } else { (g, r) };
            view.constant_through_reshape(&g)?;
            (view.producer(&r, &["Rsqrt"])?, Some(g), Some(n))
        }
    };
    let add_eps = view.producer(&view.input(rsqrt, 0)?, &["AddV2", "Add"])?;
    let [u, v] = view.inputs2(add_eps)?;
    let (var_ref, epsilon) = if view.scalar(&v).is_some() { (u, v) } else { (v, u) };
    view.scalar(&epsilon)?;
    inner.extend([rsqrt, add_eps]);
    inner.extend(gamma_node);
    Some((var_ref, Common { epsilon, gamma, beta }))
}

/// `mean = Mean(x, axes, keep_dims)` and `var = Mean(SquaredDifference(x, mean), axes, keep_dims)`:
/// the two `Mean` nodes, the `SquaredDifference` and the axes.
fn moments_of<'g>(
    view: &View<'g>,
    x: &TensorRef,
    mean_ref: &TensorRef,
    var_ref: &TensorRef,
) -> Option<(&'g NodeDef, &'g NodeDef, &'g NodeDef, TensorRef)> {
    let mean = view.producer(mean_ref, &["Mean"])?;
    if view.input(mean, 0).as_ref() != Some(x) || !keep_dims(mean) {
        return None;
    }
    let var = view.producer(var_ref, &["Mean"])?;
    let sq = view.producer(&view.input(var, 0)?, &["SquaredDifference"])?;
    let [s0, s1] = view.inputs2(sq)?;
    let sq_ok = (&s0 == x && &s1 == mean_ref) || (&s1 == x && &s0 == mean_ref);
    let axes = view.input(mean, 1)?;
    let var_axes = view.input(var, 1)?;
    let same_axes = view.constant(&axes).is_some() && view.constant(&axes) == view.constant(&var_axes);
    (sq_ok && keep_dims(var) && same_axes).then_some((mean, var, sq, axes))
}

/// The input as a computed tensor with a known channel count.
fn input_tensor(
    ctx: &Context,
    node: &NodeDef,
    input: &TensorRef,
    what: &str,
) -> Result<(KTensor, usize), ConvertError> {
    let tensor = match ctx.value_of(node, input)? {
        Value::Tensor(t) => t.clone(),
        _ => return Err(ctx.refuse(node, format!("{what} of something other than a computed tensor"))),
    };
    let channels = tensor.channels().ok_or_else(|| ctx.refuse(node, "unknown channel count"))?;
    Ok((tensor, channels))
}

/// A constant with one value per channel (any broadcastable shape), or `default` everywhere
/// when absent; a single value is repeated.
fn per_channel(
    ctx: &Context,
    node: &NodeDef,
    r: Option<&TensorRef>,
    channels: usize,
    default: f32,
) -> Result<ArrayD<f32>, ConvertError> {
    let Some(r) = r else { return Ok(ArrayD::from_elem(vec![channels], default)) };
    let value = match ctx.value_of(node, r)? {
        Value::Const(c) => c.as_f32().cloned(),
        _ => None,
    };
    match value {
        Some(v) if v.len() == channels => {
            Ok(v.into_shape_with_order(vec![channels]).map_err(|e| ctx.refuse(node, e.to_string()))?)
        }
        Some(v) if v.len() == 1 => Ok(ArrayD::from_elem(vec![channels], v.iter().copied().next().unwrap_or(default))),
        _ => Err(ctx.refuse(node, "normalisation parameters must be one constant per channel")),
    }
}

fn epsilon(ctx: &Context, node: &NodeDef, common: &Common) -> Result<f32, ConvertError> {
    match ctx.value_of(node, &common.epsilon)? {
        Value::Const(c) => c.as_f32().and_then(|a| a.iter().copied().next()),
        _ => None,
    }
    .ok_or_else(|| ctx.refuse(node, "epsilon must be a float constant"))
}

pub(super) fn build_layer_norm(ctx: &mut Context, node: &NodeDef, ln: &LayerNorm) -> Result<Value, ConvertError> {
    let (tensor, _) = input_tensor(ctx, node, &ln.input, "layer normalization")?;
    let rank = tensor.rank();
    let written = ctx.ints_of(node, &ln.axes)?.unwrap_or_default();
    let mut axes: Vec<usize> = written
        .iter()
        .map(|&a| usize::try_from(if a < 0 { a + rank as i64 } else { a }).ok().filter(|&a| a < rank))
        .collect::<Option<_>>()
        .ok_or_else(|| ctx.refuse(node, format!("layer normalization axes {written:?} of a rank-{rank} tensor")))?;
    axes.sort_unstable();
    axes.dedup();
    if axes.is_empty() || axes[0] == 0 {
        return Err(ctx.refuse(node, format!("layer normalization over axes {written:?} (the batch axis, or none)")));
    }
    for restore in &ln.restores {
        check_restore(ctx, node, restore, &tensor.shape, &axes)?;
    }
    let group_shape = axes
        .iter()
        .map(|&a| tensor.shape[a])
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| ctx.refuse(node, "layer normalization over an axis of unknown size"))?;
    let (first, last) = (axes[0], axes[axes.len() - 1]);
    if last - first + 1 != axes.len() {
        return Err(ctx.refuse(node, format!("layer normalization over axes {written:?}, which are not adjacent")));
    }
    let group: usize = group_shape.iter().product();
    let flat = |p: Option<ArrayD<f32>>| p.map(|p| p.into_shape_with_order(vec![group])).transpose();
    let gamma = flat(group_param(ctx, node, ln.common.gamma.as_ref(), rank, &axes, &group_shape)?);
    let beta = flat(group_param(ctx, node, ln.common.beta.as_ref(), rank, &axes, &group_shape)?);
    let (gamma, beta) =
        (gamma.map_err(|e| ctx.refuse(node, e.to_string()))?, beta.map_err(|e| ctx.refuse(node, e.to_string()))?);
    let epsilon = epsilon(ctx, node, &ln.common)?;
    let shape = tensor.shape.clone();
    let name = ctx.layer_name(&node.name);
    // Keras 3's legacy loader drops an `axis` list of several axes (it keeps only a single
    // one), so adjacent axes are merged into one by a Reshape and split again after.
    let merged_dims = |shape: &[Option<usize>]| -> Option<Vec<usize>> {
        let mut dims: Vec<usize> = shape[1..first].iter().copied().collect::<Option<_>>()?;
        dims.push(group);
        dims.extend(shape[last + 1..].iter().copied().collect::<Option<Vec<_>>>()?);
        Some(dims)
    };
    let mut input = tensor.clone();
    if axes.len() > 1 {
        let dims = merged_dims(&shape).ok_or_else(|| ctx.refuse(node, "layer normalization of an unknown shape"))?;
        let merged = layers::reshape(&format!("{name}_merge_axes"), input.layer, &dims);
        input = ctx.add_inner_layer(merged, std::iter::once(None).chain(dims.iter().map(|&d| Some(d))).collect());
    }
    // The last axis is written `[-1]`, as Keras does by default.
    let axis = if last + 1 == rank { -1 } else { first as i64 };
    let ln_name = if axes.len() > 1 { format!("{name}_merged") } else { name.clone() };
    let layer = layers::layer_normalization_over(&ln_name, input.layer.clone(), &[axis], epsilon, gamma, beta);
    if axes.len() == 1 {
        return Ok(ctx.add_layer(node, layer, shape));
    }
    let normalised = ctx.add_inner_layer(layer, input.shape);
    let dims: Vec<usize> = shape[1..].iter().map(|d| d.unwrap_or(0)).collect();
    Ok(ctx.add_layer(node, layers::reshape(&name, normalised.layer, &dims), shape))
}

/// A mean taken without `keep_dims` must be reshaped to the input's shape with the reduced
/// `axes` of size 1 (any batch size) to broadcast as the normalization's mean does.
pub(super) fn check_restore(
    ctx: &Context,
    node: &NodeDef,
    restore: &TensorRef,
    shape: &[Option<usize>],
    axes: &[usize],
) -> Result<(), ConvertError> {
    let target = ctx.ints_of(node, restore)?.unwrap_or_default();
    let fits = target.len() == shape.len()
        && (1..shape.len()).all(|a| {
            let expected = if axes.contains(&a) { Some(1) } else { shape[a] };
            expected.is_some_and(|e| usize::try_from(target[a]).ok() == Some(e))
        });
    if fits {
        Ok(())
    } else {
        Err(ctx.refuse(
            node,
            format!("a normalization moment reshaped to {target:?}, which does not keep the input's other axes"),
        ))
    }
}

/// A layer normalization's gamma or beta as the Keras weight of shape `group_shape` (the
/// input's sizes on `axes`): the constant, broadcast against a rank-`rank` input, must be 1
/// on every other axis. `None` when absent.
fn group_param(
    ctx: &Context,
    node: &NodeDef,
    r: Option<&TensorRef>,
    rank: usize,
    axes: &[usize],
    group_shape: &[usize],
) -> Result<Option<ArrayD<f32>>, ConvertError> {
    let Some(r) = r else { return Ok(None) };
    let value = match ctx.value_of(node, r)? {
        Value::Const(c) => c.as_f32().cloned(),
        _ => None,
    };
    let refuse = |shape: &[usize]| {
        ctx.refuse(node, format!("a normalisation parameter of shape {shape:?} does not fit the axes {axes:?}"))
    };
    let value = value.ok_or_else(|| refuse(&[]))?;
    if value.ndim() > rank {
        return Err(refuse(value.shape()));
    }
    let mut padded = vec![1; rank - value.ndim()];
    padded.extend_from_slice(value.shape());
    let on_axes: Vec<usize> = axes.iter().map(|&a| padded[a]).collect();
    let others_are_one = padded.iter().enumerate().all(|(a, &d)| d == 1 || axes.contains(&a));
    let reshaped = value.to_shape(on_axes).ok().filter(|_| others_are_one);
    let full = reshaped.as_ref().and_then(|v| v.broadcast(group_shape.to_vec())).map(|v| v.to_owned());
    full.map(Some).ok_or_else(|| refuse(value.shape()))
}

pub(super) fn build_batch_norm(ctx: &mut Context, node: &NodeDef, bn: &BatchNorm) -> Result<Value, ConvertError> {
    let (tensor, channels) = input_tensor(ctx, node, &bn.input, "batch normalization")?;
    let weights = layers::BatchNormWeights {
        gamma: per_channel(ctx, node, bn.common.gamma.as_ref(), channels, 1.0)?,
        beta: per_channel(ctx, node, bn.common.beta.as_ref(), channels, 0.0)?,
        moving_mean: per_channel(ctx, node, Some(&bn.mean), channels, 0.0)?,
        moving_variance: per_channel(ctx, node, Some(&bn.variance), channels, 1.0)?,
    };
    let epsilon = epsilon(ctx, node, &bn.common)?;
    let name = ctx.layer_name(&node.name);
    let shape = tensor.shape.clone();
    Ok(ctx.add_layer(node, layers::batch_normalization(&name, tensor.layer, epsilon, weights), shape))
}

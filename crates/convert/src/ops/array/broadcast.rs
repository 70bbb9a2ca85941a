//! Constants repeated over the batch: TF `BroadcastTo` and `Tile` of a constant to
//! `[batch, ...]`, as a ViT's class token is written (`tf.broadcast_to(token, [tf.shape(x)[0],
//! 1, d])`, or `tf.tile`), and a `ConcatV2` joining such a constant to tensors.
//!
//! A constant repeated over the batch is the same for every sample, so it stays a
//! [`Value::Const`] whose first axis is 1 (what broadcasting arithmetic reads anyway). Only a
//! `Concatenate` needs it as a tensor of the batch: [`per_sample`] computes it from a tensor
//! of the batch with a `Dense` whose kernel is zero and whose bias is the constant, after a
//! `Cropping1D` to one row. `x·0 + b` is `b` exactly for every finite `x` (products ±0, sums
//! ±0, then + b) in every loader; a sample holding inf or NaN gives NaN there instead.

use ndarray::{ArrayD, Dimension, IxDyn};
use tf2h5_keras::layers;
use tf2h5_keras::spec::{LayerSpec, ResampleKind, Sides};
use tf2h5_tf::{pb::NodeDef, ConstTensor};

use crate::context::{Context, Dim, Dims, KTensor, Value};
use crate::ConvertError;

/// `BroadcastTo(input, shape)`.
pub(super) fn broadcast_to(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let target = ctx.dims_input(node, 1)?;
    match ctx.input(node, 0)?.clone() {
        Value::Const(c) => repeated_const(ctx, node, &c, &target, |shape, i| target_size(&target, shape, i)),
        Value::Tensor(t) if Dims::of_shape(&t.shape) == Some(target.clone()) => Ok(ctx.pass_through(node, t)),
        _ => Err(ctx.refuse(node, format!("only a constant can be broadcast (to {:?})", target.values))),
    }
}

/// `Tile(input, multiples)`.
pub(super) fn tile(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let multiples = ctx.dims_input(node, 1)?;
    match ctx.input(node, 0)?.clone() {
        Value::Const(c) => repeated_const(ctx, node, &c, &multiples, |shape, i| match multiples.values.get(i) {
            Some(Dim::Known(m)) => usize::try_from(*m).ok().and_then(|m| shape[i].checked_mul(m)),
            Some(Dim::Batch(1)) if shape[i] == 1 => Some(1),
            _ => None,
        }),
        Value::Tensor(t) if multiples.known().is_some_and(|m| m.iter().all(|&v| v == 1)) => {
            Ok(ctx.pass_through(node, t))
        }
        _ => Err(ctx.refuse(node, format!("only a constant can be tiled (by {:?})", multiples.values))),
    }
}

/// The size of axis `i` of `BroadcastTo(c, target)` (`shape`: c's, as long as the target's):
/// the batch keeps a first axis of 1.
fn target_size(target: &Dims, shape: &[usize], i: usize) -> Option<usize> {
    let own = shape[i];
    match target.values[i] {
        Dim::Known(v) => usize::try_from(v).ok().filter(|&v| own == v || own == 1),
        Dim::Batch(1) if i == 0 && own == 1 => Some(1),
        Dim::Batch(_) => None,
    }
}

/// The constant `c` repeated to the sizes `size(c's shape, axis)` gives; a first axis of the
/// batch size stays 1 (the same for every sample).
fn repeated_const(
    ctx: &Context,
    node: &NodeDef,
    c: &ConstTensor,
    target: &Dims,
    size: impl Fn(&[usize], usize) -> Option<usize>,
) -> Result<Value, ConvertError> {
    let refuse =
        || ctx.refuse(node, format!("a constant of shape {:?} does not repeat to {:?}", c.shape(), target.values));
    if target.scalar || target.values.len() < c.shape().len() {
        return Err(refuse());
    }
    // Leading axes of 1 up to the target's rank, then each axis repeated to its size.
    let mut padded_shape = vec![1; target.values.len() - c.shape().len()];
    padded_shape.extend_from_slice(c.shape());
    let shape: Vec<usize> =
        (0..padded_shape.len()).map(|i| size(&padded_shape, i)).collect::<Option<_>>().ok_or_else(refuse)?;
    // Floats, or integers and booleans (keras-hub's causal mask, broadcast to (batch, T, T)).
    let repeated = match c {
        ConstTensor::F32(values) => repeated(values, &padded_shape, &shape).map(ConstTensor::F32),
        ConstTensor::Int(values) => repeated(values, &padded_shape, &shape).map(ConstTensor::Int),
    };
    Ok(Value::Const(repeated.ok_or_else(refuse)?))
}

/// `values` viewed as `padded_shape` (its shape with leading 1s) and repeated to `shape`.
fn repeated<T: Copy + Default>(values: &ArrayD<T>, padded_shape: &[usize], shape: &[usize]) -> Option<ArrayD<T>> {
    let padded = values.view().into_shape_with_order(IxDyn(padded_shape)).ok()?;
    let mut repeated = ArrayD::<T>::default(IxDyn(shape));
    for (index, out) in repeated.indexed_iter_mut() {
        let source: Vec<usize> = index.slice().iter().zip(padded_shape).map(|(&i, &n)| i % n).collect();
        *out = padded[IxDyn(&source)];
    }
    Some(repeated)
}

/// The constant `values` (first axis 1) as a Keras tensor of the batch of `like`, for
/// `node`'s layers named from `name` (see the module doc).
pub(super) fn per_sample(
    ctx: &mut Context,
    node: &NodeDef,
    name: &str,
    like: &KTensor,
    values: &ArrayD<f32>,
) -> Result<KTensor, ConvertError> {
    let refuse = |why: String| ctx.refuse(node, why);
    if values.ndim() < 2 || values.shape()[0] != 1 {
        return Err(refuse(format!("a constant of shape {:?} joined to tensors of the batch", values.shape())));
    }
    let Some(like_dims) = like.shape[1..].iter().copied().collect::<Option<Vec<usize>>>() else {
        return Err(refuse(format!("the tensor {:?} has unknown sizes", like.shape)));
    };
    let mut source = like.clone();
    // As (batch, rows, k): Cropping1D keeps one row.
    let k = *like_dims.last().unwrap_or(&1);
    let rows: usize = like_dims.iter().product::<usize>() / k.max(1);
    if like_dims.len() > 2 {
        let layer = layers::reshape(&format!("{name}_rows"), source.layer, &[rows, k]);
        source = ctx.add_inner_layer(layer, vec![None, Some(rows), Some(k)]);
    }
    if like_dims.len() >= 2 && rows > 1 {
        let crop = Sides { kind: ResampleKind::Cropping, sides: vec![[0, rows - 1]] };
        let layer = LayerSpec::Sides(crop).layer(&format!("{name}_row"), vec![source.layer], vec![]);
        source = ctx.add_inner_layer(layer, vec![None, Some(1), Some(k)]);
    }
    let units = values.len();
    let kernel = ArrayD::<f32>::zeros(IxDyn(&[k, units]));
    let bias = values.iter().copied().collect::<ndarray::Array1<f32>>().into_dyn();
    let mut dense_shape = source.shape.clone();
    if let Some(last) = dense_shape.last_mut() {
        *last = Some(units);
    }
    let dense = layers::dense(&format!("{name}_constant"), source.layer, kernel, Some(bias), "linear");
    let tensor = ctx.add_inner_layer(dense, dense_shape.clone());
    let wanted: Vec<Option<usize>> =
        std::iter::once(None).chain(values.shape()[1..].iter().map(|&d| Some(d))).collect();
    if dense_shape == wanted {
        return Ok(tensor);
    }
    let layer = layers::reshape(&format!("{name}_shaped"), tensor.layer, &values.shape()[1..]);
    Ok(ctx.add_inner_layer(layer, wanted))
}

//! What the element-wise binary ops (`AddV2`, `Sub`, `Mul`, `RealDiv`, `Maximum`, ...) share:
//! sorting their operands into constants, Keras tensors and shape integers, how a constant
//! broadcasts against a tensor, and the exact layers for `tensor ⊙ constant`.
//!
//! Exactness: each mapping computes the same float32 operations as TF, in the same order.
//! `Rescaling` is `x * scale + offset` in both Keras versions, with `scale` and `offset` of any
//! shape that broadcasts against the input, so `x * c` (scale c, offset 0: adding +0 changes
//! nothing but the sign of a zero) and `x + c` (scale 1) are bit-exact for a constant of any
//! such shape (a position embedding, a per-token scale); a
//! per-channel `x * c` on NHWC is a 1×1 `DepthwiseConv2D` (one multiply per element);
//! `x / c` is `Normalization` with mean 0 and variance c² (Keras divides by
//! `max(sqrt(variance), 1e-7)`, and `sqrt(fl(c²)) == c` in float32 for normal c).

use ndarray::ArrayD;
use tf2h5_keras::layers;
use tf2h5_keras::spec::{Conv, ConvVariant, Padding, Window};
use tf2h5_tf::{pb::NodeDef, ConstTensor};

use crate::context::{Context, Dims, KTensor, Value};
use crate::ConvertError;

/// The operands of a binary op.
pub(super) enum Operands {
    /// Both constant.
    Consts(ConstTensor, ConstTensor),
    /// Shape integers (at least one involves the batch size).
    Dims(Dims, Dims),
    /// A tensor and a float constant; `tensor_first` tells their order in the TF op.
    TensorConst { tensor: KTensor, constant: ArrayD<f32>, tensor_first: bool },
    /// Rows of a batch-merged tensor (see [`Value::Rows`]) and a float constant.
    RowsConst { tensor: KTensor, constant: ArrayD<f32>, tensor_first: bool },
    /// Two tensors.
    Tensors(KTensor, KTensor),
}

pub(super) fn operands(ctx: &Context, node: &NodeDef) -> Result<Operands, ConvertError> {
    if ctx.input_count(node) != 2 {
        return Err(ctx.refuse(node, "expected two inputs"));
    }
    let float = |c: &ConstTensor| -> Result<ArrayD<f32>, ConvertError> {
        c.as_f32().cloned().ok_or_else(|| ctx.refuse(node, "an integer constant combined with a float tensor"))
    };
    Ok(match (ctx.input(node, 0)?, ctx.input(node, 1)?) {
        (Value::Const(a), Value::Const(b)) => Operands::Consts(a.clone(), b.clone()),
        (Value::Tensor(t), Value::Const(c)) => Operands::TensorConst { tensor: t.clone(), constant: float(c)?, tensor_first: true },
        (Value::Const(c), Value::Tensor(t)) => Operands::TensorConst { tensor: t.clone(), constant: float(c)?, tensor_first: false },
        (Value::Rows(t), Value::Const(c)) => Operands::RowsConst { tensor: t.clone(), constant: float(c)?, tensor_first: true },
        (Value::Const(c), Value::Rows(t)) => Operands::RowsConst { tensor: t.clone(), constant: float(c)?, tensor_first: false },
        (Value::Tensor(a), Value::Tensor(b)) => Operands::Tensors(a.clone(), b.clone()),
        (Value::Dims(_) | Value::Const(_), Value::Dims(_) | Value::Const(_)) => {
            Operands::Dims(ctx.dims_input(node, 0)?, ctx.dims_input(node, 1)?)
        }
        _ => {
            return Err(ctx.refuse(
                node,
                "this combination of inputs (a tensor with its batch merged into other axes, or with shape integers) is not supported",
            ))
        }
    })
}

/// Folds two constants with `node`'s op.
pub(super) fn fold(ctx: &Context, node: &NodeDef, a: &ConstTensor, b: &ConstTensor) -> Result<Value, ConvertError> {
    super::const_fold::fold_binary(&node.op, a, b)
        .map(Value::Const)
        .ok_or_else(|| ctx.refuse(node, format!("cannot fold constants of shapes {:?} and {:?}", a.shape(), b.shape())))
}

/// How a constant broadcasts against a tensor, when the result has the tensor's shape.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Broadcast {
    /// One value for every element.
    Scalar(f32),
    /// One value per channel (last axis).
    PerChannel(Vec<f32>),
    /// Any other shape that broadcasts to the tensor's without changing it (e.g. a learned
    /// position embedding (tokens, dim) on (batch, tokens, dim)): the constant with one axis
    /// per non-batch axis of the tensor, 1 where it repeats.
    Full(ArrayD<f32>),
}

impl Broadcast {
    /// The values: one, or one per channel (flattened for `Full`).
    pub fn values(&self) -> Vec<f32> {
        match self {
            Broadcast::Scalar(v) => vec![*v],
            Broadcast::PerChannel(v) => v.clone(),
            Broadcast::Full(a) => a.iter().copied().collect(),
        }
    }

    /// The values as an array that broadcasts against the tensor without its batch axis:
    /// rank 0, 1 (per channel), or the tensor's rank minus one.
    pub fn array(&self) -> ArrayD<f32> {
        match self {
            Broadcast::Scalar(v) => ArrayD::from_elem(vec![], *v),
            Broadcast::PerChannel(v) => ArrayD::from_shape_vec(vec![v.len()], v.clone()).unwrap_or_default(),
            Broadcast::Full(a) => a.clone(),
        }
    }

    /// One value per channel (a scalar repeated `channels` times); `None` for `Full`.
    pub fn per_channel(&self, channels: usize) -> Option<Vec<f32>> {
        match self {
            Broadcast::Scalar(v) => Some(vec![*v; channels]),
            Broadcast::PerChannel(v) => Some(v.clone()),
            Broadcast::Full(_) => None,
        }
    }

    pub fn map(&self, f: impl Fn(f32) -> f32) -> Broadcast {
        match self {
            Broadcast::Scalar(v) => Broadcast::Scalar(f(*v)),
            Broadcast::PerChannel(v) => Broadcast::PerChannel(v.iter().map(|&x| f(x)).collect()),
            Broadcast::Full(a) => Broadcast::Full(a.mapv(f)),
        }
    }
}

/// Classifies `constant` against `tensor`: a scalar (any shape of ones), one value per
/// channel ((C,) or (1, ..., 1, C) no longer than the tensor's rank), or any other shape
/// that broadcasts to the tensor's from the right without changing it (1 on the batch axis,
/// and on every other axis 1 or the tensor's known size). Anything else is refused.
pub(super) fn broadcast(
    ctx: &Context,
    node: &NodeDef,
    tensor: &KTensor,
    constant: &ArrayD<f32>,
) -> Result<Broadcast, ConvertError> {
    let refuse = || {
        ctx.refuse(
            node,
            format!(
                "the constant of shape {:?} does not broadcast to the tensor {:?} without changing its shape",
                constant.shape(),
                tensor.shape
            ),
        )
    };
    if constant.ndim() > tensor.rank() {
        return Err(refuse());
    }
    if constant.len() == 1 {
        return Ok(Broadcast::Scalar(constant.iter().copied().next().unwrap_or(0.0)));
    }
    let leading_ones = constant.shape().iter().rev().skip(1).all(|&d| d == 1);
    if leading_ones && Some(constant.len()) == tensor.channels() {
        return Ok(Broadcast::PerChannel(constant.iter().copied().collect()));
    }
    let mut shape = vec![1; tensor.rank() - constant.ndim()];
    shape.extend_from_slice(constant.shape());
    let fits = shape[0] == 1 && shape.iter().zip(&tensor.shape).skip(1).all(|(&c, &t)| c == 1 || t == Some(c));
    if !fits {
        return Err(refuse());
    }
    let full = constant.to_shape(&shape[1..]).map_err(|_| refuse())?.to_owned();
    Ok(Broadcast::Full(full))
}

/// A `Rescaling` computing `tensor * scale + offset`.
pub(super) fn rescaling(
    ctx: &mut Context,
    node: &NodeDef,
    tensor: KTensor,
    scale: &Broadcast,
    offset: &Broadcast,
) -> Value {
    let name = ctx.layer_name(&node.name);
    let layer = layers::rescaling_broadcast(&name, tensor.layer, &scale.array(), &offset.array());
    ctx.add_layer(node, layer, tensor.shape)
}

/// A 1×1 `DepthwiseConv2D` without bias multiplying each channel of an NHWC tensor.
pub(super) fn channel_scale(
    ctx: &mut Context,
    node: &NodeDef,
    tensor: KTensor,
    scale: Vec<f32>,
) -> Result<Value, ConvertError> {
    let channels = scale.len();
    let kernel = ArrayD::from_shape_vec(vec![1, 1, channels, 1], scale).map_err(|e| ctx.refuse(node, e.to_string()))?;
    let conv = Conv::new(Window::new(vec![1, 1], Padding::Valid), ConvVariant::Depthwise { depth_multiplier: 1 });
    crate::ops::nn::conv::add(ctx, node, tensor, conv, vec![kernel])
}

/// `Rescaling`'s scale and offset, read back from a layer this module built.
pub(super) fn rescaling_params(layer: &tf2h5_keras::Layer) -> Option<(Vec<f32>, Vec<f32>)> {
    let read = |key: &str| -> Option<Vec<f32>> {
        match layer.config.get(key)? {
            serde_json::Value::Array(items) => items.iter().map(|v| v.as_f64().map(|x| x as f32)).collect(),
            v => v.as_f64().map(|x| vec![x as f32]),
        }
    };
    Some((read("scale")?, read("offset")?))
}

/// A merge layer (`Add`, `Multiply`, ...) of two tensors of one rank whose non-batch
/// dimensions are equal or 1 (both Keras versions broadcast these).
pub(super) fn merge(
    ctx: &mut Context,
    node: &NodeDef,
    class_name: &str,
    inputs: Vec<KTensor>,
) -> Result<Value, ConvertError> {
    let shape = broadcast_shape(ctx, node, &inputs)?;
    let name = ctx.layer_name(&node.name);
    let layer = layers::merge(class_name, &name, inputs.into_iter().map(|t| t.layer).collect());
    Ok(ctx.add_layer(node, layer, shape))
}

/// The shape a merge layer of `inputs` gives: one rank, non-batch dimensions equal or 1.
pub(super) fn broadcast_shape(
    ctx: &Context,
    node: &NodeDef,
    inputs: &[KTensor],
) -> Result<Vec<Option<usize>>, ConvertError> {
    let rank = inputs[0].rank();
    if inputs.iter().any(|t| t.rank() != rank) {
        let shapes: Vec<_> = inputs.iter().map(|t| &t.shape).collect();
        return Err(ctx.refuse(node, format!("tensors of different ranks {shapes:?} are not supported")));
    }
    let mut shape = inputs[0].shape.clone();
    for t in &inputs[1..] {
        for (axis, (out, d)) in shape.iter_mut().zip(&t.shape).enumerate().skip(1) {
            *out = match (*out, *d) {
                (Some(a), Some(b)) if a == b || b == 1 => Some(a),
                (Some(1), Some(b)) => Some(b),
                (a, b) => {
                    return Err(ctx.refuse(node, format!("dimension {axis} does not broadcast: {a:?} and {b:?}")));
                }
            };
        }
    }
    Ok(shape)
}

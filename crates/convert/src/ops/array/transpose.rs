//! TF `Transpose` with a constant permutation: the identity (TF's `tensordot` emits one) is
//! no layer; one keeping the batch first is `Permute` (whose dims are 1-based, i.e. exactly
//! TF's `perm[1..]`). Constants are folded.

use tf2h5_keras::layers;
use tf2h5_tf::{pb::NodeDef, ConstTensor};

use crate::context::{Context, Value};
use crate::ConvertError;

pub(super) fn transpose(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let perm = ctx.ints_input(node, 1)?;
    let identity = perm.iter().enumerate().all(|(i, &p)| p == i as i64);
    match ctx.input(node, 0)?.clone() {
        Value::Const(c) => {
            let axes: Vec<usize> = perm.iter().map(|&p| p as usize).collect();
            if axes.len() != c.shape().len() || !is_permutation(&axes) {
                return Err(ctx.refuse(node, format!("perm {perm:?} does not fit a constant of shape {:?}", c.shape())));
            }
            Ok(Value::Const(match c {
                ConstTensor::F32(a) => ConstTensor::F32(a.permuted_axes(axes).as_standard_layout().into_owned()),
                ConstTensor::Int(a) => ConstTensor::Int(a.permuted_axes(axes).as_standard_layout().into_owned()),
            }))
        }
        Value::Tensor(t) => {
            let axes: Vec<usize> = perm.iter().map(|&p| usize::try_from(p).unwrap_or(usize::MAX)).collect();
            if axes.len() != t.rank() || !is_permutation(&axes) {
                return Err(ctx.refuse(node, format!("perm {perm:?} does not fit a tensor of shape {:?}", t.shape)));
            }
            if identity {
                return Ok(ctx.pass_through(node, t));
            }
            if axes[0] != 0 {
                let refusal = crate::ops::nn::loop_sequence_refusal(ctx, node);
                return Err(refusal.unwrap_or_else(|| ctx.refuse(node, format!("perm {perm:?} moves the batch axis"))));
            }
            let shape = axes.iter().map(|&a| t.shape[a]).collect();
            let name = ctx.layer_name(&node.name);
            Ok(ctx.add_layer(node, layers::permute(&name, t.layer, &axes[1..]), shape))
        }
        _ => Err(ctx.refuse(node, "unsupported input")),
    }
}

fn is_permutation(axes: &[usize]) -> bool {
    let mut seen = vec![false; axes.len()];
    axes.iter().all(|&a| a < seen.len() && !std::mem::replace(&mut seen[a], true))
}

//! Arithmetic ops: comparisons of ids (→ 0/1 `Embedding` tables) and selects on them (→ products
//! with the 0/1 mask), MatMul and Einsum with a weight (→ Dense), element-wise binary and unary ops (→ merge layers,
//! `Rescaling`, 1×1 `DepthwiseConv2D`, `Normalization`, or folded constants), Mean over H,W
//! (→ GlobalAveragePooling2D), and Prod of shape integers.

mod add;
pub(crate) mod compare;
pub(crate) mod const_fold;
mod einsum;
mod elementwise;
mod mat_mul;
mod maximum;
mod mean;
mod mul;
mod pow;
mod prod;
mod real_div;
mod select;
mod unary;

use tf2h5_tf::pb::NodeDef;

use super::Registry;
use crate::context::{Context, Dim, Dims};
use crate::ConvertError;

pub(super) fn register(registry: &mut Registry) {
    registry.insert("MatMul", mat_mul::mat_mul);
    for op in ["BatchMatMulV2", "BatchMatMulV3", "BatchMatMul"] {
        registry.insert(op, mat_mul::batch_mat_mul);
    }
    registry.insert("Pow", pow::pow);
    registry.insert("Einsum", einsum::einsum);
    registry.insert("AddV2", add::add);
    registry.insert("Add", add::add);
    registry.insert("Sub", add::sub);
    registry.insert("Mul", mul::mul);
    registry.insert("RealDiv", real_div::real_div);
    registry.insert("Maximum", maximum::maximum);
    registry.insert("Minimum", maximum::minimum);
    registry.insert("Mean", mean::mean);
    registry.insert("Max", mean::max);
    registry.insert("Prod", prod::prod);
    registry.insert("SelectV2", select::select_v2);
    compare::register(registry);
    for op in ["Sqrt", "Rsqrt", "Square", "Neg", "Reciprocal", "Exp", "Abs"] {
        registry.insert(op, unary::unary);
    }
}

/// `f` applied to shape integers with scalar broadcasting; `None` from `f` refuses.
pub(super) fn dims_binary(
    ctx: &Context,
    node: &NodeDef,
    a: &Dims,
    b: &Dims,
    f: impl Fn(Dim, Dim) -> Option<Dim>,
) -> Result<Dims, ConvertError> {
    a.zip_with(b, f).ok_or_else(|| {
        ctx.refuse(
            node,
            format!(
                "shape arithmetic on {:?} and {:?} that depends on the batch size in an unsupported way",
                a.values, b.values
            ),
        )
    })
}

/// `AddV2` semantics, for `BiasAdd`.
pub(crate) fn add_op(ctx: &mut Context, node: &NodeDef) -> Result<crate::context::Value, ConvertError> {
    add::add(ctx, node)
}

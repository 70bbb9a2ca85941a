//! TF `Prod` over shape integers (the element count TF's reshapes and tensordot compute from
//! `Shape`), folded at conversion time; at most one factor may be the batch size.

use tf2h5_tf::{pb::NodeDef, NodeExt};

use crate::context::{Context, Dim, Dims, Value};
use crate::ConvertError;

pub(super) fn prod(ctx: &mut Context, node: &NodeDef) -> Result<Value, ConvertError> {
    let values = ctx.dims_input(node, 0)?;
    let axes = ctx.ints_input(node, 1)?;
    if values.scalar || !(axes.is_empty() || axes == [0] || axes == [-1]) {
        return Err(ctx.refuse(node, "only the product of a vector of integers is supported"));
    }
    let mut batch = None;
    let mut product: i64 = 1;
    for d in &values.values {
        match *d {
            Dim::Known(v) => product = product.wrapping_mul(v),
            Dim::Batch(k) if batch.is_none() => batch = Some(k),
            Dim::Batch(_) => return Err(ctx.refuse(node, "a product involving the batch size twice")),
        }
    }
    let result = match batch {
        Some(k) => Dim::Batch(k.wrapping_mul(product)),
        None => Dim::Known(product),
    };
    let keep = node.attr_bool_opt("keep_dims")?.unwrap_or(false);
    Ok(Value::from(Dims { values: vec![result], scalar: !keep }))
}

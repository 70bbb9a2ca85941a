//! Reductions as jax2tf and the ONNX translation write them, read back for the patterns:
//! a mean under scalar factors (`ReduceSum` arrives as `Mean · n`, jax's mean as `Sum · 1/n`),
//! and a reduction without `keep_dims` reshaped to put the reduced axes back.

use tf2h5_tf::{pb::NodeDef, NodeExt, TensorRef};

use super::View;

/// A `Mean` of `of` over `axes`, times `factor` (the product of the scalar `Mul`s above it).
pub(super) struct ScaledMean<'g> {
    pub of: TensorRef,
    pub axes: TensorRef,
    pub factor: f64,
    pub keep_dims: bool,
    /// The `Mean` and the `Mul`s.
    pub nodes: Vec<&'g NodeDef>,
}

/// The scaled mean at `tensor`, if it is one.
pub(super) fn scaled_mean<'g>(view: &View<'g>, tensor: &TensorRef) -> Option<ScaledMean<'g>> {
    let mut factor = 1.0f64;
    let mut at = tensor.clone();
    let mut nodes = Vec::new();
    while let Some(mul) = view.producer(&at, &["Mul"]) {
        let [a, b] = view.inputs2(mul)?;
        let (scale, rest) = match (view.scalar(&a), view.scalar(&b)) {
            (Some(s), None) => (s, b),
            (None, Some(s)) => (s, a),
            _ => return None,
        };
        factor *= f64::from(scale);
        nodes.push(mul);
        at = rest;
    }
    let mean = view.producer(&at, &["Mean"])?;
    nodes.push(mean);
    let keep_dims = keep_dims(mean);
    Some(ScaledMean { of: view.input(mean, 0)?, axes: view.input(mean, 1)?, factor, keep_dims, nodes })
}

/// `tensor` before a `Reshape` to a constant shape (recorded in `restores`), or itself.
pub(super) fn restored<'g>(
    view: &View<'g>,
    tensor: &TensorRef,
    inner: &mut Vec<&'g NodeDef>,
    restores: &mut Vec<TensorRef>,
) -> TensorRef {
    let Some(reshape) = view.producer(tensor, &["Reshape"]) else { return tensor.clone() };
    match (view.input(reshape, 0), view.input(reshape, 1)) {
        (Some(before), Some(shape)) if view.constant(&shape).is_some() => {
            inner.push(reshape);
            restores.push(shape);
            before
        }
        _ => tensor.clone(),
    }
}

/// Whether a reduction keeps the reduced axes (as size 1).
pub(super) fn keep_dims(node: &NodeDef) -> bool {
    node.attr_bool_opt("keep_dims").ok().flatten().unwrap_or(false)
}

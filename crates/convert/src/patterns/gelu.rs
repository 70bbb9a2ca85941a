//! GELU, exact form → `Activation('gelu')`.
//!
//! TF's `tf.nn.gelu(approximate=False)` (what Keras's `gelu` calls in both versions, default
//! `approximate=False`) is `0.5 · x · erfc(-x · 0.70710678)`: `Mul(0.5, x)`, `Neg(x)`,
//! `Mul(·, 0.7071)`, `Erfc`, `Mul`. Older code writes `0.5 · x · (1 + erf(x / √2))`. Both are
//! matched as a product whose factors are `x`, constants multiplying to 0.5, and `erfc(k·x)`
//! with k = -1/√2, `1 + erf(k·x)` with k = 1/√2, or `1 - erf(k·x)` with k = -1/√2 (erfc
//! written with erf, as in ONNX, which has no Erfc) (constants, `Neg` and division by a
//! constant folded into k). The erfc form is what the loaders run, so it is bit-exact; the erf
//! form differs from it by float32 rounding only.

use std::f64::consts::FRAC_1_SQRT_2;

use tf2h5_tf::{pb::NodeDef, TensorRef};

use super::{close, Kind, Match, View};

/// A product of non-constant factors times a constant, through single-reader `Mul`, `Neg`
/// and `RealDiv`-by-constant nodes.
struct Product<'g> {
    factors: Vec<TensorRef>,
    constant: f64,
    nodes: Vec<&'g NodeDef>,
}

fn product<'g>(view: &View<'g>, tensor: &TensorRef, top: bool, out: &mut Product<'g>) -> Option<()> {
    if let Some(c) = view.scalar(tensor) {
        out.constant *= f64::from(c);
        return Some(());
    }
    let expandable = top || view.readers(&tensor.node) == 1;
    match view.producer(tensor, &["Mul", "Neg", "RealDiv"]) {
        Some(node) if expandable => {
            out.nodes.push(node);
            match node.op.as_str() {
                "Mul" => {
                    let [a, b] = view.inputs2(node)?;
                    product(view, &a, false, out)?;
                    product(view, &b, false, out)?;
                }
                "Neg" => {
                    out.constant = -out.constant;
                    product(view, &view.input(node, 0)?, false, out)?;
                }
                _ => {
                    let [a, b] = view.inputs2(node)?;
                    let divisor = view.scalar(&b)?;
                    out.constant /= f64::from(divisor);
                    product(view, &a, false, out)?;
                }
            }
        }
        _ => out.factors.push(tensor.clone()),
    }
    Some(())
}

fn expand<'g>(view: &View<'g>, tensor: &TensorRef, top: bool) -> Option<Product<'g>> {
    let mut p = Product { factors: vec![], constant: 1.0, nodes: vec![] };
    product(view, tensor, top, &mut p)?;
    Some(p)
}

/// `k · x` for the argument of erf/erfc: returns (x, k, nodes).
fn scaled<'g>(view: &View<'g>, tensor: &TensorRef) -> Option<(TensorRef, f64, Vec<&'g NodeDef>)> {
    let p = expand(view, tensor, view.readers(&tensor.node) == 1)?;
    match p.factors.as_slice() {
        [x] => Some((x.clone(), p.constant, p.nodes)),
        _ => None,
    }
}

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    if node.op != "Mul" {
        return None;
    }
    let top = expand(view, &TensorRef { node: node.name.clone(), output: 0 }, true)?;
    if top.factors.len() != 2 || !close(top.constant as f32, 0.5, 1e-6) {
        return None;
    }
    for (x, e) in [(&top.factors[0], &top.factors[1]), (&top.factors[1], &top.factors[0])] {
        let mut inner: Vec<&NodeDef> = top.nodes.iter().copied().filter(|n| n.name != node.name).collect();
        let argument = if let Some(erfc) = view.producer(e, &["Erfc"]) {
            inner.push(erfc);
            let (y, k, nodes) = scaled(view, &view.input(erfc, 0)?)?;
            inner.extend(nodes);
            (&y == x && close(k as f32, -FRAC_1_SQRT_2, 1e-6)).then_some(())
        } else if let Some(add) = view.producer(e, &["AddV2", "Add", "Sub"]) {
            let [p, q] = view.inputs2(add)?;
            // 1 + erf(k·x), either way round; 1 - erf(k·x) with the erf second.
            let (one, erf, sign) = match add.op.as_str() {
                "Sub" => (p, q, -1.0),
                _ if view.scalar(&p) == Some(1.0) => (p, q, 1.0),
                _ => (q, p, 1.0),
            };
            let Some(erf) = view.producer(&erf, &["Erf"]) else { continue };
            if view.scalar(&one) != Some(1.0) {
                continue;
            }
            inner.extend([add, erf]);
            let (y, k, nodes) = scaled(view, &view.input(erf, 0)?)?;
            inner.extend(nodes);
            (&y == x && close(k as f32, sign * FRAC_1_SQRT_2, 1e-6)).then_some(())
        } else {
            None
        };
        if argument.is_none() || !view.closed(&inner, node) {
            continue;
        }
        let members: Vec<&NodeDef> = inner.iter().copied().chain(std::iter::once(node)).collect();
        let reads = view.reads_by(&x.node, &members);
        return Some(Match { inner: super::names(&inner), kind: Kind::Gelu { input: x.clone(), reads } });
    }
    None
}

//! Swish / SiLU: `x · sigmoid(x)` → `Activation('swish')`.
//!
//! TF 2.x's `tf.nn.silu` (what Keras's `swish` calls in both versions) computes
//! `x · sigmoid(beta · x)` with beta = 1 behind an `IdentityN` (its custom gradient):
//! `Mul(beta, x) → Sigmoid → Mul(x, ·) → IdentityN`. `IdentityN` is an alias; the match is
//! `Mul(x, Sigmoid(x))` or `Mul(x, Sigmoid(Mul(1, x)))`, in either operand order. The loaders
//! compute the same graph, so the layer is bit-exact.

use tf2h5_tf::pb::NodeDef;

use super::{Kind, Match, View};

pub(super) fn find(view: &View, node: &NodeDef) -> Option<Match> {
    if node.op != "Mul" {
        return None;
    }
    let [a, b] = view.inputs2(node)?;
    for (x, s) in [(&a, &b), (&b, &a)] {
        let Some(sigmoid) = view.producer(s, &["Sigmoid"]) else { continue };
        let z = view.input(sigmoid, 0)?;
        let mut inner = vec![sigmoid];
        if &z != x {
            // `Mul(beta, x)` with beta = 1.
            let Some(scaled) = view.producer(&z, &["Mul"]) else { continue };
            let [p, q] = view.inputs2(scaled)?;
            let beta_is_one = (&p == x && view.scalar(&q) == Some(1.0)) || (&q == x && view.scalar(&p) == Some(1.0));
            if !beta_is_one {
                continue;
            }
            inner.push(scaled);
        }
        if !view.closed(&inner, node) {
            continue;
        }
        let members: Vec<&NodeDef> = inner.iter().copied().chain(std::iter::once(node)).collect();
        let reads = view.reads_by(&x.node, &members);
        return Some(Match { inner: super::names(&inner), kind: Kind::Swish { input: x.clone(), reads } });
    }
    None
}

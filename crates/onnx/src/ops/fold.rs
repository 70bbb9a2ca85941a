//! Constant folding: float arithmetic (`Sqrt` and `Reciprocal` included), casts, `Shape`, `Range`, `ConstantOfShape`, `Concat`,
//! `Unsqueeze` and `Transpose` of constants computed at translation, as exporters leave them
//! around shapes that are known once the inputs' sizes are (YOLOv8's anchor grid: `Shape` →
//! `Gather` → `Cast` to float → `Range` → `Add` 0.5 → `Concat`...). Integer arithmetic on
//! shape values stays with [`crate::shapes`], which keeps the batch symbolic.

use ndarray::{ArrayD, Axis, IxDyn};
use tract_onnx::pb::NodeProto;

use crate::error::{unsupported, OpError};
use crate::proto::{self, Const, MAX_ELEMENTS};
use crate::translator::{resolve_axes, Translator, Value};

impl Translator {
    /// `node`'s output as a constant when every input is one and the op folds here; `None`
    /// leaves the node to its translation.
    pub(crate) fn fold(&self, node: &NodeProto) -> Result<Option<Const>, OpError> {
        let present: Vec<&String> = node.input.iter().filter(|i| !i.is_empty()).collect();
        let mut inputs = Vec::new();
        for name in &present {
            match self.values.get(name.as_str()) {
                Some(Value::Const(c)) => inputs.push(c.clone()),
                _ => return Ok(None),
            }
        }
        let any_float = inputs.iter().any(|c| matches!(**c, Const::F32(_)));
        let folded = match (node.op_type.as_str(), inputs.as_slice()) {
            ("Add" | "Sub" | "Mul" | "Div", [a, b]) if any_float => {
                let (a, b) = (proto::f32_view(a), proto::f32_view(b));
                let shape = broadcast(a.shape(), b.shape()).ok_or_else(|| {
                    unsupported!("constants of shapes {:?} and {:?} do not broadcast", a.shape(), b.shape())
                })?;
                let (a, b) =
                    (a.broadcast(IxDyn(&shape)).ok_or("broadcast")?, b.broadcast(IxDyn(&shape)).ok_or("broadcast")?);
                let op: fn(f32, f32) -> f32 = match node.op_type.as_str() {
                    "Add" => |x, y| x + y,
                    "Sub" => |x, y| x - y,
                    "Mul" => |x, y| x * y,
                    _ => |x, y| x / y,
                };
                Const::F32(ndarray::Zip::from(&a).and(&b).map_collect(|&x, &y| op(x, y)))
            }
            // PyTorch's attention scale, sqrt(1 / sqrt(head size)), from the shape of q.
            ("Sqrt" | "Reciprocal", [c]) if matches!(**c, Const::F32(_)) => {
                let square_root = node.op_type == "Sqrt";
                Const::F32(proto::f32_view(c).mapv(|v| if square_root { v.sqrt() } else { 1.0 / v }))
            }
            ("Cast", [c]) => match proto::attr_int(node, "to", 0)? {
                1 => Const::F32(proto::f32_view(c).into_owned()),
                6 | 7 => match &**c {
                    Const::F32(a) => Const::Int(a.mapv(|v| v.trunc() as i64)),
                    Const::Int(a) => Const::Int(a.clone()),
                },
                _ => return Ok(None),
            },
            ("Range", [start, limit, delta]) => range(start, limit, delta)?,
            ("Shape", [c]) => {
                let dims: Vec<i64> = c.shape().iter().map(|&d| d as i64).collect();
                let rank = dims.len() as i64;
                let clamp = |i: i64| (if i < 0 { i + rank } else { i }).clamp(0, rank) as usize;
                let (start, end) =
                    (clamp(proto::attr_int(node, "start", 0)?), clamp(proto::attr_int(node, "end", rank)?));
                let kept = dims.get(start..end.max(start)).unwrap_or_default().to_vec();
                Const::Int(ArrayD::from_shape_vec(IxDyn(&[kept.len()]), kept).map_err(|e| unsupported!("{e}"))?)
            }
            ("ConstantOfShape", [shape]) => {
                let shape: Vec<usize> = shape
                    .int_values()
                    .ok_or("the shape must be integers")?
                    .iter()
                    .map(|&d| usize::try_from(d).map_err(|_| format!("shape entry {d}")))
                    .collect::<Result<_, _>>()?;
                if shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).is_none_or(|n| n > MAX_ELEMENTS) {
                    return Err(unsupported!("a constant of shape {shape:?} is too large"));
                }
                let value = node.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
                match value.map(proto::tensor).transpose()? {
                    Some(Const::Int(v)) => {
                        Const::Int(ArrayD::from_elem(IxDyn(&shape), v.iter().next().copied().unwrap_or(0)))
                    }
                    Some(Const::F32(v)) => {
                        Const::F32(ArrayD::from_elem(IxDyn(&shape), v.iter().next().copied().unwrap_or(0.0)))
                    }
                    None => Const::F32(ArrayD::zeros(IxDyn(&shape))),
                }
            }
            ("Concat", parts) if any_float && !parts.is_empty() => {
                let rank = parts[0].shape().len();
                let axis = resolve_axes(&[proto::attr_int(node, "axis", 0)?], rank)?[0];
                let views: Vec<_> = parts.iter().map(|c| proto::f32_view(c).into_owned()).collect();
                let views: Vec<_> = views.iter().map(|a| a.view()).collect();
                Const::F32(ndarray::concatenate(Axis(axis), &views).map_err(|e| unsupported!("{e}"))?)
            }
            ("Unsqueeze", [c, ..]) if matches!(**c, Const::F32(_)) => {
                let Const::F32(a) = &**c else { return Ok(None) };
                let axes = self.raw_axes(node, 13)?.ok_or("the axes are missing")?;
                let rank = a.ndim() + axes.len();
                let mut axes = resolve_axes(&axes, rank)?;
                axes.sort_unstable();
                let mut shape: Vec<usize> = a.shape().to_vec();
                for &axis in &axes {
                    shape.insert(axis.min(shape.len()), 1);
                }
                let a = a.as_standard_layout().into_owned();
                Const::F32(a.into_shape_with_order(IxDyn(&shape)).map_err(|e| unsupported!("{e}"))?)
            }
            ("Transpose", [c]) if matches!(**c, Const::F32(_)) => {
                let Const::F32(a) = &**c else { return Ok(None) };
                let perm: Vec<usize> = match proto::attr_ints(node, "perm")? {
                    Some(perm) => perm.iter().map(|&p| p as usize).collect(),
                    None => (0..a.ndim()).rev().collect(),
                };
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..a.ndim()).collect::<Vec<_>>() {
                    return Err(unsupported!("perm {perm:?} is not a permutation of {} axes", a.ndim()));
                }
                Const::F32(a.clone().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned())
            }
            _ => return Ok(None),
        };
        Ok(Some(folded))
    }
}

/// ONNX `Range(start, limit, delta)`: ⌈(limit − start) / delta⌉ elements (none if negative).
fn range(start: &Const, limit: &Const, delta: &Const) -> Result<Const, OpError> {
    let scalar =
        |c: &Const| proto::f32_view(c).iter().next().copied().filter(|_| c.shape().iter().product::<usize>() == 1);
    let (s, l, d) = match (scalar(start), scalar(limit), scalar(delta)) {
        (Some(s), Some(l), Some(d)) if d != 0.0 => (s, l, d),
        _ => return Err("Range takes three scalars and a delta other than 0".into()),
    };
    let count = ((l - s) / d).ceil().max(0.0) as usize;
    if count > MAX_ELEMENTS {
        return Err(unsupported!("a range of {count} elements"));
    }
    Ok(match (start, limit, delta) {
        (Const::Int(a), Const::Int(_), Const::Int(b)) => {
            let (s, d) = (a.iter().next().copied().unwrap_or(0), b.iter().next().copied().unwrap_or(1));
            Const::Int(ArrayD::from_shape_fn(IxDyn(&[count]), |i| s + d * i[0] as i64))
        }
        _ => Const::F32(ArrayD::from_shape_fn(IxDyn(&[count]), |i| s + d * i[0] as f32)),
    })
}

/// The numpy broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_count_like_onnx() {
        let f = |v: f32| Const::F32(ArrayD::from_elem(IxDyn(&[]), v));
        let i = |v: i64| Const::Int(ArrayD::from_elem(IxDyn(&[]), v));
        assert_eq!(range(&f(0.0), &f(4.0), &f(1.5)).unwrap().shape(), &[3]);
        assert_eq!(range(&i(10), &i(4), &i(-3)).unwrap().int_values().unwrap(), [10, 7]);
        assert_eq!(range(&i(0), &i(4), &i(-1)).unwrap().shape(), &[0]);
        assert!(range(&f(0.0), &f(1.0), &f(0.0)).is_err());
        assert_eq!(broadcast(&[1, 3], &[2, 1]), Some(vec![2, 3]));
        assert_eq!(broadcast(&[3], &[2, 4]), None);
    }
}

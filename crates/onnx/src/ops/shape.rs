//! Integer ops on shapes and constants (`Shape`, `Gather`, `Cast`, `Slice`, `Concat`,
//! `Squeeze`, `Unsqueeze`, `ReduceProd`, `Reshape` to a vector, `Equal`, `Where` and
//! arithmetic, `Mod` and `Max`/`Min` included), folded at translation time with the
//! batch kept symbolic; see [`crate::shapes`].

use tf2h5_tf::{Dim, Dims};
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto;
use crate::shapes;
use crate::translator::Translator;

pub(super) fn register(registry: &mut Registry) {
    // `Gather` and `Cast` of tensors are lookups (see `lookup`), which dispatch here otherwise.
    for op in ["Shape", "ReduceProd", "Where"] {
        registry.insert(op, Translator::shape_arithmetic);
    }
    // PyTorch's attention computes an axis index `2 % 3` while slicing a shape.
    registry.insert("Mod", |t, node| {
        if proto::attr_int(node, "fmod", 0)? != 0 {
            return Err("fmod = 1 (a float remainder) is not supported".into());
        }
        t.shape_binary(node, "Mod")
    });
}

impl Translator {
    /// Integer ops on shapes and constants, folded (see [`crate::shapes`]).
    pub(crate) fn shape_arithmetic(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let dims = match node.op_type.as_str() {
            "Shape" if !self.is_tensor(node, 0) => {
                let values = self.dims(node, 0)?;
                let len = if values.scalar { vec![] } else { vec![Dim::Known(values.values.len() as i64)] };
                Dims { values: len, scalar: false }
            }
            "Shape" => {
                let x = self.any_tensor_anywhere(node, 0)?;
                let batch = x.batch_axis();
                let values = (x.shape.iter().enumerate())
                    .map(|(axis, d)| match d {
                        _ if axis == batch => {
                            let merged = x.merge.as_ref().map_or(1, |m| m.outer * m.inner);
                            Some(Dim::Batch((self.rows_of(&x) * merged) as i64))
                        }
                        Some(d) => Some(Dim::Known(*d as i64)),
                        None => None,
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        OpError::UnknownSize(format!("the shape {:?} is not known but for the batch", x.shape))
                    })?;
                let shape = Dims { values, scalar: false };
                shapes::slice(&shape, proto::attr_int(node, "start", 0)?, proto::attr_int(node, "end", i64::MAX)?)
            }
            "Gather" => {
                if proto::attr_int(node, "axis", 0)? != 0 {
                    return Err("only axis 0 of shape values can be gathered".into());
                }
                let indices = self.dims(node, 1)?;
                let positions = indices.known().ok_or("the indices depend on the batch size")?;
                self.dims(node, 0)?
                    .gather(&positions, indices.scalar)
                    .ok_or_else(|| format!("indices {positions:?} out of range"))?
            }
            "Cast" => {
                use tract_onnx::pb::tensor_proto::DataType;
                let to = proto::attr_int(node, "to", 0)?;
                if ![DataType::Int64 as i64, DataType::Int32 as i64].contains(&to) {
                    return Err(unsupported!("only casts of shape values to integers are supported (to = {to})"));
                }
                self.dims(node, 0)?
            }
            "Slice" => {
                let super::array::SliceArgs { starts, ends, axes, steps } = self.slice_args(node)?;
                let (axes, steps) = (axes.unwrap_or(vec![0]), steps.unwrap_or(vec![1]));
                if starts.len() != 1 || ends.len() != 1 || !matches!(axes[..], [0] | [-1]) || steps != [1] {
                    return Err(unsupported!("only a step-1 slice of one vector of shape values is supported (starts {starts:?}, ends {ends:?}, axes {axes:?}, steps {steps:?})"));
                }
                shapes::slice(&self.dims(node, 0)?, starts[0], ends[0])
            }
            "Concat" => {
                if !matches!(proto::attr_int(node, "axis", 0)?, 0 | -1) {
                    return Err("shape values concatenate on axis 0 only".into());
                }
                let parts = (0..node.input.len()).map(|i| self.dims(node, i)).collect::<Result<Vec<_>, _>>()?;
                Dims::concat(&parts).ok_or("cannot concatenate scalars")?
            }
            "ReduceProd" => {
                let values = self.dims(node, 0)?;
                let keep = proto::attr_int(node, "keepdims", 1)? != 0;
                let product = values
                    .values
                    .iter()
                    .try_fold(Dim::Known(1), |acc, &d| acc.checked_mul(d))
                    .ok_or("a product of shape values that overflows")?;
                Dims { values: vec![product], scalar: !keep }
            }
            "Unsqueeze" => {
                let axes = self.raw_axes(node, 13)?.ok_or("the axes are missing")?;
                shapes::with_rank(&self.dims(node, 0)?, 1, &axes)?
            }
            "Squeeze" => shapes::with_rank(&self.dims(node, 0)?, 0, &self.raw_axes(node, 13)?.unwrap_or_default())?,
            // PyTorch's `expand(n, -1, -1)`: its sizes reshaped to a vector, compared with -1,
            // and the -1s replaced by 1 through `Where`.
            "Reshape" => {
                let values = self.dims(node, 0)?;
                if !matches!(self.dims(node, 1)?.known().as_deref(), Some([-1]) | Some([_])) {
                    return Err("shape values are reshaped to a vector only".into());
                }
                Dims { values: values.values, scalar: false }
            }
            "Equal" => {
                // The batch size is at least 1: never equal to a constant below 1.
                let equal = |x: Dim, y: Dim| match (x, y) {
                    (Dim::Known(x), Dim::Known(y)) => Some(Dim::Known(i64::from(x == y))),
                    (Dim::Batch(k), Dim::Known(v)) | (Dim::Known(v), Dim::Batch(k)) if k >= 1 && v < 1 => {
                        Some(Dim::Known(0))
                    }
                    _ => None,
                };
                let (a, b) = (self.dims(node, 0)?, self.dims(node, 1)?);
                a.zip_with(&b, equal)
                    .ok_or_else(|| format!("comparing shape values {:?} and {:?}", a.values, b.values))?
            }
            "Where" => {
                let operands = [self.dims(node, 0)?, self.dims(node, 1)?, self.dims(node, 2)?];
                let len = operands.iter().map(|d| d.values.len()).max().unwrap_or(0);
                let at = |d: &Dims, i: usize| -> Option<Dim> {
                    if d.values.len() == 1 {
                        d.values.first().copied()
                    } else {
                        d.values.get(i).copied()
                    }
                };
                let values = (0..len)
                    .map(|i| match (at(&operands[0], i)?, at(&operands[1], i)?, at(&operands[2], i)?) {
                        (Dim::Known(0), _, y) => Some(y),
                        (Dim::Known(_), x, _) => Some(x),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or("a Where on shape values whose condition depends on the batch or does not broadcast")?;
                Dims { values, scalar: operands.iter().all(|d| d.scalar) }
            }
            other => return Err(unsupported!("op '{other}' is not supported on shape values")),
        };
        self.bind_dims(node, dims)
    }

    /// Integer arithmetic on shape values and integer constants (ShuffleNet's
    /// `channels // 2`), folded; `op` is the TF op `binary` was given.
    pub(crate) fn shape_binary(&mut self, node: &NodeProto, op: &str) -> Result<(), OpError> {
        let (a, b) = (self.dims(node, 0)?, self.dims(node, 1)?);
        let folded = match op {
            "AddV2" => a.zip_with(&b, |x, y| x.add(y, false)),
            "Sub" => a.zip_with(&b, |x, y| x.add(y, true)),
            "Mul" => a.zip_with(&b, Dim::checked_mul),
            "RealDiv" => a.zip_with(&b, Dim::checked_div),
            "Mod" => a.zip_with(&b, |x, y| match (x, y) {
                (Dim::Known(x), Dim::Known(y)) if x >= 0 && y > 0 => Some(Dim::Known(x % y)),
                _ => None,
            }),
            // tf2onnx's `max(shape, 1)`-style bounds; the batch size is at least 1.
            "Maximum" | "Minimum" => a.zip_with(&b, |x, y| {
                let larger = match (x, y) {
                    _ if x == y => x,
                    (Dim::Known(u), Dim::Known(v)) => Dim::Known(u.max(v)),
                    (batch @ Dim::Batch(k), Dim::Known(v)) | (Dim::Known(v), batch @ Dim::Batch(k))
                        if k >= 1 && v <= 1 =>
                    {
                        batch
                    }
                    _ => return None,
                };
                let smaller = if larger == x { y } else { x };
                Some(if op == "Maximum" { larger } else { smaller })
            }),
            _ => None,
        };
        let folded =
            folded.ok_or_else(|| format!("{op} of shape values {:?} and {:?} is not supported", a.values, b.values))?;
        self.bind_dims(node, folded)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::rc::Rc;

    use ndarray::{ArrayD, IxDyn};
    use tf2h5_tf::{Dim, Dims};

    use crate::proto::Const;
    use crate::testing::{onnx_node, OPSET};
    use crate::translator::{Translator, Value};

    /// PyTorch's attention slices a shape at `2 % 3`, tf2onnx's einsum bounds sizes by `Max`
    /// of two shapes: folded, the batch kept symbolic (it is at least 1); what would need the
    /// batch's value is refused.
    #[test]
    fn mod_max_and_min_fold_on_shape_values() {
        let mut t = Translator::new(Path::new("m.onnx"), OPSET);
        let int = |v: i64| Value::Const(Rc::new(Const::Int(ArrayD::from_elem(IxDyn(&[]), v))));
        let shape = Dims { values: vec![Dim::Batch(1), Dim::Known(2)], scalar: false };
        t.values.insert("shape".into(), Value::Dims(shape.clone()));
        for (name, v) in [("zero", 0), ("one", 1), ("two", 2), ("three", 3)] {
            t.values.insert(name.into(), int(v));
        }
        let folded = |t: &mut Translator, op: &str, inputs: &[&str]| {
            t.node(&onnx_node(op, inputs, "y", vec![])).map_err(|e| e.to_string())?;
            Ok::<_, String>(match &t.values["y"] {
                Value::Dims(d) => d.values.clone(),
                Value::Const(c) => c.int_values().unwrap().into_iter().map(Dim::Known).collect(),
                _ => panic!("not shape values"),
            })
        };
        assert_eq!(folded(&mut t, "Mod", &["two", "three"]).unwrap(), [Dim::Known(2)]);
        assert!(folded(&mut t, "Mod", &["shape", "three"]).unwrap_err().contains("Mod of shape values"));
        assert!(folded(&mut t, "Mod", &["two", "zero"]).is_err(), "no remainder by 0");
        assert_eq!(folded(&mut t, "Max", &["shape", "shape"]).unwrap(), shape.values);
        assert_eq!(folded(&mut t, "Max", &["shape", "one"]).unwrap(), [Dim::Batch(1), Dim::Known(2)]);
        assert_eq!(folded(&mut t, "Min", &["shape", "one"]).unwrap(), [Dim::Known(1), Dim::Known(1)]);
        assert!(folded(&mut t, "Max", &["shape", "three"]).is_err(), "the batch may be below 3");
    }
}

//! Embedding lookups on integer ids: `Gather` of a constant table by an integer tensor, and
//! the one-hot product exporters write instead (magika: `Expand` → `Equal` against a constant
//! range → `Cast` to float → `MatMul` by a table), both as TF `GatherV2` of a constant table
//! (→ Keras `Embedding`). Here too `Expand` and `Cast` on tensors, whose other forms fold or
//! pass through, and the dispatch of `Gather`/`Cast` on shape values to [`crate::shapes`].
//!
//! The one-hot product is an exact lookup: for ids among the compared classes `c`, row `j` of
//! the one-hot is 1 where `id == c[j]`, so the product is row `j` of the table, which the
//! embedding table holds at row `c[j]` (rows no class names are zeros). Ids outside every
//! class (a zero one-hot row) have no embedding row: the inputs' valid range, which
//! verification reads from the table's size, excludes them.

use std::rc::Rc;

use ndarray::{ArrayD, Axis, IxDyn};
use tf2h5_tf::{pb, Dim};
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto::{self, Const, MAX_ELEMENTS};
use crate::translator::{identity, Attrs, Pending, Tensor, Translator, Value};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Gather", |t, node| match (t.value(node, 0)?, t.value(node, 1)?) {
        (Value::Const(table), Value::Tensor(_)) => {
            let table = table.clone();
            t.gather_rows(node, &table)
        }
        (Value::Tensor(_), Value::Const(_)) => t.gather_one(node),
        _ => t.shape_arithmetic(node),
    });
    registry.insert("Cast", Translator::cast);
    registry.insert("Expand", Translator::expand);
    registry.insert("Equal", |t, node| match (t.value(node, 0)?, t.value(node, 1)?) {
        (Value::Dims(_) | Value::Const(_), Value::Dims(_) | Value::Const(_)) => t.shape_arithmetic(node),
        _ => t.equal(node),
    });
}

/// The ONNX type `Cast` names as `to`, in TF's terms (`None`: a type no tensor here holds).
fn cast_target(to: i64) -> Option<pb::DataType> {
    use tract_onnx::pb::tensor_proto::DataType as Onnx;
    match Onnx::try_from(to as i32).ok()? {
        Onnx::Float => Some(pb::DataType::DtFloat),
        Onnx::Int32 => Some(pb::DataType::DtInt32),
        Onnx::Int64 => Some(pb::DataType::DtInt64),
        Onnx::Uint8 => Some(pb::DataType::DtUint8),
        Onnx::Bool => Some(pb::DataType::DtBool),
        _ => None,
    }
}

impl Translator {
    /// `Gather(table, ids, axis=0)` of a constant 2-D float table by a tensor of ids.
    fn gather_rows(&mut self, node: &NodeProto, table: &Const) -> Result<(), OpError> {
        if proto::attr_int(node, "axis", 0)? != 0 {
            return Err(unsupported!("only gathering rows (axis 0) of a constant table by ids is supported"));
        }
        let Const::F32(table) = table else { return Err("only float tables can be gathered by ids".into()) };
        let ids = self.ids(node, 1)?;
        self.embedding(node, table.clone(), &ids)
    }

    /// Input `index` as a tensor of integer ids.
    fn ids(&self, node: &NodeProto, index: usize) -> Result<Tensor, OpError> {
        let ids = self.any_tensor(node, index)?;
        if !self.integers.contains_key(&ids.node) {
            return Err(OpError::Input { index, message: "must hold integer ids, but it holds floats".into() });
        }
        Ok(ids)
    }

    /// `table[ids]`: a TF `GatherV2` of the constant 2-D `table` by `ids` (held in the ONNX
    /// layout), shaped `ids.shape + [table columns]`.
    fn embedding(&mut self, node: &NodeProto, table: ArrayD<f32>, ids: &Tensor) -> Result<(), OpError> {
        if table.ndim() != 2 {
            return Err(unsupported!("a table of shape {:?}: only 2-D tables have an Embedding", table.shape()));
        }
        let ids = self.in_onnx_layout(ids)?;
        let table_node = self.emit_f32(&self.part("table"), table.view(), table.shape());
        let axis = self.emit_ints(&self.part("axis"), &[0]);
        let attrs: Attrs = vec![
            ("Tparams", crate::translator::float_type()),
            ("Tindices", self.type_of(&ids)),
            ("Taxis", pb::attr_value::Value::Type(pb::DataType::DtInt64 as i32)),
        ];
        let mut shape = ids.shape.clone();
        shape.push(Some(table.shape()[1]));
        let rank = shape.len();
        self.emit_output(node, "GatherV2", vec![table_node, ids.node.clone(), axis], attrs, shape, identity(rank))
    }

    /// `Cast`: of shape values, folded; of a float tensor to float, the identity; of a one-hot
    /// comparison to float, the next step of a lookup. Integer tensors keep their type: a
    /// cast to another type (ids to floats, floats to integers) has no Keras layer.
    fn cast(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let to = proto::attr_int(node, "to", 0)?;
        let target = cast_target(to);
        let out = Self::output_name(node)?.to_string();
        match self.value(node, 0)?.clone() {
            Value::Pending(p) => match &*p {
                Pending::OneHot { ids, classes, .. } if target == Some(pb::DataType::DtFloat) => {
                    let cast = Pending::OneHot { ids: ids.clone(), classes: classes.clone(), float: true };
                    self.values.insert(out, Value::Pending(Rc::new(cast)));
                    Ok(())
                }
                other => Err(OpError::Input { index: 0, message: format!("is {}", other.describe()) }),
            },
            Value::Tensor(x) => {
                let held = self.integers.get(&x.node).copied().unwrap_or(pb::DataType::DtFloat);
                if Some(held) != target {
                    let name = |t: pb::DataType| tf2h5_tf::dtype_name(t as i32);
                    return Err(unsupported!(
                        "casting {} values to {} has no Keras layer (integer inputs may only feed reshapes and \
                         embedding lookups)",
                        name(held),
                        proto::type_name(to as i32)
                    ));
                }
                self.values.insert(out, Value::Tensor(x));
                Ok(())
            }
            Value::Const(_) | Value::Dims(_) => self.shape_arithmetic(node),
        }
    }

    /// `Expand` of a constant, folded; of a tensor it already has the shape of (jax2tf's
    /// `BroadcastTo` after a reshape), the identity; of integer ids, the first step of a
    /// one-hot ([`Translator::equal`]).
    fn expand(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let target = self.dims(node, 1)?;
        let out = Self::output_name(node)?.to_string();
        if let Value::Const(c) = self.value(node, 0)?.clone() {
            // Repeated over the batch (a class token): the same for every sample, so it stays a
            // constant with a first axis of 1, which a Concat with tensors repeats per sample.
            let per_sample = match target.values.split_first() {
                Some((Dim::Batch(1), rest)) if c.shape().len() == target.values.len() && c.shape()[0] == 1 => {
                    std::iter::once(Some(1))
                        .chain(rest.iter().map(|d| if let Dim::Known(v) = d { Some(*v) } else { None }))
                        .collect()
                }
                _ => None,
            };
            let target = per_sample
                .or_else(|| target.known())
                .ok_or("expanding a constant to a size that depends on the batch (other than a first axis of 1)")?;
            let folded = broadcast_const(&c, &target)?;
            self.values.insert(out, Value::Const(Rc::new(folded)));
            return Ok(());
        }
        let x = self.any_tensor(node, 0)?;
        let target: Vec<Option<usize>> = target
            .values
            .iter()
            .enumerate()
            .map(|(axis, d)| match (axis, d) {
                (0, Dim::Batch(1)) => Ok(None),
                (_, Dim::Known(v)) if *v >= 1 => Ok(Some(*v as usize)),
                _ => Err(unsupported!("target {:?}: only the first entry may be the batch size", target.values)),
            })
            .collect::<Result<_, OpError>>()?;
        let shape = broadcast_shape(&x.shape, &target)
            .ok_or_else(|| unsupported!("{:?} does not broadcast to {target:?}", x.shape))?;
        if shape == x.shape {
            self.values.insert(out, Value::Tensor(x));
        } else if self.integers.contains_key(&x.node) {
            self.values.insert(out, Value::Pending(Rc::new(Pending::Expanded { ids: x, shape })));
        } else {
            return Err(unsupported!(
                "broadcasting {:?} to {shape:?} has no Keras layer (only an Expand that keeps the shape, or of ids \
                 compared with a constant range)",
                x.shape
            ));
        }
        Ok(())
    }

    /// `Equal(ids, classes)` of integer ids whose last axis has size 1 (perhaps `Expand`ed
    /// along it) with a constant `[1, ..., 1, K]`: the one-hot of the ids over the classes,
    /// which only a `Cast` to float and then a `MatMul` by a `(K, D)` table read.
    fn equal(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let (a, b) = (self.value(node, 0)?.clone(), self.value(node, 1)?.clone());
        let (ids, classes) = match (&a, &b) {
            (Value::Const(c), other) | (other, Value::Const(c)) => (other.clone(), c.clone()),
            _ => return Err(unsupported!("only comparing integer ids with a constant (a one-hot) is supported")),
        };
        let (ids, expanded) = match ids {
            Value::Pending(p) => match &*p {
                Pending::Expanded { ids, shape } => (ids.clone(), Some(shape.clone())),
                other => return Err(unsupported!("comparing {}", other.describe())),
            },
            Value::Tensor(t) if self.integers.contains_key(&t.node) => (t, None),
            _ => return Err(unsupported!("only comparing integer ids with a constant (a one-hot) is supported")),
        };
        let rank = ids.rank();
        let values = classes.as_ints().ok_or("the classes compared with must be integers")?;
        let count = values.len();
        let one_hot_axis = values.ndim() <= rank && values.shape().iter().rev().skip(1).all(|&d| d == 1);
        let fits = expanded.as_ref().is_none_or(|shape| {
            shape.len() == rank
                && shape[..rank - 1] == ids.shape[..rank - 1]
                && [Some(1), Some(count)].contains(&shape[rank - 1])
        });
        if !one_hot_axis || ids.shape.last() != Some(&Some(1)) || !fits || rank < 2 {
            return Err(unsupported!(
                "ids of shape {:?} compared with constants of shape {:?}: only a one-hot (ids with a last axis of \
                 size 1 against a [1, ..., K] range) is supported",
                expanded.unwrap_or(ids.shape.clone()),
                values.shape()
            ));
        }
        let ids = self.without_last_axis(&ids)?;
        let one_hot = Pending::OneHot { ids, classes: values.iter().copied().collect(), float: false };
        self.values.insert(Self::output_name(node)?.to_string(), Value::Pending(Rc::new(one_hot)));
        Ok(())
    }

    /// Integer `ids` without their last axis (of size 1): the tensor an `Unsqueeze` made them
    /// from, else a TF `Reshape`.
    fn without_last_axis(&mut self, ids: &Tensor) -> Result<Tensor, OpError> {
        let shape = ids.shape[..ids.rank() - 1].to_vec();
        if let Some(source) = self.reshaped_ids.get(&ids.node).filter(|s| s.shape == shape) {
            return Ok(source.clone());
        }
        let known: Option<Vec<i64>> = shape[1..].iter().map(|d| d.map(|d| d as i64)).collect();
        let unknown = || OpError::UnknownSize(format!("ids of shape {:?} are not fully known", ids.shape));
        let known = known.ok_or_else(unknown)?;
        let ids = self.in_onnx_layout(ids)?;
        let target = self.emit_ints(&self.part("ids/shape"), &[vec![-1], known].concat());
        let dtype = self.integers[&ids.node];
        let node =
            self.emit(&self.part("ids"), "Reshape", vec![ids.node.clone(), target], vec![("T", self.type_of(&ids))]);
        self.integers.insert(node.clone(), dtype);
        let layout = identity(shape.len());
        Ok(Tensor { node, shape, layout, merge: None })
    }

    /// `MatMul(one_hot(ids), table)` ([`Translator::equal`]): the embedding of the ids in a
    /// table holding row `j` of `table` at row `classes[j]`.
    pub(crate) fn one_hot_product(&mut self, node: &NodeProto, one_hot: &Pending) -> Result<(), OpError> {
        let Pending::OneHot { ids, classes, float: true } = one_hot else {
            return Err(OpError::Input { index: 0, message: format!("is {}", one_hot.describe()) });
        };
        let weights =
            self.constant(node, 1)?.ok_or("only products of a one-hot with a constant table are supported")?;
        let weights = proto::f32_view(&weights);
        if weights.ndim() != 2 || weights.shape()[0] != classes.len() {
            return Err(unsupported!(
                "a one-hot over {} classes times a table of shape {:?}",
                classes.len(),
                weights.shape()
            ));
        }
        let columns = weights.shape()[1];
        let mut sorted = classes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let rows = classes.iter().max().map_or(0, |&m| m + 1);
        let too_big = usize::try_from(rows).ok().and_then(|r| r.checked_mul(columns)).is_none_or(|n| n > MAX_ELEMENTS);
        if sorted.len() != classes.len() || sorted.first().is_some_and(|&c| c < 0) || too_big {
            return Err(unsupported!("classes {sorted:?}: only distinct, non-negative ids name embedding rows"));
        }
        let mut table = ArrayD::zeros(IxDyn(&[rows as usize, columns]));
        for (row, &class) in weights.axis_iter(Axis(0)).zip(classes) {
            table.index_axis_mut(Axis(0), class as usize).assign(&row);
        }
        self.embedding(node, table, &ids.clone())
    }
}

/// The shape `shape` broadcasts to against `target` (numpy rules, `None` the batch).
fn broadcast_shape(shape: &[Option<usize>], target: &[Option<usize>]) -> Option<Vec<Option<usize>>> {
    let rank = shape.len().max(target.len());
    let at =
        |dims: &[Option<usize>], i: usize| if i + dims.len() >= rank { dims[i + dims.len() - rank] } else { Some(1) };
    (0..rank)
        .map(|i| match (at(shape, i), at(target, i)) {
            (a, b) if a == b => Some(a),
            (Some(1), b) => Some(b),
            (a, Some(1)) => Some(a),
            _ => None,
        })
        .collect()
}

/// Constant `c` broadcast to `target` (ONNX `Expand`: numpy rules).
fn broadcast_const(c: &Const, target: &[i64]) -> Result<Const, OpError> {
    let target: Vec<Option<usize>> = target.iter().map(|&d| usize::try_from(d).ok()).collect();
    let own: Vec<Option<usize>> = c.shape().iter().map(|&d| Some(d)).collect();
    let shape: Vec<usize> = broadcast_shape(&own, &target)
        .and_then(|s| s.into_iter().collect())
        .ok_or_else(|| unsupported!("a constant of shape {:?} does not expand to {target:?}", c.shape()))?;
    if shape.iter().product::<usize>() > MAX_ELEMENTS {
        return Err(unsupported!("expanding a constant to {shape:?} elements"));
    }
    let expanded = |what: &str| unsupported!("cannot expand {what} of shape {:?} to {shape:?}", c.shape());
    Ok(match c {
        Const::F32(a) => Const::F32(a.broadcast(IxDyn(&shape)).ok_or_else(|| expanded("floats"))?.to_owned()),
        Const::Int(a) => Const::Int(a.broadcast(IxDyn(&shape)).ok_or_else(|| expanded("integers"))?.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use tract_onnx::pb::tensor_proto::DataType as Onnx;

    fn ids_input(elem_type: Onnx) -> tract_onnx::pb::ValueInfoProto {
        typed_value_info("x", &[-1, 6], elem_type)
    }

    fn float_initializer(name: &str, dims: &[i64], values: Vec<f32>) -> tract_onnx::pb::TensorProto {
        tract_onnx::pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: Onnx::Float as i32,
            float_data: values,
            ..Default::default()
        }
    }

    /// magika's one-hot product over classes given out of order is the embedding whose row
    /// `classes[j]` is row `j` of the table; rows no class names are zeros.
    #[test]
    fn one_hot_products_become_embeddings_of_the_ids() {
        let nodes = vec![
            onnx_node("Unsqueeze", &["x", "last"], "unit", vec![]),
            onnx_node("Equal", &["unit", "classes"], "hot", vec![]),
            onnx_node("Cast", &["hot"], "float_hot", vec![int_attr("to", Onnx::Float as i64)]),
            onnx_node("MatMul", &["float_hot", "table"], "y", vec![]),
        ];
        let mut classes = int_initializer("classes", &[3, 0, 1]);
        classes.dims = vec![1, 1, 3];
        let initializers = vec![
            int_initializer("last", &[2]),
            classes,
            float_initializer("table", &[3, 2], vec![1., 2., 3., 4., 5., 6.]),
        ];
        let graph = translated_from(OPSET, ids_input(Onnx::Int64), nodes, initializers).unwrap();
        let ops: Vec<&str> = graph.nodes().iter().map(|n| n.op.as_str()).filter(|&op| op != "Const").collect();
        // The ids are read from before the Unsqueeze, whose Reshape nothing reads.
        assert_eq!(ops, ["Placeholder", "Reshape", "GatherV2"]);
        let gather = graph.nodes().iter().find(|n| n.op == "GatherV2").unwrap();
        assert_eq!(tf2h5_tf::TensorRef::parse(&gather.input[1]).unwrap().node, "x");
        let table = graph.const_value(&gather.input[0]).unwrap().unwrap();
        let rows: Vec<f32> = table.as_f32().unwrap().iter().copied().collect();
        assert_eq!(table.shape(), &[4, 2]);
        assert_eq!(rows, [3., 4., 5., 6., 0., 0., 1., 2.]);
    }

    /// Integer tensors go only where ids make sense; an input type Keras has no `Input` for,
    /// and a Gather by floats, are refused by name.
    #[test]
    fn ids_feed_only_lookups() {
        let relu = vec![onnx_node("Relu", &["x"], "y", vec![])];
        let error = translated_from(OPSET, ids_input(Onnx::Int32), relu.clone(), vec![]).unwrap_err();
        assert!(
            error.contains("node 'y' (Relu): input 0 holds int32 ids: only reshapes and embedding lookups"),
            "{error}"
        );
        let error = translated_from(OPSET, ids_input(Onnx::Float16), relu, vec![]).unwrap_err();
        assert!(error.contains("input 'x': inputs of type float16 are not supported"), "{error}");
        let cast = vec![onnx_node("Cast", &["x"], "y", vec![int_attr("to", Onnx::Float as i64)])];
        let error = translated_from(OPSET, ids_input(Onnx::Int64), cast, vec![]).unwrap_err();
        assert!(error.contains("casting int64 values to float has no Keras layer"), "{error}");
        let table = float_initializer("table", &[2, 1], vec![1., 2.]);
        let gather = vec![onnx_node("Gather", &["table", "x"], "y", vec![])];
        let error = translated_from(OPSET, ids_input(Onnx::Float), gather.clone(), vec![table.clone()]).unwrap_err();
        assert!(error.contains("input 1 must hold integer ids, but it holds floats"), "{error}");
        let graph = translated_from(OPSET, ids_input(Onnx::Int64), gather, vec![table]).unwrap();
        assert!(graph.nodes().iter().any(|n| n.op == "GatherV2"));
    }

    #[test]
    fn shapes_broadcast_like_numpy() {
        let (n, one, four) = (None, Some(1), Some(4));
        assert_eq!(broadcast_shape(&[n, four, one], &[n, four, Some(7)]), Some(vec![n, four, Some(7)]));
        assert_eq!(broadcast_shape(&[n, four, one], &[Some(7)]), Some(vec![n, four, Some(7)]));
        assert_eq!(broadcast_shape(&[n, four], &[n, Some(3)]), None);
        let c = Const::Int(ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0, 1, 2]).unwrap());
        assert_eq!(broadcast_const(&c, &[2, 3]).unwrap().shape(), &[2, 3]);
        assert!(broadcast_const(&c, &[2, 4]).is_err());
    }
}

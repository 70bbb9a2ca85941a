//! Reductions: `ReduceMean` / `ReduceMax` (and `GlobalAveragePool` / `GlobalMaxPool`, over H
//! and W) as TF `Mean` / `Max` over the same axes in the tensor's layout; `ReduceMin`,
//! `ReduceSum` and `ReduceSumSquare` through them (`-Max(-x)`, `Mean(x) · n`, of `x · x`).

use tf2h5_tf::pb;
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto;
use crate::translator::{float_type, Attrs, Tensor, Translator};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("ReduceMean", |t, node| t.reduce(node, "Mean", 18));
    registry.insert("ReduceMax", |t, node| t.reduce(node, "Max", 18));
    registry.insert("ReduceMin", |t, node| t.reduce(node, "Min", 18));
    registry.insert("ReduceSum", |t, node| t.reduce(node, "Sum", 13));
    registry.insert("ReduceSumSquare", |t, node| t.reduce(node, "SumSquare", 18));
}

impl Translator {
    /// `ReduceMean` / `ReduceMax` → TF `op` over the same axes in the tensor's layout (the
    /// converter decides which Keras layer, e.g. `GlobalAveragePooling2D` for H and W);
    /// `ReduceMin` → `-Max(-x)`, `ReduceSum` → `Mean(x) · n` (n the elements reduced), which
    /// Keras's poolings and `Rescaling` compute. The axes are an attribute before opset
    /// `axes_input_since` (18; `ReduceSum`: 13), input 1 from it.
    fn reduce(&mut self, node: &NodeProto, op: &str, axes_input_since: i64) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank();
        let axes = match self.axes(node, rank, axes_input_since)? {
            Some(axes) => axes,
            None if proto::attr_int(node, "noop_with_empty_axes", 0)? != 0 => {
                return Err("an empty reduction is not supported".into())
            }
            None => (0..rank).collect(),
        };
        if axes.contains(&0) {
            return Err(unsupported!("axes {axes:?}: reducing over the batch is not supported"));
        }
        let keep_dims = proto::attr_int(node, "keepdims", 1)? != 0;
        // ReduceSumSquare: the sum of `Square(x)` (Keras `Multiply([x, x])`).
        let (x, op) = if op == "SumSquare" {
            let squared = self.emit(&self.part("square"), "Square", vec![x.node.clone()], vec![("T", float_type())]);
            (Tensor { node: squared, ..x }, "Sum")
        } else {
            (x, op)
        };
        match op {
            "Min" => {
                let negated = self.emit(&self.part("negated"), "Neg", vec![x.node.clone()], vec![]);
                let wanted = self.part("max");
                let max = self.reduction("Max", Tensor { node: negated, ..x }, &axes, keep_dims, &wanted)?;
                self.elementwise(node, "Neg", vec![max.node.clone()], vec![], &max)
            }
            "Sum" => {
                let reduced: Option<usize> = axes.iter().map(|&a| x.shape[a]).product();
                let count =
                    reduced.ok_or_else(|| OpError::UnknownSize(format!("summing unknown sizes of {:?}", x.shape)))?;
                let wanted = self.part("mean");
                let mean = self.reduction("Mean", x, &axes, keep_dims, &wanted)?;
                let scale = self.emit_scalar(&self.part("count"), count as f32);
                self.elementwise(node, "Mul", vec![mean.node.clone(), scale], vec![("T", float_type())], &mean)
            }
            _ => self.reduce_over(node, op, x, &axes, keep_dims),
        }
    }

    /// TF reduction `op` of `x` over ONNX `axes` (sorted, without the batch), in `x`'s layout,
    /// computing `node`'s output.
    pub(crate) fn reduce_over(
        &mut self,
        node: &NodeProto,
        op: &str,
        x: Tensor,
        axes: &[usize],
        keep_dims: bool,
    ) -> Result<(), OpError> {
        let reduced = self.reduction(op, x, axes, keep_dims, Self::output_name(node)?)?;
        self.bind(Self::output_name(node)?, reduced);
        Ok(())
    }

    /// The TF node `wanted` reducing `x` by `op` over ONNX `axes` (see [`Self::reduce_over`]).
    fn reduction(
        &mut self,
        op: &str,
        x: Tensor,
        axes: &[usize],
        keep_dims: bool,
        wanted: &str,
    ) -> Result<Tensor, OpError> {
        // A spatial mean of an NCHW tensor is a global pooling: over H and W of NHWC.
        let x = if x.rank() == 4 && axes == [2, 3] { self.nhwc(&x)? } else { x };
        let tf_axes: Vec<i64> = axes.iter().map(|a| x.layout.iter().position(|b| b == a).unwrap_or(0) as i64).collect();
        let (shape, layout) = if keep_dims {
            let shape = x.shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { Some(1) } else { d }).collect();
            (shape, x.layout.clone())
        } else {
            let shape = x.shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
            let renumber = |a: usize| a - axes.iter().filter(|&&r| r < a).count();
            (shape, x.layout.iter().filter(|a| !axes.contains(a)).map(|&a| renumber(a)).collect())
        };
        let axes_node = self.emit_ints(&self.part("axes"), &tf_axes);
        let attrs: Attrs = vec![("T", float_type()), ("keep_dims", pb::attr_value::Value::B(keep_dims))];
        let node = self.emit(wanted, op, vec![x.node, axes_node], attrs);
        Ok(Tensor { node, shape, layout, merge: None })
    }
}

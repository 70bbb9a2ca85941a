//! Layout and data movement: `Concat`, `Reshape`/`Flatten`/`Squeeze`/`Unsqueeze` (in ONNX
//! element order), `Slice`, `Split`, `Transpose` (a relabelling), `DepthToSpace`/`SpaceToDepth`
//! (their defining reshapes), `Pad`, `Resize` (nearest, linear), and the
//! pass-through `Constant`/`Identity`/`Dropout`.

use std::rc::Rc;

use ndarray::{ArrayD, IxDyn};
use tf2h5_tf::{pb, Dim};
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto::{self, Const};
use crate::translator::{
    batch_first, float_type, identity, int_list, keeps_order, pairs, permuted, resolve_axes, unit_axis_move, Attrs,
    Tensor, Translator, Value, TO_NHWC,
};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Constant", |t, node| {
        let value = proto::constant_node_value(node)?;
        t.values.insert(Translator::output_name(node)?.to_string(), Value::Const(Rc::new(value)));
        Ok(())
    });
    for op in ["Identity", "Dropout"] {
        registry.insert(op, |t, node| {
            let value = t.value(node, 0)?.clone();
            t.values.insert(Translator::output_name(node)?.to_string(), value);
            Ok(())
        });
    }
    // On tensors these move data; on shape values they are folded (see `shape`).
    registry.insert("Concat", |t, node| {
        if (0..node.input.len()).any(|i| t.is_tensor(node, i)) {
            t.concat(node)
        } else {
            t.shape_arithmetic(node)
        }
    });
    registry.insert("Squeeze", |t, node| if t.is_tensor(node, 0) { t.squeeze(node) } else { t.shape_arithmetic(node) });
    registry.insert(
        "Unsqueeze",
        |t, node| {
            if t.is_tensor(node, 0) {
                t.unsqueeze(node)
            } else {
                t.shape_arithmetic(node)
            }
        },
    );
    registry.insert("Slice", |t, node| if t.is_tensor(node, 0) { t.slice(node) } else { t.shape_arithmetic(node) });
    registry.insert("Split", Translator::split);
    registry.insert("Flatten", Translator::flatten);
    registry.insert("Transpose", Translator::transpose);
    registry.insert("Reshape", |t, node| match t.value(node, 0)? {
        Value::Dims(_) => t.shape_arithmetic(node),
        _ => t.reshape(node),
    });
    registry.insert("Pad", Translator::pad);
    registry.insert("Resize", Translator::resize);
    registry.insert("DepthToSpace", |t, node| t.depth_space(node, true));
    registry.insert("SpaceToDepth", |t, node| t.depth_space(node, false));
}

/// ONNX `Reshape` target entries against the input's `dims` holding `total` elements: 0
/// copies the input's dimension (unless `allow_zero`), one -1 takes what is left; `None`
/// when the target does not fit.
fn resolve_target(target: &[i64], dims: &[usize], total: usize, allow_zero: bool) -> Option<Vec<usize>> {
    let mut resolved: Vec<i64> = target
        .iter()
        .enumerate()
        .map(|(i, &d)| if d == 0 && !allow_zero { dims.get(i).map_or(-2, |&f| f as i64) } else { d })
        .collect();
    let known: i64 = resolved.iter().filter(|&&d| d != -1).product();
    match resolved.iter().filter(|&&d| d == -1).count() {
        0 => {}
        1 if known > 0 && total as i64 % known == 0 => {
            resolved.iter_mut().filter(|d| **d == -1).for_each(|d| *d = total as i64 / known)
        }
        _ => return None,
    }
    let resolved: Vec<usize> = resolved.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    (resolved.iter().product::<usize>() == total).then_some(resolved)
}

/// A TF `Reshape` target for a tensor of ONNX `shape` held in `layout` (-1 for the batch).
fn held_target(shape: &[Option<usize>], layout: &[usize]) -> Vec<i64> {
    permuted(shape, layout).iter().map(|d| d.map_or(-1, |d| d as i64)).collect()
}

/// When `x.shape` → `to` only drops or inserts axes of size 1: the layout of `to` whose TF
/// elements are `x`'s as held (its axes in `x`'s held order, inserted ones last).
fn unit_axes_only(x: &Tensor, to: &[Option<usize>]) -> Option<Vec<usize>> {
    let larger = |shape: &[Option<usize>]| (0..shape.len()).filter(|&a| shape[a] != Some(1)).collect::<Vec<_>>();
    let (from_axes, to_axes) = (larger(&x.shape), larger(to));
    let same = from_axes.len() == to_axes.len() && from_axes.iter().zip(&to_axes).all(|(&f, &t)| x.shape[f] == to[t]);
    if !same {
        return None;
    }
    let held = x.layout.iter().filter_map(|a| from_axes.iter().position(|f| f == a).map(|i| to_axes[i]));
    Some(held.chain((0..to.len()).filter(|&a| to[a] == Some(1))).collect())
}

/// `Slice`'s bounds, as ONNX gives them (see [`Translator::slice_args`]).
pub(crate) struct SliceArgs {
    pub(crate) starts: Vec<i64>,
    pub(crate) ends: Vec<i64>,
    pub(crate) axes: Option<Vec<i64>>,
    pub(crate) steps: Option<Vec<i64>>,
}

/// Largest `Resize` factor accepted (keeps shape arithmetic far from overflow).
const MAX_FACTOR: f32 = 4096.0;

impl Translator {
    fn concat(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let first = (0..node.input.len()).find_map(|i| self.tensor(node, i).ok()).ok_or("no tensor inputs")?;
        // A float constant with a first axis of 1 among tensors is repeated over the batch (a
        // class token, see `Expand`): in the tensors' layout, for the converter to repeat.
        let mut tensors = Vec::with_capacity(node.input.len());
        for i in 0..node.input.len() {
            tensors.push(match self.value(node, i)?.clone() {
                Value::Const(c)
                    if matches!(*c, Const::F32(_)) && c.shape().len() == first.rank() && c.shape()[0] == 1 =>
                {
                    let held = c.to_f32().permuted_axes(IxDyn(&first.layout)).as_standard_layout().into_owned();
                    let held_shape = held.shape().to_vec();
                    let emitted = self.emit_f32(&self.part("constant"), held.view(), &held_shape);
                    let mut shape: Vec<Option<usize>> = c.shape().iter().map(|&d| Some(d)).collect();
                    shape[0] = None;
                    Tensor { node: emitted, shape, layout: first.layout.clone() }
                }
                _ => self.tensor(node, i)?,
            });
        }
        let rank = first.rank() as i64;
        let axis = proto::attr_int(node, "axis", 1)?;
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(1..rank).contains(&axis) || tensors.iter().any(|t| t.rank() != first.rank()) {
            return Err(unsupported!(
                "axis {axis} of inputs shaped {:?} (only non-batch axes of tensors of one rank)",
                tensors.iter().map(|t| &t.shape).collect::<Vec<_>>()
            ));
        }
        let axis = axis as usize;
        let tf_axis = first.layout.iter().position(|&a| a == axis).unwrap_or(axis);
        let mut shape = first.shape.clone();
        shape[axis] = tensors.iter().map(|t| t.shape[axis]).sum();
        let mut inputs = Vec::new();
        for tensor in &tensors {
            inputs.push(self.held_as(tensor, &first.layout, &self.part("layout"))?.node);
        }
        inputs.push(self.emit_ints(&self.part("axis"), &[tf_axis as i64]));
        let attrs: Attrs = vec![("N", pb::attr_value::Value::I(tensors.len() as i64)), ("T", float_type())];
        self.emit_output(node, "ConcatV2", inputs, attrs, shape, first.layout)
    }

    /// A reshape of `x` to (batch, `dims`...), in ONNX element order. A reshape that only
    /// moves axes of size 1 needs no TF node; otherwise `x` is first transposed back to the
    /// ONNX layout unless its elements already come in ONNX order.
    fn reshape_to(&mut self, node: &NodeProto, x: &Tensor, dims: &[usize]) -> Result<(), OpError> {
        let shape = std::iter::once(None).chain(dims.iter().map(|&d| Some(d))).collect();
        self.reshape_rows(node, x, shape, 0, 1)
    }

    /// A reshape of `x` to `shape`, whose axis `batch` is the batch (`None`; every other size
    /// known), in ONNX element order: into `rows` rows per sample (more than one: the batch
    /// merged with leading axes, tf2onnx's `tensordot`), from an `x` that may itself have
    /// merged rows. A batch moved off axis 0 stays an axis of its own: held first, the other
    /// axes in ONNX order, the reshape of what comes before it and after it is one TF reshape.
    fn reshape_rows(
        &mut self,
        node: &NodeProto,
        x: &Tensor,
        shape: Vec<Option<usize>>,
        batch: usize,
        rows: usize,
    ) -> Result<(), OpError> {
        let (rows_in, per_row) = (self.rows_of(x), x.features()?.iter().product::<usize>());
        let per_sample = |shape: &[Option<usize>]| shape.iter().map(|d| d.unwrap_or(1)).product::<usize>();
        if rows.checked_mul(per_sample(&shape)) != rows_in.checked_mul(per_row) {
            return Err(unsupported!(
                "cannot reshape {:?} ({rows_in} rows per sample) to {shape:?} ({rows} rows per sample)",
                x.shape
            ));
        }
        // Merged rows keep the ONNX layout; otherwise the relabelling and NHWC shortcuts apply.
        let merged = rows_in != 1 || rows != 1;
        let moved = batch != 0 || x.batch_axis() != 0;
        if merged && moved {
            return Err(unsupported!("a reshape of {:?} to {shape:?} merges the batch with other axes", x.shape));
        }
        if per_sample(&x.shape[..x.batch_axis()]) != per_sample(&shape[..batch]) {
            return Err(unsupported!(
                "a reshape of {:?} (batch on axis {}) to {shape:?} (batch on axis {batch}) merges the batch with \
                 other axes",
                x.shape,
                x.batch_axis()
            ));
        }
        if let Some(perm) = unit_axis_move(&x.shape, &shape).filter(|_| !merged) {
            let moved = x.relabelled(&perm);
            self.bind(Self::output_name(node)?, moved);
            return Ok(());
        }
        // Dropping or inserting axes of size 1 around a moved batch: a reshape of the tensor as
        // held (batch-first ones keep the NHWC shortcut below).
        if let Some(layout) = unit_axes_only(x, &shape).filter(|_| moved && !merged) {
            let target = self.emit_ints(&self.part("shape"), &held_target(&shape, &layout));
            let attrs: Attrs = vec![("T", self.type_of(x))];
            return self.emit_output(node, "Reshape", vec![x.node.clone(), target], attrs, shape, layout);
        }
        let source = if x.in_onnx_order() { x.clone() } else { self.in_onnx_layout(x)? };
        // A 4-D result with one channel or 1×1 pixels can be written NHWC straight away, which
        // spares the Conv after a squeeze-excite reshape a transpose.
        let layout = if !merged && batch == 0 && shape.len() == 4 && keeps_order(&shape, &TO_NHWC) {
            TO_NHWC.to_vec()
        } else {
            batch_first(shape.len(), batch)
        };
        let target = self.emit_ints(&self.part("shape"), &held_target(&shape, &layout));
        let attrs: Attrs = vec![("T", self.type_of(x))];
        self.emit_output(node, "Reshape", vec![source.node.clone(), target], attrs, shape, layout)?;
        if let Some(&dtype) = self.integers.get(&source.node) {
            let reshaped = self.output_tensor(node)?;
            self.integers.insert(reshaped.node.clone(), dtype);
            self.reshaped_ids.insert(reshaped.node, source);
        }
        self.inherit_rows(node, rows)
    }

    /// `Flatten(axis = 1)`: (batch, everything else), in NCHW element order.
    fn flatten(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.any_tensor(node, 0)?;
        let axis = proto::attr_int(node, "axis", 1)?;
        if axis != 1 && axis != 1 - x.rank() as i64 {
            return Err(unsupported!("axis {axis}: only Flatten(axis=1) keeps the batch"));
        }
        let features = x.features()?;
        self.reshape_to(node, &x, &[features.iter().product()])
    }

    /// `Squeeze`: a reshape dropping axes of size 1 (never the batch, wherever it is).
    fn squeeze(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.any_tensor_anywhere(node, 0)?;
        x.features()?;
        let batch = x.batch_axis();
        let unit_axes: Vec<usize> = (0..x.rank()).filter(|&a| a != batch && x.shape[a] == Some(1)).collect();
        let axes = self.axes(node, x.rank(), 13)?.unwrap_or_else(|| unit_axes.clone());
        if axes.iter().any(|a| !unit_axes.contains(a)) {
            return Err(unsupported!("axes {axes:?} of {:?}: only non-batch axes of size 1 can be squeezed", x.shape));
        }
        let shape = x.shape.iter().enumerate().filter(|(a, _)| !axes.contains(a)).map(|(_, &d)| d).collect();
        let batch_after = batch - axes.iter().filter(|&&a| a < batch).count();
        self.reshape_rows(node, &x, shape, batch_after, 1)
    }

    /// `Unsqueeze`: a reshape inserting axes of size 1 (before the batch moves it).
    fn unsqueeze(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.any_tensor_anywhere(node, 0)?;
        x.features()?;
        let rank = x.rank();
        let inserted = self.raw_axes(node, 13)?.ok_or("the axes are missing")?.len();
        let out_rank = rank + inserted;
        let axes = self.axes(node, out_rank, 13)?.unwrap_or_default();
        if axes.len() + rank != out_rank {
            return Err(unsupported!("axes {axes:?}: repeated axes"));
        }
        let kept: Vec<usize> = (0..out_rank).filter(|a| !axes.contains(a)).collect();
        let mut shape = vec![Some(1); out_rank];
        for (&to, &d) in kept.iter().zip(&x.shape) {
            shape[to] = d;
        }
        self.reshape_rows(node, &x, shape, kept[x.batch_axis()], 1)
    }

    /// `Slice` of a tensor (positive steps, batch kept whole) → `StridedSlice` in the
    /// tensor's layout (→ `Cropping2D` for H and W, as tf2onnx writes Keras's `Cropping2D`;
    /// YOLOX's `Focus` takes every other row and column).
    fn slice(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor_anywhere(node, 0)?;
        let rank = x.rank();
        let SliceArgs { starts, ends, axes, steps } = self.slice_args(node)?;
        let axes = match axes {
            Some(axes) => resolve_axes(&axes, rank)?,
            None => (0..starts.len()).collect(),
        };
        let steps = steps.unwrap_or_else(|| vec![1; axes.len()]);
        if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
            return Err(unsupported!(
                "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
            ));
        }
        // (begin, end) and step per ONNX axis; the batch axis must stay whole.
        let mut ranges: Vec<Option<(usize, usize)>> = vec![None; rank];
        let mut strides = vec![1; rank];
        for (((&axis, &start), &end), &step) in axes.iter().zip(&starts).zip(&ends).zip(&steps) {
            if step < 1 {
                return Err(unsupported!("step {step} on axis {axis}: only positive steps are supported"));
            }
            let Some(dim) = x.shape[axis] else {
                // "To the end": INT_MAX, i64::MAX, or jax2tf's 10^9.
                if start == 0 && end >= 1_000_000_000 && step == 1 {
                    continue;
                }
                return Err(unsupported!("slicing axis {axis} of unknown size (the batch) is not supported"));
            };
            let clamp = |v: i64| (if v < 0 { v + dim as i64 } else { v }).clamp(0, dim as i64) as usize;
            let (begin, end) = (clamp(start), clamp(end));
            ranges[axis] = Some((begin, end.max(begin)));
            strides[axis] = usize::try_from(step).unwrap_or(usize::MAX).min(dim.max(1));
        }
        let whole = |(axis, range): (usize, &Option<(usize, usize)>)| {
            strides[axis] == 1 && range.is_none_or(|r| Some(r.1 - r.0) == x.shape[axis])
        };
        if ranges.iter().enumerate().all(whole) {
            // A slice of everything (jax2tf writes one before every convolution).
            self.bind(Self::output_name(node)?, x);
            return Ok(());
        }
        self.strided_slice(&x, &ranges, &strides, Self::output_name(node)?)
    }

    /// Binds ONNX tensor `onnx_name` to `x` cut to `ranges` ((begin, end) per ONNX axis,
    /// `None` for whole axes) taking every `strides[axis]`-th element (empty: all 1): a
    /// `StridedSlice` in `x`'s layout.
    fn strided_slice(
        &mut self,
        x: &Tensor,
        ranges: &[Option<(usize, usize)>],
        strides: &[usize],
        onnx_name: &str,
    ) -> Result<(), OpError> {
        if let Some(axis) = ranges.iter().position(|r| r.is_some_and(|(b, e)| e <= b)) {
            return Err(unsupported!("nothing is left of axis {axis} (an empty tensor has no Keras form)"));
        }
        let sliced = self.sliced(x, ranges, strides, onnx_name);
        self.bind(onnx_name, sliced);
        Ok(())
    }

    /// The TF `StridedSlice` of `x` to `ranges`, named after `onnx_name` (not bound).
    fn sliced(&mut self, x: &Tensor, ranges: &[Option<(usize, usize)>], strides: &[usize], onnx_name: &str) -> Tensor {
        let step = |axis: usize| strides.get(axis).copied().unwrap_or(1);
        let shape: Vec<Option<usize>> = (x.shape.iter().zip(ranges).enumerate())
            .map(|(axis, (&d, r))| r.map_or(d, |(b, e)| Some((e - b).div_ceil(step(axis)))))
            .collect();
        // TF axis j is ONNX axis layout[j]; an unsliced axis runs over everything (end mask).
        let mut end_mask = 0i64;
        let (mut begin, mut end) = (Vec::new(), Vec::new());
        for (j, &axis) in x.layout.iter().enumerate() {
            let (b, e) = ranges[axis].map_or_else(|| (0, 0), |(b, e)| (b as i64, e as i64));
            if ranges[axis].is_none() {
                end_mask |= 1 << j;
            }
            begin.push(b);
            end.push(e);
        }
        let begin = self.emit_ints(&format!("{onnx_name}/begin"), &begin);
        let end = self.emit_ints(&format!("{onnx_name}/end"), &end);
        let strides: Vec<i64> = x.layout.iter().map(|&axis| step(axis) as i64).collect();
        let strides = self.emit_ints(&format!("{onnx_name}/strides"), &strides);
        let mask = |bits: i64| pb::attr_value::Value::I(bits);
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("begin_mask", mask(0)),
            ("end_mask", mask(end_mask)),
            ("ellipsis_mask", mask(0)),
            ("new_axis_mask", mask(0)),
            ("shrink_axis_mask", mask(0)),
        ];
        let node = self.emit(onnx_name, "StridedSlice", vec![x.node.clone(), begin, end, strides], attrs);
        let rows = self.rows_of(x);
        if rows > 1 {
            self.rows.insert(node.clone(), rows);
        }
        Tensor { node, shape, layout: x.layout.clone() }
    }

    /// `Gather` of one index along a non-batch axis of a tensor (`x[:, 0]`, a ViT's class
    /// token): a `StridedSlice` of it, then for a scalar index a `Squeeze` of the axis.
    pub(crate) fn gather_one(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor_anywhere(node, 0)?;
        let axis = resolve_axes(&[proto::attr_int(node, "axis", 0)?], x.rank())?[0];
        let index = self.dims(node, 1)?;
        let along = x.shape[axis].filter(|_| axis != x.batch_axis());
        let (Some(&[i]), Some(dim)) = (index.known().as_deref(), along) else {
            return Err(unsupported!(
                "only one constant index along a non-batch axis of known size is gathered from a tensor"
            ));
        };
        let i = if i < 0 { i + dim as i64 } else { i };
        if !(0..dim as i64).contains(&i) {
            return Err(unsupported!("index {i} out of range for axis {axis} of size {dim}"));
        }
        let mut ranges = vec![None; x.rank()];
        ranges[axis] = Some((i as usize, i as usize + 1));
        let out = Self::output_name(node)?.to_string();
        if !index.scalar {
            return self.strided_slice(&x, &ranges, &[], &out);
        }
        let sliced = self.sliced(&x, &ranges, &[], &format!("{out}/slice"));
        let tf_axis = sliced.layout.iter().position(|&a| a == axis).unwrap_or(axis);
        let mut shape = sliced.shape.clone();
        shape.remove(axis);
        let layout: Vec<usize> =
            sliced.layout.iter().filter(|&&a| a != axis).map(|&a| if a > axis { a - 1 } else { a }).collect();
        let attrs: Attrs = vec![("T", float_type()), ("squeeze_dims", int_list(&[tf_axis as i64]))];
        self.emit_output(node, "Squeeze", vec![sliced.node], attrs, shape, layout)
    }

    /// `DepthToSpace` (`to_space`) / `SpaceToDepth` of an NCHW tensor: the `Reshape` →
    /// `Transpose` → `Reshape` the ONNX spec defines them by, translated as those nodes.
    fn depth_space(&mut self, node: &NodeProto, to_space: bool) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let b = proto::attr_int(node, "blocksize", 0)?;
        let [c, h, w] = match x.shape[..] {
            [_, Some(c), Some(h), Some(w)] if b >= 1 => [c as i64, h as i64, w as i64],
            _ => {
                return Err(unsupported!(
                    "blocksize {b} of a tensor shaped {:?} (an NCHW tensor of known C, H, W)",
                    x.shape
                ))
            }
        };
        let (blocks, perm, result) = if to_space {
            if c % (b * b) != 0 {
                return Err(unsupported!("{c} channels are not a multiple of blocksize² ({})", b * b));
            }
            let depth = c / (b * b);
            let result = vec![0, depth, h * b, w * b];
            match proto::attr_str(node, "mode", "DCR")?.as_str() {
                "DCR" => (vec![0, b, b, depth, h, w], vec![0, 3, 4, 1, 5, 2], result),
                "CRD" => (vec![0, depth, b, b, h, w], vec![0, 1, 4, 2, 5, 3], result),
                mode => {
                    return Err(OpError::Attr { attr: "mode".into(), message: format!("'{mode}' is not supported") })
                }
            }
        } else {
            if h % b != 0 || w % b != 0 {
                return Err(unsupported!("H {h} and W {w} are not multiples of blocksize {b}"));
            }
            (vec![0, c, h / b, b, w / b, b], vec![0, 3, 5, 1, 2, 4], vec![0, c * b * b, h / b, w / b])
        };
        let output = Self::output_name(node)?.to_string();
        let input = node.input.first().cloned().unwrap_or_default();
        let (split, moved) = (format!("{output}/blocks"), format!("{output}/moved"));
        let reshape = |t: &mut Self, from: &str, shape: Vec<i64>, to: &str| -> Result<(), OpError> {
            let target = format!("{to}/shape");
            let len = shape.len();
            let shape = ArrayD::from_shape_vec(IxDyn(&[len]), shape).map_err(|e| e.to_string())?;
            t.values.insert(target.clone(), Value::Const(Rc::new(Const::Int(shape))));
            let step = NodeProto {
                op_type: "Reshape".into(),
                input: vec![from.to_string(), target],
                output: vec![to.to_string()],
                ..Default::default()
            };
            t.node(&step)
        };
        reshape(self, &input, blocks, &split)?;
        let transpose = NodeProto {
            op_type: "Transpose".into(),
            input: vec![split],
            output: vec![moved.clone()],
            attribute: vec![tract_onnx::pb::AttributeProto {
                name: "perm".into(),
                r#type: tract_onnx::pb::attribute_proto::AttributeType::Ints as i32,
                ints: perm,
                ..Default::default()
            }],
            ..Default::default()
        };
        self.node(&transpose)?;
        reshape(self, &moved, result, &output)
    }

    /// `Split` of a tensor along a non-batch axis: one `StridedSlice` per output. The sizes
    /// come from the `split` attribute (before opset 13) or input 1 (from 13); without them,
    /// equal parts, the last one smaller from opset 18 (`num_outputs`).
    fn split(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let axis = resolve_axes(&[proto::attr_int(node, "axis", 0)?], x.rank())?[0];
        let dim = x.shape[axis]
            .filter(|_| axis != 0)
            .ok_or_else(|| unsupported!("axis {axis}: only a non-batch axis of known size can be split"))?;
        let outputs = node.output.len();
        let sizes = if self.opset < 13 {
            proto::attr_ints(node, "split")?
        } else {
            self.constant(node, 1)?
                .map(|c| {
                    c.int_values().ok_or(OpError::Input { index: 1, message: "the sizes must be integers".into() })
                })
                .transpose()?
        };
        let sizes: Vec<usize> = match sizes {
            Some(sizes) => sizes
                .iter()
                .map(|&s| usize::try_from(s).map_err(|_| unsupported!("split size {s}")))
                .collect::<Result<_, _>>()?,
            None if self.opset >= 18 => {
                let parts = usize::try_from(proto::attr_int(node, "num_outputs", outputs as i64)?).unwrap_or(0).max(1);
                let each = dim.div_ceil(parts);
                (0..parts).map(|i| each.min(dim.saturating_sub(i * each))).collect()
            }
            None if dim.is_multiple_of(outputs.max(1)) => vec![dim / outputs; outputs],
            None => return Err(unsupported!("{dim} elements do not split into {outputs} equal parts")),
        };
        if sizes.len() != outputs || sizes.iter().sum::<usize>() != dim {
            return Err(unsupported!(
                "sizes {sizes:?} do not split axis {axis} of {:?} into {outputs} outputs",
                x.shape
            ));
        }
        let mut begin = 0;
        for (output, size) in node.output.iter().zip(sizes) {
            let mut ranges = vec![None; x.rank()];
            ranges[axis] = Some((begin, begin + size));
            begin += size;
            if !output.is_empty() {
                self.strided_slice(&x, &ranges, &[], output)?;
            }
        }
        Ok(())
    }

    /// `Slice`'s starts, ends, axes and steps: attributes before opset 10 (without steps),
    /// inputs 1 to 4 from it (constants or folded shape values).
    pub(crate) fn slice_args(&self, node: &NodeProto) -> Result<SliceArgs, OpError> {
        if self.opset < 10 {
            if node.input.len() > 1 {
                return Err(
                    "inputs after the data are not read before opset 10 (starts, ends and axes are attributes)".into(),
                );
            }
            let required = |name: &str| {
                proto::attr_ints(node, name)?
                    .ok_or_else(|| OpError::Attr { attr: name.to_string(), message: "is missing".into() })
            };
            return Ok(SliceArgs {
                starts: required("starts")?,
                ends: required("ends")?,
                axes: proto::attr_ints(node, "axes")?,
                steps: None,
            });
        }
        let ints = |index: usize| -> Result<Option<Vec<i64>>, OpError> {
            if node.input.get(index).is_none_or(|i| i.is_empty()) {
                return Ok(None);
            }
            let values = self.dims(node, index)?.known();
            values.map(Some).ok_or_else(|| OpError::Input { index, message: "depends on the batch size".into() })
        };
        Ok(SliceArgs {
            starts: ints(1)?.ok_or("starts are missing")?,
            ends: ints(2)?.ok_or("ends are missing")?,
            axes: ints(3)?,
            steps: ints(4)?,
        })
    }

    /// `Transpose`: no TF node, the tensor is only held differently (its batch, wherever
    /// the permutation puts it, stays first in TF).
    fn transpose(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.any_tensor_anywhere(node, 0)?;
        let rank = x.rank();
        let perm: Vec<usize> = match proto::attr_ints(node, "perm")? {
            None => (0..rank).rev().collect(),
            Some(perm) => perm
                .iter()
                .map(|&p| usize::try_from(p).map_err(|_| format!("perm {perm:?}")))
                .collect::<Result<_, _>>()?,
        };
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        if sorted != identity(rank) {
            return Err(unsupported!("perm {perm:?} is not a permutation of {rank} axes"));
        }
        let moved = x.relabelled(&perm);
        self.bind(Self::output_name(node)?, moved);
        Ok(())
    }

    /// `Reshape` to a constant shape whose first entry is the batch (0, -1 or its size).
    fn reshape(&mut self, node: &NodeProto) -> Result<(), OpError> {
        if let Value::Const(value) = self.value(node, 0)?.clone() {
            return self.reshape_constant(node, &value);
        }
        let x = self.any_tensor_anywhere(node, 0)?;
        let target_dims = self.dims(node, 1).map_err(|e| format!("the target shape: {e}"))?;
        // `None` stands for (a multiple of) the batch size computed at run time (`Shape` → `Gather`).
        let target: Vec<Option<i64>> = target_dims
            .values
            .iter()
            .map(|d| match d {
                Dim::Known(v) => Ok(Some(*v)),
                Dim::Batch(k) if *k >= 1 => Ok(None),
                Dim::Batch(k) => Err(unsupported!("a target shape of {k} times the batch size is not supported")),
            })
            .collect::<Result<_, _>>()?;
        let features = x.features()?;
        let elements = self.rows_of(&x) * features.iter().product::<usize>();
        let allow_zero = proto::attr_int(node, "allowzero", 0)? != 0;
        // 0 copies the input's size on that axis (the batch's: the batch).
        let target: Vec<Option<i64>> = target
            .iter()
            .enumerate()
            .map(|(axis, &d)| match (d, x.shape.get(axis)) {
                (Some(0), Some(size)) if !allow_zero => size.map(|s| s as i64),
                _ => d,
            })
            .collect();
        // The batch on an axis after the first (a time-major sequence): an axis of its own.
        if let Some(batch) = target.iter().skip(1).position(Option::is_none).map(|axis| axis + 1) {
            if matches!(target_dims.values[batch], Dim::Batch(k) if k != 1) {
                return Err(unsupported!("target shape {target:?} merges the batch with other axes"));
            }
            let rest: Vec<i64> = (target.iter().enumerate())
                .filter(|&(axis, _)| axis != batch)
                .map(|(_, &d)| d)
                .collect::<Option<_>>()
                .ok_or_else(|| unsupported!("target shape {target:?} has more than one batch entry"))?;
            let dims = resolve_target(&rest, &[], elements, true)
                .ok_or_else(|| unsupported!("target shape {target:?} is ambiguous or does not fit the input"))?;
            let mut shape: Vec<Option<usize>> = dims.into_iter().map(Some).collect();
            shape.insert(batch, None);
            return self.reshape_rows(node, &x, shape, batch, 1);
        }
        // k times the batch first, or a constant -1 first with fewer elements after it than a
        // sample holds: k rows per sample (tf2onnx's `tensordot`, (batch·h·w, c)).
        let rows = match (target_dims.values.first(), target.get(1..)) {
            (Some(Dim::Batch(k)), _) => usize::try_from(*k).map_err(|_| format!("{k} times the batch size"))?,
            (Some(Dim::Known(-1)), Some(rest)) if rest.iter().all(|d| d.is_some_and(|d| d > 0)) => {
                let after_first: usize = rest.iter().map(|d| d.unwrap_or(1) as usize).product();
                if after_first < elements && elements.is_multiple_of(after_first) {
                    elements / after_first
                } else {
                    1
                }
            }
            _ => 1,
        };
        let Some((&first, rest)) = target.split_first() else { return Err("an empty target shape".into()) };
        // Only the first entry may be the batch size.
        let rest: Vec<i64> = rest
            .iter()
            .copied()
            .collect::<Option<_>>()
            .ok_or_else(|| format!("target shape {target:?} moves the batch"))?;
        if !elements.is_multiple_of(rows) {
            return Err(unsupported!(
                "target shape {target:?}: {elements} elements per sample do not make {rows} rows"
            ));
        }
        // Elements per row of the result.
        // Zeros were copied above.
        let dims = resolve_target(&rest, &features, elements / rows, true)
            .ok_or_else(|| unsupported!("target shape {target:?} is ambiguous or does not fit the input"))?;
        let batch_kept = first.is_none_or(|first| first == -1 || first == 1);
        if !batch_kept {
            return Err(unsupported!("target shape {target:?} does not keep the batch first"));
        }
        let shape = std::iter::once(None).chain(dims.into_iter().map(Some)).collect();
        self.reshape_rows(node, &x, shape, 0, rows)
    }

    /// `Reshape` of a constant (paddle2onnx reshapes its biases so): folded.
    fn reshape_constant(&mut self, node: &NodeProto, value: &Const) -> Result<(), OpError> {
        let target = self.dims(node, 1)?.known().ok_or("the target shape of a constant depends on the batch size")?;
        let allow_zero = proto::attr_int(node, "allowzero", 0)? != 0;
        let from = value.shape();
        let shape = resolve_target(&target, from, from.iter().product(), allow_zero)
            .ok_or_else(|| unsupported!("target shape {target:?} does not fit the constant's shape {from:?}"))?;
        let reshaped = |e: ndarray::ShapeError| unsupported!("{e}");
        let folded = match value {
            Const::F32(a) => {
                Const::F32(a.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).map_err(reshaped)?)
            }
            Const::Int(a) => {
                Const::Int(a.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).map_err(reshaped)?)
            }
        };
        self.values.insert(Self::output_name(node)?.to_string(), Value::Const(Rc::new(folded)));
        Ok(())
    }

    /// `Resize` of H and W: mode `nearest` by whole factors, or `linear`.
    fn resize(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let x = self.nhwc(&x)?;
        if proto::attr_str(node, "keep_aspect_ratio_policy", "stretch")? != "stretch" {
            return Err("only keep_aspect_ratio_policy 'stretch' is supported".into());
        }
        let lengths = self.resize_lengths(node, &x)?;
        match proto::attr_str(node, "mode", "nearest")?.as_str() {
            "nearest" => self.resize_nearest(node, x, lengths),
            "linear" => self.resize_linear(node, x, lengths),
            other => Err(unsupported!("mode '{other}' is not supported (only 'nearest' and 'linear')")),
        }
    }

    /// The output length of each axis (ONNX order; the batch keeps its size) from constant
    /// `scales` (input 2, or 1 at opset 10, which has no roi) or `sizes` (input 3, from opset
    /// 11). A scale must give a whole length, `in · scale`: the coordinate transforms then use
    /// exactly the scale `out / in` that TF's resizes derive from the lengths.
    fn resize_lengths(&mut self, node: &NodeProto, x: &Tensor) -> Result<[usize; 4], OpError> {
        let axes: Vec<usize> = match proto::attr_ints(node, "axes")? {
            None => (0..4).collect(),
            Some(axes) => resolve_axes(&axes, 4)?,
        };
        let scales_input = if self.opset < 11 { 1 } else { 2 };
        let sizes = if self.opset < 11 { None } else { self.resize_sizes(node)? };
        let unknown = |what: &str| OpError::UnknownSize(format!("unknown {what}"));
        let (h, w) = (x.shape[2].ok_or_else(|| unknown("height"))?, x.shape[3].ok_or_else(|| unknown("width"))?);
        // Channels may be unknown: only H and W may be resized.
        let mut lengths = [0, x.shape[1].unwrap_or(0), h, w];
        let only_spatial = || unsupported!("only H and W may be resized");
        if let Some(scales) = self.constant(node, scales_input)?.filter(|c| c.shape().iter().product::<usize>() > 0) {
            let scales = scales.to_f32();
            if scales.len() != axes.len() {
                return Err(unsupported!("{} scales for {} axes", scales.len(), axes.len()));
            }
            for (&axis, &scale) in axes.iter().zip(scales.iter()).filter(|(&axis, _)| axis != 0) {
                let out = f64::from(scale) * lengths[axis] as f64;
                if axis == 1 && scale != 1.0 {
                    return Err(only_spatial());
                }
                if !(scale > 0.0 && scale <= MAX_FACTOR && out.fract() == 0.0) {
                    return Err(unsupported!("scale {scale} on axis {axis} does not give a whole length"));
                }
                lengths[axis] = out as usize;
            }
        } else if let Some(out) = sizes {
            if out.len() != axes.len() {
                return Err(unsupported!("{} sizes for {} axes", out.len(), axes.len()));
            }
            // The batch axis keeps its size whatever the file fixed it to.
            for (&axis, &size) in axes.iter().zip(&out).filter(|(&axis, _)| axis != 0) {
                if axis == 1 && x.shape[1] != usize::try_from(size).ok() {
                    return Err(only_spatial());
                }
                if size <= 0 || size as f32 > lengths[axis] as f32 * MAX_FACTOR {
                    return Err(unsupported!("size {size} on axis {axis} of length {}", lengths[axis]));
                }
                lengths[axis] = size as usize;
            }
        } else {
            return Err("neither constant scales nor constant sizes are given".into());
        }
        Ok(lengths)
    }

    /// `Resize`'s constant `sizes`. PyTorch exports `F.interpolate(size=...)` as the input's
    /// own (N, C) from `Shape` followed by the new (H, W): the batch entry, which
    /// [`resize_lengths`](Self::resize_lengths) ignores, reads 0 here.
    fn resize_sizes(&self, node: &NodeProto) -> Result<Option<Vec<i64>>, OpError> {
        if node.input.get(3).is_some_and(|name| !name.is_empty()) {
            if let Value::Dims(dims) = self.value(node, 3)? {
                let known = |(axis, dim): (usize, &Dim)| match dim {
                    Dim::Known(k) => *k,
                    Dim::Batch(_) if axis == 0 => 0,
                    Dim::Batch(_) => -1,
                };
                return Ok(Some(dims.values.iter().enumerate().map(known).collect()));
            }
        }
        Ok(self.constant(node, 3)?.and_then(|c| c.int_values()))
    }

    /// `Resize` (nearest) of H and W by whole factors k → `ResizeNearestNeighbor` (→
    /// `UpSampling2D`), which reads input pixel floor(i / k). The ONNX coordinate modes that
    /// pick the same pixel for every factor: `asymmetric` + `floor` (i / k), `half_pixel` or
    /// `pytorch_half_pixel` + rounding (i + 0.5) / k − 0.5, which lies strictly within 0.5 of
    /// floor(i / k), and `tf_half_pixel_for_nn` + `floor`.
    fn resize_nearest(&mut self, node: &NodeProto, x: Tensor, lengths: [usize; 4]) -> Result<(), OpError> {
        let coordinates = proto::attr_str(node, "coordinate_transformation_mode", "half_pixel")?;
        let rounding = proto::attr_str(node, "nearest_mode", "round_prefer_floor")?;
        let exact = matches!(
            (coordinates.as_str(), rounding.as_str()),
            ("asymmetric" | "tf_half_pixel_for_nn", "floor")
                | ("half_pixel" | "pytorch_half_pixel", "round_prefer_floor" | "round_prefer_ceil")
        );
        if !exact {
            return Err(unsupported!(
                "coordinate_transformation_mode '{coordinates}' with nearest_mode '{rounding}' is not supported"
            ));
        }
        let mut factors = [1usize; 4];
        for axis in 2..4 {
            let (input, out) = (x.shape[axis].unwrap_or(0), lengths[axis]);
            if input == 0 || !out.is_multiple_of(input) || out < input {
                return Err(unsupported!("size {out} on axis {axis} is not a whole multiple of {input}"));
            }
            factors[axis] = out / input;
        }
        // Opset 10 names no rounding: onnxruntime floors (i / k) and tract-onnx rounds it
        // half down, which agree for factors 1 and 2 only.
        if self.opset < 11 && factors.iter().any(|&f| f > 2) {
            return Err(unsupported!(
                "scales {factors:?} at opset 10: only factors 1 and 2 round alike in onnxruntime and tract-onnx (re-export at opset 11 or newer)"
            ));
        }
        self.emit_resize(node, "ResizeNearestNeighbor", x, lengths, false, false)
    }

    /// `Resize` (linear) of H and W → TF `ResizeBilinear`, whose three samplings are ONNX's
    /// `half_pixel` (`half_pixel_centers`), `align_corners` and `asymmetric` (neither flag);
    /// `pytorch_half_pixel` is `half_pixel` but for an output length of 1, which reads cell 0.
    /// Both clamp the taps into the axis. Antialiased downscaling has no TF counterpart here.
    fn resize_linear(&mut self, node: &NodeProto, x: Tensor, lengths: [usize; 4]) -> Result<(), OpError> {
        if self.opset < 11 {
            return Err("mode 'linear' at opset 10 (re-export at opset 11 or newer)".into());
        }
        let shrinks = (2..4).any(|axis| x.shape[axis].is_some_and(|input| lengths[axis] < input));
        if shrinks && proto::attr_int(node, "antialias", 0)? != 0 {
            return Err("antialiased downscaling (antialias = 1) is not supported".into());
        }
        let coordinates = proto::attr_str(node, "coordinate_transformation_mode", "half_pixel")?;
        let (align_corners, half_pixel_centers) = match coordinates.as_str() {
            "half_pixel" => (false, true),
            "pytorch_half_pixel" if (2..4).all(|axis| lengths[axis] > 1 || x.shape[axis] == Some(1)) => (false, true),
            "align_corners" => (true, false),
            "asymmetric" => (false, false),
            other => {
                return Err(unsupported!(
                "coordinate_transformation_mode '{other}' with mode 'linear' and lengths {lengths:?} is not supported"
            ))
            }
        };
        self.emit_resize(node, "ResizeBilinear", x, lengths, align_corners, half_pixel_centers)
    }

    /// A TF resize of the NHWC tensor `x` to the H and W of `lengths` (ONNX order).
    fn emit_resize(
        &mut self,
        node: &NodeProto,
        op: &str,
        x: Tensor,
        lengths: [usize; 4],
        align_corners: bool,
        half_pixel_centers: bool,
    ) -> Result<(), OpError> {
        let shape = vec![x.shape[0], x.shape[1], Some(lengths[2]), Some(lengths[3])];
        let size = self.emit_ints(&self.part("size"), &[lengths[2] as i64, lengths[3] as i64]);
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("align_corners", pb::attr_value::Value::B(align_corners)),
            ("half_pixel_centers", pb::attr_value::Value::B(half_pixel_centers)),
        ];
        self.emit_output(node, op, vec![x.node, size], attrs, shape, TO_NHWC.to_vec())
    }

    /// `Pad` with zeros (mode constant) → TF `Pad`, or mode reflect → TF `MirrorPad`
    /// `REFLECT` (the same cells: the edge is not repeated); pads permuted to the TF layout.
    fn pad(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let reflect = match proto::attr_str(node, "mode", "constant")?.as_str() {
            "constant" => false,
            "reflect" => true,
            other => return Err(unsupported!("mode '{other}' is not supported (only constant and reflect)")),
        };
        // Before opset 11, pads and value are attributes; then inputs 1 and 2 (axes: 3, from 18).
        let (pads, value) = if self.opset < 11 {
            if node.input.len() > 1 {
                return Err("inputs after the data are not read before opset 11 (pads are an attribute)".into());
            }
            let pads = proto::attr_ints(node, "pads")?.ok_or("the pads attribute is missing")?;
            (pads, proto::attr_float(node, "value", 0.0)?)
        } else {
            let pads =
                self.constant(node, 1)?.and_then(|c| c.int_values()).ok_or("the pads must be an integer constant")?;
            let value = match self.constant(node, 2)? {
                Some(c) => c.to_f32().iter().copied().find(|&v| v != 0.0).unwrap_or(0.0),
                None => 0.0,
            };
            (pads, value)
        };
        if value != 0.0 && !reflect {
            return Err(unsupported!("padding with {value}: only padding with zeros is supported"));
        }
        let rank = x.rank();
        let axes: Vec<usize> = match self.constant(node, 3)? {
            None => (0..rank).collect(),
            Some(c) => resolve_axes(&c.int_values().ok_or("the axes must be integers")?, rank)?,
        };
        if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
            return Err(unsupported!("pads {pads:?}: expected {} non-negative values", 2 * axes.len()));
        }
        let mut per_axis = vec![(0i64, 0i64); rank];
        for (&axis, pair) in axes.iter().zip(pairs(&pads)) {
            per_axis[axis] = pair;
        }
        if per_axis[0] != (0, 0) {
            return Err("padding the batch axis is not supported".into());
        }
        let mut shape = x.shape.clone();
        for (dim, (b, e)) in shape.iter_mut().zip(&per_axis) {
            *dim = dim.map(|d| d + (*b + *e) as usize);
        }
        let tf_pairs = permuted(&per_axis, &x.layout);
        let flat: Vec<i64> = tf_pairs.iter().flat_map(|&(b, e)| [b, e]).collect();
        let paddings = ArrayD::from_shape_vec(IxDyn(&[rank, 2]), flat).map_err(|e| e.to_string())?;
        let paddings = self.emit_const(&self.part("paddings"), &Const::Int(paddings));
        let mut attrs: Attrs = vec![("T", float_type())];
        let op = if reflect {
            attrs.push(("mode", pb::attr_value::Value::S(b"REFLECT".to_vec())));
            "MirrorPad"
        } else {
            "Pad"
        };
        self.emit_output(node, op, vec![x.node, paddings], attrs, shape, x.layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// paddle2onnx reshapes per-channel constants to (1, C, 1, 1) before a broadcasting op:
    /// the reshape folds, and the constant broadcasts in the tensor's (NHWC) layout.
    #[test]
    fn reshapes_of_constants_fold() {
        let nodes = vec![
            onnx_node("Reshape", &["bias", "shape"], "bias4", vec![]),
            onnx_node("Add", &["x", "bias4"], "y", vec![]),
        ];
        let bias = tract_onnx::pb::TensorProto {
            name: "bias".into(),
            dims: vec![3],
            data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
            float_data: vec![1.0, 2.0, 3.0],
            ..Default::default()
        };
        let initializers = vec![bias, int_initializer("shape", &[1, -1, 1, 1])];
        let graph = translated(&[-1, 3, 4, 4], nodes.clone(), initializers.clone()).unwrap();
        let add = graph.nodes().iter().find(|n| n.op == "AddV2").unwrap();
        let constant = graph.nodes().iter().find(|n| n.name == add.input[1]).unwrap();
        assert_eq!(tf2h5_tf::ConstTensor::from_node(constant).unwrap().shape(), [3]);
        let mut wrong = initializers;
        wrong[1] = int_initializer("shape", &[2, -1]);
        let error = translated(&[-1, 3, 4, 4], nodes, wrong).unwrap_err();
        assert!(error.contains("target shape [2, -1] does not fit the constant's shape [3]"), "{error}");
    }

    /// tf2onnx's form of Keras `Cropping2D`: a `Slice` of H and W, here of an NCHW tensor
    /// held NHWC, becomes a `StridedSlice` with NHWC bounds.
    #[test]
    fn slices_of_a_tensor_follow_its_layout() {
        let nodes = vec![onnx_node("Slice", &["x", "starts", "ends", "axes"], "y", vec![])];
        let initializers = vec![
            int_initializer("starts", &[1, 2]),
            int_initializer("ends", &[-1, i64::MAX]),
            int_initializer("axes", &[2, 3]),
        ];
        let graph = translated(&[-1, 3, 8, 8], nodes, initializers).unwrap();
        let slice = graph.nodes().iter().find(|n| n.op == "StridedSlice").unwrap();
        let ints = |input: &str| -> Vec<i64> {
            let node = graph.nodes().iter().find(|n| n.name == input).unwrap();
            tf2h5_tf::ConstTensor::from_node(node).unwrap().int_values().unwrap()
        };
        assert_eq!(ints(&slice.input[1]), [0, 1, 2, 0]);
        assert_eq!(ints(&slice.input[2]), [0, 7, 8, 0]);
        assert!(matches!(slice.attr["end_mask"].value, Some(pb::attr_value::Value::I(0b1001))));
        // YOLOX's Focus: every other row from row 1 (steps are TF strides in NHWC order).
        let stepped = |steps: &[i64]| {
            let nodes = vec![onnx_node("Slice", &["x", "starts", "ends", "axes", "steps"], "y", vec![])];
            let initializers = vec![
                int_initializer("starts", &[1]),
                int_initializer("ends", &[i64::MAX]),
                int_initializer("axes", &[2]),
                int_initializer("steps", steps),
            ];
            translated(&[-1, 3, 7, 8], nodes, initializers)
        };
        let graph = stepped(&[2]).unwrap();
        let slice = graph.nodes().iter().find(|n| n.op == "StridedSlice").unwrap();
        let ints = |input: &str| -> Vec<i64> {
            let node = graph.nodes().iter().find(|n| n.name == input).unwrap();
            tf2h5_tf::ConstTensor::from_node(node).unwrap().int_values().unwrap()
        };
        assert_eq!((ints(&slice.input[1]), ints(&slice.input[2])), (vec![0, 1, 0, 0], vec![0, 7, 0, 0]));
        assert_eq!(ints(&slice.input[3]), [1, 2, 1, 1]);
        let error = stepped(&[-1]).unwrap_err();
        assert!(error.contains("only positive steps are supported"), "{error}");
        // Slicing past the end leaves an empty tensor, which no Keras layer holds.
        let error = translated_ops(
            &[-1, 3, 8],
            vec![onnx_node("Slice", &["x", "starts", "ends", "axes"], "y", vec![])],
            vec![int_initializer("starts", &[1000]), int_initializer("ends", &[1001]), int_initializer("axes", &[2])],
        )
        .unwrap_err();
        assert!(error.contains("nothing is left of axis 2"), "{error}");
    }
}

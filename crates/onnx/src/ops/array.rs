//! Layout and data movement: `Concat`, `Reshape`/`Flatten`/`Squeeze`/`Unsqueeze` (in ONNX
//! element order), `Slice`, `Split`, `Transpose` (a relabelling), `DepthToSpace`/`SpaceToDepth`
//! (their defining reshapes), `Pad`, and the pass-through `Constant`/`Identity`/`Dropout`.

use std::rc::Rc;

use ndarray::{ArrayD, IxDyn};
use tf2h5_tf::{pb, Dim, Dims};
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto::{self, Const};
use crate::translator::{
    batch_first, float_type, identity, int_list, keeps_order, pairs, permuted, resolve_axes, unit_axis_move, Attrs,
    Merge, Tensor, Translator, Value, TO_NHWC,
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
                    Tensor { node: emitted, shape, layout: first.layout.clone(), merge: None }
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
        let mut source = if x.in_onnx_order() { x.clone() } else { self.in_onnx_layout(x)? };
        // Rows wider than the last axis (tf2onnx's einsum, (N, T, H, d) to (N·T, H·d)): the
        // tensor (N, T, H·d) first, the rows of its last axis the converter reads.
        if let (&[None, Some(width)], true) = (&shape[..], rows_in == 1 && rows > 1) {
            if x.shape.last() != Some(&Some(width)) {
                let target = self.emit_ints(&self.part("rows_shape"), &[-1, rows as i64, width as i64]);
                let attrs: Attrs = vec![("T", self.type_of(x))];
                let node = self.emit(&self.part("rows_features"), "Reshape", vec![source.node, target], attrs);
                source = Tensor { node, shape: vec![None, Some(rows), Some(width)], layout: identity(3), merge: None };
            }
        }
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
        let x = Self::unmerged(self.any_tensor_anywhere(node, 0)?, 0)?;
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
        let x = Self::unmerged(self.any_tensor_anywhere(node, 0)?, 0)?;
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
        Tensor { node, shape, layout: x.layout.clone(), merge: None }
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
        let allow_zero = proto::attr_int(node, "allowzero", 0)? != 0;
        if self.merging_reshape(node, &x, &target_dims, allow_zero)? {
            return Ok(());
        }
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

    /// A `Reshape` merging the batch with other axes (a `target` entry of k times the batch
    /// size, k > 1, unless it is tf2onnx's 2-D rows), or of a tensor whose batch is merged
    /// (see [`Merge`]); false for the others. It follows the element order on the expanded
    /// axes: a regrouping of the same factors needs no TF node, other factors a TF `Reshape`
    /// of the tensor held batch-first.
    fn merging_reshape(
        &mut self,
        node: &NodeProto,
        x: &Tensor,
        target: &Dims,
        allow_zero: bool,
    ) -> Result<bool, OpError> {
        let merged_k = x.merge.as_ref().map_or(1, |m| m.outer * m.inner);
        // 0 copies the input's size on that axis (the batch's, merged or not: k times the batch).
        let mut entries: Vec<Dim> = (target.values.iter().enumerate())
            .map(|(axis, &d)| match (d, x.shape.get(axis)) {
                (Dim::Known(0), Some(_)) if !allow_zero && axis == x.batch_axis() => Dim::Batch(merged_k as i64),
                (Dim::Known(0), Some(Some(size))) if !allow_zero => Dim::Known(*size as i64),
                _ => d,
            })
            .collect();
        let batch_entries: Vec<usize> = (0..entries.len()).filter(|&i| matches!(entries[i], Dim::Batch(_))).collect();
        let takes = match batch_entries[..] {
            // tf2onnx's `tensordot` rows, (batch·..., c) of a batch-first tensor, stay rows.
            [q] => {
                let rows = q == 0 && x.batch_axis() == 0 && entries.len() == 2;
                x.merge.is_some() || (entries[q] != Dim::Batch(1) && !rows)
            }
            // A -1 taking a moved batch with other axes ((T, B, C) to (-1, C)); see k below.
            [] => x.merge.is_some() || (x.batch_axis() != 0 && entries.contains(&Dim::Known(-1))),
            _ => false,
        };
        if !takes {
            return Ok(false);
        }
        if self.rows_of(x) != 1 {
            return Err(unsupported!("a reshape of {:?} whose rows already merge the batch", x.shape));
        }
        let expanded = x.expanded();
        let p = x.layout[0];
        let sizes: Vec<usize> =
            (expanded.iter().enumerate()).filter(|&(a, _)| a != p).map(|(_, d)| *d).collect::<Option<_>>().ok_or_else(
                || OpError::UnknownSize(format!("the shape {:?} is not known but for the batch", x.shape)),
            )?;
        let per_sample: usize = sizes.iter().product();
        // The entry holding the batch: a batch-size entry, else the -1 (then k from the sizes).
        let q = match batch_entries[..] {
            [q] => q,
            _ => entries.iter().position(|d| *d == Dim::Known(-1)).ok_or_else(|| {
                unsupported!("target shape {:?} of a merged batch has no entry for it", target.values)
            })?,
        };
        let known = |d: &Dim| match d {
            Dim::Known(v) if *v > 0 => Some(*v as usize),
            _ => None,
        };
        let others: usize =
            (entries.iter().enumerate()).filter(|&(i, _)| i != q).filter_map(|(_, d)| known(d)).product();
        if let Dim::Known(_) = entries[q] {
            if others == 0 || !per_sample.is_multiple_of(others) {
                return Err(unsupported!("target shape {:?} does not fit {:?}", target.values, x.shape));
            }
            entries[q] = Dim::Batch((per_sample / others) as i64);
        }
        let Dim::Batch(k) = entries[q] else { return Err("no batch entry".into()) };
        let k = usize::try_from(k).ok().filter(|&k| k > 0).ok_or_else(|| format!("{k} times the batch size"))?;
        if k == 1 && x.merge.is_none() && batch_entries.is_empty() {
            return Ok(false); // the -1 is the batch alone
        }
        // One -1 elsewhere takes what is left.
        let missing = (0..entries.len()).filter(|&i| i != q && known(&entries[i]).is_none()).collect::<Vec<_>>();
        let mut dims: Vec<usize> =
            (0..entries.len()).filter(|&i| i != q).map(|i| known(&entries[i]).unwrap_or(0)).collect();
        match missing[..] {
            [] => {}
            [i] if entries[i] == Dim::Known(-1) && per_sample.is_multiple_of(k * others) => {
                dims[if i < q { i } else { i - 1 }] = per_sample / (k * others)
            }
            _ => return Err(unsupported!("target shape {:?} is ambiguous or does not fit the input", target.values)),
        }
        if k * dims.iter().product::<usize>() != per_sample {
            return Err(unsupported!("target shape {:?} does not fit {:?}", target.values, x.shape));
        }
        // The batch's factors: what comes before it in the input and not in the target is merged before it.
        let before_x: usize = sizes[..p].iter().product();
        let before_t: usize = dims[..q].iter().product();
        let (outer, inner) = match before_x.checked_rem(before_t) {
            Some(0) if k.is_multiple_of(before_x / before_t) => (before_x / before_t, k / (before_x / before_t)),
            _ => {
                return Err(unsupported!(
                    "a reshape of {:?} to {:?} splits the batch from axes merged with it",
                    x.shape,
                    target.values
                ))
            }
        };
        let mut shape: Vec<Option<usize>> = dims.into_iter().map(Some).collect();
        shape.insert(q, None);
        let merge = (outer > 1 || inner > 1).then_some(Merge { axis: q, outer, inner });
        let mut result = Tensor { node: x.node.clone(), shape, layout: x.layout.clone(), merge };
        let regrouped = result.expanded();
        if regrouped != expanded {
            // Other factors: the elements in ONNX order, the batch first, reshaped.
            let source = if x.in_onnx_order() { x.clone() } else { self.in_onnx_layout(x)? };
            let batch = regrouped.iter().position(Option::is_none).unwrap_or(0);
            result.layout = batch_first(regrouped.len(), batch);
            let target = self.emit_ints(&self.part("shape"), &held_target(&regrouped, &result.layout));
            let attrs: Attrs = vec![("T", self.type_of(x))];
            return self.emit_output_as(node, "Reshape", vec![source.node, target], attrs, &result).map(|()| true);
        }
        self.bind(Self::output_name(node)?, result);
        Ok(true)
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

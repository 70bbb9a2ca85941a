//! Convolutions, pools and normalisations (`Conv` 1-D and 2-D, `ConvTranspose`, `MaxPool`, `AveragePool`,
//! `GlobalAveragePool`, `GlobalMaxPool`, `BatchNormalization`, `LayerNormalization`): the ops whose NCHW
//! channel axis is NHWC's last, and whose ONNX pads must become TF's VALID or SAME.

use ndarray::{ArrayD, IxDyn};
use tf2h5_tf::pb;
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto::{self, Const};
use crate::translator::{float_type, int_list, pairs, string, Attrs, Tensor, Translator, TO_NHWC};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Conv", Translator::conv);
    registry.insert("ConvTranspose", Translator::conv_transpose);
    registry.insert("MaxPool", |t, node| t.pool(node, "MaxPool"));
    registry.insert("AveragePool", |t, node| t.pool(node, "AvgPool"));
    registry.insert("GlobalAveragePool", |t, node| t.global_pool(node, "Mean"));
    registry.insert("GlobalMaxPool", |t, node| t.global_pool(node, "Max"));
    registry.insert("BatchNormalization", Translator::batch_norm);
    registry.insert("LayerNormalization", Translator::layer_norm);
}

/// Output size of an ONNX window along one axis (floor mode).
fn window_output(input: usize, kernel: usize, stride: usize, dilation: usize, pads: (usize, usize)) -> Option<usize> {
    let effective = (kernel - 1) * dilation + 1;
    let padded = input + pads.0 + pads.1;
    (padded >= effective).then(|| (padded - effective) / stride + 1)
}

/// The pads TF's SAME uses for one axis: (before, after).
fn same_pads(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let output = input.div_ceil(stride);
    let total = ((output.saturating_sub(1)) * stride + kernel).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// How far past the end pad ONNX's `ceil_mode` windows reach along one axis: the last window
/// may be partial, but must start inside the input or the begin pad (PyTorch's rule, which
/// onnxruntime follows). A max or an average that excludes pads ignores that reach, exactly
/// as it ignores pads, so the pool is the floor-mode pool with this much more end pad.
fn ceil_mode_extra(input: usize, kernel: usize, stride: usize, pads: (usize, usize)) -> usize {
    let padded = input + pads.0 + pads.1;
    if padded < kernel {
        return 0;
    }
    let mut outputs = (padded - kernel).div_ceil(stride) + 1;
    if (outputs - 1) * stride >= input + pads.0 {
        outputs -= 1;
    }
    ((outputs - 1) * stride + kernel).saturating_sub(padded)
}

/// Spatial window attributes of a Conv or pool, already checked.
struct Window {
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    /// (begin, end) for H and W.
    pads: [(usize, usize); 2],
}

impl Translator {
    /// The `[1, h, w, 1]` TF form of an ONNX (h, w) attribute.
    fn window(&self, node: &NodeProto, x: &Tensor, kernel: [usize; 2]) -> Result<Window, OpError> {
        let pair = |attr: &str| -> Result<[usize; 2], OpError> {
            match proto::attr_ints(node, attr)? {
                None => Ok([1, 1]),
                Some(v) if v.len() == 2 && v.iter().all(|&s| s > 0) => Ok([v[0] as usize, v[1] as usize]),
                Some(v) => Err(unsupported!("{attr} {v:?}: expected two positive values")),
            }
        };
        let strides = pair("strides")?;
        let dilations = pair("dilations")?;
        let auto_pad = proto::attr_str(node, "auto_pad", "NOTSET")?;
        let size = |axis: usize| x.shape[axis + 2].ok_or_else(|| "the input's spatial size is unknown".to_string());
        let pads = match auto_pad.as_str() {
            "NOTSET" => match proto::attr_ints(node, "pads")? {
                None => [(0, 0); 2],
                Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => {
                    let p = pairs(&p);
                    [(p[0].0 as usize, p[0].1 as usize), (p[1].0 as usize, p[1].1 as usize)]
                }
                Some(p) => Err(unsupported!("pads {p:?}: expected four non-negative values"))?,
            },
            "VALID" => [(0, 0); 2],
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut pads = [(0, 0); 2];
                for axis in 0..2 {
                    let (small, large) =
                        same_pads(size(axis)?, (kernel[axis] - 1) * dilations[axis] + 1, strides[axis]);
                    pads[axis] = if auto_pad == "SAME_UPPER" { (small, large) } else { (large, small) };
                }
                pads
            }
            other => Err(unsupported!("auto_pad {other} is not supported"))?,
        };
        Ok(Window { kernel, strides, dilations, pads })
    }

    fn window_shape(
        &self,
        x: &Tensor,
        window: &Window,
        channels: Option<usize>,
    ) -> Result<Vec<Option<usize>>, OpError> {
        let mut shape = vec![x.shape[0], channels];
        for axis in 0..2 {
            let size = match x.shape[axis + 2] {
                Some(size) => Some(
                    window_output(
                        size,
                        window.kernel[axis],
                        window.strides[axis],
                        window.dilations[axis],
                        window.pads[axis],
                    )
                    .ok_or_else(|| format!("the window {:?} does not fit the input {:?}", window.kernel, x.shape))?,
                ),
                None => None,
            };
            shape.push(size);
        }
        Ok(shape)
    }

    /// Zero `Pad` of the spatial axes of an NHWC tensor, if any pad is non-zero.
    fn zero_pad(&mut self, x: &Tensor, pads: [(usize, usize); 2]) -> Tensor {
        if pads == [(0, 0); 2] {
            return x.clone();
        }
        let [(hb, he), (wb, we)] = pads;
        let paddings =
            ArrayD::from_shape_vec(IxDyn(&[4, 2]), vec![0, 0, hb as i64, he as i64, wb as i64, we as i64, 0, 0])
                .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[4, 2])));
        let paddings = self.emit_const(&self.part("pad/paddings"), &Const::Int(paddings));
        let node = self.emit(&self.part("pad"), "Pad", vec![x.node.clone(), paddings], vec![]);
        let mut shape = x.shape.clone();
        shape[2] = shape[2].map(|h| h + hb + he);
        shape[3] = shape[3].map(|w| w + wb + we);
        Tensor { node, shape, layout: TO_NHWC.to_vec() }
    }

    /// `Conv` (2-D): `Conv2D` with the OIHW kernel as HWIO, or `DepthwiseConv2dNative` when
    /// every group has one input channel; pads → `Pad` + VALID; bias → `BiasAdd`.
    fn conv(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        if x.rank() == 3 {
            return self.conv1d(node);
        }
        let x = self.nhwc(&x)?;
        let weight = self.constant(node, 1)?.ok_or("the weight (input 1) is missing")?;
        let weight = proto::f32_view(&weight);
        if weight.ndim() != 4 {
            return Err(unsupported!("only 2-D convolutions are supported (weight shape {:?})", weight.shape()));
        }
        let (filters, per_group, kh, kw) = (weight.shape()[0], weight.shape()[1], weight.shape()[2], weight.shape()[3]);
        if weight.is_empty() {
            return Err(unsupported!("the weight has an empty shape {:?}", weight.shape()));
        }
        let group = proto::attr_int(node, "group", 1)?;
        let channels = x.shape[1].ok_or("the input's channels are unknown")?;
        let window = self.window(node, &x, [kh, kw])?;
        let shape = self.window_shape(&x, &window, Some(filters))?;
        let padded = self.zero_pad(&x, window.pads);
        let four = |v: [usize; 2]| int_list(&[1, v[0] as i64, v[1] as i64, 1]);
        let attrs = |window: &Window| -> Attrs {
            vec![
                ("T", float_type()),
                ("strides", four(window.strides)),
                ("dilations", four(window.dilations)),
                ("padding", string("VALID")),
                ("data_format", string("NHWC")),
            ]
        };
        // OIHW → HWIO, written straight from the permuted view; for depthwise (O = C·m, I = 1)
        // HWIO read row-major is (h, w, C, m).
        let hwio = weight.view().permuted_axes(IxDyn(&[2, 3, 1, 0]));
        let hwio_shape = hwio.shape().to_vec();
        let bias = self.constant(node, 2)?;
        let conv_name = if bias.is_some() { self.part("conv") } else { Self::output_name(node)?.to_string() };
        let conv = if group == 1 && per_group == channels {
            let kernel = self.emit_f32(&self.part("kernel"), hwio, &hwio_shape);
            self.emit(&conv_name, "Conv2D", vec![padded.node, kernel], attrs(&window))
        } else if per_group == 1 && group as usize == channels && filters % channels == 0 {
            let kernel = self.emit_f32(&self.part("depthwise_kernel"), hwio, &[kh, kw, channels, filters / channels]);
            self.emit(&conv_name, "DepthwiseConv2dNative", vec![padded.node, kernel], attrs(&window))
        } else if group > 1 && per_group as i64 * group == channels as i64 && filters as i64 % group == 0 {
            // TF's grouped form: the (kh, kw, in / group, out) kernel, filter block j reading
            // channel block j, as ONNX's OIHW (out, in / group, kh, kw) transposed.
            let kernel = self.emit_f32(&self.part("kernel"), hwio, &hwio_shape);
            self.emit(&conv_name, "Conv2D", vec![padded.node, kernel], attrs(&window))
        } else {
            return Err(unsupported!("group {group} with {per_group} input channels per group does not divide {channels} channels and {filters} filters"));
        };
        let Some(bias) = bias else {
            self.bind(Self::output_name(node)?, Tensor { node: conv, shape, layout: TO_NHWC.to_vec() });
            return Ok(());
        };
        let bias = bias.to_f32();
        if bias.len() != filters {
            return Err(unsupported!("the bias has {} values for {filters} filters", bias.len()));
        }
        let bias = self.emit_const(
            &self.part("bias"),
            &Const::F32(bias.into_shape_with_order(IxDyn(&[filters])).map_err(|e| e.to_string())?),
        );
        self.emit_output(
            node,
            "BiasAdd",
            vec![conv, bias],
            vec![("data_format", string("NHWC"))],
            shape,
            TO_NHWC.to_vec(),
        )
    }

    /// `Conv` of an (N, C, W) tensor (one group) in TF's 1-D form, as `tf.nn.conv1d` writes
    /// it: the tensor held (N, W, C), its pads as SAME or a `Pad` of the steps, `ExpandDims` at
    /// axis 1, a `Conv2D` with the (O, I, k) weight as (1, k, I, O), `Squeeze` of axis 1, then
    /// `BiasAdd` (→ a Keras `Conv1D`; a start-only pad of the dilated window less one is its
    /// `causal` padding).
    fn conv1d(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let x = self.held_as(&x, &[0, 2, 1], &self.part("to_nwc"))?;
        let weight = self.constant(node, 1)?.ok_or("the weight (input 1) is missing")?;
        let weight = proto::f32_view(&weight);
        let group = proto::attr_int(node, "group", 1)?;
        let &[filters, channels, kernel] = weight.shape() else {
            return Err(unsupported!("the weight {:?} of a 1-D convolution is not (O, I, k)", weight.shape()));
        };
        if group != 1 || weight.is_empty() || x.shape[1] != Some(channels) {
            return Err(unsupported!(
                "group {group}: only ungrouped 1-D convolutions are supported (weight {:?}, input {:?})",
                weight.shape(),
                x.shape
            ));
        }
        let single = |attr: &str| -> Result<usize, OpError> {
            match proto::attr_ints(node, attr)?.as_deref() {
                None => Ok(1),
                Some(&[v]) if v > 0 => Ok(v as usize),
                Some(v) => Err(unsupported!("{attr} {v:?}: expected one positive value")),
            }
        };
        let (stride, dilation) = (single("strides")?, single("dilations")?);
        let (begin, end) =
            match (proto::attr_str(node, "auto_pad", "NOTSET")?.as_str(), proto::attr_ints(node, "pads")?) {
                ("VALID", _) | ("NOTSET", None) => (0, 0),
                ("NOTSET", Some(p)) if p.len() == 2 && p.iter().all(|&v| v >= 0) => (p[0] as usize, p[1] as usize),
                (auto_pad, pads) => {
                    return Err(unsupported!("auto_pad {auto_pad} with pads {pads:?} is not supported for a 1-D Conv"))
                }
            };
        let steps = x.shape[2].ok_or("the input's length is unknown")?;
        let out = window_output(steps, kernel, stride, dilation, (begin, end))
            .ok_or_else(|| format!("the window {kernel} does not fit the input {:?}", x.shape))?;
        // TF's SAME where the pads are its pads (a one-layer Keras `Conv1D(padding="same")`).
        let same = (begin, end) != (0, 0) && (begin, end) == same_pads(steps, (kernel - 1) * dilation + 1, stride);
        let mut y = x.node.clone();
        if (begin, end) != (0, 0) && !same {
            let paddings = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![0, 0, begin as i64, end as i64, 0, 0])
                .map_err(|e| e.to_string())?;
            let paddings = self.emit_const(&self.part("pad/paddings"), &Const::Int(paddings));
            y = self.emit(&self.part("pad"), "Pad", vec![y, paddings], vec![("T", float_type())]);
        }
        let unit_axis = self.emit_const(&self.part("unit_axis"), &Const::Int(ArrayD::from_elem(IxDyn(&[]), 1)));
        y = self.emit(&self.part("expand"), "ExpandDims", vec![y, unit_axis], vec![("T", float_type())]);
        let filter = weight.view().permuted_axes(IxDyn(&[2, 1, 0]));
        let filter = self.emit_f32(&self.part("filter"), filter, &[1, kernel, channels, filters]);
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("strides", int_list(&[1, 1, stride as i64, 1])),
            ("dilations", int_list(&[1, 1, dilation as i64, 1])),
            ("padding", string(if same { "SAME" } else { "VALID" })),
            ("data_format", string("NHWC")),
        ];
        y = self.emit(&self.part("conv"), "Conv2D", vec![y, filter], attrs);
        let bias = self.constant(node, 2)?;
        let squeeze_attrs: Attrs = vec![("T", float_type()), ("squeeze_dims", int_list(&[1]))];
        let shape = vec![x.shape[0], Some(filters), Some(out)];
        let Some(bias) = bias else {
            return self.emit_output(node, "Squeeze", vec![y], squeeze_attrs, shape, vec![0, 2, 1]);
        };
        y = self.emit(&self.part("squeeze"), "Squeeze", vec![y], squeeze_attrs);
        let bias = bias.to_f32();
        if bias.len() != filters {
            return Err(unsupported!("the bias has {} values for {filters} filters", bias.len()));
        }
        let bias = bias.into_shape_with_order(IxDyn(&[filters])).map_err(|e| e.to_string())?;
        let bias = self.emit_const(&self.part("bias"), &Const::F32(bias));
        let attrs: Attrs = vec![("T", float_type()), ("data_format", string("NHWC"))];
        self.emit_output(node, "BiasAdd", vec![y, bias], attrs, shape, vec![0, 2, 1])
    }

    /// `ConvTranspose` (2-D, one group) → `Conv2DBackpropInput` with the (C_in, C_out, kh, kw)
    /// weight as TF's (kh, kw, C_out, C_in) and `input_sizes` packed from the batch.
    ///
    /// ONNX output cell `o` is cell `o + pad_begin` of the full transposed convolution
    /// (length `(in − 1)·stride + dilated kernel`, then `output_padding` cells no tap reaches):
    /// TF's SAME when its padding for that output size puts `pad_begin` first, else VALID over
    /// the full length then a crop (`StridedSlice` → `Cropping2D`). The bias is added before
    /// the crop, so it fuses into the layer. `auto_pad` SAME_* and `output_shape` are refused.
    fn conv_transpose(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let x = self.nhwc(&x)?;
        let weight = self.constant(node, 1)?.ok_or("the weight (input 1) is missing")?;
        let weight = proto::f32_view(&weight);
        let group = proto::attr_int(node, "group", 1)?;
        if group != 1 {
            return Err(unsupported!("group {group}: only ungrouped ConvTranspose is supported"));
        }
        let auto_pad = proto::attr_str(node, "auto_pad", "NOTSET")?;
        if auto_pad != "NOTSET" && auto_pad != "VALID" {
            return Err(unsupported!("auto_pad {auto_pad} is not supported (explicit pads are)"));
        }
        if proto::attr_ints(node, "output_shape")?.is_some() {
            return Err(unsupported!("output_shape is not supported (pads and output_padding are)"));
        }
        let &[channels_in, filters, kh, kw] = weight.shape() else {
            return Err(unsupported!(
                "only 2-D transposed convolutions are supported (weight shape {:?})",
                weight.shape()
            ));
        };
        if weight.is_empty() || x.shape[1] != Some(channels_in) {
            return Err(unsupported!("the weight {:?} does not fit the input {:?}", weight.shape(), x.shape));
        }
        let window = self.window(node, &x, [kh, kw])?;
        let output_padding = match proto::attr_ints(node, "output_padding")? {
            None => [0, 0],
            Some(v) if v.len() == 2 && (0..2).all(|a| v[a] >= 0 && (v[a] as usize) < window.strides[a]) => {
                [v[0] as usize, v[1] as usize]
            }
            Some(v) => return Err(unsupported!("output_padding {v:?}: expected two values below the strides")),
        };
        // Per axis: the full length (with output_padding), and the output length.
        let (mut full, mut out) = ([0; 2], [0; 2]);
        for a in 0..2 {
            let input = x.shape[a + 2].ok_or("the input's spatial size is unknown")?;
            let field = (window.kernel[a] - 1) * window.dilations[a] + 1;
            full[a] = (input.max(1) - 1) * window.strides[a] + field + output_padding[a];
            let (begin, end) = window.pads[a];
            out[a] = full[a]
                .checked_sub(begin + end)
                .filter(|&o| o > 0)
                .ok_or_else(|| unsupported!("pads {:?} leave no output", window.pads))?;
        }
        // TF's SAME for output `out`: total `max(full − output_padding − out, 0)`, smaller half first.
        let same = (0..2).all(|a| {
            let input = x.shape[a + 2].unwrap_or(0);
            let total = (full[a] - output_padding[a]).saturating_sub(out[a]);
            out[a].div_ceil(window.strides[a]) == input && window.pads[a].0 == total / 2
        });
        let no_pads = window.pads == [(0, 0); 2];
        let sizes = if same || no_pads { out } else { full };
        let shape = |spatial: [usize; 2]| vec![x.shape[0], Some(filters), Some(spatial[0]), Some(spatial[1])];

        let tf_filter = weight.view().permuted_axes(IxDyn(&[2, 3, 1, 0]));
        let filter_shape = tf_filter.shape().to_vec();
        let filter = self.emit_f32(&self.part("filter"), tf_filter, &filter_shape);
        let input_sizes = self.batch_and(&x, &[sizes[0] as i64, sizes[1] as i64, filters as i64]);
        let four = |v: [usize; 2]| int_list(&[1, v[0] as i64, v[1] as i64, 1]);
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("strides", four(window.strides)),
            ("dilations", four(window.dilations)),
            ("padding", string(if same && !no_pads { "SAME" } else { "VALID" })),
            ("data_format", string("NHWC")),
        ];
        let bias = self.constant(node, 2)?;
        let cropped = !(same || no_pads);
        let conv_name =
            if bias.is_some() || cropped { self.part("conv_transpose") } else { Self::output_name(node)?.to_string() };
        let mut y = self.emit(&conv_name, "Conv2DBackpropInput", vec![input_sizes, filter, x.node.clone()], attrs);
        if let Some(bias) = bias {
            let bias = bias.to_f32();
            if bias.len() != filters {
                return Err(unsupported!("the bias has {} values for {filters} filters", bias.len()));
            }
            let bias = bias.into_shape_with_order(IxDyn(&[filters])).map_err(|e| e.to_string())?;
            let bias = self.emit_const(&self.part("bias"), &Const::F32(bias));
            y = self.emit(
                &self.part("bias_add"),
                "BiasAdd",
                vec![y, bias],
                vec![("T", float_type()), ("data_format", string("NHWC"))],
            );
        }
        if !cropped {
            self.bind(Self::output_name(node)?, Tensor { node: y, shape: shape(out), layout: TO_NHWC.to_vec() });
            return Ok(());
        }
        let [(top, _), (left, _)] = window.pads;
        let begin = self.emit_ints(&self.part("crop/begin"), &[0, top as i64, left as i64, 0]);
        let end = self.emit_ints(&self.part("crop/end"), &[0, (top + out[0]) as i64, (left + out[1]) as i64, 0]);
        let strides = self.emit_ints(&self.part("crop/strides"), &[1; 4]);
        let mask = pb::attr_value::Value::I;
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("Index", pb::attr_value::Value::Type(pb::DataType::DtInt64 as i32)),
            ("begin_mask", mask(0b1001)),
            ("end_mask", mask(0b1001)),
            ("ellipsis_mask", mask(0)),
            ("new_axis_mask", mask(0)),
            ("shrink_axis_mask", mask(0)),
        ];
        self.emit_output(node, "StridedSlice", vec![y, begin, end, strides], attrs, shape(out), TO_NHWC.to_vec())
    }

    /// An int64 vector `[batch of x, rest…]`, as Keras packs output sizes (`Shape` of `x`,
    /// its first entry, then the constants).
    fn batch_and(&mut self, x: &Tensor, rest: &[i64]) -> String {
        let int64 = || pb::attr_value::Value::Type(pb::DataType::DtInt64 as i32);
        let shape = self.emit(
            &self.part("shape"),
            "Shape",
            vec![x.node.clone()],
            vec![("T", float_type()), ("out_type", int64())],
        );
        let (begin, end, stride) = (
            self.emit_ints(&self.part("batch/begin"), &[0]),
            self.emit_ints(&self.part("batch/end"), &[1]),
            self.emit_ints(&self.part("batch/strides"), &[1]),
        );
        let mask = pb::attr_value::Value::I;
        let batch = self.emit(
            &self.part("batch"),
            "StridedSlice",
            vec![shape, begin, end, stride],
            vec![
                ("T", int64()),
                ("Index", int64()),
                ("begin_mask", mask(0)),
                ("end_mask", mask(0)),
                ("ellipsis_mask", mask(0)),
                ("new_axis_mask", mask(0)),
                ("shrink_axis_mask", mask(0)),
            ],
        );
        let rest = self.emit_ints(&self.part("sizes"), rest);
        let axis = self.emit_const(&self.part("sizes/axis"), &Const::Int(ArrayD::from_elem(IxDyn(&[]), 0)));
        self.emit(
            &self.part("input_sizes"),
            "ConcatV2",
            vec![batch, rest, axis],
            vec![("T", int64()), ("N", pb::attr_value::Value::I(2)), ("Tidx", int64())],
        )
    }

    /// `LayerNormalization` over the axes from `axis` to the last → the arithmetic of
    /// tf-keras's unfused `LayerNormalization` (Mean, SquaredDifference, Rsqrt), which the
    /// converter recognises as a Keras `LayerNormalization` with the node's epsilon, scale and
    /// bias (several axes: merged into one by Reshapes around it).
    fn layer_norm(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank();
        let written = proto::attr_int(node, "axis", -1)?;
        let axis = usize::try_from(if written < 0 { written + rank as i64 } else { written })
            .ok()
            .filter(|&a| a >= 1 && a < rank)
            .ok_or_else(|| unsupported!("axis {written} of {:?}: the batch axis, or out of range", x.shape))?;
        let group_shape: Vec<usize> =
            x.shape[axis..].iter().copied().collect::<Option<_>>().ok_or("a normalised axis has an unknown size")?;
        let epsilon = proto::attr_float(node, "epsilon", 1e-5)?;
        let gamma = self.group_param(node, 1, "gamma", &group_shape, 1.0)?;
        let beta = self.group_param(node, 2, "beta", &group_shape, 0.0)?;
        // The normalised TF axes must be the ONNX ones, in order.
        let trailing = x.layout[axis..].iter().enumerate().all(|(i, &a)| a == axis + i);
        let x = if trailing { x } else { self.in_onnx_layout(&x)? };
        let t = float_type;
        let keep: Attrs = vec![("T", t()), ("keep_dims", pb::attr_value::Value::B(true))];
        let axes: Vec<i64> = (axis..rank).map(|a| a as i64).collect();
        let axes = self.emit_ints(&self.part("axes"), if axis + 1 == rank { &[-1] } else { &axes });
        let mean = self.emit(&self.part("mean"), "Mean", vec![x.node.clone(), axes.clone()], keep.clone());
        let squared = self.emit(
            &self.part("squared_difference"),
            "SquaredDifference",
            vec![x.node.clone(), mean.clone()],
            vec![("T", t())],
        );
        let variance = self.emit(&self.part("variance"), "Mean", vec![squared, axes], keep);
        let epsilon = self.emit_scalar(&self.part("epsilon"), epsilon);
        let shifted = self.emit(&self.part("variance_epsilon"), "AddV2", vec![variance, epsilon], vec![("T", t())]);
        let rsqrt = self.emit(&self.part("rsqrt"), "Rsqrt", vec![shifted], vec![("T", t())]);
        let inv = self.emit(&self.part("inv"), "Mul", vec![rsqrt, gamma], vec![("T", t())]);
        let scaled = self.emit(&self.part("scaled"), "Mul", vec![x.node.clone(), inv.clone()], vec![("T", t())]);
        let mean_inv = self.emit(&self.part("mean_inv"), "Mul", vec![mean, inv], vec![("T", t())]);
        let offset = self.emit(&self.part("offset"), "Sub", vec![beta, mean_inv], vec![("T", t())]);
        self.emit_output(node, "AddV2", vec![scaled, offset], vec![("T", t())], x.shape.clone(), x.layout)
    }

    /// A layer normalization's scale or bias (input `index`, `role` in errors): a constant
    /// holding one value per element of `group_shape` (the normalised axes) in any shape, or
    /// one value; `default` when absent.
    fn group_param(
        &mut self,
        node: &NodeProto,
        index: usize,
        role: &str,
        group_shape: &[usize],
        default: f32,
    ) -> Result<String, OpError> {
        let value = match self.constant(node, index)? {
            Some(c) => c.to_f32(),
            None => ArrayD::from_elem(IxDyn(group_shape), default),
        };
        let count: usize = group_shape.iter().product();
        let value = match value.len() {
            1 => ArrayD::from_elem(IxDyn(group_shape), value.iter().copied().next().unwrap_or(default)),
            n if n == count => value.into_shape_with_order(IxDyn(group_shape)).map_err(|e| e.to_string())?,
            n => return Err(unsupported!("{role} has {n} values for normalised axes of sizes {group_shape:?}")),
        };
        Ok(self.emit_const(&self.part(role), &Const::F32(value)))
    }

    /// A `Const` of constant input `index` (`role` in errors) as one value per channel; when
    /// the input is absent, `default` everywhere, or an error without one.
    fn per_channel(
        &mut self,
        node: &NodeProto,
        index: usize,
        role: &str,
        channels: usize,
        default: Option<f32>,
    ) -> Result<String, OpError> {
        let value = match (self.constant(node, index)?, default) {
            (Some(c), _) => c.to_f32(),
            (None, Some(default)) => ArrayD::from_elem(IxDyn(&[channels]), default),
            (None, None) => return Err(unsupported!("{role} (input {index}) is missing")),
        };
        if value.len() != channels {
            return Err(unsupported!("{role} has {} values for {channels} channels", value.len()));
        }
        let value = value.into_shape_with_order(IxDyn(&[channels])).map_err(|e| e.to_string())?;
        Ok(self.emit_const(&self.part(role), &Const::F32(value)))
    }

    /// `BatchNormalization` (inference) → `FusedBatchNormV3` with the node's epsilon. Opsets
    /// 7 and 8 have `spatial`: 0 means statistics per element, not per channel; `momentum`
    /// (to 14) only matters in training.
    fn batch_norm(&mut self, node: &NodeProto) -> Result<(), OpError> {
        if proto::attr_int(node, "training_mode", 0)? != 0 || node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err("training mode is not supported".into());
        }
        if proto::attr_int(node, "spatial", 1)? != 1 {
            return Err(OpError::Attr {
                attr: "spatial".into(),
                message: "0 (statistics per element, opsets 7-8) is not supported".into(),
            });
        }
        let x = self.tensor(node, 0)?;
        let x = self.nhwc(&x)?;
        let channels = x.shape[1].ok_or("the input's channels are unknown")?;
        let mut inputs = vec![x.node.clone()];
        for (index, role) in [(1, "scale"), (2, "offset"), (3, "mean"), (4, "variance")] {
            inputs.push(self.per_channel(node, index, role, channels, None)?);
        }
        let epsilon = proto::attr_float(node, "epsilon", 1e-5)?;
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("U", float_type()),
            ("epsilon", pb::attr_value::Value::F(epsilon)),
            ("is_training", pb::attr_value::Value::B(false)),
            ("data_format", string("NHWC")),
        ];
        self.emit_output(node, "FusedBatchNormV3", inputs, attrs, x.shape, x.layout)
    }

    /// `MaxPool` / `AveragePool`. TF has VALID and SAME only, so ONNX pads become:
    /// no pads → VALID; SAME's pads → SAME (both exclude pads from averages); pads of SAME at
    /// stride 1 → SAME at stride 1, then a 1×1 pool with the stride (subsampling picks the
    /// same windows); an average counting pads → zero `Pad` + VALID. Others are refused
    /// (a zero pad would be wrong for a max).
    fn pool(&mut self, node: &NodeProto, op: &str) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let x = self.nhwc(&x)?;
        let kernel = match proto::attr_ints(node, "kernel_shape")?.as_deref() {
            Some([h, w]) if *h > 0 && *w > 0 => [*h as usize, *w as usize],
            other => return Err(unsupported!("kernel_shape {other:?}: only 2-D pools are supported")),
        };
        let mut window = self.window(node, &x, kernel)?;
        if window.dilations != [1, 1] {
            return Err("dilated pools are not supported".into());
        }
        let count_pads = op == "AvgPool" && proto::attr_int(node, "count_include_pad", 0)? != 0;
        if proto::attr_int(node, "ceil_mode", 0)? != 0 {
            for (axis, &kernel_size) in kernel.iter().enumerate() {
                let size = x.shape[axis + 2].ok_or("the input's spatial size is unknown")?;
                let extra = ceil_mode_extra(size, kernel_size, window.strides[axis], window.pads[axis]);
                // The extra window reaches past the pads, where ONNX counts nothing: like
                // excluded padding, but not like the zeros a counted pad would add.
                if extra > 0 && count_pads {
                    return Err(
                        "ceil_mode = 1 with count_include_pad = 1 and a partial last window is not supported".into()
                    );
                }
                window.pads[axis].1 += extra;
            }
        }
        let shape = self.window_shape(&x, &window, x.shape[1])?;
        let tf_window = |kernel: [usize; 2], strides: [usize; 2], padding: &str| -> Attrs {
            let four = |v: [usize; 2]| int_list(&[1, v[0] as i64, v[1] as i64, 1]);
            vec![
                ("T", float_type()),
                ("ksize", four(kernel)),
                ("strides", four(strides)),
                ("padding", string(padding)),
                ("data_format", string("NHWC")),
            ]
        };
        let sizes: Option<Vec<usize>> = x.shape[2..].iter().copied().collect();
        let is_same =
            sizes.is_some_and(|s| (0..2).all(|a| window.pads[a] == same_pads(s[a], kernel[a], window.strides[a])));
        let stride1_same =
            (0..2).all(|a| window.pads[a] == same_pads(1, kernel[a], 1) || kernel[a] == 1 && window.pads[a] == (0, 0));
        if window.pads == [(0, 0); 2] || count_pads {
            let padded = self.zero_pad(&x, window.pads);
            self.emit_output(
                node,
                op,
                vec![padded.node],
                tf_window(kernel, window.strides, "VALID"),
                shape,
                TO_NHWC.to_vec(),
            )
        } else if is_same {
            self.emit_output(node, op, vec![x.node], tf_window(kernel, window.strides, "SAME"), shape, TO_NHWC.to_vec())
        } else if stride1_same {
            let pooled = self.emit(&self.part("stride1"), op, vec![x.node], tf_window(kernel, [1, 1], "SAME"));
            self.emit_output(
                node,
                "MaxPool",
                vec![pooled],
                tf_window([1, 1], window.strides, "VALID"),
                shape,
                TO_NHWC.to_vec(),
            )
        } else {
            Err(unsupported!(
                "pads {:?} with kernel {kernel:?} and strides {:?} have no exact TF/Keras padding",
                window.pads,
                window.strides
            ))
        }
    }

    /// `GlobalAveragePool` / `GlobalMaxPool`: TF `Mean` / `Max` over every spatial axis of an
    /// (N, C, ...) tensor held channels-last (W of a 3-D one, H and W of a 4-D one...), kept
    /// as 1s.
    fn global_pool(&mut self, node: &NodeProto, op: &str) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank();
        if rank < 3 {
            return Err(unsupported!("a global pool of {:?} (no spatial axis)", x.shape));
        }
        let channels_last: Vec<usize> = std::iter::once(0).chain(2..rank).chain([1]).collect();
        let x = self.held_as(&x, &channels_last, &self.part("channels_last"))?;
        self.reduce_over(node, op, x, &(2..rank).collect::<Vec<_>>(), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn ceil_mode_adds_end_pad_only_for_a_window_starting_inside() {
        // GoogLeNet's 3×3 stride-2 pools: 112 → 56 windows, the last one partial.
        assert_eq!(ceil_mode_extra(112, 3, 2, (0, 0)), 1);
        assert_eq!(ceil_mode_extra(111, 3, 2, (0, 0)), 0);
        // A window would start in the end pad: PyTorch drops it.
        assert_eq!(ceil_mode_extra(4, 2, 2, (0, 1)), 0);
        assert_eq!(ceil_mode_extra(6, 3, 2, (1, 1)), 1);
    }

    /// PyTorch's `ConvTranspose2d` paddings: k4 s2 p1 is TF's SAME (one layer); k3 s2 p1
    /// output_padding 1 crops the full output's first cell (VALID, then a crop); groups are
    /// refused by name.
    #[test]
    fn conv_transpose_pads_become_same_or_a_crop() {
        let weight = |shape: &[i64]| tract_onnx::pb::TensorProto {
            name: "w".into(),
            dims: shape.to_vec(),
            data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
            float_data: vec![0.5; shape.iter().product::<i64>() as usize],
            ..Default::default()
        };
        let conv_transpose = |attrs| vec![onnx_node("ConvTranspose", &["x", "w"], "y", attrs)];
        let strided = |k: i64, pad: i64| {
            vec![ints_attr("kernel_shape", &[k, k]), ints_attr("strides", &[2, 2]), ints_attr("pads", &[pad; 4])]
        };
        let graph = translated(&[-1, 2, 5, 5], conv_transpose(strided(4, 1)), vec![weight(&[2, 3, 4, 4])]).unwrap();
        let conv = graph.nodes().iter().find(|n| n.op == "Conv2DBackpropInput").unwrap();
        assert!(matches!(&conv.attr["padding"].value, Some(pb::attr_value::Value::S(s)) if s == b"SAME"));
        assert_eq!(conv.name, "y");
        let mut attrs = strided(3, 1);
        attrs.push(ints_attr("output_padding", &[1, 1]));
        let ops = translated_ops(&[-1, 2, 5, 5], conv_transpose(attrs), vec![weight(&[2, 3, 3, 3])]).unwrap();
        assert_eq!(ops.last().map(String::as_str), Some("StridedSlice"), "{ops:?}");
        let mut attrs = strided(4, 1);
        attrs.push(tract_onnx::pb::AttributeProto {
            name: "group".into(),
            r#type: tract_onnx::pb::attribute_proto::AttributeType::Int as i32,
            i: 2,
            ..Default::default()
        });
        let error = translated_ops(&[-1, 2, 5, 5], conv_transpose(attrs), vec![weight(&[2, 3, 4, 4])]).unwrap_err();
        assert!(error.contains("group 2"), "{error}");
    }

    /// A 1-D `Conv` is written as `tf.nn.conv1d` writes it (which the converter reads as a
    /// Keras `Conv1D`): pad the steps, insert the unit axis, convolve, squeeze.
    #[test]
    fn conv_1d_is_written_through_a_unit_axis() {
        let weight = tract_onnx::pb::TensorProto {
            name: "w".into(),
            dims: vec![4, 2, 3],
            data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
            float_data: vec![0.5; 24],
            ..Default::default()
        };
        let attrs = vec![ints_attr("kernel_shape", &[3]), ints_attr("pads", &[2, 0]), ints_attr("dilations", &[1])];
        let nodes = vec![onnx_node("Conv", &["x", "w"], "y", attrs)];
        let ops = translated_ops(&[-1, 2, 9], nodes, vec![weight]).unwrap();
        // NCW → NWC, a causal pad (2 = (3 - 1)·1 steps before), ..., NWC → NCW for the output.
        assert_eq!(ops, ["Placeholder", "Transpose", "Pad", "ExpandDims", "Conv2D", "Squeeze", "Transpose"]);
    }

    #[test]
    fn same_pads_follow_tf() {
        assert_eq!(same_pads(112, 3, 2), (0, 1));
        assert_eq!(same_pads(7, 3, 1), (1, 1));
        assert_eq!(same_pads(1, 2, 1), (0, 1));
        assert_eq!(window_output(112, 3, 2, 1, (1, 1)), Some(56));
        assert_eq!(window_output(2, 3, 1, 1, (0, 0)), None);
    }
}

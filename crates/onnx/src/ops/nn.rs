//! Convolutions, pools and normalisations (`Conv` 1-D and 2-D, `ConvTranspose`, `MaxPool`, `AveragePool`,
//! `GlobalAveragePool`, `GlobalMaxPool`, `BatchNormalization`, `LayerNormalization`): the ops whose NCHW
//! channel axis is NHWC's last, and whose ONNX pads must become TF's VALID or SAME.

use ndarray::{ArrayD, IxDyn};
use tf2h5_tf::pb;
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto::{self, Const};
use crate::translator::{float_type, int_list, pairs, string, Attrs, Tensor, Translator};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Conv", Translator::conv);
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
pub(super) fn same_pads(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let output = input.div_ceil(stride);
    let total = ((output.saturating_sub(1)) * stride + kernel).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// Spatial window attributes of a Conv or pool (one entry per spatial axis), already checked.
#[derive(Debug, Clone)]
pub(super) struct Window {
    pub(super) kernel: Vec<usize>,
    pub(super) strides: Vec<usize>,
    pub(super) dilations: Vec<usize>,
    /// (begin, end) per spatial axis.
    pub(super) pads: Vec<(usize, usize)>,
}

impl Window {
    pub(super) fn rank(&self) -> usize {
        self.kernel.len()
    }

    /// The same window with a unit axis first: a 1-D window as the 2-D one TF runs it in.
    pub(super) fn with_unit_axis(&self) -> Window {
        let unit = |v: &[usize]| [1].iter().chain(v).copied().collect();
        Window {
            kernel: unit(&self.kernel),
            strides: unit(&self.strides),
            dilations: unit(&self.dilations),
            pads: [(0, 0)].iter().chain(&self.pads).copied().collect(),
        }
    }

    /// Whether no axis is padded.
    pub(super) fn unpadded(&self) -> bool {
        self.pads.iter().all(|&p| p == (0, 0))
    }
}

/// The `[1, spatial…, 1]` TF form of a per-axis window attribute.
pub(super) fn tf_window_attr(values: &[usize]) -> pb::attr_value::Value {
    let all: Vec<i64> = [1].into_iter().chain(values.iter().map(|&v| v as i64)).chain([1]).collect();
    int_list(&all)
}

/// The TF layout of an (N, C, spatial…) tensor held channels-last.
pub(super) fn channels_last_layout(rank: usize) -> Vec<usize> {
    std::iter::once(0).chain(2..rank).chain([1]).collect()
}

impl Translator {
    /// An (N, C, spatial…) tensor held channels-last (NHWC for 4-D, NDHWC for 5-D...).
    pub(super) fn channels_last(&mut self, x: &Tensor) -> Result<Tensor, OpError> {
        match x.rank() {
            4 => self.nhwc(x),
            rank if rank >= 3 => self.held_as(x, &channels_last_layout(rank), &self.part("channels_last")),
            _ => Err(unsupported!("expected an (N, C, spatial…) tensor, got shape {:?}", x.shape)),
        }
    }

    /// The node's window attributes for `kernel` (one entry per spatial axis of `x`, an ONNX
    /// (N, C, spatial…) shape), with `auto_pad` resolved to explicit pads.
    pub(super) fn window(&self, node: &NodeProto, x: &Tensor, kernel: Vec<usize>) -> Result<Window, OpError> {
        let rank = kernel.len();
        let per_axis = |attr: &str| -> Result<Vec<usize>, OpError> {
            match proto::attr_ints(node, attr)? {
                None => Ok(vec![1; rank]),
                Some(v) if v.len() == rank && v.iter().all(|&s| s > 0) => Ok(v.iter().map(|&s| s as usize).collect()),
                Some(v) => Err(unsupported!("{attr} {v:?}: expected {rank} positive values")),
            }
        };
        let strides = per_axis("strides")?;
        let dilations = per_axis("dilations")?;
        let auto_pad = proto::attr_str(node, "auto_pad", "NOTSET")?;
        let size = |axis: usize| {
            x.shape.get(axis + 2).copied().flatten().ok_or_else(|| "the input's spatial size is unknown".to_string())
        };
        let pads = match auto_pad.as_str() {
            "NOTSET" => match proto::attr_ints(node, "pads")? {
                None => vec![(0, 0); rank],
                Some(p) if p.len() == 2 * rank && p.iter().all(|&v| v >= 0) => {
                    pairs(&p).into_iter().map(|(b, e)| (b as usize, e as usize)).collect()
                }
                Some(p) => Err(unsupported!("pads {p:?}: expected {} non-negative values", 2 * rank))?,
            },
            "VALID" => vec![(0, 0); rank],
            "SAME_UPPER" | "SAME_LOWER" => (0..rank)
                .map(|axis| {
                    let (small, large) =
                        same_pads(size(axis)?, (kernel[axis] - 1) * dilations[axis] + 1, strides[axis]);
                    Ok(if auto_pad == "SAME_UPPER" { (small, large) } else { (large, small) })
                })
                .collect::<Result<_, OpError>>()?,
            other => Err(unsupported!("auto_pad {other} is not supported"))?,
        };
        Ok(Window { kernel, strides, dilations, pads })
    }

    /// The ONNX (N, `channels`, spatial…) output shape of `window` over `x`.
    pub(super) fn window_shape(
        &self,
        x: &Tensor,
        window: &Window,
        channels: Option<usize>,
    ) -> Result<Vec<Option<usize>>, OpError> {
        let mut shape = vec![x.shape[0], channels];
        for axis in 0..window.rank() {
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

    /// Zero `Pad` of the spatial axes of a channels-last tensor, if any pad is non-zero.
    pub(super) fn zero_pad(&mut self, x: &Tensor, pads: &[(usize, usize)]) -> Tensor {
        if pads.iter().all(|&p| p == (0, 0)) {
            return x.clone();
        }
        let mut flat = vec![0, 0];
        for &(begin, end) in pads {
            flat.extend([begin as i64, end as i64]);
        }
        flat.extend([0, 0]);
        let paddings = ArrayD::from_shape_vec(IxDyn(&[pads.len() + 2, 2]), flat)
            .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[pads.len() + 2, 2])));
        let paddings = self.emit_const(&self.part("pad/paddings"), &Const::Int(paddings));
        let node = self.emit(&self.part("pad"), "Pad", vec![x.node.clone(), paddings], vec![]);
        let mut shape = x.shape.clone();
        for (axis, &(begin, end)) in pads.iter().enumerate() {
            shape[axis + 2] = shape[axis + 2].map(|d| d + begin + end);
        }
        Tensor { node, shape, layout: x.layout.clone(), merge: None }
    }

    /// `Conv` (2-D, 3-D): `Conv2D` / `Conv3D` with the OI… kernel as …IO, or
    /// `DepthwiseConv2dNative` when every group has one input channel (2-D); pads → `Pad` +
    /// VALID; bias → `BiasAdd`.
    fn conv(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        if x.rank() == 3 {
            return self.conv1d(node);
        }
        let x = self.channels_last(&x)?;
        let rank = x.rank() - 2;
        let weight = self.constant(node, 1)?.ok_or("the weight (input 1) is missing")?;
        let weight = proto::f32_view(&weight);
        if weight.ndim() != rank + 2 || !(2..=3).contains(&rank) {
            return Err(unsupported!(
                "only 1-D, 2-D and 3-D convolutions are supported (weight shape {:?}, input {:?})",
                weight.shape(),
                x.shape
            ));
        }
        if weight.is_empty() {
            return Err(unsupported!("the weight has an empty shape {:?}", weight.shape()));
        }
        let (filters, per_group) = (weight.shape()[0], weight.shape()[1]);
        let group = proto::attr_int(node, "group", 1)?;
        let channels = x.shape[1].ok_or("the input's channels are unknown")?;
        let window = self.window(node, &x, weight.shape()[2..].to_vec())?;
        let shape = self.window_shape(&x, &window, Some(filters))?;
        let padded = self.zero_pad(&x, &window.pads);
        let attrs = |window: &Window| -> Attrs {
            vec![
                ("T", float_type()),
                ("strides", tf_window_attr(&window.strides)),
                ("dilations", tf_window_attr(&window.dilations)),
                ("padding", string("VALID")),
                ("data_format", string(if rank == 2 { "NHWC" } else { "NDHWC" })),
            ]
        };
        // OI… → …IO, written straight from the permuted view; for depthwise (O = C·m, I = 1)
        // HWIO read row-major is (h, w, C, m).
        let tf_axes: Vec<usize> = (2..rank + 2).chain([1, 0]).collect();
        let tf_kernel = weight.view().permuted_axes(IxDyn(&tf_axes));
        let tf_kernel_shape = tf_kernel.shape().to_vec();
        let conv_op = if rank == 2 { "Conv2D" } else { "Conv3D" };
        let bias = self.constant(node, 2)?;
        let conv_name = if bias.is_some() { self.part("conv") } else { Self::output_name(node)?.to_string() };
        let conv = if group == 1 && per_group == channels {
            let kernel = self.emit_f32(&self.part("kernel"), tf_kernel, &tf_kernel_shape);
            self.emit(&conv_name, conv_op, vec![padded.node, kernel], attrs(&window))
        } else if rank == 2 && per_group == 1 && group as usize == channels && filters % channels == 0 {
            let (kh, kw) = (window.kernel[0], window.kernel[1]);
            let kernel =
                self.emit_f32(&self.part("depthwise_kernel"), tf_kernel, &[kh, kw, channels, filters / channels]);
            self.emit(&conv_name, "DepthwiseConv2dNative", vec![padded.node, kernel], attrs(&window))
        } else if rank == 2 && group > 1 && per_group as i64 * group == channels as i64 && filters as i64 % group == 0 {
            // TF's grouped form: the (kh, kw, in / group, out) kernel, filter block j reading
            // channel block j, as ONNX's OIHW (out, in / group, kh, kw) transposed.
            let kernel = self.emit_f32(&self.part("kernel"), tf_kernel, &tf_kernel_shape);
            self.emit(&conv_name, "Conv2D", vec![padded.node, kernel], attrs(&window))
        } else {
            return Err(unsupported!("group {group} with {per_group} input channels per group does not divide {channels} channels and {filters} filters of a {rank}-D convolution (grouped 3-D convolutions are not supported)"));
        };
        let Some(bias) = bias else {
            self.bind(Self::output_name(node)?, Tensor { node: conv, shape, layout: x.layout.clone(), merge: None });
            return Ok(());
        };
        // TF's BiasAdd says NHWC for any channels-last rank.
        let bias = self.bias_const(&bias, filters)?;
        self.emit_output(
            node,
            "BiasAdd",
            vec![conv, bias],
            vec![("T", float_type()), ("data_format", string("NHWC"))],
            shape,
            x.layout.clone(),
        )
    }

    /// A `Const` of a convolution's bias, checked to hold one value per filter.
    pub(super) fn bias_const(&mut self, bias: &Const, filters: usize) -> Result<String, OpError> {
        let bias = bias.to_f32();
        if bias.len() != filters {
            return Err(unsupported!("the bias has {} values for {filters} filters", bias.len()));
        }
        let bias = bias.into_shape_with_order(IxDyn(&[filters])).map_err(|e| e.to_string())?;
        Ok(self.emit_const(&self.part("bias"), &Const::F32(bias)))
    }

    /// `Conv` of an (N, C, W) tensor in TF's 1-D form, as `tf.nn.conv1d` writes it: the
    /// tensor held (N, W, C), its pads as SAME or a `Pad` of the steps, `ExpandDims` at axis 1,
    /// a `Conv2D` with the (O, I / group, k) weight as (1, k, I / group, O) (or, with one input
    /// channel per group, a `DepthwiseConv2dNative` with it as (1, k, C, O / C)), `Squeeze` of
    /// axis 1, then `BiasAdd` (→ a Keras `Conv1D` or `DepthwiseConv1D`; a start-only pad of the
    /// dilated window less one is its `causal` padding).
    fn conv1d(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let x = self.held_as(&x, &[0, 2, 1], &self.part("to_nwc"))?;
        let weight = self.constant(node, 1)?.ok_or("the weight (input 1) is missing")?;
        let weight = proto::f32_view(&weight);
        let group = proto::attr_int(node, "group", 1)?;
        let &[filters, per_group, kernel] = weight.shape() else {
            return Err(unsupported!("the weight {:?} of a 1-D convolution is not (O, I, k)", weight.shape()));
        };
        let channels = x.shape[1].ok_or("the input's channels are unknown")?;
        if weight.is_empty() || group < 1 || per_group as i64 * group != channels as i64 || filters as i64 % group != 0
        {
            return Err(unsupported!(
                "group {group} with weight {:?} does not divide the {channels} channels of the input {:?}",
                weight.shape(),
                x.shape
            ));
        }
        let depthwise = group > 1 && per_group == 1;
        let window = self.window(node, &x, vec![kernel])?;
        let (stride, dilation, (begin, end)) = (window.strides[0], window.dilations[0], window.pads[0]);
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
        let (op, filter_shape) = if depthwise {
            ("DepthwiseConv2dNative", [1, kernel, channels, filters / channels])
        } else {
            ("Conv2D", [1, kernel, per_group, filters])
        };
        let filter = self.emit_f32(&self.part("filter"), filter, &filter_shape);
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("strides", int_list(&[1, 1, stride as i64, 1])),
            ("dilations", int_list(&[1, 1, dilation as i64, 1])),
            ("padding", string(if same { "SAME" } else { "VALID" })),
            ("data_format", string("NHWC")),
        ];
        y = self.emit(&self.part("conv"), op, vec![y, filter], attrs);
        let bias = self.constant(node, 2)?;
        let squeeze_attrs: Attrs = vec![("T", float_type()), ("squeeze_dims", int_list(&[1]))];
        let shape = vec![x.shape[0], Some(filters), Some(out)];
        let Some(bias) = bias else {
            return self.emit_output(node, "Squeeze", vec![y], squeeze_attrs, shape, vec![0, 2, 1]);
        };
        y = self.emit(&self.part("squeeze"), "Squeeze", vec![y], squeeze_attrs);
        let bias = self.bias_const(&bias, filters)?;
        let attrs: Attrs = vec![("T", float_type()), ("data_format", string("NHWC"))];
        self.emit_output(node, "BiasAdd", vec![y, bias], attrs, shape, vec![0, 2, 1])
    }

    /// `LayerNormalization` over the axes from `axis` to the last → the arithmetic of
    /// tf-keras's unfused `LayerNormalization` (Mean, SquaredDifference, Rsqrt), which the
    /// converter recognises as a Keras `LayerNormalization` with the node's epsilon, scale and
    /// bias (several axes: merged into one by Reshapes around it).
    fn layer_norm(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor_anywhere(node, 0)?;
        let rank = x.rank();
        let written = proto::attr_int(node, "axis", -1)?;
        // Axes after a moved batch keep their index once it is held first.
        let axis = usize::try_from(if written < 0 { written + rank as i64 } else { written })
            .ok()
            .filter(|&a| a > x.batch_axis() && a < rank)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// A 1-D `Conv` is written as `tf.nn.conv1d` writes it (which the converter reads as a
    /// Keras `Conv1D`): pad the steps, insert the unit axis, convolve, squeeze.
    #[test]
    fn conv_1d_is_written_through_a_unit_axis() {
        let weight = filled_initializer("w", &[4, 2, 3], 0.5);
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

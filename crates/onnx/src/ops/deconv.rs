//! `ConvTranspose` of every rank → TF's `Conv2DBackpropInput` / `Conv3DBackpropInputV2`, the
//! ops Keras `Conv{1,2,3}DTranspose` compile to (the 1-D one, as `tf.nn.conv1d_transpose`
//! writes it, through a unit axis), with ONNX pads as TF's SAME or a crop and groups as one
//! block-diagonal kernel.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use tf2h5_tf::pb;
use tract_onnx::pb::NodeProto;

use super::nn::tf_window_attr;
use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto::{self, Const};
use crate::translator::{float_type, int_list, string, Attrs, Tensor, Translator, TO_NHWC};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("ConvTranspose", Translator::conv_transpose);
}

/// TF's (k…, C_out, C_in) filter of an ONNX (C_in, C_out / group, k…) `ConvTranspose` weight.
/// Keras's transposed convolutions have no groups (Keras 3 rejects the key), so a grouped one
/// becomes one convolution whose filter is zero between groups: output channel block j reads
/// input channel block j only, and the zero taps add exact zeros (for finite inputs).
fn block_diagonal_filter(weight: ArrayViewD<f32>, group: usize) -> ArrayD<f32> {
    let rank = weight.ndim() - 2;
    let (channels_in, per_group_out) = (weight.shape()[0], weight.shape()[1]);
    let per_group_in = channels_in / group;
    let tf_axes: Vec<usize> = (2..rank + 2).chain([1, 0]).collect();
    let blocks = weight.permuted_axes(IxDyn(&tf_axes));
    let mut shape = blocks.shape().to_vec();
    shape[rank] = per_group_out * group;
    let mut filter = ArrayD::zeros(IxDyn(&shape));
    for g in 0..group {
        let inputs = Slice::from(g * per_group_in..(g + 1) * per_group_in);
        filter
            .slice_axis_mut(Axis(rank), Slice::from(g * per_group_out..(g + 1) * per_group_out))
            .slice_axis_mut(Axis(rank + 1), inputs)
            .assign(&blocks.slice_axis(Axis(rank + 1), inputs));
    }
    filter
}

/// The stages of a translated `ConvTranspose`, in order; the last one present is named after
/// the ONNX output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Conv,
    Squeeze,
    Bias,
    Crop,
}

impl Translator {
    /// `ConvTranspose` (1-D to 3-D, grouped or not) → TF's transposed convolution with the
    /// (C_in, C_out, k…) weight as (k…, C_out, C_in) and `input_sizes` packed from the batch.
    /// A 1-D one runs on the (N, 1, W, C) `ExpandDims` with a unit kernel axis, then a
    /// `Squeeze`, as `tf.nn.conv1d_transpose` writes Keras's `Conv1DTranspose`.
    ///
    /// ONNX output cell `o` is cell `o + pad_begin` of the full transposed convolution
    /// (length `(in − 1)·stride + dilated kernel`, then `output_padding` cells no tap reaches):
    /// TF's SAME when its padding for that output size puts `pad_begin` first, else VALID over
    /// the full length then a crop (`StridedSlice` → `Cropping{1,2,3}D`). The bias is added
    /// before the crop, so it fuses into the layer. `auto_pad` SAME_* and `output_shape` are
    /// refused.
    fn conv_transpose(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank().saturating_sub(2);
        if !(1..=3).contains(&rank) {
            return Err(unsupported!("a ConvTranspose of an input {:?}: only 1-D to 3-D ones", x.shape));
        }
        let x = if rank == 1 { self.held_as(&x, &[0, 2, 1], &self.part("to_nwc"))? } else { self.channels_last(&x)? };
        let weight = self.constant(node, 1)?.ok_or("the weight (input 1) is missing")?;
        let weight = proto::f32_view(&weight);
        let group = proto::attr_int(node, "group", 1)?;
        let auto_pad = proto::attr_str(node, "auto_pad", "NOTSET")?;
        if auto_pad != "NOTSET" && auto_pad != "VALID" {
            return Err(unsupported!("auto_pad {auto_pad} is not supported (explicit pads are)"));
        }
        if proto::attr_ints(node, "output_shape")?.is_some() {
            return Err(unsupported!("output_shape is not supported (pads and output_padding are)"));
        }
        let channels_in = x.shape[1];
        let fits = weight.ndim() == rank + 2
            && !weight.is_empty()
            && group >= 1
            && channels_in == Some(weight.shape()[0])
            && weight.shape()[0].is_multiple_of(group as usize);
        if !fits {
            return Err(unsupported!(
                "the weight {:?} (C_in, C_out / group, k…) with group {group} does not fit the input {:?}",
                weight.shape(),
                x.shape
            ));
        }
        let (channels_in, filters) = (weight.shape()[0], weight.shape()[1] * group as usize);
        let window = self.window(node, &x, weight.shape()[2..].to_vec())?;
        let output_padding: Vec<usize> = match proto::attr_ints(node, "output_padding")? {
            None => vec![0; rank],
            Some(v) if v.len() == rank && (0..rank).all(|a| v[a] >= 0 && (v[a] as usize) < window.strides[a]) => {
                v.iter().map(|&p| p as usize).collect()
            }
            Some(v) => return Err(unsupported!("output_padding {v:?}: expected {rank} values below the strides")),
        };
        // Per axis: the input, the full length (with output_padding), and the output length.
        let (mut input, mut full, mut out) = (vec![0; rank], vec![0; rank], vec![0; rank]);
        for a in 0..rank {
            input[a] = x.shape[a + 2].ok_or("the input's spatial size is unknown")?;
            let field = (window.kernel[a] - 1) * window.dilations[a] + 1;
            full[a] = (input[a].max(1) - 1) * window.strides[a] + field + output_padding[a];
            let (begin, end) = window.pads[a];
            out[a] = full[a]
                .checked_sub(begin + end)
                .filter(|&o| o > 0)
                .ok_or_else(|| unsupported!("pads {:?} leave no output", window.pads))?;
        }
        // TF's SAME for output `out`: total `max(full − output_padding − out, 0)`, smaller half first.
        let same = (0..rank).all(|a| {
            let total = (full[a] - output_padding[a]).saturating_sub(out[a]);
            out[a].div_ceil(window.strides[a]) == input[a] && window.pads[a].0 == total / 2
        });
        let no_pads = window.unpadded();
        let sizes = if same || no_pads { &out } else { &full };
        let shape = |spatial: &[usize]| -> Vec<Option<usize>> {
            [x.shape[0], Some(filters)].into_iter().chain(spatial.iter().map(|&s| Some(s))).collect()
        };
        let bias = self.constant(node, 2)?;
        let cropped = !(same || no_pads);
        let last = if cropped {
            Stage::Crop
        } else if bias.is_some() {
            Stage::Bias
        } else if rank == 1 {
            Stage::Squeeze
        } else {
            Stage::Conv
        };
        let output = Self::output_name(node)?.to_string();
        let name = |t: &Self, stage: Stage, part: &str| if stage == last { output.clone() } else { t.part(part) };

        let filter = block_diagonal_filter(weight.view(), group as usize);
        // The 2-D or 3-D convolution TF runs: a 1-D one on a unit axis first.
        let (image, conv_window, conv_sizes, filter_shape) = if rank == 1 {
            let unit_axis = self.emit_ints(&self.part("unit_axis"), &[1]);
            let expanded = self.emit(
                &self.part("expand"),
                "ExpandDims",
                vec![x.node.clone(), unit_axis],
                vec![("T", float_type())],
            );
            let image = Tensor {
                node: expanded,
                shape: vec![x.shape[0], x.shape[1], Some(1), x.shape[2]],
                layout: TO_NHWC.to_vec(),
                merge: None,
            };
            let filter_shape = vec![1, window.kernel[0], filters, channels_in];
            (image, window.with_unit_axis(), vec![1, sizes[0]], filter_shape)
        } else {
            (x.clone(), window.clone(), sizes.clone(), filter.shape().to_vec())
        };
        let filter = self.emit_f32(&self.part("filter"), filter.view(), &filter_shape);
        let sizes: Vec<i64> = conv_sizes.iter().chain([&filters]).map(|&s| s as i64).collect();
        // The batch read from `x`: only the convolution reads a 1-D one's `ExpandDims`.
        let input_sizes = self.batch_and(&x, &sizes);
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("strides", tf_window_attr(&conv_window.strides)),
            ("dilations", tf_window_attr(&conv_window.dilations)),
            ("padding", string(if same && !no_pads { "SAME" } else { "VALID" })),
            ("data_format", string(if rank == 3 { "NDHWC" } else { "NHWC" })),
        ];
        let op = if rank == 3 { "Conv3DBackpropInputV2" } else { "Conv2DBackpropInput" };
        let conv_name = name(self, Stage::Conv, "conv_transpose");
        let mut y = self.emit(&conv_name, op, vec![input_sizes, filter, image.node.clone()], attrs);
        if rank == 1 {
            let squeeze: Attrs = vec![("T", float_type()), ("squeeze_dims", int_list(&[1]))];
            y = self.emit(&name(self, Stage::Squeeze, "squeeze"), "Squeeze", vec![y], squeeze);
        }
        if let Some(bias) = bias {
            let bias = self.bias_const(&bias, filters)?;
            let attrs: Attrs = vec![("T", float_type()), ("data_format", string("NHWC"))];
            y = self.emit(&name(self, Stage::Bias, "bias_add"), "BiasAdd", vec![y, bias], attrs);
        }
        if cropped {
            let begins: Vec<i64> = window.pads.iter().map(|&(begin, _)| begin as i64).collect();
            let ends: Vec<i64> = begins.iter().zip(&out).map(|(&begin, &o)| begin + o as i64).collect();
            let padded =
                |inner: &[i64]| -> Vec<i64> { [0].into_iter().chain(inner.iter().copied()).chain([0]).collect() };
            let begin = self.emit_ints(&self.part("crop/begin"), &padded(&begins));
            let end = self.emit_ints(&self.part("crop/end"), &padded(&ends));
            let strides = self.emit_ints(&self.part("crop/strides"), &vec![1; rank + 2]);
            // Batch and channels whole.
            let whole = pb::attr_value::Value::I(1 | 1 << (rank + 1));
            let zero = || pb::attr_value::Value::I(0);
            let attrs: Attrs = vec![
                ("T", float_type()),
                ("Index", pb::attr_value::Value::Type(pb::DataType::DtInt64 as i32)),
                ("begin_mask", whole.clone()),
                ("end_mask", whole),
                ("ellipsis_mask", zero()),
                ("new_axis_mask", zero()),
                ("shrink_axis_mask", zero()),
            ];
            y = self.emit(&output, "StridedSlice", vec![y, begin, end, strides], attrs);
        }
        self.bind(&output, Tensor { node: y, shape: shape(&out), layout: x.layout.clone(), merge: None });
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// PyTorch's `ConvTranspose2d` paddings: k4 s2 p1 is TF's SAME (one layer); k3 s2 p1
    /// output_padding 1 crops the full output's first cell (VALID, then a crop).
    #[test]
    fn conv_transpose_pads_become_same_or_a_crop() {
        let weight = |shape: &[i64]| filled_initializer("w", shape, 0.5);
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
    }

    /// Group g of the block-diagonal filter is ONNX's block g; the rest is zero.
    #[test]
    fn grouped_filters_are_block_diagonal() {
        // (C_in 4, C_out / group 1, k 2), group 2: TF's (k 2, C_out 2, C_in 4).
        let weight = ArrayD::from_shape_vec(IxDyn(&[4, 1, 2]), (0..8).map(|v| v as f32 + 1.0).collect()).unwrap();
        let filter = block_diagonal_filter(weight.view(), 2);
        assert_eq!(filter.shape(), &[2, 2, 4]);
        // Tap 0: output 0 reads inputs 0 and 1 (weights 1, 3), output 1 inputs 2 and 3 (5, 7).
        let tap0: Vec<f32> = filter.index_axis(Axis(0), 0).iter().copied().collect();
        assert_eq!(tap0, [1.0, 3.0, 0.0, 0.0, 0.0, 0.0, 5.0, 7.0]);
    }

    /// A 1-D `ConvTranspose` is written as `tf.nn.conv1d_transpose` writes it, its crop on
    /// the steps after the squeeze and the bias.
    #[test]
    fn conv_transpose_1d_is_written_through_a_unit_axis() {
        let weight = filled_initializer("w", &[2, 3, 3], 0.5);
        let bias = filled_initializer("b", &[3], 0.5);
        let attrs = vec![ints_attr("kernel_shape", &[3]), ints_attr("strides", &[2]), ints_attr("pads", &[1, 0])];
        let nodes = vec![onnx_node("ConvTranspose", &["x", "w", "b"], "y", attrs)];
        let graph = translated(&[-1, 2, 5], nodes, vec![weight, bias]).unwrap();
        let ops: Vec<&str> = graph.nodes().iter().map(|n| n.op.as_str()).filter(|op| *op != "Const").collect();
        let packed_sizes = ["Shape", "StridedSlice", "ConcatV2"];
        let conv = ["Conv2DBackpropInput", "Squeeze", "BiasAdd", "StridedSlice", "Transpose"];
        assert_eq!(ops, [&["Placeholder", "Transpose", "ExpandDims"][..], &packed_sizes, &conv].concat());
        assert!(graph.nodes().iter().any(|n| n.op == "StridedSlice" && n.name == "y"));
    }
}

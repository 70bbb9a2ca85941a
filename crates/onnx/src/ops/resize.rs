//! `Resize` of H and W: nearest by whole factors (`ResizeNearestNeighbor`) or linear
//! (`ResizeBilinear`, ONNX's coordinate modes as TF's sampling flags).

use tf2h5_tf::{pb, Dim};
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto;
use crate::translator::{float_type, resolve_axes, Attrs, Tensor, Translator, Value, TO_NHWC};

/// Largest `Resize` factor accepted (keeps shape arithmetic far from overflow).
const MAX_FACTOR: f32 = 4096.0;

pub(super) fn register(registry: &mut Registry) {
    registry.insert("Resize", Translator::resize);
}

impl Translator {
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
}

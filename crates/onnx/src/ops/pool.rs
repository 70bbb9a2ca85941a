//! Pools of every rank (`MaxPool`, `AveragePool`, `GlobalAveragePool`, `GlobalMaxPool`): 2-D
//! and 3-D as TF's `MaxPool`/`AvgPool` and `MaxPool3D`/`AvgPool3D` on the channels-last
//! tensor, 1-D as TF writes Keras's 1-D pools (the 2-D pool of a unit axis, squeezed), global
//! pools as a `Mean`/`Max` over the spatial axes. ONNX pads must become TF's VALID or SAME.

use tract_onnx::pb::NodeProto;

use super::nn::{channels_last_layout, same_pads, tf_window_attr, Window};
use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto;
use crate::translator::{float_type, identity, int_list, string, Attrs, Tensor, Translator};

pub(super) fn register(registry: &mut Registry) {
    registry.insert("MaxPool", |t, node| t.pool(node, "MaxPool"));
    registry.insert("AveragePool", |t, node| t.pool(node, "AvgPool"));
    registry.insert("GlobalAveragePool", |t, node| t.global_pool(node, "Mean"));
    registry.insert("GlobalMaxPool", |t, node| t.global_pool(node, "Max"));
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

impl Translator {
    /// `MaxPool` / `AveragePool` of an (N, C, spatial…) tensor with 1 to 3 spatial axes (`op`:
    /// TF's 2-D name).
    fn pool(&mut self, node: &NodeProto, op: &str) -> Result<(), OpError> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank().saturating_sub(2);
        let kernel: Vec<usize> = match proto::attr_ints(node, "kernel_shape")? {
            Some(k) if k.len() == rank && (1..=3).contains(&rank) && k.iter().all(|&v| v > 0) => {
                k.iter().map(|&v| v as usize).collect()
            }
            other => {
                return Err(unsupported!("kernel_shape {other:?} of an input {:?}: only 1-D to 3-D pools", x.shape))
            }
        };
        let x = if rank == 1 { self.held_as(&x, &[0, 2, 1], &self.part("to_nwc"))? } else { self.channels_last(&x)? };
        let mut window = self.window(node, &x, kernel)?;
        if window.dilations.iter().any(|&d| d != 1) {
            return Err("dilated pools are not supported".into());
        }
        let count_pads = op == "AvgPool" && proto::attr_int(node, "count_include_pad", 0)? != 0;
        if proto::attr_int(node, "ceil_mode", 0)? != 0 {
            for axis in 0..rank {
                let size = x.shape[axis + 2].ok_or("the input's spatial size is unknown")?;
                let extra = ceil_mode_extra(size, window.kernel[axis], window.strides[axis], window.pads[axis]);
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
        let name = Self::output_name(node)?.to_string();
        let pooled = self.emit_pool(&x, &window, count_pads, op, &name)?;
        self.bind(&name, Tensor { node: pooled, shape, layout: x.layout.clone(), merge: None });
        Ok(())
    }

    /// Emits the TF pools (`op`: the 2-D name) of the channels-last `x` over `window`, the
    /// last one named `name`. TF has VALID and SAME only, so ONNX pads become: no pads →
    /// VALID; SAME's pads → SAME (both exclude pads from averages); pads of SAME at stride 1 →
    /// SAME at stride 1, then a 1×…×1 max pool with the stride (subsampling picks the same
    /// windows); an average counting pads → zero `Pad` + VALID. Others are refused (a zero pad
    /// would be wrong for a max).
    fn emit_pool(
        &mut self,
        x: &Tensor,
        window: &Window,
        count_pads: bool,
        op: &str,
        name: &str,
    ) -> Result<String, OpError> {
        let rank = window.rank();
        let (kernel, strides, pads) = (&window.kernel, &window.strides, &window.pads);
        let sizes: Option<Vec<usize>> = x.shape[2..].iter().copied().collect();
        let is_same = sizes.is_some_and(|s| (0..rank).all(|a| pads[a] == same_pads(s[a], kernel[a], strides[a])));
        let stride1_same =
            (0..rank).all(|a| pads[a] == same_pads(1, kernel[a], 1) || kernel[a] == 1 && pads[a] == (0, 0));
        if window.unpadded() || count_pads {
            let padded = self.zero_pad(x, pads);
            Ok(self.pool_node(padded.node, op, kernel, strides, "VALID", name))
        } else if is_same {
            Ok(self.pool_node(x.node.clone(), op, kernel, strides, "SAME", name))
        } else if stride1_same {
            let ones = vec![1; rank];
            let pooled = self.pool_node(x.node.clone(), op, kernel, &ones, "SAME", &self.part("stride1"));
            Ok(self.pool_node(pooled, "MaxPool", &ones, strides, "VALID", name))
        } else {
            Err(unsupported!(
                "pads {pads:?} with kernel {kernel:?} and strides {strides:?} have no exact TF/Keras padding"
            ))
        }
    }

    /// One TF pool node named `name` (`op`: the 2-D name) of a channels-last `input` with 1
    /// to 3 spatial axes: 3-D as `MaxPool3D`/`AvgPool3D`, 1-D as TF writes Keras's 1-D pools
    /// (the 2-D pool of the (N, 1, W, C) `ExpandDims`, then a `Squeeze` of that axis), which
    /// the converter reads back as one layer.
    fn pool_node(
        &mut self,
        input: String,
        op: &str,
        kernel: &[usize],
        strides: &[usize],
        padding: &str,
        name: &str,
    ) -> String {
        let attrs = |kernel: &[usize], strides: &[usize], data_format: &str| -> Attrs {
            vec![
                ("T", float_type()),
                ("ksize", tf_window_attr(kernel)),
                ("strides", tf_window_attr(strides)),
                ("padding", string(padding)),
                ("data_format", string(data_format)),
            ]
        };
        match kernel.len() {
            1 => {
                let unit_axis = self.emit_ints(&format!("{name}/unit_axis"), &[1]);
                let expanded = self.emit(
                    &format!("{name}/expand"),
                    "ExpandDims",
                    vec![input, unit_axis],
                    vec![("T", float_type())],
                );
                let pooled = self.emit(
                    &format!("{name}/pool"),
                    op,
                    vec![expanded],
                    attrs(&[1, kernel[0]], &[1, strides[0]], "NHWC"),
                );
                let squeeze: Attrs = vec![("T", float_type()), ("squeeze_dims", int_list(&[1]))];
                self.emit(name, "Squeeze", vec![pooled], squeeze)
            }
            3 => self.emit(name, &format!("{op}3D"), vec![input], attrs(kernel, strides, "NDHWC")),
            _ => self.emit(name, op, vec![input], attrs(kernel, strides, "NHWC")),
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
        // tf2onnx writes a mean over the last axis of a sequence (a layer norm's moments) as a
        // global average pool of (N, T, C): reduced where it is held, as TF's own `Mean` was.
        // A max has no such pattern to join: it stays a channels-last global pool.
        let x = if op == "Mean" && rank == 3 && x.layout == identity(3) {
            x
        } else {
            self.held_as(&x, &channels_last_layout(rank), &self.part("channels_last"))?
        };
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

    /// A 1-D pool runs as TF's 2-D pool of a unit axis (Keras's 1-D pool), a 3-D one as TF's
    /// 3-D pool; pads of SAME at stride 1 become SAME then a strided 1×…×1 max pool.
    #[test]
    fn pools_of_every_rank() {
        let pool = |op: &str, attrs| vec![onnx_node(op, &["x"], "y", attrs)];
        let ops = translated_ops(&[-1, 2, 9], pool("MaxPool", vec![ints_attr("kernel_shape", &[3])]), vec![]).unwrap();
        assert_eq!(ops, ["Placeholder", "Transpose", "ExpandDims", "MaxPool", "Squeeze", "Transpose"]);
        let attrs =
            vec![ints_attr("kernel_shape", &[3, 3, 3]), ints_attr("strides", &[2, 2, 2]), ints_attr("pads", &[1; 6])];
        let ops = translated_ops(&[-1, 2, 6, 8, 8], pool("MaxPool", attrs), vec![]).unwrap();
        assert_eq!(ops, ["Placeholder", "Transpose", "MaxPool3D", "MaxPool3D", "Transpose"]);
        let ops = translated_ops(&[-1, 2, 6, 8, 8], pool("GlobalMaxPool", vec![]), vec![]).unwrap();
        assert!(ops.contains(&"Max".to_string()), "{ops:?}");
        // A sequence's global max pool is a channels-last GlobalMaxPooling1D (magika's), not a
        // max over its last axis in place, which no Keras layer computes.
        let ops = translated_ops(&[-1, 2, 9], pool("GlobalMaxPool", vec![]), vec![]).unwrap();
        assert_eq!(ops, ["Placeholder", "Transpose", "Max", "Transpose"]);
        let error = translated_ops(&[-1, 2, 9], pool("AveragePool", vec![ints_attr("kernel_shape", &[3, 3])]), vec![])
            .unwrap_err();
        assert!(error.contains("kernel_shape"), "{error}");
    }
}

//! Translating an ONNX model into a TensorFlow-style NHWC graph, so that ONNX models go
//! through the same converter, reference engine and verification as TensorFlow ones.
//!
//! This crate has one job: [`load`] decodes a `.onnx` file (the protobuf types tract-onnx
//! ships) and rewrites its graph as a frozen [`TfGraph`] of the TF ops `tf2h5-convert`
//! already maps to Keras layers. Nothing here builds Keras layers. ONNX is NCHW and Keras
//! is NHWC, so each tensor is carried in an axis order of its own (its *layout*): NCHW
//! activations are held NHWC, an ONNX `Transpose` only changes the recorded layout, and a TF
//! `Transpose` (Keras `Permute`) is emitted only where an op needs another order.
//! - `Conv` weights OIHW → HWIO constants; `group` = channels → `DepthwiseConv2dNative`;
//!   explicit pads → `Pad` + VALID.
//! - `Gemm` → `MatMul` (+ `BiasAdd`), `BatchNormalization` → `FusedBatchNormV3`,
//!   `Clip(0, 6)` → `Relu6`, `HardSigmoid`/`HardSwish` → the `AddV2`/`Relu6`/`Mul` arithmetic
//!   the converter recognises, `GlobalAveragePool` → `Mean` (keep_dims).
//! - Pools with pads become SAME, or SAME at stride 1 followed by a 1×1 subsampling pool,
//!   whichever reproduces the ONNX windows exactly; anything else is refused.
//! - `Flatten`/`Reshape`/`Squeeze`/`Unsqueeze` read elements in ONNX order: a tensor held
//!   NHWC is transposed back first unless only axes of size 1 are out of place, and a
//!   reshape that only moves axes of size 1 is a relabelling with no TF node.
//! - Shape arithmetic (`Shape`, `Gather`, `Concat`... feeding a `Reshape`, as PyTorch exports
//!   `x.view(x.size(0), -1)`) is folded with the batch kept symbolic.
//! - Channel axes, broadcast constants and pads follow each tensor's layout.
//! - The batch is always TF axis 0, wherever ONNX has it: a `Transpose` moving it (time-major
//!   sequences) only changes the layout, and a `Reshape` merging it with other axes
//!   (PyTorch's attention, (T, B·H, d)) is recorded as a merge whose factors the TF node
//!   holds as axes of their own (`translator::Merge`). Ops that need the batch first refuse
//!   such tensors by name; a graph output with a moved batch is given batch-first.
//! - `LSTM`/`GRU`/`RNN` become one `KerasRecurrent` node each (weights in Keras's gate order),
//!   the time-major views PyTorch writes around them no node at all (`ops/recurrent.rs`).
//! - Opsets 7 to 21: ops whose inputs or meaning changed between versions (axes as an
//!   attribute or an input, `Clip`/`Pad` attributes before 11, `Softmax` on the input
//!   coerced to 2-D before 13...) read the file's opset; see `ops`.
//!
//! By default the graph's 4-D inputs and outputs are NHWC (the Keras model takes NHWC data),
//! unless the ONNX file's inputs are channels-last already (tf2onnx keeps TF's NHWC inputs
//! and transposes them to NCHW before the first channel op): then, as with
//! [`Options::keep_nchw`], inputs and outputs keep the ONNX layout. Translated nodes are
//! named after the ONNX tensors they compute, and [`TfGraph::translation`] records, for each
//! of them, the ONNX tensor and the axis permutation between the two, which is what the
//! tract-onnx oracle in `tf2h5-verify` needs to compare every layer with the ONNX graph. An
//! op without a translation is an error naming the file, the node and the op.
//!
//! Flow: **onnx** (load) → `convert` → `keras`; `verify` runs the `.onnx` in tract-onnx.
//!
//! ```no_run
//! let path = std::path::Path::new("test-models/onnx_cnn/model.onnx");
//! let graph = tf2h5_onnx::load(path, &tf2h5_onnx::Options::default()).unwrap();
//! let translation = graph.translation.as_ref().unwrap();
//! println!("{} TF nodes; {}", graph.nodes().len(), translation.layout);
//! ```
#![warn(missing_docs)]

mod edges;
mod error;
mod ops;
mod proto;
mod shapes;
mod tensor;
#[cfg(test)]
mod testing;
mod translator;

pub use error::{ErrorKind, OnnxError, OpError};

use std::path::Path;

use prost::Message;
use tf2h5_tf::{FixedDim, TfError, TfGraph};
use translator::Failure;

/// The oldest default-domain opset translated: 7 brought numpy broadcasting to every
/// element-wise op (older files carry `broadcast` attributes) and is the oldest the
/// tract-onnx oracle has rules for throughout.
pub const MIN_OPSET: i64 = 7;
/// The newest default-domain opset translated: the newest tract-onnx 0.23 (the oracle) reads.
/// Ops whose meaning changed between versions read the file's opset (see `ops`).
pub const MAX_OPSET: i64 = 21;

/// How to translate an ONNX model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Keep the ONNX (NCHW) layout of 4-D inputs and outputs; the default is NHWC.
    pub keep_nchw: bool,
    /// Translate these inputs at these shapes (ONNX layout, batch first; the batch stays
    /// unknown): their unknown sizes become fixed. For graphs that compute sizes from an
    /// unknown dimension (a `Resize` to twice the input height) that no Keras layer keeps
    /// unknown; the `.h5` then takes only these sizes.
    pub fixed_shapes: Vec<(String, Vec<usize>)>,
    /// Shapes (ONNX layout, batch first) to fix inputs at when the translation needs the
    /// size of one of their unknown dimensions (the sizes verification runs at first: the
    /// `--input` data's, the first `--input-shape`); inputs without one are fixed at a size
    /// derived from the graph's strides. See [`load`].
    pub size_hints: Vec<(String, Vec<usize>)>,
}

/// Whether `path` names an ONNX model: a `.onnx` file, or a directory holding exactly one
/// `.onnx` file and no TensorFlow model (the `test-models/<case>/` layout).
pub fn is_onnx(path: &Path) -> bool {
    model_file(path).is_some()
}

/// The `.onnx` file `path` names (itself, or the single one in a directory).
fn model_file(path: &Path) -> Option<std::path::PathBuf> {
    let is_onnx_file = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    if !path.is_dir() {
        return is_onnx_file(path).then(|| path.to_path_buf());
    }
    let entries: Vec<_> = std::fs::read_dir(path).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let tf_model =
        entries.iter().any(|p| p.extension().is_some_and(|e| e == "pb") || p.join("saved_model.pb").is_file());
    let onnx: Vec<_> = entries.into_iter().filter(|p| p.is_file() && is_onnx_file(p)).collect();
    (onnx.len() == 1 && !tf_model).then(|| onnx[0].clone())
}

/// The ONNX ops (default domain) tf2h5 translates, sorted.
pub fn supported_ops() -> &'static [&'static str] {
    &ops::SUPPORTED_OPS
}

/// The ops of the ONNX model at `path` that have no translation, each with its first node
/// (for `tf2h5 inspect`, which lists them all in one pass).
pub fn unsupported_ops(path: &Path) -> Result<Vec<(String, String)>, TfError> {
    let (_, model) = decode(path)?;
    let mut seen = std::collections::HashSet::new();
    Ok(model
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .filter(|n| !(n.domain.is_empty() || n.domain == "ai.onnx") || !supported_ops().contains(&n.op_type.as_str()))
        .filter(|n| seen.insert((n.domain.clone(), n.op_type.clone())))
        .map(|n| (n.op_type.clone(), proto::node_label(n).to_string()))
        .collect())
}

/// The `.onnx` file `path` names and its decoded model.
fn decode(path: &Path) -> Result<(std::path::PathBuf, tract_onnx::pb::ModelProto), TfError> {
    let file = model_file(path).unwrap_or_else(|| path.to_path_buf());
    let format_error = |message: String| TfError::Format { path: file.clone(), message };
    let bytes = std::fs::read(&file).map_err(|e| TfError::Io { path: file.clone(), message: e.to_string() })?;
    if bytes.is_empty() {
        return Err(format_error("the file is empty".into()));
    }
    let model = tract_onnx::pb::ModelProto::decode(bytes.as_slice())
        .map_err(|e| format_error(format!("not an ONNX model (truncated or corrupt protobuf: {e})")))?;
    Ok((file, model))
}

/// Loads the ONNX model at `path` (a `.onnx` file or a directory holding one) as an NHWC
/// TensorFlow-style graph; see the crate docs.
///
/// Where the translation needs the size of an unknown input dimension (a `Resize` to twice
/// the height, a reshape computed from `Shape`), which no Keras layer keeps unknown, the
/// model is translated again with every unknown non-batch dimension of the inputs not fixed
/// by [`Options::fixed_shapes`] fixed: at its [`Options::size_hints`] size, else at the
/// smallest multiple of the graph's stride product from 4 up (what verification derives for
/// a graph). [`tf2h5_tf::Translation::fixed`] records each, and the first node that needed it.
pub fn load(path: &Path, options: &Options) -> Result<TfGraph, TfError> {
    match translate_file(path, options)? {
        Ok(graph) => Ok(graph),
        Err(Failure::Onnx(needed))
            if matches!(&*needed.kind, ErrorKind::Node { source: OpError::UnknownSize(_), .. }) =>
        {
            let (_, model) = decode(path)?;
            let fixed = sizes_to_fix(model.graph.as_ref(), options, &needed.kind.to_string());
            if fixed.is_empty() {
                return Err(needed.into());
            }
            let mut retry = options.clone();
            for (name, shape, _) in input_shapes(model.graph.as_ref()) {
                let mut sizes: Vec<usize> = shape.iter().map(|d| d.unwrap_or(1)).collect();
                let of_input = fixed.iter().filter(|dim| dim.input == name).map(|dim| (dim.axis, dim.size));
                of_input.clone().for_each(|(axis, size)| sizes[axis] = size);
                if of_input.count() > 0 {
                    retry.fixed_shapes.push((name.to_string(), sizes));
                }
            }
            let mut graph = translate_file(path, &retry)??;
            if let Some(translation) = graph.translation.as_mut() {
                translation.fixed = fixed;
            }
            Ok(graph)
        }
        Err(failure) => Err(failure.into()),
    }
}

/// The graph's inputs (initializers listed as inputs left out): their declared shapes, and
/// the axis of each holding the batch.
fn input_shapes(graph: Option<&tract_onnx::pb::GraphProto>) -> Vec<(&str, Vec<Option<usize>>, usize)> {
    let Some(graph) = graph else { return Vec::new() };
    let initializers: std::collections::HashSet<&str> = graph.initializer.iter().map(|i| i.name.as_str()).collect();
    graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .filter_map(|input| {
            // An input whose batch axis is ambiguous is refused by the translation itself.
            let batch = edges::batch_axis(graph, input).unwrap_or(0);
            edges::input_shape(input).ok().map(|shape| (input.name.as_str(), shape, batch))
        })
        .collect()
}

/// Every unknown non-batch dimension of the inputs `options` does not fix, with the size to
/// fix it at (see [`load`]) and `reason`.
fn sizes_to_fix(graph: Option<&tract_onnx::pb::GraphProto>, options: &Options, reason: &str) -> Vec<FixedDim> {
    let derived = graph.map_or(MIN_DERIVED_SIZE, |g| {
        let stride = stride_product(g);
        MIN_DERIVED_SIZE.div_ceil(stride) * stride
    });
    let mut fixed = Vec::new();
    for (name, shape, batch) in input_shapes(graph) {
        let given = options.fixed_shapes.iter().find(|(n, _)| n == name).map(|(_, s)| s.as_slice());
        let hint =
            options.size_hints.iter().find(|(n, _)| n == name).map(|(_, s)| s).filter(|s| s.len() == shape.len());
        let unknown = |axis: &usize| *axis != batch && shape[*axis].is_none() && given.is_none();
        for axis in (0..shape.len()).filter(unknown) {
            let size = hint.map_or(derived, |h| h[axis]);
            fixed.push(FixedDim { input: name.to_string(), axis, size, reason: reason.to_string() });
        }
    }
    fixed
}

/// Smallest size derived for an unknown dimension (as verification derives them: smaller
/// ones hide layout errors).
const MIN_DERIVED_SIZE: usize = 4;
/// Bound on the stride product (as verification bounds it).
const MAX_STRIDE_PRODUCT: usize = 64;

/// The product of the largest stride of every convolution and pool, bounded: sizes it divides
/// keep every feature map whole on the way down.
fn stride_product(graph: &tract_onnx::pb::GraphProto) -> usize {
    let windowed = graph.node.iter().filter(|n| matches!(n.op_type.as_str(), "Conv" | "MaxPool" | "AveragePool"));
    windowed.fold(1usize, |product, node| {
        let strides = proto::attr_ints(node, "strides").ok().flatten().unwrap_or_default();
        let step = strides.iter().copied().max().unwrap_or(1).clamp(1, MAX_STRIDE_PRODUCT as i64) as usize;
        product.saturating_mul(step).min(MAX_STRIDE_PRODUCT)
    })
}

/// Decodes and translates the model at `path`: the outer error if it cannot be read, the
/// inner one if it does not translate.
fn translate_file(path: &Path, options: &Options) -> Result<Result<TfGraph, Failure>, TfError> {
    let (file, mut model) = decode(path)?;
    let located = |kind: ErrorKind| OnnxError::new(file.clone(), kind);
    let graph = model
        .graph
        .take()
        .filter(|g| !g.node.is_empty())
        .ok_or_else(|| located(ErrorKind::Format("not an ONNX model: it has no graph nodes".into())))?;
    let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version);
    let opset = match opset {
        Some(v) if (MIN_OPSET..=MAX_OPSET).contains(&v) => v,
        Some(opset) => return Err(located(ErrorKind::Opset { opset, min: MIN_OPSET, max: MAX_OPSET }).into()),
        None => return Err(located(ErrorKind::Format("the model imports no ONNX opset".into())).into()),
    };
    Ok(translator::translate(&file, graph, opset, options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{int_attr, ints_attr, onnx_node, value_info};

    /// Unknown sizes are fixed at the hint's size, else at the stride product's smallest
    /// multiple from 4 up; inputs the options fix already are left alone.
    #[test]
    fn unknown_sizes_are_fixed_at_hints_or_stride_multiples() {
        let strided = |stride: i64| onnx_node("Conv", &["x", "w"], "c", vec![ints_attr("strides", &[stride, stride])]);
        let graph = tract_onnx::pb::GraphProto {
            node: vec![strided(2), strided(4), onnx_node("MaxPool", &["c"], "p", vec![int_attr("ceil_mode", 0)])],
            input: vec![value_info("x", &[-1, 3, -1, -1]), value_info("t", &[-1, -1, 4])],
            ..Default::default()
        };
        assert_eq!(stride_product(&graph), 8);
        let options = Options { size_hints: vec![("t".into(), vec![1, 19, 4])], ..Default::default() };
        let fixed = sizes_to_fix(Some(&graph), &options, "why");
        let sizes: Vec<(&str, usize, usize)> = fixed.iter().map(|d| (d.input.as_str(), d.axis, d.size)).collect();
        assert_eq!(sizes, [("x", 2, 8), ("x", 3, 8), ("t", 1, 19)]);
        let options = Options { fixed_shapes: vec![("x".into(), vec![1, 3, 32, 32])], ..Default::default() };
        assert_eq!(sizes_to_fix(Some(&graph), &options, "why").len(), 1);
    }
}

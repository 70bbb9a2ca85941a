//! A [`TfGraph`](crate::TfGraph) translated from another format (ONNX): how its nodes relate
//! to the source model's tensors, so the source can be run as the oracle and compared.

use std::collections::HashMap;
use std::path::PathBuf;

/// Where a translated graph came from and how its nodes map back.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// The source format (`ONNX`).
    pub format: String,
    /// The source model file.
    pub source: PathBuf,
    /// Nodes in the source model's graph (the translated graph usually has more).
    pub source_nodes: usize,
    /// The batch size the source's inputs fix, if any (ONNX files often fix it at 1). The
    /// translated graph leaves the batch free, but the source may depend on that size (a
    /// `Reshape` to `[1, -1, 10]` folds a larger batch into one row), so verification runs
    /// the source at exactly that batch size.
    pub fixed_batch: Option<usize>,
    /// One sentence on the layout the translated graph's inputs and outputs use.
    pub layout: String,
    /// Each graph output's axes in the translated graph (and the `.h5`), as ONNX axes: output
    /// `name` is the ONNX tensor transposed by `axes` (NHWC, or its batch moved first).
    pub output_axes: Vec<(String, Vec<usize>)>,
    /// For translated nodes that reproduce a source tensor: node name → that tensor.
    pub tensors: HashMap<String, SourceTensor>,
    /// Unknown input dimensions the translation fixed because an op needs their size.
    pub fixed: Vec<FixedDim>,
}

/// An unknown dimension of a source input, fixed at translation because an op needs its size
/// (a `Resize` to twice the height, shape arithmetic): the translated graph, and the `.h5`,
/// take only that size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedDim {
    /// The source input's name.
    pub input: String,
    /// The axis, in the source's layout (batch = 0).
    pub axis: usize,
    /// The size it is fixed at.
    pub size: usize,
    /// What needs the size (the first node the translation stopped at without it).
    pub reason: String,
}

/// A tensor of the source model and how a translated node's value relates to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTensor {
    /// The tensor's name in the source model.
    pub name: String,
    /// The node's value is the source tensor with its axes permuted by this
    /// (`[0, 2, 3, 1]`: NCHW source, NHWC node); `None` when they are equal.
    pub permutation: Option<Vec<usize>>,
}

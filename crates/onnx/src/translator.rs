//! The translation machinery: the [`Translator`] walks the ONNX nodes in file (topological)
//! order and hands each to its op's function in [`crate::ops`], which rewrites it as TF
//! nodes. Here live what every op shares: the [`Value`] an ONNX tensor is bound to (its
//! layout bookkeeping, [`Tensor`], is in [`crate::tensor`]), emitting TF nodes and constants,
//! and the graph's inputs and outputs.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use tf2h5_tf::pb;
use tf2h5_tf::{Dims, SourceTensor, TfError, TfGraph, Translation};
use tract_onnx::pb::{GraphProto, NodeProto};

use crate::error::{unsupported, ErrorKind, OnnxError, OpError};
use crate::ops::recurrent::Recurrent;
use crate::ops::Registry;
use crate::proto::{self, Const};
use crate::shapes;
pub(crate) use crate::tensor::{batch_first, identity, keeps_order, unit_axis_move, Merge, Tensor};
use crate::Options;

/// NCHW → NHWC.
pub(crate) const TO_NHWC: [usize; 4] = [0, 2, 3, 1];

/// An ONNX tensor during translation.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Tensor(Tensor),
    /// Shared: a weight read by several nodes is not copied.
    Const(Rc<Const>),
    /// Shape arithmetic that involves the batch size (see [`crate::shapes`]).
    Dims(Dims),
    /// A step of an embedding lookup written as a one-hot product, which has no TF node of
    /// its own and only the next step reads (see [`crate::ops::lookup`]).
    Pending(Rc<Pending>),
}

/// The steps of magika's one-hot embedding, `Expand` → `Equal` against a constant range →
/// `Cast` to float → `MatMul` by a table: an exact `Embedding` of the ids, emitted at the
/// `MatMul` (see [`crate::ops::lookup`]).
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    /// An integer tensor broadcast to `shape` (an `Expand`), read only by `Equal`.
    Expanded { ids: Tensor, shape: Vec<Option<usize>> },
    /// `ids == classes` along a new last axis: the one-hot of `ids` (bool, or float once cast).
    OneHot { ids: Tensor, classes: Vec<i64>, float: bool },
}

impl Pending {
    /// What the value is, for errors naming an op that cannot read it.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Pending::Expanded { .. } => "an integer tensor broadcast by Expand (read only by an Equal one-hot)",
            Pending::OneHot { float: false, .. } => "a one-hot comparison (read only by a Cast to float)",
            Pending::OneHot { float: true, .. } => {
                "a one-hot of integer ids (read only by a MatMul by a constant table)"
            }
        }
    }
}

pub(crate) type Attrs = Vec<(&'static str, pb::attr_value::Value)>;

pub(crate) struct Translator {
    pub(crate) file: PathBuf,
    /// The default-domain opset the file imports: ops whose inputs or meaning changed between
    /// versions read it.
    pub(crate) opset: i64,
    registry: &'static Registry,
    nodes: Vec<pb::NodeDef>,
    used: HashSet<String>,
    pub(crate) values: HashMap<String, Value>,
    sources: HashMap<String, SourceTensor>,
    /// The first output of the ONNX node being translated (for names of its TF nodes).
    current: Option<String>,
    /// TF `Transpose` nodes already emitted, by (TF node, layout), so a tensor read in another
    /// layout by several ops is transposed once.
    transposes: HashMap<(String, Vec<usize>), String>,
    /// A 4-D graph input is channels-last in the ONNX file (see [`reads_channels_last`]); 4-D
    /// inputs and outputs then keep the ONNX layout.
    pub(crate) channels_last_inputs: bool,
    /// The batch size an input of the file fixes (see [`Translation::fixed_batch`]).
    pub(crate) fixed_batch: Option<usize>,
    /// TF nodes whose first axis merges the batch with others (tf2onnx's `tensordot`
    /// reshapes (batch, h, w, c) to (batch·h·w, c) around a `MatMul`): rows per sample.
    pub(crate) rows: HashMap<String, usize>,
    /// ONNX `Sub` outputs of two tensors, and `Sqrt` outputs, by ONNX name: the operands, so
    /// that `Mul(d, d)` becomes `SquaredDifference` and `Reciprocal(Sqrt(v))` `Rsqrt`, the forms
    /// the converter's normalisation patterns read (tf2onnx writes TF's that way).
    pub(crate) differences: HashMap<String, (Tensor, Tensor)>,
    pub(crate) square_roots: HashMap<String, Tensor>,
    /// Time-major tensors around LSTM/GRU/RNN nodes, which have no TF node
    /// ([`crate::ops::recurrent`]).
    pub(crate) recurrent: Recurrent,
    /// TF nodes holding integers or booleans (ids from an integer input), by type: only
    /// reshapes, shapes and embedding lookups read them ([`Translator::tensor`] refuses them).
    pub(crate) integers: HashMap<String, pb::DataType>,
    /// Integer TF nodes computed by a reshape, with the tensor reshaped: a one-hot reads the
    /// ids from before an `Unsqueeze` ([`crate::ops::lookup`]).
    pub(crate) reshaped_ids: HashMap<String, Tensor>,
    /// Each graph input's and output's ONNX axes in the order the translated graph holds them.
    pub(crate) input_axes: Vec<(String, Vec<usize>)>,
    pub(crate) output_axes: Vec<(String, Vec<usize>)>,
}

/// Why a translation failed: at a place in the ONNX file, or building the translated graph.
#[derive(Debug)]
pub(crate) enum Failure {
    Onnx(OnnxError),
    Graph(TfError),
}

impl From<OnnxError> for Failure {
    fn from(error: OnnxError) -> Self {
        Failure::Onnx(error)
    }
}

impl From<TfError> for Failure {
    fn from(error: TfError) -> Self {
        Failure::Graph(error)
    }
}

impl From<Failure> for TfError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Onnx(error) => error.into(),
            Failure::Graph(error) => error,
        }
    }
}

/// Translates `graph`, consuming its initializers as they are decoded (each weight's protobuf
/// bytes are freed once it is an array).
pub(crate) fn translate(file: &Path, mut graph: GraphProto, opset: i64, options: &Options) -> Result<TfGraph, Failure> {
    let graph_initializers = std::mem::take(&mut graph.initializer);
    let graph = &graph;
    let mut t = Translator::new(file, opset);
    let located = |kind: ErrorKind| OnnxError::new(file, kind);
    for init in graph_initializers {
        let value = proto::tensor(&init).map_err(|e| located(ErrorKind::Initializer(e)))?;
        t.values.insert(init.name, Value::Const(Rc::new(value)));
    }
    // Old files list initializers among the inputs too.
    let graph_inputs: Vec<_> = graph.input.iter().filter(|input| !t.values.contains_key(&input.name)).collect();
    if let Some((name, _)) = options.fixed_shapes.iter().find(|(name, _)| !graph_inputs.iter().any(|i| &i.name == name))
    {
        return Err(located(ErrorKind::Format(format!(
            "a shape is fixed for '{name}', which is not an input of the model"
        )))
        .into());
    }
    // Control flow is the model's blocker, whatever else its inputs need (silero-vad's `If`
    // on a scalar `sr` input): refused first, by name.
    if let Some((node, refusal)) = graph.node.iter().find_map(|n| crate::ops::control_flow(n).map(|r| (n, r))) {
        let op = node.op_type.clone();
        return Err(located(ErrorKind::Node { node: proto::node_label(node).to_string(), op, source: refusal }).into());
    }
    let mut inputs = Vec::new();
    for input in graph_inputs {
        inputs.push(t.input(graph, input, options)?);
    }
    for node in &graph.node {
        t.node(node).map_err(|source| {
            located(ErrorKind::Node { node: proto::node_label(node).to_string(), op: node.op_type.clone(), source })
        })?;
    }
    t.current = None;
    let mut outputs = Vec::new();
    for output in &graph.output {
        outputs.push(t.output(&output.name, options)?);
    }
    let mut layout = crate::edges::layout_sentence(&inputs, &outputs, options, t.channels_last_inputs);
    // Edges whose batch is not ONNX axis 0 are the ones given batch-first (axis 0 holds it).
    layout += &crate::edges::moved_batch_sentence("inputs", &t.input_axes);
    layout += &crate::edges::moved_batch_sentence("outputs", &t.output_axes);
    let tf_graph = pb::GraphDef { node: std::mem::take(&mut t.nodes), ..Default::default() };
    let mut result = TfGraph::new(file.to_path_buf(), tf_graph)?;
    let tensor = |key: &(String, usize)| tf2h5_tf::SignatureTensor {
        key: key.0.clone(),
        tensor: key.0.clone(),
        dtype: t.integers.get(&key.0).copied().unwrap_or(pb::DataType::DtFloat),
        shape: None,
    };
    // The ONNX graph's inputs and outputs, in its order (what `default_outputs` reports).
    result.signature = Some(tf2h5_tf::SignatureInfo {
        name: "onnx".into(),
        method_name: "onnx graph".into(),
        inputs: inputs.iter().map(tensor).collect(),
        outputs: outputs.iter().map(tensor).collect(),
    });
    result.translation = Some(Translation {
        format: "ONNX".into(),
        source: file.to_path_buf(),
        source_nodes: graph.node.len(),
        fixed_batch: t.fixed_batch,
        layout,
        output_axes: std::mem::take(&mut t.output_axes),
        tensors: t.sources,
        fixed: Vec::new(),
    });
    Ok(result)
}

/// ONNX axes (negative counts from the end) as axes of a rank-`rank` tensor, in order.
pub(crate) fn resolve_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>, OpError> {
    axes.iter()
        .map(|&a| {
            usize::try_from(if a < 0 { a + rank as i64 } else { a })
                .ok()
                .filter(|&a| a < rank)
                .ok_or_else(|| unsupported!("axis {a} out of range"))
        })
        .collect()
}

/// The elements of `values` in logical order as little-endian bytes (TF's `tensor_content`).
fn little_endian<T: Copy, const N: usize>(values: ArrayViewD<T>, bytes: fn(T) -> [u8; N]) -> Vec<u8> {
    /// Side of the tiles a transposed matrix is copied in, so reads and writes stay in cache.
    const TILE: usize = 64;
    let mut content = Vec::with_capacity(values.len() * N);
    if let Some(slice) = values.as_slice() {
        slice.iter().for_each(|&value| content.extend_from_slice(&bytes(value)));
        return content;
    }
    // A transposed matrix (Gemm's transB: VGG16's 25088 × 4096 fc6): element by element, every
    // read would miss the cache.
    if let Ok(matrix) = values.view().into_dimensionality::<ndarray::Ix2>() {
        let (rows, cols) = matrix.dim();
        content.resize(values.len() * N, 0);
        for row_tile in (0..rows).step_by(TILE) {
            for col_tile in (0..cols).step_by(TILE) {
                for row in row_tile..(row_tile + TILE).min(rows) {
                    for col in col_tile..(col_tile + TILE).min(cols) {
                        let at = (row * cols + col) * N;
                        content[at..at + N].copy_from_slice(&bytes(matrix[[row, col]]));
                    }
                }
            }
        }
        return content;
    }
    values.iter().for_each(|&value| content.extend_from_slice(&bytes(value)));
    content
}

/// ONNX `(begin_0, begin_1, ..., end_0, end_1, ...)` as (begin, end) pairs, one per axis.
pub(crate) fn pairs(pads: &[i64]) -> Vec<(i64, i64)> {
    let half = pads.len() / 2;
    (0..half).map(|i| (pads[i], pads[half + i])).collect()
}

pub(crate) fn permuted<T: Copy>(values: &[T], perm: &[usize]) -> Vec<T> {
    perm.iter().map(|&p| values[p]).collect()
}

pub(crate) fn int_list(values: &[i64]) -> pb::attr_value::Value {
    pb::attr_value::Value::List(pb::attr_value::ListValue { i: values.to_vec(), ..Default::default() })
}

pub(crate) fn string(value: &str) -> pb::attr_value::Value {
    pb::attr_value::Value::S(value.as_bytes().to_vec())
}

pub(crate) fn float_type() -> pb::attr_value::Value {
    pb::attr_value::Value::Type(pb::DataType::DtFloat as i32)
}

pub(crate) fn tf_shape(dims: &[Option<usize>]) -> pb::TensorShapeProto {
    pb::TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| pb::tensor_shape_proto::Dim { size: d.map_or(-1, |d| d as i64), name: String::new() })
            .collect(),
        unknown_rank: false,
    }
}

impl Translator {
    pub(crate) fn new(file: &Path, opset: i64) -> Self {
        Translator {
            file: file.to_path_buf(),
            opset,
            registry: &crate::ops::REGISTRY,
            nodes: Vec::new(),
            used: HashSet::new(),
            values: HashMap::new(),
            sources: HashMap::new(),
            current: None,
            transposes: HashMap::new(),
            channels_last_inputs: false,
            fixed_batch: None,
            rows: HashMap::new(),
            differences: HashMap::new(),
            square_roots: HashMap::new(),
            recurrent: Recurrent::default(),
            integers: HashMap::new(),
            reshaped_ids: HashMap::new(),
            input_axes: Vec::new(),
            output_axes: Vec::new(),
        }
    }

    pub(crate) fn fresh(&mut self, wanted: &str) -> String {
        // `name:k` and `^name` mean other things in a GraphDef input list.
        let base: String = wanted.trim_start_matches('^').replace(':', "_");
        let base = if base.is_empty() { "onnx".to_string() } else { base };
        tf2h5_tf::unique_name(&mut self.used, &base)
    }

    pub(crate) fn emit(&mut self, wanted: &str, op: &str, inputs: Vec<String>, attrs: Attrs) -> String {
        let name = self.fresh(wanted);
        let attr = attrs.into_iter().map(|(k, v)| (k.to_string(), pb::AttrValue { value: Some(v) })).collect();
        self.nodes.push(pb::NodeDef { name: name.clone(), op: op.into(), input: inputs, attr, ..Default::default() });
        name
    }

    pub(crate) fn emit_const(&mut self, wanted: &str, value: &Const) -> String {
        match value {
            Const::F32(a) => self.emit_f32(wanted, a.view(), a.shape()),
            Const::Int(a) => {
                self.emit_tensor(wanted, pb::DataType::DtInt64, a.shape(), little_endian(a.view(), i64::to_le_bytes))
            }
        }
    }

    /// A float32 `Const` holding `value`'s elements in logical (row-major) order, declared
    /// with `shape` (same size): a permuted weight is written without an intermediate copy.
    pub(crate) fn emit_f32(&mut self, wanted: &str, value: ArrayViewD<f32>, shape: &[usize]) -> String {
        self.emit_tensor(wanted, pb::DataType::DtFloat, shape, little_endian(value, f32::to_le_bytes))
    }

    pub(crate) fn emit_tensor(
        &mut self,
        wanted: &str,
        dtype: pb::DataType,
        shape: &[usize],
        content: Vec<u8>,
    ) -> String {
        let tensor = pb::TensorProto {
            dtype: dtype as i32,
            tensor_shape: Some(tf_shape(&shape.iter().map(|&d| Some(d)).collect::<Vec<_>>())),
            tensor_content: content,
            ..Default::default()
        };
        let attrs: Attrs = vec![
            ("dtype", pb::attr_value::Value::Type(dtype as i32)),
            ("value", pb::attr_value::Value::Tensor(tensor)),
        ];
        self.emit(wanted, "Const", vec![], attrs)
    }

    pub(crate) fn emit_ints(&mut self, wanted: &str, values: &[i64]) -> String {
        let array = ArrayD::from_shape_vec(IxDyn(&[values.len()]), values.to_vec())
            .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])));
        self.emit_const(wanted, &Const::Int(array))
    }

    /// The target of a reshape to `shape` (ONNX dims, batch first) whose unknown non-batch
    /// dimensions are those of `like` (held in the ONNX layout) on the same axes: a constant
    /// when every size is known, else TF shape arithmetic on `Shape(like)`, which the
    /// converter folds at the sizes it converts at.
    pub(crate) fn reshape_target(&mut self, like: &Tensor, shape: &[Option<usize>]) -> Result<String, OpError> {
        let known = |d: &Option<usize>| d.map_or(-1, |d| d as i64);
        if shape[1..].iter().all(Option::is_some) {
            let target: Vec<i64> = std::iter::once(-1).chain(shape[1..].iter().map(known)).collect();
            return Ok(self.emit_ints(&self.part("shape"), &target));
        }
        if like.rank() != shape.len() || like.layout != identity(like.rank()) {
            return Err(OpError::UnknownSize(format!(
                "a reshape to {shape:?} of unknown sizes not taken from {:?}",
                like.shape
            )));
        }
        let int32 = || pb::attr_value::Value::Type(pb::DataType::DtInt32 as i32);
        let sizes = self.emit(&self.part("shape/of"), "Shape", vec![like.node.clone()], vec![("out_type", int32())]);
        let mut dims = vec![self.emit_const(&self.part("shape/batch"), &Const::Int(ArrayD::from_elem(IxDyn(&[]), -1)))];
        for (axis, &d) in shape.iter().enumerate().skip(1) {
            dims.push(match d {
                Some(d) => {
                    self.emit_const(&self.part("shape/dim"), &Const::Int(ArrayD::from_elem(IxDyn(&[]), d as i64)))
                }
                None => {
                    let bounds =
                        [axis as i64, axis as i64 + 1, 1].map(|b| self.emit_ints(&self.part("shape/bound"), &[b]));
                    let attrs: Attrs =
                        vec![("T", int32()), ("Index", int32()), ("shrink_axis_mask", pb::attr_value::Value::I(1))];
                    let inputs = std::iter::once(sizes.clone()).chain(bounds).collect();
                    self.emit(&self.part("shape/dim"), "StridedSlice", inputs, attrs)
                }
            });
        }
        let attrs: Attrs = vec![
            ("T", int32()),
            ("N", pb::attr_value::Value::I(dims.len() as i64)),
            ("axis", pb::attr_value::Value::I(0)),
        ];
        Ok(self.emit(&self.part("shape"), "Pack", dims, attrs))
    }

    /// The TF type attribute of `x`'s elements (float32 unless it holds ids).
    pub(crate) fn type_of(&self, x: &Tensor) -> pb::attr_value::Value {
        pb::attr_value::Value::Type(self.integers.get(&x.node).copied().unwrap_or(pb::DataType::DtFloat) as i32)
    }

    pub(crate) fn emit_scalar(&mut self, wanted: &str, value: f32) -> String {
        self.emit_const(wanted, &Const::F32(ArrayD::from_elem(IxDyn(&[]), value)))
    }

    /// `x` held in `layout`: itself, or a TF `Transpose` of it (emitted once per tensor and
    /// layout), recorded as computing `x`'s source tensor.
    pub(crate) fn held_as(&mut self, x: &Tensor, layout: &[usize], wanted: &str) -> Result<Tensor, OpError> {
        if x.layout == layout {
            return Ok(x.clone());
        }
        if layout.len() != x.layout.len() || layout.first() != x.layout.first() {
            return Err(unsupported!("cannot hold a tensor of shape {:?} in layout {layout:?}", x.shape));
        }
        // TF axis j of the result is TF axis perm[j] of x.
        let perm: Vec<usize> = layout.iter().map(|a| x.layout.iter().position(|b| b == a).unwrap_or(0)).collect();
        let key = (x.node.clone(), layout.to_vec());
        let node = match self.transposes.get(&key) {
            Some(node) => node.clone(),
            None => {
                let perm_node =
                    self.emit_ints(&format!("{wanted}/perm"), &perm.iter().map(|&p| p as i64).collect::<Vec<_>>());
                let node = self.emit(wanted, "Transpose", vec![x.node.clone(), perm_node], vec![]);
                if let Some(source) = self.sources.get(&x.node).cloned() {
                    let base = source.permutation.unwrap_or_else(|| identity(perm.len()));
                    let composed: Vec<usize> = perm.iter().map(|&p| base[p]).collect();
                    let permutation = (composed != identity(perm.len())).then_some(composed);
                    self.sources.insert(node.clone(), SourceTensor { name: source.name, permutation });
                }
                self.transposes.insert(key, node.clone());
                if let Some(&dtype) = self.integers.get(&x.node) {
                    self.integers.insert(node.clone(), dtype);
                }
                node
            }
        };
        Ok(Tensor { node, shape: x.shape.clone(), layout: layout.to_vec(), merge: x.merge.clone() })
    }

    /// `x` held in the ONNX layout (its last TF axis is its last ONNX axis, its elements in
    /// ONNX order), but for the batch, which is held first wherever ONNX has it.
    pub(crate) fn in_onnx_layout(&mut self, x: &Tensor) -> Result<Tensor, OpError> {
        self.held_as(x, &batch_first(x.layout.len(), x.layout[0]), &self.part("to_onnx_layout"))
    }

    /// `x` as a 4-D NCHW tensor held NHWC, for the ops that work on channels.
    pub(crate) fn nhwc(&mut self, x: &Tensor) -> Result<Tensor, OpError> {
        if x.rank() != 4 {
            return Err(unsupported!("expected a 4-D NCHW tensor, got shape {:?}", x.shape));
        }
        self.held_as(x, &TO_NHWC, &self.part("to_nhwc"))
    }

    pub(crate) fn value(&self, node: &NodeProto, index: usize) -> Result<&Value, OpError> {
        let input_error = |message: String| OpError::Input { index, message };
        let name = node.input.get(index).filter(|n| !n.is_empty()).ok_or_else(|| input_error("is missing".into()))?;
        self.values.get(name).ok_or_else(|| input_error(format!("'{name}' is not computed before this node")))
    }

    /// Input `index` as a float tensor computed from the graph's inputs, with the batch on
    /// ONNX axis 0 (what most ops assume; those that follow a moved batch read
    /// [`tensor_anywhere`](Self::tensor_anywhere)).
    pub(crate) fn tensor(&self, node: &NodeProto, index: usize) -> Result<Tensor, OpError> {
        Self::batch_on_axis_0(self.tensor_anywhere(node, index)?, index)
    }

    /// Input `index` as a float or integer tensor with the batch on ONNX axis 0 (see
    /// [`any_tensor_anywhere`](Self::any_tensor_anywhere)).
    pub(crate) fn any_tensor(&self, node: &NodeProto, index: usize) -> Result<Tensor, OpError> {
        Self::batch_on_axis_0(self.any_tensor_anywhere(node, index)?, index)
    }

    pub(crate) fn batch_on_axis_0(tensor: Tensor, index: usize) -> Result<Tensor, OpError> {
        let tensor = Self::unmerged(tensor, index)?;
        match tensor.batch_axis() {
            0 => Ok(tensor),
            axis => Err(OpError::Input {
                index,
                message: format!(
                    "has the batch on axis {axis} of {:?} (moved there by a Transpose or Reshape); this op reads \
                     tensors only with the batch first",
                    tensor.shape
                ),
            }),
        }
    }

    /// Input `index` as a float tensor computed from the graph's inputs, its batch on any axis
    /// but not merged with others.
    pub(crate) fn tensor_anywhere(&self, node: &NodeProto, index: usize) -> Result<Tensor, OpError> {
        Self::unmerged(self.tensor_merged(node, index)?, index)
    }

    /// `tensor` (input `index`) unless its batch is merged with other axes.
    pub(crate) fn unmerged(tensor: Tensor, index: usize) -> Result<Tensor, OpError> {
        match &tensor.merge {
            None => Ok(tensor),
            Some(m) => Err(OpError::Input {
                index,
                message: format!(
                    "has the batch merged with other axes into axis {} of {:?} (by a Reshape); this op reads \
                     tensors only with the batch an axis of its own",
                    m.axis, tensor.shape
                ),
            }),
        }
    }

    /// Input `index` as a float tensor, its batch on any axis and possibly merged with others.
    pub(crate) fn tensor_merged(&self, node: &NodeProto, index: usize) -> Result<Tensor, OpError> {
        let tensor = self.any_tensor_anywhere(node, index)?;
        match self.integers.get(&tensor.node) {
            None => Ok(tensor),
            Some(dtype) => Err(OpError::Input {
                index,
                message: format!(
                    "holds {} ids: only reshapes and embedding lookups (Gather from a constant table, or Equal \
                     against a constant range, Cast and MatMul) read integer tensors",
                    tf2h5_tf::dtype_name(*dtype as i32)
                ),
            }),
        }
    }

    /// Input `index` as a tensor computed from the graph's inputs, float or integer (for ops
    /// that only move values: reshapes, `Shape`), its batch on any axis.
    pub(crate) fn any_tensor_anywhere(&self, node: &NodeProto, index: usize) -> Result<Tensor, OpError> {
        match self.value(node, index)? {
            Value::Tensor(t) => Ok(t.clone()),
            Value::Pending(p) => Err(OpError::Input { index, message: format!("is {}", p.describe()) }),
            Value::Const(_) => Err(OpError::Input {
                index,
                message: "is a constant; only tensors computed from the inputs are supported here".into(),
            }),
            Value::Dims(_) => Err(OpError::Input {
                index,
                message: "is computed from a shape; only tensors computed from the inputs are supported here".into(),
            }),
        }
    }

    pub(crate) fn constant(&self, node: &NodeProto, index: usize) -> Result<Option<Rc<Const>>, OpError> {
        match node.input.get(index).filter(|n| !n.is_empty()) {
            None => Ok(None),
            Some(_) => match self.value(node, index)? {
                Value::Const(c) => Ok(Some(c.clone())),
                Value::Tensor(_) => Err(OpError::Input {
                    index,
                    message: "must be a constant (an initializer or a Constant node)".into(),
                }),
                Value::Dims(_) => Err(OpError::Input {
                    index,
                    message: "must be a constant, but it depends on the batch size".into(),
                }),
                Value::Pending(p) => {
                    Err(OpError::Input { index, message: format!("must be a constant, but it is {}", p.describe()) })
                }
            },
        }
    }

    /// Input `index` as shape values (folded shape arithmetic or an integer constant).
    pub(crate) fn dims(&self, node: &NodeProto, index: usize) -> Result<Dims, OpError> {
        match self.value(node, index)? {
            Value::Dims(dims) => Ok(dims.clone()),
            Value::Const(c) => shapes::from_const(c)
                .ok_or_else(|| OpError::Input { index, message: "must be an integer scalar or vector".into() }),
            Value::Tensor(_) | Value::Pending(_) => Err(OpError::Input {
                index,
                message: "is a tensor; only shape arithmetic on constants and shapes is supported here".into(),
            }),
        }
    }

    /// Whether input `index` is a tensor computed from the graph's inputs.
    pub(crate) fn is_tensor(&self, node: &NodeProto, index: usize) -> bool {
        matches!(self.value(node, index), Ok(Value::Tensor(_)))
    }

    /// Binds a folded shape computation: a constant when it does not involve the batch.
    pub(crate) fn bind_dims(&mut self, node: &NodeProto, dims: Dims) -> Result<(), OpError> {
        let value = shapes::to_const(&dims).map_or(Value::Dims(dims), |c| Value::Const(Rc::new(c)));
        self.values.insert(Self::output_name(node)?.to_string(), value);
        Ok(())
    }

    /// The tensor `node`'s output 0 is bound to, once translated.
    pub(crate) fn output_tensor(&self, node: &NodeProto) -> Result<Tensor, OpError> {
        match self.values.get(Self::output_name(node)?) {
            Some(Value::Tensor(t)) => Ok(t.clone()),
            _ => Err("the node's output is not a tensor".into()),
        }
    }

    pub(crate) fn output_name(node: &NodeProto) -> Result<&str, OpError> {
        node.output.first().map(String::as_str).filter(|n| !n.is_empty()).ok_or_else(|| "the node has no output".into())
    }

    /// Emits the TF node that computes the ONNX node's output 0, named after that output.
    pub(crate) fn emit_output(
        &mut self,
        node: &NodeProto,
        op: &str,
        inputs: Vec<String>,
        attrs: Attrs,
        shape: Vec<Option<usize>>,
        layout: Vec<usize>,
    ) -> Result<(), OpError> {
        let like = Tensor { node: String::new(), shape, layout, merge: None };
        self.emit_output_as(node, op, inputs, attrs, &like)
    }

    /// [`emit_output`](Self::emit_output) of a tensor shaped, held and merged like `like`.
    pub(crate) fn emit_output_as(
        &mut self,
        node: &NodeProto,
        op: &str,
        inputs: Vec<String>,
        attrs: Attrs,
        like: &Tensor,
    ) -> Result<(), OpError> {
        let onnx_name = Self::output_name(node)?.to_string();
        let tf_node = self.emit(&onnx_name, op, inputs, attrs);
        self.bind(&onnx_name, Tensor { node: tf_node, ..like.clone() });
        Ok(())
    }

    /// Records that `tensor` computes the ONNX tensor `onnx_name`.
    pub(crate) fn bind(&mut self, onnx_name: &str, tensor: Tensor) {
        // A merged batch is no permutation of the ONNX tensor: the oracle does not compare it.
        if tensor.merge.is_none() {
            let permutation = tensor.permutation();
            let source = SourceTensor { name: onnx_name.to_string(), permutation };
            self.sources.entry(tensor.node.clone()).or_insert(source);
        }
        self.values.insert(onnx_name.to_string(), Value::Tensor(tensor));
    }

    /// A name for an intermediate TF node of the current ONNX node.
    pub(crate) fn part(&self, suffix: &str) -> String {
        let base = self.current.as_deref().unwrap_or("onnx");
        format!("{base}/{suffix}")
    }

    /// Translates one node through its op's registered translation.
    pub(crate) fn node(&mut self, node: &NodeProto) -> Result<(), OpError> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(OpError::UnsupportedDomain { op: node.op_type.clone(), domain: node.domain.clone() });
        }
        self.current = node.output.first().cloned();
        if let Some(result) = self.recurrent_reader(node) {
            return result;
        }
        if let Some(folded) = self.fold(node)? {
            self.values.insert(Self::output_name(node)?.to_string(), Value::Const(Rc::new(folded)));
            return Ok(());
        }
        if node.output.iter().skip(1).any(|o| !o.is_empty())
            && !matches!(node.op_type.as_str(), "Dropout" | "BatchNormalization" | "LSTM" | "GRU" | "RNN" | "Split")
        {
            return Err("only the first output of an op is supported".into());
        }
        if let Some(refusal) = crate::ops::refusal(node) {
            return Err(refusal);
        }
        let translate = self
            .registry
            .get(node.op_type.as_str())
            .ok_or_else(|| OpError::UnsupportedOp { op: node.op_type.clone() })?;
        translate(self, node)
    }

    /// An element-wise op of one tensor, held as it is (its batch on any ONNX axis).
    pub(crate) fn unary(&mut self, node: &NodeProto, op: &str, attrs: Attrs) -> Result<(), OpError> {
        let x = self.tensor_merged(node, 0)?;
        self.elementwise(node, op, vec![x.node.clone()], attrs, &x)
    }

    /// Emits an element-wise op whose result is shaped and held like `like`, with as many
    /// rows per sample.
    pub(crate) fn elementwise(
        &mut self,
        node: &NodeProto,
        op: &str,
        inputs: Vec<String>,
        attrs: Attrs,
        like: &Tensor,
    ) -> Result<(), OpError> {
        let rows = self.rows_of(like);
        self.emit_output_as(node, op, inputs, attrs, like)?;
        self.inherit_rows(node, rows)
    }

    /// Rows per sample of `x` (1 unless its batch axis is merged).
    pub(crate) fn rows_of(&self, x: &Tensor) -> usize {
        self.rows.get(&x.node).copied().unwrap_or(1)
    }

    /// Records that the TF node computing `node`'s output has `rows` rows per sample.
    pub(crate) fn inherit_rows(&mut self, node: &NodeProto, rows: usize) -> Result<(), OpError> {
        if rows > 1 {
            if let Some(Value::Tensor(t)) = self.values.get(Self::output_name(node)?) {
                self.rows.insert(t.node.clone(), rows);
            }
        }
        Ok(())
    }

    /// The `axes` of an op that reads them from the `axes` attribute before opset
    /// `input_since` and from constant input 1 from that opset on (`Squeeze`, `Unsqueeze`,
    /// `ReduceSum`: 13; the other reductions: 18); `None` when absent. Axes in the place the
    /// file's opset does not read them are refused, not guessed.
    pub(crate) fn raw_axes(&self, node: &NodeProto, input_since: i64) -> Result<Option<Vec<i64>>, OpError> {
        let opset = self.opset;
        if opset >= input_since {
            if proto::attr_ints(node, "axes")?.is_some() {
                return Err(OpError::Attr {
                    attr: "axes".into(),
                    message: format!("is input 1 from opset {input_since} on (the file imports opset {opset})"),
                });
            }
            return self
                .constant(node, 1)?
                .map(|c| c.int_values().ok_or(OpError::Input { index: 1, message: "the axes must be integers".into() }))
                .transpose();
        }
        if node.input.get(1).is_some_and(|i| !i.is_empty()) {
            return Err(OpError::Input {
                index: 1,
                message: format!("is not read before opset {input_since}, where axes are an attribute (the file imports opset {opset})"),
            });
        }
        proto::attr_ints(node, "axes")
    }

    /// [`raw_axes`](Self::raw_axes) for a tensor of `rank`: non-negative, sorted, deduplicated.
    pub(crate) fn axes(&self, node: &NodeProto, rank: usize, input_since: i64) -> Result<Option<Vec<usize>>, OpError> {
        let Some(axes) = self.raw_axes(node, input_since)? else { return Ok(None) };
        let mut resolved = resolve_axes(&axes, rank)?;
        resolved.sort_unstable();
        resolved.dedup();
        Ok(Some(resolved))
    }

    /// A constant operand of an element-wise op on `x`, in `x`'s TF layout: right-aligned to
    /// x's rank (ONNX broadcasting), permuted like `x`, leading 1s dropped.
    pub(crate) fn broadcast_constant(&mut self, c: &Const, x: &Tensor, wanted: &str) -> Result<String, OpError> {
        let value = c.to_f32();
        if value.ndim() > x.rank() {
            return Err(unsupported!(
                "a constant of shape {:?} does not broadcast against {:?}",
                value.shape(),
                x.shape
            ));
        }
        let value = if x.permutation().is_some() || x.merge.is_some() {
            let mut shape = vec![1; x.rank() - value.ndim()];
            shape.extend_from_slice(value.shape());
            // A merged axis takes one 1 per factor (a constant cannot vary along the batch).
            let expanded: Vec<usize> = (0..x.rank())
                .flat_map(|axis| {
                    let factors = x.expanded_axes(axis).len();
                    if factors > 1 {
                        vec![1; factors]
                    } else {
                        vec![shape[axis]]
                    }
                })
                .collect();
            if x.merge.as_ref().is_some_and(|m| shape[m.axis] != 1) {
                return Err(unsupported!(
                    "a constant of shape {:?} varies along the merged batch of {:?}",
                    c.shape(),
                    x.shape
                ));
            }
            let aligned = value.into_shape_with_order(IxDyn(&expanded)).map_err(|e| e.to_string())?;
            let mut held = aligned.permuted_axes(IxDyn(&x.layout)).as_standard_layout().into_owned();
            while held.ndim() > 0 && held.shape()[0] == 1 {
                held = held.index_axis_move(Axis(0), 0);
            }
            held
        } else {
            value
        };
        Ok(self.emit_const(wanted, &Const::F32(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// Every registered op reaches its translation (which then fails on the empty node, or
    /// folds it), and an unregistered one is refused as unsupported.
    #[test]
    fn registered_ops_are_dispatched() {
        for op in crate::ops::SUPPORTED_OPS.iter().chain(&["LpNormalization"]) {
            let node = NodeProto { op_type: op.to_string(), output: vec!["y".into()], ..Default::default() };
            let mut t = Translator::new(Path::new("m.onnx"), crate::testing::OPSET);
            let result = t.node(&node);
            let unsupported = matches!(result, Err(OpError::UnsupportedOp { .. }));
            assert_eq!(unsupported, *op == "LpNormalization", "{op}: {result:?}");
        }
    }

    /// tf2onnx's pattern: an NHWC input transposed to NCHW for a channel op, then back to
    /// NHWC and flattened. The input stays NHWC and no TF `Transpose` is needed.
    #[test]
    fn transposes_of_a_channels_last_input_cost_no_tf_node() {
        let nodes = vec![
            onnx_node("Transpose", &["x"], "nchw", vec![ints_attr("perm", &[0, 3, 1, 2])]),
            onnx_node("Relu", &["nchw"], "relu", vec![]),
            onnx_node("GlobalAveragePool", &["relu"], "pooled", vec![]),
            onnx_node("Transpose", &["pooled"], "nhwc", vec![ints_attr("perm", &[0, 2, 3, 1])]),
            onnx_node("Reshape", &["nhwc", "flat"], "y", vec![]),
        ];
        let ops = translated_ops(&[-1, 5, 5, 3], nodes, vec![int_initializer("flat", &[-1, 3])]).unwrap();
        assert_eq!(ops, ["Placeholder", "Relu", "Mean", "Reshape"]);
        let mut t = Translator::new(Path::new("m.onnx"), crate::testing::OPSET);
        let x =
            Tensor { node: "x".into(), shape: vec![None, Some(5), Some(5), Some(3)], layout: identity(4), merge: None };
        assert_eq!(t.held_as(&x, &TO_NHWC, "t").unwrap().node, "t");
        assert_eq!(t.held_as(&x, &TO_NHWC, "again").unwrap().node, "t", "a tensor is transposed once per layout");
    }

    /// PyTorch's `x.view(x.size(0), -1)` on an NCHW activation: the shape arithmetic folds,
    /// and the NHWC-held tensor is transposed back to NCHW order before the reshape.
    #[test]
    fn torch_flatten_folds_its_shape_arithmetic() {
        let nodes = vec![
            onnx_node("Relu", &["x"], "relu", vec![]),
            onnx_node("Shape", &["relu"], "shape", vec![]),
            onnx_node("Gather", &["shape", "zero"], "batch", vec![]),
            onnx_node("Unsqueeze", &["batch", "axes"], "batch1", vec![]),
            onnx_node("Concat", &["batch1", "minus_one"], "target", vec![]),
            onnx_node("Reshape", &["relu", "target"], "y", vec![]),
        ];
        let mut zero = int_initializer("zero", &[0]);
        zero.dims.clear();
        let initializers = vec![zero, int_initializer("axes", &[0]), int_initializer("minus_one", &[-1])];
        let ops = translated_ops(&[-1, 3, 4, 4], nodes.clone(), initializers.clone()).unwrap();
        assert_eq!(ops, ["Placeholder", "Relu", "Transpose", "Reshape"]);

        // Twice the batch size as the first entry is refused, not reshaped.
        let mut doubled = nodes;
        doubled.insert(4, onnx_node("Concat", &["batch1", "batch1"], "two", vec![]));
        doubled[5] = onnx_node("Concat", &["two", "minus_one"], "target", vec![]);
        let error = translated_ops(&[-1, 3, 4, 4], doubled, initializers).unwrap_err();
        assert!(error.contains("node 'y' (Reshape)") && error.contains("more than one batch entry"), "{error}");
    }

    /// A `Transpose` moving the batch only changes the layout: element-wise ops and squeezes
    /// follow it, ops that assume the batch first refuse it by name, and a graph output
    /// whose batch is not first is given batch-first, as the layout sentence says.
    #[test]
    fn transposes_moving_the_batch_change_the_layout_only() {
        let time_major = |then: Vec<NodeProto>| {
            let mut nodes = vec![onnx_node("Transpose", &["x"], "t", vec![ints_attr("perm", &[1, 0, 2])])];
            nodes.extend(then);
            nodes
        };
        let relu = time_major(vec![onnx_node("Relu", &["t"], "y", vec![])]);
        let graph = translated(&[-1, 3, 4], relu, vec![]).unwrap();
        let ops: Vec<&str> = graph.nodes().iter().map(|n| n.op.as_str()).collect();
        assert_eq!(ops, ["Placeholder", "Relu"]);
        let translation = graph.translation.as_ref().unwrap();
        assert_eq!(translation.tensors["y"].permutation, Some(vec![1, 0, 2]), "held batch-first");
        assert!(
            translation.layout.contains("outputs given batch-first: 'y' (ONNX axes [1, 0, 2]"),
            "{}",
            translation.layout
        );

        // PaddleOCR's q/k/v: [B, T, 3, H, D] → [3, B, H, T, D], one slice of axis 0 squeezed.
        let qkv = vec![
            onnx_node("Reshape", &["x", "heads"], "r", vec![]),
            onnx_node("Transpose", &["r"], "t", vec![ints_attr("perm", &[2, 0, 3, 1, 4])]),
            onnx_node("Slice", &["t", "one", "two", "zero"], "s", vec![]),
            onnx_node("Squeeze", &["s", "zero"], "y", vec![]),
        ];
        let initializers = vec![
            int_initializer("heads", &[0, 5, 3, 2, 4]),
            int_initializer("zero", &[0]),
            int_initializer("one", &[1]),
            int_initializer("two", &[2]),
        ];
        let graph = translated(&[-1, 5, 24], qkv, initializers).unwrap();
        let ops: Vec<&str> = graph.nodes().iter().map(|n| n.op.as_str()).filter(|&op| op != "Const").collect();
        let expected = ["Placeholder", "Reshape", "StridedSlice", "Reshape", "Transpose"];
        assert_eq!(ops, expected, "a transpose only for the graph output, to the ONNX layout");
        let tensors = &graph.translation.as_ref().unwrap().tensors;
        assert_eq!(tensors["s"].permutation, Some(vec![1, 3, 0, 2, 4]));
        assert_eq!(tensors["y"].permutation, Some(vec![0, 2, 1, 3]), "squeezed as held");

        let softmax = time_major(vec![onnx_node("Softmax", &["t"], "y", vec![])]);
        assert_eq!(translated_ops(&[-1, 3, 4], softmax, vec![]).unwrap(), ["Placeholder", "Softmax"]);
        let sqrt = time_major(vec![onnx_node("Sqrt", &["t"], "y", vec![])]);
        let error = translated_ops(&[-1, 3, 4], sqrt, vec![]).unwrap_err();
        assert!(error.contains("(Sqrt): input 0 has the batch on axis 1 of [Some(3), None, Some(4)]"), "{error}");
        // (T, B, 4) → (T·B, 4) merges the batch with the time steps: no graph output.
        let merged = time_major(vec![onnx_node("Reshape", &["t", "flat"], "y", vec![])]);
        let error = translated_ops(&[-1, 3, 4], merged, vec![int_initializer("flat", &[-1, 4])]).unwrap_err();
        assert!(error.contains("its batch is merged with other axes into axis 0 of [None, Some(4)]"), "{error}");
    }

    /// A graph input whose batch name (the `dim_param` other inputs give axis 0) is on another
    /// axis, as silero-vad's `state` [2, 'batch', 128], is held batch-first, and the layout
    /// sentence says so; an input naming it on two axes is refused, as are inputs that fix
    /// different batch sizes, and control flow is refused before any input.
    #[test]
    fn inputs_whose_batch_is_not_axis_0_are_held_batch_first() {
        use tract_onnx::pb::{tensor_shape_proto::dimension::Value as DimValue, type_proto};
        let named = |name: &str, dims: &[Result<i64, &str>]| {
            let mut info = value_info(name, &vec![1; dims.len()]);
            if let Some(type_proto::Value::TensorType(t)) = info.r#type.as_mut().and_then(|t| t.value.as_mut()) {
                for (dim, given) in t.shape.as_mut().unwrap().dim.iter_mut().zip(dims) {
                    dim.value = Some(match given {
                        Ok(size) => DimValue::DimValue(*size),
                        Err(name) => DimValue::DimParam(name.to_string()),
                    });
                }
            }
            info
        };
        let graph = |state: tract_onnx::pb::ValueInfoProto, nodes: Vec<NodeProto>| GraphProto {
            node: nodes,
            input: vec![named("x", &[Err("batch"), Ok(4)]), state],
            output: vec![value_info("y", &[])],
            ..Default::default()
        };
        let scaled = || vec![onnx_node("Relu", &["state"], "y", vec![])];
        let translate_graph = |graph: GraphProto| {
            translate(Path::new("m.onnx"), graph, OPSET, &Options::default())
                .map_err(|e| tf2h5_tf::TfError::from(e).to_string())
        };
        let state = named("state", &[Ok(2), Err("batch"), Ok(4)]);
        let translated = translate_graph(graph(state, scaled())).unwrap();
        let placeholder = translated.nodes().iter().find(|n| n.name == "state").unwrap();
        let dims: Vec<i64> = match placeholder.attr["shape"].value.as_ref() {
            Some(pb::attr_value::Value::Shape(shape)) => shape.dim.iter().map(|d| d.size).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(dims, [-1, 2, 4], "the Keras Input takes the batch first");
        let translation = translated.translation.as_ref().unwrap();
        assert_eq!(translation.tensors["state"].permutation, Some(vec![1, 0, 2]));
        assert_eq!(translation.fixed_batch, None, "axis 0's size 2 is no batch");
        assert!(
            translation
                .layout
                .contains("; inputs given batch-first: 'state' (ONNX axes [1, 0, 2], the batch on axis 1")
                && translation.layout.contains("; outputs given batch-first: 'y' (ONNX axes [1, 0, 2]"),
            "{}",
            translation.layout
        );

        // Time-major: axis 0 another name, the batch on axis 1.
        let time_major = named("state", &[Err("time"), Err("batch"), Ok(4)]);
        let translated = translate_graph(graph(time_major, scaled())).unwrap();
        assert_eq!(translated.translation.as_ref().unwrap().tensors["state"].permutation, Some(vec![1, 0, 2]));

        let twice = named("state", &[Ok(2), Err("batch"), Err("batch")]);
        let error = translate_graph(graph(twice, scaled())).unwrap_err();
        assert!(
            error.contains("input 'state': axes [1, 2] all carry the batch name 'batch' and axis 0 does not"),
            "{error}"
        );
        let mut fixed = graph(named("state", &[Ok(2), Ok(1), Ok(4)]), scaled());
        fixed.input[0] = named("x", &[Ok(1), Ok(4)]);
        let error = translate_graph(fixed).unwrap_err();
        assert!(error.contains("input 'state': axis 0 is 2, but another input fixes the batch at 1"), "{error}");

        // silero-vad: a scalar `sr` input, and an `If` on it; the `If` is named.
        let mut silero = graph(named("sr", &[]), vec![onnx_node("Relu", &["x"], "r", vec![])]);
        silero.node.push(onnx_node("If", &["sr"], "y", vec![]));
        let error = translate_graph(silero).unwrap_err();
        assert!(error.contains("node 'y' (If): op 'If' is not supported: control flow"), "{error}");
    }

    #[test]
    fn unit_axes_move_without_reordering_elements() {
        let (n, one, four) = (None, Some(1), Some(4));
        assert_eq!(unit_axis_move(&[n, four, four, one], &[n, one, four, four]), Some(vec![0, 3, 1, 2]));
        assert_eq!(unit_axis_move(&[n, four, one, one], &[n, four, one, one]), Some(vec![0, 1, 2, 3]));
        assert_eq!(unit_axis_move(&[n, four, Some(2)], &[n, Some(2), four]), None);
        assert!(keeps_order(&[n, four, one, one], &TO_NHWC));
        assert!(!keeps_order(&[n, four, Some(2), Some(2)], &TO_NHWC));
    }

    /// Axes are an attribute before opset 13 and an input from 13 (18 for ReduceMean): each
    /// form is read at its opsets and refused, naming the opset, at the others.
    #[test]
    fn axes_are_read_where_the_opset_puts_them() {
        let attr_form = || vec![onnx_node("Squeeze", &["x"], "y", vec![ints_attr("axes", &[2])])];
        let input_form = || vec![onnx_node("Squeeze", &["x", "axes"], "y", vec![])];
        let axes = || vec![int_initializer("axes", &[2])];
        assert_eq!(translated_ops_at(11, &[-1, 3, 1], attr_form(), vec![]).unwrap(), ["Placeholder", "Reshape"]);
        assert_eq!(translated_ops_at(13, &[-1, 3, 1], input_form(), axes()).unwrap(), ["Placeholder", "Reshape"]);
        let error = translated_ops_at(13, &[-1, 3, 1], attr_form(), vec![]).unwrap_err();
        assert!(error.contains("attribute 'axes' is input 1 from opset 13 on (the file imports opset 13)"), "{error}");
        let error = translated_ops_at(12, &[-1, 3, 1], input_form(), axes()).unwrap_err();
        assert!(error.contains("input 1 is not read before opset 13"), "{error}");
        let mean = |opset| {
            let node = onnx_node("ReduceMean", &["x"], "y", vec![ints_attr("axes", &[2, 3])]);
            translated_ops_at(opset, &[-1, 3, 4, 4], vec![node], vec![])
        };
        assert_eq!(mean(17).unwrap(), ["Placeholder", "Mean"]);
        assert!(mean(18).unwrap_err().contains("is input 1 from opset 18 on"));
    }

    /// Before opset 13 a softmax normalises the input coerced to 2-D at `axis` (default 1):
    /// jointly over every axis after the batch, not over axis 1 alone.
    #[test]
    fn softmax_before_opset_13_is_over_every_axis_from_axis_on() {
        let softmax = || vec![onnx_node("Softmax", &["x"], "y", vec![])];
        let ops = translated_ops_at(12, &[-1, 3, 4], softmax(), vec![]).unwrap();
        assert_eq!(ops, ["Placeholder", "Reshape", "Softmax", "Reshape"]);
        assert_eq!(translated_ops_at(12, &[-1, 3, 1, 1], softmax(), vec![]).unwrap(), ["Placeholder", "Softmax"]);
        assert_eq!(translated_ops_at(13, &[-1, 3, 4], softmax(), vec![]).unwrap(), ["Placeholder", "Softmax"]);
        // From 13, over one axis: held with that axis last (TF's Softmax normalises the last).
        let channels = vec![onnx_node("Softmax", &["x"], "y", vec![int_attr("axis", 1)])];
        let ops = translated_ops_at(13, &[-1, 3, 4], channels, vec![]).unwrap();
        assert_eq!(ops, ["Placeholder", "Transpose", "Softmax", "Transpose"], "and back, as the graph's output");
    }

    /// PyTorch's attention on a time-major sequence: (T, B, E) reshaped to (T, B·H, d) merges
    /// the batch with the heads, a `Transpose` makes it (B·H, T, d); element-wise ops follow,
    /// and a reshape back to (T, B, E) unmerges it. Ops that need the batch an axis of its own
    /// refuse the merged tensor by name, as does a graph output.
    #[test]
    fn reshapes_merging_the_batch_are_followed_on_its_factors() {
        let nodes = |then: &str| {
            vec![
                onnx_node("Transpose", &["x"], "t", vec![ints_attr("perm", &[1, 0, 2])]),
                onnx_node("Shape", &["t"], "shape", vec![]),
                onnx_node("Gather", &["shape", "one"], "batch", vec![]),
                onnx_node("Mul", &["batch", "two"], "batch_heads", vec![]),
                onnx_node("Unsqueeze", &["batch_heads", "zero"], "batch_heads_1", vec![]),
                onnx_node("Concat", &["three", "batch_heads_1", "four"], "split", vec![int_attr("axis", 0)]),
                onnx_node("Reshape", &["t", "split"], "heads", vec![]),
                onnx_node("Transpose", &["heads"], "per_head", vec![ints_attr("perm", &[1, 0, 2])]),
                onnx_node(then, &["per_head"], "r", vec![]),
                onnx_node("Transpose", &["r"], "back", vec![ints_attr("perm", &[1, 0, 2])]),
                onnx_node("Reshape", &["back", "merged"], "m", vec![]),
                onnx_node("Transpose", &["m"], "y", vec![ints_attr("perm", &[1, 0, 2])]),
            ]
        };
        let scalar = |name: &str, v: i64| {
            let mut c = int_initializer(name, &[v]);
            c.dims.clear();
            c
        };
        let initializers = || {
            vec![
                scalar("one", 1),
                scalar("two", 2),
                int_initializer("zero", &[0]),
                int_initializer("three", &[3]),
                int_initializer("four", &[4]),
                int_initializer("merged", &[3, -1, 8]),
            ]
        };
        let graph = translated(&[-1, 3, 8], nodes("Relu"), initializers()).unwrap();
        let ops: Vec<&str> = graph.nodes().iter().map(|n| n.op.as_str()).filter(|&op| op != "Const").collect();
        assert_eq!(ops, ["Placeholder", "Reshape", "Relu", "Reshape"], "the factors are axes of the TF nodes");
        let tensors = &graph.translation.as_ref().unwrap().tensors;
        assert!(!tensors.values().any(|t| t.name == "r"), "a merged tensor is no permutation of its ONNX one");
        assert_eq!(tensors.get("m").map(|t| t.name.as_str()), Some("m"));

        let error = translated_ops(&[-1, 3, 8], nodes("Flatten"), initializers()).unwrap_err();
        assert!(error.contains("(Flatten): input 0 has the batch merged with other axes into axis 0"), "{error}");
        let mut unmerged_output = nodes("Relu");
        unmerged_output.truncate(9);
        unmerged_output[8].output = vec!["y".into()];
        let error = translated_ops(&[-1, 3, 8], unmerged_output, initializers()).unwrap_err();
        assert!(error.contains("its batch is merged with other axes into axis 0"), "{error}");
    }

    /// `Clip` and `Pad` take attributes before opset 11; `Upsample` is refused by name.
    #[test]
    fn clip_and_pad_read_attributes_before_opset_11() {
        let clip = vec![onnx_node("Clip", &["x"], "y", vec![float_attr("min", 0.0), float_attr("max", 6.0)])];
        assert_eq!(translated_ops_at(10, &[-1, 3], clip, vec![]).unwrap(), ["Placeholder", "Relu6"]);
        let pad = vec![onnx_node("Pad", &["x"], "y", vec![ints_attr("pads", &[0, 1, 0, 2]), float_attr("value", 1.0)])];
        let error = translated_ops_at(10, &[-1, 3], pad, vec![]).unwrap_err();
        assert!(error.contains("padding with 1: only padding with zeros"), "{error}");
        let upsample = vec![onnx_node("Upsample", &["x", "scales"], "y", vec![])];
        let error = translated_ops_at(9, &[-1, 3, 4, 4], upsample, vec![]).unwrap_err();
        assert!(error.contains("(Upsample): op 'Upsample' is not supported: deprecated since opset 10"), "{error}");
    }

    /// Activations whose parameters Keras builds in, and powers without a Keras layer, are
    /// refused by name; `Split` sizes come from the attribute before 13, equal parts
    /// (`num_outputs`, last one smaller) from 18.
    #[test]
    fn parameters_without_a_keras_twin_are_refused_and_splits_follow_the_opset() {
        let elu = vec![onnx_node("Elu", &["x"], "y", vec![float_attr("alpha", 0.5)])];
        let error = translated_ops(&[-1, 3], elu, vec![]).unwrap_err();
        assert!(
            error.contains("attribute 'alpha' 0.5 is not supported (Keras's activation has 1 built in)"),
            "{error}"
        );
        let exponent = |value: f32| tract_onnx::pb::TensorProto {
            name: "exponent".into(),
            data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
            float_data: vec![value],
            ..Default::default()
        };
        let pow = || vec![onnx_node("Pow", &["x", "exponent"], "y", vec![])];
        let error = translated_ops(&[-1, 3], pow(), vec![exponent(0.5)]).unwrap_err();
        assert!(error.contains("exponent 0.5: only whole powers 1 to 4 have a Keras form (as products)"), "{error}");
        let cube = translated_ops(&[-1, 3], pow(), vec![exponent(3.0)]).unwrap();
        assert!(cube.iter().any(|op| op == "Pow"), "{cube:?}");

        let split = |mut attrs: Vec<_>| {
            attrs.push(int_attr("axis", 1));
            let mut node = onnx_node("Split", &["x"], "a", attrs);
            node.output.extend(["b".to_string(), "y".to_string()]);
            node
        };
        let sizes = |graph: TfGraph| -> Vec<i64> {
            let ends = graph.nodes().iter().filter(|n| n.name.ends_with("/end"));
            ends.map(|n| tf2h5_tf::ConstTensor::from_node(n).unwrap().int_values().unwrap()[1]).collect()
        };
        let at_11 = translated_at(11, &[-1, 7], vec![split(vec![ints_attr("split", &[1, 2, 4])])], vec![]);
        assert_eq!(sizes(at_11.unwrap()), [1, 3, 7]);
        let at_18 = translated_at(18, &[-1, 7], vec![split(vec![int_attr("num_outputs", 3)])], vec![]);
        assert_eq!(sizes(at_18.unwrap()), [3, 6, 7]);
        let error = translated_at(13, &[-1, 7], vec![split(vec![])], vec![]).unwrap_err();
        assert!(error.contains("7 elements do not split into 3 equal parts"), "{error}");
    }

    /// paddle2onnx's layer norm, `(x - mean) / sqrt(var + eps)`, becomes the arithmetic the
    /// converter's normalisation pattern reads: `x·rsqrt(v) + -(mean·rsqrt(v))`.
    #[test]
    fn paddle_layer_norm_divides_as_rsqrt_products() {
        let scalar = |name: &str, value: f32| tract_onnx::pb::TensorProto {
            name: name.into(),
            data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
            float_data: vec![value],
            ..Default::default()
        };
        let nodes = vec![
            onnx_node("ReduceMean", &["x"], "m", vec![ints_attr("axes", &[-1])]),
            onnx_node("Sub", &["x", "m"], "d", vec![]),
            onnx_node("Pow", &["d", "two"], "p", vec![]),
            onnx_node("ReduceMean", &["p"], "v", vec![ints_attr("axes", &[-1])]),
            onnx_node("Add", &["v", "eps"], "ve", vec![]),
            onnx_node("Sqrt", &["ve"], "s", vec![]),
            onnx_node("Div", &["d", "s"], "y", vec![]),
        ];
        let ops = translated_ops(&[-1, 5, 8], nodes, vec![scalar("two", 2.0), scalar("eps", 1e-5)]).unwrap();
        let expected = ["Mean", "Sub", "SquaredDifference", "Mean", "AddV2", "Sqrt", "Rsqrt", "Mul", "Mul", "Neg"];
        assert_eq!(ops[1..11], expected);
        assert_eq!(ops[11..], ["AddV2"]);
    }

    #[test]
    fn pads_pair_begins_with_ends() {
        assert_eq!(pairs(&[1, 2, 3, 4]), vec![(1, 3), (2, 4)]);
        assert_eq!(permuted(&[(0, 0), (1, 1), (2, 2), (3, 3)], &TO_NHWC), vec![(0, 0), (2, 2), (3, 3), (1, 1)]);
    }
}

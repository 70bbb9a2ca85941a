//! The translation itself: ONNX nodes in file (topological) order, each rewritten as TF
//! nodes. See the crate docs for the layout rule; each op function says its traps.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use tf2h5_tf::pb;
use tf2h5_tf::{SourceTensor, TfError, TfGraph, Translation};
use tract_onnx::pb::{GraphProto, NodeProto};

use crate::proto::{self, Const};
use crate::shapes;
use crate::Options;
use tf2h5_tf::{Dim, Dims};

/// The ONNX ops [`Translator::node`] translates, sorted (`tf2h5 ops --onnx`).
pub(crate) const SUPPORTED_OPS: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Erf",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "MatMul",
    "MaxPool",
    "Mul",
    "Neg",
    "Pad",
    "Reciprocal",
    "ReduceMean",
    "ReduceProd",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// Largest `Resize` factor accepted (keeps shape arithmetic far from overflow).
const MAX_FACTOR: f32 = 4096.0;

/// NCHW → NHWC.
pub(crate) const TO_NHWC: [usize; 4] = [0, 2, 3, 1];

/// An ONNX tensor during translation.
#[derive(Debug, Clone)]
enum Value {
    Tensor(Tensor),
    /// Shared: a weight read by several nodes is not copied.
    Const(Rc<Const>),
    /// Shape arithmetic that involves the batch size (see [`crate::shapes`]).
    Dims(Dims),
}

/// An ONNX tensor computed by a TF node.
#[derive(Debug, Clone)]
struct Tensor {
    /// The TF node producing it.
    node: String,
    /// The ONNX shape, `None` for the batch.
    shape: Vec<Option<usize>>,
    /// How the TF node holds it: TF axis `j` is ONNX axis `layout[j]`. The identity is the
    /// ONNX layout; NCHW activations are held NHWC (`[0, 2, 3, 1]`). The batch stays first.
    layout: Vec<usize>,
}

impl Tensor {
    fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Non-batch dimensions, all known.
    fn features(&self) -> Option<Vec<usize>> {
        self.shape.iter().skip(1).copied().collect()
    }

    /// The permutation [`SourceTensor`] records (`None` in the ONNX layout).
    fn permutation(&self) -> Option<Vec<usize>> {
        (self.layout != identity(self.rank())).then(|| self.layout.clone())
    }

    /// Whether the TF node's elements come in ONNX (row-major) order, so a reshape can read
    /// them as they are: true when only axes of size 1 are out of place.
    fn in_onnx_order(&self) -> bool {
        keeps_order(&self.shape, &self.layout)
    }

    /// The same data seen as ONNX tensor `y` with `y.axis[i] = self.axis[perm[i]]` (an ONNX
    /// `Transpose`, or a reshape that only moves axes of size 1): no TF node is needed.
    fn relabelled(&self, perm: &[usize]) -> Tensor {
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Tensor {
            node: self.node.clone(),
            shape: permuted(&self.shape, perm),
            layout: self.layout.iter().map(|&a| inverse[a]).collect(),
        }
    }
}

fn identity(rank: usize) -> Vec<usize> {
    (0..rank).collect()
}

/// Whether holding a tensor of `shape` in `layout` keeps its elements in ONNX (row-major)
/// order: only axes of size 1 may be out of place.
fn keeps_order(shape: &[Option<usize>], layout: &[usize]) -> bool {
    let moved: Vec<usize> = layout.iter().copied().filter(|&axis| shape[axis] != Some(1)).collect();
    moved.windows(2).all(|pair| pair[0] < pair[1])
}

/// The permutation `p` (output axis `i` = input axis `p[i]`) when reshaping `from` to `to`
/// only moves axes of size 1, which leaves the elements in order.
fn unit_axis_move(from: &[Option<usize>], to: &[Option<usize>]) -> Option<Vec<usize>> {
    if from.len() != to.len() {
        return None;
    }
    let is_unit = |d: &Option<usize>| *d == Some(1);
    let mut units = (0..from.len()).filter(|&a| is_unit(&from[a]));
    let mut others = (0..from.len()).filter(|&a| !is_unit(&from[a]));
    to.iter().map(|d| if is_unit(d) { units.next() } else { others.next().filter(|&a| from[a] == *d) }).collect()
}

/// Whether the 4-D graph input `name` is already channels-last (a model exported from
/// TensorFlow by tf2onnx): following element-wise ops, the first node that cares about its
/// layout transposes it NHWC → NCHW (`Transpose` [0, 3, 1, 2], or a `Reshape` that does the
/// same by moving a channel axis of size 1). Anything else (a `Conv`, a pool...) reads it as
/// NCHW, the ONNX convention.
fn reads_channels_last(
    graph: &GraphProto,
    name: &str,
    shape: &[Option<usize>],
    constants: &HashMap<String, Value>,
) -> bool {
    const ELEMENTWISE: &[&str] = &[
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Relu",
        "Sigmoid",
        "Tanh",
        "LeakyRelu",
        "Clip",
        "HardSigmoid",
        "HardSwish",
        "Identity",
        "Dropout",
    ];
    let mut same_layout: HashSet<&str> = HashSet::from([name]);
    for node in &graph.node {
        if !node.input.iter().any(|i| same_layout.contains(i.as_str())) {
            continue;
        }
        match node.op_type.as_str() {
            "Transpose" => return proto::attr_ints(node, "perm").ok().flatten().as_deref() == Some(&[0, 3, 1, 2]),
            "Reshape" => {
                let target = node.input.get(1).and_then(|t| match constants.get(t) {
                    Some(Value::Const(c)) => c.int_values(),
                    _ => None,
                });
                let to: Option<Vec<Option<usize>>> = target.map(|t| {
                    t.iter().enumerate().map(|(i, &d)| if i == 0 { None } else { usize::try_from(d).ok() }).collect()
                });
                return to.and_then(|to| unit_axis_move(shape, &to)).as_deref() == Some(&[0, 3, 1, 2]);
            }
            op if ELEMENTWISE.contains(&op) => same_layout.extend(node.output.iter().map(String::as_str)),
            _ => return false,
        }
    }
    false
}

type Attrs = Vec<(&'static str, pb::attr_value::Value)>;

struct Translator<'a> {
    file: &'a Path,
    nodes: Vec<pb::NodeDef>,
    used: HashSet<String>,
    values: HashMap<String, Value>,
    sources: HashMap<String, SourceTensor>,
    /// The ONNX node being translated (for errors and node names).
    current: Option<&'a NodeProto>,
    /// TF `Transpose` nodes already emitted, by (TF node, layout), so a tensor read in another
    /// layout by several ops is transposed once.
    transposes: HashMap<(String, Vec<usize>), String>,
    /// A 4-D graph input is channels-last in the ONNX file (see [`reads_channels_last`]); 4-D
    /// inputs and outputs then keep the ONNX layout.
    channels_last_inputs: bool,
    /// TF nodes whose first axis merges the batch with others (tf2onnx's `tensordot`
    /// reshapes (batch, h, w, c) to (batch·h·w, c) around a `MatMul`): rows per sample.
    rows: HashMap<String, usize>,
    /// ONNX `Sub` outputs of two tensors, and `Sqrt` outputs, by ONNX name: the operands, so
    /// that `Mul(d, d)` becomes `SquaredDifference` and `Reciprocal(Sqrt(v))` `Rsqrt`, the forms
    /// the converter's normalisation patterns read (tf2onnx writes TF's that way).
    differences: HashMap<String, (Tensor, Tensor)>,
    square_roots: HashMap<String, Tensor>,
}

/// Translates `graph`, consuming its initializers as they are decoded (each weight's protobuf
/// bytes are freed once it is an array).
pub(crate) fn translate(file: &Path, mut graph: GraphProto, options: &Options) -> Result<TfGraph, TfError> {
    let graph_initializers = std::mem::take(&mut graph.initializer);
    let graph = &graph;
    let mut t = Translator::new(file);
    let format_error = |message: String| TfError::Format { path: file.to_path_buf(), message };
    for init in graph_initializers {
        let value = proto::tensor(&init).map_err(format_error)?;
        t.values.insert(init.name, Value::Const(Rc::new(value)));
    }
    let mut inputs = Vec::new();
    for input in &graph.input {
        // Old files list initializers among the inputs too.
        if !t.values.contains_key(&input.name) {
            inputs.push(t.input(graph, input, options)?);
        }
    }
    for node in &graph.node {
        t.current = Some(node);
        t.node(node).map_err(|message| {
            format_error(format!("node '{}' ({}): {message}", proto::node_label(node), node.op_type))
        })?;
    }
    t.current = None;
    let mut outputs = Vec::new();
    for output in &graph.output {
        outputs.push(t.output(&output.name, options)?);
    }
    let layout = layout_sentence(&inputs, &outputs, options, t.channels_last_inputs);
    let tf_graph = pb::GraphDef { node: t.nodes, ..Default::default() };
    let mut result = TfGraph::new(file.to_path_buf(), tf_graph)?;
    let tensor = |key: &(String, usize)| tf2h5_tf::SignatureTensor {
        key: key.0.clone(),
        tensor: key.0.clone(),
        dtype: pb::DataType::DtFloat,
        shape: None,
    };
    // The ONNX graph's inputs and outputs, in its order (what `default_outputs` reports).
    result.signature = Some(tf2h5_tf::SignatureInfo {
        name: "onnx".into(),
        method_name: "onnx graph".into(),
        inputs: inputs.iter().map(tensor).collect(),
        outputs: outputs.iter().map(tensor).collect(),
    });
    result.translation =
        Some(Translation { format: "ONNX".into(), source: file.to_path_buf(), layout, tensors: t.sources });
    Ok(result)
}

/// What the report says about layouts. `edges` hold (TF node, rank).
fn layout_sentence(
    inputs: &[(String, usize)],
    outputs: &[(String, usize)],
    options: &Options,
    channels_last_inputs: bool,
) -> String {
    let four_d = inputs.iter().chain(outputs).any(|(_, rank)| *rank == 4);
    match (four_d, options.keep_nchw) {
        (false, _) => "inputs and outputs keep the ONNX layout (none is 4-D)".into(),
        (true, _) if channels_last_inputs => {
            "ONNX layout: the 4-D inputs are already channels-last (NHWC) in the ONNX file (as tf2onnx writes them), so inputs and outputs keep it".into()
        }
        (true, false) => "NHWC: 4-D inputs and outputs are the ONNX NCHW tensors transposed to NHWC (use --keep-nchw for NCHW)".into(),
        (true, true) => "NCHW (--keep-nchw): 4-D inputs and outputs keep the ONNX layout, transposed to NHWC inside by Permute layers".into(),
    }
}

/// ONNX axes (negative counts from the end) as axes of a rank-`rank` tensor, in order.
fn resolve_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    axes.iter()
        .map(|&a| {
            usize::try_from(if a < 0 { a + rank as i64 } else { a })
                .ok()
                .filter(|&a| a < rank)
                .ok_or(format!("axis {a} out of range"))
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
fn pairs(pads: &[i64]) -> Vec<(i64, i64)> {
    let half = pads.len() / 2;
    (0..half).map(|i| (pads[i], pads[half + i])).collect()
}

fn permuted<T: Copy>(values: &[T], perm: &[usize]) -> Vec<T> {
    perm.iter().map(|&p| values[p]).collect()
}

fn int_list(values: &[i64]) -> pb::attr_value::Value {
    pb::attr_value::Value::List(pb::attr_value::ListValue { i: values.to_vec(), ..Default::default() })
}

fn string(value: &str) -> pb::attr_value::Value {
    pb::attr_value::Value::S(value.as_bytes().to_vec())
}

fn float_type() -> pb::attr_value::Value {
    pb::attr_value::Value::Type(pb::DataType::DtFloat as i32)
}

fn tf_shape(dims: &[Option<usize>]) -> pb::TensorShapeProto {
    pb::TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| pb::tensor_shape_proto::Dim { size: d.map_or(-1, |d| d as i64), name: String::new() })
            .collect(),
        unknown_rank: false,
    }
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

impl<'a> Translator<'a> {
    fn new(file: &'a Path) -> Self {
        Translator {
            file,
            nodes: Vec::new(),
            used: HashSet::new(),
            values: HashMap::new(),
            sources: HashMap::new(),
            current: None,
            transposes: HashMap::new(),
            channels_last_inputs: false,
            rows: HashMap::new(),
            differences: HashMap::new(),
            square_roots: HashMap::new(),
        }
    }

    fn fresh(&mut self, wanted: &str) -> String {
        // `name:k` and `^name` mean other things in a GraphDef input list.
        let base: String = wanted.trim_start_matches('^').replace(':', "_");
        let base = if base.is_empty() { "onnx".to_string() } else { base };
        tf2h5_tf::unique_name(&mut self.used, &base)
    }

    fn emit(&mut self, wanted: &str, op: &str, inputs: Vec<String>, attrs: Attrs) -> String {
        let name = self.fresh(wanted);
        let attr = attrs.into_iter().map(|(k, v)| (k.to_string(), pb::AttrValue { value: Some(v) })).collect();
        self.nodes.push(pb::NodeDef { name: name.clone(), op: op.into(), input: inputs, attr, ..Default::default() });
        name
    }

    fn emit_const(&mut self, wanted: &str, value: &Const) -> String {
        match value {
            Const::F32(a) => self.emit_f32(wanted, a.view(), a.shape()),
            Const::Int(a) => {
                self.emit_tensor(wanted, pb::DataType::DtInt64, a.shape(), little_endian(a.view(), i64::to_le_bytes))
            }
        }
    }

    /// A float32 `Const` holding `value`'s elements in logical (row-major) order, declared
    /// with `shape` (same size): a permuted weight is written without an intermediate copy.
    fn emit_f32(&mut self, wanted: &str, value: ArrayViewD<f32>, shape: &[usize]) -> String {
        self.emit_tensor(wanted, pb::DataType::DtFloat, shape, little_endian(value, f32::to_le_bytes))
    }

    fn emit_tensor(&mut self, wanted: &str, dtype: pb::DataType, shape: &[usize], content: Vec<u8>) -> String {
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

    fn emit_ints(&mut self, wanted: &str, values: &[i64]) -> String {
        let array = ArrayD::from_shape_vec(IxDyn(&[values.len()]), values.to_vec())
            .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])));
        self.emit_const(wanted, &Const::Int(array))
    }

    fn emit_scalar(&mut self, wanted: &str, value: f32) -> String {
        self.emit_const(wanted, &Const::F32(ArrayD::from_elem(IxDyn(&[]), value)))
    }

    /// A graph input: a `Placeholder`, NHWC for a 4-D NCHW input unless NCHW is kept.
    fn input(
        &mut self,
        graph: &GraphProto,
        input: &tract_onnx::pb::ValueInfoProto,
        options: &Options,
    ) -> Result<(String, usize), TfError> {
        use tract_onnx::pb::type_proto::Value as TypeValue;
        let refuse = |message: String| TfError::Format {
            path: self.file.to_path_buf(),
            message: format!("input '{}': {message}", input.name),
        };
        let tensor_type = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(TypeValue::TensorType(t)) => t,
            _ => return Err(refuse("not a tensor".into())),
        };
        if tensor_type.elem_type != tract_onnx::pb::tensor_proto::DataType::Float as i32 {
            return Err(refuse("only float32 inputs are supported".into()));
        }
        let dims = tensor_type.shape.as_ref().map(|s| &s.dim).ok_or_else(|| refuse("the input has no shape".into()))?;
        let mut shape: Vec<Option<usize>> = dims
            .iter()
            .map(|d| match d.value {
                Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => Some(v as usize),
                _ => None,
            })
            .collect();
        if shape.is_empty() || shape[1..].iter().any(Option::is_none) {
            return Err(refuse(format!("shape {shape:?}: only the first (batch) dimension may be unknown")));
        }
        // The first dimension is the batch, whatever the file fixes it to.
        shape[0] = None;
        let rank = shape.len();
        let channels_last = rank == 4 && reads_channels_last(graph, &input.name, &shape, &self.values);
        self.channels_last_inputs |= channels_last;
        let layout = if rank == 4 && !options.keep_nchw && !channels_last { TO_NHWC.to_vec() } else { identity(rank) };
        let attrs: Attrs = vec![
            ("dtype", float_type()),
            ("shape", pb::attr_value::Value::Shape(tf_shape(&permuted(&shape, &layout)))),
        ];
        let placeholder = self.emit(&input.name, "Placeholder", vec![], attrs);
        self.bind(&input.name, Tensor { node: placeholder.clone(), shape, layout });
        Ok((placeholder, rank))
    }

    /// A graph output: its TF node, transposed to the layout of the model's edges if needed.
    fn output(&mut self, name: &str, options: &Options) -> Result<(String, usize), TfError> {
        let refuse = |message: String| TfError::Format {
            path: self.file.to_path_buf(),
            message: format!("output '{name}': {message}"),
        };
        let tensor = match self.values.get(name) {
            Some(Value::Tensor(t)) => t.clone(),
            Some(Value::Const(_) | Value::Dims(_)) => {
                return Err(refuse("a constant output (it does not depend on the inputs) is not supported".into()))
            }
            None => return Err(refuse("no node computes it".into())),
        };
        let rank = tensor.rank();
        let nhwc = rank == 4 && !options.keep_nchw && !self.channels_last_inputs;
        let (layout, suffix) = if nhwc { (TO_NHWC.to_vec(), "to_nhwc") } else { (identity(rank), "to_onnx_layout") };
        let held = self.held_as(&tensor, &layout, &format!("{name}/{suffix}")).map_err(refuse)?;
        Ok((held.node, rank))
    }

    /// `x` held in `layout`: itself, or a TF `Transpose` of it (emitted once per tensor and
    /// layout), recorded as computing `x`'s source tensor.
    fn held_as(&mut self, x: &Tensor, layout: &[usize], wanted: &str) -> Result<Tensor, String> {
        if x.layout == layout {
            return Ok(x.clone());
        }
        if layout.len() != x.rank() || layout.first() != Some(&0) {
            return Err(format!("cannot hold a tensor of shape {:?} in layout {layout:?}", x.shape));
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
                node
            }
        };
        Ok(Tensor { node, shape: x.shape.clone(), layout: layout.to_vec() })
    }

    /// `x` held in the ONNX layout (its last TF axis is its last ONNX axis, its elements in
    /// ONNX order).
    fn in_onnx_layout(&mut self, x: &Tensor) -> Result<Tensor, String> {
        self.held_as(x, &identity(x.rank()), &self.part("to_onnx_layout"))
    }

    /// `x` as a 4-D NCHW tensor held NHWC, for the ops that work on channels.
    fn nhwc(&mut self, x: &Tensor) -> Result<Tensor, String> {
        if x.rank() != 4 {
            return Err(format!("expected a 4-D NCHW tensor, got shape {:?}", x.shape));
        }
        self.held_as(x, &TO_NHWC, &self.part("to_nhwc"))
    }

    fn value(&self, node: &NodeProto, index: usize) -> Result<&Value, String> {
        let name =
            node.input.get(index).filter(|n| !n.is_empty()).ok_or_else(|| format!("input {index} is missing"))?;
        self.values.get(name).ok_or_else(|| format!("input '{name}' is not computed before this node"))
    }

    fn tensor(&self, node: &NodeProto, index: usize) -> Result<Tensor, String> {
        match self.value(node, index)? {
            Value::Tensor(t) => Ok(t.clone()),
            Value::Const(_) => {
                Err(format!("input {index} is a constant; only tensors computed from the inputs are supported here"))
            }
            Value::Dims(_) => Err(format!(
                "input {index} is computed from a shape; only tensors computed from the inputs are supported here"
            )),
        }
    }

    fn constant(&self, node: &NodeProto, index: usize) -> Result<Option<Rc<Const>>, String> {
        match node.input.get(index).filter(|n| !n.is_empty()) {
            None => Ok(None),
            Some(_) => match self.value(node, index)? {
                Value::Const(c) => Ok(Some(c.clone())),
                Value::Tensor(_) => {
                    Err(format!("input {index} must be a constant (an initializer or a Constant node)"))
                }
                Value::Dims(_) => Err(format!("input {index} must be a constant, but it depends on the batch size")),
            },
        }
    }

    /// Input `index` as shape values (folded shape arithmetic or an integer constant).
    fn dims(&self, node: &NodeProto, index: usize) -> Result<Dims, String> {
        match self.value(node, index)? {
            Value::Dims(dims) => Ok(dims.clone()),
            Value::Const(c) => {
                shapes::from_const(c).ok_or_else(|| format!("input {index} must be an integer scalar or vector"))
            }
            Value::Tensor(_) => Err(format!(
                "input {index} is a tensor; only shape arithmetic on constants and shapes is supported here"
            )),
        }
    }

    /// Whether input `index` is a tensor computed from the graph's inputs.
    fn is_tensor(&self, node: &NodeProto, index: usize) -> bool {
        matches!(self.value(node, index), Ok(Value::Tensor(_)))
    }

    /// Binds a folded shape computation: a constant when it does not involve the batch.
    fn bind_dims(&mut self, node: &NodeProto, dims: Dims) -> Result<(), String> {
        let value = shapes::to_const(&dims).map_or(Value::Dims(dims), |c| Value::Const(Rc::new(c)));
        self.values.insert(Self::output_name(node)?.to_string(), value);
        Ok(())
    }

    fn output_name(node: &NodeProto) -> Result<&str, String> {
        node.output
            .first()
            .map(String::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| "the node has no output".to_string())
    }

    /// Emits the TF node that computes the ONNX node's output 0, named after that output.
    fn emit_output(
        &mut self,
        node: &NodeProto,
        op: &str,
        inputs: Vec<String>,
        attrs: Attrs,
        shape: Vec<Option<usize>>,
        layout: Vec<usize>,
    ) -> Result<(), String> {
        let onnx_name = Self::output_name(node)?.to_string();
        let tf_node = self.emit(&onnx_name, op, inputs, attrs);
        self.bind(&onnx_name, Tensor { node: tf_node, shape, layout });
        Ok(())
    }

    /// Records that `tensor` computes the ONNX tensor `onnx_name`.
    fn bind(&mut self, onnx_name: &str, tensor: Tensor) {
        let permutation = tensor.permutation();
        self.sources.entry(tensor.node.clone()).or_insert(SourceTensor { name: onnx_name.to_string(), permutation });
        self.values.insert(onnx_name.to_string(), Value::Tensor(tensor));
    }

    /// A name for an intermediate TF node of the current ONNX node.
    fn part(&self, suffix: &str) -> String {
        let base = self.current.and_then(|n| n.output.first()).map(String::as_str).unwrap_or("onnx");
        format!("{base}/{suffix}")
    }

    fn node(&mut self, node: &'a NodeProto) -> Result<(), String> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(format!("op '{}' of domain '{}' is not supported", node.op_type, node.domain));
        }
        if node.output.iter().skip(1).any(|o| !o.is_empty())
            && !matches!(node.op_type.as_str(), "Dropout" | "BatchNormalization")
        {
            return Err("only the first output of an op is supported".into());
        }
        match node.op_type.as_str() {
            "Constant" => {
                let value = proto::constant_node_value(node)?;
                self.values.insert(Self::output_name(node)?.to_string(), Value::Const(Rc::new(value)));
                Ok(())
            }
            "Identity" | "Dropout" => {
                let value = self.value(node, 0)?.clone();
                self.values.insert(Self::output_name(node)?.to_string(), value);
                Ok(())
            }
            "Conv" => self.conv(node),
            "Gemm" => self.gemm(node),
            "MatMul" => self.mat_mul(node),
            "BatchNormalization" => self.batch_norm(node),
            "Relu" => self.unary(node, "Relu", vec![]),
            "Sigmoid" => self.unary(node, "Sigmoid", vec![]),
            "Tanh" => self.unary(node, "Tanh", vec![]),
            "Erf" => self.unary(node, "Erf", vec![]),
            "Sqrt" => self.sqrt(node),
            "Reciprocal" => self.reciprocal(node),
            "Neg" => self.unary(node, "Neg", vec![]),
            "LayerNormalization" => self.layer_norm(node),
            "LeakyRelu" => {
                let alpha = proto::attr_float(node, "alpha", 0.01)?;
                self.unary(node, "LeakyRelu", vec![("alpha", pb::attr_value::Value::F(alpha))])
            }
            "Clip" => self.clip(node),
            "HardSigmoid" => self.hard_sigmoid(node),
            "HardSwish" => self.hard_swish(node),
            "Add" => self.binary(node, "AddV2"),
            "Sub" => self.binary(node, "Sub"),
            "Mul" => self.binary(node, "Mul"),
            "Div" => self.binary(node, "RealDiv"),
            "MaxPool" => self.pool(node, "MaxPool"),
            "AveragePool" => self.pool(node, "AvgPool"),
            "GlobalAveragePool" => self.global_average_pool(node),
            "ReduceMean" => self.reduce_mean(node),
            "Concat" if (0..node.input.len()).any(|i| self.is_tensor(node, i)) => self.concat(node),
            "Squeeze" if self.is_tensor(node, 0) => self.squeeze(node),
            "Unsqueeze" if self.is_tensor(node, 0) => self.unsqueeze(node),
            "Slice" if self.is_tensor(node, 0) => self.slice(node),
            "Shape" | "Gather" | "Cast" | "Slice" | "Concat" | "Squeeze" | "Unsqueeze" | "ReduceProd" => {
                self.shape_arithmetic(node)
            }
            "Flatten" => self.flatten(node),
            "Transpose" => self.transpose(node),
            "Reshape" => self.reshape(node),
            "Softmax" => self.softmax(node),
            "Pad" => self.pad(node),
            "Resize" => self.resize(node),
            other => Err(format!("op '{other}' is not supported")),
        }
    }

    /// Integer ops on shapes and constants, folded (see [`crate::shapes`]).
    fn shape_arithmetic(&mut self, node: &NodeProto) -> Result<(), String> {
        let ints = |index: usize| -> Result<Vec<i64>, String> {
            self.dims(node, index)?.known().ok_or_else(|| format!("input {index} depends on the batch size"))
        };
        let dims = match node.op_type.as_str() {
            "Shape" => {
                let x = self.tensor(node, 0)?;
                let mut shape = Dims::of_shape(&x.shape)
                    .ok_or_else(|| format!("the shape {:?} is not known but for the batch", x.shape))?;
                shape.values[0] = Dim::Batch(self.rows_of(&x) as i64);
                shapes::slice(&shape, proto::attr_int(node, "start", 0)?, proto::attr_int(node, "end", i64::MAX)?)
            }
            "Gather" => {
                if proto::attr_int(node, "axis", 0)? != 0 {
                    return Err("only axis 0 of shape values can be gathered".into());
                }
                let indices = self.dims(node, 1)?;
                let positions = indices.known().ok_or("the indices depend on the batch size")?;
                self.dims(node, 0)?
                    .gather(&positions, indices.scalar)
                    .ok_or_else(|| format!("indices {positions:?} out of range"))?
            }
            "Cast" => {
                use tract_onnx::pb::tensor_proto::DataType;
                let to = proto::attr_int(node, "to", 0)?;
                if ![DataType::Int64 as i64, DataType::Int32 as i64].contains(&to) {
                    return Err(format!("only casts of shape values to integers are supported (to = {to})"));
                }
                self.dims(node, 0)?
            }
            "Slice" => {
                let (starts, ends) = (ints(1)?, ints(2)?);
                let axes = if node.input.len() > 3 { ints(3)? } else { vec![0] };
                let steps = if node.input.len() > 4 { ints(4)? } else { vec![1] };
                if starts.len() != 1 || ends.len() != 1 || !matches!(axes[..], [0] | [-1]) || steps != [1] {
                    return Err(format!("only a step-1 slice of one vector of shape values is supported (starts {starts:?}, ends {ends:?}, axes {axes:?}, steps {steps:?})"));
                }
                shapes::slice(&self.dims(node, 0)?, starts[0], ends[0])
            }
            "Concat" => {
                if !matches!(proto::attr_int(node, "axis", 0)?, 0 | -1) {
                    return Err("shape values concatenate on axis 0 only".into());
                }
                let parts = (0..node.input.len()).map(|i| self.dims(node, i)).collect::<Result<Vec<_>, _>>()?;
                Dims::concat(&parts).ok_or("cannot concatenate scalars")?
            }
            "ReduceProd" => {
                let values = self.dims(node, 0)?;
                let keep = proto::attr_int(node, "keepdims", 1)? != 0;
                let product = values
                    .values
                    .iter()
                    .try_fold(Dim::Known(1), |acc, &d| acc.checked_mul(d))
                    .ok_or("a product of shape values that overflows")?;
                Dims { values: vec![product], scalar: !keep }
            }
            "Unsqueeze" => shapes::with_rank(&self.dims(node, 0)?, 1, &ints(1)?)?,
            "Squeeze" => {
                shapes::with_rank(&self.dims(node, 0)?, 0, &if node.input.len() > 1 { ints(1)? } else { vec![] })?
            }
            other => return Err(format!("op '{other}' is not supported on shape values")),
        };
        self.bind_dims(node, dims)
    }

    fn unary(&mut self, node: &NodeProto, op: &str, attrs: Attrs) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        self.elementwise(node, op, vec![x.node.clone()], attrs, &x)
    }

    /// Emits an element-wise op whose result is shaped and held like `like`, with as many
    /// rows per sample.
    fn elementwise(
        &mut self,
        node: &NodeProto,
        op: &str,
        inputs: Vec<String>,
        attrs: Attrs,
        like: &Tensor,
    ) -> Result<(), String> {
        let rows = self.rows_of(like);
        self.emit_output(node, op, inputs, attrs, like.shape.clone(), like.layout.clone())?;
        self.inherit_rows(node, rows)
    }

    /// Rows per sample of `x` (1 unless its batch axis is merged).
    fn rows_of(&self, x: &Tensor) -> usize {
        self.rows.get(&x.node).copied().unwrap_or(1)
    }

    /// Records that the TF node computing `node`'s output has `rows` rows per sample.
    fn inherit_rows(&mut self, node: &NodeProto, rows: usize) -> Result<(), String> {
        if rows > 1 {
            if let Some(Value::Tensor(t)) = self.values.get(Self::output_name(node)?) {
                self.rows.insert(t.node.clone(), rows);
            }
        }
        Ok(())
    }

    /// `Sqrt`, remembered for a `Reciprocal` that follows.
    fn sqrt(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        self.square_roots.insert(Self::output_name(node)?.to_string(), x);
        self.unary(node, "Sqrt", vec![])
    }

    /// `Reciprocal`; of a `Sqrt`, TF's `Rsqrt` of its operand.
    fn reciprocal(&mut self, node: &NodeProto) -> Result<(), String> {
        let name = node.input.first().cloned().unwrap_or_default();
        match self.square_roots.get(&name).cloned() {
            Some(radicand) => {
                self.elementwise(node, "Rsqrt", vec![radicand.node.clone()], vec![("T", float_type())], &radicand)
            }
            None => self.unary(node, "Reciprocal", vec![]),
        }
    }

    /// The `[1, h, w, 1]` TF form of an ONNX (h, w) attribute.
    fn window(&self, node: &NodeProto, x: &Tensor, kernel: [usize; 2]) -> Result<Window, String> {
        let pair = |attr: &str| -> Result<[usize; 2], String> {
            match proto::attr_ints(node, attr)? {
                None => Ok([1, 1]),
                Some(v) if v.len() == 2 && v.iter().all(|&s| s > 0) => Ok([v[0] as usize, v[1] as usize]),
                Some(v) => Err(format!("{attr} {v:?}: expected two positive values")),
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
                Some(p) => Err(format!("pads {p:?}: expected four non-negative values"))?,
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
            other => Err(format!("auto_pad {other} is not supported"))?,
        };
        Ok(Window { kernel, strides, dilations, pads })
    }

    fn window_shape(&self, x: &Tensor, window: &Window, channels: Option<usize>) -> Result<Vec<Option<usize>>, String> {
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
    fn conv(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let x = self.nhwc(&x)?;
        let weight = self.constant(node, 1)?.ok_or("the weight (input 1) is missing")?;
        let weight = proto::f32_view(&weight);
        if weight.ndim() != 4 {
            return Err(format!("only 2-D convolutions are supported (weight shape {:?})", weight.shape()));
        }
        let (filters, per_group, kh, kw) = (weight.shape()[0], weight.shape()[1], weight.shape()[2], weight.shape()[3]);
        if weight.is_empty() {
            return Err(format!("the weight has an empty shape {:?}", weight.shape()));
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
            return Err(format!("group {group} with {per_group} input channels per group does not divide {channels} channels and {filters} filters"));
        };
        let Some(bias) = bias else {
            self.bind(Self::output_name(node)?, Tensor { node: conv, shape, layout: TO_NHWC.to_vec() });
            return Ok(());
        };
        let bias = bias.to_f32();
        if bias.len() != filters {
            return Err(format!("the bias has {} values for {filters} filters", bias.len()));
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

    /// `MatMul` of a tensor by a constant matrix (`A`: (batch, K), `B`: (K, N)) with `BiasAdd`.
    fn dense(
        &mut self,
        node: &NodeProto,
        a: Tensor,
        weight: ArrayViewD<f32>,
        bias: Option<ArrayD<f32>>,
    ) -> Result<(), String> {
        if a.rank() != 2 || weight.ndim() != 2 || a.shape[1] != Some(weight.shape()[0]) {
            return Err(format!(
                "only (batch, K) × constant (K, N) products are supported, got {:?} × {:?}",
                a.shape,
                weight.shape()
            ));
        }
        let units = weight.shape()[1];
        let shape = vec![a.shape[0], Some(units)];
        let kernel_shape = weight.shape().to_vec();
        let kernel = self.emit_f32(&self.part("kernel"), weight, &kernel_shape);
        let rows = self.rows_of(&a);
        let Some(bias) = bias else {
            self.emit_output(node, "MatMul", vec![a.node, kernel], vec![("T", float_type())], shape, identity(2))?;
            return self.inherit_rows(node, rows);
        };
        let matmul = self.emit(&self.part("matmul"), "MatMul", vec![a.node, kernel], vec![("T", float_type())]);
        if bias.len() != units || bias.shape().iter().rev().skip(1).any(|&d| d != 1) {
            return Err(format!("the bias of shape {:?} does not broadcast per output unit ({units})", bias.shape()));
        }
        let bias = self.emit_const(
            &self.part("bias"),
            &Const::F32(bias.into_shape_with_order(IxDyn(&[units])).map_err(|e| e.to_string())?),
        );
        self.emit_output(node, "BiasAdd", vec![matmul, bias], vec![], shape, identity(2))?;
        self.inherit_rows(node, rows)
    }

    /// `Gemm`: `alpha·A·op(B) + beta·C` with constant B and C; alpha and beta are folded in.
    fn gemm(&mut self, node: &NodeProto) -> Result<(), String> {
        if proto::attr_int(node, "transA", 0)? != 0 {
            return Err("transA = 1 is not supported".into());
        }
        let a = self.tensor(node, 0)?;
        let b = self.constant(node, 1)?.ok_or("B (input 1) is missing")?;
        let b = proto::f32_view(&b);
        let b = if proto::attr_int(node, "transB", 0)? != 0 { b.view().reversed_axes() } else { b.view() };
        let alpha = proto::attr_float(node, "alpha", 1.0)?;
        let beta = proto::attr_float(node, "beta", 1.0)?;
        let bias = self.constant(node, 2)?.map(|c| c.to_f32().mapv(|v| v * beta));
        if alpha == 1.0 {
            return self.dense(node, a, b, bias);
        }
        self.dense(node, a, b.mapv(|v| v * alpha).view(), bias)
    }

    fn mat_mul(&mut self, node: &NodeProto) -> Result<(), String> {
        let a = self.tensor(node, 0)?;
        let b = self.constant(node, 1)?.ok_or("only products with a constant right-hand side are supported")?;
        let b = proto::f32_view(&b);
        if a.rank() > 2 {
            return self.last_axis_mat_mul(node, a, b.view());
        }
        self.dense(node, a, b.view(), None)
    }

    /// `MatMul` of a (batch, ..., K) tensor by a constant (K, N) (a PyTorch `Linear` on
    /// channels-last pixels, as in ConvNeXt): TF's `tensordot` form, Reshape to (batch·...,
    /// K) → `MatMul` → Reshape back, which the converter turns into a `Dense` on the last axis.
    fn last_axis_mat_mul(&mut self, node: &NodeProto, a: Tensor, weight: ArrayViewD<f32>) -> Result<(), String> {
        let rank = a.rank();
        let k = a.shape[rank - 1];
        if weight.ndim() != 2 || k != Some(weight.shape()[0]) {
            return Err(format!(
                "only (batch, ..., K) × constant (K, N) products are supported, got {:?} × {:?}",
                a.shape,
                weight.shape()
            ));
        }
        let units = weight.shape()[1];
        let a = self.in_onnx_layout(&a)?;
        let rows_shape = self.emit_ints(&self.part("rows/shape"), &[-1, weight.shape()[0] as i64]);
        let rows =
            self.emit(&self.part("rows"), "Reshape", vec![a.node.clone(), rows_shape], vec![("T", float_type())]);
        let kernel_shape = weight.shape().to_vec();
        let kernel = self.emit_f32(&self.part("kernel"), weight, &kernel_shape);
        let product = self.emit(&self.part("matmul"), "MatMul", vec![rows, kernel], vec![("T", float_type())]);
        let mut shape = a.shape.clone();
        shape[rank - 1] = Some(units);
        let back: Vec<i64> = std::iter::once(-1).chain(shape[1..].iter().map(|d| d.map_or(-1, |d| d as i64))).collect();
        let back = self.emit_ints(&self.part("shape"), &back);
        self.emit_output(node, "Reshape", vec![product, back], vec![("T", float_type())], shape, identity(rank))
    }

    /// `LayerNormalization` over the last axis → the arithmetic of tf-keras's unfused
    /// `LayerNormalization` (Mean, SquaredDifference, Rsqrt), which the converter recognises
    /// as a Keras `LayerNormalization` with the node's epsilon, scale and bias.
    fn layer_norm(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank();
        let axis = proto::attr_int(node, "axis", -1)?;
        if axis != -1 && axis != rank as i64 - 1 {
            return Err(format!("axis {axis} of {:?}: only the last axis is supported", x.shape));
        }
        let channels = x.shape[rank - 1].ok_or("the normalised axis has an unknown size")?;
        let epsilon = proto::attr_float(node, "epsilon", 1e-5)?;
        let gamma = self.per_channel(node, 1, "gamma", channels, Some(1.0))?;
        let beta = self.per_channel(node, 2, "beta", channels, Some(0.0))?;
        // The last TF axis must be the normalised one.
        let x = if x.layout.last() == Some(&(rank - 1)) { x } else { self.in_onnx_layout(&x)? };
        let t = float_type;
        let keep: Attrs = vec![("T", t()), ("keep_dims", pb::attr_value::Value::B(true))];
        let axes = self.emit_ints(&self.part("axes"), &[-1]);
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

    /// A `Const` of constant input `index` (`role` in errors) as one value per channel; when
    /// the input is absent, `default` everywhere, or an error without one.
    fn per_channel(
        &mut self,
        node: &NodeProto,
        index: usize,
        role: &str,
        channels: usize,
        default: Option<f32>,
    ) -> Result<String, String> {
        let value = match (self.constant(node, index)?, default) {
            (Some(c), _) => c.to_f32(),
            (None, Some(default)) => ArrayD::from_elem(IxDyn(&[channels]), default),
            (None, None) => return Err(format!("{role} (input {index}) is missing")),
        };
        if value.len() != channels {
            return Err(format!("{role} has {} values for {channels} channels", value.len()));
        }
        let value = value.into_shape_with_order(IxDyn(&[channels])).map_err(|e| e.to_string())?;
        Ok(self.emit_const(&self.part(role), &Const::F32(value)))
    }

    /// `BatchNormalization` (inference) → `FusedBatchNormV3` with the node's epsilon.
    fn batch_norm(&mut self, node: &NodeProto) -> Result<(), String> {
        if proto::attr_int(node, "training_mode", 0)? != 0 || node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err("training mode is not supported".into());
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

    /// `Clip(0, 6)` → `Relu6`, `Clip(0, ∞)` → `Relu`; other bounds have no exact Keras layer.
    fn clip(&mut self, node: &NodeProto) -> Result<(), String> {
        self.tensor(node, 0)?;
        let bound = |index: usize| -> Result<Option<f32>, String> {
            match self.constant(node, index)? {
                None => Ok(None),
                Some(c) if c.shape().iter().product::<usize>() == 1 => Ok(c.to_f32().iter().next().copied()),
                Some(_) => Err(format!("input {index} must be a scalar")),
            }
        };
        match (bound(1)?, bound(2)?) {
            (Some(min), Some(max)) if min == 0.0 && max == 6.0 => self.unary(node, "Relu6", vec![]),
            (Some(0.0), None) => self.unary(node, "Relu", vec![]),
            (Some(min), max) if min == 0.0 && max.is_some_and(f32::is_infinite) => self.unary(node, "Relu", vec![]),
            (min, max) => Err(format!("Clip({min:?}, {max:?}) is not supported (only Clip(0, 6) and Clip(0, ∞))")),
        }
    }

    /// relu6(x + 3) / 6 for `x`, MobileNetV3's hard-sigmoid as the converter's pattern
    /// expects it; the final `Mul` is named `name`.
    fn relu6_plus_3_over_6(&mut self, x: &Tensor, name: &str) -> String {
        let three = self.emit_scalar(&self.part("three"), 3.0);
        let added = self.emit(&self.part("add"), "AddV2", vec![x.node.clone(), three], vec![]);
        let relu6 = self.emit(&self.part("relu6"), "Relu6", vec![added], vec![]);
        let sixth = self.emit_scalar(&self.part("one_sixth"), 1.0 / 6.0);
        self.emit(name, "Mul", vec![relu6, sixth], vec![])
    }

    /// `HardSigmoid(alpha, beta)` = clip(alpha·x + beta, 0, 1) = relu6(6·alpha·x + 6·beta) / 6.
    /// PyTorch's (alpha 1/6, beta 0.5) is relu6(x + 3) / 6.
    fn hard_sigmoid(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let alpha = proto::attr_float(node, "alpha", 0.2)?;
        let beta = proto::attr_float(node, "beta", 0.5)?;
        let scaled = if (alpha - 1.0 / 6.0).abs() <= f32::EPSILON && beta == 0.5 {
            x.clone()
        } else {
            let scale = self.emit_scalar(&self.part("scale"), alpha * 6.0);
            let scaled = self.emit(&self.part("scaled"), "Mul", vec![x.node.clone(), scale], vec![]);
            let offset = self.emit_scalar(&self.part("offset"), beta * 6.0 - 3.0);
            let node = self.emit(&self.part("shifted"), "AddV2", vec![scaled, offset], vec![]);
            Tensor { node, ..x.clone() }
        };
        let output = Self::output_name(node)?.to_string();
        let result = self.relu6_plus_3_over_6(&scaled, &output);
        let rows = self.rows_of(&x);
        self.bind(&output, Tensor { node: result, ..x });
        self.inherit_rows(node, rows)
    }

    /// `HardSwish` = x · relu6(x + 3) / 6.
    fn hard_swish(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let gate = self.relu6_plus_3_over_6(&x, &self.part("hard_sigmoid"));
        self.elementwise(node, "Mul", vec![x.node.clone(), gate], vec![], &x)
    }

    /// A constant operand of an element-wise op on `x`, in `x`'s TF layout: right-aligned to
    /// x's rank (ONNX broadcasting), permuted like `x`, leading 1s dropped.
    fn broadcast_constant(&mut self, c: &Const, x: &Tensor, wanted: &str) -> Result<String, String> {
        let value = c.to_f32();
        if value.ndim() > x.rank() {
            return Err(format!("a constant of shape {:?} does not broadcast against {:?}", value.shape(), x.shape));
        }
        let value = if x.permutation().is_some() {
            let mut shape = vec![1; x.rank() - value.ndim()];
            shape.extend_from_slice(value.shape());
            let aligned = value.into_shape_with_order(IxDyn(&shape)).map_err(|e| e.to_string())?;
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

    /// Element-wise `Add`/`Sub`/`Mul`/`Div` of tensors of one layout, or with a constant.
    fn binary(&mut self, node: &NodeProto, op: &str) -> Result<(), String> {
        let (a, b) = (self.value(node, 0)?.clone(), self.value(node, 1)?.clone());
        // (x - m)·(x - m): TF's SquaredDifference, as tf2onnx expands it.
        if op == "Mul" && node.input.first() == node.input.get(1) {
            if let Some((x, m)) = node.input.first().and_then(|d| self.differences.get(d)).cloned() {
                if x.rank() == m.rank() && x.layout == m.layout {
                    return self.elementwise(
                        node,
                        "SquaredDifference",
                        vec![x.node.clone(), m.node],
                        vec![("T", float_type())],
                        &x,
                    );
                }
            }
        }
        let (inputs, x) = match (&a, &b) {
            (Value::Tensor(a), Value::Tensor(b)) => {
                if a.rank() != b.rank() {
                    return Err(format!("operands of shapes {:?} and {:?} (ranks must agree)", a.shape, b.shape));
                }
                let b = self.held_as(b, &a.layout, &self.part("b_layout"))?;
                let shape = a.shape.iter().zip(&b.shape).map(|(x, y)| match (x, y) {
                    (Some(1), other) | (other, Some(1)) => *other,
                    (x, _) => *x,
                });
                (vec![a.node.clone(), b.node.clone()], Tensor { shape: shape.collect(), ..a.clone() })
            }
            (Value::Tensor(t), Value::Const(c)) => {
                (vec![t.node.clone(), self.broadcast_constant(c, t, &self.part("b"))?], t.clone())
            }
            (Value::Const(c), Value::Tensor(t)) => {
                (vec![self.broadcast_constant(c, t, &self.part("a"))?, t.node.clone()], t.clone())
            }
            _ => return self.shape_binary(node, op),
        };
        if let (Value::Tensor(a), Value::Tensor(b), "Sub") = (&a, &b, op) {
            self.differences.insert(Self::output_name(node)?.to_string(), (a.clone(), b.clone()));
        }
        self.elementwise(node, op, inputs, vec![("T", float_type())], &x)
    }

    /// Integer arithmetic on shape values and integer constants (ShuffleNet's
    /// `channels // 2`), folded; `op` is the TF op `binary` was given.
    fn shape_binary(&mut self, node: &NodeProto, op: &str) -> Result<(), String> {
        let (a, b) = (self.dims(node, 0)?, self.dims(node, 1)?);
        let folded = match op {
            "AddV2" => a.zip_with(&b, |x, y| x.add(y, false)),
            "Sub" => a.zip_with(&b, |x, y| x.add(y, true)),
            "Mul" => a.zip_with(&b, Dim::checked_mul),
            "RealDiv" => a.zip_with(&b, Dim::checked_div),
            _ => None,
        };
        let folded =
            folded.ok_or_else(|| format!("{op} of shape values {:?} and {:?} is not supported", a.values, b.values))?;
        self.bind_dims(node, folded)
    }

    /// `MaxPool` / `AveragePool`. TF has VALID and SAME only, so ONNX pads become:
    /// no pads → VALID; SAME's pads → SAME (both exclude pads from averages); pads of SAME at
    /// stride 1 → SAME at stride 1, then a 1×1 pool with the stride (subsampling picks the
    /// same windows); an average counting pads → zero `Pad` + VALID. Others are refused
    /// (a zero pad would be wrong for a max).
    fn pool(&mut self, node: &NodeProto, op: &str) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let x = self.nhwc(&x)?;
        let kernel = match proto::attr_ints(node, "kernel_shape")?.as_deref() {
            Some([h, w]) if *h > 0 && *w > 0 => [*h as usize, *w as usize],
            other => return Err(format!("kernel_shape {other:?}: only 2-D pools are supported")),
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
            Err(format!(
                "pads {:?} with kernel {kernel:?} and strides {:?} have no exact TF/Keras padding",
                window.pads, window.strides
            ))
        }
    }

    /// `GlobalAveragePool`: the mean over H and W of a 4-D tensor, kept as 1×1.
    fn global_average_pool(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let x = self.nhwc(&x)?;
        self.mean(node, x, &[2, 3], true)
    }

    /// `ReduceMean` → `Mean` over the same axes in the tensor's layout (the converter decides
    /// which Keras layer, e.g. `GlobalAveragePooling2D` for H and W).
    fn reduce_mean(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank();
        let axes = match self.axes(node, rank)? {
            Some(axes) => axes,
            None if proto::attr_int(node, "noop_with_empty_axes", 0)? != 0 => {
                return Err("an empty reduction is not supported".into())
            }
            None => (0..rank).collect(),
        };
        if axes.contains(&0) {
            return Err(format!("axes {axes:?}: averaging over the batch is not supported"));
        }
        let keep_dims = proto::attr_int(node, "keepdims", 1)? != 0;
        self.mean(node, x, &axes, keep_dims)
    }

    /// TF `Mean` of `x` over ONNX `axes` (sorted, without the batch), in `x`'s layout.
    fn mean(&mut self, node: &NodeProto, x: Tensor, axes: &[usize], keep_dims: bool) -> Result<(), String> {
        // A spatial mean of an NCHW tensor is a global pooling: over H and W of NHWC.
        let x = if x.rank() == 4 && axes == [2, 3] { self.nhwc(&x)? } else { x };
        let tf_axes: Vec<i64> = axes.iter().map(|a| x.layout.iter().position(|b| b == a).unwrap_or(0) as i64).collect();
        let (shape, layout) = if keep_dims {
            let shape = x.shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { Some(1) } else { d }).collect();
            (shape, x.layout.clone())
        } else {
            let shape = x.shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
            let renumber = |a: usize| a - axes.iter().filter(|&&r| r < a).count();
            (shape, x.layout.iter().filter(|a| !axes.contains(a)).map(|&a| renumber(a)).collect())
        };
        let axes_node = self.emit_ints(&self.part("axes"), &tf_axes);
        let attrs: Attrs = vec![("T", float_type()), ("keep_dims", pb::attr_value::Value::B(keep_dims))];
        self.emit_output(node, "Mean", vec![x.node, axes_node], attrs, shape, layout)
    }

    fn concat(&mut self, node: &NodeProto) -> Result<(), String> {
        let tensors: Vec<Tensor> = (0..node.input.len()).map(|i| self.tensor(node, i)).collect::<Result<_, _>>()?;
        let first = tensors.first().ok_or("no inputs")?.clone();
        let rank = first.rank() as i64;
        let axis = proto::attr_int(node, "axis", 1)?;
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(1..rank).contains(&axis) || tensors.iter().any(|t| t.rank() != first.rank()) {
            return Err(format!(
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
    fn reshape_to(&mut self, node: &NodeProto, x: &Tensor, dims: &[usize]) -> Result<(), String> {
        self.reshape_rows(node, x, dims, 1)
    }

    /// [`reshape_to`](Self::reshape_to) into `rows` rows of `dims` per sample (more than one:
    /// the batch merged with leading axes, tf2onnx's `tensordot`), from an `x` that may
    /// itself have merged rows.
    fn reshape_rows(&mut self, node: &NodeProto, x: &Tensor, dims: &[usize], rows: usize) -> Result<(), String> {
        let (rows_in, per_row) =
            (self.rows_of(x), x.features().ok_or("the input shape is not fully known")?.iter().product::<usize>());
        if rows.checked_mul(dims.iter().product::<usize>()) != rows_in.checked_mul(per_row) {
            return Err(format!(
                "cannot reshape {:?} ({rows_in} rows per sample) to ({rows} rows per sample, {dims:?})",
                x.shape
            ));
        }
        let shape: Vec<Option<usize>> = std::iter::once(x.shape[0]).chain(dims.iter().map(|&d| Some(d))).collect();
        // Merged rows keep the ONNX layout; otherwise the relabelling and NHWC shortcuts apply.
        let merged = rows_in != 1 || rows != 1;
        if let Some(perm) = unit_axis_move(&x.shape, &shape).filter(|_| !merged) {
            let moved = x.relabelled(&perm);
            self.bind(Self::output_name(node)?, moved);
            return Ok(());
        }
        let source = if x.in_onnx_order() { x.clone() } else { self.in_onnx_layout(x)? };
        // A 4-D result with one channel or 1×1 pixels can be written NHWC straight away, which
        // spares the Conv after a squeeze-excite reshape a transpose.
        let layout = if !merged && shape.len() == 4 && keeps_order(&shape, &TO_NHWC) {
            TO_NHWC.to_vec()
        } else {
            identity(shape.len())
        };
        let target: Vec<i64> = permuted(&shape, &layout).iter().map(|d| d.map_or(-1, |d| d as i64)).collect();
        let target = self.emit_ints(&self.part("shape"), &target);
        self.emit_output(node, "Reshape", vec![source.node, target], vec![("T", float_type())], shape, layout)?;
        self.inherit_rows(node, rows)
    }

    /// `Flatten(axis = 1)`: (batch, everything else), in NCHW element order.
    fn flatten(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let axis = proto::attr_int(node, "axis", 1)?;
        if axis != 1 && axis != 1 - x.rank() as i64 {
            return Err(format!("axis {axis}: only Flatten(axis=1) keeps the batch"));
        }
        let features = x.features().ok_or("the input shape is not fully known")?;
        self.reshape_to(node, &x, &[features.iter().product()])
    }

    /// The `axes` of `Squeeze`/`Unsqueeze`/`ReduceMean` (input 1, or the attribute before
    /// opsets 13/18), sorted and made non-negative for a tensor of `rank`; `None` when absent.
    fn axes(&self, node: &NodeProto, rank: usize) -> Result<Option<Vec<usize>>, String> {
        let axes = match self.constant(node, 1)? {
            Some(axes) => axes.int_values().ok_or("the axes must be integers")?,
            None => match proto::attr_ints(node, "axes")? {
                Some(axes) => axes,
                None => return Ok(None),
            },
        };
        let mut resolved = resolve_axes(&axes, rank)?;
        resolved.sort_unstable();
        resolved.dedup();
        Ok(Some(resolved))
    }

    /// `Squeeze`: a reshape dropping axes of size 1 (never the batch).
    fn squeeze(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let unit_axes: Vec<usize> = (1..x.rank()).filter(|&a| x.shape[a] == Some(1)).collect();
        let axes = self.axes(node, x.rank())?.unwrap_or_else(|| unit_axes.clone());
        if axes.iter().any(|a| !unit_axes.contains(a)) {
            return Err(format!("axes {axes:?} of {:?}: only non-batch axes of size 1 can be squeezed", x.shape));
        }
        let dims: Vec<usize> = x
            .features()
            .ok_or("the input shape is not fully known")?
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(&(i + 1)))
            .map(|(_, d)| d)
            .collect();
        self.reshape_to(node, &x, &dims)
    }

    /// `Unsqueeze`: a reshape inserting axes of size 1 after the batch.
    fn unsqueeze(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank();
        let axes =
            self.constant(node, 1)?.and_then(|c| c.int_values()).ok_or("the axes must be an integer constant")?;
        let out_rank = rank + axes.len();
        let axes = self.axes(node, out_rank)?.unwrap_or_default();
        if axes.contains(&0) || axes.len() + rank != out_rank {
            return Err(format!("axes {axes:?}: only axes after the batch can be inserted"));
        }
        let mut features = x.features().ok_or("the input shape is not fully known")?.into_iter();
        let dims: Vec<usize> = (1..out_rank)
            .map(|a| if axes.contains(&a) { Some(1) } else { features.next() })
            .collect::<Option<_>>()
            .ok_or("axes out of range")?;
        self.reshape_to(node, &x, &dims)
    }

    /// `Slice` of a tensor (step 1, batch kept whole) → `StridedSlice` in the tensor's layout
    /// (→ `Cropping2D` for H and W, as tf2onnx writes Keras's `Cropping2D`).
    fn slice(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank();
        let ints = |index: usize| -> Result<Option<Vec<i64>>, String> {
            self.constant(node, index)?
                .map(|c| c.int_values().ok_or_else(|| format!("input {index} must be integers")))
                .transpose()
        };
        let (starts, ends) = (ints(1)?.ok_or("starts are missing")?, ints(2)?.ok_or("ends are missing")?);
        let axes = match ints(3)? {
            Some(axes) => resolve_axes(&axes, rank)?,
            None => (0..starts.len()).collect(),
        };
        let steps = ints(4)?.unwrap_or_else(|| vec![1; axes.len()]);
        if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
            return Err(format!(
                "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
            ));
        }
        // (begin, end) per ONNX axis; the batch axis must stay whole.
        let mut ranges: Vec<Option<(usize, usize)>> = vec![None; rank];
        for (((&axis, &start), &end), &step) in axes.iter().zip(&starts).zip(&ends).zip(&steps) {
            if step != 1 {
                return Err(format!("step {step} on axis {axis}: only step 1 is supported"));
            }
            let Some(dim) = x.shape[axis] else {
                if start == 0 && end >= i32::MAX as i64 {
                    continue;
                }
                return Err(format!("slicing axis {axis} of unknown size (the batch) is not supported"));
            };
            let clamp = |v: i64| (if v < 0 { v + dim as i64 } else { v }).clamp(0, dim as i64) as usize;
            let (begin, end) = (clamp(start), clamp(end));
            ranges[axis] = Some((begin, end.max(begin)));
        }
        let shape: Vec<Option<usize>> =
            x.shape.iter().zip(&ranges).map(|(&d, r)| r.map_or(d, |(b, e)| Some(e - b))).collect();
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
        let begin = self.emit_ints(&self.part("begin"), &begin);
        let end = self.emit_ints(&self.part("end"), &end);
        let strides = self.emit_ints(&self.part("strides"), &vec![1; rank]);
        let mask = |bits: i64| pb::attr_value::Value::I(bits);
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("begin_mask", mask(0)),
            ("end_mask", mask(end_mask)),
            ("ellipsis_mask", mask(0)),
            ("new_axis_mask", mask(0)),
            ("shrink_axis_mask", mask(0)),
        ];
        self.emit_output(
            node,
            "StridedSlice",
            vec![x.node.clone(), begin, end, strides],
            attrs,
            shape,
            x.layout.clone(),
        )
    }

    /// `Transpose` keeping the batch first: no TF node, the tensor is only held differently.
    fn transpose(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
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
            return Err(format!("perm {perm:?} is not a permutation of {rank} axes"));
        }
        if perm[0] != 0 {
            return Err(format!("perm {perm:?} moves the batch axis"));
        }
        let moved = x.relabelled(&perm);
        self.bind(Self::output_name(node)?, moved);
        Ok(())
    }

    /// `Reshape` to a constant shape whose first entry is the batch (0, -1 or its size).
    fn reshape(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let target_dims = self.dims(node, 1).map_err(|e| format!("the target shape: {e}"))?;
        // `None` stands for (a multiple of) the batch size computed at run time (`Shape` → `Gather`).
        let target: Vec<Option<i64>> = target_dims
            .values
            .iter()
            .map(|d| match d {
                Dim::Known(v) => Ok(Some(*v)),
                Dim::Batch(k) if *k >= 1 => Ok(None),
                Dim::Batch(k) => Err(format!("a target shape of {k} times the batch size is not supported")),
            })
            .collect::<Result<_, _>>()?;
        let features = x.features().ok_or("the input shape is not fully known")?;
        let elements = self.rows_of(&x) * features.iter().product::<usize>();
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
        let allow_zero = proto::attr_int(node, "allowzero", 0)? != 0;
        let Some((&first, rest)) = target.split_first() else { return Err("an empty target shape".into()) };
        // Only the first entry may be the batch size.
        let rest: Vec<i64> = rest
            .iter()
            .copied()
            .collect::<Option<_>>()
            .ok_or_else(|| format!("target shape {target:?} moves the batch"))?;
        let mut dims: Vec<i64> = rest
            .iter()
            .enumerate()
            .map(|(i, &d)| if d == 0 && !allow_zero { features.get(i).map_or(-2, |&f| f as i64) } else { d })
            .collect();
        if !elements.is_multiple_of(rows) {
            return Err(format!("target shape {target:?}: {elements} elements per sample do not make {rows} rows"));
        }
        // Elements per row of the result.
        let total = elements / rows;
        let known: i64 = dims.iter().filter(|&&d| d != -1).product();
        match dims.iter().filter(|&&d| d == -1).count() {
            0 => {}
            1 if known > 0 && total as i64 % known == 0 => {
                dims.iter_mut().filter(|d| **d == -1).for_each(|d| *d = total as i64 / known)
            }
            _ => return Err(format!("target shape {target:?} is ambiguous")),
        }
        let batch_kept = match first {
            None => true,
            Some(first) => {
                first == -1
                    || (first == 0 && !allow_zero)
                    || x.shape[0].is_some_and(|b| b as i64 == first)
                    || first == 1
            }
        };
        if !batch_kept || dims.iter().any(|&d| d < 0) {
            return Err(format!("target shape {target:?} does not keep the batch first"));
        }
        let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        self.reshape_rows(node, &x, &dims, rows)
    }

    /// `Softmax` over the channels (axis 1 of NCHW = the last NHWC axis) or the last axis.
    fn softmax(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let rank = x.rank() as i64;
        let axis = proto::attr_int(node, "axis", -1)?;
        let axis = if axis < 0 { axis + rank } else { axis };
        let last_in_tf = x.layout.last() == Some(&(axis as usize));
        if !last_in_tf {
            return Err(format!(
                "softmax over axis {axis} of {:?} is not supported (channels or last axis only)",
                x.shape
            ));
        }
        self.unary(node, "Softmax", vec![("T", float_type())])
    }

    /// `Resize` (nearest) of H and W by whole factors k → `ResizeNearestNeighbor` (→
    /// `UpSampling2D`), which reads input pixel floor(i / k). The ONNX coordinate modes that
    /// pick the same pixel for every factor: `asymmetric` + `floor` (i / k), `half_pixel` or
    /// `pytorch_half_pixel` + rounding (i + 0.5) / k − 0.5, which lies strictly within 0.5 of
    /// floor(i / k), and `tf_half_pixel_for_nn` + `floor`.
    fn resize(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        let x = self.nhwc(&x)?;
        if proto::attr_str(node, "mode", "nearest")? != "nearest" {
            return Err("only mode 'nearest' is supported".into());
        }
        let coordinates = proto::attr_str(node, "coordinate_transformation_mode", "half_pixel")?;
        let rounding = proto::attr_str(node, "nearest_mode", "round_prefer_floor")?;
        let exact = matches!(
            (coordinates.as_str(), rounding.as_str()),
            ("asymmetric" | "tf_half_pixel_for_nn", "floor")
                | ("half_pixel" | "pytorch_half_pixel", "round_prefer_floor" | "round_prefer_ceil")
        );
        if !exact {
            return Err(format!(
                "coordinate_transformation_mode '{coordinates}' with nearest_mode '{rounding}' is not supported"
            ));
        }
        let axes: Vec<usize> = match proto::attr_ints(node, "axes")? {
            None => (0..4).collect(),
            Some(axes) => resolve_axes(&axes, 4)?,
        };
        // Per-axis factors from `scales` (input 2) or `sizes` (input 3).
        let mut factors = [1usize; 4];
        if let Some(scales) = self.constant(node, 2)?.filter(|c| c.shape().iter().product::<usize>() > 0) {
            let scales = scales.to_f32();
            if scales.len() != axes.len() {
                return Err(format!("{} scales for {} axes", scales.len(), axes.len()));
            }
            for (&axis, &scale) in axes.iter().zip(scales.iter()) {
                if !(1.0..=MAX_FACTOR).contains(&scale) || scale.fract() != 0.0 {
                    return Err(format!("scale {scale} on axis {axis} is not a whole enlargement"));
                }
                factors[axis] = scale as usize;
            }
        } else if let Some(out) = self.constant(node, 3)?.and_then(|c| c.int_values()) {
            if out.len() != axes.len() {
                return Err(format!("{} sizes for {} axes", out.len(), axes.len()));
            }
            // The batch axis keeps its size whatever the file fixed it to.
            for (&axis, &size) in axes.iter().zip(&out).filter(|(&axis, _)| axis != 0) {
                let input = x.shape[axis].map_or(0, |d| d as i64);
                if input == 0 || size % input != 0 || size < input || size / input > MAX_FACTOR as i64 {
                    return Err(format!("size {size} on axis {axis} is not a whole multiple of {input}"));
                }
                factors[axis] = (size / input) as usize;
            }
        } else {
            return Err("neither constant scales nor constant sizes are given".into());
        }
        if factors[0] != 1 || factors[1] != 1 {
            return Err(format!("scales {factors:?}: only H and W may be resized"));
        }
        let (h, w) = (x.shape[2].ok_or("unknown height")?, x.shape[3].ok_or("unknown width")?);
        let shape = vec![x.shape[0], x.shape[1], Some(h * factors[2]), Some(w * factors[3])];
        let size = self.emit_ints(&self.part("size"), &[(h * factors[2]) as i64, (w * factors[3]) as i64]);
        let attrs: Attrs = vec![
            ("T", float_type()),
            ("align_corners", pb::attr_value::Value::B(false)),
            ("half_pixel_centers", pb::attr_value::Value::B(false)),
        ];
        self.emit_output(node, "ResizeNearestNeighbor", vec![x.node, size], attrs, shape, TO_NHWC.to_vec())
    }

    /// `Pad` with zeros (mode constant), pads permuted to NHWC.
    fn pad(&mut self, node: &NodeProto) -> Result<(), String> {
        let x = self.tensor(node, 0)?;
        if proto::attr_str(node, "mode", "constant")? != "constant" {
            return Err("only constant padding is supported".into());
        }
        if let Some(value) = self.constant(node, 2)? {
            if value.to_f32().iter().any(|&v| v != 0.0) {
                return Err("only padding with zeros is supported".into());
            }
        }
        let pads =
            self.constant(node, 1)?.and_then(|c| c.int_values()).ok_or("the pads must be an integer constant")?;
        let rank = x.rank();
        let axes: Vec<usize> = match self.constant(node, 3)? {
            None => (0..rank).collect(),
            Some(c) => resolve_axes(&c.int_values().ok_or("the axes must be integers")?, rank)?,
        };
        if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
            return Err(format!("pads {pads:?}: expected {} non-negative values", 2 * axes.len()));
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
        self.emit_output(node, "Pad", vec![x.node, paddings], vec![("T", float_type())], shape, x.layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed op reaches its translation (which then fails on the empty node), and an
    /// unlisted one is refused as unsupported.
    #[test]
    fn listed_ops_are_dispatched() {
        let mut sorted = SUPPORTED_OPS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, SUPPORTED_OPS);
        for op in SUPPORTED_OPS.iter().chain(&["LpNormalization"]) {
            let node = NodeProto { op_type: op.to_string(), output: vec!["y".into()], ..Default::default() };
            let mut t = Translator::new(Path::new("m.onnx"));
            let error = t.node(&node).err().unwrap_or_default();
            assert_eq!(error.contains("is not supported"), *op == "LpNormalization", "{op}: {error}");
        }
    }

    fn value_info(name: &str, dims: &[i64]) -> tract_onnx::pb::ValueInfoProto {
        use tract_onnx::pb::{
            tensor_shape_proto::dimension::Value as DimValue, tensor_shape_proto::Dimension, type_proto,
            TensorShapeProto, TypeProto, ValueInfoProto,
        };
        let dim = |d: i64| Dimension {
            value: Some(if d < 0 { DimValue::DimParam("N".into()) } else { DimValue::DimValue(d) }),
            ..Default::default()
        };
        let tensor_type = type_proto::Tensor {
            elem_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
            shape: Some(TensorShapeProto { dim: dims.iter().map(|&d| dim(d)).collect() }),
        };
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor_type)), ..Default::default() }),
            ..Default::default()
        }
    }

    fn onnx_node(op: &str, inputs: &[&str], output: &str, attrs: Vec<tract_onnx::pb::AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|i| i.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    fn ints_attr(name: &str, values: &[i64]) -> tract_onnx::pb::AttributeProto {
        use tract_onnx::pb::attribute_proto::AttributeType;
        tract_onnx::pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Ints as i32,
            ints: values.to_vec(),
            ..Default::default()
        }
    }

    fn int_initializer(name: &str, values: &[i64]) -> tract_onnx::pb::TensorProto {
        tract_onnx::pb::TensorProto {
            name: name.into(),
            dims: vec![values.len() as i64],
            data_type: tract_onnx::pb::tensor_proto::DataType::Int64 as i32,
            int64_data: values.to_vec(),
            ..Default::default()
        }
    }

    /// Translates a graph with input `x` of `input_dims` and output `y`.
    fn translated(
        input_dims: &[i64],
        nodes: Vec<NodeProto>,
        initializers: Vec<tract_onnx::pb::TensorProto>,
    ) -> Result<TfGraph, String> {
        let graph = GraphProto {
            node: nodes,
            initializer: initializers,
            input: vec![value_info("x", input_dims)],
            output: vec![value_info("y", &[])],
            ..Default::default()
        };
        translate(Path::new("m.onnx"), graph, &Options::default()).map_err(|e| e.to_string())
    }

    /// The TF ops of [`translated`], in order, constants left out.
    fn translated_ops(
        input_dims: &[i64],
        nodes: Vec<NodeProto>,
        initializers: Vec<tract_onnx::pb::TensorProto>,
    ) -> Result<Vec<String>, String> {
        Ok(translated(input_dims, nodes, initializers)?
            .nodes()
            .iter()
            .map(|n| n.op.clone())
            .filter(|op| op != "Const")
            .collect())
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
        let error = translated_ops(
            &[-1, 3, 8, 8],
            vec![onnx_node("Slice", &["x", "starts", "ends", "axes", "steps"], "y", vec![])],
            vec![
                int_initializer("starts", &[0]),
                int_initializer("ends", &[4]),
                int_initializer("axes", &[2]),
                int_initializer("steps", &[2]),
            ],
        )
        .unwrap_err();
        assert!(error.contains("only step 1 is supported"), "{error}");
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
        let mut t = Translator::new(Path::new("m.onnx"));
        let x = Tensor { node: "x".into(), shape: vec![None, Some(5), Some(5), Some(3)], layout: identity(4) };
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
        assert!(error.contains("node 'y' (Reshape)") && error.contains("moves the batch"), "{error}");
    }

    #[test]
    fn transposes_moving_the_batch_are_refused() {
        let nodes = vec![onnx_node("Transpose", &["x"], "y", vec![ints_attr("perm", &[1, 0, 2])])];
        let error = translated_ops(&[-1, 3, 4], nodes, vec![]).unwrap_err();
        assert!(error.contains("(Transpose): perm [1, 0, 2] moves the batch axis"), "{error}");
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

    #[test]
    fn ceil_mode_adds_end_pad_only_for_a_window_starting_inside() {
        // GoogLeNet's 3×3 stride-2 pools: 112 → 56 windows, the last one partial.
        assert_eq!(ceil_mode_extra(112, 3, 2, (0, 0)), 1);
        assert_eq!(ceil_mode_extra(111, 3, 2, (0, 0)), 0);
        // A window would start in the end pad: PyTorch drops it.
        assert_eq!(ceil_mode_extra(4, 2, 2, (0, 1)), 0);
        assert_eq!(ceil_mode_extra(6, 3, 2, (1, 1)), 1);
    }

    #[test]
    fn same_pads_follow_tf() {
        assert_eq!(same_pads(112, 3, 2), (0, 1));
        assert_eq!(same_pads(7, 3, 1), (1, 1));
        assert_eq!(same_pads(1, 2, 1), (0, 1));
        assert_eq!(window_output(112, 3, 2, 1, (1, 1)), Some(56));
        assert_eq!(window_output(2, 3, 1, 1, (0, 0)), None);
    }

    #[test]
    fn pads_pair_begins_with_ends() {
        assert_eq!(pairs(&[1, 2, 3, 4]), vec![(1, 3), (2, 4)]);
        assert_eq!(permuted(&[(0, 0), (1, 1), (2, 2), (3, 3)], &TO_NHWC), vec![(0, 0), (2, 2), (3, 3), (1, 1)]);
    }
}

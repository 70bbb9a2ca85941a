//! The graph's edges: each ONNX graph input becomes a TF `Placeholder` (NHWC for a 4-D
//! NCHW input unless NCHW is kept or the file is channels-last already), and each graph
//! output is brought back to the layout the model's edges take, with the sentence the report
//! gives about it.

use std::collections::{HashMap, HashSet};

use tf2h5_tf::pb;
use tract_onnx::pb::GraphProto;

use crate::error::{ErrorKind, OnnxError};
use crate::proto;
use crate::translator::{
    batch_first, identity, permuted, tf_shape, unit_axis_move, Attrs, Tensor, Translator, Value, TO_NHWC,
};
use crate::Options;

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

/// The shape a graph input declares (`None`: unknown, a `dim_param` or nothing), or why it
/// has none a Keras `Input` can take.
pub(crate) fn input_shape(input: &tract_onnx::pb::ValueInfoProto) -> Result<Vec<Option<usize>>, String> {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
    use tract_onnx::pb::type_proto::Value as TypeValue;
    let tensor_type = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => t,
        _ => return Err("not a tensor".into()),
    };
    let dims = tensor_type.shape.as_ref().map(|s| &s.dim).ok_or("the input has no shape")?;
    Ok(dims
        .iter()
        .map(|d| match d.value {
            Some(DimValue::DimValue(v)) if v > 0 => Some(v as usize),
            _ => None,
        })
        .collect())
}

/// The names (`dim_param`) a value's declared shape gives its axes, `None` where it gives none.
fn dim_names(value: &tract_onnx::pb::ValueInfoProto) -> Vec<Option<&str>> {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
    use tract_onnx::pb::type_proto::Value as TypeValue;
    let dims = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => t.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default(),
        _ => &[],
    };
    dims.iter()
        .map(|d| match &d.value {
            Some(DimValue::DimParam(name)) if !name.is_empty() => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// The axis of graph input `input` that holds the batch: axis 0, unless the input gives axis 0
/// no batch name while another axis has one, as silero-vad's `state` [2, 'batch', 128] beside
/// its `input` ['batch', 'sequence']. The batch names are the `dim_param`s the graph's other
/// inputs and outputs give their axis 0 (`batch`, torch's `N`). An input naming the batch on
/// two axes other than 0 is refused: which one the samples run along is unknown.
pub(crate) fn batch_axis(graph: &GraphProto, input: &tract_onnx::pb::ValueInfoProto) -> Result<usize, String> {
    let others = graph.input.iter().chain(&graph.output).filter(|other| other.name != input.name);
    let batch_names: HashSet<&str> = others.filter_map(|other| dim_names(other).first().copied().flatten()).collect();
    let names = dim_names(input);
    let is_batch = |name: &Option<&str>| name.is_some_and(|name| batch_names.contains(name));
    if names.first().is_none_or(is_batch) {
        return Ok(0);
    }
    let named: Vec<usize> = (1..names.len()).filter(|&axis| is_batch(&names[axis])).collect();
    match named[..] {
        [] => Ok(0),
        [axis] => Ok(axis),
        _ => Err(format!(
            "axes {named:?} all carry the batch name '{}' and axis 0 does not: which one holds the batch is unknown",
            names[named[0]].unwrap_or_default()
        )),
    }
}

/// The sentence saying which edges hold their batch on another ONNX axis and are given
/// batch-first: `what` ("inputs", "outputs") and each edge's name and ONNX axes in the order the
/// `.h5` holds them; empty when none moves the batch.
pub(crate) fn moved_batch_sentence(what: &str, edges: &[(String, Vec<usize>)]) -> String {
    let moved: Vec<String> = edges
        .iter()
        .filter_map(|(name, axes)| {
            let batch = axes.first().copied().filter(|&batch| batch != 0)?;
            Some(format!("'{name}' (ONNX axes {axes:?}, the batch on axis {batch} in ONNX)"))
        })
        .collect();
    if moved.is_empty() {
        return String::new();
    }
    format!("; {what} given batch-first: {}", moved.join(", "))
}

/// What the report says about layouts. `edges` hold (TF node, rank).
pub(crate) fn layout_sentence(
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

/// The TF type of a graph input of ONNX element type `elem_type`: float32, or the integer and
/// boolean types Keras `Input`s take (ids, bytes, masks).
fn input_type(elem_type: i32) -> Result<pb::DataType, String> {
    use tract_onnx::pb::tensor_proto::DataType as Onnx;
    match Onnx::try_from(elem_type) {
        Ok(Onnx::Float) => Ok(pb::DataType::DtFloat),
        Ok(Onnx::Int32) => Ok(pb::DataType::DtInt32),
        Ok(Onnx::Int64) => Ok(pb::DataType::DtInt64),
        Ok(Onnx::Uint8) => Ok(pb::DataType::DtUint8),
        Ok(Onnx::Bool) => Ok(pb::DataType::DtBool),
        Ok(_) => Err(format!(
            "inputs of type {} are not supported (float32, int32, int64, uint8 and bool are)",
            crate::proto::type_name(elem_type)
        )),
        Err(_) => Err(format!("{} is not an ONNX type", crate::proto::type_name(elem_type))),
    }
}

impl Translator {
    /// A graph input: a `Placeholder`, NHWC for a 4-D NCHW input unless NCHW is kept, batch
    /// first for an input whose batch is on another axis.
    pub(crate) fn input(
        &mut self,
        graph: &GraphProto,
        input: &tract_onnx::pb::ValueInfoProto,
        options: &Options,
    ) -> Result<(String, usize), OnnxError> {
        use tract_onnx::pb::type_proto::Value as TypeValue;
        let refuse = |message: String| {
            OnnxError::new(self.file.clone(), ErrorKind::Input { input: input.name.clone(), message })
        };
        let mut shape = input_shape(input).map_err(refuse)?;
        let elem_type = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(TypeValue::TensorType(t)) => t.elem_type,
            _ => 0,
        };
        let dtype = input_type(elem_type).map_err(refuse)?;
        if shape.is_empty() {
            return Err(refuse("a scalar input has no batch dimension".into()));
        }
        // The batch is axis 0 whatever the file fixes it to, unless the graph's batch name
        // puts it on another axis (see `batch_axis`). Other unknown dimensions (a `dim_param`,
        // or none given) stay unknown in the placeholder: as for a TF graph, verification
        // converts and proves the model at sizes it plans for them. A fixed batch size is
        // remembered: the source is only run at that size, so inputs must agree on it.
        let batch = batch_axis(graph, input).map_err(refuse)?;
        if let (0, Some(size)) = (batch, shape[0]) {
            match *self.fixed_batch.get_or_insert(size) {
                fixed if fixed != size => {
                    return Err(refuse(format!(
                        "axis 0 is {size}, but another input fixes the batch at {fixed}: if axis 0 is no batch, \
                         name the batch axis in the file (a dim_param, as the other inputs' axis 0)"
                    )))
                }
                _ => {}
            }
        }
        shape[batch] = None;
        if let Some((_, fixed)) = options.fixed_shapes.iter().find(|(name, _)| name == &input.name) {
            if fixed.len() != shape.len() {
                return Err(refuse(format!("{} sizes are fixed for a rank-{} input", fixed.len(), shape.len())));
            }
            for (axis, (dim, &size)) in shape.iter_mut().zip(fixed).enumerate().filter(|&(axis, _)| axis != batch) {
                match dim {
                    Some(known) if *known != size => {
                        return Err(refuse(format!("axis {axis} is fixed at {size}, but the file gives it {known}")))
                    }
                    _ => *dim = Some(size),
                }
            }
        }
        let rank = shape.len();
        let image = rank == 4 && batch == 0;
        let channels_last = image && reads_channels_last(graph, &input.name, &shape, &self.values);
        self.channels_last_inputs |= channels_last;
        // A Keras `Input` takes its batch first: an input with the batch elsewhere is held
        // with it moved there (the other axes in ONNX order), as outputs are given.
        let layout = if batch != 0 {
            batch_first(rank, batch)
        } else if image && !options.keep_nchw && !channels_last {
            TO_NHWC.to_vec()
        } else {
            identity(rank)
        };
        let attrs: Attrs = vec![
            ("dtype", pb::attr_value::Value::Type(dtype as i32)),
            ("shape", pb::attr_value::Value::Shape(tf_shape(&permuted(&shape, &layout)))),
        ];
        let placeholder = self.emit(&input.name, "Placeholder", vec![], attrs);
        if dtype != pb::DataType::DtFloat {
            self.integers.insert(placeholder.clone(), dtype);
        }
        self.input_axes.push((input.name.clone(), layout.clone()));
        self.bind(&input.name, Tensor { node: placeholder.clone(), shape, layout, merge: None });
        Ok((placeholder, rank))
    }

    /// A graph output: its TF node, transposed to the layout of the model's edges if needed.
    pub(crate) fn output(&mut self, name: &str, options: &Options) -> Result<(String, usize), OnnxError> {
        let file = self.file.clone();
        let refuse =
            |message: String| OnnxError::new(file.clone(), ErrorKind::Output { output: name.to_string(), message });
        let tensor = match self.values.get(name) {
            Some(Value::Tensor(t)) => t.clone(),
            Some(Value::Const(_) | Value::Dims(_)) => {
                return Err(refuse("a constant output (it does not depend on the inputs) is not supported".into()))
            }
            Some(Value::Pending(p)) => return Err(refuse(format!("it is {}", p.describe()))),
            None => return Err(refuse("no node computes it".into())),
        };
        if let Some(merge) = &tensor.merge {
            return Err(refuse(format!(
                "its batch is merged with other axes into axis {} of {:?}: a Keras output has a batch axis of its own",
                merge.axis, tensor.shape
            )));
        }
        let rank = tensor.rank();
        let batch = tensor.batch_axis();
        let nhwc = rank == 4 && batch == 0 && !options.keep_nchw && !self.channels_last_inputs;
        let (layout, suffix) = if nhwc {
            (TO_NHWC.to_vec(), "to_nhwc")
        } else if batch != 0 {
            // A Keras model gives its batch first: the ONNX tensor with the batch moved there.
            (batch_first(rank, batch), "batch_first")
        } else {
            (identity(rank), "to_onnx_layout")
        };
        let held = self.held_as(&tensor, &layout, &format!("{name}/{suffix}")).map_err(|e| refuse(e.to_string()))?;
        self.output_axes.push((name.to_string(), layout));
        Ok((held.node, rank))
    }
}

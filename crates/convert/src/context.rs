//! Conversion state: the value of every converted TF node, the layers built so far, and the
//! helpers op builders share (typed inputs, unique layer names, fusion checks).

use std::collections::{HashMap, HashSet};

use tf2h5_keras::{KerasModel, Layer, LayerOutput};
use tf2h5_tf::{pb::NodeDef, ConstTensor, TensorRef, TfGraph};

use crate::{Conversion, ConvertError, Endpoint};

/// What a TF node's output is during conversion.
#[derive(Debug, Clone)]
pub enum Value {
    /// A constant, folded at conversion time.
    Const(ConstTensor),
    /// The output of a Keras layer.
    Tensor(KTensor),
    /// Integers computed from the static shapes (shape arithmetic around reshapes), where
    /// some entries are a multiple of the unknown batch size.
    Dims(Dims),
    /// A Keras tensor seen with its batch axis merged into the axes before the last one, as
    /// TF's `tensordot` reshapes (batch, h, w, c) to (batch·h·w, c) around a `MatMul`. Only a
    /// `MatMul` (→ `Dense` on the last axis), a bias and a reshape back may read it.
    Rows(KTensor),
    /// A Keras mask, which only a masked recurrent layer reads.
    Mask(Mask),
}

/// A Keras mask, as the layer that attaches it to its output computes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Mask {
    /// `ids != 0`, which an `Embedding(mask_zero=True)` of these integer ids attaches.
    NonZeroIds(KTensor),
    /// `any(x != value)` over the last axis of `x`, which a `Masking(value)` of `x` attaches.
    Masking {
        /// The masked tensor `x`.
        input: KTensor,
        /// The mask value.
        value: f32,
    },
}

impl Mask {
    /// The mask and the layer it is computed from, for messages.
    pub fn describe(&self) -> String {
        match self {
            Mask::NonZeroIds(ids) => format!("ids != 0 of '{}'", ids.layer),
            Mask::Masking { input, value } => format!("any(x != {value}) of x = '{}'", input.layer),
        }
    }
}

pub use tf2h5_tf::{Dim, Dims};

/// Shape integers as a value: a constant when nothing depends on the batch size.
impl From<Dims> for Value {
    fn from(dims: Dims) -> Value {
        match dims.known() {
            Some(values) => {
                let shape = if dims.scalar { vec![] } else { vec![values.len()] };
                match ndarray::ArrayD::from_shape_vec(shape, values) {
                    Ok(array) => Value::Const(ConstTensor::Int(array)),
                    Err(_) => Value::Dims(dims),
                }
            }
            None => Value::Dims(dims),
        }
    }
}

/// A Keras tensor: an output of a layer, with its full static shape (batch = `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct KTensor {
    /// The layer output it is (a layer name converts to its output 0).
    pub layer: LayerOutput,
    /// Shape incl. batch.
    pub shape: Vec<Option<usize>>,
}

impl KTensor {
    /// Rank incl. batch.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Dimension `axis` (may be negative), if known.
    pub fn dim(&self, axis: i64) -> Option<usize> {
        let rank = self.rank() as i64;
        let axis = if axis < 0 { axis + rank } else { axis };
        if axis < 0 || axis >= rank {
            return None;
        }
        self.shape[axis as usize]
    }

    /// The number of channels (last dimension), if known.
    pub fn channels(&self) -> Option<usize> {
        self.shape.last().copied().flatten()
    }
}

/// Ops that only forward their inputs: reading `Identity(x)` is reading `x`, and output `k`
/// of `IdentityN` (TF's custom-gradient wrapper, e.g. around swish) is its input `k`.
/// `CheckNumerics` and `EnsureShape` (`tf.debugging` checks) forward their input when the
/// check passes, which verification shows on its samples.
pub(crate) const ALIASES: &[&str] = &[
    "Identity",
    "IdentityN",
    "StopGradient",
    "Snapshot",
    "PreventGradient",
    "CheckNumerics",
    "CheckNumericsV2",
    "EnsureShape",
];

pub(crate) fn is_alias(op: &str) -> bool {
    ALIASES.contains(&op)
}

/// Follows alias ops back to the tensor that is actually computed.
pub(crate) fn resolve(graph: &TfGraph, input: &TensorRef) -> TensorRef {
    let mut current = input.clone();
    // Bounded: a cycle of aliases would be a malformed graph, which `nodes_needed_by` refuses.
    for _ in 0..graph.nodes().len() {
        let Some(node) = graph.node(&current.node) else { break };
        if !is_alias(&node.op) {
            break;
        }
        let index = if node.op == "IdentityN" { current.output } else { 0 };
        match graph.data_inputs(node).nth(index) {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// For every computed tensor, how many (non-alias) nodes read it, graph outputs included.
pub(crate) fn count_consumers(graph: &TfGraph, order: &[String], outputs: &[String]) -> HashMap<TensorRef, usize> {
    let mut consumers: HashMap<TensorRef, usize> = HashMap::new();
    for name in order {
        if let Some(node) = graph.node(name) {
            if is_alias(&node.op) {
                continue;
            }
            for input in graph.data_inputs(node) {
                *consumers.entry(resolve(graph, &input)).or_default() += 1;
            }
        }
    }
    for output in outputs {
        let output = TensorRef { node: output.clone(), output: 0 };
        *consumers.entry(resolve(graph, &output)).or_default() += 1;
    }
    consumers
}

pub(crate) struct Context<'g> {
    pub graph: &'g TfGraph,
    /// The value of every converted TF tensor (almost always output 0 of its node).
    values: HashMap<TensorRef, Value>,
    pub layers: Vec<Layer>,
    layer_index: HashMap<String, usize>,
    /// TF nodes each layer was built from, by layer index.
    sources: Vec<Vec<String>>,
    /// Data consumers of each needed tensor, aliases resolved (graph outputs count as one more).
    consumers: HashMap<TensorRef, usize>,
    used_names: HashSet<String>,
    /// Layers that may no longer absorb a bias or activation: a pass-through node forwards
    /// their output while another node also reads it.
    sealed: HashSet<usize>,
    pub inputs: Vec<Endpoint>,
    /// [`Options::input_shapes`](crate::Options::input_shapes).
    input_shapes: Vec<(String, Vec<usize>)>,
    /// The Keras mask each masked layer's output carries.
    masks: HashMap<LayerOutput, Mask>,
}

impl<'g> Context<'g> {
    pub fn new(
        graph: &'g TfGraph,
        order: &[String],
        outputs: &[String],
        input_shapes: Vec<(String, Vec<usize>)>,
    ) -> Self {
        Context {
            graph,
            values: HashMap::new(),
            layers: Vec::new(),
            layer_index: HashMap::new(),
            sources: Vec::new(),
            consumers: count_consumers(graph, order, outputs),
            used_names: HashSet::new(),
            sealed: HashSet::new(),
            inputs: Vec::new(),
            input_shapes,
            masks: HashMap::new(),
        }
    }

    /// The concrete shape the options give input `name`, if any.
    pub fn input_shape(&self, name: &str) -> Option<&[usize]> {
        self.input_shapes.iter().find(|(input, _)| input == name).map(|(_, shape)| shape.as_slice())
    }

    pub fn file(&self) -> String {
        self.graph.source.display().to_string()
    }

    /// An "unconvertible" error for `node`.
    pub fn refuse(&self, node: &NodeDef, message: impl Into<String>) -> ConvertError {
        ConvertError::Unconvertible {
            file: self.file(),
            node: node.name.clone(),
            op: node.op.clone(),
            message: message.into(),
        }
    }

    pub fn set_value(&mut self, node: &NodeDef, value: Value) {
        self.values.insert(TensorRef { node: node.name.clone(), output: 0 }, value);
    }

    /// Sets the value of output `tensor.output` of a node other than its first (a loop's
    /// final states), which the node's own conversion does not set.
    pub fn set_output_value(&mut self, tensor: TensorRef, value: Value) {
        self.values.insert(tensor, value);
    }

    /// The value of data input `index` of `node`.
    pub fn input(&self, node: &NodeDef, index: usize) -> Result<&Value, ConvertError> {
        let input = self
            .graph
            .data_inputs(node)
            .nth(index)
            .ok_or_else(|| self.refuse(node, format!("expected at least {} inputs", index + 1)))?;
        self.value_of(node, &input)
    }

    /// The value of tensor `input`, read by `node` (for errors), aliases resolved.
    pub fn value_of(&self, node: &NodeDef, input: &TensorRef) -> Result<&Value, ConvertError> {
        let input = resolve(self.graph, input);
        match self.values.get(&input) {
            Some(value) => Ok(value),
            // Other outputs of multi-output ops (FusedBatchNorm's statistics, ...) have no value.
            None if input.output != 0 => {
                let producer = self.graph.node(&input.node).map(|n| n.op.clone()).unwrap_or_default();
                Err(self.refuse(
                    node,
                    format!("reads output {} of '{}' ({producer}), which is not supported", input.output, input.node),
                ))
            }
            None => Err(self.refuse(node, format!("input '{input}' was not converted"))),
        }
    }

    /// Number of data inputs.
    pub fn input_count(&self, node: &NodeDef) -> usize {
        self.graph.data_inputs(node).count()
    }

    /// Input `index` as a Keras tensor (error if it is a constant).
    pub fn tensor_input(&self, node: &NodeDef, index: usize) -> Result<KTensor, ConvertError> {
        match self.input(node, index)? {
            Value::Tensor(t) => Ok(t.clone()),
            Value::Const(_) | Value::Dims(_) => {
                Err(self.refuse(node, format!("input {index} is a constant; expected a tensor computed from the model inputs")))
            }
            Value::Rows(_) => Err(self.refuse(
                node,
                format!("input {index} is a tensor reshaped with its batch axis merged into other axes; only a MatMul, a bias or a reshape restoring the batch may read it"),
            )),
            Value::Mask(mask) => Err(self.refuse(
                node,
                format!("input {index} is a Keras mask ({}); only a recurrent layer reading it per step may read it", mask.describe()),
            )),
        }
    }

    /// Input `index` as a constant (error if it is computed).
    pub fn const_input(&self, node: &NodeDef, index: usize) -> Result<&ConstTensor, ConvertError> {
        match self.input(node, index)? {
            Value::Const(c) => Ok(c),
            Value::Dims(_) => {
                Err(self.refuse(node, format!("input {index} depends on the batch size; it must be a constant")))
            }
            Value::Tensor(_) | Value::Rows(_) | Value::Mask(_) => {
                Err(self.refuse(node, format!("input {index} must be a constant (weights), but is computed")))
            }
        }
    }

    /// Input `index` as a float constant.
    pub fn f32_input(&self, node: &NodeDef, index: usize) -> Result<ndarray::ArrayD<f32>, ConvertError> {
        self.const_input(node, index)?
            .as_f32()
            .cloned()
            .ok_or_else(|| self.refuse(node, format!("input {index} must be a float constant")))
    }

    /// Input `index` as an integer constant, flattened.
    pub fn ints_input(&self, node: &NodeDef, index: usize) -> Result<Vec<i64>, ConvertError> {
        self.const_input(node, index)?
            .as_ints()
            .map(|a| a.iter().copied().collect())
            .ok_or_else(|| self.refuse(node, format!("input {index} must be an integer constant")))
    }

    /// Tensor `tensor` (read by `node`) as an integer constant, flattened; `None` when it is
    /// computed or not integers.
    pub fn ints_of(&self, node: &NodeDef, tensor: &TensorRef) -> Result<Option<Vec<i64>>, ConvertError> {
        Ok(match self.value_of(node, tensor)? {
            Value::Const(c) => c.as_ints().map(|a| a.iter().copied().collect()),
            _ => None,
        })
    }

    /// Input `index` as integers that may involve the batch size (a constant or [`Dims`]).
    pub fn dims_input(&self, node: &NodeDef, index: usize) -> Result<Dims, ConvertError> {
        match self.input(node, index)? {
            Value::Dims(d) => Ok(d.clone()),
            Value::Const(ConstTensor::Int(a)) if a.ndim() <= 1 => {
                Ok(Dims { values: a.iter().map(|&v| Dim::Known(v)).collect(), scalar: a.ndim() == 0 })
            }
            _ => Err(self
                .refuse(node, format!("input {index} must be an integer scalar or vector known at conversion time"))),
        }
    }

    /// A unique Keras-safe layer name derived from a TF node name (`/` is refused by Keras 3),
    /// usable as a TF name scope.
    /// Scopes added by inlining function calls (`StatefulPartitionedCall/...`, which every
    /// SavedModel has) are dropped: they say nothing about the layer.
    pub fn layer_name(&mut self, tf_name: &str) -> String {
        tf2h5_tf::unique_name(&mut self.used_names, &keras_layer_name(tf_name))
    }

    /// Adds a layer built for `node`, producing a tensor of `shape`.
    pub fn add_layer(&mut self, node: &NodeDef, layer: Layer, shape: Vec<Option<usize>>) -> Value {
        Value::Tensor(self.add_layer_tensor(node, layer, shape))
    }

    /// Like [`add_layer`](Self::add_layer), returning the tensor itself.
    pub fn add_layer_tensor(&mut self, node: &NodeDef, layer: Layer, shape: Vec<Option<usize>>) -> KTensor {
        self.push_layer(layer, shape, vec![node.name.clone()])
    }

    /// Adds a layer for an intermediate step of a TF node that several layers compute (a
    /// `Permute` around a channel crop): no TF node holds its output, so the per-layer
    /// comparison skips it.
    pub fn add_inner_layer(&mut self, layer: Layer, shape: Vec<Option<usize>>) -> KTensor {
        self.push_layer(layer, shape, Vec::new())
    }

    /// Appends `layer`, recording the TF nodes it stands for (`sources`, last = its output).
    fn push_layer(&mut self, layer: Layer, shape: Vec<Option<usize>>, sources: Vec<String>) -> KTensor {
        let name = layer.name.clone();
        self.layer_index.insert(name.clone(), self.layers.len());
        self.layers.push(layer);
        self.sources.push(sources);
        KTensor { layer: name.into(), shape }
    }

    /// The index of the layer whose output 0 is `tensor`; `None` for another output (a
    /// recurrent layer's state), which no node may fuse into or forward as the layer's.
    fn layer_of(&self, tensor: &KTensor) -> Option<usize> {
        (tensor.layer.index == 0).then(|| self.layer_index.get(&tensor.layer.layer).copied())?
    }

    /// Makes the Keras tensor `tensor` carry `mask`, as Keras attaches it: when it already
    /// does, when its layer is an `Embedding` of the ids (which then gets `mask_zero=True`), or
    /// when its layer is the `Masking` of the masked tensor with the same value. False when
    /// Keras would not give `tensor` that mask.
    pub fn carry_mask(&mut self, tensor: &KTensor, mask: &Mask) -> bool {
        if let Some(carried) = self.masks.get(&tensor.layer) {
            return carried == mask;
        }
        let Some(index) = self.layer_of(tensor) else { return false };
        let layer = &mut self.layers[index];
        let makes_it = match mask {
            Mask::NonZeroIds(ids) if layer.class_name == "Embedding" && layer.inbound == [ids.layer.clone()] => {
                layer.config.insert("mask_zero".into(), serde_json::Value::Bool(true));
                true
            }
            Mask::Masking { input, value } => {
                let mask_value = layer.config.get("mask_value").and_then(serde_json::Value::as_f64);
                layer.class_name == "Masking"
                    && layer.inbound == [input.layer.clone()]
                    && mask_value == Some(f64::from(*value))
            }
            _ => false,
        };
        if makes_it {
            self.masks.insert(tensor.layer.clone(), mask.clone());
        }
        makes_it
    }

    /// Records that the output of `tensor`'s layer carries `mask` (a masked recurrent layer
    /// with `return_sequences` passes its input's mask on).
    pub fn pass_mask(&mut self, tensor: &KTensor, mask: &Mask) {
        self.masks.insert(tensor.layer.clone(), mask.clone());
    }

    /// Records that the layer built for `node` also stands for the TF nodes `absorbed` (the
    /// inner nodes of a recognised pattern), listed before `node` itself.
    pub fn absorbed(&mut self, tensor: &KTensor, absorbed: &[String]) {
        // An inner layer stands for no TF node (see `add_inner_layer`).
        if let Some(index) = self.layer_of(tensor).filter(|&index| !self.sources[index].is_empty()) {
            let last = self.sources[index].pop();
            self.sources[index].extend(absorbed.iter().cloned());
            self.sources[index].extend(last);
        }
    }

    /// How many nodes read output 0 of TF node `name` (aliases resolved).
    pub fn consumer_count(&self, name: &str) -> usize {
        self.consumers.get(&TensorRef { node: name.to_string(), output: 0 }).copied().unwrap_or(0)
    }

    /// The layer producing `tensor` if it may absorb `node` (a following BiasAdd/activation):
    /// `accepts` it and nothing but `node` reads its TF output.
    pub fn fusible_layer(&mut self, tensor: &KTensor, accepts: impl Fn(&Layer) -> bool) -> Option<&mut Layer> {
        self.fusible_layer_read_by(tensor, accepts, 1)
    }

    /// Like [`fusible_layer`](Self::fusible_layer) when the fusing pattern itself reads the
    /// layer's TF output `readers` times (swish reads its input twice).
    pub fn fusible_layer_read_by(
        &mut self,
        tensor: &KTensor,
        accepts: impl Fn(&Layer) -> bool,
        readers: usize,
    ) -> Option<&mut Layer> {
        let index = self.layer_of(tensor)?;
        if self.sealed.contains(&index) {
            return None;
        }
        let last_tf_node = self.sources[index].last()?;
        if self.consumer_count(last_tf_node) != readers {
            return None;
        }
        let layer = &mut self.layers[index];
        accepts(layer).then_some(layer)
    }

    /// `node` forwards `tensor` unchanged (a reshape to the same shape, an identity transpose,
    /// a float cast, ...): its value is the same tensor, and no layer is added. Later fusion
    /// into the layer must then see every reader of both nodes, so `node` becomes the layer's
    /// last TF node when the layer's output had no other reader, and otherwise the layer is
    /// sealed against fusion.
    pub fn pass_through(&mut self, node: &NodeDef, tensor: KTensor) -> Value {
        if let Some(index) = self.layer_of(&tensor) {
            let single = self.sources[index].last().is_some_and(|last| self.consumer_count(last) == 1);
            if single {
                self.sources[index].push(node.name.clone());
            } else {
                self.sealed.insert(index);
            }
        }
        Value::Tensor(tensor)
    }

    /// Records that `node` was fused into the layer producing `tensor`.
    pub fn fused(&mut self, node: &NodeDef, tensor: &KTensor) -> Value {
        if let Some(index) = self.layer_of(tensor) {
            self.sources[index].push(node.name.clone());
        }
        Value::Tensor(tensor.clone())
    }

    pub fn finish(mut self, model_name: String, outputs: &[String]) -> Result<Conversion, ConvertError> {
        // Model inputs in the graph's Placeholder order, not the order the walk met them.
        let placeholder_order: HashMap<String, usize> =
            self.graph.placeholders().iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
        self.inputs.sort_by_key(|e| placeholder_order.get(&e.tf_node).copied().unwrap_or(usize::MAX));
        let mut output_endpoints = Vec::new();
        for name in outputs {
            let computed = resolve(self.graph, &TensorRef { node: name.clone(), output: 0 });
            match self.values.get(&computed) {
                Some(Value::Tensor(t)) => output_endpoints.push(Endpoint {
                    layer: t.layer.clone(),
                    tf_node: name.clone(),
                    shape: t.shape.clone(),
                }),
                _ => {
                    return Err(ConvertError::Unconvertible {
                        file: self.file(),
                        node: name.clone(),
                        op: self.graph.node(name).map(|n| n.op.clone()).unwrap_or_default(),
                        message: "this output is a constant, not computed from the model inputs".into(),
                    })
                }
            }
        }
        if self.inputs.is_empty() {
            return Err(ConvertError::Unconvertible {
                file: self.file(),
                node: outputs.join(","),
                op: "-".into(),
                message: "the outputs do not depend on any Placeholder".into(),
            });
        }
        let model = KerasModel {
            name: model_name,
            layers: self.layers,
            inputs: self.inputs.iter().map(|e| e.layer.layer.clone()).collect(),
            outputs: output_endpoints.iter().map(|e| e.layer.clone()).collect(),
        };
        model.validate()?;
        let layer_sources = model.layers.iter().map(|l| l.name.clone()).zip(self.sources).collect();
        Ok(Conversion { model, inputs: self.inputs, outputs: output_endpoints, layer_sources })
    }
}

/// Whether a name scope is one the function inliner added: `PartitionedCall`,
/// `StatefulPartitionedCall`, optionally with TF's `_N` uniquifying suffix.
/// See [`Context::layer_name`]; before making it unique.
fn keras_layer_name(tf_name: &str) -> String {
    let meaningful: Vec<&str> = tf_name.split('/').filter(|scope| !is_call_scope(scope)).collect();
    let base: String = meaningful
        .join("/")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' })
        .collect();
    // TF name scopes (tfjs and tf-keras build one per layer) cannot start with `_` or `-`,
    // which ONNX names such as `/stem/Conv_output_0` would give.
    let base = base.trim_start_matches(['_', '-']);
    if base.is_empty() {
        "layer".to_string()
    } else {
        base.to_string()
    }
}

fn is_call_scope(scope: &str) -> bool {
    let base = scope.strip_prefix("Stateful").unwrap_or(scope);
    match base.strip_prefix("PartitionedCall") {
        Some("") => true,
        Some(rest) => rest.strip_prefix('_').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

#[cfg(test)]
mod layer_name_tests {
    use super::{is_call_scope, keras_layer_name};

    #[test]
    fn layer_names_are_valid_tf_name_scopes() {
        assert_eq!(keras_layer_name("StatefulPartitionedCall/model/conv1/Conv2D"), "model_conv1_Conv2D");
        assert_eq!(keras_layer_name("/stem/stem.0/Conv_output_0"), "stem_stem.0_Conv_output_0");
        assert_eq!(keras_layer_name("x:0"), "x_0");
        assert_eq!(keras_layer_name("/-/"), "layer");
    }

    #[test]
    fn call_scopes_are_recognised() {
        for scope in ["PartitionedCall", "StatefulPartitionedCall", "StatefulPartitionedCall_1", "PartitionedCall_12"] {
            assert!(is_call_scope(scope), "{scope}");
        }
        for scope in [
            "conv1",
            "PartitionedCall_x",
            "PartitionedCall_",
            "MyStatefulPartitionedCall",
            "StatefulPartitionedCallish",
        ] {
            assert!(!is_call_scope(scope), "{scope}");
        }
    }
}

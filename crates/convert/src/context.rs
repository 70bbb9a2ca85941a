//! Conversion state: the value of every converted TF node, the layers built so far, and the
//! helpers op builders share (typed inputs, unique layer names, fusion checks).

use std::collections::{HashMap, HashSet};

use tf2h5_keras::{KerasModel, Layer};
use tf2h5_tf::{pb::NodeDef, ConstTensor, TensorRef, TfGraph};

use crate::{Conversion, ConvertError, Endpoint};

/// What a TF node's output is during conversion.
#[derive(Debug, Clone)]
pub enum Value {
    /// A constant, folded at conversion time.
    Const(ConstTensor),
    /// The output of a Keras layer.
    Tensor(KTensor),
}

/// A Keras tensor: the output of `layer`, with its full static shape (batch = `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct KTensor {
    /// Layer producing it.
    pub layer: String,
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
}

pub(crate) struct Context<'g> {
    pub graph: &'g TfGraph,
    values: HashMap<String, Value>,
    pub layers: Vec<Layer>,
    layer_index: HashMap<String, usize>,
    /// TF nodes each layer was built from, by layer index.
    sources: Vec<Vec<String>>,
    /// Data consumers of each needed node (graph outputs count as one more).
    consumers: HashMap<String, usize>,
    used_names: HashSet<String>,
    pub inputs: Vec<Endpoint>,
}

impl<'g> Context<'g> {
    pub fn new(graph: &'g TfGraph, order: &[String], outputs: &[String]) -> Self {
        let mut consumers: HashMap<String, usize> = HashMap::new();
        for name in order {
            if let Some(node) = graph.node(name) {
                for input in graph.data_inputs(node) {
                    *consumers.entry(input.node).or_default() += 1;
                }
            }
        }
        for output in outputs {
            *consumers.entry(output.clone()).or_default() += 1;
        }
        Context {
            graph,
            values: HashMap::new(),
            layers: Vec::new(),
            layer_index: HashMap::new(),
            sources: Vec::new(),
            consumers,
            used_names: HashSet::new(),
            inputs: Vec::new(),
        }
    }

    pub fn file(&self) -> String {
        self.graph.source.display().to_string()
    }

    /// An "unconvertible" error for `node`.
    pub fn refuse(&self, node: &NodeDef, message: impl Into<String>) -> ConvertError {
        ConvertError::Unconvertible { file: self.file(), node: node.name.clone(), op: node.op.clone(), message: message.into() }
    }

    pub fn set_value(&mut self, node: &NodeDef, value: Value) {
        self.values.insert(node.name.clone(), value);
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

    fn value_of(&self, node: &NodeDef, input: &TensorRef) -> Result<&Value, ConvertError> {
        if input.output != 0 {
            // Multi-output ops (FusedBatchNorm's statistics, ...) are only supported on output 0.
            let producer = self.graph.node(&input.node).map(|n| n.op.clone()).unwrap_or_default();
            return Err(self.refuse(node, format!("reads output {} of '{}' ({producer}), which is not supported", input.output, input.node)));
        }
        self.values.get(&input.node).ok_or_else(|| self.refuse(node, format!("input '{input}' was not converted")))
    }

    /// Number of data inputs.
    pub fn input_count(&self, node: &NodeDef) -> usize {
        self.graph.data_inputs(node).count()
    }

    /// Input `index` as a Keras tensor (error if it is a constant).
    pub fn tensor_input(&self, node: &NodeDef, index: usize) -> Result<KTensor, ConvertError> {
        match self.input(node, index)? {
            Value::Tensor(t) => Ok(t.clone()),
            Value::Const(_) => Err(self.refuse(node, format!("input {index} is a constant; expected a tensor computed from the model inputs"))),
        }
    }

    /// Input `index` as a constant (error if it is computed).
    pub fn const_input(&self, node: &NodeDef, index: usize) -> Result<&ConstTensor, ConvertError> {
        match self.input(node, index)? {
            Value::Const(c) => Ok(c),
            Value::Tensor(_) => Err(self.refuse(node, format!("input {index} must be a constant (weights), but is computed"))),
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

    /// A unique Keras-safe layer name derived from a TF node name (`/` is refused by Keras 3).
    pub fn layer_name(&mut self, tf_name: &str) -> String {
        let base: String =
            tf_name.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect();
        let base = if base.is_empty() { "layer".to_string() } else { base };
        let mut name = base.clone();
        let mut suffix = 1;
        while !self.used_names.insert(name.clone()) {
            name = format!("{base}_{suffix}");
            suffix += 1;
        }
        name
    }

    /// Adds a layer built for `node`, producing a tensor of `shape`.
    pub fn add_layer(&mut self, node: &NodeDef, layer: Layer, shape: Vec<Option<usize>>) -> Value {
        let name = layer.name.clone();
        self.layer_index.insert(name.clone(), self.layers.len());
        self.layers.push(layer);
        self.sources.push(vec![node.name.clone()]);
        Value::Tensor(KTensor { layer: name, shape })
    }

    /// The layer producing `tensor` if it may absorb `node` (a following BiasAdd/activation):
    /// its class is one of `classes` and nothing but `node` reads its TF output.
    pub fn fusible_layer(&mut self, tensor: &KTensor, classes: &[&str]) -> Option<&mut Layer> {
        let index = *self.layer_index.get(&tensor.layer)?;
        let last_tf_node = self.sources[index].last()?;
        if self.consumers.get(last_tf_node).copied().unwrap_or(0) != 1 {
            return None;
        }
        let layer = &mut self.layers[index];
        classes.contains(&layer.class_name.as_str()).then_some(layer)
    }

    /// Records that `node` was fused into the layer producing `tensor`.
    pub fn fused(&mut self, node: &NodeDef, tensor: &KTensor) -> Value {
        if let Some(&index) = self.layer_index.get(&tensor.layer) {
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
            match self.values.get(name) {
                Some(Value::Tensor(t)) => {
                    output_endpoints.push(Endpoint { layer: t.layer.clone(), tf_node: name.clone(), shape: t.shape.clone() })
                }
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
            inputs: self.inputs.iter().map(|e| e.layer.clone()).collect(),
            outputs: output_endpoints.iter().map(|e| e.layer.clone()).collect(),
        };
        model.validate()?;
        let layer_sources = model.layers.iter().map(|l| l.name.clone()).zip(self.sources).collect();
        Ok(Conversion { model, inputs: self.inputs, outputs: output_endpoints, layer_sources })
    }
}

//! The in-memory Keras functional model: layers in topological order, each with its
//! config (exactly the JSON keys written to the file) and its weights.

use ndarray::ArrayD;
use serde_json::{Map, Value};

use crate::KerasError;

/// A Keras functional model whose layers are each called once (no shared layers).
#[derive(Debug, Clone, PartialEq)]
pub struct KerasModel {
    /// The model's `name` in `model_config`.
    pub name: String,
    /// Layers in topological order (every layer after the layers it reads).
    pub layers: Vec<Layer>,
    /// Names of the `InputLayer`s, in the model's input order.
    pub inputs: Vec<String>,
    /// The model's outputs, in order.
    pub outputs: Vec<LayerOutput>,
}

/// One output of a layer: the tensor a layer reads or the model returns. Most layers have
/// one output (index 0), and a layer name converts to it; a recurrent layer with
/// `return_state` also returns its final states (LSTM `[out, h, c]`, GRU and SimpleRNN
/// `[out, h]`, a `Bidirectional` each direction's after the output).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerOutput {
    /// The producing layer's name.
    pub layer: String,
    /// Which of its outputs (Keras's `tensor_index`).
    pub index: usize,
}

impl LayerOutput {
    /// Output `index` of layer `layer`.
    pub fn new(layer: impl Into<String>, index: usize) -> Self {
        LayerOutput { layer: layer.into(), index }
    }
}

impl From<String> for LayerOutput {
    fn from(layer: String) -> Self {
        LayerOutput { layer, index: 0 }
    }
}

impl From<&str> for LayerOutput {
    fn from(layer: &str) -> Self {
        LayerOutput::from(layer.to_string())
    }
}

impl From<&String> for LayerOutput {
    fn from(layer: &String) -> Self {
        LayerOutput::from(layer.clone())
    }
}

/// The layer's name for its only (first) output, `layer:k` for output `k`, as TF names tensors.
impl std::fmt::Display for LayerOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            0 => f.write_str(&self.layer),
            k => write!(f, "{}:{k}", self.layer),
        }
    }
}

/// Output 0 of the named layer.
impl PartialEq<&str> for LayerOutput {
    fn eq(&self, name: &&str) -> bool {
        self.index == 0 && self.layer == *name
    }
}

/// Output 0 of the named layer.
impl PartialEq<String> for LayerOutput {
    fn eq(&self, name: &String) -> bool {
        self.index == 0 && self.layer == *name
    }
}

/// One Keras layer applied once.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Unique layer name from `[A-Za-z0-9_.-]`.
    pub name: String,
    /// The Keras class, e.g. `Conv2D`.
    pub class_name: String,
    /// The layer's `config` object as written to the file (includes `name`).
    pub config: Map<String, Value>,
    /// The layer outputs feeding this layer, in argument order.
    pub inbound: Vec<LayerOutput>,
    /// Weights in the order Keras creates them (trainable first, then non-trainable).
    pub weights: Vec<Weight>,
}

/// A named weight tensor of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    /// Short name, e.g. `kernel` or `moving_variance` (the file stores `<layer>/<name>:0`).
    pub name: String,
    /// The values, float32, in Keras's layout for this weight.
    pub value: ArrayD<f32>,
}

impl Weight {
    /// A weight named `name` holding `value`.
    pub fn new(name: &str, value: ArrayD<f32>) -> Self {
        Weight { name: name.to_string(), value }
    }
}

impl Layer {
    /// Looks up a weight by its short name.
    pub fn weight(&self, name: &str) -> Result<&ArrayD<f32>, KerasError> {
        self.weights
            .iter()
            .find(|w| w.name == name)
            .map(|w| &w.value)
            .ok_or_else(|| KerasError::Invalid(format!("layer '{}' has no weight '{name}'", self.name)))
    }

    /// A config value, or an error naming the layer and the key.
    pub fn get(&self, key: &str) -> Result<&Value, KerasError> {
        self.config.get(key).ok_or_else(|| {
            KerasError::Invalid(format!("layer '{}' ({}) has no config key '{key}'", self.name, self.class_name))
        })
    }

    /// A config value read as an unsigned integer.
    pub fn get_usize(&self, key: &str) -> Result<usize, KerasError> {
        self.get(key)?.as_u64().map(|v| v as usize).ok_or_else(|| self.bad_key(key, "an unsigned integer"))
    }

    /// A config value read as a float.
    pub fn get_f64(&self, key: &str) -> Result<f64, KerasError> {
        self.get(key)?.as_f64().ok_or_else(|| self.bad_key(key, "a number"))
    }

    /// A config value read as a bool.
    pub fn get_bool(&self, key: &str) -> Result<bool, KerasError> {
        self.get(key)?.as_bool().ok_or_else(|| self.bad_key(key, "a bool"))
    }

    /// A config value read as a string.
    pub fn get_str(&self, key: &str) -> Result<&str, KerasError> {
        self.get(key)?.as_str().ok_or_else(|| self.bad_key(key, "a string"))
    }

    /// A config value read as an integer list (e.g. `kernel_size`).
    pub fn get_ints(&self, key: &str) -> Result<Vec<i64>, KerasError> {
        self.get(key)?
            .as_array()
            .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
            .ok_or_else(|| self.bad_key(key, "a list of integers"))
    }

    /// `batch_input_shape` of an `InputLayer`: `None` for unknown dimensions.
    pub fn batch_input_shape(&self) -> Result<Vec<Option<usize>>, KerasError> {
        self.get("batch_input_shape")?
            .as_array()
            .and_then(|dims| {
                dims.iter()
                    .map(|d| if d.is_null() { Some(None) } else { d.as_u64().map(|v| Some(v as usize)) })
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| self.bad_key("batch_input_shape", "a list of integers or nulls"))
    }

    fn bad_key(&self, key: &str, expected: &str) -> KerasError {
        KerasError::Invalid(format!(
            "layer '{}' ({}): config key '{key}' is not {expected}",
            self.name, self.class_name
        ))
    }
}

impl KerasModel {
    /// The layer called `name`.
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// Total number of weight values.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().flat_map(|l| &l.weights).map(|w| w.value.len()).sum()
    }

    /// Checks the structural invariants the writer, the reader and the engine rely on:
    /// unique names, inbound layers defined before use, inputs are `InputLayer`s, outputs exist.
    pub fn validate(&self) -> Result<(), KerasError> {
        let mut seen = std::collections::HashSet::new();
        for layer in &self.layers {
            if layer.name.is_empty() || !layer.name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
                return Err(KerasError::Invalid(format!("invalid layer name '{}'", layer.name)));
            }
            for source in &layer.inbound {
                if !seen.contains(source.layer.as_str()) {
                    return Err(KerasError::Invalid(format!(
                        "layer '{}' reads '{source}', which is not defined before it",
                        layer.name
                    )));
                }
            }
            if !seen.insert(layer.name.as_str()) {
                return Err(KerasError::Invalid(format!("duplicate layer name '{}'", layer.name)));
            }
        }
        for input in &self.inputs {
            match self.layer(input) {
                Some(l) if l.class_name == "InputLayer" => {}
                _ => return Err(KerasError::Invalid(format!("model input '{input}' is not an InputLayer"))),
            }
        }
        for output in &self.outputs {
            if self.layer(&output.layer).is_none() {
                return Err(KerasError::Invalid(format!("model output '{output}' is not a layer")));
            }
        }
        if self.inputs.is_empty() || self.outputs.is_empty() {
            return Err(KerasError::Invalid("model has no inputs or no outputs".into()));
        }
        Ok(())
    }

    /// The indices of `self.layers` in the order Keras rebuilds `model.layers` from the config.
    ///
    /// Both tf-keras and Keras 3 match weight groups to layers *by this order*, so the writer
    /// must list `layer_names` in it. Keras: the depth of a layer is the longest path from it to
    /// an output; layers are sorted by depth descending, ties by first visit of a depth-first
    /// walk from the outputs (`_build_map` / `_map_graph_network` in functional.py).
    pub fn keras_layer_order(&self) -> Vec<usize> {
        let index: std::collections::HashMap<&str, usize> =
            self.layers.iter().enumerate().map(|(i, l)| (l.name.as_str(), i)).collect();
        let n = self.layers.len();
        // Pre-order indices (first visit) and post-order list, iteratively to survive deep graphs.
        let mut first_visit: Vec<Option<usize>> = vec![None; n];
        let mut visit_count = 0;
        let mut finished = vec![false; n];
        let mut post_order = Vec::with_capacity(n);
        for output in &self.outputs {
            let Some(&root) = index.get(output.layer.as_str()) else { continue };
            let mut stack = vec![(root, 0usize)];
            while let Some((node, next_child)) = stack.pop() {
                if next_child == 0 {
                    if finished[node] {
                        continue;
                    }
                    if first_visit[node].is_none() {
                        first_visit[node] = Some(visit_count);
                        visit_count += 1;
                    }
                }
                let inbound = &self.layers[node].inbound;
                if let Some(child) = inbound.get(next_child) {
                    stack.push((node, next_child + 1));
                    if let Some(&c) = index.get(child.layer.as_str()) {
                        if !finished[c] {
                            stack.push((c, 0));
                        }
                    }
                } else {
                    finished[node] = true;
                    post_order.push(node);
                }
            }
        }
        let mut depth = vec![0usize; n];
        for &node in post_order.iter().rev() {
            for parent in &self.layers[node].inbound {
                if let Some(&p) = index.get(parent.layer.as_str()) {
                    depth[p] = depth[p].max(depth[node] + 1);
                }
            }
        }
        // Input layers not reached from the outputs still belong to the model (index -1 in Keras).
        let mut order: Vec<usize> = (0..n).filter(|&i| first_visit[i].is_some()).collect();
        for input in &self.inputs {
            if let Some(&i) = index.get(input.as_str()) {
                if first_visit[i].is_none() {
                    order.push(i);
                }
            }
        }
        order.sort_by_key(|&i| (std::cmp::Reverse(depth[i]), first_visit[i].map(|v| v as i64).unwrap_or(-1)));
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(name: &str, inbound: &[&str]) -> Layer {
        Layer {
            name: name.into(),
            class_name: if inbound.is_empty() { "InputLayer" } else { "Add" }.into(),
            config: json!({"name": name}).as_object().unwrap().clone(),
            inbound: inbound.iter().map(|&s| s.into()).collect(),
            weights: vec![],
        }
    }

    fn names(model: &KerasModel, order: &[usize]) -> Vec<String> {
        order.iter().map(|&i| model.layers[i].name.clone()).collect()
    }

    #[test]
    fn keras_order_is_depth_then_first_visit_from_outputs() {
        // in -> a -> c ; in -> b -> c ; c -> out ; a is listed first in c's inputs,
        // but b is defined first: Keras orders by the DFS from the output, so a before b.
        let model = KerasModel {
            name: "m".into(),
            layers: vec![
                layer("in", &[]),
                layer("b", &["in"]),
                layer("a", &["in"]),
                layer("c", &["a", "b"]),
                layer("out", &["c"]),
            ],
            inputs: vec!["in".into()],
            outputs: vec!["out".into()],
        };
        assert_eq!(names(&model, &model.keras_layer_order()), ["in", "a", "b", "c", "out"]);
    }

    #[test]
    fn keras_order_uses_longest_path_to_output() {
        // in -> x -> y -> add ; in -> add : `in` is deepest; x deeper than y.
        let model = KerasModel {
            name: "m".into(),
            layers: vec![layer("in", &[]), layer("x", &["in"]), layer("y", &["x"]), layer("add", &["in", "y"])],
            inputs: vec!["in".into()],
            outputs: vec!["add".into()],
        };
        assert_eq!(names(&model, &model.keras_layer_order()), ["in", "x", "y", "add"]);
    }

    #[test]
    fn validate_rejects_names_keras3_refuses() {
        let mut model = KerasModel {
            name: "m".into(),
            layers: vec![layer("in", &[]), layer("conv1/conv", &["in"])],
            inputs: vec!["in".into()],
            outputs: vec!["conv1/conv".into()],
        };
        assert!(model.validate().is_err());
        model.layers[1].name = "conv1_conv".into();
        model.outputs = vec!["conv1_conv".into()];
        model.validate().unwrap();
    }
}

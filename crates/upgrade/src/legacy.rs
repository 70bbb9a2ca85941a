//! The source model as its file describes it: layers with their configs exactly as saved,
//! the tensors each is called on (positional, and `TFOpLambda`'s keyword arguments), and the
//! weights of its layer group. Only the structure is normalised: a Sequential model becomes
//! the chain it stands for, with the `InputLayer` Keras would create for it; nested models are
//! inlined and a shared layer becomes one copy per call, so every layer is called once.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use tf2h5_keras::raw::RawKerasFile;
use tf2h5_keras::{config, Weight};

use crate::UpgradeError;

/// A legacy Keras model, layers in topological order.
#[derive(Debug, Clone)]
pub struct LegacyModel {
    /// The model's name.
    pub name: String,
    /// Major version of the Keras that wrote the file (2 for Keras 2.x and tf-keras).
    pub keras_major: u32,
    /// Layers, each after the layers it reads.
    pub layers: Vec<LegacyLayer>,
    /// Names of the input layers, in order.
    pub inputs: Vec<String>,
    /// Names of the output layers, in order.
    pub outputs: Vec<String>,
    /// How the structure was flattened (nested models inlined, shared layers copied), for the
    /// report.
    pub flattened: Vec<String>,
}

/// One layer as saved.
#[derive(Debug, Clone)]
pub struct LegacyLayer {
    /// The layer's name.
    pub name: String,
    /// The Keras class as saved (`Dense`, `TFOpLambda`, ...).
    pub class_name: String,
    /// The config as saved.
    pub config: Map<String, Value>,
    /// Layers whose outputs are the call's positional tensor arguments.
    pub inbound: Vec<String>,
    /// The call's keyword arguments (`TFOpLambda`: `{"y": 2.0}` or `{"y": ["dense", 0, 0]}`).
    pub kwargs: Map<String, Value>,
    /// The layer group's weights in file order, under their full names.
    pub weights: Vec<Weight>,
}

impl LegacyLayer {
    /// The layer a keyword argument refers to, when it is a tensor (`["name", 0, 0]`).
    pub fn tensor_kwarg(&self, key: &str) -> Option<&str> {
        match self.kwargs.get(key)?.as_array()?.as_slice() {
            [Value::String(name), node, tensor] if node.as_u64() == Some(0) && tensor.as_u64() == Some(0) => Some(name),
            _ => None,
        }
    }

    /// Every layer this one reads: positional inputs, then tensor keyword arguments.
    pub fn dependencies(&self) -> Vec<&str> {
        let mut deps: Vec<&str> = self.inbound.iter().map(String::as_str).collect();
        deps.extend(self.kwargs.keys().filter_map(|key| self.tensor_kwarg(key)));
        deps
    }
}

/// Parses a raw file into the legacy model, its weights attached by layer name.
pub fn parse(raw: &RawKerasFile) -> Result<LegacyModel, UpgradeError> {
    let keras_major = keras_major(raw.keras_version.as_deref())?;
    let root: Value = serde_json::from_str(&raw.model_config)
        .map_err(|e| UpgradeError::Invalid(format!("model_config is not JSON: {e}")))?;
    let class_name = root.get("class_name").and_then(Value::as_str).unwrap_or("");
    let config = root.get("config").unwrap_or(&Value::Null);
    if !is_model(class_name) {
        return Err(UpgradeError::Unsupported(format!("a model of class '{class_name}' is not supported")));
    }
    let (mut owners, mut copies) = (HashMap::new(), HashMap::new());
    let flat = inline_nested(&as_functional(class_name, config)?, None, &mut owners, &mut copies)?;
    let mut model = functional(&flat)?;
    model.keras_major = keras_major;
    let mut nested: Vec<&String> = owners.values().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    nested.sort();
    model
        .flattened
        .extend(nested.into_iter().map(|group| format!("{group} (nested model): inlined, its weights kept")));
    let mut copied: Vec<(&String, &String)> = copies.iter().map(|(copy, original)| (original, copy)).collect();
    copied.sort();
    model.flattened.extend(copied.into_iter().map(|(original, copy)| {
        format!("{original} (shared layer): its further call is the copy {copy}, with the same weights")
    }));
    attach_weights(&mut model, raw, &owners)?;
    for (copy, original) in &copies {
        let weights = model.layers.iter().find(|l| &l.name == original).map(|l| l.weights.clone()).unwrap_or_default();
        if let Some(layer) = model.layers.iter_mut().find(|l| &l.name == copy) {
            layer.weights = weights;
        }
    }
    Ok(model)
}

fn is_model(class_name: &str) -> bool {
    matches!(class_name, "Sequential" | "Functional" | "Model")
}

/// The major version from `keras_version`. Keras 1 wrote none: a file without one is a Keras 1
/// file, as Keras 2 and tf-keras read it (its other config keys and per-gate weights are
/// translated by [`crate::keras1`]).
fn keras_major(version: Option<&str>) -> Result<u32, UpgradeError> {
    let Some(version) = version else { return Ok(1) };
    match version.split('.').next().and_then(|m| m.parse::<u32>().ok()) {
        Some(major @ 1..=3) => Ok(major),
        _ => Err(UpgradeError::Unsupported(format!("keras_version {version} is not supported"))),
    }
}

fn invalid(message: impl Into<String>) -> UpgradeError {
    UpgradeError::Invalid(message.into())
}

fn functional(config: &Value) -> Result<LegacyModel, UpgradeError> {
    let name = config.get("name").and_then(Value::as_str).unwrap_or("model").to_string();
    let layer_values = config.get("layers").and_then(Value::as_array).ok_or_else(|| invalid("no layer list"))?;
    let layers = layer_values.iter().map(functional_layer).collect::<Result<Vec<_>, _>>()?;
    Ok(LegacyModel {
        name,
        keras_major: 0,
        // Keras does not require the JSON's order to be topological.
        layers: config::topological_by(layers, |l| &l.name, LegacyLayer::dependencies)?,
        inputs: config::parse_names(config.get("input_layers"), "input_layers")?,
        outputs: config::parse_names(config.get("output_layers"), "output_layers")?,
        flattened: vec![],
    })
}

fn functional_layer(value: &Value) -> Result<LegacyLayer, UpgradeError> {
    let (class_name, name, config) = config::layer_head(value)?;
    let nodes = value.get("inbound_nodes").and_then(Value::as_array).cloned().unwrap_or_default();
    let (inbound, kwargs) = match nodes.as_slice() {
        [] => (vec![], Map::new()),
        [node] => call_arguments(&name, node)?,
        _ => {
            return Err(UpgradeError::Unsupported(format!(
                "layer '{name}' is called {} times (shared layers are not supported)",
                nodes.len()
            )))
        }
    };
    Ok(LegacyLayer { name, class_name, config, inbound, kwargs, weights: vec![] })
}

/// One inbound node: a list of `[layer, node, tensor, kwargs]` tensors, or (what tf-keras
/// writes for `TFOpLambda`) a single such tensor, unwrapped.
fn call_arguments(name: &str, node: &Value) -> Result<(Vec<String>, Map<String, Value>), UpgradeError> {
    let items = node.as_array().ok_or_else(|| invalid(format!("layer '{name}': inbound node is not a list")))?;
    let tensors: Vec<&Value> =
        if items.first().is_some_and(Value::is_string) { vec![node] } else { items.iter().collect() };
    let mut inbound = Vec::new();
    let mut kwargs = Map::new();
    for tensor in tensors {
        match tensor.as_array().map(Vec::as_slice) {
            Some([Value::String(source), node_index, tensor_index, rest @ ..])
                if node_index.as_u64() == Some(0) && tensor_index.as_u64() == Some(0) =>
            {
                inbound.push(source.clone());
                if let Some(Value::Object(call_kwargs)) = rest.first() {
                    kwargs
                        .extend(call_kwargs.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            _ => {
                return Err(UpgradeError::Unsupported(format!(
                    "layer '{name}': inbound tensor {tensor} is not supported (only single-output, single-use layers)"
                )))
            }
        }
    }
    Ok((inbound, kwargs))
}

/// A model config in the Functional form: a Sequential config (`{"name", "layers"}`, or before
/// Keras 2.2.3 the bare layer list) becomes the chain it builds, with the `InputLayer` Keras
/// creates from the first layer's `batch_input_shape` when the list has none (a nested model
/// first brings its own inputs).
fn as_functional(class_name: &str, config: &Value) -> Result<Value, UpgradeError> {
    if class_name != "Sequential" {
        return Ok(config.clone());
    }
    let (name, layer_values) = match config {
        Value::Array(layers) => ("sequential".to_string(), layers),
        _ => (
            config.get("name").and_then(Value::as_str).unwrap_or("sequential").to_string(),
            config.get("layers").and_then(Value::as_array).ok_or_else(|| invalid("no layer list"))?,
        ),
    };
    let mut layers: Vec<Value> = Vec::new();
    let mut previous: Option<String> = None;
    for value in layer_values {
        let (class_name, layer_name, config) = config::layer_head(value)?;
        let inbound = match &previous {
            Some(previous) => json!([[[previous, 0, 0, {}]]]),
            None if class_name == "InputLayer" || is_model(&class_name) => json!([]),
            None => {
                let shape = first_layer_shape(&config).ok_or_else(|| {
                    invalid(format!(
                        "Sequential model: first layer '{layer_name}' has no input shape (the model was never built)"
                    ))
                })?;
                let input_name = format!("{layer_name}_input");
                layers.push(json!({"class_name": "InputLayer", "name": input_name, "inbound_nodes": [],
                    "config": {"batch_input_shape": shape, "dtype": "float32", "name": input_name}}));
                json!([[[input_name, 0, 0, {}]]])
            }
        };
        layers.push(json!({"class_name": class_name, "name": layer_name, "config": config, "inbound_nodes": inbound}));
        previous = Some(layer_name);
    }
    let first = layers
        .first()
        .and_then(|l| l["name"].as_str())
        .map(str::to_string)
        .ok_or_else(|| invalid("Sequential model without layers"))?;
    Ok(json!({"name": name, "layers": layers, "input_layers": [[first, 0, 0]], "output_layers": [[previous, 0, 0]]}))
}

/// A Functional config with every nested model (a model used as a layer, as Teachable Machine's
/// export nests two Sequential models) inlined: its layers join the outer model, its inputs read
/// what it was called on, and readers of the nested model read its output. `owners` records,
/// for each inlined layer, the top-level nested model whose weight group holds its weights.
fn inline_nested(
    config: &Value,
    group: Option<&str>,
    owners: &mut HashMap<String, String>,
    copies: &mut HashMap<String, String>,
) -> Result<Value, UpgradeError> {
    let layer_values = config.get("layers").and_then(Value::as_array).ok_or_else(|| invalid("no layer list"))?;
    let layer_values = expand_shared(layer_values, copies)?;
    let mut layers: Vec<Value> = Vec::new();
    // A nested model's name, or one of its inputs' names → the tensor reference standing for it.
    let mut aliases: HashMap<String, Value> = HashMap::new();
    // An uncalled nested model's name in `input_layers` → its own inputs.
    let mut input_aliases: HashMap<String, Value> = HashMap::new();
    for value in &layer_values {
        let (class_name, name, inner_config) = config::layer_head(value)?;
        if !is_model(&class_name) {
            if let Some(group) = group {
                owners.insert(name, group.to_string());
            }
            layers.push(value.clone());
            continue;
        }
        let refuse = |why: String| UpgradeError::Unsupported(format!("nested model '{name}': {why}"));
        let inner = as_functional(&class_name, &Value::Object(inner_config.clone()))?;
        let inner = inline_nested(&inner, Some(group.unwrap_or(&name)), owners, copies)?;
        let inputs = config::parse_names(inner.get("input_layers"), "input_layers")?;
        let outputs = config::parse_names(inner.get("output_layers"), "output_layers")?;
        let [output] = outputs.as_slice() else { return Err(refuse(format!("{} outputs", outputs.len()))) };
        aliases.insert(name.clone(), json!([output, 0, 0]));
        let nodes = value.get("inbound_nodes").and_then(Value::as_array).cloned().unwrap_or_default();
        let called_on: Vec<Value> = match nodes.as_slice() {
            // Not called: the first layer of a Sequential model, whose inputs are the model's.
            [] => vec![],
            [node] => node.as_array().cloned().unwrap_or_default(),
            _ => return Err(refuse(format!("called {} times (shared models are not supported)", nodes.len()))),
        };
        if called_on.is_empty() {
            let [input] = inputs.as_slice() else { return Err(refuse(format!("{} inputs", inputs.len()))) };
            input_aliases.insert(name.clone(), json!([input, 0, 0]));
        } else if called_on.len() != inputs.len() {
            return Err(refuse(format!("{} inputs, called on {}", inputs.len(), called_on.len())));
        }
        for (input, tensor) in inputs.iter().zip(&called_on) {
            aliases.insert(
                input.clone(),
                Value::Array(tensor.as_array().into_iter().flatten().take(3).cloned().collect()),
            );
        }
        for inner_layer in inner.get("layers").and_then(Value::as_array).into_iter().flatten() {
            let is_called_input = !called_on.is_empty() && inner_layer["class_name"] == "InputLayer";
            if !is_called_input {
                layers.push(inner_layer.clone());
            }
        }
    }
    let mut names = std::collections::HashSet::new();
    for layer in &mut layers {
        let name = config::layer_head(layer)?.1;
        if !names.insert(name.clone()) {
            return Err(UpgradeError::Unsupported(format!(
                "layer name '{name}' is used twice (a nested model's layer shares a name with another layer)"
            )));
        }
        if let Some(nodes) = layer.get_mut("inbound_nodes") {
            resolve_aliases(nodes, &aliases);
        }
    }
    let mut flat = config.clone();
    flat["layers"] = Value::Array(layers);
    if let Some(refs) = flat.get_mut("input_layers") {
        resolve_aliases(refs, &input_aliases);
    }
    if let Some(refs) = flat.get_mut("output_layers") {
        resolve_aliases(refs, &aliases);
    }
    Ok(flat)
}

/// A shared layer (one layer called k times) becomes k layers computing the same with the same
/// weights: `name` for its first call, `name_call<k>` for the others; a tensor reference to its
/// call k (`[name, k, 0]`) then reads that copy. `copies` maps each copy to the layer it repeats.
fn expand_shared(layer_values: &[Value], copies: &mut HashMap<String, String>) -> Result<Vec<Value>, UpgradeError> {
    let mut expanded = Vec::new();
    let mut shared = std::collections::HashSet::new();
    for value in layer_values {
        let (class_name, name, _) = config::layer_head(value)?;
        let nodes = value.get("inbound_nodes").and_then(Value::as_array).cloned().unwrap_or_default();
        if nodes.len() < 2 || is_model(&class_name) {
            expanded.push(value.clone());
            continue;
        }
        shared.insert(name.clone());
        for (k, node) in nodes.into_iter().enumerate() {
            let copy_name = if k == 0 { name.clone() } else { format!("{name}_call{k}") };
            let mut copy = value.clone();
            copy["name"] = json!(copy_name);
            copy["config"]["name"] = json!(copy_name);
            copy["inbound_nodes"] = json!([node]);
            if k > 0 {
                copies.insert(copy_name, name.clone());
            }
            expanded.push(copy);
        }
    }
    for value in &mut expanded {
        if let Some(nodes) = value.get_mut("inbound_nodes") {
            point_at_copies(nodes, &shared);
        }
    }
    Ok(expanded)
}

/// `[name, k, tensor, ...]` with k > 0 on a shared layer → `[name_call<k>, 0, tensor, ...]`.
fn point_at_copies(value: &mut Value, shared: &std::collections::HashSet<String>) {
    if let Value::Array(items) = value {
        if let [Value::String(name), node, tensor, ..] = items.as_mut_slice() {
            if let (true, Some(k @ 1..)) = (shared.contains(name.as_str()) && tensor.is_u64(), node.as_u64()) {
                *name = format!("{name}_call{k}");
                *node = json!(0);
            }
        }
        items.iter_mut().for_each(|item| point_at_copies(item, shared));
    } else if let Value::Object(map) = value {
        map.values_mut().for_each(|item| point_at_copies(item, shared));
    }
}

/// Replaces every tensor reference `[name, node, tensor, ...]` to an aliased name by what it
/// stands for (following aliases of aliases: a nested model inside a nested model).
fn resolve_aliases(value: &mut Value, aliases: &HashMap<String, Value>) {
    if let Value::Array(items) = value {
        for _ in 0..aliases.len() {
            let target = match items.as_slice() {
                [Value::String(name), node, tensor, ..] if node.is_u64() && tensor.is_u64() => aliases.get(name),
                _ => None,
            };
            match target.and_then(Value::as_array) {
                Some(target) if target.len() == 3 => items.splice(0..3, target.iter().cloned()).for_each(drop),
                _ => break,
            }
        }
        items.iter_mut().for_each(|item| resolve_aliases(item, aliases));
    } else if let Value::Object(map) = value {
        map.values_mut().for_each(|item| resolve_aliases(item, aliases));
    }
}

/// The batch input shape a Sequential model's first layer declares, in any of the spellings
/// Keras versions used.
fn first_layer_shape(config: &Map<String, Value>) -> Option<Value> {
    if let Some(shape) = config.get("batch_input_shape").or_else(|| config.get("batch_shape")) {
        return Some(shape.clone());
    }
    if let Some(Value::Array(shape)) = config.get("input_shape") {
        return Some(Value::Array(std::iter::once(Value::Null).chain(shape.iter().cloned()).collect()));
    }
    config.get("input_dim").map(|dim| json!([null, dim]))
}

/// Gives every layer its group's weights; a group with weights but no layer is an error. A
/// nested model's group holds the weights of all its layers: each goes to the inlined layer its
/// name's path names (`conv/kernel:0`, `features/conv/kernel:0`), in file order.
fn attach_weights(
    model: &mut LegacyModel,
    raw: &RawKerasFile,
    owners: &HashMap<String, String>,
) -> Result<(), UpgradeError> {
    for group in raw.groups.iter().filter(|g| !g.weights.is_empty()) {
        if let Some(layer) = model.layers.iter_mut().find(|l| l.name == group.name) {
            layer.weights = group.weights.clone();
            continue;
        }
        if !owners.values().any(|owner| *owner == group.name) {
            return Err(invalid(format!(
                "the file holds weights for '{}', which is not a layer of the model",
                group.name
            )));
        }
        for weight in &group.weights {
            let segments: Vec<&str> = weight.name.split('/').collect();
            let owner = segments[..segments.len() - 1]
                .iter()
                .rev()
                .find(|segment| owners.get(**segment) == Some(&group.name))
                .ok_or_else(|| {
                    invalid(format!("weight '{}' of '{}' names none of its layers", weight.name, group.name))
                })?;
            let layer = model.layers.iter_mut().find(|l| l.name == *owner).ok_or_else(|| invalid("lost layer"))?;
            layer.weights.push(weight.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(config: Value, version: Option<&str>) -> RawKerasFile {
        RawKerasFile { model_config: config.to_string(), keras_version: version.map(str::to_string), groups: vec![] }
    }

    #[test]
    fn sequential_list_configs_get_their_input_layer() {
        // Keras 2.0-2.2 wrote Sequential configs as a bare list; the first layer declares the shape.
        let config = json!({"class_name": "Sequential", "config": [
            {"class_name": "Dense", "config": {"name": "dense_1", "units": 3, "batch_input_shape": [null, 4]}},
            {"class_name": "Activation", "config": {"name": "act", "activation": "relu"}}]});
        let model = parse(&raw(config, Some("2.1.6"))).unwrap();
        let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["dense_1_input", "dense_1", "act"]);
        assert_eq!(model.layers[0].config["batch_input_shape"], json!([null, 4]));
        assert_eq!(model.layers[2].inbound, ["dense_1"]);
        assert_eq!(
            (model.inputs.as_slice(), model.outputs.as_slice()),
            (&["dense_1_input".to_string()][..], &["act".to_string()][..])
        );
    }

    #[test]
    fn nested_models_are_inlined_and_get_their_weights() {
        // A Sequential whose layers are a Sequential trunk (uncalled: its input is the model's)
        // and a Functional head called on the trunk; the head's weights are in its own group.
        let config = json!({"class_name": "Sequential", "config": {"name": "outer", "layers": [
            {"class_name": "Sequential", "config": {"name": "trunk", "layers": [
                {"class_name": "InputLayer", "config": {"name": "image", "batch_input_shape": [null, 2]}},
                {"class_name": "Dense", "config": {"name": "d1", "units": 2}}]}},
            {"class_name": "Functional", "config": {"name": "head", "layers": [
                {"class_name": "InputLayer", "name": "head_in", "config": {"name": "head_in"}, "inbound_nodes": []},
                {"class_name": "Dense", "name": "d2", "config": {"name": "d2", "units": 1},
                 "inbound_nodes": [[["head_in", 0, 0, {}]]]}],
                "input_layers": [["head_in", 0, 0]], "output_layers": [["d2", 0, 0]]}}]}});
        let mut file = raw(config, Some("2.21.0"));
        let weight = |name: &str| Weight::new(name, ndarray::ArrayD::zeros(vec![1]));
        file.groups = vec![
            tf2h5_keras::raw::RawGroup {
                name: "trunk".into(),
                weights: vec![weight("d1/kernel:0"), weight("d1/bias:0")],
            },
            tf2h5_keras::raw::RawGroup { name: "head".into(), weights: vec![weight("head/d2/kernel:0")] },
        ];
        let model = parse(&file).unwrap();
        let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["image", "d1", "d2"]);
        assert_eq!(
            (model.inputs.as_slice(), model.outputs.as_slice()),
            (&["image".to_string()][..], &["d2".to_string()][..])
        );
        assert_eq!(model.layers[2].inbound, ["d1"], "the head's input reads the trunk's output");
        assert_eq!(model.layers[1].weights.len(), 2);
        assert_eq!(model.layers[2].weights[0].name, "head/d2/kernel:0");
    }

    #[test]
    fn a_shared_layer_becomes_one_copy_per_call_with_its_weights() {
        let config = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "name": "x", "config": {"name": "x"}, "inbound_nodes": []},
            {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2},
             "inbound_nodes": [[["x", 0, 0, {}]], [["d", 0, 0, {}]]]},
            {"class_name": "Add", "name": "sum", "config": {"name": "sum"},
             "inbound_nodes": [[["d", 0, 0, {}], ["d", 1, 0, {}]]]}],
            "input_layers": [["x", 0, 0]], "output_layers": [["sum", 0, 0]]}});
        let mut file = raw(config, Some("2.21.0"));
        let kernel = Weight::new("d/kernel:0", ndarray::ArrayD::ones(vec![2, 2]));
        file.groups = vec![tf2h5_keras::raw::RawGroup { name: "d".into(), weights: vec![kernel.clone()] }];
        let model = parse(&file).unwrap();
        let layers: Vec<(&str, &[String])> =
            model.layers.iter().map(|l| (l.name.as_str(), l.inbound.as_slice())).collect();
        let strings = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            layers[1..],
            [("d", &strings(&["x"])[..]), ("d_call1", &strings(&["d"])[..]), ("sum", &strings(&["d", "d_call1"])[..])]
        );
        assert_eq!(model.layers[2].config["name"], json!("d_call1"));
        assert_eq!(model.layers[2].weights, [kernel]);
    }

    #[test]
    fn tf_op_lambda_call_arguments_are_kept() {
        let config = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_input_shape": [null, 2]}, "inbound_nodes": []},
            {"class_name": "TFOpLambda", "name": "tf.math.subtract", "config": {"name": "tf.math.subtract", "function": "math.subtract"},
             "inbound_nodes": [["tf.math.multiply", 0, 0, {"y": ["x", 0, 0], "name": null}]]},
            {"class_name": "TFOpLambda", "name": "tf.math.multiply", "config": {"name": "tf.math.multiply", "function": "math.multiply"},
             "inbound_nodes": [["x", 0, 0, {"y": 2.0, "name": null}]]}],
            "input_layers": [["x", 0, 0]], "output_layers": [["tf.math.subtract", 0, 0]]}});
        let model = parse(&raw(config, Some("2.21.0"))).unwrap();
        let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["x", "tf.math.multiply", "tf.math.subtract"], "ordered by dependency");
        assert_eq!(model.layers[1].kwargs["y"], json!(2.0));
        assert!(!model.layers[1].kwargs.contains_key("name"), "null kwargs are dropped");
        assert_eq!(model.layers[2].dependencies(), ["tf.math.multiply", "x"]);
    }

    #[test]
    fn refuses_multi_output_nested_models_and_shared_layers() {
        let dense = json!({"class_name": "Sequential", "config": [
            {"class_name": "Dense", "config": {"name": "d", "output_dim": 1, "batch_input_shape": [null, 2]}}]});
        assert_eq!(parse(&raw(dense.clone(), None)).unwrap().keras_major, 1, "no keras_version: Keras 1");
        assert!(parse(&raw(dense, Some("4.0"))).unwrap_err().to_string().contains("keras_version 4.0"));
        let nested = json!({"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Functional", "config": {"name": "mobilenet", "layers": [],
             "input_layers": [], "output_layers": [["a", 0, 0], ["b", 0, 0]]}}]}});
        assert!(parse(&raw(nested, Some("2.4.0")))
            .unwrap_err()
            .to_string()
            .contains("nested model 'mobilenet': 2 outputs"));
        let shared_model = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "name": "x", "config": {"name": "x"}, "inbound_nodes": []},
            {"class_name": "Functional", "name": "sub", "config": {"name": "sub", "layers": [],
             "input_layers": [["i", 0, 0]], "output_layers": [["i", 0, 0]]},
             "inbound_nodes": [[["x", 0, 0, {}]], [["x", 0, 0, {}]]]}],
            "input_layers": [["x", 0, 0]], "output_layers": [["x", 0, 0]]}});
        assert!(parse(&raw(shared_model, Some("2.4.0"))).unwrap_err().to_string().contains("called 2 times"));
        let unbuilt = json!({"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Dense", "config": {"name": "d", "units": 1}}]}});
        assert!(parse(&raw(unbuilt, Some("2.4.0"))).unwrap_err().to_string().contains("never built"));
    }
}

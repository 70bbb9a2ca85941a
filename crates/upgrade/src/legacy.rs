//! The source model as its file describes it: layers with their configs exactly as saved,
//! the tensors each is called on (positional, and `TFOpLambda`'s keyword arguments), and the
//! weights of its layer group. Only the structure is normalised: a Sequential model becomes
//! the chain it stands for, with the `InputLayer` Keras would create for it.

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
    let mut model = match class_name {
        "Functional" | "Model" => functional(config)?,
        "Sequential" => sequential(config)?,
        other => return Err(UpgradeError::Unsupported(format!("a model of class '{other}' is not supported"))),
    };
    model.keras_major = keras_major;
    attach_weights(&mut model, raw)?;
    Ok(model)
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
        inputs: config::parse_refs(config.get("input_layers"), "input_layers")?,
        outputs: config::parse_refs(config.get("output_layers"), "output_layers")?,
    })
}

/// The class, config and name common to both model kinds; nested models are refused.
fn layer_head(value: &Value) -> Result<(String, String, Map<String, Value>), UpgradeError> {
    let (class_name, name, config) = config::layer_head(value)?;
    if matches!(class_name.as_str(), "Sequential" | "Functional" | "Model") {
        return Err(UpgradeError::Unsupported(format!(
            "layer '{name}' is a nested {class_name} model (not supported)"
        )));
    }
    Ok((class_name, name, config))
}

fn functional_layer(value: &Value) -> Result<LegacyLayer, UpgradeError> {
    let (class_name, name, config) = layer_head(value)?;
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

/// A Sequential config (`{"name", "layers"}`, or before Keras 2.2.3 the bare layer list) as
/// the chain it builds, with the `InputLayer` Keras creates from the first layer's
/// `batch_input_shape` when the list has none.
fn sequential(config: &Value) -> Result<LegacyModel, UpgradeError> {
    let (name, layer_values) = match config {
        Value::Array(layers) => ("sequential".to_string(), layers),
        _ => (
            config.get("name").and_then(Value::as_str).unwrap_or("sequential").to_string(),
            config.get("layers").and_then(Value::as_array).ok_or_else(|| invalid("no layer list"))?,
        ),
    };
    let mut layers = Vec::new();
    for value in layer_values {
        let (class_name, name, config) = layer_head(value)?;
        let inbound = match layers.last() {
            Some(LegacyLayer { name: previous, .. }) => vec![previous.clone()],
            None if class_name == "InputLayer" => vec![],
            None => {
                let shape = first_layer_shape(&config).ok_or_else(|| {
                    invalid(format!(
                        "Sequential model: first layer '{name}' has no input shape (the model was never built)"
                    ))
                })?;
                let input_name = format!("{name}_input");
                let input_config = json!({"batch_input_shape": shape, "dtype": "float32", "name": input_name});
                layers.push(LegacyLayer {
                    name: input_name.clone(),
                    class_name: "InputLayer".into(),
                    config: input_config.as_object().cloned().unwrap_or_default(),
                    inbound: vec![],
                    kwargs: Map::new(),
                    weights: vec![],
                });
                vec![input_name]
            }
        };
        layers.push(LegacyLayer { name, class_name, config, inbound, kwargs: Map::new(), weights: vec![] });
    }
    let first = layers.first().ok_or_else(|| invalid("Sequential model without layers"))?.name.clone();
    let last = layers.last().map(|l| l.name.clone()).unwrap_or_default();
    Ok(LegacyModel { name, keras_major: 0, layers, inputs: vec![first], outputs: vec![last] })
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

/// Gives every layer its group's weights; a group with weights but no layer is an error.
fn attach_weights(model: &mut LegacyModel, raw: &RawKerasFile) -> Result<(), UpgradeError> {
    for group in raw.groups.iter().filter(|g| !g.weights.is_empty()) {
        let layer = model.layers.iter_mut().find(|l| l.name == group.name).ok_or_else(|| {
            invalid(format!("the file holds weights for '{}', which is not a layer of the model", group.name))
        })?;
        layer.weights = group.weights.clone();
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
    fn refuses_nested_and_shared_layers() {
        let dense = json!({"class_name": "Sequential", "config": [
            {"class_name": "Dense", "config": {"name": "d", "output_dim": 1, "batch_input_shape": [null, 2]}}]});
        assert_eq!(parse(&raw(dense.clone(), None)).unwrap().keras_major, 1, "no keras_version: Keras 1");
        assert!(parse(&raw(dense, Some("4.0"))).unwrap_err().to_string().contains("keras_version 4.0"));
        let nested = json!({"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Functional", "config": {"name": "mobilenet", "layers": []}}]}});
        assert!(parse(&raw(nested, Some("2.4.0"))).unwrap_err().to_string().contains("nested Functional"));
        let shared = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "Dense", "name": "d", "config": {}, "inbound_nodes": [[["x", 0, 0, {}]], [["x", 0, 0, {}]]]}],
            "input_layers": [], "output_layers": []}});
        assert!(parse(&raw(shared, Some("2.4.0"))).unwrap_err().to_string().contains("called 2 times"));
        let unbuilt = json!({"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Dense", "config": {"name": "d", "units": 1}}]}});
        assert!(parse(&raw(unbuilt, Some("2.4.0"))).unwrap_err().to_string().contains("never built"));
    }
}

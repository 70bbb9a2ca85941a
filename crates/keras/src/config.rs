//! `model_config`: the Keras-2 `Functional` JSON both loaders rebuild the model from, and
//! which weights each layer class owns (the loaders match weights by that, in layer order).

use serde_json::{json, Map, Value};

use crate::{KerasError, KerasModel, Layer, LayerOutput};

/// Serialises the model's architecture as the `model_config` JSON string.
pub fn to_json(model: &KerasModel) -> String {
    let layers: Vec<Value> = model
        .layers
        .iter()
        .map(|layer| {
            // A layer called once: one inbound node listing each source tensor.
            let inbound_nodes = if layer.inbound.is_empty() {
                json!([])
            } else {
                let args: Vec<Value> = layer.inbound.iter().map(|src| json!([src.layer, 0, src.index, {}])).collect();
                json!([args])
            };
            json!({
                "class_name": layer.class_name,
                "config": layer.config,
                "name": layer.name,
                "inbound_nodes": inbound_nodes,
            })
        })
        .collect();
    let refs =
        |outputs: &[LayerOutput]| -> Vec<Value> { outputs.iter().map(|o| json!([o.layer, 0, o.index])).collect() };
    let inputs: Vec<LayerOutput> = model.inputs.iter().map(LayerOutput::from).collect();
    json!({
        "class_name": "Functional",
        "config": {
            "name": model.name,
            "trainable": true,
            "layers": layers,
            "input_layers": refs(&inputs),
            "output_layers": refs(&model.outputs),
        }
    })
    .to_string()
}

/// Parses a `model_config` JSON string into a model without weights.
///
/// Accepts Keras-2 functional configs whose layers are each called once; anything else
/// (Sequential, shared layers, nested models) is an error naming what was found.
pub fn from_json(text: &str) -> Result<KerasModel, KerasError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| KerasError::Invalid(format!("model_config is not JSON: {e}")))?;
    let class_name = root.get("class_name").and_then(Value::as_str).unwrap_or("");
    if class_name != "Functional" && class_name != "Model" {
        return Err(KerasError::Invalid(format!(
            "model_config class '{class_name}' is not supported (expected a Functional model)"
        )));
    }
    let config = root.get("config").and_then(Value::as_object).ok_or_else(|| invalid("model_config has no config"))?;
    let name = config.get("name").and_then(Value::as_str).unwrap_or("model").to_string();
    let layer_values =
        config.get("layers").and_then(Value::as_array).ok_or_else(|| invalid("model_config has no layer list"))?;
    let layers = layer_values.iter().map(parse_layer).collect::<Result<Vec<_>, _>>()?;
    let model = KerasModel {
        name,
        layers: topological(layers)?,
        inputs: parse_names(config.get("input_layers"), "input_layers")?,
        outputs: parse_refs(config.get("output_layers"), "output_layers")?,
    };
    model.validate()?;
    Ok(model)
}

fn invalid(message: &str) -> KerasError {
    KerasError::Invalid(message.to_string())
}

/// A layer entry's class name, name and config (the name from the entry, else its config).
pub fn layer_head(value: &Value) -> Result<(String, String, Map<String, Value>), KerasError> {
    let class_name =
        value.get("class_name").and_then(Value::as_str).ok_or_else(|| invalid("a layer has no class_name"))?;
    let config: Map<String, Value> =
        value.get("config").and_then(Value::as_object).cloned().ok_or_else(|| invalid("a layer has no config"))?;
    let name = value
        .get("name")
        .or_else(|| config.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a layer has no name"))?
        .to_string();
    Ok((class_name.to_string(), name, config))
}

fn parse_layer(value: &Value) -> Result<Layer, KerasError> {
    let (class_name, name, config) = layer_head(value)?;
    let nodes = value.get("inbound_nodes").and_then(Value::as_array).cloned().unwrap_or_default();
    let inbound = match nodes.as_slice() {
        [] => vec![],
        [node] => node
            .as_array()
            .ok_or_else(|| KerasError::Invalid(format!("layer '{name}': inbound node is not a list")))?
            .iter()
            .map(|tensor| {
                tensor_ref(tensor).ok_or_else(|| {
                    KerasError::Invalid(format!(
                        "layer '{name}': inbound tensor {tensor} is not supported (only layers called once)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(KerasError::Invalid(format!(
                "layer '{name}' is called {} times; shared layers are not supported",
                nodes.len()
            )))
        }
    };
    Ok(Layer { name, class_name, config, inbound, weights: vec![] })
}

/// `[layer, 0, tensor_index, ...]`: output `tensor_index` of the layer's only call.
fn tensor_ref(tensor: &Value) -> Option<LayerOutput> {
    match tensor.as_array().map(Vec::as_slice) {
        Some([Value::String(layer), node_index, tensor_index, ..]) if node_index.as_u64() == Some(0) => {
            Some(LayerOutput::new(layer.clone(), usize::try_from(tensor_index.as_u64()?).ok()?))
        }
        _ => None,
    }
}

/// Orders layers so each follows its inputs (Keras does not require JSON order to be topological).
fn topological(layers: Vec<Layer>) -> Result<Vec<Layer>, KerasError> {
    topological_by(layers, |l| &l.name, |l| l.inbound.iter().map(|o| o.layer.as_str()).collect())
}

/// Orders `items` (named by `name`) so each follows every item it `reads`; an error names the
/// items that read undefined names or form a cycle.
pub fn topological_by<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    reads: impl Fn(&T) -> Vec<&str>,
) -> Result<Vec<T>, KerasError> {
    let mut pending = items;
    let mut ordered: Vec<T> = Vec::with_capacity(pending.len());
    let mut placed = std::collections::HashSet::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for item in pending {
            if reads(&item).iter().all(|src| placed.contains(*src)) {
                placed.insert(name(&item).to_string());
                ordered.push(item);
            } else {
                rest.push(item);
            }
        }
        if rest.len() == before {
            let names: Vec<&str> = rest.iter().map(&name).take(5).collect();
            return Err(KerasError::Invalid(format!("layers {names:?} read undefined layers or form a cycle")));
        }
        pending = rest;
    }
    Ok(ordered)
}

/// The layer outputs of `input_layers` / `output_layers` (`key`): `[name, 0, tensor_index]`
/// entries, or a single one written unwrapped. Other node indices (shared layers) are refused.
pub fn parse_refs(value: Option<&Value>, key: &str) -> Result<Vec<LayerOutput>, KerasError> {
    let list =
        value.and_then(Value::as_array).ok_or_else(|| KerasError::Invalid(format!("model_config has no {key}")))?;
    // A single tensor may be written unwrapped: ["name", 0, 0].
    let items: Vec<&Value> = if list.first().is_some_and(Value::is_string) {
        vec![value.unwrap_or(&Value::Null)]
    } else {
        list.iter().collect()
    };
    items
        .into_iter()
        .map(|item| {
            tensor_ref(item)
                .ok_or_else(|| KerasError::Invalid(format!("model_config {key} entry {item} is not [name, 0, index]")))
        })
        .collect()
}

/// Like [`parse_refs`] for single-output layers (the model's inputs): their names.
pub fn parse_names(value: Option<&Value>, key: &str) -> Result<Vec<String>, KerasError> {
    parse_refs(value, key)?
        .into_iter()
        .map(|o| match o.index {
            0 => Ok(o.layer),
            _ => Err(KerasError::Invalid(format!("model_config {key} entry '{o}' is not a layer's only output"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers;
    use ndarray::ArrayD;

    #[test]
    fn json_round_trip_keeps_architecture() {
        let model = KerasModel {
            name: "m".into(),
            layers: vec![
                layers::input_layer("x", &[None, Some(4)]),
                layers::dense("d", "x".into(), ArrayD::zeros(vec![4, 2]), None, "relu"),
                layers::add("sum", vec!["d".into(), "d".into()]),
            ],
            inputs: vec!["x".into()],
            outputs: vec!["sum".into()],
        };
        let mut parsed = from_json(&to_json(&model)).unwrap();
        for layer in &mut parsed.layers {
            layer.weights = model.layer(&layer.name).unwrap().weights.clone();
        }
        assert_eq!(parsed, model);
    }

    #[test]
    fn layer_outputs_round_trip_as_tensor_indices() {
        // An LSTM returning [sequences, h, c]: a Concatenate reads h and c, c is a model output.
        let options = layers::RecurrentOptions {
            return_sequences: true,
            go_backwards: false,
            return_state: true,
            activation: "tanh",
            recurrent_activation: "sigmoid",
        };
        let (kernel, recurrent) = (ArrayD::zeros(vec![3, 8]), ArrayD::zeros(vec![2, 8]));
        let lstm = layers::recurrent("lstm", "x".into(), layers::RecurrentKind::Lstm, options, kernel, recurrent, None);
        let states = vec![LayerOutput::new("lstm", 1), LayerOutput::new("lstm", 2)];
        let model = KerasModel {
            name: "m".into(),
            layers: vec![
                layers::input_layer("x", &[None, Some(5), Some(3)]),
                lstm,
                layers::concatenate("states", states, -1),
            ],
            inputs: vec!["x".into()],
            outputs: vec!["states".into(), LayerOutput::new("lstm", 2), "lstm".into()],
        };
        let text = to_json(&model);
        assert!(text.contains(r#"[[["lstm",0,1,{}],["lstm",0,2,{}]]]"#), "{text}");
        assert!(text.contains(r#""output_layers":[["states",0,0],["lstm",0,2],["lstm",0,0]]"#), "{text}");
        let mut parsed = from_json(&text).unwrap();
        for layer in &mut parsed.layers {
            layer.weights = model.layer(&layer.name).unwrap().weights.clone();
        }
        assert_eq!(parsed, model);
        assert_eq!(LayerOutput::new("lstm", 2).to_string(), "lstm:2");
        let input_state = text.replace(r#""input_layers":[["x",0,0]]"#, r#""input_layers":[["x",0,1]]"#);
        assert!(from_json(&input_state).unwrap_err().to_string().contains("'x:1' is not a layer's only output"));
    }

    #[test]
    fn json_uses_keras2_keys_only() {
        let model = KerasModel {
            name: "m".into(),
            layers: vec![layers::input_layer("x", &[None, Some(4)])],
            inputs: vec!["x".into()],
            outputs: vec!["x".into()],
        };
        let text = to_json(&model);
        assert!(text.contains("\"batch_input_shape\":[null,4]"));
        assert!(!text.contains("batch_shape\""));
    }

    #[test]
    fn rejects_shared_layers_and_cycles() {
        let shared = r#"{"class_name":"Functional","config":{"name":"m","layers":[
            {"class_name":"InputLayer","name":"x","config":{"name":"x","batch_input_shape":[null,1]},"inbound_nodes":[]},
            {"class_name":"Dense","name":"d","config":{"name":"d"},"inbound_nodes":[[["x",0,0,{}]],[["x",0,0,{}]]]}],
            "input_layers":[["x",0,0]],"output_layers":[["d",0,0]]}}"#;
        assert!(from_json(shared).unwrap_err().to_string().contains("shared"));
        let cycle = r#"{"class_name":"Functional","config":{"name":"m","layers":[
            {"class_name":"Add","name":"a","config":{},"inbound_nodes":[[["b",0,0,{}]]]},
            {"class_name":"Add","name":"b","config":{},"inbound_nodes":[[["a",0,0,{}]]]}],
            "input_layers":[["a",0,0]],"output_layers":[["b",0,0]]}}"#;
        assert!(from_json(cycle).unwrap_err().to_string().contains("cycle"));
        assert!(from_json("not json").is_err());
    }
}

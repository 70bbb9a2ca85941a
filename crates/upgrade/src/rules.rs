//! The rewrite: each legacy layer becomes one or more layers whose configs tf-keras 2.21,
//! Keras 3 and tensorflowjs all accept (see `shared/docs/KERAS_H5.md`). One function per
//! rule; every change is logged in [`Upgraded::rewrites`] for the report.

use serde_json::{json, Map, Value};
use tf2h5_keras::spec::{LayerSpec, BIDIRECTIONAL_INNER_NAME};
use tf2h5_keras::{layers, KerasModel, Layer, LayerOutput, Weight};

use crate::{LegacyLayer, LegacyModel, UpgradeError};

/// The upgraded model and what was changed.
#[derive(Debug, Clone)]
pub struct Upgraded {
    /// The model to write, with the source's weights.
    pub model: KerasModel,
    /// One line per change, naming the layer.
    pub rewrites: Vec<String>,
    /// For every emitted layer, the source layer it was built from.
    pub sources: Vec<(String, String)>,
}

/// Rewrites `source` layer by layer.
pub fn upgrade(source: &LegacyModel) -> Result<Upgraded, UpgradeError> {
    let mut out = Upgraded {
        model: KerasModel { name: source.name.clone(), layers: vec![], inputs: vec![], outputs: vec![] },
        rewrites: source.flattened.clone(),
        sources: vec![],
    };
    // Source layer name → the emitted layer that carries its output.
    let mut renamed = std::collections::HashMap::<String, String>::new();
    let mut training_only_dropped = false;
    for layer in &source.layers {
        let mut log = Vec::new();
        let keras2 = if source.keras_major == 1 { Some(crate::keras1::to_keras2(layer, &mut log)?) } else { None };
        let mut emitted = rewrite_layer(keras2.as_ref().unwrap_or(layer), source.keras_major, &renamed, &mut log)?;
        for emitted_layer in &mut emitted {
            training_only_dropped |= drop_training_only_keys(&mut emitted_layer.config);
            // Loaders name a layer by its config's `name`: it must follow any renaming.
            emitted_layer.config.insert("name".into(), json!(emitted_layer.name));
        }
        out.rewrites.extend(log.into_iter().map(|change| format!("{} ({}): {change}", layer.name, layer.class_name)));
        let last = emitted.last().map(|l| l.name.clone()).unwrap_or_default();
        for emitted_layer in emitted {
            out.sources.push((emitted_layer.name.clone(), layer.name.clone()));
            out.model.layers.push(emitted_layer);
        }
        renamed.insert(layer.name.clone(), last);
    }
    if training_only_dropped {
        out.rewrites.push("all layers: dropped initializers, regularizers and constraints (training only)".into());
    }
    let map = |names: &[String]| names.iter().map(|n| renamed.get(n).cloned().unwrap_or_else(|| n.clone())).collect();
    out.model.inputs = map(&source.inputs);
    out.model.outputs = map(&source.outputs).into_iter().map(LayerOutput::from).collect();
    out.model.validate()?;
    Ok(out)
}

/// One source layer → the layers that replace it (the last one carries its output).
fn rewrite_layer(
    layer: &LegacyLayer,
    keras_major: u32,
    renamed: &std::collections::HashMap<String, String>,
    log: &mut Vec<String>,
) -> Result<Vec<Layer>, UpgradeError> {
    let inbound: Vec<String> =
        layer.inbound.iter().map(|n| renamed.get(n).cloned().unwrap_or_else(|| n.clone())).collect();
    let mut emitted = match layer.class_name.as_str() {
        "InputLayer" => vec![input_layer(layer, log)?],
        "TFOpLambda" => vec![tf_op_lambda(layer, &inbound, renamed, log)?],
        "Lambda" => lambda(layer, &inbound, log)?,
        "SlicingOpLambda" => return Err(unsupported(layer, "slicing has no exact standard Keras layer")),
        _ => {
            let mut config = layer.config.clone();
            dtype_policy(&mut config, log)?;
            let mut standard = Layer {
                name: layer.name.clone(),
                class_name: layer.class_name.clone(),
                config,
                inbound: inbound.iter().map(LayerOutput::from).collect(),
                weights: vec![],
            };
            // An unknown class or option is refused here, naming the layer.
            let spec = LayerSpec::parse(&standard)?;
            if !keep_spec_keys(&spec, &mut standard, log)? {
                drop_rejected_keys(&layer.class_name, &mut standard.config, log)?;
                wrapped_layer(&mut standard.config, log)?;
            }
            standard.weights = weights_for(&standard, &layer.weights)?;
            hard_sigmoid(standard, keras_major, log)?
        }
    };
    if matches!(layer.class_name.as_str(), "InputLayer" | "TFOpLambda" | "Lambda") {
        for emitted_layer in &mut emitted {
            emitted_layer.weights = weights_for(emitted_layer, &layer.weights)?;
        }
    }
    Ok(emitted)
}

/// The source weights, unchanged, under the names Keras gives them for the emitted layer.
fn weights_for(layer: &Layer, source: &[Weight]) -> Result<Vec<Weight>, UpgradeError> {
    let expected: Vec<&str> = LayerSpec::parse(layer)?.weights(None).into_iter().map(|w| w.name).collect();
    if expected.len() != source.len() {
        let found: Vec<&str> = source.iter().map(|w| w.name.as_str()).collect();
        return Err(UpgradeError::Invalid(format!(
            "layer '{}' ({}) holds weights {found:?}, but Keras expects {expected:?}",
            layer.name, layer.class_name
        )));
    }
    Ok(expected.into_iter().zip(source).map(|(name, w)| Weight::new(name, w.value.clone())).collect())
}

/// `InputLayer`: the shape (`batch_input_shape`, or Keras 3's `batch_shape`) under the key both
/// loaders read; `ragged`/`sparse` inputs and non-float inputs are refused. tf-keras writes
/// `ragged: false` on every input: dense, as the upgraded input is (tensorflowjs has no ragged
/// tensors), so it goes.
fn input_layer(layer: &LegacyLayer, log: &mut Vec<String>) -> Result<Layer, UpgradeError> {
    let config = &layer.config;
    for flag in ["ragged", "sparse"] {
        if config.get(flag).and_then(Value::as_bool) == Some(true) {
            return Err(unsupported(layer, &format!("a {flag} input has no dense Keras equivalent")));
        }
    }
    let shape_key = if config.contains_key("batch_input_shape") { "batch_input_shape" } else { "batch_shape" };
    if shape_key == "batch_shape" {
        log.push("batch_shape → batch_input_shape".into());
    }
    let shape = config
        .get(shape_key)
        .and_then(Value::as_array)
        .and_then(|dims| {
            dims.iter()
                .map(|d| if d.is_null() { Some(None) } else { d.as_u64().map(|v| Some(v as usize)) })
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| unsupported(layer, "no batch_input_shape"))?;
    let dtype = policy_name(config.get("dtype")).unwrap_or("float32");
    if dtype != "float32" {
        return Err(unsupported(layer, &format!("input dtype '{dtype}' (only float32 inputs are supported)")));
    }
    let dropped: Vec<String> = config
        .iter()
        .filter(|(k, _)| !["batch_input_shape", "dtype", "sparse", "name"].contains(&k.as_str()))
        .map(|(k, v)| if k == "ragged" { format!("{k}={v}") } else { k.clone() })
        .collect();
    if !dropped.is_empty() {
        log.push(format!("dropped {dropped:?}"));
    }
    Ok(layers::input_layer(&layer.name, &shape))
}

/// The name of a dtype or dtype policy: a plain string, tf-keras's
/// `{"class_name": "Policy", "config": {"name": ...}}`, or Keras 3's `DTypePolicy` dict.
fn policy_name(dtype: Option<&Value>) -> Option<&str> {
    match dtype? {
        Value::String(name) => Some(name),
        Value::Object(policy) => policy.get("config")?.get("name")?.as_str(),
        _ => None,
    }
}

/// dtype policy objects (tf-keras's `Policy`, Keras 3's `DTypePolicy`) → the plain `"float32"`
/// both loaders read. A mixed-precision policy computes in float16 in Keras; the upgraded
/// model computes in float32, which the log says (no loader-neutral float16 form exists).
fn dtype_policy(config: &mut Map<String, Value>, log: &mut Vec<String>) -> Result<(), UpgradeError> {
    let Some(dtype) = config.get("dtype") else { return Ok(()) };
    let name = policy_name(Some(dtype)).unwrap_or("").to_string();
    let rewritten = match name.as_str() {
        "float32" if dtype.is_string() => return Ok(()),
        "float32" => "dtype policy object → \"float32\"".to_string(),
        "mixed_float16" | "mixed_bfloat16" => format!("dtype policy '{name}' → \"float32\" (computes in float32)"),
        other => {
            return Err(UpgradeError::Unsupported(format!("dtype '{other}' is not supported (only float32 layers)")))
        }
    };
    config.insert("dtype".into(), json!("float32"));
    log.push(rewritten);
    Ok(())
}

/// A layer whose spec writes its whole config (dense, convolution, pooling, padding,
/// normalization layers) keeps the file's value of every key the spec writes and loses the
/// rest: the spec holds only keys both loaders accept, so e.g. `groups` = 1 on depthwise and
/// transposed convolutions (which Keras 3 rejects) goes. The kept keys must parse to the same
/// spec, so nothing that computes is lost. `false` for the other families, whose configs
/// their constructors write ([`drop_rejected_keys`] handles them).
fn keep_spec_keys(spec: &LayerSpec, layer: &mut Layer, log: &mut Vec<String>) -> Result<bool, UpgradeError> {
    let mut written = Map::new();
    spec.write_config(&mut written);
    if written.is_empty() {
        return Ok(false);
    }
    let kept = |key: &str| written.contains_key(key) || ["name", "trainable", "dtype"].contains(&key);
    let mut dropped = Vec::new();
    for (key, value) in &layer.config {
        if kept(key) || is_training_only(key) {
            continue;
        }
        // A grouped depthwise or transposed convolution has no form Keras 3 loads.
        if key == "groups" && value != &json!(1) {
            return Err(unsupported_layer(layer, &format!("groups={value} has no form Keras 3 loads")));
        }
        dropped.push(format!("{key}={value}"));
    }
    let source_spec = spec.clone();
    layer.config.retain(|key, _| kept(key) || is_training_only(key));
    // A key the spec writes but the file omits takes the loaders' default: state it.
    for (key, value) in written {
        layer.config.entry(key).or_insert(value);
    }
    if LayerSpec::parse(layer)? != source_spec {
        return Err(unsupported_layer(layer, "its config does not survive the rewrite (a tf2h5 bug: please report)"));
    }
    if !dropped.is_empty() {
        log.push(format!("dropped {}", dropped.join(", ")));
    }
    Ok(true)
}

/// Keys one of the loaders rejects in the configs of layers [`keep_spec_keys`] does not
/// rewrite, whose value here means nothing: `time_major` = false on RNNs (Keras 3 rejects it);
/// the input-shape keys a Sequential model's first layer carries (its `InputLayer` is explicit
/// now).
fn drop_rejected_keys(
    class_name: &str,
    config: &mut Map<String, Value>,
    log: &mut Vec<String>,
) -> Result<(), UpgradeError> {
    let mut drop = |key: &str, meaningless: Option<Value>| -> Result<(), UpgradeError> {
        let Some(value) = config.get(key) else { return Ok(()) };
        if meaningless.as_ref().is_some_and(|m| m != value) {
            return Err(UpgradeError::Unsupported(format!(
                "'{}' {class_name} with {key}={value} has no form Keras 3 loads",
                config.get("name").and_then(Value::as_str).unwrap_or("?")
            )));
        }
        log.push(format!("dropped {key}={value}"));
        config.remove(key);
        Ok(())
    };
    if matches!(class_name, "LSTM" | "GRU" | "SimpleRNN") {
        drop("time_major", Some(json!(false)))?;
    }
    for key in ["batch_input_shape", "batch_shape", "input_shape", "input_dim", "batch_size"] {
        drop(key, None)?;
    }
    Ok(())
}

/// The layer a wrapper (`Bidirectional`) holds in `config.layer`: the same rules as a layer
/// of its own (tf-keras writes `time_major` = false in there too, which Keras 3 rejects), and
/// the name tf2h5 gives it, under which the writer stores its weights for tensorflowjs (the
/// Keras loaders match them by order). A separate `backward_layer` is refused: the engine
/// runs the backward direction as the forward layer's mirror.
fn wrapped_layer(config: &mut Map<String, Value>, log: &mut Vec<String>) -> Result<(), UpgradeError> {
    if config.get("backward_layer").is_some_and(|b| !b.is_null()) {
        return Err(UpgradeError::Unsupported(format!(
            "layer '{}': a Bidirectional with its own backward_layer is not supported",
            config.get("name").and_then(Value::as_str).unwrap_or("?")
        )));
    }
    let Some(Value::Object(inner)) = config.get_mut("layer") else { return Ok(()) };
    let class_name = inner.get("class_name").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(Value::Object(inner_config)) = inner.get_mut("config") else { return Ok(()) };
    let mut inner_log = Vec::new();
    dtype_policy(inner_config, &mut inner_log)?;
    drop_rejected_keys(&class_name, inner_config, &mut inner_log)?;
    drop_training_only_keys(inner_config);
    let name = json!(BIDIRECTIONAL_INNER_NAME);
    if let Some(old) = inner_config.insert("name".into(), name.clone()).filter(|old| *old != name) {
        inner_log.push(format!("renamed {old} → {name} (tensorflowjs reads its weights under that name)"));
    }
    log.extend(inner_log.into_iter().map(|change| format!("wrapped {class_name}: {change}")));
    Ok(())
}

/// Initializers, regularizers and constraints only matter for training, and their serialised
/// forms changed between versions (Keras 2.0's `VarianceScaling(distribution="normal")` fails
/// in Keras 3): both loaders use their defaults without them. Returns whether any was present.
fn drop_training_only_keys(config: &mut Map<String, Value>) -> bool {
    let before = config.len();
    config.retain(|key, _| !is_training_only(key));
    config.len() != before
}

fn is_training_only(key: &str) -> bool {
    key.ends_with("_initializer") || key.ends_with("_regularizer") || key.ends_with("_constraint")
}

/// Keras 1 and 2's `hard_sigmoid` is clip(0.2·x + 0.5, 0, 1); Keras 3's is relu6(x + 3) / 6 under the
/// same name. The Keras 2 function is written with layers both define alike: the layer with a
/// linear activation, `Rescaling(0.2, 0.5)` (the same two float32 operations), `ReLU(max_value=1)`.
fn hard_sigmoid(mut layer: Layer, keras_major: u32, log: &mut Vec<String>) -> Result<Vec<Layer>, UpgradeError> {
    if layer.config.get("recurrent_activation").and_then(Value::as_str) == Some("hard_sigmoid") {
        return Err(UpgradeError::Unsupported(format!(
            "layer '{}' ({}): recurrent_activation 'hard_sigmoid' means different functions in tf-keras and Keras 3",
            layer.name, layer.class_name
        )));
    }
    if layer.config.get("activation").and_then(Value::as_str) != Some("hard_sigmoid") {
        return Ok(vec![layer]);
    }
    if keras_major >= 3 {
        return Err(UpgradeError::Unsupported(format!(
            "layer '{}': Keras 3's hard_sigmoid has no exact form in tf-keras",
            layer.name
        )));
    }
    let name = layer.name.clone();
    let affine_input = if layer.class_name == "Activation" {
        layer.inbound[0].clone()
    } else {
        layer.config.insert("activation".into(), json!("linear"));
        layer.name = format!("{name}_linear");
        layer.name.clone().into()
    };
    log.push("Keras 2 hard_sigmoid → Rescaling(0.2, 0.5) + ReLU(max_value=1)".into());
    let affine = layers::rescaling(&format!("{name}_hard_sigmoid"), affine_input, &[0.2], &[0.5]);
    let clip = layers::relu(&name, affine.name.clone().into(), Some(1.0));
    let mut chain = if layer.class_name == "Activation" { vec![] } else { vec![layer] };
    chain.extend([affine, clip]);
    Ok(chain)
}

/// `TFOpLambda` (a raw `tf.*` call in a tf-keras functional model) → the standard layer that
/// computes the same op exactly, or a refusal naming the op.
fn tf_op_lambda(
    layer: &LegacyLayer,
    inbound: &[String],
    renamed: &std::collections::HashMap<String, String>,
    log: &mut Vec<String>,
) -> Result<Layer, UpgradeError> {
    let function = layer.config.get("function").and_then(Value::as_str).unwrap_or("");
    let name = layer.name.as_str();
    let [x] = inbound else {
        return Err(unsupported(layer, &format!("tf.{function} with {} positional tensors", inbound.len())));
    };
    let x = LayerOutput::from(x);
    let extra: Vec<&String> = layer.kwargs.keys().filter(|k| k.as_str() != "y").collect();
    if !extra.is_empty() {
        return Err(unsupported(layer, &format!("tf.{function} with arguments {extra:?}")));
    }
    let y_tensor = layer.tensor_kwarg("y").map(|n| renamed.get(n).cloned().unwrap_or_else(|| n.to_string()));
    let y_scalar = layer.kwargs.get("y").and_then(Value::as_f64).map(|y| y as f32);
    let binary = |class: &str| -> Result<Layer, UpgradeError> {
        match (&y_tensor, y_scalar) {
            (Some(y), _) => Ok(layers::merge(class, name, vec![x.clone(), y.into()])),
            _ => Err(unsupported(layer, &format!("tf.{function} needs a tensor or number 'y'"))),
        }
    };
    let emitted = match (function, y_scalar) {
        ("math.multiply" | "__operators__.mul", Some(y)) => layers::rescaling(name, x, &[y], &[0.0]),
        ("math.add" | "__operators__.add", Some(y)) => layers::rescaling(name, x, &[1.0], &[y]),
        ("math.subtract" | "__operators__.sub", Some(y)) => layers::rescaling(name, x, &[1.0], &[-y]),
        // x / y = x · (1/y) exactly only when 1/y is exact: a power of two.
        ("math.truediv" | "math.divide" | "__operators__.truediv", Some(y)) if is_power_of_two(y) => {
            layers::rescaling(name, x, &[1.0 / y], &[0.0])
        }
        ("math.multiply" | "__operators__.mul", None) => binary("Multiply")?,
        ("math.add" | "__operators__.add", None) => binary("Add")?,
        ("math.subtract" | "__operators__.sub", None) => binary("Subtract")?,
        ("math.maximum", None) => binary("Maximum")?,
        ("math.minimum", None) => binary("Minimum")?,
        _ => match unary_tf_function(function, name, x.clone()).filter(|_| y_scalar.is_none() && y_tensor.is_none()) {
            Some(unary) => unary,
            None => {
                let argument = y_scalar.map(|y| format!(" by {y}")).unwrap_or_default();
                return Err(unsupported(layer, &format!("tf.{function}{argument} has no exact standard Keras layer")));
            }
        },
    };
    log.push(format!("tf.{function} → {}", emitted.class_name));
    Ok(emitted)
}

/// The standard layer computing the one-tensor TF function `function` (named after `tf.`,
/// as `TFOpLambda` configs and `Lambda` bodies call it) exactly, if there is one.
pub(crate) fn unary_tf_function(function: &str, name: &str, x: LayerOutput) -> Option<Layer> {
    Some(match function {
        "nn.relu" => layers::relu(name, x, None),
        "nn.relu6" => layers::relu(name, x, Some(6.0)),
        "math.sigmoid" | "nn.sigmoid" | "sigmoid" => layers::activation(name, x, "sigmoid"),
        "math.tanh" | "nn.tanh" | "tanh" => layers::activation(name, x, "tanh"),
        "nn.silu" | "nn.swish" => layers::activation(name, x, "swish"),
        "nn.softplus" | "math.softplus" => layers::activation(name, x, "softplus"),
        _ => return None,
    })
}

pub(crate) fn is_power_of_two(y: f32) -> bool {
    y.is_normal() && (1.0 / y).is_normal() && y.abs().log2().fract() == 0.0
}

/// `Lambda` layers hold marshalled Python bytecode, which neither Keras 3 nor tensorflowjs
/// loads: a body that is a chain of exact element-wise steps becomes their standard layers
/// ([`crate::lambda`]), any other is refused naming the layer.
fn lambda(layer: &LegacyLayer, inbound: &[String], log: &mut Vec<String>) -> Result<Vec<Layer>, UpgradeError> {
    let [input] = inbound else {
        return Err(unsupported(layer, &format!("a Lambda on {} tensors", inbound.len())));
    };
    let (emitted, described) = crate::lambda::lambda_layers(&layer.name, &layer.config, input.clone())
        .map_err(|why| unsupported(layer, &format!("{why}; rebuild it with standard layers")))?;
    log.push(format!("body → {described}"));
    Ok(emitted)
}

fn unsupported(layer: &LegacyLayer, why: &str) -> UpgradeError {
    unsupported_named(&layer.name, &layer.class_name, why)
}

fn unsupported_layer(layer: &Layer, why: &str) -> UpgradeError {
    unsupported_named(&layer.name, &layer.class_name, why)
}

fn unsupported_named(name: &str, class_name: &str, why: &str) -> UpgradeError {
    UpgradeError::Unsupported(format!("layer '{name}' ({class_name}): {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    fn layer(class: &str, name: &str, config: Value, inbound: &[&str], kwargs: Value) -> LegacyLayer {
        LegacyLayer {
            name: name.into(),
            class_name: class.into(),
            config: config.as_object().cloned().unwrap(),
            inbound: inbound.iter().map(|s| s.to_string()).collect(),
            kwargs: kwargs.as_object().cloned().unwrap(),
            weights: vec![],
        }
    }

    fn model(layers: Vec<LegacyLayer>, output: &str) -> LegacyModel {
        LegacyModel {
            name: "m".into(),
            keras_major: 2,
            layers,
            inputs: vec!["x".into()],
            outputs: vec![output.into()],
            flattened: vec![],
        }
    }

    fn input() -> LegacyLayer {
        layer(
            "InputLayer",
            "x",
            json!({"batch_shape": [null, 4, 4, 2], "ragged": false, "optional": false, "name": "x"}),
            &[],
            json!({}),
        )
    }

    #[test]
    fn depthwise_groups_and_dtype_policy_are_rewritten_weights_kept() {
        let mut dw = layer(
            "DepthwiseConv2D",
            "dw",
            json!({"name": "dw", "kernel_size": [1, 1], "groups": 1, "use_bias": false,
                   "dtype": {"class_name": "Policy", "config": {"name": "mixed_float16"}}}),
            &["x"],
            json!({}),
        );
        let kernel = ArrayD::from_shape_fn(vec![1, 1, 2, 1], |i| i[2] as f32 + 0.1);
        dw.weights = vec![Weight::new("dw/depthwise_kernel:0", kernel.clone())];
        let upgraded = upgrade(&model(vec![input(), dw], "dw")).unwrap();
        let emitted = &upgraded.model.layers[1];
        assert!(!emitted.config.contains_key("groups"));
        assert_eq!(emitted.config["dtype"], json!("float32"));
        assert_eq!(emitted.weights, vec![Weight::new("depthwise_kernel", kernel)], "bit-identical weights");
        assert_eq!(upgraded.model.layers[0].config["batch_input_shape"], json!([null, 4, 4, 2]));
        assert_eq!(upgraded.rewrites.len(), 4, "{:?}", upgraded.rewrites);
    }

    #[test]
    fn grouped_depthwise_and_time_major_true_are_refused() {
        let dw = layer(
            "DepthwiseConv2D",
            "dw",
            json!({"name": "dw", "kernel_size": [1, 1], "groups": 2}),
            &["x"],
            json!({}),
        );
        assert!(upgrade(&model(vec![input(), dw], "dw")).unwrap_err().to_string().contains("groups=2"));
        let mut config = Map::new();
        config.insert("time_major".into(), json!(true));
        assert!(drop_rejected_keys("LSTM", &mut config, &mut vec![]).is_err());
    }

    #[test]
    fn a_bidirectional_wrapped_layer_is_rewritten_and_named_for_tensorflowjs() {
        let gru = json!({"class_name": "GRU", "config": {"name": "gru_inner", "units": 2, "time_major": false,
                         "kernel_initializer": {"class_name": "GlorotUniform", "config": {}}}});
        let bidirectional = |extra: Value| {
            let mut config = json!({"name": "bi", "layer": gru, "merge_mode": "concat"});
            config.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap());
            let mut layer = layer("Bidirectional", "bi", config, &["x"], json!({}));
            let weights = [(3, 6), (2, 6), (2, 6), (3, 6), (2, 6), (2, 6)];
            layer.weights = weights.iter().map(|&(a, b)| Weight::new("w", ArrayD::zeros(vec![a, b]))).collect();
            let mut x = input();
            x.config.insert("batch_shape".into(), json!([null, null, 3]));
            upgrade(&model(vec![x, layer], "bi"))
        };
        let upgraded = bidirectional(json!({})).unwrap();
        let inner = &upgraded.model.layers[1].config["layer"]["config"];
        assert_eq!(inner, &json!({"name": "rnn", "units": 2}), "{:?}", upgraded.rewrites);
        assert!(upgraded.rewrites.iter().any(|r| r.contains("wrapped GRU: dropped time_major=false")));
        let refused = bidirectional(json!({"backward_layer": gru})).unwrap_err().to_string();
        assert!(refused.contains("backward_layer"), "{refused}");
    }

    #[test]
    fn keras2_hard_sigmoid_becomes_rescaling_and_capped_relu() {
        let act = layer("Activation", "act", json!({"name": "act", "activation": "hard_sigmoid"}), &["x"], json!({}));
        let next = layer("Activation", "out", json!({"name": "out", "activation": "relu"}), &["act"], json!({}));
        let upgraded = upgrade(&model(vec![input(), act, next], "out")).unwrap();
        let classes: Vec<&str> = upgraded.model.layers.iter().map(|l| l.class_name.as_str()).collect();
        assert_eq!(classes, ["InputLayer", "Rescaling", "ReLU", "Activation"]);
        assert_eq!(upgraded.model.layers[2].name, "act", "the chain's last layer keeps the name");
        assert_eq!(upgraded.model.layers[3].inbound, ["act"]);
        for layer in &upgraded.model.layers {
            assert_eq!(layer.config["name"], json!(layer.name), "config names follow the layer names");
        }
        let dense = layer(
            "Dense",
            "d",
            json!({"name": "d", "units": 2, "activation": "hard_sigmoid", "use_bias": false}),
            &["x"],
            json!({}),
        );
        let mut with_kernel = dense.clone();
        with_kernel.weights = vec![Weight::new("d/kernel:0", ArrayD::zeros(vec![2, 2]))];
        let chain = upgrade(&model(vec![input(), with_kernel], "d")).unwrap().model;
        let names: Vec<(&str, &Value)> = chain.layers.iter().map(|l| (l.name.as_str(), &l.config["name"])).collect();
        assert_eq!(
            names[1..],
            [("d_linear", &json!("d_linear")), ("d_hard_sigmoid", &json!("d_hard_sigmoid")), ("d", &json!("d"))]
        );
        let mut keras3 = model(
            vec![input(), layer("Activation", "act", json!({"activation": "hard_sigmoid"}), &["x"], json!({}))],
            "act",
        );
        keras3.keras_major = 3;
        assert!(upgrade(&keras3).is_err());
    }

    #[test]
    fn tf_op_lambdas_become_exact_layers_or_are_refused() {
        let op = |function: &str, kwargs: Value| {
            layer("TFOpLambda", "op", json!({"name": "op", "function": function}), &["x"], kwargs)
        };
        let emitted = |function: &str, kwargs: Value| upgrade(&model(vec![input(), op(function, kwargs)], "op"));
        let rescaling = emitted("math.subtract", json!({"y": 1.5})).unwrap();
        assert_eq!(rescaling.model.layers[1].config["offset"], json!(-1.5));
        assert_eq!(emitted("math.add", json!({"y": ["x", 0, 0]})).unwrap().model.layers[1].class_name, "Add");
        assert_eq!(emitted("nn.relu6", json!({})).unwrap().model.layers[1].config["max_value"], json!(6.0));
        assert_eq!(emitted("math.truediv", json!({"y": 4.0})).unwrap().model.layers[1].config["scale"], json!(0.25));
        let refused = emitted("math.truediv", json!({"y": 3.0})).unwrap_err().to_string();
        assert!(refused.contains("layer 'op'") && refused.contains("truediv by 3"), "{refused}");
        assert!(emitted("linalg.matmul", json!({})).unwrap_err().to_string().contains("tf.linalg.matmul"));
        let lambda = layer("Lambda", "lam", json!({"function": ["4wEAAA==", null, null]}), &["x"], json!({}));
        assert!(upgrade(&model(vec![input(), lambda], "lam"))
            .unwrap_err()
            .to_string()
            .contains("layer 'lam' (Lambda)"));
    }
}

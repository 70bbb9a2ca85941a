//! The oracle for a Keras `.h5` source: the model as its file describes it, run layer by layer
//! under the semantics of the Keras version that wrote it, written independently of
//! `tf2h5-upgrade`'s rewrite (which is what it checks).
//!
//! Layers whose meaning is the same in every Keras version run one at a time in the reference
//! engine, with their saved config (the engine reads the keys that compute). What the engine must not decide is computed here: `TFOpLambda` layers are
//! the TF functions they name, `Lambda` layers their bytecode run as written
//! ([`super::keras_lambda`]), Keras 1 layers their Keras 1 meaning ([`super::keras1`]), and
//! Keras 2's `hard_sigmoid` is clip(0.2·x + 0.5, 0, 1).

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::{ArrayD, Zip};
use serde_json::{json, Value};
use tf2h5_keras::spec::LayerSpec;
use tf2h5_keras::{layers, KerasModel, Layer, Weight};
use tf2h5_upgrade::{LegacyLayer, LegacyModel};

use crate::VerifyError;

/// A legacy Keras model, ready to run (cheap to clone: the model is shared).
#[derive(Clone)]
pub struct KerasSourceOracle {
    model: Arc<LegacyModel>,
}

impl KerasSourceOracle {
    /// The oracle of `model`, producing its outputs.
    pub fn new(model: Arc<LegacyModel>) -> Self {
        KerasSourceOracle { model }
    }

    /// Runs one batch (one array per model input); one array per model output.
    pub fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, VerifyError> {
        let mut values = self.run_all(inputs)?;
        self.model
            .outputs
            .iter()
            .map(|name| values.remove(name).ok_or_else(|| oracle_error(name, "no such layer")))
            .collect()
    }

    /// Every source layer's output on one batch, by source layer name.
    pub fn run_all(&self, inputs: &[ArrayD<f32>]) -> Result<HashMap<String, ArrayD<f32>>, VerifyError> {
        if inputs.len() != self.model.inputs.len() {
            return Err(VerifyError::Input(format!(
                "the model has {} inputs, {} arrays given",
                self.model.inputs.len(),
                inputs.len()
            )));
        }
        let mut values: HashMap<String, ArrayD<f32>> =
            self.model.inputs.iter().cloned().zip(inputs.iter().cloned()).collect();
        for layer in &self.model.layers {
            if layer.class_name == "InputLayer" {
                continue;
            }
            let value = |name: &str| {
                values.get(name).ok_or_else(|| oracle_error(&layer.name, &format!("reads '{name}', not computed")))
            };
            let args = layer.inbound.iter().map(|n| value(n)).collect::<Result<Vec<_>, _>>()?;
            let output = match layer.class_name.as_str() {
                "TFOpLambda" => {
                    let y = match layer.tensor_kwarg("y") {
                        Some(name) => Some(Operand::Tensor(value(name)?)),
                        None => layer.kwargs.get("y").and_then(Value::as_f64).map(|y| Operand::Scalar(y as f32)),
                    };
                    let function = layer.config.get("function").and_then(Value::as_str).unwrap_or("");
                    tf_function(&layer.name, function, args[0], y)?
                }
                "Lambda" => super::keras_lambda::run_lambda(layer, args[0])?,
                _ if self.model.keras_major == 1 => super::keras1::run_keras1_layer(layer, &args)?,
                _ => standard_layer(layer, &args, self.model.keras_major)?,
            };
            values.insert(layer.name.clone(), output);
        }
        Ok(values)
    }
}

pub(super) fn oracle_error(layer: &str, message: &str) -> VerifyError {
    VerifyError::Oracle(format!("source layer '{layer}': {message}"))
}

/// A layer with the same meaning in every Keras version, run alone in the engine; Keras 2's
/// `hard_sigmoid` activation is applied here instead.
pub(super) fn standard_layer(
    layer: &LegacyLayer,
    args: &[&ArrayD<f32>],
    keras_major: u32,
) -> Result<ArrayD<f32>, VerifyError> {
    let keras2_hard_sigmoid =
        keras_major == 2 && layer.config.get("activation").and_then(Value::as_str) == Some("hard_sigmoid");
    if keras2_hard_sigmoid && layer.class_name == "Activation" {
        return Ok(args[0].mapv(hard_sigmoid_keras2));
    }
    // The saved config as is: the engine reads the keys that compute and ignores the rest
    // (dtypes, input shapes, `groups` = 1 on depthwise convolutions), refusing options it
    // cannot run (`time_major` = true, a grouped transposed convolution).
    let mut config = layer.config.clone();
    if keras2_hard_sigmoid {
        config.insert("activation".into(), json!("linear"));
    }
    config.insert("name".into(), json!("layer"));
    let mut single = Layer {
        name: "layer".into(),
        class_name: layer.class_name.clone(),
        config,
        inbound: (0..args.len()).map(|i| format!("input{i}").into()).collect(),
        weights: vec![],
    };
    let spec = LayerSpec::parse(&single).map_err(|e| oracle_error(&layer.name, &e.to_string()))?;
    let names: Vec<&str> = spec.weights(None).into_iter().map(|w| w.name).collect();
    if names.len() != layer.weights.len() {
        return Err(oracle_error(
            &layer.name,
            &format!("{} weights in the file, {} expected", layer.weights.len(), names.len()),
        ));
    }
    single.weights = names.into_iter().zip(&layer.weights).map(|(n, w)| Weight::new(n, w.value.clone())).collect();
    let mut model_layers: Vec<Layer> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let shape: Vec<Option<usize>> =
                std::iter::once(None).chain(a.shape()[1..].iter().map(|&d| Some(d))).collect();
            layers::input_layer(&format!("input{i}"), &shape)
        })
        .collect();
    let inputs = model_layers.iter().map(|l| l.name.clone()).collect();
    model_layers.push(single);
    let model = KerasModel { name: "oracle".into(), layers: model_layers, inputs, outputs: vec!["layer".into()] };
    let arrays: Vec<ArrayD<f32>> = args.iter().map(|a| (*a).clone()).collect();
    let mut outputs = tf2h5_engine::run(&model, &arrays)
        .map_err(|e| oracle_error(&layer.name, &e.to_string().replace("'layer'", "")))?;
    let output = outputs.pop().ok_or_else(|| oracle_error(&layer.name, "no output"))?;
    Ok(if keras2_hard_sigmoid { output.mapv(hard_sigmoid_keras2) } else { output })
}

/// `keras.backend.hard_sigmoid` in Keras 2.x and tf-keras: `clip(0.2 * x + 0.5, 0, 1)` in float32.
fn hard_sigmoid_keras2(x: f32) -> f32 {
    (x * 0.2 + 0.5).clamp(0.0, 1.0)
}

/// The second operand of a binary TF function.
pub(super) enum Operand<'a> {
    Tensor(&'a ArrayD<f32>),
    Scalar(f32),
}

/// `op(x, y)` element-wise, `y` broadcast against `x` (float32, as TF).
pub(super) fn elementwise(
    layer: &str,
    x: &ArrayD<f32>,
    y: &Operand<'_>,
    op: impl Fn(f32, f32) -> f32,
) -> Result<ArrayD<f32>, VerifyError> {
    match y {
        Operand::Scalar(y) => Ok(x.mapv(|v| op(v, *y))),
        Operand::Tensor(y) => {
            let y = y.broadcast(x.shape()).ok_or_else(|| oracle_error(layer, "operands do not broadcast"))?;
            let mut out = x.clone();
            Zip::from(&mut out).and(&y).for_each(|a, &b| *a = op(*a, b));
            Ok(out)
        }
    }
}

/// The TF function `tf.<function>` (as a `TFOpLambda` config or a `Lambda` body names it), on
/// float32 like TF.
pub(super) fn tf_function(
    layer: &str,
    function: &str,
    x: &ArrayD<f32>,
    y: Option<Operand<'_>>,
) -> Result<ArrayD<f32>, VerifyError> {
    let binary = |op: fn(f32, f32) -> f32| match &y {
        Some(y) => elementwise(layer, x, y, op),
        None => Err(oracle_error(layer, &format!("tf.{function} without 'y'"))),
    };
    let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
    Ok(match function {
        "math.multiply" | "__operators__.mul" => binary(|a, b| a * b)?,
        "math.add" | "__operators__.add" => binary(|a, b| a + b)?,
        "math.subtract" | "__operators__.sub" => binary(|a, b| a - b)?,
        "math.truediv" | "math.divide" | "__operators__.truediv" => binary(|a, b| a / b)?,
        "math.maximum" => binary(f32::max)?,
        "math.minimum" => binary(f32::min)?,
        "nn.relu" => x.mapv(|v| v.max(0.0)),
        "nn.relu6" => x.mapv(|v| v.clamp(0.0, 6.0)),
        "math.sigmoid" | "nn.sigmoid" | "sigmoid" => x.mapv(sigmoid),
        "math.tanh" | "nn.tanh" | "tanh" => x.mapv(f32::tanh),
        "nn.silu" | "nn.swish" => x.mapv(|v| v * sigmoid(v)),
        "nn.softplus" | "math.softplus" => x.mapv(|v| v.max(0.0) + (-v.abs()).exp().ln_1p()),
        other => return Err(oracle_error(layer, &format!("tf.{other} is not known to the oracle"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use serde_json::Map;

    fn layer(class: &str, config: Value, inbound: &[&str], kwargs: Value) -> LegacyLayer {
        LegacyLayer {
            name: "l".into(),
            class_name: class.into(),
            config: config.as_object().cloned().unwrap_or_else(Map::new),
            inbound: inbound.iter().map(|s| s.to_string()).collect(),
            kwargs: kwargs.as_object().cloned().unwrap_or_else(Map::new),
            weights: vec![],
        }
    }

    #[test]
    fn keras2_hard_sigmoid_is_the_clipped_affine_function() {
        let x = array![[-3.0f32, -2.5, 0.0, 1.0, 2.5, 4.0]].into_dyn();
        let act = layer("Activation", json!({"activation": "hard_sigmoid"}), &["x"], json!({}));
        let y = standard_layer(&act, &[&x], 2).unwrap();
        assert_eq!(y, array![[0.0f32, 0.0, 0.5, 0.7, 1.0, 1.0]].into_dyn());
        // Keras 3's hard_sigmoid (relu6(x + 3) / 6) is not the engine's business: refused there.
        assert!(standard_layer(&act, &[&x], 3).is_err());
    }

    #[test]
    fn tf_functions_follow_tf() {
        let x = array![[-1.0f32, 3.0, 8.0]].into_dyn();
        assert_eq!(tf_function("l", "nn.relu6", &x, None).unwrap(), array![[0.0f32, 3.0, 6.0]].into_dyn());
        let halved = tf_function("l", "math.truediv", &x, Some(Operand::Scalar(2.0))).unwrap();
        assert_eq!(halved, array![[-0.5f32, 1.5, 4.0]].into_dyn());
        let row = array![[1.0f32, 1.0, 1.0]].into_dyn();
        let diff = tf_function("l", "math.subtract", &x, Some(Operand::Tensor(&row))).unwrap();
        assert_eq!(diff, array![[-2.0f32, 2.0, 7.0]].into_dyn());
        assert!(tf_function("l", "linalg.matmul", &x, None).is_err());
    }
}

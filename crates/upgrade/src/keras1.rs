//! Keras 1 layers → their Keras 2 form, before the rules every legacy layer goes through.
//! Keras 1 named the same options differently (`output_dim`, `nb_filter`, `nb_row`/`nb_col`,
//! `border_mode`, `subsample`, `dim_ordering`, `bias`, `p`, `inner_activation`, `input_dtype`)
//! and stored recurrent weights per gate (LSTM: `W_i, U_i, b_i, W_c, …` in i, c, f, o order;
//! GRU: z, r, h), which Keras 2 concatenates (LSTM in i, f, c, o order). Only channels-last
//! layers (`dim_ordering` "tf") are read: a Theano-ordered one is refused naming the layer, as
//! is any class outside the ones listed in [`to_keras2`].

use ndarray::{concatenate, ArrayD, Axis};
use serde_json::{json, Map};
use tf2h5_keras::Weight;

use crate::{LegacyLayer, UpgradeError};

/// Option keys Keras 2 spells differently.
const RENAMED: [(&str, &str); 7] = [
    ("output_dim", "units"),
    ("nb_filter", "filters"),
    ("border_mode", "padding"),
    ("subsample", "strides"),
    ("bias", "use_bias"),
    ("inner_activation", "recurrent_activation"),
    ("input_dtype", "dtype"),
];

/// Keys that only matter for training or for building (the input shape is the InputLayer's).
const DROPPED: [&str; 16] = [
    "init",
    "inner_init",
    "forget_bias_init",
    "W_regularizer",
    "U_regularizer",
    "b_regularizer",
    "activity_regularizer",
    "W_constraint",
    "U_constraint",
    "b_constraint",
    "dropout_W",
    "dropout_U",
    "consume_less",
    "input_dim",
    "input_length",
    "unroll",
];

/// The layer in Keras 2's vocabulary: Dense, Convolution2D, MaxPooling2D, AveragePooling2D,
/// Flatten, Dropout, Activation, LSTM, GRU, SimpleRNN and InputLayer are read.
pub fn to_keras2(layer: &LegacyLayer, log: &mut Vec<String>) -> Result<LegacyLayer, UpgradeError> {
    let refuse =
        |why: String| UpgradeError::Unsupported(format!("layer '{}' ({}): {why}", layer.name, layer.class_name));
    let class_name = match layer.class_name.as_str() {
        "Convolution2D" => "Conv2D",
        known @ ("InputLayer" | "Dense" | "MaxPooling2D" | "AveragePooling2D" | "Flatten" | "Dropout"
        | "Activation" | "LSTM" | "GRU" | "SimpleRNN") => known,
        other => return Err(refuse(format!("the Keras 1 class {other} is not supported"))),
    };
    let mut config = Map::new();
    let mut changes = Vec::new();
    for (key, value) in &layer.config {
        if DROPPED.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, new)) = RENAMED.iter().find(|(old, _)| old == key) {
            changes.push(format!("{key} → {new}"));
            config.insert(new.to_string(), value.clone());
            continue;
        }
        match (key.as_str(), class_name) {
            ("nb_row" | "nb_col", _) => {}
            ("p", "Dropout") => {
                changes.push("p → rate".into());
                config.insert("rate".into(), value.clone());
            }
            ("dim_ordering", _) if value == "tf" => {
                changes.push("dim_ordering 'tf' → data_format 'channels_last'".into());
                config.insert("data_format".into(), json!("channels_last"));
            }
            ("dim_ordering", _) => {
                return Err(refuse(format!("dim_ordering {value} (only 'tf', channels last, is read)")))
            }
            ("stateful", _) if value == &json!(true) => return Err(refuse("a stateful recurrent layer".into())),
            _ => {
                config.insert(key.clone(), value.clone());
            }
        }
    }
    if let (Some(rows), Some(cols)) = (layer.config.get("nb_row"), layer.config.get("nb_col")) {
        changes.push("nb_row, nb_col → kernel_size".into());
        config.insert("kernel_size".into(), json!([rows, cols]));
    }
    let weights = match class_name {
        "LSTM" => per_gate(layer, &[0, 2, 1, 3], &mut changes).map_err(refuse)?,
        "GRU" => {
            // Keras 1's GRU applies the reset gate before the recurrent kernel.
            config.insert("reset_after".into(), json!(false));
            per_gate(layer, &[0, 1, 2], &mut changes).map_err(refuse)?
        }
        _ => layer.weights.clone(),
    };
    if !changes.is_empty() {
        log.push(format!("Keras 1: {}", changes.join(", ")));
    }
    Ok(LegacyLayer { class_name: class_name.into(), config, weights, ..layer.clone() })
}

/// Per-gate `[W, U, b]` triples (in the file's gate order) → Keras 2's three concatenated
/// weights, gates taken in `order`; weights already concatenated (Keras 1's `consume_less =
/// "gpu"`, three of them) stay as they are.
fn per_gate(layer: &LegacyLayer, order: &[usize], changes: &mut Vec<String>) -> Result<Vec<Weight>, String> {
    let gates = order.len();
    match layer.weights.len() {
        3 => return Ok(layer.weights.clone()),
        n if n == 3 * gates => {}
        n => return Err(format!("{n} weights (Keras 1 writes 3, or W, U, b for each of {gates} gates)")),
    }
    let joined = (0..3)
        .map(|part| {
            let pieces: Vec<_> = order.iter().map(|&gate| layer.weights[3 * gate + part].value.view()).collect();
            let axis = Axis(pieces[0].ndim().saturating_sub(1));
            concatenate(axis, &pieces)
                .map(|value: ArrayD<f32>| Weight::new(&layer.weights[part].name, value))
                .map_err(|e| format!("its per-gate weights do not concatenate: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    changes.push(format!("{} per-gate weights → kernel, recurrent_kernel, bias", 3 * gates));
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn keras1(class: &str, config: Value, weights: Vec<Weight>) -> LegacyLayer {
        LegacyLayer {
            name: "l".into(),
            class_name: class.into(),
            config: config.as_object().cloned().unwrap(),
            inbound: vec![],
            kwargs: Map::new(),
            weights,
        }
    }

    #[test]
    fn convolution_options_are_renamed() {
        let conv = keras1(
            "Convolution2D",
            json!({"name": "l", "nb_filter": 4, "nb_row": 3, "nb_col": 2, "border_mode": "same", "subsample": [1, 1],
                   "dim_ordering": "tf", "bias": true, "init": "glorot_uniform", "activation": "relu"}),
            vec![],
        );
        let upgraded = to_keras2(&conv, &mut vec![]).unwrap();
        assert_eq!(upgraded.class_name, "Conv2D");
        assert_eq!(
            Value::Object(upgraded.config),
            json!({"name": "l", "filters": 4, "padding": "same", "strides": [1, 1], "data_format": "channels_last",
                   "use_bias": true, "activation": "relu", "kernel_size": [3, 2]})
        );
        let theano = keras1("Convolution2D", json!({"dim_ordering": "th"}), vec![]);
        assert!(to_keras2(&theano, &mut vec![]).unwrap_err().to_string().contains("dim_ordering \"th\""));
        assert!(to_keras2(&keras1("Merge", json!({}), vec![]), &mut vec![]).is_err());
    }

    #[test]
    fn lstm_gates_are_reordered_from_icfo_to_ifco() {
        // W_g is filled with the gate's index in the file: i=0, c=1, f=2, o=3.
        let weights =
            (0..12).map(|k| Weight::new(&format!("w{k}"), ArrayD::from_elem(vec![2, 1], (k / 3) as f32))).collect();
        let lstm = keras1("LSTM", json!({"output_dim": 1, "inner_activation": "sigmoid"}), weights);
        let mut log = vec![];
        let upgraded = to_keras2(&lstm, &mut log).unwrap();
        assert_eq!(upgraded.weights.len(), 3);
        let kernel: Vec<f32> = upgraded.weights[0].value.iter().take(4).copied().collect();
        assert_eq!(kernel, [0.0, 2.0, 1.0, 3.0], "i, f, c, o");
        assert_eq!(upgraded.config["recurrent_activation"], json!("sigmoid"));
        assert!(log[0].contains("12 per-gate weights"), "{log:?}");
    }
}

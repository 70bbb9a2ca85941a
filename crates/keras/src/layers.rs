//! Constructors for the weight-less Keras layers tf2h5 emits (the [`crate::spec::Plain`]
//! classes and `InputLayer`), plus shorthands for the common weighted ones built from their
//! [`crate::spec`]. Each writes the config keys both tf-keras 2.x and Keras 3 accept (see
//! `shared/docs/KERAS_H5.md`): tf-keras's own key set, minus initializers, regularizers and
//! constraints (both loaders default them) and minus the keys one loader rejects
//! (`batch_shape`, ...).

use ndarray::ArrayD;
use serde_json::{json, Map, Value};

use crate::spec::{self, Dense, LayerSpec, Norm};
use crate::{Layer, LayerOutput, Weight};

/// The keys every layer config starts with.
pub(crate) fn base_config(name: &str) -> Map<String, Value> {
    let mut config = Map::new();
    config.insert("name".into(), json!(name));
    config.insert("trainable".into(), json!(true));
    config.insert("dtype".into(), json!("float32"));
    config
}

fn layer(class_name: &str, name: &str, extra: Value, inbound: Vec<LayerOutput>, weights: Vec<Weight>) -> Layer {
    let mut config = base_config(name);
    if let Value::Object(extra) = extra {
        config.extend(extra);
    }
    Layer { name: name.into(), class_name: class_name.into(), config, inbound, weights }
}

/// The element type of a model input. Integer and boolean inputs (token ids, bytes, masks)
/// keep their type in the file, so Keras feeds them as such; inside tf2h5 every value is an
/// f32, exact for whole numbers up to 2^24.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputDtype {
    /// `float32`.
    Float32,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `uint8`.
    Uint8,
    /// `bool`.
    Bool,
}

impl InputDtype {
    /// Every input type, float first.
    pub const ALL: [InputDtype; 5] =
        [InputDtype::Float32, InputDtype::Int32, InputDtype::Int64, InputDtype::Uint8, InputDtype::Bool];

    /// The Keras (and numpy) dtype name.
    pub fn as_str(self) -> &'static str {
        match self {
            InputDtype::Float32 => "float32",
            InputDtype::Int32 => "int32",
            InputDtype::Int64 => "int64",
            InputDtype::Uint8 => "uint8",
            InputDtype::Bool => "bool",
        }
    }

    /// The type named `name`, if it is one of these.
    pub fn parse(name: &str) -> Option<InputDtype> {
        InputDtype::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// For a whole-number type, the inclusive range of values an f32 carries exactly (the
    /// integer types are clipped to ±2^24); `None` for float32.
    pub fn whole_range(self) -> Option<(f32, f32)> {
        const EXACT: f32 = 16_777_216.0;
        match self {
            InputDtype::Float32 => None,
            InputDtype::Int32 | InputDtype::Int64 => Some((-EXACT, EXACT)),
            InputDtype::Uint8 => Some((0.0, 255.0)),
            InputDtype::Bool => Some((0.0, 1.0)),
        }
    }
}

/// `InputLayer` with `batch_input_shape` (`None` = unknown, e.g. the batch), float32.
pub fn input_layer(name: &str, batch_input_shape: &[Option<usize>]) -> Layer {
    typed_input_layer(name, batch_input_shape, InputDtype::Float32)
}

/// `InputLayer` of elements of type `dtype`.
pub fn typed_input_layer(name: &str, batch_input_shape: &[Option<usize>], dtype: InputDtype) -> Layer {
    let mut config = Map::new();
    config.insert("batch_input_shape".into(), json!(batch_input_shape));
    config.insert("dtype".into(), json!(dtype.as_str()));
    config.insert("sparse".into(), json!(false));
    config.insert("ragged".into(), json!(false));
    config.insert("name".into(), json!(name));
    Layer { name: name.into(), class_name: "InputLayer".into(), config, inbound: vec![], weights: vec![] }
}

/// `Dense`: kernel (in, units), optional bias (units).
pub fn dense(
    name: &str,
    input: LayerOutput,
    kernel: ArrayD<f32>,
    bias: Option<ArrayD<f32>>,
    activation: &str,
) -> Layer {
    let units = kernel.shape().get(1).copied().unwrap_or(0);
    let spec = Dense { units, use_bias: bias.is_some(), activation: activation.into() };
    let mut weights = vec![Weight::new("kernel", kernel)];
    weights.extend(bias.map(|b| Weight::new("bias", b)));
    LayerSpec::Dense(spec).layer(name, vec![input], weights)
}

/// `Flatten` (channels_last: H, W, C order).
pub fn flatten(name: &str, input: LayerOutput) -> Layer {
    layer("Flatten", name, json!({"data_format": "channels_last"}), vec![input], vec![])
}

/// `Activation` with a named activation whose definition is the same in both Keras versions.
pub fn activation(name: &str, input: LayerOutput, activation: &str) -> Layer {
    layer("Activation", name, json!({"activation": activation}), vec![input], vec![])
}

/// `ReLU` with an optional cap (`max_value` 6 for Relu6).
pub fn relu(name: &str, input: LayerOutput, max_value: Option<f32>) -> Layer {
    layer("ReLU", name, json!({"max_value": max_value, "negative_slope": 0.0, "threshold": 0.0}), vec![input], vec![])
}

/// `Softmax` over `axis` (absolute on the full tensor incl. batch, or negative).
pub fn softmax(name: &str, input: LayerOutput, axis: i64) -> Layer {
    layer("Softmax", name, json!({"axis": axis}), vec![input], vec![])
}

/// Per-channel statistics of a batch normalization (each of shape (channels,)).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormWeights {
    /// Scale.
    pub gamma: ArrayD<f32>,
    /// Offset.
    pub beta: ArrayD<f32>,
    /// Moving mean.
    pub moving_mean: ArrayD<f32>,
    /// Moving variance.
    pub moving_variance: ArrayD<f32>,
}

/// `BatchNormalization` on the last axis with the source's own epsilon.
pub fn batch_normalization(name: &str, input: LayerOutput, epsilon: f32, w: BatchNormWeights) -> Layer {
    let spec = Norm { batch: true, axes: vec![-1], epsilon: f64::from(epsilon), center: true, scale: true };
    let weights = vec![
        Weight::new("gamma", w.gamma),
        Weight::new("beta", w.beta),
        Weight::new("moving_mean", w.moving_mean),
        Weight::new("moving_variance", w.moving_variance),
    ];
    LayerSpec::Norm(spec).layer(name, vec![input], weights)
}

/// `Add` of two or more tensors of the same shape.
pub fn add(name: &str, inputs: Vec<LayerOutput>) -> Layer {
    layer("Add", name, json!({}), inputs, vec![])
}

/// `Concatenate` along `axis` (absolute incl. batch, or negative).
pub fn concatenate(name: &str, inputs: Vec<LayerOutput>, axis: i64) -> Layer {
    layer("Concatenate", name, json!({"axis": axis}), inputs, vec![])
}

/// `Dot` of two rank-3 tensors contracting axis `axes[0]` of the first with `axes[1]` of the
/// second, per sample (`normalize` false).
pub fn dot(name: &str, inputs: Vec<LayerOutput>, axes: [i64; 2]) -> Layer {
    layer("Dot", name, json!({"axes": axes, "normalize": false}), inputs, vec![])
}

/// An f32 constant as a JSON number: the f64 holding exactly the f32 value, so a loader that
/// casts it back to float32 (both Keras versions do) recovers the value bit for bit.
pub fn exact_f32(value: f32) -> Value {
    json!(f64::from(value))
}

/// One or several f32 constants (scalar, or a list broadcast over the last axis) as JSON.
pub fn exact_f32s(values: &[f32]) -> Value {
    match values {
        [one] => exact_f32(*one),
        many => Value::Array(many.iter().map(|&v| exact_f32(v)).collect()),
    }
}

/// An f32 array of any rank as JSON: a number for rank 0, else nested lists in row-major
/// order (each number exact, see [`exact_f32`]).
pub fn exact_f32_array(values: &ArrayD<f32>) -> Value {
    match values.ndim() {
        0 => exact_f32(values.iter().copied().next().unwrap_or(0.0)),
        1 => Value::Array(values.iter().map(|&v| exact_f32(v)).collect()),
        _ => Value::Array(values.outer_iter().map(|row| exact_f32_array(&row.to_owned())).collect()),
    }
}

/// `Rescaling`: `x * scale + offset`, each a scalar or a list broadcast over the last axis.
/// Both Keras versions compute exactly this (two float32 operations), so a TF `Mul` by a
/// constant, an `AddV2` of one, or the pair, maps here bit-exactly.
pub fn rescaling(name: &str, input: LayerOutput, scale: &[f32], offset: &[f32]) -> Layer {
    layer("Rescaling", name, json!({"scale": exact_f32s(scale), "offset": exact_f32s(offset)}), vec![input], vec![])
}

/// `Rescaling` whose `scale` and `offset` have any shape that broadcasts against the input
/// without the batch axis (aligned from the right, as numpy): both Keras versions cast the
/// nested lists to a float32 tensor and compute `x * scale + offset` with broadcasting, so a
/// learned position embedding (tokens, dim) added to (batch, tokens, dim) is exact.
pub fn rescaling_broadcast(name: &str, input: LayerOutput, scale: &ArrayD<f32>, offset: &ArrayD<f32>) -> Layer {
    let config = json!({"scale": exact_f32_array(scale), "offset": exact_f32_array(offset)});
    layer("Rescaling", name, config, vec![input], vec![])
}

/// `Masking`: `x · any(x ≠ mask_value)` over the last axis; its output carries that `any`
/// as the Keras mask, which the recurrent layers reading it apply.
pub fn masking(name: &str, input: LayerOutput, mask_value: f32) -> Layer {
    layer("Masking", name, json!({"mask_value": exact_f32(mask_value)}), vec![input], vec![])
}

/// `Normalization` with constant `mean` and `variance` in the config (no weights):
/// `(x - mean) / max(sqrt(variance), 1e-7)` on the last axis, in both Keras versions.
/// Each is a scalar or a list of one value per channel.
pub fn normalization(name: &str, input: LayerOutput, mean: &[f32], variance: &[f32]) -> Layer {
    layer(
        "Normalization",
        name,
        json!({"axis": [-1], "mean": exact_f32s(mean), "variance": exact_f32s(variance), "invert": false}),
        vec![input],
        vec![],
    )
}

/// `LayerNormalization` over the last axis: gamma and beta of shape (channels,).
pub fn layer_normalization(
    name: &str,
    input: LayerOutput,
    epsilon: f32,
    gamma: ArrayD<f32>,
    beta: ArrayD<f32>,
) -> Layer {
    layer_normalization_over(name, input, &[-1], epsilon, Some(gamma), Some(beta))
}

/// `LayerNormalization` over `axes` (absolute incl. batch, increasing, or `[-1]`), with
/// `gamma` (`scale`) and `beta` (`center`) each optional, of the input's sizes on `axes`.
pub fn layer_normalization_over(
    name: &str,
    input: LayerOutput,
    axes: &[i64],
    epsilon: f32,
    gamma: Option<ArrayD<f32>>,
    beta: Option<ArrayD<f32>>,
) -> Layer {
    let spec = Norm {
        batch: false,
        axes: axes.to_vec(),
        epsilon: f64::from(epsilon),
        center: beta.is_some(),
        scale: gamma.is_some(),
    };
    let weights = [("gamma", gamma), ("beta", beta)].into_iter().filter_map(|(n, w)| Some(Weight::new(n, w?)));
    LayerSpec::Norm(spec).layer(name, vec![input], weights.collect())
}

/// `LeakyReLU` with the key both versions read: `alpha` (Keras 3 maps it to `negative_slope`;
/// tf-keras rejects `negative_slope`).
pub fn leaky_relu(name: &str, input: LayerOutput, alpha: f32) -> Layer {
    layer("LeakyReLU", name, json!({"alpha": exact_f32(alpha)}), vec![input], vec![])
}

/// Element-wise merge layers (`Multiply`, `Subtract`, `Maximum`, `Minimum`, `Add`): inputs of
/// one rank whose shapes broadcast (a dimension is equal or 1), as both versions allow.
pub fn merge(class_name: &str, name: &str, inputs: Vec<LayerOutput>) -> Layer {
    layer(class_name, name, json!({}), inputs, vec![])
}

/// `Reshape` to `target_shape` (without the batch dimension).
pub fn reshape(name: &str, input: LayerOutput, target_shape: &[usize]) -> Layer {
    layer("Reshape", name, json!({"target_shape": target_shape}), vec![input], vec![])
}

/// `Permute` of the non-batch axes; `dims` are 1-based as in Keras.
pub fn permute(name: &str, input: LayerOutput, dims: &[usize]) -> Layer {
    layer("Permute", name, json!({"dims": dims}), vec![input], vec![])
}

/// Which recurrent layer [`recurrent`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecurrentKind {
    /// `LSTM`: gates `i, f, c, o`; bias (4·units).
    Lstm,
    /// `GRU`: gates `z, r, h`; bias (2, 3·units) with `reset_after`, else (3·units).
    Gru {
        /// Reset gate applied after the recurrent product (Keras's default).
        reset_after: bool,
    },
    /// `SimpleRNN`: one gate; bias (units).
    SimpleRnn,
}

/// The options of a recurrent layer tf2h5 writes (everything else at Keras's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecurrentOptions<'a> {
    /// Output every step (batch, time, units), else only the last step (batch, units).
    pub return_sequences: bool,
    /// Read the sequence last step first (outputs stay in reading order).
    pub go_backwards: bool,
    /// Also return the final states after the output (LSTM `h, c`; GRU and SimpleRNN `h`).
    pub return_state: bool,
    /// The output activation (`tanh` by default in Keras).
    pub activation: &'a str,
    /// The gates' activation (`sigmoid` by default; unused by `SimpleRNN`). Never
    /// `hard_sigmoid`, which tf-keras and Keras 3 define differently.
    pub recurrent_activation: &'a str,
}

/// `LSTM`, `GRU` or `SimpleRNN`: kernel (in, g·units), recurrent_kernel (units, g·units),
/// optional bias, in Keras's gate order. Writes tf-keras's keys minus `time_major` (Keras 3
/// rejects it) and `implementation` (a tf-keras performance switch).
pub fn recurrent(
    name: &str,
    input: LayerOutput,
    kind: RecurrentKind,
    options: RecurrentOptions<'_>,
    kernel: ArrayD<f32>,
    recurrent_kernel: ArrayD<f32>,
    bias: Option<ArrayD<f32>>,
) -> Layer {
    let units = recurrent_kernel.shape().first().copied().unwrap_or(0);
    let use_bias = bias.is_some();
    let values = [kernel, recurrent_kernel].into_iter().chain(bias);
    let weights = spec::CELL_WEIGHTS.iter().zip(values).map(|(name, value)| Weight::new(name, value)).collect();
    let (class_name, extra) = recurrent_config(kind, options, units, use_bias);
    layer(class_name, name, extra, vec![input], weights)
}

fn recurrent_config(
    kind: RecurrentKind,
    options: RecurrentOptions<'_>,
    units: usize,
    use_bias: bool,
) -> (&'static str, Value) {
    let mut extra = json!({
        "units": units,
        "activation": options.activation,
        "use_bias": use_bias,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "return_sequences": options.return_sequences,
        "return_state": options.return_state,
        "go_backwards": options.go_backwards,
        "stateful": false,
        "unroll": false,
    });
    let class_name = match kind {
        RecurrentKind::Lstm => "LSTM",
        RecurrentKind::Gru { .. } => "GRU",
        RecurrentKind::SimpleRnn => "SimpleRNN",
    };
    if let Value::Object(map) = &mut extra {
        if kind != RecurrentKind::SimpleRnn {
            map.insert("recurrent_activation".into(), json!(options.recurrent_activation));
        }
        match kind {
            RecurrentKind::Lstm => _ = map.insert("unit_forget_bias".into(), json!(true)),
            RecurrentKind::Gru { reset_after } => _ = map.insert("reset_after".into(), json!(reset_after)),
            RecurrentKind::SimpleRnn => {}
        }
    }
    (class_name, extra)
}

/// `Bidirectional` around `forward` (a layer from [`recurrent`]), whose backward copy has
/// `backward_weights` (same shapes): weights forward first, then backward, as Keras orders
/// them. `merge_mode`: `concat`, `sum`, `mul` or `ave`.
pub fn bidirectional(name: &str, forward: Layer, backward_weights: Vec<ArrayD<f32>>, merge_mode: &str) -> Layer {
    let mut inner_config = forward.config;
    inner_config.insert("name".into(), json!(spec::BIDIRECTIONAL_INNER_NAME));
    let inner = json!({
        "module": "keras.layers",
        "class_name": forward.class_name,
        "config": inner_config,
        "registered_name": null,
    });
    let mut weights = Vec::with_capacity(2 * forward.weights.len());
    for (names, values) in [
        (spec::FORWARD_WEIGHTS, forward.weights.into_iter().map(|w| w.value).collect::<Vec<_>>()),
        (spec::BACKWARD_WEIGHTS, backward_weights),
    ] {
        weights.extend(names.iter().zip(values).map(|(name, value)| Weight::new(name, value)));
    }
    layer("Bidirectional", name, json!({"layer": inner, "merge_mode": merge_mode}), forward.inbound, weights)
}

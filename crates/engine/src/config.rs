//! Reading a layer's config and weights into engine errors that name the layer.
//!
//! Missing keys take the default Keras's own `from_config` would use (the loaders accept
//! configs without them), but a key that is present with the wrong type or an impossible
//! value is an error: a model the engine guesses at would make the comparison meaningless.

use std::fmt::Display;

use ndarray::ArrayD;
use serde_json::Value;
use tf2h5_keras::layers::Padding;
use tf2h5_keras::Layer;

use crate::EngineError;

/// A layer seen through the engine: typed config reads and errors naming the layer.
#[derive(Clone, Copy)]
pub(crate) struct LayerConfig<'a> {
    /// The layer being read.
    pub layer: &'a Layer,
}

impl<'a> LayerConfig<'a> {
    pub fn new(layer: &'a Layer) -> Self {
        LayerConfig { layer }
    }

    /// An [`EngineError::Invalid`] for this layer; the message is prefixed with the class.
    pub fn invalid(&self, message: impl Display) -> EngineError {
        EngineError::Invalid {
            layer: self.layer.name.clone(),
            message: format!("{}: {message}", self.layer.class_name),
        }
    }

    /// An [`EngineError::Shape`] for this layer; the message is prefixed with the class.
    pub fn shape(&self, message: impl Display) -> EngineError {
        EngineError::Shape { layer: self.layer.name.clone(), message: format!("{}: {message}", self.layer.class_name) }
    }

    /// An [`EngineError::Unsupported`] for an option of an otherwise supported class.
    pub fn unsupported(&self, option: impl Display) -> EngineError {
        EngineError::Unsupported {
            layer: self.layer.name.clone(),
            class_name: format!("{} with {option}", self.layer.class_name),
        }
    }

    /// The value of `key`, treating JSON `null` like a missing key (Keras does the same for
    /// every key it defaults to `None`).
    fn value(&self, key: &str) -> Option<&'a Value> {
        self.layer.config.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, expected: &str) -> EngineError {
        let found = self.layer.config.get(key).map(Value::to_string).unwrap_or_default();
        self.invalid(format!("config key '{key}' must be {expected}, found {found}"))
    }

    /// A bool, or `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, EngineError> {
        match self.value(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(key, "a bool")),
        }
    }

    /// A finite number, or `None` when absent or null.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, EngineError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(self.bad(key, "a finite number")),
            },
        }
    }

    /// A finite number, or `default` when absent.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, EngineError> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    /// A string, or `None` when absent or null.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, EngineError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.bad(key, "a string")),
        }
    }

    /// An integer, or `default` when absent.
    pub fn i64_or(&self, key: &str, default: i64) -> Result<i64, EngineError> {
        match self.value(key) {
            None => Ok(default),
            Some(v) => v.as_i64().ok_or_else(|| self.bad(key, "an integer")),
        }
    }

    /// An axis: an integer, or a list holding exactly one integer (tf-keras writes
    /// `BatchNormalization`'s axis as `[3]` once built).
    pub fn axis_or(&self, key: &str, default: i64) -> Result<i64, EngineError> {
        match self.value(key) {
            None => Ok(default),
            Some(Value::Array(items)) => match items.as_slice() {
                [single] => single.as_i64().ok_or_else(|| self.bad(key, "an integer axis")),
                _ => Err(self.unsupported(format!("{key}={}", Value::Array(items.clone())))),
            },
            Some(v) => v.as_i64().ok_or_else(|| self.bad(key, "an integer axis")),
        }
    }

    /// A (height, width) pair of positive integers, such as `kernel_size` or `strides`;
    /// a single integer means the same value for both, as in Keras.
    pub fn pair(&self, key: &str) -> Result<[usize; 2], EngineError> {
        match self.value(key) {
            None => Err(self.invalid(format!("config key '{key}' is missing"))),
            Some(v) => self.parse_pair(key, v, 1),
        }
    }

    /// Like [`pair`](Self::pair), or `default` when absent.
    pub fn pair_or(&self, key: &str, default: [usize; 2]) -> Result<[usize; 2], EngineError> {
        match self.value(key) {
            None => Ok(default),
            Some(v) => self.parse_pair(key, v, 1),
        }
    }

    /// Parses one integer or a list of two, each at least `min`.
    pub fn parse_pair(&self, key: &str, value: &Value, min: u64) -> Result<[usize; 2], EngineError> {
        let expected =
            if min == 0 { "a non-negative integer or a list of 2" } else { "a positive integer or a list of 2" };
        let one = |v: &Value| {
            v.as_u64()
                .filter(|&x| x >= min)
                .and_then(|x| usize::try_from(x).ok())
                .ok_or_else(|| self.bad(key, expected))
        };
        match value {
            Value::Array(items) if items.len() == 2 => Ok([one(&items[0])?, one(&items[1])?]),
            Value::Array(_) => Err(self.bad(key, expected)),
            v => {
                let x = one(v)?;
                Ok([x, x])
            }
        }
    }

    /// `padding`: `valid` (the Keras default) or `same`, in any case as Keras lowercases it.
    pub fn padding(&self) -> Result<Padding, EngineError> {
        match self.opt_str("padding")?.map(str::to_ascii_lowercase).as_deref() {
            None | Some("valid") => Ok(Padding::Valid),
            Some("same") => Ok(Padding::Same),
            Some(other) => Err(self.unsupported(format!("padding '{other}'"))),
        }
    }

    /// Fails unless `data_format` is absent or `channels_last`: the engine works in NHWC.
    pub fn require_channels_last(&self) -> Result<(), EngineError> {
        match self.opt_str("data_format")? {
            None | Some("channels_last") => Ok(()),
            Some(other) => Err(self.unsupported(format!("data_format '{other}'"))),
        }
    }

    /// Fails unless the layer computes in float32 (a string `dtype` other than `float32`
    /// would make Keras compute in another precision).
    pub fn require_float32(&self) -> Result<(), EngineError> {
        match self.layer.config.get("dtype") {
            Some(Value::String(dtype)) if dtype != "float32" => Err(self.unsupported(format!("dtype '{dtype}'"))),
            _ => Ok(()),
        }
    }

    /// The layer's weights named `expected`, in that order, failing if one is missing or if
    /// the layer has any other weight (Keras would not load such a file).
    pub fn weights(&self, expected: &[&str]) -> Result<Vec<&'a ArrayD<f32>>, EngineError> {
        if let Some(extra) = self.layer.weights.iter().find(|w| !expected.contains(&w.name.as_str())) {
            return Err(self.invalid(format!("unexpected weight '{}' (expected exactly {expected:?})", extra.name)));
        }
        expected
            .iter()
            .map(|name| {
                let mut found = self.layer.weights.iter().filter(|w| w.name == *name);
                match (found.next(), found.next()) {
                    (Some(w), None) => Ok(&w.value),
                    (None, _) => Err(self.invalid(format!("missing weight '{name}'"))),
                    (Some(_), Some(_)) => Err(self.invalid(format!("weight '{name}' appears twice"))),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tf2h5_keras::layers;

    #[test]
    fn pairs_accept_an_int_or_two_and_reject_zero() {
        let mut layer = layers::flatten("f", "x".into());
        layer.config.insert("a".into(), json!(3));
        layer.config.insert("b".into(), json!([2, 1]));
        layer.config.insert("c".into(), json!([0, 1]));
        layer.config.insert("d".into(), json!([1, 2, 3]));
        let cfg = LayerConfig::new(&layer);
        assert_eq!(cfg.pair("a").unwrap(), [3, 3]);
        assert_eq!(cfg.pair("b").unwrap(), [2, 1]);
        assert!(cfg.pair("c").is_err());
        assert!(cfg.pair("d").is_err());
        assert!(cfg.pair("missing").is_err());
        assert_eq!(cfg.pair_or("missing", [1, 1]).unwrap(), [1, 1]);
    }

    #[test]
    fn errors_name_the_layer_and_class() {
        let layer = layers::flatten("my_flatten", "x".into());
        let message = LayerConfig::new(&layer).weights(&["kernel"]).unwrap_err().to_string();
        assert!(message.contains("my_flatten") && message.contains("Flatten"), "{message}");
    }
}

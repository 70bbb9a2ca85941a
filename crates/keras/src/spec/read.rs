//! Typed reads of a layer's config for the specs' parsers, with errors naming the layer.
//!
//! Missing keys (and JSON `null`) take the default Keras's own `from_config` would use, since
//! both loaders accept configs without them; a key present with the wrong type or an
//! impossible value is an error, never a guess.

use std::fmt::Display;

use serde_json::Value;

use crate::{KerasError, Layer, LayerError};

/// A layer's config seen by a spec parser (and by the engine's kernels of weight-less
/// classes, which read their few keys through it).
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    pub(crate) layer: &'a Layer,
}

impl<'a> Reader<'a> {
    /// Reads `layer`'s config.
    pub fn new(layer: &'a Layer) -> Self {
        Reader { layer }
    }

    /// A [`LayerError::Config`] for this layer, prefixed with its class.
    pub fn invalid(&self, message: impl Display) -> KerasError {
        LayerError::Config { layer: self.layer.name.clone(), message: format!("{}: {message}", self.layer.class_name) }
            .into()
    }

    /// A [`KerasError::Unsupported`] for an option of a known class.
    pub fn unsupported(&self, option: impl Display) -> KerasError {
        KerasError::Unsupported {
            layer: self.layer.name.clone(),
            what: format!("{} with {option}", self.layer.class_name),
        }
    }

    /// The value of `key`; `null` counts as absent, as in Keras.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.layer.config.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, expected: &str) -> KerasError {
        let found = self.layer.config.get(key).map(Value::to_string).unwrap_or_default();
        self.invalid(format!("config key '{key}' must be {expected}, found {found}"))
    }

    /// A bool, or `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, KerasError> {
        self.value(key).map_or(Ok(default), |v| v.as_bool().ok_or_else(|| self.bad(key, "a bool")))
    }

    /// A finite number, or `None` when absent.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, KerasError> {
        self.value(key)
            .map(|v| v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| self.bad(key, "a finite number")))
            .transpose()
    }

    /// A finite number, or `default` when absent.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, KerasError> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    /// A string, or `None` when absent.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, KerasError> {
        self.value(key).map(|v| v.as_str().ok_or_else(|| self.bad(key, "a string"))).transpose()
    }

    /// A string, or `default` when absent.
    pub fn str_or(&self, key: &str, default: &'a str) -> Result<&'a str, KerasError> {
        Ok(self.opt_str(key)?.unwrap_or(default))
    }

    /// An unsigned integer at least `min`, or `default` when absent.
    pub fn usize_or(&self, key: &str, default: usize, min: usize) -> Result<usize, KerasError> {
        match self.value(key) {
            None => Ok(default),
            Some(v) => self.count(key, v, min, "an integer"),
        }
    }

    fn count(&self, key: &str, v: &Value, min: usize, expected: &str) -> Result<usize, KerasError> {
        v.as_u64()
            .and_then(|x| usize::try_from(x).ok())
            .filter(|&x| x >= min)
            .ok_or_else(|| self.bad(key, &format!("{expected} of at least {min}")))
    }

    /// An axis: an integer, or a list holding exactly one (tf-keras writes `[3]` once built).
    pub fn axis_or(&self, key: &str, default: i64) -> Result<i64, KerasError> {
        match self.value(key) {
            None => Ok(default),
            Some(Value::Array(items)) => match items.as_slice() {
                [single] => single.as_i64().ok_or_else(|| self.bad(key, "an integer axis")),
                _ => Err(self.unsupported(format!("{key}={}", Value::Array(items.clone())))),
            },
            Some(v) => v.as_i64().ok_or_else(|| self.bad(key, "an integer axis")),
        }
    }

    /// One or more axes: an integer or a non-empty list of integers (`LayerNormalization`'s
    /// `axis`), or `[default]` when absent.
    pub fn axes_or(&self, key: &str, default: i64) -> Result<Vec<i64>, KerasError> {
        match self.value(key) {
            None => Ok(vec![default]),
            Some(Value::Array(items)) if !items.is_empty() => {
                items.iter().map(|v| v.as_i64().ok_or_else(|| self.bad(key, "a list of integer axes"))).collect()
            }
            Some(v) => v.as_i64().map(|a| vec![a]).ok_or_else(|| self.bad(key, "an integer axis or a list of them")),
        }
    }

    /// One integer per spatial axis (`rank` of them), each at least `min`; a single integer
    /// means the same for every axis, as in Keras. `default` when absent (an error if `None`).
    pub fn tuple(
        &self,
        key: &str,
        rank: usize,
        min: usize,
        default: Option<&[usize]>,
    ) -> Result<Vec<usize>, KerasError> {
        let expected = format!("an integer or a list of {rank}");
        match (self.value(key), default) {
            (None, Some(default)) => Ok(default.to_vec()),
            (None, None) => Err(self.invalid(format!("config key '{key}' is missing"))),
            (Some(Value::Array(items)), _) if items.len() == rank => {
                items.iter().map(|v| self.count(key, v, min, &expected)).collect()
            }
            (Some(Value::Array(_)), _) => Err(self.bad(key, &expected)),
            (Some(v), _) => Ok(vec![self.count(key, v, min, &expected)?; rank]),
        }
    }

    /// Per-axis (before, after) amounts (`ZeroPadding`, `Cropping`): an integer (same on every
    /// side), a list of `rank` integers (symmetric per axis) or of `rank` pairs.
    pub fn sides(&self, key: &str, rank: usize, default: usize) -> Result<Vec<[usize; 2]>, KerasError> {
        let expected = format!("an integer, a list of {rank} or a list of {rank} pairs");
        let count = |v: &Value| self.count(key, v, 0, &expected);
        match self.value(key) {
            None => Ok(vec![[default; 2]; rank]),
            Some(Value::Array(items)) if items.len() == rank => items
                .iter()
                .map(|item| match item {
                    Value::Array(pair) if pair.len() == 2 => Ok([count(&pair[0])?, count(&pair[1])?]),
                    Value::Array(_) => Err(self.bad(key, &expected)),
                    single => count(single).map(|n| [n, n]),
                })
                .collect(),
            // Keras 1-D layers also take a single (before, after) pair.
            Some(Value::Array(items)) if rank == 1 && items.len() == 2 => {
                Ok(vec![[count(&items[0])?, count(&items[1])?]])
            }
            Some(Value::Array(_)) => Err(self.bad(key, &expected)),
            Some(single) => Ok(vec![[count(single)?; 2]; rank]),
        }
    }

    /// Fails unless `data_format` is absent or `channels_last` (all tf2h5 layers are).
    pub fn require_channels_last(&self) -> Result<(), KerasError> {
        match self.str_or("data_format", "channels_last")? {
            "channels_last" => Ok(()),
            other => Err(self.unsupported(format!("data_format '{other}'"))),
        }
    }
}

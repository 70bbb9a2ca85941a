//! Reading a layer's config and weights into engine errors that name the layer.
//!
//! Missing keys take the default Keras's own `from_config` would use (the loaders accept
//! configs without them), but a key that is present with the wrong type or an impossible
//! value is an error: a model the engine guesses at would make the comparison meaningless.

use std::fmt::Display;

use ndarray::ArrayD;
use serde_json::Value;
use tf2h5_keras::spec::{LayerSpec, Reader};
use tf2h5_keras::{KerasError, Layer, LayerError};

use crate::{tensor, EngineError};

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

    /// A [`LayerError::Config`] for this layer; the message is prefixed with the class.
    pub fn invalid(&self, message: impl Display) -> EngineError {
        LayerError::Config { layer: self.layer.name.clone(), message: format!("{}: {message}", self.layer.class_name) }
            .into()
    }

    /// A [`LayerError::Shape`] for this layer; the message is prefixed with the class.
    pub fn shape(&self, message: impl Display) -> EngineError {
        LayerError::Shape { layer: self.layer.name.clone(), message: format!("{}: {message}", self.layer.class_name) }
            .into()
    }

    /// A kernel's output: zeros of `shape`, which `fill` computes from row-major slices of
    /// `operands` (the input, and the kernel if any) into the output's slice. An empty output
    /// is returned as is, and one too large to allocate is an error.
    pub fn compute<const N: usize>(
        &self,
        shape: &[usize],
        operands: [&ArrayD<f32>; N],
        fill: impl FnOnce([&[f32]; N], &mut [f32]) -> Result<(), EngineError>,
    ) -> Result<ArrayD<f32>, EngineError> {
        let mut out = tensor::zeros(shape).ok_or_else(|| self.shape("output is too large"))?;
        if out.is_empty() {
            return Ok(out);
        }
        let not_contiguous = || self.shape("internal error: an operand is not contiguous");
        let standard = operands.map(|a| a.as_standard_layout());
        let mut slices = [&[][..]; N];
        for (slice, array) in slices.iter_mut().zip(&standard) {
            *slice = array.as_slice().ok_or_else(not_contiguous)?;
        }
        fill(slices, out.as_slice_mut().ok_or_else(not_contiguous)?)?;
        Ok(out)
    }

    /// An [`EngineError::Unsupported`] for an option of an otherwise supported class.
    pub fn unsupported(&self, option: impl Display) -> EngineError {
        EngineError::Unsupported {
            layer: self.layer.name.clone(),
            class_name: format!("{} with {option}", self.layer.class_name),
        }
    }

    /// The spec crate's typed reads of this layer's config (one parser for both crates).
    fn reader(&self) -> Reader<'a> {
        Reader::new(self.layer)
    }

    /// A bool, or `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, EngineError> {
        self.reader().bool_or(key, default).map_err(|e| self.keras_error(e))
    }

    /// A finite number, or `None` when absent or null.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, EngineError> {
        self.reader().opt_f64(key).map_err(|e| self.keras_error(e))
    }

    /// A finite number, or `default` when absent.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, EngineError> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    /// A string, or `None` when absent or null.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, EngineError> {
        self.reader().opt_str(key).map_err(|e| self.keras_error(e))
    }

    /// An axis: an integer, or a list holding exactly one integer (tf-keras writes
    /// `BatchNormalization`'s axis as `[3]` once built).
    pub fn axis_or(&self, key: &str, default: i64) -> Result<i64, EngineError> {
        self.reader().axis_or(key, default).map_err(|e| self.keras_error(e))
    }

    /// The layer's weights checked against its `spec` for an input of `channels` channels.
    pub fn spec_weights(&self, spec: &LayerSpec, channels: usize) -> Result<Vec<&'a ArrayD<f32>>, EngineError> {
        spec.check_weights(self.layer, Some(channels)).map_err(|e| self.keras_error(e))
    }

    /// A spec's error as the engine's, for this layer.
    pub fn keras_error(&self, error: KerasError) -> EngineError {
        let layer = self.layer.name.clone();
        match error {
            KerasError::Layer(error) => EngineError::Layer(error),
            KerasError::Unsupported { what, .. } => EngineError::Unsupported { layer, class_name: what },
            other => self.invalid(other),
        }
    }

    /// Fails unless `data_format` is absent or `channels_last`: the engine works in NHWC.
    pub fn require_channels_last(&self) -> Result<(), EngineError> {
        self.reader().require_channels_last().map_err(|e| self.keras_error(e))
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
    use tf2h5_keras::layers;

    #[test]
    fn errors_name_the_layer_and_class() {
        let layer = layers::flatten("my_flatten", "x".into());
        let message = LayerConfig::new(&layer).weights(&["kernel"]).unwrap_err().to_string();
        assert!(message.contains("my_flatten") && message.contains("Flatten"), "{message}");
    }
}

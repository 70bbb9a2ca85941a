//! A Keras `.h5` file as stored, before any interpretation: the `model_config` text, the
//! version attributes, and every layer group's weights in file order under their full names.
//!
//! This is what a legacy file (Keras 2.x, tf-keras, Sequential or Functional) is read into
//! when it is a *source* (`tf2h5 verify old.h5`): its config may use keys and classes the
//! current [`crate::config`] refuses, and `tf2h5-upgrade` decides what they mean. Untrusted
//! files are read in a child process, which hands the result to its parent through
//! [`RawKerasFile::to_bytes`] / [`RawKerasFile::from_bytes`].

use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Value};

use crate::{KerasError, Weight};

/// The contents of a Keras `.h5` file, uninterpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct RawKerasFile {
    /// The root `model_config` attribute (JSON text).
    pub model_config: String,
    /// The root `keras_version` attribute, if any (Keras 1 files have none).
    pub keras_version: Option<String>,
    /// `/model_weights`' layer groups in `layer_names` order, weightless ones included.
    pub groups: Vec<RawGroup>,
}

/// One layer group of `/model_weights`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawGroup {
    /// The group's (= the layer's) name.
    pub name: String,
    /// The weights in `weight_names` order, each under its full name (`dense/kernel:0`).
    pub weights: Vec<Weight>,
}

impl RawKerasFile {
    /// Serialises the file for a pipe: an 8-byte little-endian header length, a JSON header
    /// (config, version, groups with weight names and shapes), then every weight's values as
    /// little-endian f32, in header order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                let weights: Vec<Value> =
                    g.weights.iter().map(|w| json!({"name": w.name, "shape": w.value.shape()})).collect();
                json!({"name": g.name, "weights": weights})
            })
            .collect();
        let header = json!({"model_config": self.model_config, "keras_version": self.keras_version, "groups": groups})
            .to_string();
        let mut bytes = Vec::with_capacity(8 + header.len());
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for weight in self.groups.iter().flat_map(|g| &g.weights) {
            for value in weight.value.iter() {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
        bytes
    }

    /// Parses [`RawKerasFile::to_bytes`]' output, checking every length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KerasError> {
        let bad = |what: &str| KerasError::Invalid(format!("raw .h5 contents: {what}"));
        let header_len = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize);
        let header_end = header_len.and_then(|n| n.checked_add(8)).filter(|&end| end <= bytes.len());
        let header_end = header_end.ok_or_else(|| bad("truncated header"))?;
        let header: Value = serde_json::from_slice(&bytes[8..header_end]).map_err(|e| bad(&e.to_string()))?;
        let model_config = header["model_config"].as_str().ok_or_else(|| bad("no model_config"))?.to_string();
        let keras_version = header["keras_version"].as_str().map(str::to_string);
        let mut data = bytes[header_end..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut groups = Vec::new();
        for group in header["groups"].as_array().ok_or_else(|| bad("no groups"))? {
            let name = group["name"].as_str().ok_or_else(|| bad("a group has no name"))?.to_string();
            let mut weights = Vec::new();
            for weight in group["weights"].as_array().ok_or_else(|| bad("a group has no weights"))? {
                let weight_name = weight["name"].as_str().ok_or_else(|| bad("a weight has no name"))?;
                let shape: Vec<usize> = weight["shape"]
                    .as_array()
                    .and_then(|dims| dims.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
                    .ok_or_else(|| bad("a weight has no shape"))?;
                let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| bad("shape"))?;
                let values: Vec<f32> = data.by_ref().take(count).collect();
                if values.len() != count {
                    return Err(bad("truncated weights"));
                }
                let value = ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| bad(&e.to_string()))?;
                weights.push(Weight::new(weight_name, value));
            }
            groups.push(RawGroup { name, weights });
        }
        if data.next().is_some() {
            return Err(bad("trailing data"));
        }
        Ok(RawKerasFile { model_config, keras_version, groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_encoding_round_trips_and_rejects_truncation() {
        let raw = RawKerasFile {
            model_config: "{\"class_name\": \"Sequential\"}".into(),
            keras_version: Some("2.1.6".into()),
            groups: vec![
                RawGroup { name: "input".into(), weights: vec![] },
                RawGroup {
                    name: "dense".into(),
                    weights: vec![
                        Weight::new(
                            "dense/kernel:0",
                            ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| i[0] as f32 - i[1] as f32),
                        ),
                        Weight::new("dense/bias:0", ArrayD::from_elem(IxDyn(&[3]), -0.5)),
                    ],
                },
            ],
        };
        let bytes = raw.to_bytes();
        assert_eq!(RawKerasFile::from_bytes(&bytes).unwrap(), raw);
        for cut in [0, 7, 20, bytes.len() - 1] {
            assert!(RawKerasFile::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 4]);
        assert!(RawKerasFile::from_bytes(&longer).is_err());
    }
}

//! Rank-generic edits of the spatial axes: `ZeroPadding{1,2,3}D`, `Cropping{1,2,3}D` and
//! `UpSampling{1,2,3}D` (nearest), channels_last.
//!
//! Config trap: the 1-D classes have no `data_format` key in tf-keras, and `UpSampling1D`'s
//! `size` is a single integer; the 2-D and 3-D ones take per-axis lists.

use serde_json::{json, Map, Value};

use super::read::Reader;
use crate::KerasError;

/// Which spatial edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResampleKind {
    /// `ZeroPaddingND`.
    ZeroPadding,
    /// `CroppingND`.
    Cropping,
    /// `UpSamplingND`.
    UpSampling,
}

impl ResampleKind {
    /// The Keras class in `rank` spatial dimensions.
    pub fn class_name(self, rank: usize) -> String {
        match self {
            ResampleKind::ZeroPadding => format!("ZeroPadding{rank}D"),
            ResampleKind::Cropping => format!("Cropping{rank}D"),
            ResampleKind::UpSampling => format!("UpSampling{rank}D"),
        }
    }
}

/// Zero padding or cropping: (before, after) cells per spatial axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sides {
    /// `ZeroPadding` or `Cropping`.
    pub kind: ResampleKind,
    /// (before, after) per spatial axis; the rank is its length.
    pub sides: Vec<[usize; 2]>,
}

impl Sides {
    /// The output shape for an input shape; `None` where unknown, an error when a crop is
    /// larger than the axis or a length overflows.
    pub fn output_shape(&self, input: &[Option<usize>]) -> Result<Vec<Option<usize>>, String> {
        let rank = self.sides.len();
        if input.len() != rank + 2 {
            return Err(format!("needs a rank-{} input, got {input:?}", rank + 2));
        }
        let mut shape = input.to_vec();
        for (axis, [before, after]) in self.sides.iter().enumerate() {
            let edge = before.checked_add(*after).ok_or("amounts overflow")?;
            if let Some(len) = input[axis + 1] {
                let out = match self.kind {
                    ResampleKind::Cropping => len.checked_sub(edge),
                    _ => len.checked_add(edge),
                };
                shape[axis + 1] = Some(out.ok_or_else(|| format!("{:?} do not fit the input {input:?}", self.sides))?);
            }
        }
        Ok(shape)
    }

    pub(crate) fn config(&self) -> Map<String, Value> {
        let key = if self.kind == ResampleKind::Cropping { "cropping" } else { "padding" };
        let mut config = Map::new();
        match self.sides.as_slice() {
            [single] => {
                config.insert(key.into(), json!(single));
            }
            many => {
                config.insert(key.into(), json!(many));
                config.insert("data_format".into(), json!("channels_last"));
            }
        }
        config
    }

    pub(crate) fn parse(r: &Reader<'_>, kind: ResampleKind, rank: usize) -> Result<Self, KerasError> {
        r.require_channels_last()?;
        let sides = match kind {
            ResampleKind::Cropping => r.sides("cropping", rank, 0)?,
            _ => r.sides("padding", rank, 1)?,
        };
        Ok(Sides { kind, sides })
    }
}

/// `UpSamplingND` with nearest-neighbour repetition by `size` per spatial axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpSampling {
    /// Repetitions per spatial axis; the rank is its length.
    pub size: Vec<usize>,
}

impl UpSampling {
    pub(crate) fn config(&self) -> Map<String, Value> {
        let mut config = Map::new();
        match self.size.as_slice() {
            [single] => {
                config.insert("size".into(), json!(single));
            }
            many => {
                config.insert("size".into(), json!(many));
                config.insert("data_format".into(), json!("channels_last"));
                if many.len() == 2 {
                    config.insert("interpolation".into(), json!("nearest"));
                }
            }
        }
        config
    }

    pub(crate) fn parse(r: &Reader<'_>, rank: usize) -> Result<Self, KerasError> {
        r.require_channels_last()?;
        match r.str_or("interpolation", "nearest")? {
            "nearest" => {}
            other => return Err(r.unsupported(format!("interpolation '{other}'"))),
        }
        Ok(UpSampling { size: r.tuple("size", rank, 1, Some(&vec![2; rank]))? })
    }
}

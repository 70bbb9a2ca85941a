//! Pools of any rank: `MaxPooling{1,2,3}D` / `AveragePooling{1,2,3}D` over a [`Window`], and
//! `GlobalMaxPooling{1,2,3}D` / `GlobalAveragePooling{1,2,3}D` over every spatial axis.
//!
//! Trap: padded cells are not values. Max ignores them; average divides by the number of
//! real cells in the window, as TF's AvgPool does. `strides` absent or null means the pool
//! size, as in Keras.

use serde_json::{json, Map, Value};

use super::read::Reader;
use super::window::{Padding, Window};
use crate::KerasError;

/// Which reduction a pool applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// Largest real cell.
    Max,
    /// Mean of the real cells.
    Average,
}

impl PoolKind {
    fn prefix(self) -> &'static str {
        match self {
            PoolKind::Max => "Max",
            PoolKind::Average => "Average",
        }
    }

    /// The windowed pool's Keras class in `rank` spatial dimensions.
    pub fn class_name(self, rank: usize) -> String {
        format!("{}Pooling{rank}D", self.prefix())
    }

    /// The global pool's Keras class in `rank` spatial dimensions.
    pub fn global_class_name(self, rank: usize) -> String {
        format!("Global{}Pooling{rank}D", self.prefix())
    }
}

/// `MaxPoolingND` / `AveragePoolingND` (dilation always 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Which reduction.
    pub kind: PoolKind,
    /// Pool size, strides and padding.
    pub window: Window,
}

impl Pool {
    /// The output shape (batch first, channels last) for an input shape.
    pub fn output_shape(&self, input: &[Option<usize>]) -> Result<Vec<Option<usize>>, String> {
        let rank = self.window.rank();
        if input.len() != rank + 2 {
            return Err(format!("a {rank}-D pool needs a rank-{} input, got {input:?}", rank + 2));
        }
        Ok([vec![input[0]], self.window.output_lengths(&input[1..=rank])?, vec![input[rank + 1]]].concat())
    }

    pub(crate) fn config(&self) -> Map<String, Value> {
        let mut config = Map::new();
        config.insert("pool_size".into(), json!(self.window.kernel));
        config.insert("padding".into(), json!(self.window.padding.as_str()));
        config.insert("strides".into(), json!(self.window.strides));
        config.insert("data_format".into(), json!("channels_last"));
        config
    }

    pub(crate) fn parse(r: &Reader<'_>, kind: PoolKind, rank: usize) -> Result<Self, KerasError> {
        r.require_channels_last()?;
        let kernel = r.tuple("pool_size", rank, 1, Some(&vec![2; rank]))?;
        let strides = r.tuple("strides", rank, 1, Some(&kernel))?;
        let padding = r.str_or("padding", "valid")?;
        let padding = match Padding::parse(padding) {
            Some(p @ (Padding::Valid | Padding::Same)) => p,
            _ => return Err(r.unsupported(format!("padding '{padding}'"))),
        };
        let window = Window { dilation: vec![1; rank], kernel, strides, padding };
        window.check().map_err(|e| r.invalid(e))?;
        Ok(Pool { kind, window })
    }
}

/// `GlobalMaxPoolingND` / `GlobalAveragePoolingND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalPool {
    /// Which reduction.
    pub kind: PoolKind,
    /// Spatial axes reduced.
    pub rank: usize,
    /// Whether the reduced axes stay as length 1.
    pub keepdims: bool,
}

impl GlobalPool {
    pub(crate) fn config(&self) -> Map<String, Value> {
        let mut config = Map::new();
        config.insert("data_format".into(), json!("channels_last"));
        config.insert("keepdims".into(), json!(self.keepdims));
        config
    }

    pub(crate) fn parse(r: &Reader<'_>, kind: PoolKind, rank: usize) -> Result<Self, KerasError> {
        r.require_channels_last()?;
        Ok(GlobalPool { kind, rank, keepdims: r.bool_or("keepdims", false)? })
    }
}

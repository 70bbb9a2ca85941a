//! Image ops: `ResizeNearestNeighbor` (→ `UpSampling2D`).

mod resize_nearest_neighbor;

use super::Registry;

pub(super) fn register(registry: &mut Registry) {
    registry.insert("ResizeNearestNeighbor", resize_nearest_neighbor::resize_nearest_neighbor);
}

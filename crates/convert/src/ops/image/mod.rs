//! Image ops: `ResizeNearestNeighbor` (→ `UpSampling2D`) and `ResizeBilinear` (→ exact
//! per-axis interpolation maps).

mod resize_bilinear;
mod resize_nearest_neighbor;

use super::Registry;

pub(super) fn register(registry: &mut Registry) {
    registry.insert("ResizeNearestNeighbor", resize_nearest_neighbor::resize_nearest_neighbor);
    registry.insert("ResizeBilinear", resize_bilinear::resize_bilinear);
}

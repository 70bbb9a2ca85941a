//! Every convolution and pool runs over three spatial axes: a rank-r window (r ≤ 3) is
//! viewed as 3-D with unit leading axes (length 1, kernel 1, stride 1), so one kernel per
//! family serves every rank, and the unit axes cost one loop iteration each.
//!
//! The per-axis geometry (output length, padding before, TF's asymmetric SAME, causal) is
//! the spec's [`AxisWindow`]; this module only lays the axes out.

use tf2h5_keras::spec::{AxisWindow, Padding, Window};

/// Spatial axes every kernel runs over.
pub(crate) const AXES: usize = 3;

/// A window applied to a channels_last input, laid out over [`AXES`] spatial axes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    /// Batch size.
    pub batch: usize,
    /// Spatial input lengths (unit leading axes for lower ranks).
    pub input: [usize; AXES],
    /// Input channels.
    pub channels: usize,
    /// Per-axis geometry.
    pub axes: [AxisWindow; AXES],
    /// The window's own rank.
    rank: usize,
}

impl Grid {
    /// The grid of `window` on an input of `shape` (batch, spatial…, channels), or why it
    /// does not fit.
    pub fn new(window: &Window, shape: &[usize]) -> Result<Self, String> {
        let rank = window.rank();
        if rank == 0 || rank > AXES || shape.len() != rank + 2 {
            return Err(format!("a {rank}-D window needs a rank-{} input", rank + 2));
        }
        let lead = AXES - rank;
        let unit = AxisWindow::new(1, 1, 1, 1, Padding::Valid)?;
        let mut input = [1; AXES];
        let mut axes = [unit; AXES];
        for a in 0..rank {
            input[lead + a] = shape[1 + a];
            axes[lead + a] =
                AxisWindow::new(shape[1 + a], window.kernel[a], window.strides[a], window.dilation[a], window.padding)?;
        }
        Ok(Grid { batch: shape[0], input, channels: shape[rank + 1], axes, rank })
    }

    /// Window cells per position.
    pub fn taps(&self) -> usize {
        self.axes.iter().map(|a| a.kernel).product()
    }

    /// The output shape with `channels` output channels, in the window's own rank.
    pub fn output_shape(&self, channels: usize) -> Vec<usize> {
        let spatial = self.axes[AXES - self.rank..].iter().map(|a| a.out);
        std::iter::once(self.batch).chain(spatial).chain([channels]).collect()
    }

    /// Output position `p` (over the whole batch) as (image, per-axis output index).
    #[inline]
    pub fn position(&self, p: usize) -> (usize, [usize; AXES]) {
        let [d, h, w] = [self.axes[0].out, self.axes[1].out, self.axes[2].out];
        (p / (d * h * w), [(p / (h * w)) % d, (p / w) % h, p % w])
    }

    /// The element offset of input pixel `at` of `image` (its first channel).
    #[inline]
    pub fn pixel(&self, image: usize, at: [usize; AXES]) -> usize {
        (((image * self.input[0] + at[0]) * self.input[1] + at[1]) * self.input[2] + at[2]) * self.channels
    }

    /// The input index on `axis` read by output `o` at window cell `k`, if inside the input.
    #[inline]
    pub fn source(&self, axis: usize, o: usize, k: usize) -> Option<usize> {
        self.axes[axis].source(o, k).filter(|&i| i < self.input[axis])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_ranks_get_unit_leading_axes() {
        let window = Window { kernel: vec![3], strides: vec![2], dilation: vec![1], padding: Padding::Same };
        let grid = Grid::new(&window, &[2, 5, 4]).unwrap();
        assert_eq!(grid.input, [1, 1, 5]);
        assert_eq!(grid.output_shape(7), [2, 3, 7]);
        assert_eq!(grid.position(4), (1, [0, 0, 1]));
        assert!(Grid::new(&window, &[2, 5, 5, 4]).is_err());
    }
}

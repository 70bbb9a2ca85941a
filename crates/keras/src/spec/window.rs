//! Sliding-window geometry of any rank, shared by every convolution and pool (the model is
//! tract-core's `PoolSpec`): kernel, strides and dilation per spatial axis, and the padding
//! mode, with TF's output-size arithmetic.
//!
//! Trap: TF `SAME` with stride > 1 pads asymmetrically. The output is `ceil(in / stride)`,
//! the total padding `max((out - 1) * stride + effective_kernel - in, 0)`, and the *smaller*
//! half goes before, the extra cell after. Keras `same` is TF's. Keras `causal` (1-D
//! convolutions) pads `effective_kernel - 1` cells before and none after.

/// Keras `padding` of a convolution or pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// No padding.
    Valid,
    /// TF `SAME`: output = ceil(input / stride), the extra padding cell after.
    Same,
    /// Left padding only, so output `t` sees inputs `≤ t` (`Conv1D` only).
    Causal,
}

impl Padding {
    /// The Keras config string.
    pub fn as_str(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
            Padding::Causal => "causal",
        }
    }

    /// Parses a Keras padding string (any case, as Keras lowercases it).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "valid" => Some(Padding::Valid),
            "same" => Some(Padding::Same),
            "causal" => Some(Padding::Causal),
            _ => None,
        }
    }
}

/// One spatial axis of a window applied to an input of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisWindow {
    /// Output length.
    pub out: usize,
    /// Padding cells before the first input cell.
    pub pad_before: usize,
    /// Window length in input cells (before dilation).
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Step between the cells of a window.
    pub dilation: usize,
}

impl AxisWindow {
    /// The geometry of an axis of length `input`, or an error message when the window does
    /// not fit (`valid` with a window larger than the input, as TF refuses) or overflows.
    pub fn new(input: usize, kernel: usize, stride: usize, dilation: usize, padding: Padding) -> Result<Self, String> {
        if kernel == 0 || stride == 0 || dilation == 0 {
            return Err("window size, stride and dilation must be positive".into());
        }
        let effective =
            (kernel - 1).checked_mul(dilation).and_then(|k| k.checked_add(1)).ok_or("dilated window size overflows")?;
        let (out, pad_before) = match padding {
            Padding::Valid => {
                if input < effective {
                    return Err(format!("'valid' window of {effective} cells does not fit in an input of {input}"));
                }
                ((input - effective) / stride + 1, 0)
            }
            Padding::Same => {
                let out = input.div_ceil(stride);
                // (out - 1) * stride < input, so only the added window can overflow.
                let needed = out
                    .saturating_sub(1)
                    .checked_mul(stride)
                    .and_then(|n| n.checked_add(effective))
                    .ok_or("padding overflows")?;
                (out, needed.saturating_sub(input) / 2)
            }
            Padding::Causal => (input.div_ceil(stride), effective - 1),
        };
        Ok(AxisWindow { out, pad_before, kernel, stride, dilation })
    }

    /// The input index read by output `o` at window cell `k`, or `None` in the leading padding
    /// (the caller checks the trailing end against the input length).
    #[inline]
    pub fn source(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation).checked_sub(self.pad_before)
    }

    /// The window cells of output `o` inside an input of length `input` (dilation 1 only, as
    /// for pools): `(first input index, number of cells)`.
    #[inline]
    pub fn clipped(&self, o: usize, input: usize) -> (usize, usize) {
        let start = o * self.stride;
        let first = start.max(self.pad_before) - self.pad_before;
        let end = (start + self.kernel).saturating_sub(self.pad_before).min(input);
        (first, end.saturating_sub(first))
    }
}

/// The geometry of a convolution or pool over `rank()` spatial axes (channels_last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Window size per spatial axis.
    pub kernel: Vec<usize>,
    /// Stride per spatial axis.
    pub strides: Vec<usize>,
    /// Dilation per spatial axis (all 1 for pools).
    pub dilation: Vec<usize>,
    /// Padding mode.
    pub padding: Padding,
}

impl Window {
    /// A window of `kernel` with unit strides and dilation.
    pub fn new(kernel: Vec<usize>, padding: Padding) -> Self {
        let ones = vec![1; kernel.len()];
        Window { kernel, strides: ones.clone(), dilation: ones, padding }
    }

    /// The number of spatial axes.
    pub fn rank(&self) -> usize {
        self.kernel.len()
    }

    /// Why this window is invalid, if it is: lengths disagree, a zero, or strides together
    /// with dilation (TF refuses that combination, so Keras cannot run it either).
    pub fn check(&self) -> Result<(), String> {
        let rank = self.rank();
        if rank == 0 || self.strides.len() != rank || self.dilation.len() != rank {
            return Err(format!("window {self:?} has inconsistent ranks"));
        }
        if self.kernel.iter().chain(&self.strides).chain(&self.dilation).any(|&v| v == 0) {
            return Err("window size, strides and dilation must be positive".into());
        }
        if self.strides.iter().any(|&s| s > 1) && self.dilation.iter().any(|&d| d > 1) {
            return Err("strides > 1 together with dilation > 1 is rejected by TF".into());
        }
        if self.padding == Padding::Causal && rank != 1 {
            return Err("causal padding exists only in 1-D".into());
        }
        Ok(())
    }

    /// The per-axis geometry on spatial input lengths `input` (rank of them).
    pub fn axes(&self, input: &[usize]) -> Result<Vec<AxisWindow>, String> {
        if input.len() != self.rank() {
            return Err(format!("{} spatial axes for a {}-D window", input.len(), self.rank()));
        }
        (0..self.rank())
            .map(|a| AxisWindow::new(input[a], self.kernel[a], self.strides[a], self.dilation[a], self.padding))
            .collect()
    }

    /// The spatial output lengths for spatial input lengths that may be unknown (`None`).
    pub fn output_lengths(&self, input: &[Option<usize>]) -> Result<Vec<Option<usize>>, String> {
        if input.len() != self.rank() {
            return Err(format!("{} spatial axes for a {}-D window", input.len(), self.rank()));
        }
        (0..self.rank())
            .map(|a| {
                input[a]
                    .map(|len| {
                        AxisWindow::new(len, self.kernel[a], self.strides[a], self.dilation[a], self.padding)
                            .map(|w| w.out)
                    })
                    .transpose()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_stride_2_pads_extra_at_the_end() {
        // 4 cells, k=3, s=2: out 2, total pad (1*2+3-4)=1 -> 0 before, 1 after.
        let w = AxisWindow::new(4, 3, 2, 1, Padding::Same).unwrap();
        assert_eq!((w.out, w.pad_before), (2, 0));
        // 5 cells, k=3, s=2: out 3, total pad (2*2+3-5)=2 -> 1 before, 1 after.
        let w = AxisWindow::new(5, 3, 2, 1, Padding::Same).unwrap();
        assert_eq!((w.out, w.pad_before), (3, 1));
        // 6 cells, k=4, s=1: total pad 3 -> 1 before, 2 after.
        let w = AxisWindow::new(6, 4, 1, 1, Padding::Same).unwrap();
        assert_eq!((w.out, w.pad_before), (6, 1));
        assert_eq!(w.clipped(0, 6), (0, 3));
        assert_eq!(w.clipped(5, 6), (4, 2));
    }

    #[test]
    fn valid_causal_and_dilation() {
        let w = AxisWindow::new(7, 3, 2, 2, Padding::Valid).unwrap();
        assert_eq!((w.out, w.pad_before), (2, 0));
        assert_eq!(w.source(1, 2), Some(6));
        let w = AxisWindow::new(7, 3, 1, 2, Padding::Causal).unwrap();
        assert_eq!((w.out, w.pad_before), (7, 4));
        assert!(AxisWindow::new(2, 3, 1, 1, Padding::Valid).is_err());
        assert!(AxisWindow::new(2, 3, 0, 1, Padding::Same).is_err());
        assert!(AxisWindow::new(2, usize::MAX, 1, 2, Padding::Same).is_err());
    }

    #[test]
    fn output_lengths_follow_tf() {
        let mut w = Window::new(vec![3, 3], Padding::Valid);
        assert_eq!(w.output_lengths(&[Some(28), None]).unwrap(), [Some(26), None]);
        w.strides = vec![2, 2];
        w.padding = Padding::Same;
        assert_eq!(w.output_lengths(&[Some(17), Some(2)]).unwrap(), [Some(9), Some(1)]);
        w.padding = Padding::Valid;
        assert!(w.output_lengths(&[Some(2), Some(9)]).is_err());
        w.dilation = vec![2, 1];
        assert!(w.check().is_err());
    }
}

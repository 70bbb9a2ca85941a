//! Sliding-window geometry shared by `Conv2D` and the 2-D pools, with TF's padding rules.
//!
//! Trap: TF `SAME` with stride > 1 pads asymmetrically. The output is `ceil(in / stride)`,
//! the total padding `max((out - 1) * stride + effective_kernel - in, 0)`, and the *smaller*
//! half goes before (top/left), the extra cell after (bottom/right). Keras `same` is TF's.

use tf2h5_keras::layers::Padding;

/// The geometry of one spatial axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AxisWindow {
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
        };
        Ok(AxisWindow { out, pad_before, kernel, stride, dilation })
    }

    /// The input index read by output `o` at window cell `k`, or `None` in the padding.
    #[inline]
    pub fn source(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation).checked_sub(self.pad_before)
    }

    /// The window cells `k` of output `o` that fall inside an input of length `input`
    /// (dilation 1 only, as for pools): `(first input index, number of cells)`.
    #[inline]
    pub fn clipped(&self, o: usize, input: usize) -> (usize, usize) {
        let start = o * self.stride;
        let first = start.max(self.pad_before) - self.pad_before;
        let end = (start + self.kernel).saturating_sub(self.pad_before).min(input);
        (first, end.saturating_sub(first))
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
    fn valid_and_dilation() {
        let w = AxisWindow::new(7, 3, 2, 2, Padding::Valid).unwrap();
        assert_eq!((w.out, w.pad_before), (2, 0));
        assert_eq!(w.source(1, 2), Some(6));
        assert!(AxisWindow::new(2, 3, 1, 1, Padding::Valid).is_err());
        assert!(AxisWindow::new(2, 3, 0, 1, Padding::Same).is_err());
        assert!(AxisWindow::new(2, usize::MAX, 1, 2, Padding::Same).is_err());
    }
}

//! How a TF node holds an ONNX tensor: the [`Tensor`] layout (which ONNX axis each TF axis
//! is, the batch always TF axis 0) and its [`Merge`] (the batch merged with other axes into
//! one ONNX axis by a `Reshape`, its factors held as TF axes of their own), with the layout
//! arithmetic the ops share.

use crate::error::OpError;
use crate::translator::permuted;

/// An ONNX tensor computed by a TF node.
#[derive(Debug, Clone)]
pub(crate) struct Tensor {
    /// The TF node producing it.
    pub(crate) node: String,
    /// The ONNX shape, `None` for the batch.
    pub(crate) shape: Vec<Option<usize>>,
    /// How the TF node holds it: TF axis `j` is ONNX axis `layout[j]`. The identity is the
    /// ONNX layout; NCHW activations are held NHWC (`[0, 2, 3, 1]`). TF axis 0 is always the
    /// batch, wherever ONNX has it: a `Transpose` moving the batch (time-major sequences,
    /// PaddleOCR's `[3, B, H, T, D]` q/k/v) only changes the layout. With a [`Merge`], the
    /// layout numbers the *expanded* axes ([`Tensor::expanded`]).
    pub(crate) layout: Vec<usize>,
    /// The batch merged with other axes into one ONNX axis by a `Reshape`, `None` when the
    /// batch is an axis of its own.
    pub(crate) merge: Option<Merge>,
}

/// An ONNX axis holding the batch merged with sizes before it (slower) and after it
/// (faster): PyTorch's attention reshapes (T, B, E) to (T, B·H, d), ddddocr's CRNN (T, B, C)
/// to (T·B, C). The TF node holds the factors as axes of their own, the batch first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Merge {
    /// The ONNX axis (its size in [`Tensor::shape`] is `None`).
    pub(crate) axis: usize,
    /// The product of the sizes merged before the batch, and after it (1: none).
    pub(crate) outer: usize,
    pub(crate) inner: usize,
}

impl Tensor {
    pub(crate) fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The ONNX axis of the batch (TF axis 0), or of the axis it is merged into.
    pub(crate) fn batch_axis(&self) -> usize {
        self.merge.as_ref().map_or(self.layout[0], |m| m.axis)
    }

    /// The shape with the merged axis split into its factors (outer, batch, inner; factors
    /// of 1 left out): the axes [`Tensor::layout`] numbers. The ONNX shape without a merge.
    pub(crate) fn expanded(&self) -> Vec<Option<usize>> {
        self.expanded_groups().iter().flatten().map(|&(_, d)| d).collect()
    }

    /// Per ONNX axis, its expanded axes and their sizes.
    fn expanded_groups(&self) -> Vec<Vec<(usize, Option<usize>)>> {
        let mut next = 0;
        let mut numbered = |dims: Vec<Option<usize>>| {
            dims.into_iter()
                .map(|d| {
                    next += 1;
                    (next - 1, d)
                })
                .collect()
        };
        (0..self.rank())
            .map(|axis| match &self.merge {
                Some(m) if m.axis == axis => {
                    let factors =
                        [(m.outer > 1).then_some(Some(m.outer)), Some(None), (m.inner > 1).then_some(Some(m.inner))];
                    numbered(factors.into_iter().flatten().collect())
                }
                _ => numbered(vec![self.shape[axis]]),
            })
            .collect()
    }

    /// The expanded axes of ONNX axis `axis`.
    pub(crate) fn expanded_axes(&self, axis: usize) -> Vec<usize> {
        self.expanded_groups()[axis].iter().map(|&(a, _)| a).collect()
    }

    /// Non-batch dimensions in ONNX order, all known (else [`OpError::UnknownSize`]).
    pub(crate) fn features(&self) -> Result<Vec<usize>, OpError> {
        let batch = self.batch_axis();
        let known: Option<Vec<usize>> =
            self.shape.iter().enumerate().filter(|&(axis, _)| axis != batch).map(|(_, d)| *d).collect();
        known.ok_or_else(|| OpError::UnknownSize(format!("the input shape {:?} is not fully known", self.shape)))
    }

    /// The permutation [`SourceTensor`] records (`None` in the ONNX layout).
    pub(crate) fn permutation(&self) -> Option<Vec<usize>> {
        (self.layout != identity(self.rank())).then(|| self.layout.clone())
    }

    /// Whether the TF node's elements come in ONNX (row-major) order once the batch is put
    /// first, so a reshape can read them as they are: true when only axes of size 1 are out
    /// of place.
    pub(crate) fn in_onnx_order(&self) -> bool {
        keeps_order(&self.expanded(), &self.layout)
    }

    /// The same data seen as ONNX tensor `y` with `y.axis[i] = self.axis[perm[i]]` (an ONNX
    /// `Transpose`, or a reshape that only moves axes of size 1): no TF node is needed.
    pub(crate) fn relabelled(&self, perm: &[usize]) -> Tensor {
        let groups = self.expanded_groups();
        let expanded_perm: Vec<usize> = perm.iter().flat_map(|&p| groups[p].iter().map(|&(a, _)| a)).collect();
        let mut inverse = vec![0; expanded_perm.len()];
        for (i, &p) in expanded_perm.iter().enumerate() {
            inverse[p] = i;
        }
        let merge = self
            .merge
            .as_ref()
            .map(|m| Merge { axis: perm.iter().position(|&p| p == m.axis).unwrap_or(m.axis), ..m.clone() });
        Tensor {
            node: self.node.clone(),
            shape: permuted(&self.shape, perm),
            layout: self.layout.iter().map(|&a| inverse[a]).collect(),
            merge,
        }
    }
}

pub(crate) fn identity(rank: usize) -> Vec<usize> {
    (0..rank).collect()
}

/// The layout holding the batch (ONNX axis `batch`) first and the other axes in ONNX order:
/// the identity when the batch is axis 0.
pub(crate) fn batch_first(rank: usize, batch: usize) -> Vec<usize> {
    std::iter::once(batch).chain((0..rank).filter(|&axis| axis != batch)).collect()
}

/// Whether holding a tensor of `shape` in `layout` keeps its elements in ONNX (row-major)
/// order after the batch (TF axis 0): only axes of size 1 may be out of place.
pub(crate) fn keeps_order(shape: &[Option<usize>], layout: &[usize]) -> bool {
    let moved: Vec<usize> = layout.iter().skip(1).copied().filter(|&axis| shape[axis] != Some(1)).collect();
    moved.windows(2).all(|pair| pair[0] < pair[1])
}

/// The permutation `p` (output axis `i` = input axis `p[i]`) when reshaping `from` to `to`
/// only moves axes of size 1, which leaves the elements in order.
pub(crate) fn unit_axis_move(from: &[Option<usize>], to: &[Option<usize>]) -> Option<Vec<usize>> {
    if from.len() != to.len() {
        return None;
    }
    let is_unit = |d: &Option<usize>| *d == Some(1);
    let mut units = (0..from.len()).filter(|&a| is_unit(&from[a]));
    let mut others = (0..from.len()).filter(|&a| !is_unit(&from[a]));
    to.iter().map(|d| if is_unit(d) { units.next() } else { others.next().filter(|&a| from[a] == *d) }).collect()
}

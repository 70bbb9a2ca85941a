//! Exact edits along one non-batch axis of a tensor of rank 2 to 5, built from standard
//! layers that every loader (tf-keras, Keras 3, tfjs) runs identically:
//! - [`crop`](Steps::crop) / [`zero_pad`](Steps::zero_pad): keep `start..stop` of the axis
//!   or add zeros: `Cropping{1,2,3}D` / `ZeroPadding{1,2,3}D` on a spatial axis; the last axis
//!   is first swapped with axis 1 by `Permute` (and back); a rank-2 tensor is seen as
//!   (batch, len, 1) by `Reshape`.
//! - [`subsample`](Steps::subsample): keep every `step`-th cell of the axis from the first:
//!   `AveragePooling{1,2,3}D` with a pool of 1 and stride `step` (the mean of one cell is
//!   that cell, exactly, NaN and infinities included, in every loader; the axis is brought
//!   to a spatial place as for a crop).
//! - [`linear_map`](Steps::linear_map): `y[.., j, ..] = Σ_i x[.., i, ..] · matrix[i, j]`: the axis is swapped
//!   last by `Permute`, a bias-free `Dense` with `matrix` as kernel maps it, and `Permute`
//!   swaps it back. Reversal (mirror padding) and interpolation (bilinear resize) are such
//!   maps; where each output reads one input with weight 1, the sum is exact.
//!
//! Each step is an inner layer named after `name`; the caller records the last one as its
//! node's output.

use ndarray::Array2;
use tf2h5_keras::layers;
use tf2h5_keras::spec::{LayerSpec, Padding, Pool, PoolKind, ResampleKind, Sides, Window};

use crate::context::{Context, KTensor};

/// Adds the steps of one edit as inner layers named `{name}_{step}`.
pub(crate) struct Steps<'c, 'g> {
    ctx: &'c mut Context<'g>,
    name: String,
}

impl<'c, 'g> Steps<'c, 'g> {
    /// Steps for the layer family of `name` (the node's Keras layer name).
    pub(crate) fn new(ctx: &'c mut Context<'g>, name: &str) -> Self {
        Steps { ctx, name: name.to_string() }
    }

    fn add(
        &mut self,
        step: &str,
        shape: Vec<Option<usize>>,
        build: impl FnOnce(&str) -> tf2h5_keras::Layer,
    ) -> KTensor {
        let name = self.ctx.layer_name(&format!("{}_{step}", self.name));
        self.ctx.add_inner_layer(build(&name), shape)
    }

    /// `Permute` exchanging axes `a` and `b` (0-based, incl. batch; neither the batch).
    fn swap(&mut self, x: &KTensor, a: usize, b: usize) -> KTensor {
        if a == b {
            return x.clone();
        }
        let mut dims: Vec<usize> = (1..x.rank()).collect();
        dims.swap(a - 1, b - 1);
        let mut shape = x.shape.clone();
        shape.swap(a, b);
        let input = x.layer.clone();
        self.add("permute", shape, |name| layers::permute(name, input, &dims))
    }

    /// `x` with `axis` cut to `start..stop` (a copy of `x` if that is the whole axis).
    pub(crate) fn crop(&mut self, x: &KTensor, axis: usize, start: usize, stop: usize) -> Result<KTensor, String> {
        let len = checked_axis(x, axis)?;
        if start > stop || stop > len {
            return Err(format!("range {start}..{stop} does not fit axis {axis} of {:?}", x.shape));
        }
        self.sides(x, axis, ResampleKind::Cropping, [start, len - stop])
    }

    /// `x` with `before` and `after` zeros added to `axis`.
    pub(crate) fn zero_pad(
        &mut self,
        x: &KTensor,
        axis: usize,
        before: usize,
        after: usize,
    ) -> Result<KTensor, String> {
        self.sides(x, axis, ResampleKind::ZeroPadding, [before, after])
    }

    /// A crop or zero padding of `axis` by (before, after) cells.
    fn sides(&mut self, x: &KTensor, axis: usize, kind: ResampleKind, sides: [usize; 2]) -> Result<KTensor, String> {
        if sides == [0, 0] {
            return Ok(x.clone());
        }
        self.on_spatial_axis(x, axis, |steps, x, axis| {
            let mut all = vec![[0usize; 2]; x.rank() - 2];
            all[axis - 1] = sides;
            steps.sides_layer(x, kind, all)
        })
    }

    /// `x` keeping cells 0, `step`, 2·`step`... of `axis`.
    pub(crate) fn subsample(&mut self, x: &KTensor, axis: usize, step: usize) -> Result<KTensor, String> {
        if step == 1 {
            return Ok(x.clone());
        }
        self.on_spatial_axis(x, axis, |steps, x, axis| {
            let mut strides = vec![1; x.rank() - 2];
            strides[axis - 1] = step;
            steps.subsample_layer(x, strides)
        })
    }

    /// `AveragePooling{rank - 2}D` with a pool of 1 and `strides` per spatial axis.
    fn subsample_layer(&mut self, x: &KTensor, strides: Vec<usize>) -> Result<KTensor, String> {
        let spatial = strides.len();
        let window = Window { kernel: vec![1; spatial], strides, dilation: vec![1; spatial], padding: Padding::Valid };
        let spec = Pool { kind: PoolKind::Average, window };
        let shape = spec.output_shape(&x.shape)?;
        let input = x.layer.clone();
        Ok(self.add("subsample", shape, |name| LayerSpec::Pool(spec).layer(name, vec![input], vec![])))
    }

    /// Applies `edit` to a spatial axis of a rank-3 to rank-5 tensor: `axis` itself, else the
    /// last axis swapped with axis 1 by `Permute` (and back), a rank-2 tensor seen as
    /// (batch, len, 1) by `Reshape` (and back).
    fn on_spatial_axis(
        &mut self,
        x: &KTensor,
        axis: usize,
        edit: impl FnOnce(&mut Self, &KTensor, usize) -> Result<KTensor, String>,
    ) -> Result<KTensor, String> {
        let rank = x.rank();
        let len = checked_axis(x, axis)?;
        if rank == 2 {
            let column = self.reshape(x, &[len, 1]);
            let edited = edit(self, &column, 1)?;
            let edited_len = edited.shape[1].ok_or("unknown length")?;
            return Ok(self.reshape(&edited, &[edited_len]));
        }
        if axis == rank - 1 {
            let swapped = self.swap(x, 1, axis);
            let edited = edit(self, &swapped, 1)?;
            return Ok(self.swap(&edited, 1, axis));
        }
        edit(self, x, axis)
    }

    /// `x` cut to `start..stop` on each `(axis, start, stop, step)` keeping every `step`-th
    /// cell: the crops, then one subsampling layer for the spatial axes of a rank-3 to rank-5
    /// tensor and one [`subsample`](Self::subsample) per other axis.
    pub(crate) fn slice_axes(
        &mut self,
        x: &KTensor,
        ranges: &[(usize, usize, usize, usize)],
    ) -> Result<KTensor, String> {
        let crops: Vec<(usize, usize, usize)> =
            ranges.iter().map(|&(axis, start, stop, _)| (axis, start, stop)).collect();
        let mut sliced = self.crop_axes(x, &crops)?;
        let rank = x.rank();
        let spatial = |axis: usize| (3..=5).contains(&rank) && axis + 1 < rank;
        let mut strides = vec![1; rank.saturating_sub(2)];
        for &(axis, .., step) in ranges.iter().filter(|&&(axis, ..)| spatial(axis)) {
            strides[axis - 1] = step;
        }
        if strides.iter().any(|&s| s > 1) {
            sliced = self.subsample_layer(&sliced, strides)?;
        }
        let mut others = ranges.iter().filter(|&&(axis, ..)| !spatial(axis));
        others.try_fold(sliced, |x, &(axis, .., step)| self.subsample(&x, axis, step))
    }

    /// `x` cut to `start..stop` on each `(axis, start, stop)`: one `Cropping` layer when all
    /// are spatial axes of a rank-3 to rank-5 tensor, else one [`crop`](Self::crop) per axis.
    fn crop_axes(&mut self, x: &KTensor, ranges: &[(usize, usize, usize)]) -> Result<KTensor, String> {
        let rank = x.rank();
        if ranges.len() < 2 || !(3..=5).contains(&rank) || ranges.iter().any(|&(axis, ..)| axis + 1 >= rank) {
            return ranges.iter().try_fold(x.clone(), |x, &(axis, start, stop)| self.crop(&x, axis, start, stop));
        }
        let mut sides = vec![[0usize; 2]; rank - 2];
        for &(axis, start, stop) in ranges {
            let len = checked_axis(x, axis)?;
            if start > stop || stop > len {
                return Err(format!("range {start}..{stop} does not fit axis {axis} of {:?}", x.shape));
            }
            sides[axis - 1] = [start, len - stop];
        }
        self.sides_layer(x, ResampleKind::Cropping, sides)
    }

    /// `Cropping{rank - 2}D` or `ZeroPadding{rank - 2}D` of (before, after) cells per spatial axis.
    fn sides_layer(&mut self, x: &KTensor, kind: ResampleKind, sides: Vec<[usize; 2]>) -> Result<KTensor, String> {
        let spec = Sides { kind, sides };
        let shape = spec.output_shape(&x.shape)?;
        let input = x.layer.clone();
        let step = if kind == ResampleKind::Cropping { "crop" } else { "pad" };
        Ok(self.add(step, shape, |name| LayerSpec::Sides(spec).layer(name, vec![input], vec![])))
    }

    /// `x` with `axis` mapped by `matrix` (axis length × new length).
    pub(crate) fn linear_map(&mut self, x: &KTensor, axis: usize, matrix: Array2<f32>) -> Result<KTensor, String> {
        let len = checked_axis(x, axis)?;
        if matrix.nrows() != len {
            return Err(format!("a {:?} map does not fit axis {axis} of {:?}", matrix.shape(), x.shape));
        }
        let last = x.rank() - 1;
        let swapped = self.swap(x, axis, last);
        let mut shape = swapped.shape.clone();
        shape[last] = Some(matrix.ncols());
        let input = swapped.layer.clone();
        let mapped = self.add("map", shape, |name| layers::dense(name, input, matrix.into_dyn(), None, "linear"));
        Ok(self.swap(&mapped, axis, last))
    }

    /// `Reshape` of the non-batch axes to `target`.
    pub(crate) fn reshape(&mut self, x: &KTensor, target: &[usize]) -> KTensor {
        let shape = std::iter::once(x.shape[0]).chain(target.iter().map(|&d| Some(d))).collect();
        let input = x.layer.clone();
        self.add("reshape", shape, |name| layers::reshape(name, input, target))
    }

    /// `Concatenate` of `parts` along `axis`.
    pub(crate) fn concatenate(&mut self, parts: &[KTensor], axis: usize) -> KTensor {
        let mut shape = parts[0].shape.clone();
        shape[axis] = parts.iter().map(|t| t.shape[axis]).try_fold(0usize, |sum, d| d.map(|d| sum + d));
        let inputs = parts.iter().map(|t| t.layer.clone()).collect();
        self.add("concat", shape, |name| layers::concatenate(name, inputs, axis as i64))
    }
}

/// The known length of `axis`, which must be a non-batch axis of a rank-2 to rank-5 tensor.
fn checked_axis(x: &KTensor, axis: usize) -> Result<usize, String> {
    if !(2..=5).contains(&x.rank()) || axis == 0 || axis >= x.rank() {
        return Err(format!("axis {axis} of a tensor shaped {:?} (only non-batch axes, rank 2 to 5)", x.shape));
    }
    x.shape[axis].ok_or_else(|| format!("axis {axis} of {:?} has an unknown length", x.shape))
}

//! Integers derived from static shapes, possibly involving the batch size: what a graph's
//! shape arithmetic (`Shape` → `Gather` → `Concat` → a `Reshape` target) folds to when every
//! dimension but the batch is known. Shared by the converter (TF ops) and the ONNX
//! translator (ONNX ops), which fold the same values.

/// One entry of [`Dims`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// A known integer.
    Known(i64),
    /// `k` times the batch size.
    Batch(i64),
}

impl Dim {
    /// `self + other` (`- other` with `subtract`): known values, or a batch multiple plus 0.
    pub fn add(self, other: Dim, subtract: bool) -> Option<Dim> {
        match (self, other) {
            (Dim::Known(x), Dim::Known(y)) => {
                Some(Dim::Known(if subtract { x.checked_sub(y)? } else { x.checked_add(y)? }))
            }
            (batch @ Dim::Batch(_), Dim::Known(0)) => Some(batch),
            (Dim::Known(0), batch @ Dim::Batch(_)) if !subtract => Some(batch),
            _ => None,
        }
    }

    /// `self · other`: known values, or a batch multiple times a known value.
    pub fn checked_mul(self, other: Dim) -> Option<Dim> {
        match (self, other) {
            (Dim::Known(x), Dim::Known(y)) => Some(Dim::Known(x.checked_mul(y)?)),
            (Dim::Batch(k), Dim::Known(y)) | (Dim::Known(y), Dim::Batch(k)) => Some(Dim::Batch(k.checked_mul(y)?)),
            _ => None,
        }
    }

    /// `self / other` for non-negative known values (where truncating and flooring agree), or
    /// a batch multiple divided exactly.
    pub fn checked_div(self, other: Dim) -> Option<Dim> {
        match (self, other) {
            (Dim::Known(x), Dim::Known(y)) if x >= 0 && y > 0 => Some(Dim::Known(x / y)),
            (Dim::Batch(k), Dim::Known(y)) if y > 0 && k % y == 0 => Some(Dim::Batch(k / y)),
            _ => None,
        }
    }
}

/// An integer scalar or vector derived from static shapes, possibly involving the batch size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims {
    /// The entries (one for a scalar).
    pub values: Vec<Dim>,
    /// Whether the value is a scalar rather than a vector.
    pub scalar: bool,
}

impl Dims {
    /// The shape of a tensor whose only unknown dimension is the batch (first): the batch is
    /// `Batch(1)`, every other dimension known; `None` if another is unknown.
    pub fn of_shape(shape: &[Option<usize>]) -> Option<Dims> {
        let values = shape
            .iter()
            .enumerate()
            .map(|(i, d)| match (i, d) {
                (0, None) => Some(Dim::Batch(1)),
                (_, Some(d)) => Some(Dim::Known(*d as i64)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Dims { values, scalar: false })
    }

    /// The plain integers when nothing depends on the batch size.
    pub fn known(&self) -> Option<Vec<i64>> {
        self.values.iter().map(|d| if let Dim::Known(v) = d { Some(*v) } else { None }).collect()
    }

    /// Gathering entries of a vector (negative indices count from the end); a scalar index
    /// gives a scalar. `None` for a scalar or an index out of range.
    pub fn gather(&self, indices: &[i64], scalar: bool) -> Option<Dims> {
        if self.scalar {
            return None;
        }
        let n = self.values.len() as i64;
        let values = indices
            .iter()
            .map(|&i| usize::try_from(if i < 0 { i + n } else { i }).ok().and_then(|i| self.values.get(i).copied()))
            .collect::<Option<Vec<_>>>()?;
        Some(Dims { values, scalar })
    }

    /// `f` entry by entry, a single value broadcasting against the other side; `None` on
    /// lengths that do not broadcast or where `f` gives none.
    pub fn zip_with(&self, other: &Dims, f: impl Fn(Dim, Dim) -> Option<Dim>) -> Option<Dims> {
        let (n, m) = (self.values.len(), other.values.len());
        let len = if n == m || m == 1 {
            n
        } else if n == 1 {
            m
        } else {
            return None;
        };
        let pick = |d: &Dims, i: usize| if d.values.len() == 1 { d.values[0] } else { d.values[i] };
        let values = (0..len).map(|i| f(pick(self, i), pick(other, i))).collect::<Option<Vec<_>>>()?;
        Some(Dims { values, scalar: self.scalar && other.scalar })
    }

    /// Vectors joined end to end; `None` if any part is a scalar.
    pub fn concat(parts: &[Dims]) -> Option<Dims> {
        if parts.iter().any(|p| p.scalar) {
            return None;
        }
        Some(Dims { values: parts.iter().flat_map(|p| p.values.iter().copied()).collect(), scalar: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_and_joins_shape_entries() {
        let shape = Dims::of_shape(&[None, Some(7), Some(3)]).unwrap();
        assert_eq!(shape.gather(&[0], true), Some(Dims { values: vec![Dim::Batch(1)], scalar: true }));
        assert_eq!(shape.gather(&[-1, 1], false).and_then(|d| d.known()), Some(vec![3, 7]));
        assert_eq!(shape.gather(&[3], false), None);
        let minus_one = Dims { values: vec![Dim::Known(-1)], scalar: false };
        let batch = shape.gather(&[0], false).unwrap();
        assert_eq!(Dims::concat(&[batch, minus_one]).unwrap().values, vec![Dim::Batch(1), Dim::Known(-1)]);
        assert_eq!(Dims::concat(&[shape.gather(&[1], true).unwrap()]), None);
        assert_eq!(Dims::of_shape(&[None, None]), None);
    }

    /// ShuffleNet's `(channels + 1) // 2 · 1` and a flatten's batch · h · w.
    #[test]
    fn arithmetic_keeps_the_batch_symbolic() {
        let channels = Dims { values: vec![Dim::Known(116)], scalar: true };
        let one = Dims { values: vec![Dim::Known(1)], scalar: true };
        let two = Dims { values: vec![Dim::Known(2)], scalar: true };
        let half = channels.zip_with(&one, |a, b| a.add(b, false)).and_then(|d| d.zip_with(&two, Dim::checked_div));
        assert_eq!(half.and_then(|d| d.known()), Some(vec![58]));
        assert_eq!(Dim::Batch(1).checked_mul(Dim::Known(49)), Some(Dim::Batch(49)));
        assert_eq!(Dim::Batch(4).checked_div(Dim::Known(2)), Some(Dim::Batch(2)));
        assert_eq!(Dim::Batch(1).checked_div(Dim::Known(2)), None);
        assert_eq!(Dim::Batch(1).add(Dim::Known(1), false), None);
        assert_eq!(Dim::Known(-7).checked_div(Dim::Known(2)), None);
        let pair = Dims { values: vec![Dim::Known(3), Dim::Known(4)], scalar: false };
        assert_eq!(pair.zip_with(&Dims { values: vec![Dim::Known(1); 3], scalar: false }, Dim::checked_mul), None);
    }
}

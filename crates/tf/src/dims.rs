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
}

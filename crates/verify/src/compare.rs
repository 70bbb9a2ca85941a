//! Element-wise comparison with absolute and relative tolerances.

use approx::relative_eq;
use ndarray::ArrayD;
use serde::Serialize;

/// An element passes if |a − b| ≤ `atol`, or if |a − b| ≤ `rtol` · max(|a|, |b|).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tolerance {
    /// Absolute tolerance.
    pub atol: f32,
    /// Relative tolerance.
    pub rtol: f32,
}

impl Default for Tolerance {
    /// atol 1e-4, rtol 1e-3: f32 reassociation over thousands of terms stays well inside,
    /// a wrong epsilon, padding or weight order does not (see the fixtures' sensitivities).
    fn default() -> Self {
        Tolerance { atol: 1e-4, rtol: 1e-3 }
    }
}

impl Tolerance {
    /// The least a source that computes in float16 (Keras mixed precision) is compared at:
    /// float16 keeps 11 significant bits (a relative step of 4.9e-4 per rounding), and the
    /// `.h5` computes in float32, so the two differ by the source's accumulated rounding.
    pub const HALF_PRECISION: Tolerance = Tolerance { atol: 1e-2, rtol: 1e-2 };

    /// The larger of each bound of `self` and `other`.
    pub fn at_least(self, other: Tolerance) -> Tolerance {
        Tolerance { atol: self.atol.max(other.atol), rtol: self.rtol.max(other.rtol) }
    }
}

/// Error statistics of one tensor (or a merge of several).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Largest |a − b|.
    pub max_abs_err: f32,
    /// Largest |a − b| / |expected| over elements with expected ≠ 0.
    pub max_rel_err: f32,
    /// Largest |expected| (the output's scale).
    pub max_abs_expected: f32,
    /// Elements compared.
    pub elements: usize,
    /// Elements outside the tolerance (NaN/inf mismatches included).
    pub failures: usize,
    /// Why nothing could be compared, if so (shape mismatch, missing tensor).
    pub problem: Option<String>,
}

impl Default for Comparison {
    fn default() -> Self {
        Comparison {
            max_abs_err: 0.0,
            max_rel_err: 0.0,
            max_abs_expected: 0.0,
            elements: 0,
            failures: 0,
            problem: None,
        }
    }
}

impl Comparison {
    /// All elements within tolerance and nothing missing.
    pub fn passed(&self) -> bool {
        self.failures == 0 && self.problem.is_none() && self.elements > 0
    }

    /// A tensor the engine did not produce.
    pub fn missing() -> Self {
        Comparison { problem: Some("no output".into()), ..Default::default() }
    }

    /// Accumulates another comparison (e.g. another sample).
    pub fn merge(&mut self, other: &Comparison) {
        self.max_abs_err = self.max_abs_err.max(other.max_abs_err);
        self.max_rel_err = self.max_rel_err.max(other.max_rel_err);
        self.max_abs_expected = self.max_abs_expected.max(other.max_abs_expected);
        self.elements += other.elements;
        self.failures += other.failures;
        if self.problem.is_none() {
            self.problem.clone_from(&other.problem);
        }
    }
}

/// Compares `actual` against `expected`.
pub fn compare(expected: &ArrayD<f32>, actual: &ArrayD<f32>, tolerance: Tolerance) -> Comparison {
    if expected.shape() != actual.shape() {
        return Comparison {
            problem: Some(format!("shape {:?} differs from expected {:?}", actual.shape(), expected.shape())),
            ..Default::default()
        };
    }
    let mut result = Comparison { elements: expected.len(), ..Default::default() };
    for (&e, &a) in expected.iter().zip(actual.iter()) {
        let diff = (e - a).abs();
        let same_non_finite = e == a; // equal infinities
        if !same_non_finite && !relative_eq!(e, a, epsilon = tolerance.atol, max_relative = tolerance.rtol) {
            result.failures += 1;
        }
        if diff.is_nan() && !same_non_finite {
            result.max_abs_err = f32::INFINITY;
            result.max_rel_err = f32::INFINITY;
            continue;
        }
        if diff.is_finite() {
            result.max_abs_err = result.max_abs_err.max(diff);
            if e != 0.0 {
                result.max_rel_err = result.max_rel_err.max(diff / e.abs());
            }
        }
        result.max_abs_expected = result.max_abs_expected.max(e.abs());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    fn cmp(e: &[f32], a: &[f32]) -> Comparison {
        compare(&arr1(e).into_dyn(), &arr1(a).into_dyn(), Tolerance::default())
    }

    #[test]
    fn tolerances_are_absolute_or_relative() {
        assert!(cmp(&[1.0, 0.0], &[1.0, 5e-5]).passed());
        assert!(cmp(&[1000.0], &[1000.5]).passed()); // relative 5e-4
        let far = cmp(&[1.0], &[1.01]);
        assert!(!far.passed());
        assert!((far.max_abs_err - 0.01).abs() < 1e-6);
    }

    #[test]
    fn nan_and_shape_mismatch_fail() {
        assert!(!cmp(&[1.0], &[f32::NAN]).passed());
        assert!(!cmp(&[f32::NAN], &[f32::NAN]).passed());
        assert!(!compare(&arr1(&[1.0f32]).into_dyn(), &arr1(&[1.0f32, 2.0]).into_dyn(), Tolerance::default()).passed());
    }
}

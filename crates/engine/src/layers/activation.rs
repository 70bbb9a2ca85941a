//! Keras `Activation`, and the activation table shared with the `activation` key of `Dense`
//! and `Conv2D` (one definition, so the three can never disagree).
//!
//! Only activations whose definition is the same in tf-keras 2.x and Keras 3 are accepted
//! (`hard_sigmoid`, for one, differs between them). Formulas follow TF's kernels: `gelu` is
//! the exact erf form (Keras's default `approximate=False`), `elu` has alpha 1, `selu` uses
//! Keras's constants, `softmax` and `log_softmax` run over the last axis.

use ndarray::{ArrayD, ArrayViewMut1};

use crate::config::LayerConfig;
use crate::tensor::{self, Input};
use crate::EngineError;
use tf2h5_keras::Layer;

/// An element-wise (or, for softmax, last-axis) activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
    LogSoftmax,
    Swish,
    Gelu,
    Elu,
    Selu,
    Softplus,
    Softsign,
    Exponential,
}

// TF's selu kernel multiplies by the precomputed product scale * alpha.
const SELU_SCALE: f32 = 1.050_700_987_355_480_5_f64 as f32;
const SELU_SCALE_ALPHA: f32 = 1.758_099_340_847_376_9_f64 as f32;

impl Activation {
    /// The activation called `name`, or an error naming the layer and the activation.
    pub fn parse(cfg: &LayerConfig<'_>, name: &str) -> Result<Self, EngineError> {
        Ok(match name {
            "linear" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            "log_softmax" => Activation::LogSoftmax,
            "swish" => Activation::Swish,
            "gelu" => Activation::Gelu,
            "elu" => Activation::Elu,
            "selu" => Activation::Selu,
            "softplus" => Activation::Softplus,
            "softsign" => Activation::Softsign,
            "exponential" => Activation::Exponential,
            other => return Err(cfg.unsupported(format!("activation '{other}'"))),
        })
    }

    /// The function on one value (every activation but the softmaxes).
    #[inline]
    fn scalar(self, x: f32) -> f32 {
        match self {
            Activation::Linear | Activation::Softmax | Activation::LogSoftmax => x,
            // `x < 0` rather than `max` so that NaN propagates as in TF.
            Activation::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Swish => x * sigmoid(x),
            Activation::Gelu => {
                let x = f64::from(x);
                (0.5 * x * (1.0 + erf(x * std::f64::consts::FRAC_1_SQRT_2))) as f32
            }
            Activation::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Activation::Selu => {
                if x > 0.0 {
                    SELU_SCALE * x
                } else {
                    SELU_SCALE_ALPHA * x.exp_m1()
                }
            }
            // log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
            Activation::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Activation::Softsign => x / (1.0 + x.abs()),
            Activation::Exponential => x.exp(),
        }
    }

    /// Applies the activation in place to `data`, a row-major buffer whose last axis has
    /// `row_len` elements (softmax normalises each such row).
    pub fn apply_rows(self, data: &mut [f32], row_len: usize) {
        match self {
            Activation::Linear => {}
            Activation::Softmax => tensor::for_each_row(data, row_len, |row| softmax_lane(tensor::lane(row))),
            Activation::LogSoftmax => tensor::for_each_row(data, row_len, |row| log_softmax_lane(tensor::lane(row))),
            _ => data.iter_mut().for_each(|v| *v = self.scalar(*v)),
        }
    }

    /// Applies the activation to a whole tensor (softmax over its last axis), in parallel.
    pub fn apply(self, mut x: ArrayD<f32>) -> ArrayD<f32> {
        match self {
            Activation::Linear => {}
            Activation::Softmax | Activation::LogSoftmax => {
                if !x.is_standard_layout() {
                    x = x.as_standard_layout().into_owned();
                }
                let row_len = x.shape().last().copied().unwrap_or(1);
                if let Some(data) = x.as_slice_mut() {
                    self.apply_rows(data, row_len);
                }
            }
            _ => tensor::map_inplace(&mut x, move |v| self.scalar(v)),
        }
        x
    }
}

/// The logistic function, without overflow for large |x|.
#[inline]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Softmax of one lane in place: subtract the max so `exp` cannot overflow; sum in f64.
pub(crate) fn softmax_lane(mut lane: ArrayViewMut1<'_, f32>) {
    let max = lane.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    lane.iter_mut().for_each(|v| {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    });
    let sum = sum as f32;
    lane.iter_mut().for_each(|v| *v /= sum);
}

/// Log-softmax of one lane in place, as TF's kernel: (x − max) − log(Σ exp(x − max)), the sum
/// in f64.
fn log_softmax_lane(mut lane: ArrayViewMut1<'_, f32>) {
    let max = lane.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = lane.iter().map(|&v| f64::from((v - max).exp())).sum();
    let log_sum = sum.ln() as f32;
    lane.iter_mut().for_each(|v| *v = (*v - max) - log_sum);
}

/// The error function in f64 (libm's, from FreeBSD's msun: within an ulp, and fast enough for
/// every GELU of a ConvNeXt, where a Taylor series took half the engine's time).
pub(crate) fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// Keras `Activation`.
pub(crate) fn apply(layer: &Layer, inputs: Vec<Input<'_>>) -> Result<ArrayD<f32>, EngineError> {
    let cfg = LayerConfig::new(layer);
    let x = super::single_input(&cfg, inputs)?;
    let name = cfg.opt_str("activation")?.ok_or_else(|| cfg.invalid("config key 'activation' is missing"))?;
    let activation = Activation::parse(&cfg, name)?;
    if x.ndim() == 0 && matches!(activation, Activation::Softmax | Activation::LogSoftmax) {
        return Err(cfg.shape("softmax needs at least one axis"));
    }
    Ok(activation.apply(tensor::into_standard(x)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::array;
    use tf2h5_keras::layers;

    fn run(name: &str, x: ArrayD<f32>) -> Result<ArrayD<f32>, EngineError> {
        apply(&layers::activation("act", "x".into(), name), vec![Input::Owned(x)])
    }

    #[test]
    fn log_softmax_is_the_log_of_softmax() {
        let x = array![[1.0f32, 2.0, 3.0], [1000.0, 0.0, -1000.0]].into_dyn();
        let logs = run("log_softmax", x.clone()).unwrap();
        // From tf.nn.log_softmax; the second row's large values must not overflow.
        assert_abs_diff_eq!(logs[[0, 0]], -2.407_606, epsilon = 1e-5);
        assert_abs_diff_eq!(logs[[0, 2]], -0.407_605_97, epsilon = 1e-5);
        assert_eq!(logs[[1, 0]], 0.0);
        assert_eq!(logs[[1, 1]], -1000.0);
        let probs = run("softmax", x).unwrap();
        for (log, prob) in logs.iter().zip(&probs) {
            assert_abs_diff_eq!(log.exp(), *prob, epsilon = 1e-6);
        }
    }

    #[test]
    fn erf_matches_reference_values() {
        // Values from Python's math.erf.
        for &(x, want) in &[
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (2.5, 0.999593047982555),
            (3.0, 0.9999779095030014),
            (-1.5, -0.9661051464753108),
            (6.0, 1.0),
        ] {
            assert_abs_diff_eq!(erf(x), want, epsilon = 1e-14);
        }
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    fn elementwise_activations() {
        let x = array![[-2.0f32, -0.5, 0.0, 1.0, 3.0]].into_dyn();
        let check = |name: &str, f: &dyn Fn(f64) -> f64| {
            let y = run(name, x.clone()).unwrap();
            for (&xi, &yi) in x.iter().zip(y.iter()) {
                assert_abs_diff_eq!(f64::from(yi), f(f64::from(xi)), epsilon = 1e-6);
            }
        };
        check("linear", &|v| v);
        check("relu", &|v| v.max(0.0));
        check("sigmoid", &|v| 1.0 / (1.0 + (-v).exp()));
        check("tanh", &|v| v.tanh());
        check("swish", &|v| v / (1.0 + (-v).exp()));
        check("gelu", &|v| 0.5 * v * (1.0 + erf(v / 2f64.sqrt())));
        check("elu", &|v| if v > 0.0 { v } else { v.exp() - 1.0 });
        check("selu", &|v| 1.0507009873554805 * if v > 0.0 { v } else { 1.6732632423543772 * (v.exp() - 1.0) });
        check("softplus", &|v| (1.0 + v.exp()).ln());
        check("softsign", &|v| v / (1.0 + v.abs()));
        check("exponential", &|v| v.exp());
        // gelu(1) = 0.8413447460685429 (0.5 * (1 + erf(1/sqrt 2))).
        let g = run("gelu", array![1.0f32].into_dyn()).unwrap();
        assert_abs_diff_eq!(f64::from(g[[0]]), 0.841_344_746_068_542_9, epsilon = 1e-7);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let x = array![[-1000.0f32, 1000.0]].into_dyn();
        assert_eq!(run("sigmoid", x.clone()).unwrap(), array![[0.0f32, 1.0]].into_dyn());
        assert_eq!(run("softplus", x.clone()).unwrap(), array![[0.0f32, 1000.0]].into_dyn());
        assert_eq!(run("softmax", x).unwrap(), array![[0.0f32, 1.0]].into_dyn());
        assert!(run("relu", array![[f32::NAN]].into_dyn()).unwrap()[[0, 0]].is_nan());
    }

    #[test]
    fn softmax_is_over_the_last_axis() {
        let x = array![[[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]]].into_dyn();
        let y = run("softmax", x).unwrap();
        let e = [1f64.exp(), 2f64.exp(), 3f64.exp()];
        let s: f64 = e.iter().sum();
        for i in 0..3 {
            assert_abs_diff_eq!(f64::from(y[[0, 0, i]]), e[i] / s, epsilon = 1e-7);
            assert_abs_diff_eq!(y[[0, 1, i]], 1.0 / 3.0, epsilon = 1e-7);
        }
    }

    #[test]
    fn unknown_activation_names_layer_and_activation() {
        let err = run("hard_sigmoid", array![[1.0f32]].into_dyn()).unwrap_err().to_string();
        assert!(err.contains("'act'") && err.contains("hard_sigmoid"), "{err}");
    }
}

//! The oracle of a Keras 1 layer, computed from its own config keys and weight layout as Keras
//! 1.2 did: `Dense`, `Convolution2D` (channels last: `border_mode`, `subsample`) and the 2-D
//! poolings directly, `LSTM` and `GRU` gate by gate from their per-gate weights (Keras 1's
//! i, c, f, o and z, r, h orders; its GRU resets before the recurrent kernel). Written
//! independently of `tf2h5_upgrade::keras1`, which translates the same layers for the rewrite.

use ndarray::{s, Array1, Array2, Array4, ArrayD, ArrayView4, Axis, Ix1, Ix2, Ix3, Ix4};
use serde_json::{json, Value};
use tf2h5_upgrade::LegacyLayer;

use super::keras_source::{oracle_error, standard_layer};
use crate::VerifyError;

/// The layer's output on its inputs.
pub fn run_keras1_layer(layer: &LegacyLayer, args: &[&ArrayD<f32>]) -> Result<ArrayD<f32>, VerifyError> {
    let fail = |message: &str| oracle_error(&layer.name, message);
    let config = &layer.config;
    let x = *args.first().ok_or_else(|| fail("no input"))?;
    let weight = |k: usize| layer.weights.get(k).map(|w| &w.value).ok_or_else(|| fail(&format!("no weight {k}")));
    let str_key =
        |key: &str, default: &'static str| config.get(key).and_then(Value::as_str).unwrap_or(default).to_string();
    let pair = |key: &str, default: [usize; 2]| -> [usize; 2] {
        match config.get(key).and_then(Value::as_array).map(|v| v.iter().filter_map(Value::as_u64).collect::<Vec<_>>())
        {
            Some(v) if v.len() == 2 => [v[0] as usize, v[1] as usize],
            _ => default,
        }
    };
    if config.get("dim_ordering").is_some_and(|d| d != "tf") {
        return Err(fail("only dim_ordering 'tf' is known to the oracle"));
    }
    let has_bias = config.get("bias").and_then(Value::as_bool).unwrap_or(true);
    let linear = match layer.class_name.as_str() {
        "Dense" => {
            let x2 = x.view().into_dimensionality::<Ix2>().map_err(|_| fail("Dense on a tensor of rank != 2"))?;
            let w = weight(0)?.view().into_dimensionality::<Ix2>().map_err(|_| fail("W is not a matrix"))?;
            if w.nrows() != x2.ncols() {
                return Err(fail(&format!("W of shape {:?} for {} features", w.dim(), x2.ncols())));
            }
            with_bias(x2.dot(&w).into_dyn(), has_bias.then(|| weight(1)).transpose()?).map_err(|e| fail(&e))?
        }
        "Convolution2D" => {
            let kernel = weight(0)?.view().into_dimensionality::<Ix4>().map_err(|_| fail("W is not 4-D"))?;
            let input = x.view().into_dimensionality::<Ix4>().map_err(|_| fail("input is not NHWC"))?;
            let (kh, kw, channels, filters) = kernel.dim();
            if channels != input.dim().3 {
                return Err(fail(&format!("W of shape {:?} for {} channels", kernel.dim(), input.dim().3)));
            }
            let grid = Grid::new(&input, [kh, kw], pair("subsample", [1, 1]), &str_key("border_mode", "valid"));
            let mut y = Array4::<f32>::zeros((input.dim().0, grid.out[0], grid.out[1], filters));
            for b in 0..input.dim().0 {
                for i in 0..grid.out[0] {
                    for j in 0..grid.out[1] {
                        let mut cell = y.slice_mut(s![b, i, j, ..]);
                        for (ki, kj, r, c) in grid.taps(i, j) {
                            cell += &input.slice(s![b, r, c, ..]).dot(&kernel.slice(s![ki, kj, .., ..]));
                        }
                    }
                }
            }
            with_bias(y.into_dyn(), has_bias.then(|| weight(1)).transpose()?).map_err(|e| fail(&e))?
        }
        "MaxPooling2D" | "AveragePooling2D" => {
            let input = x.view().into_dimensionality::<Ix4>().map_err(|_| fail("input is not NHWC"))?;
            let pool = pair("pool_size", [2, 2]);
            let strides =
                if config.get("strides").is_some_and(|s| !s.is_null()) { pair("strides", pool) } else { pool };
            let grid = Grid::new(&input, pool, strides, &str_key("border_mode", "valid"));
            let (n, _, _, channels) = input.dim();
            let max = layer.class_name == "MaxPooling2D";
            // Only in-bounds positions take part (TF's padding for pooling).
            Array4::from_shape_fn((n, grid.out[0], grid.out[1], channels), |(b, i, j, ch)| {
                let values: Vec<f32> = grid.taps(i, j).map(|(_, _, r, c)| input[[b, r, c, ch]]).collect();
                if max {
                    values.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                } else {
                    values.iter().sum::<f32>() / values.len() as f32
                }
            })
            .into_dyn()
        }
        "Flatten" => {
            let batch = x.shape()[0];
            x.to_shape((batch, x.len() / batch.max(1))).map_err(|e| fail(&e.to_string()))?.to_owned().into_dyn()
        }
        "Dropout" => x.clone(),
        "LSTM" | "GRU" => recurrent(layer, x)?,
        "Activation" => x.clone(),
        other => return Err(fail(&format!("the Keras 1 class {other} is not known to the oracle"))),
    };
    let activation = str_key("activation", "linear");
    if matches!(layer.class_name.as_str(), "LSTM" | "GRU") || activation == "linear" {
        return Ok(linear);
    }
    // Activations mean the same in Keras 1 and 2 (hard_sigmoid included): the Keras 2 oracle applies them.
    let act = LegacyLayer {
        name: layer.name.clone(),
        class_name: "Activation".into(),
        config: json!({"activation": activation}).as_object().cloned().unwrap_or_default(),
        inbound: vec![],
        kwargs: Default::default(),
        weights: vec![],
    };
    standard_layer(&act, &[&linear], 2)
}

/// `y + bias` over the last axis, the bias's length checked.
fn with_bias(mut y: ArrayD<f32>, bias: Option<&ArrayD<f32>>) -> Result<ArrayD<f32>, String> {
    if let Some(bias) = bias {
        if bias.ndim() != 1 || y.shape().last() != Some(&bias.len()) {
            return Err(format!("bias of shape {:?} for an output of shape {:?}", bias.shape(), y.shape()));
        }
        y += bias;
    }
    Ok(y)
}

/// The output grid of a 2-D window sliding over NHWC input; Keras's `same` padding puts the odd
/// extra row and column at the end.
struct Grid {
    out: [usize; 2],
    pad: [usize; 2],
    window: [usize; 2],
    strides: [usize; 2],
    size: [usize; 2],
}

impl Grid {
    fn new(input: &ArrayView4<f32>, window: [usize; 2], strides: [usize; 2], border_mode: &str) -> Grid {
        let (_, h, w, _) = input.dim();
        let size = [h, w];
        let mut out = [0; 2];
        let mut pad = [0; 2];
        for a in 0..2 {
            if border_mode == "same" {
                out[a] = size[a].div_ceil(strides[a].max(1));
                pad[a] = ((out[a].saturating_sub(1)) * strides[a] + window[a]).saturating_sub(size[a]) / 2;
            } else {
                out[a] = size[a].saturating_sub(window[a]) / strides[a].max(1) + usize::from(size[a] >= window[a]);
            }
        }
        Grid { out, pad, window, strides, size }
    }

    /// The window positions `(ki, kj)` of output `(i, j)` that fall inside the input, at `(r, c)`.
    fn taps(&self, i: usize, j: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let at = move |a: usize, o: usize, k: usize| {
            (o * self.strides[a] + k).checked_sub(self.pad[a]).filter(|&p| p < self.size[a])
        };
        (0..self.window[0])
            .flat_map(move |ki| (0..self.window[1]).filter_map(move |kj| Some((ki, kj, at(0, i, ki)?, at(1, j, kj)?))))
    }
}

/// An element-wise activation as Keras 1 defined it (`hard_sigmoid`: clip(0.2·x + 0.5, 0, 1)).
fn elementwise_activation(name: &str) -> Option<fn(f32) -> f32> {
    Some(match name {
        "tanh" => f32::tanh,
        "sigmoid" => |v| 1.0 / (1.0 + (-v).exp()),
        "hard_sigmoid" => |v| (v * 0.2 + 0.5).clamp(0.0, 1.0),
        "relu" => |v| v.max(0.0),
        "linear" => |v| v,
        _ => return None,
    })
}

/// Keras 1's LSTM (weights `W_i, U_i, b_i, W_c, U_c, b_c, W_f, U_f, b_f, W_o, U_o, b_o`) and GRU
/// (`W_z, U_z, b_z, W_r, U_r, b_r, W_h, U_h, b_h`, the reset gate applied to the state before
/// `U_h`), run step by step.
fn recurrent(layer: &LegacyLayer, x: &ArrayD<f32>) -> Result<ArrayD<f32>, VerifyError> {
    let fail = |message: &str| oracle_error(&layer.name, message);
    let flag = |key: &str| layer.config.get(key).and_then(Value::as_bool).unwrap_or(false);
    let function = |key: &str, default: &str| {
        let name = layer.config.get(key).and_then(Value::as_str).unwrap_or(default);
        elementwise_activation(name).ok_or_else(|| fail(&format!("{key} '{name}' is not known to the oracle")))
    };
    let (act, inner) = (function("activation", "tanh")?, function("inner_activation", "hard_sigmoid")?);
    let x = x.view().into_dimensionality::<Ix3>().map_err(|_| fail("input is not (batch, steps, features)"))?;
    let lstm = layer.class_name == "LSTM";
    let gates = if lstm { 4 } else { 3 };
    if layer.weights.len() != 3 * gates {
        return Err(fail("only per-gate weights (Keras 1's consume_less 'cpu' and 'mem') are known to the oracle"));
    }
    let matrix = |k: usize| {
        layer.weights[k]
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .map(|m| m.to_owned())
            .map_err(|_| fail("not a matrix"))
    };
    let (batch, steps, features) = x.dim();
    let units = matrix(1)?.nrows();
    // Per gate, in the file's order: (W, U, b), shapes checked (ndarray panics on a mismatch).
    let per_gate = (0..gates)
        .map(|g| {
            let (w, u) = (matrix(3 * g)?, matrix(3 * g + 1)?);
            let b = layer.weights[3 * g + 2].value.view().into_dimensionality::<Ix1>().map(|b| b.to_owned());
            match b {
                Ok(b) if w.dim() == (features, units) && u.dim() == (units, units) && b.len() == units => Ok((w, u, b)),
                _ => Err(fail(&format!("gate {g}'s weights do not fit {features} features and {units} units"))),
            }
        })
        .collect::<Result<Vec<(Array2<f32>, Array2<f32>, Array1<f32>)>, VerifyError>>()?;
    let mut h = Array2::<f32>::zeros((batch, units));
    let mut c = Array2::<f32>::zeros((batch, units));
    let order: Vec<usize> = if flag("go_backwards") { (0..steps).rev().collect() } else { (0..steps).collect() };
    let mut outputs = Vec::new();
    for t in order {
        let xt = x.slice(s![.., t, ..]);
        let input_part = |g: usize| xt.dot(&per_gate[g].0) + &per_gate[g].2;
        if lstm {
            let gate = |g: usize, f: fn(f32) -> f32| (input_part(g) + h.dot(&per_gate[g].1)).mapv(f);
            let (i, candidate, f, o) = (gate(0, inner), gate(1, act), gate(2, inner), gate(3, inner));
            c = f * &c + i * candidate;
            h = o * c.mapv(act);
        } else {
            let z = (input_part(0) + h.dot(&per_gate[0].1)).mapv(inner);
            let r = (input_part(1) + h.dot(&per_gate[1].1)).mapv(inner);
            let candidate = (input_part(2) + (&r * &h).dot(&per_gate[2].1)).mapv(act);
            h = &z * &h + (1.0 - &z) * candidate;
        }
        outputs.push(h.clone());
    }
    if !flag("return_sequences") {
        return Ok(h.into_dyn());
    }
    let views: Vec<_> = outputs.iter().map(|o| o.view().insert_axis(Axis(1))).collect();
    ndarray::concatenate(Axis(1), &views).map(|a| a.into_dyn()).map_err(|e| fail(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tf2h5_keras::Weight;

    fn keras1(class: &str, config: Value, weights: Vec<ArrayD<f32>>) -> LegacyLayer {
        LegacyLayer {
            name: "l".into(),
            class_name: class.into(),
            config: config.as_object().cloned().unwrap(),
            inbound: vec![],
            kwargs: Default::default(),
            weights: weights.into_iter().map(|w| Weight::new("w", w)).collect(),
        }
    }

    #[test]
    fn same_convolution_and_pooling_keep_the_window_offsets() {
        // 3x3 input, one channel; a 2x2 kernel picking the window's bottom-right tap.
        let x = ArrayD::from_shape_vec(vec![1, 3, 3, 1], (1..=9).map(|v| v as f32).collect()).unwrap();
        let kernel = ArrayD::from_shape_vec(vec![2, 2, 1, 1], vec![0.0, 0.0, 0.0, 1.0]).unwrap();
        let conv = keras1(
            "Convolution2D",
            json!({"border_mode": "same", "subsample": [1, 1], "dim_ordering": "tf", "bias": false}),
            vec![kernel],
        );
        // Keras pads the extra row/column at the end: the tap past the edge reads zero.
        let y = run_keras1_layer(&conv, &[&x]).unwrap();
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), [5.0, 6.0, 0.0, 8.0, 9.0, 0.0, 0.0, 0.0, 0.0]);
        let pool =
            keras1("AveragePooling2D", json!({"pool_size": [2, 2], "strides": [2, 2], "border_mode": "same"}), vec![]);
        let y = run_keras1_layer(&pool, &[&x]).unwrap();
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), [3.0, 4.5, 7.5, 9.0], "padding takes no part");
    }

    #[test]
    fn a_one_unit_gru_follows_keras1() {
        // z = sigmoid(0) = 0.5, r irrelevant at h = 0, candidate = tanh(x); h = 0.5 * tanh(x).
        let zero = || array![[0.0f32]].into_dyn();
        let gru = keras1(
            "GRU",
            json!({"inner_activation": "sigmoid", "activation": "tanh"}),
            vec![
                zero(),
                zero(),
                array![0.0f32].into_dyn(),
                zero(),
                zero(),
                array![0.0f32].into_dyn(),
                array![[1.0f32]].into_dyn(),
                zero(),
                array![0.0f32].into_dyn(),
            ],
        );
        let x = array![[[0.5f32]]].into_dyn();
        let y = run_keras1_layer(&gru, &[&x]).unwrap();
        assert!((y[[0, 0]] - 0.5 * 0.5f32.tanh()).abs() < 1e-7);
    }
}

//! The recurrence of Keras's LSTM, GRU and SimpleRNN cells over a whole batch of sequences,
//! with typed weights (config reading lives in `mod.rs`).
//!
//! The input projection `x · kernel + bias` of every time step is one GEMM over all
//! (batch × time) rows; each step then adds `h · recurrent_kernel` (one small GEMM over the
//! batch) and applies the gates. Gate order and formulas are Keras's (tf-keras 2 and Keras 3
//! agree): LSTM `i, f, c, o`; GRU `z, r, h` with `h' = z·h + (1 − z)·ĥ`, where `reset_after`
//! applies the reset gate after the recurrent product (and adds a separate recurrent bias,
//! row 1 of its (2, 3·units) bias) and otherwise before it.

use ndarray::{s, Array2, ArrayView2};

use super::super::activation::Activation;
use crate::gemm::matmul_into;

/// Which Keras cell, with its cell-specific options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellKind {
    /// `LSTM`: 4 gates `i, f, c, o`.
    Lstm,
    /// `GRU`: 3 gates `z, r, h`.
    Gru {
        /// Reset gate applied after the recurrent product (Keras 2+ default, CuDNN's form).
        reset_after: bool,
    },
    /// `SimpleRNN`: `h' = activation(x·W + b + h·U)`.
    Simple,
}

impl CellKind {
    /// Gates per unit: the kernels have `gates · units` columns.
    pub fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru { .. } => 3,
            CellKind::Simple => 1,
        }
    }
}

/// One recurrent layer, ready to run: weights in Keras's layout, (in, g·u) and (u, g·u).
pub(crate) struct Cell<'a> {
    pub kind: CellKind,
    pub units: usize,
    pub activation: Activation,
    pub recurrent_activation: Activation,
    pub kernel: ArrayView2<'a, f32>,
    pub recurrent_kernel: ArrayView2<'a, f32>,
    /// Added to the input projection (g·u).
    pub input_bias: Option<Vec<f32>>,
    /// GRU `reset_after` only: added to the recurrent product (3·u).
    pub recurrent_bias: Option<Vec<f32>>,
    /// Read the sequence from its last step to its first (outputs stay in reading order).
    pub go_backwards: bool,
    /// Output every step's state (batch, time, units), else only the last (batch, units).
    pub return_sequences: bool,
    /// A masked step outputs zeros instead of repeating the previous output (Keras's
    /// `zero_output_for_mask`); the states are kept either way.
    pub zero_output_for_mask: bool,
    /// Also return the final states.
    pub return_state: bool,
}

/// What a run returns: the outputs, row-major (batch, time, units) or (batch, units), and the
/// final states (batch, units): `h`, and the LSTM's `c`.
pub(crate) struct Recurrence {
    pub output: Vec<f32>,
    pub states: Vec<Array2<f32>>,
}

impl Cell<'_> {
    /// Runs the layer on `x`, (batch, time, features) row-major in `x`, and returns the
    /// outputs and final states. Where `mask` (batch, time) is false the step keeps the
    /// states, so the output repeats the previous one (the output is the state `h` in all
    /// three cells, and starts at zero as the states do), or is zeros with
    /// `zero_output_for_mask`.
    pub fn run(&self, x: &[f32], batch: usize, time: usize, mask: Option<&[bool]>) -> Recurrence {
        let units = self.units;
        let width = self.kind.gates() * units;
        let features = self.kernel.nrows();
        let rows = batch * time;

        // Input projection for every (batch, time) row at once.
        let mut projected = Array2::<f32>::zeros((rows, width));
        if rows > 0 {
            let x = ArrayView2::from_shape((rows, features), x).expect("caller checked the input shape");
            matmul_into(x, self.kernel, projected.view_mut());
            if let Some(bias) = &self.input_bias {
                projected
                    .rows_mut()
                    .into_iter()
                    .for_each(|mut row| row.iter_mut().zip(bias).for_each(|(v, b)| *v += b));
            }
        }

        let out_steps = if self.return_sequences { time } else { 1 };
        let mut output = vec![0.0f32; batch * out_steps * units];
        let mut state = Array2::<f32>::zeros((batch, units));
        let mut carry = Array2::<f32>::zeros((batch, units)); // LSTM's cell state
        let mut recurrent = Array2::<f32>::zeros((batch, width));
        let mut gates = vec![0.0f32; width];
        // GRU without reset_after multiplies `r · h` by the candidate's columns separately.
        let split_candidate = matches!(self.kind, CellKind::Gru { reset_after: false });
        let (gate_kernel, candidate_kernel) = if split_candidate {
            (self.recurrent_kernel.slice(s![.., ..2 * units]), Some(self.recurrent_kernel.slice(s![.., 2 * units..])))
        } else {
            (self.recurrent_kernel, None)
        };
        let gate_kernel = gate_kernel.as_standard_layout();
        let candidate_kernel = candidate_kernel.map(|k| k.to_owned());
        let mut reset_state = Array2::<f32>::zeros((batch, units));
        let mut candidate = Array2::<f32>::zeros((batch, units));
        let mut update = Array2::<f32>::zeros((batch, units));

        let masked = |b: usize, t: usize| mask.is_some_and(|m| !m[b * time + t]);
        let mut kept_state = Array2::<f32>::zeros((batch, units));
        let mut kept_carry = Array2::<f32>::zeros((batch, units));
        for step in 0..time {
            let t = if self.go_backwards { time - 1 - step } else { step };
            if mask.is_some() {
                kept_state.assign(&state);
                kept_carry.assign(&carry);
            }
            let gate_width = gate_kernel.ncols();
            matmul_into(state.view(), gate_kernel.view(), recurrent.slice_mut(s![.., ..gate_width]));
            if let Some(bias) = &self.recurrent_bias {
                recurrent
                    .rows_mut()
                    .into_iter()
                    .for_each(|mut row| row.iter_mut().zip(bias).for_each(|(v, b)| *v += b));
            }
            for b in 0..batch {
                let input_row = projected.row(b * time + t);
                let input_row = input_row.as_slice().expect("row-major");
                let recurrent_row = recurrent.row(b);
                let recurrent_row = recurrent_row.as_slice().expect("row-major");
                let mut h = state.row_mut(b);
                let h = h.as_slice_mut().expect("row-major");
                match self.kind {
                    CellKind::Lstm => {
                        let mut c = carry.row_mut(b);
                        self.lstm_step(input_row, recurrent_row, &mut gates, h, c.as_slice_mut().expect("row-major"));
                    }
                    CellKind::Gru { reset_after: true } => self.gru_after_step(input_row, recurrent_row, &mut gates, h),
                    CellKind::Gru { reset_after: false } => {
                        // First half: z and r; the candidate needs every row's r · h first.
                        let (zr, _) = gates.split_at_mut(2 * units);
                        zr.iter_mut().zip(input_row).zip(recurrent_row).for_each(|((g, x), r)| *g = x + r);
                        self.recurrent_activation.apply_rows(zr, units);
                        let mut rh = reset_state.row_mut(b);
                        rh.iter_mut().zip(&zr[units..]).zip(h.iter()).for_each(|((o, r), h)| *o = r * h);
                        update.row_mut(b).iter_mut().zip(&zr[..units]).for_each(|(k, z)| *k = *z);
                    }
                    CellKind::Simple => {
                        h.iter_mut().zip(input_row).zip(recurrent_row).for_each(|((h, x), r)| *h = x + r);
                        self.activation.apply_rows(h, units);
                    }
                }
            }
            if let Some(candidate_kernel) = &candidate_kernel {
                matmul_into(reset_state.view(), candidate_kernel.view(), candidate.view_mut());
                for b in 0..batch {
                    let input_row = projected.row(b * time + t);
                    let hh = &mut gates[..units];
                    hh.iter_mut()
                        .zip(input_row.slice(s![2 * units..]))
                        .zip(candidate.row(b))
                        .for_each(|((g, x), c)| *g = x + c);
                    self.activation.apply_rows(hh, units);
                    let z = update.row(b);
                    let mut h = state.row_mut(b);
                    h.iter_mut().zip(z.iter()).zip(hh.iter()).for_each(|((h, z), hh)| *h = z * *h + (1.0 - z) * hh);
                }
            }
            for b in (0..batch).filter(|&b| masked(b, t)) {
                state.row_mut(b).assign(&kept_state.row(b));
                carry.row_mut(b).assign(&kept_carry.row(b));
            }
            if self.return_sequences || step + 1 == time {
                let slot = if self.return_sequences { step } else { 0 };
                write_state(&mut output, state.view(), out_steps, slot);
                if self.zero_output_for_mask {
                    for b in (0..batch).filter(|&b| masked(b, t)) {
                        output[(b * out_steps + slot) * units..][..units].fill(0.0);
                    }
                }
            }
        }
        let states = if self.kind == CellKind::Lstm { vec![state, carry] } else { vec![state] };
        Recurrence { output, states }
    }

    fn lstm_step(&self, input: &[f32], recurrent: &[f32], gates: &mut [f32], h: &mut [f32], c: &mut [f32]) {
        let u = self.units;
        gates.iter_mut().zip(input).zip(recurrent).for_each(|((g, x), r)| *g = x + r);
        let (ifc, o) = gates.split_at_mut(3 * u);
        let (i_f, candidate) = ifc.split_at_mut(2 * u);
        self.recurrent_activation.apply_rows(i_f, u);
        self.recurrent_activation.apply_rows(o, u);
        self.activation.apply_rows(candidate, u);
        let (i, f) = i_f.split_at(u);
        for k in 0..u {
            c[k] = f[k] * c[k] + i[k] * candidate[k];
            h[k] = c[k];
        }
        self.activation.apply_rows(h, u);
        h.iter_mut().zip(o.iter()).for_each(|(h, o)| *h *= o);
    }

    fn gru_after_step(&self, input: &[f32], recurrent: &[f32], gates: &mut [f32], h: &mut [f32]) {
        let u = self.units;
        let (zr, hh) = gates.split_at_mut(2 * u);
        zr.iter_mut().zip(input).zip(recurrent).for_each(|((g, x), r)| *g = x + r);
        self.recurrent_activation.apply_rows(zr, u);
        let (z, r) = zr.split_at(u);
        for k in 0..u {
            hh[k] = input[2 * u + k] + r[k] * recurrent[2 * u + k];
        }
        self.activation.apply_rows(hh, u);
        for k in 0..u {
            h[k] = z[k] * h[k] + (1.0 - z[k]) * hh[k];
        }
    }
}

/// Copies the state (batch, units) into time slot `slot` of `output` (batch, steps, units).
fn write_state(output: &mut [f32], state: ArrayView2<'_, f32>, steps: usize, slot: usize) {
    let units = state.ncols();
    for (b, row) in state.rows().into_iter().enumerate() {
        let start = (b * steps + slot) * units;
        output[start..start + units].iter_mut().zip(row).for_each(|(o, v)| *o = *v);
    }
}

/// Reverses the time axis of `data`, (batch, time, units) row-major, in place.
pub(crate) fn reverse_time(data: &mut [f32], batch: usize, time: usize, units: usize) {
    if units == 0 {
        return;
    }
    for sequence in data.chunks_exact_mut(time * units).take(batch) {
        let mut steps: Vec<&mut [f32]> = sequence.chunks_exact_mut(units).collect();
        let n = steps.len();
        for i in 0..n / 2 {
            let (head, tail) = steps.split_at_mut(n - 1 - i);
            head[i].swap_with_slice(tail[0]);
        }
    }
}

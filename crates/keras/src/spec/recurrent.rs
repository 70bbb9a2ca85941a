//! Recurrent layers: `LSTM`, `GRU`, `SimpleRNN`, and `Bidirectional` around one of them.
//! Their configs are written by [`crate::layers::recurrent`]; this spec names and shapes
//! their weights in the loaders' order: kernel (in, g·units), recurrent_kernel (units,
//! g·units), then the bias (g·units; GRU with `reset_after`: (2, 3·units)), with g the gate
//! count (LSTM 4, GRU 3, SimpleRNN 1). `Bidirectional` has the forward layer's weights, then
//! the backward one's, named `forward_<inner>/…` and `backward_<inner>/…` as tensorflowjs
//! looks them up (the Keras loaders match by order), the inner layer being called
//! [`BIDIRECTIONAL_INNER_NAME`].

use super::read::Reader;
use super::WeightSpec;
use crate::{KerasError, Layer};

/// The name tf2h5 gives the layer a `Bidirectional` wraps (its weights' group names).
pub const BIDIRECTIONAL_INNER_NAME: &str = "rnn";
/// One direction's weight names; without a bias, the first two.
pub type DirectionWeights = [&'static str; 3];
/// A single layer's weight names.
pub const CELL_WEIGHTS: DirectionWeights = ["kernel", "recurrent_kernel", "bias"];
/// A `Bidirectional`'s forward weight names (`forward_` + [`BIDIRECTIONAL_INNER_NAME`]).
pub const FORWARD_WEIGHTS: DirectionWeights =
    ["forward_rnn/kernel", "forward_rnn/recurrent_kernel", "forward_rnn/bias"];
/// A `Bidirectional`'s backward weight names.
pub const BACKWARD_WEIGHTS: DirectionWeights =
    ["backward_rnn/kernel", "backward_rnn/recurrent_kernel", "backward_rnn/bias"];

/// Which recurrent class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecurrentClass {
    /// `LSTM`.
    Lstm,
    /// `GRU`.
    Gru,
    /// `SimpleRNN`.
    SimpleRnn,
    /// `Bidirectional` around one of the others.
    Bidirectional,
}

impl RecurrentClass {
    /// Every recurrent class.
    pub const ALL: [RecurrentClass; 4] =
        [RecurrentClass::Lstm, RecurrentClass::Gru, RecurrentClass::SimpleRnn, RecurrentClass::Bidirectional];

    /// The Keras class name.
    pub fn class_name(self) -> &'static str {
        match self {
            RecurrentClass::Lstm => "LSTM",
            RecurrentClass::Gru => "GRU",
            RecurrentClass::SimpleRnn => "SimpleRNN",
            RecurrentClass::Bidirectional => "Bidirectional",
        }
    }
}

/// One recurrent cell's weight layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// The cell's class (never `Bidirectional`).
    pub class: RecurrentClass,
    /// State size.
    pub units: usize,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// GRU only: two bias rows (input and recurrent).
    pub reset_after: bool,
    /// The final states are outputs too, after the layer's output.
    pub return_state: bool,
}

impl Cell {
    fn parse(r: &Reader<'_>, class: RecurrentClass) -> Result<Self, KerasError> {
        Ok(Cell {
            class,
            units: r.usize_or("units", 0, 1)?,
            use_bias: r.bool_or("use_bias", true)?,
            reset_after: class == RecurrentClass::Gru && r.bool_or("reset_after", true)?,
            return_state: r.bool_or("return_state", false)?,
        })
    }

    /// The states a step carries: LSTM `h, c`; GRU and SimpleRNN `h`.
    pub fn state_count(&self) -> usize {
        if self.class == RecurrentClass::Lstm {
            2
        } else {
            1
        }
    }

    fn weights(&self, names: &DirectionWeights, channels: Option<usize>) -> Vec<WeightSpec> {
        let gates = match self.class {
            RecurrentClass::Lstm => 4,
            RecurrentClass::Gru => 3,
            _ => 1,
        };
        let width = Some(gates * self.units);
        let mut weights = vec![
            WeightSpec::new(names[0], vec![channels, width]),
            WeightSpec::new(names[1], vec![Some(self.units), width]),
        ];
        if self.use_bias {
            weights.push(WeightSpec::new(names[2], if self.reset_after { vec![Some(2), width] } else { vec![width] }));
        }
        weights
    }
}

/// A recurrent layer: one cell, or a bidirectional pair of the same cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrent {
    /// The (inner) cell.
    pub cell: Cell,
    /// `Bidirectional`.
    pub bidirectional: bool,
}

impl Recurrent {
    /// The Keras class.
    pub fn class(&self) -> RecurrentClass {
        if self.bidirectional {
            RecurrentClass::Bidirectional
        } else {
            self.cell.class
        }
    }

    /// How many tensors the layer returns: its output, then with `return_state` each
    /// direction's final states (forward first).
    pub fn output_count(&self) -> usize {
        let directions = if self.bidirectional { 2 } else { 1 };
        1 + if self.cell.return_state { directions * self.cell.state_count() } else { 0 }
    }

    /// The weights in the loaders' order.
    pub fn weights(&self, channels: Option<usize>) -> Vec<WeightSpec> {
        if !self.bidirectional {
            return self.cell.weights(&CELL_WEIGHTS, channels);
        }
        let mut weights = self.cell.weights(&FORWARD_WEIGHTS, channels);
        weights.extend(self.cell.weights(&BACKWARD_WEIGHTS, channels));
        weights
    }

    pub(crate) fn parse(r: &Reader<'_>, class: RecurrentClass) -> Result<Self, KerasError> {
        if class != RecurrentClass::Bidirectional {
            return Ok(Recurrent { cell: Cell::parse(r, class)?, bidirectional: false });
        }
        let inner = r.value("layer").ok_or_else(|| r.invalid("config key 'layer' is missing"))?;
        let inner_class = inner.get("class_name").and_then(|c| c.as_str()).unwrap_or_default();
        let cell_class = RecurrentClass::ALL
            .into_iter()
            .find(|c| *c != RecurrentClass::Bidirectional && c.class_name() == inner_class)
            .ok_or_else(|| r.unsupported(format!("inner layer '{inner_class}'")))?;
        let config = inner.get("config").and_then(|c| c.as_object()).cloned().unwrap_or_default();
        let inner_layer = Layer {
            name: r.layer.name.clone(),
            class_name: inner_class.to_string(),
            config,
            inbound: vec![],
            weights: vec![],
        };
        Ok(Recurrent { cell: Cell::parse(&Reader { layer: &inner_layer }, cell_class)?, bidirectional: true })
    }
}

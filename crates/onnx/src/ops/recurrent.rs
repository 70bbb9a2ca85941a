//! ONNX `LSTM`, `GRU` and `RNN` → one `KerasRecurrent` TF node each, which the converter
//! makes a Keras `LSTM`, `GRU` or `SimpleRNN` (inside a `Bidirectional` for two directions).
//!
//! ONNX recurrent nodes are time-major: X is (time, batch, features), Y (time, directions,
//! batch, hidden), Y_h (directions, batch, hidden). Keras layers, and every TF node here,
//! have the batch first. X is any tensor whose batch is ONNX axis 1 (a `Transpose` [1, 0, 2]
//! of a batch-first sequence, a CRNN's `Transpose` + `Reshape` of its feature map): the
//! translator holds it batch-first anyway. Y and Y_h have no TF node: they are recorded
//! here, for the ops PyTorch writes around them:
//! - Y of one direction `Squeeze`d on axis 1, or Y `Transpose`d [0, 2, 1, 3] and `Reshape`d
//!   to (time, batch, -1) (both directions concatenated): the sequences, time-major (the
//!   batch-first layer output with its batch on ONNX axis 1), read by any op that follows a
//!   moved batch;
//! - Y_h of one direction through `Gather` (index 0 or -1, axis 0) or `Squeeze` (axis 0):
//!   the last state (batch, hidden);
//! - zero initial states: none, an all-zero constant, or `ConstantOfShape` 0 (and its slices).
//!
//! A recurrent node is emitted when one of its outputs is read that way: with
//! `return_sequences` for Y, without for Y_h (a model reading both gets two layers). Any
//! other op reading one of these tensors is refused, naming what the tensor is.
//!
//! Weights: ONNX W (dirs, g·H, F), R (dirs, g·H, H) and B (dirs, 2·g·H) hold gate blocks
//! `iofc` (LSTM), `zrh` (GRU) or one (RNN); Keras wants kernel (F, g·H) and recurrent_kernel
//! (H, g·H) in `ifco` / `zrh` order and one bias W_b + R_b, except a GRU with
//! `linear_before_reset` (Keras's `reset_after`), whose bias is the (2, 3·H) stack [W_b, R_b].
//! A reverse direction is Keras's `go_backwards`; its per-step outputs, which ONNX keeps in
//! time order but Keras returns in reading order, are refused (no Keras layer reverses time).
//! Refused as well, each by name: peepholes, `clip`, `input_forget`, `sequence_lens`,
//! non-zero initial states, `layout` 1, activation parameters, activations without a Keras
//! twin, the cell state Y_c and both directions' last states.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use ndarray::{concatenate, s, Array2, ArrayD, ArrayView2, Axis, Ix3};
use tf2h5_tf::pb::attr_value::Value as Attr;
use tf2h5_tf::Dim;
use tract_onnx::pb::NodeProto;

use super::Registry;
use crate::error::{unsupported, OpError};
use crate::proto;
use crate::translator::{identity, string, Tensor, Translator};

/// The TF op the converter maps to a Keras recurrent layer (see `tf2h5-convert`).
const KERAS_RECURRENT: &str = "KerasRecurrent";

pub(super) fn register(registry: &mut Registry) {
    for op in ["LSTM", "GRU", "RNN"] {
        registry.insert(op, Translator::recurrent_layer);
    }
    registry.insert("ConstantOfShape", Translator::constant_of_shape);
}

fn is_recurrent(op: &str) -> bool {
    matches!(op, "LSTM" | "GRU" | "RNN")
}

/// The tensors around recurrent nodes that have no TF node, by ONNX name.
#[derive(Default)]
pub(crate) struct Recurrent {
    /// Y outputs.
    sequences: HashMap<String, Rc<Layer>>,
    /// Y transposed to (time, batch, directions, hidden).
    sequences_by_step: HashMap<String, Rc<Layer>>,
    /// Y_h outputs.
    last_states: HashMap<String, Rc<Layer>>,
    /// Y_c outputs.
    cell_states: HashSet<String>,
    /// Zero tensors (`ConstantOfShape` 0 and slices of it).
    zeros: HashSet<String>,
}

impl Recurrent {
    /// What `name` is, if it is one of the tensors recorded here.
    fn describe(&self, name: &str) -> Option<&'static str> {
        if self.sequences.contains_key(name) || self.sequences_by_step.contains_key(name) {
            Some("the output Y of a recurrent node")
        } else if self.last_states.contains_key(name) {
            Some("the last state Y_h of a recurrent node")
        } else if self.cell_states.contains(name) {
            Some("the cell state Y_c of an LSTM, which Keras layers do not output here")
        } else if self.zeros.contains(name) {
            Some("a ConstantOfShape, supported only as a recurrent node's zero initial state")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

/// One ONNX recurrent node with its weights in Keras's layout, emitted on first use.
pub(crate) struct Layer {
    /// The ONNX node's label, for TF node names.
    label: String,
    /// The batch-first input (batch, time, features).
    x: Tensor,
    time: usize,
    hidden: usize,
    cell: &'static str,
    reset_after: bool,
    activation: &'static str,
    recurrent_activation: &'static str,
    direction: Direction,
    /// Per direction: kernel (F, g·H), recurrent_kernel (H, g·H), bias.
    weights: Vec<[ArrayD<f32>; 3]>,
    /// The emitted TF tensors, by `return_sequences`.
    emitted: RefCell<HashMap<bool, Tensor>>,
}

impl Layer {
    fn directions(&self) -> usize {
        self.weights.len()
    }
}

/// The time-major (time, batch, features) view of a batch-first sequence, and back: the
/// same TF node, the batch on ONNX axis 1.
fn time_major(x: &Tensor) -> Tensor {
    x.relabelled(&[1, 0, 2])
}

impl Translator {
    /// Translates `node` if it reads a tensor recorded here (before its op's registered
    /// translation, which would take a time-major view for a batch-first tensor); `None`
    /// leaves it to the registry.
    pub(crate) fn recurrent_reader(&mut self, node: &NodeProto) -> Option<Result<(), OpError>> {
        let op = node.op_type.as_str();
        if is_recurrent(op) {
            return None;
        }
        let first = node.input.first()?.as_str();
        let out = node.output.first().cloned().unwrap_or_default();
        let r = &self.recurrent;
        if r.zeros.contains(first) && matches!(op, "Slice" | "Gather" | "Squeeze" | "Unsqueeze" | "Identity") {
            self.recurrent.zeros.insert(out);
            return Some(Ok(()));
        }
        let handled = match op {
            "Transpose" => r.sequences.contains_key(first),
            "Squeeze" => r.sequences.contains_key(first) || r.last_states.contains_key(first),
            "Gather" => r.last_states.contains_key(first),
            "Reshape" => r.sequences_by_step.contains_key(first),
            _ => false,
        };
        if handled {
            return Some(match op {
                "Transpose" => self.sequence_transpose(node, first, out),
                "Squeeze" => self.squeeze_output(node, first, out),
                "Gather" => self.gather_last_state(node, first, out),
                _ => self.merge_directions(node, first, out),
            });
        }
        node.input.iter().find_map(|input| {
            self.recurrent.describe(input).map(|what| {
                Err(unsupported!(
                    "input '{input}' is {what}; tf2h5 reads it only in the forms PyTorch writes around LSTM/GRU/RNN"
                ))
            })
        })
    }

    pub(crate) fn constant_of_shape(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let value = node.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
        let zero = match value {
            None => true,
            Some(tensor) => proto::f32_view(&proto::tensor(tensor)?).iter().all(|&v| v == 0.0),
        };
        if !zero {
            return Err("only a zero ConstantOfShape (a recurrent node's initial state) is supported".into());
        }
        self.recurrent.zeros.insert(Self::output_name(node)?.to_string());
        Ok(())
    }

    /// Y (time, directions, batch, hidden) `Transpose`d [0, 2, 1, 3], for a `Reshape` to
    /// (time, batch, directions·hidden).
    fn sequence_transpose(&mut self, node: &NodeProto, input: &str, out: String) -> Result<(), OpError> {
        let perm = proto::attr_ints(node, "perm")?.unwrap_or_default();
        if perm != [0, 2, 1, 3] {
            return Err(unsupported!("perm {perm:?} of a recurrent node's Y (only [0, 2, 1, 3])"));
        }
        let layer = self.recurrent.sequences[input].clone();
        self.recurrent.sequences_by_step.insert(out, layer);
        Ok(())
    }

    fn squeeze_output(&mut self, node: &NodeProto, input: &str, out: String) -> Result<(), OpError> {
        let (layer, axis, sequences) = match self.recurrent.sequences.get(input) {
            Some(layer) => (layer.clone(), 1, true),
            None => (self.recurrent.last_states[input].clone(), 0, false),
        };
        let axes = self.axes(node, if sequences { 4 } else { 3 }, 13)?;
        if axes != Some(vec![axis]) || layer.directions() != 1 {
            return Err(unsupported!("only axis {axis} of one direction can be squeezed here, not {axes:?}"));
        }
        let tensor = self.emit_recurrent(&layer, sequences)?;
        self.bind(&out, if sequences { time_major(&tensor) } else { tensor });
        Ok(())
    }

    fn gather_last_state(&mut self, node: &NodeProto, input: &str, out: String) -> Result<(), OpError> {
        let layer = self.recurrent.last_states[input].clone();
        let index = self.constant(node, 1)?.filter(|c| c.shape().is_empty()).and_then(|c| c.int_values());
        let axis = proto::attr_int(node, "axis", 0)?;
        let last = layer.directions() as i64 - 1;
        if axis != 0 || layer.directions() != 1 || !matches!(index.as_deref(), Some([i]) if *i == last || *i == -1) {
            return Err("only the scalar Gather of the one direction's last state Y_h[0] / Y_h[-1] is supported".into());
        }
        let tensor = self.emit_recurrent(&layer, false)?;
        self.bind(&out, tensor);
        Ok(())
    }

    fn merge_directions(&mut self, node: &NodeProto, input: &str, out: String) -> Result<(), OpError> {
        let layer = self.recurrent.sequences_by_step[input].clone();
        let target = self.dims(node, 1)?.values;
        let width = (layer.directions() * layer.hidden) as i64;
        let keeps = |d: &Dim, size: i64| matches!(d, Dim::Known(v) if *v == 0 || *v == size);
        let ok = match target.as_slice() {
            [time, batch, last] => {
                keeps(time, layer.time as i64)
                    && (matches!(batch, Dim::Batch(1)) || keeps(batch, -1))
                    && matches!(last, Dim::Known(v) if *v == -1 || *v == width)
            }
            _ => false,
        };
        if !ok {
            return Err(unsupported!(
                "a reshape of Y to {target:?}; only (time, batch, directions·hidden) is supported"
            ));
        }
        let tensor = self.emit_recurrent(&layer, true)?;
        self.bind(&out, time_major(&tensor));
        Ok(())
    }

    /// Reads an ONNX recurrent node into a [`Layer`], recorded under its outputs.
    pub(crate) fn recurrent_layer(&mut self, node: &NodeProto) -> Result<(), OpError> {
        let op = node.op_type.as_str();
        let x_name = node.input.first().map(String::as_str).unwrap_or_default();
        let x = self.tensor_anywhere(node, 0)?;
        if x.rank() != 3 || x.batch_axis() != 1 {
            return Err(unsupported!(
                "X '{x_name}' {:?} must be time-major, its batch on axis 1 (a time-major graph input has no Keras \
                 form)",
                x.shape
            ));
        }
        // The same sequence batch-first, as Keras layers read it.
        let x = time_major(&self.in_onnx_layout(&x)?);
        let [_, Some(time), Some(features)] = x.shape[..] else {
            return Err(unsupported!("X {:?} needs known time and feature sizes", x.shape));
        };
        for (attr, default) in [("layout", 0), ("input_forget", 0)] {
            if proto::attr_int(node, attr, default)? != default {
                return Err(unsupported!("{attr} != {default} is not supported"));
            }
        }
        for attr in ["clip", "activation_alpha", "activation_beta"] {
            if node.attribute.iter().any(|a| a.name == attr) {
                return Err(unsupported!("attribute '{attr}' is not supported (Keras layers have no such option)"));
            }
        }
        let present = |i: usize| node.input.get(i).is_some_and(|n| !n.is_empty());
        if present(4) {
            return Err("sequence_lens is not supported (every sequence runs its full length)".into());
        }
        if op == "LSTM" && present(7) {
            return Err("peepholes (input P) are not supported: Keras's LSTM has none".into());
        }
        let states = if op == "LSTM" { 5..7 } else { 5..6 };
        for i in states.filter(|&i| present(i)) {
            let zero = self.recurrent.zeros.contains(&node.input[i])
                || self.constant(node, i)?.is_some_and(|c| proto::f32_view(&c).iter().all(|&v| v == 0.0));
            if !zero {
                return Err(unsupported!(
                    "initial state '{}' is not zero: Keras layers here start from zeros",
                    node.input[i]
                ));
            }
        }
        let hidden = usize::try_from(proto::attr_int(node, "hidden_size", 0)?).unwrap_or(0);
        if hidden == 0 {
            return Err("hidden_size must be positive".into());
        }
        let direction = match proto::attr_str(node, "direction", "forward")?.as_str() {
            "forward" => Direction::Forward,
            "reverse" => Direction::Reverse,
            "bidirectional" => Direction::Bidirectional,
            other => return Err(unsupported!("direction '{other}'")),
        };
        let directions = if direction == Direction::Bidirectional { 2 } else { 1 };
        let (cell, gates, defaults): (_, usize, &[&str]) = match op {
            "LSTM" => ("LSTM", 4, &["Sigmoid", "Tanh", "Tanh"]),
            "GRU" => ("GRU", 3, &["Sigmoid", "Tanh"]),
            _ => ("SimpleRNN", 1, &["Tanh"]),
        };
        let activations = activations(node, defaults, directions)?;
        let (activation, recurrent_activation) = match op {
            "LSTM" if activations[1] != activations[2] => {
                return Err(unsupported!(
                    "LSTM activations g={} and h={} differ; Keras uses one",
                    activations[1],
                    activations[2]
                ))
            }
            "LSTM" | "GRU" => (activations[1], activations[0]),
            _ => (activations[0], "sigmoid"),
        };
        let reset_after = op == "GRU" && proto::attr_int(node, "linear_before_reset", 0)? != 0;
        let width = gates * hidden;
        let w = self.weight(node, 1, &[directions, width, features])?;
        let r = self.weight(node, 2, &[directions, width, hidden])?;
        let b = match self.constant(node, 3)? {
            Some(_) => self.weight(node, 3, &[directions, 2 * width])?,
            None => ArrayD::zeros(vec![directions, 2 * width]),
        };
        // Keras gate k is ONNX gate order[k]: LSTM i,f,c,o from i,o,f,c.
        let order: &[usize] = match op {
            "LSTM" => &[0, 2, 3, 1],
            "GRU" => &[0, 1, 2],
            _ => &[0],
        };
        let w = w.into_dimensionality::<Ix3>().map_err(|e| e.to_string())?;
        let r = r.into_dimensionality::<Ix3>().map_err(|e| e.to_string())?;
        let weights = (0..directions)
            .map(|d| {
                let reorder = |m: ArrayView2<f32>| -> Array2<f32> {
                    let blocks: Vec<_> = order.iter().map(|&g| m.slice(s![g * hidden..(g + 1) * hidden, ..])).collect();
                    concatenate(Axis(0), &blocks)
                        .expect("equal blocks")
                        .reversed_axes()
                        .as_standard_layout()
                        .into_owned()
                };
                let bias_of = |half: usize| {
                    let row = b.index_axis(Axis(0), d);
                    let part = row.slice(s![half * width..(half + 1) * width]);
                    let blocks: Vec<_> = order.iter().map(|&g| part.slice(s![g * hidden..(g + 1) * hidden])).collect();
                    concatenate(Axis(0), &blocks).expect("equal blocks")
                };
                let bias = if reset_after {
                    ndarray::stack(Axis(0), &[bias_of(0).view(), bias_of(1).view()]).expect("equal rows").into_dyn()
                } else {
                    (bias_of(0) + bias_of(1)).into_dyn()
                };
                [reorder(w.index_axis(Axis(0), d)).into_dyn(), reorder(r.index_axis(Axis(0), d)).into_dyn(), bias]
            })
            .collect();
        let layer = Rc::new(Layer {
            label: proto::node_label(node).to_string(),
            x,
            time,
            hidden,
            cell,
            reset_after,
            activation,
            recurrent_activation,
            direction,
            weights,
            emitted: RefCell::new(HashMap::new()),
        });
        let output = |i: usize| node.output.get(i).filter(|n| !n.is_empty()).cloned();
        if let Some(y) = output(0) {
            self.recurrent.sequences.insert(y, layer.clone());
        }
        if let Some(y_h) = output(1) {
            self.recurrent.last_states.insert(y_h, layer);
        }
        if let Some(y_c) = output(2) {
            self.recurrent.cell_states.insert(y_c);
        }
        Ok(())
    }

    /// A float constant input of exactly `shape`.
    fn weight(&self, node: &NodeProto, index: usize, shape: &[usize]) -> Result<ArrayD<f32>, OpError> {
        let value = self.constant(node, index)?.ok_or_else(|| format!("input {index} (a weight) is missing"))?;
        let array = proto::f32_view(&value).into_owned();
        if array.shape() != shape {
            return Err(unsupported!("input {index} has shape {:?}, expected {shape:?}", array.shape()));
        }
        Ok(array)
    }

    /// The `KerasRecurrent` node computing `layer` with or without `return_sequences`
    /// (batch, time, directions·hidden) or (batch, hidden), emitted once.
    fn emit_recurrent(&mut self, layer: &Layer, return_sequences: bool) -> Result<Tensor, OpError> {
        if let Some(tensor) = layer.emitted.borrow().get(&return_sequences) {
            return Ok(tensor.clone());
        }
        if return_sequences && layer.direction == Direction::Reverse {
            return Err("the per-step outputs Y of a reverse layer: Keras's go_backwards returns them in reading \
                        order and no Keras layer reverses time"
                .into());
        }
        if !return_sequences && layer.direction == Direction::Bidirectional {
            return Err("the last states Y_h of both directions are not supported (read Y)".into());
        }
        let base = format!("{}/keras", layer.label);
        let mut inputs = vec![layer.x.node.clone()];
        for (d, [kernel, recurrent_kernel, bias]) in layer.weights.iter().enumerate() {
            for (name, value) in [("kernel", kernel), ("recurrent_kernel", recurrent_kernel), ("bias", bias)] {
                inputs.push(self.emit_f32(&format!("{base}/{d}/{name}"), value.view(), value.shape()));
            }
        }
        let merge_mode = if layer.direction == Direction::Bidirectional { "concat" } else { "" };
        let attrs = vec![
            ("cell", string(layer.cell)),
            ("reset_after", Attr::B(layer.reset_after)),
            ("activation", string(layer.activation)),
            ("recurrent_activation", string(layer.recurrent_activation)),
            ("return_sequences", Attr::B(return_sequences)),
            ("go_backwards", Attr::B(layer.direction == Direction::Reverse)),
            ("merge_mode", string(merge_mode)),
        ];
        let node = self.emit(&base, KERAS_RECURRENT, inputs, attrs);
        let width = layer.directions() * layer.hidden;
        let shape =
            if return_sequences { vec![None, Some(layer.time), Some(width)] } else { vec![None, Some(layer.hidden)] };
        let tensor = Tensor { node, layout: identity(shape.len()), shape, merge: None };
        layer.emitted.borrow_mut().insert(return_sequences, tensor.clone());
        Ok(tensor)
    }
}

/// The Keras names of a node's `activations` (its defaults when absent), the same for
/// every direction.
fn activations(node: &NodeProto, defaults: &[&str], directions: usize) -> Result<Vec<&'static str>, OpError> {
    let listed: Vec<String> = node
        .attribute
        .iter()
        .find(|a| a.name == "activations")
        .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        .unwrap_or_else(|| defaults.iter().map(|s| s.to_string()).collect());
    let per_direction = defaults.len();
    let first: Vec<&str> = listed.iter().take(per_direction).map(String::as_str).collect();
    if listed.len() < per_direction
        || listed
            .chunks(per_direction)
            .take(directions)
            .any(|chunk| chunk.iter().map(String::as_str).ne(first.iter().copied()))
    {
        return Err(unsupported!("activations {listed:?}: both directions must use the same {per_direction}"));
    }
    first
        .iter()
        .map(|&name| match name {
            "Sigmoid" => Ok("sigmoid"),
            "Tanh" => Ok("tanh"),
            "Relu" => Ok("relu"),
            "Softsign" => Ok("softsign"),
            "Softplus" => Ok("softplus"),
            other => Err(unsupported!("activation '{other}' has no Keras equivalent here")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto, NodeProto, TensorProto};

    use crate::testing::{ints_attr, onnx_node, translated_at};

    fn floats(name: &str, dims: &[i64]) -> TensorProto {
        let count: i64 = dims.iter().product();
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
            float_data: (0..count).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect(),
            ..Default::default()
        }
    }

    fn attr(name: &str, kind: AttributeType, i: i64, s: &str) -> AttributeProto {
        AttributeProto { name: name.into(), r#type: kind as i32, i, s: s.as_bytes().to_vec(), ..Default::default() }
    }

    /// x (N, 4, 3) → Transpose → LSTM (hidden 2) with `extra` attributes → Y → Squeeze(1) →
    /// Transpose back to y (N, 4, 2).
    fn lstm_graph(extra: Vec<AttributeProto>, tail: Vec<NodeProto>) -> Result<Vec<String>, String> {
        let mut attrs = vec![attr("hidden_size", AttributeType::Int, 2, "")];
        attrs.extend(extra);
        let mut lstm = onnx_node("LSTM", &["xt", "W", "R", "B"], "Y", attrs);
        lstm.output.extend(["Y_h".to_string(), String::new()]);
        let mut nodes = vec![onnx_node("Transpose", &["x"], "xt", vec![ints_attr("perm", &[1, 0, 2])]), lstm];
        nodes.extend(tail);
        let weights = vec![floats("W", &[1, 8, 3]), floats("R", &[1, 8, 2]), floats("B", &[1, 16])];
        // Squeeze axes as attributes: opset 12's form.
        let graph = translated_at(12, &[-1, 4, 3], nodes, weights)?;
        Ok(graph.nodes().iter().map(|n| n.op.clone()).filter(|op| op != "Const").collect())
    }

    fn sequences_back() -> Vec<NodeProto> {
        vec![
            onnx_node("Squeeze", &["Y"], "ys", vec![ints_attr("axes", &[1])]),
            onnx_node("Transpose", &["ys"], "y", vec![ints_attr("perm", &[1, 0, 2])]),
        ]
    }

    #[test]
    fn torch_layout_changes_cost_no_tf_node() {
        let ops = lstm_graph(vec![], sequences_back()).unwrap();
        assert_eq!(ops, ["Placeholder", "KerasRecurrent"]);
        let last = vec![onnx_node("Squeeze", &["Y_h"], "y", vec![ints_attr("axes", &[0])])];
        assert_eq!(lstm_graph(vec![], last).unwrap(), ["Placeholder", "KerasRecurrent"]);
    }

    #[test]
    fn refusals_say_why() {
        let reverse = attr("direction", AttributeType::String, 0, "reverse");
        let error = lstm_graph(vec![reverse], sequences_back()).unwrap_err();
        assert!(error.contains("node 'ys' (Squeeze)") && error.contains("reverse layer"), "{error}");
        let clip =
            AttributeProto { name: "clip".into(), r#type: AttributeType::Float as i32, f: 3.0, ..Default::default() };
        let error = lstm_graph(vec![clip], sequences_back()).unwrap_err();
        assert!(error.contains("(LSTM)") && error.contains("'clip'"), "{error}");
        let relu = vec![onnx_node("Relu", &["Y"], "y", vec![])];
        let error = lstm_graph(vec![], relu).unwrap_err();
        assert!(error.contains("(Relu)") && error.contains("output Y of a recurrent node"), "{error}");
        let hard = AttributeProto {
            name: "activations".into(),
            r#type: AttributeType::Strings as i32,
            strings: ["HardSigmoid", "Tanh", "Tanh"].iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        let error = lstm_graph(vec![hard], sequences_back()).unwrap_err();
        assert!(error.contains("'HardSigmoid' has no Keras equivalent"), "{error}");
    }
}

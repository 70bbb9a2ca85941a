//! tract-onnx's `LSTM`, `GRU` and `RNN` with their `activations` attribute honoured.
//!
//! tract-onnx 0.23.9 builds every recurrent node with the ONNX default activations and
//! ignores `activations`: a PyTorch `nn.RNN(nonlinearity="relu")` runs as tanh. These
//! builders give tract's own recurrent bodies the activations the node asks for (Sigmoid,
//! Tanh, Relu; anything else is an oracle error naming it). They read the ONNX node only,
//! never the translator's reading of it.

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::ops::rec::common::CommonRec;
use tract_onnx::ops::rec::{gru::GRU, lstm::LSTM, rnn::RNN};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops;

/// Replaces tract-onnx's `LSTM`, `GRU` and `RNN` builders in `register`.
pub(crate) fn register(register: &mut OnnxOpRegister) {
    register.insert("LSTM", lstm);
    register.insert("GRU", gru);
    register.insert("RNN", rnn);
}

/// The node's activations, `defaults` when absent; both directions must agree (tract
/// applies one set of ops to both).
fn activations(pb: &NodeProto, defaults: &[&str]) -> TractResult<Vec<Box<dyn TypedOp>>> {
    let listed: Vec<String> = pb
        .attribute
        .iter()
        .find(|a| a.name == "activations")
        .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        .unwrap_or_else(|| defaults.iter().map(|s| s.to_string()).collect());
    let n = defaults.len();
    if listed.len() < n || listed.chunks(n).any(|chunk| chunk != &listed[..n]) {
        bail!("{}: activations {listed:?} differ between directions", pb.op_type);
    }
    if pb.attribute.iter().any(|a| a.name == "activation_alpha" || a.name == "activation_beta") {
        bail!("{}: activation_alpha/activation_beta are not supported by the oracle", pb.op_type);
    }
    listed[..n]
        .iter()
        .map(|name| -> TractResult<Box<dyn TypedOp>> {
            Ok(match name.as_str() {
                "Sigmoid" => Box::new(ops::nn::sigmoid()),
                "Tanh" => Box::new(ops::math::tanh()),
                "Relu" => Box::new(tract_onnx::tract_core::ops::nn::leaky_relu(0.0)),
                other => bail!("{}: activation '{other}' is not supported by the oracle", pb.op_type),
            })
        })
        .collect()
}

fn lstm(_ctx: &ParsingContext, pb: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let mut act = activations(pb, &["Sigmoid", "Tanh", "Tanh"])?.into_iter();
    let (f, g, h) = (act.next().unwrap(), act.next().unwrap(), act.next().unwrap());
    let common = CommonRec::from_node_and_options(pb, 3, 0, Box::new(LSTM { f, g, h }))?;
    Ok((expand(common), vec![]))
}

fn gru(_ctx: &ParsingContext, pb: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let mut act = activations(pb, &["Sigmoid", "Tanh"])?.into_iter();
    let (f, g) = (act.next().unwrap(), act.next().unwrap());
    let linear_before_reset = pb.attribute.iter().any(|a| a.name == "linear_before_reset" && a.i != 0);
    let common = CommonRec::from_node_and_options(pb, 3, 0, Box::new(GRU { f, g, linear_before_reset }))?;
    Ok((expand(common), vec![]))
}

fn rnn(_ctx: &ParsingContext, pb: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let fore = activations(pb, &["Tanh"])?.remove(0);
    let back = activations(pb, &["Tanh"])?.remove(0);
    let common = CommonRec::from_node_and_options(pb, 3, 0, Box::new(RNN { fore, back }))?;
    Ok((expand(common), vec![]))
}

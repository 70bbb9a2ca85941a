//! `tf2h5 inspect`: what a model holds and what tf2h5 would make of it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use tf2h5_keras::KerasModel;
use tf2h5_tf::NodeExt;

/// Describes a TF or ONNX model (or a Keras `.h5` file) as text.
pub fn inspect(path: &Path, options: &tf2h5_verify::Options) -> Result<String> {
    if tf2h5_verify::source::is_hdf5(path) {
        // Untrusted HDF5 is read in a child process: the C library can crash or hang on it.
        return crate::isolate::describe_h5(path);
    }
    if tf2h5_onnx::is_onnx(path) {
        // Every untranslatable op in one pass, as for TF graphs below.
        let unsupported = tf2h5_onnx::unsupported_ops(path)?;
        if !unsupported.is_empty() {
            let mut out = format!("model: {} (ONNX)\nunsupported ops:\n", path.display());
            for (op, node) in &unsupported {
                writeln!(out, "  {op}  (first at node '{node}')")?;
            }
            return Ok(out);
        }
    }
    let graph = tf2h5_verify::source::load(path, options)?;
    let mut out = String::new();
    writeln!(out, "model: {} ({} nodes)", graph.source.display(), graph.nodes().len())?;
    if let Some(translation) = &graph.translation {
        writeln!(out, "translated from {} to TF ops; layout: {}", translation.format, translation.layout)?;
    }
    let signatures = if graph.translation.is_some() { Vec::new() } else { tf2h5_tf::signatures(path)? };
    if !signatures.is_empty() {
        writeln!(out, "signatures:")?;
        for signature in &signatures {
            let keys = |tensors: &[tf2h5_tf::SignatureTensor]| {
                tensors.iter().map(|t| t.key.clone()).collect::<Vec<_>>().join(", ")
            };
            let chosen = graph.signature.as_ref().is_some_and(|s| s.name == signature.name);
            writeln!(
                out,
                "  {}{}  ({}) -> ({})",
                signature.name,
                if chosen { " *" } else { "" },
                keys(&signature.inputs),
                keys(&signature.outputs)
            )?;
        }
    }
    writeln!(out, "inputs:")?;
    for node in graph.placeholders() {
        let shape = node.attr_shape_opt("shape").ok().flatten();
        writeln!(
            out,
            "  {}  {}",
            node.name,
            shape.map(|s| format_shape(&s)).unwrap_or_else(|| "(unknown shape)".into())
        )?;
    }
    writeln!(out, "outputs:")?;
    for node in graph.default_outputs() {
        writeln!(out, "  {}  ({})", node.name, node.op)?;
    }
    writeln!(out, "ops:")?;
    for (op, count) in graph.op_histogram() {
        writeln!(out, "  {count:>6}  {op}")?;
    }
    let options = tf2h5_convert::Options::default();
    let unsupported = tf2h5_convert::unsupported_ops(&graph, &options)?;
    if !unsupported.is_empty() {
        writeln!(out, "unsupported ops:")?;
        for (op, node) in &unsupported {
            writeln!(out, "  {op}  (first at node '{node}')")?;
        }
        return Ok(out);
    }
    match tf2h5_convert::convert(&graph, &options) {
        Ok(conversion) => {
            writeln!(
                out,
                "keras layers ({}, {} parameters):",
                conversion.model.layers.len(),
                conversion.model.parameter_count()
            )?;
            for ((layer, sources), l) in conversion.layer_sources.iter().zip(&conversion.model.layers) {
                writeln!(out, "  {:<32} {:<24} <- {}", layer, l.class_name, sources.join(", "))?;
            }
        }
        Err(error) => writeln!(out, "conversion would fail: {error}")?,
    }
    Ok(out)
}

/// The description of a Keras model read from an `.h5` file.
pub fn describe_keras(model: &KerasModel) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "keras model '{}': {} layers, {} parameters",
        model.name,
        model.layers.len(),
        model.parameter_count()
    );
    let joined =
        |tensors: &[tf2h5_keras::LayerOutput]| tensors.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let _ = writeln!(out, "inputs: {}\noutputs: {}", model.inputs.join(", "), joined(&model.outputs));
    for layer in &model.layers {
        let weights: Vec<String> = layer.weights.iter().map(|w| format!("{}{:?}", w.name, w.value.shape())).collect();
        let _ = writeln!(
            out,
            "  {:<32} {:<24} <- [{}] {}",
            layer.name,
            layer.class_name,
            joined(&layer.inbound),
            weights.join(" ")
        );
    }
    out
}

fn format_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect();
    format!("({})", dims.join(", "))
}

//! `tf2h5 inspect`: what a model holds and what tf2h5 would make of it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use tf2h5_keras::KerasModel;
use tf2h5_tf::NodeExt;

/// Describes a TF model (or a Keras `.h5` file) as text.
pub fn inspect(path: &Path) -> Result<String> {
    let is_h5 = path.is_file()
        && std::fs::read(path).map(|b| b.starts_with(b"\x89HDF\r\n\x1a\n")).unwrap_or(false);
    if is_h5 {
        let model = tf2h5_keras::h5::read_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(describe_keras(&model));
    }
    let graph = tf2h5_tf::load(path)?;
    let mut out = String::new();
    writeln!(out, "model: {} ({} nodes)", graph.source.display(), graph.nodes().len())?;
    writeln!(out, "inputs:")?;
    for node in graph.placeholders() {
        let shape = node.attr_shape_opt("shape").ok().flatten();
        writeln!(out, "  {}  {}", node.name, shape.map(|s| format_shape(&s)).unwrap_or_else(|| "(unknown shape)".into()))?;
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
            writeln!(out, "keras layers ({}, {} parameters):", conversion.model.layers.len(), conversion.model.parameter_count())?;
            for ((layer, sources), l) in conversion.layer_sources.iter().zip(&conversion.model.layers) {
                writeln!(out, "  {:<32} {:<24} <- {}", layer, l.class_name, sources.join(", "))?;
            }
        }
        Err(error) => writeln!(out, "conversion would fail: {error}")?,
    }
    Ok(out)
}

fn describe_keras(model: &KerasModel) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "keras model '{}': {} layers, {} parameters", model.name, model.layers.len(), model.parameter_count());
    let _ = writeln!(out, "inputs: {}\noutputs: {}", model.inputs.join(", "), model.outputs.join(", "));
    for layer in &model.layers {
        let weights: Vec<String> = layer.weights.iter().map(|w| format!("{}{:?}", w.name, w.value.shape())).collect();
        let _ = writeln!(out, "  {:<32} {:<24} <- [{}] {}", layer.name, layer.class_name, layer.inbound.join(", "), weights.join(" "));
    }
    out
}

fn format_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect();
    format!("({})", dims.join(", "))
}

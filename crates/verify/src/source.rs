//! The source model, whatever its format: loading it as a [`TfGraph`] for the converter, and
//! running it as the oracle. A TensorFlow model runs in tract-tensorflow
//! ([`oracle::Oracle`]); an ONNX model, translated by `tf2h5-onnx`, runs as the `.onnx` file in
//! tract-onnx ([`oracle::onnx::OnnxOracle`]); a Keras `.h5` file runs layer by layer under its
//! own Keras version's semantics ([`oracle::keras_source::KerasSourceOracle`]).

use std::path::Path;

use ndarray::ArrayD;
use tf2h5_tf::TfGraph;

use crate::{oracle, Options, VerifyError};

/// Loads the model at `path`: an ONNX model (a `.onnx` file, or a folder holding one) through
/// `tf2h5-onnx`, anything else through `tf2h5-tf`.
pub fn load(path: &Path, options: &Options) -> Result<TfGraph, tf2h5_tf::TfError> {
    if tf2h5_onnx::is_onnx(path) {
        if let Some(signature) = &options.load.signature {
            return Err(tf2h5_tf::TfError::Format {
                path: path.to_path_buf(),
                message: format!("an ONNX model has no signatures (asked for '{signature}')"),
            });
        }
        // Should the translation need an unknown input size, it fixes it at the size the
        // first verification run uses: the data's, else the first --input-shape.
        let mut onnx = options.onnx.clone();
        let data = options.inputs.iter().map(|(name, array)| (name.clone(), array.shape().to_vec()));
        let pinned = options.input_shapes.iter().filter(|(name, _)| !options.inputs.iter().any(|(n, _)| n == name));
        onnx.size_hints = data.chain(pinned.cloned()).collect();
        return tf2h5_onnx::load(path, &onnx);
    }
    tf2h5_tf::load_with(path, &options.load)
}

/// The source graph, ready to run for fixed input shapes.
pub enum SourceOracle {
    /// A TensorFlow graph in tract-tensorflow.
    Tf(oracle::Oracle),
    /// The ONNX model a graph was translated from, in tract-onnx.
    Onnx(oracle::onnx::OnnxOracle),
    /// A Keras `.h5` model, run under its own Keras version's semantics.
    Keras(oracle::keras_source::KerasSourceOracle),
}

impl SourceOracle {
    /// Prepares `graph`'s source for inputs named and shaped as given (the graph's
    /// placeholders and layout), producing the values of the graph nodes `outputs`.
    /// The graph is consumed: a TensorFlow graph's weights move into tract; a translated
    /// graph's are freed before tract-onnx reads the source file.
    pub fn new(mut graph: TfGraph, inputs: &[(String, Vec<usize>)], outputs: &[String]) -> Result<Self, VerifyError> {
        match graph.translation.take() {
            Some(translation) => {
                let types = inputs
                    .iter()
                    .map(|(name, _)| oracle::placeholder_type(graph.nodes(), name))
                    .collect::<Result<Vec<_>, _>>()?;
                drop(graph);
                Ok(SourceOracle::Onnx(oracle::onnx::OnnxOracle::new(&translation, inputs, &types, outputs)?))
            }
            None => Ok(SourceOracle::Tf(oracle::Oracle::from_graph(graph.into_pruned(outputs)?, inputs, outputs)?)),
        }
    }

    /// Runs one set of inputs; one array per requested output, in the graph's layout.
    pub fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, VerifyError> {
        match self {
            SourceOracle::Tf(oracle) => oracle.run(inputs),
            SourceOracle::Onnx(oracle) => oracle.run(inputs),
            SourceOracle::Keras(oracle) => oracle.run(inputs),
        }
    }
}

/// Whether the source oracle can produce `node`'s value: every node of a TF graph, the nodes
/// that compute an ONNX tensor of a translated one.
pub fn observable(graph: &TfGraph, node: &str) -> bool {
    graph.translation.as_ref().is_none_or(|t| t.tensors.contains_key(node))
}

/// Whether `path` is an HDF5 file (a Keras `.h5` source): its signature (reads 8 bytes).
pub fn is_hdf5(path: &Path) -> bool {
    use std::io::Read;
    let mut signature = [0u8; 8];
    path.is_file()
        && std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut signature)).is_ok()
        && &signature == tf2h5_keras::h5::HDF5_SIGNATURE
}

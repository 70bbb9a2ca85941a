//! Verification: prove a converted `.h5` computes what the TensorFlow graph computes.
//!
//! [`verify`] runs the whole pipeline on one model: load the graph (`tf`), convert it
//! (`convert`), write the `.h5` to memory and read it back (`keras`), then run the same
//! seeded inputs through the read-back model in our reference engine (`engine`) and through
//! the source graph in tract-tensorflow ([`oracle`]), samples in parallel, and compare every
//! output with absolute and relative tolerances. On a mismatch it runs both engines layer by
//! layer and names the first Keras layer (and its TF node) whose output diverges. It writes
//! nothing: the caller commits the returned bytes only if [`Report::passed`].
//!
//! Flow: `cli` → **verify** → {`tf`, `convert`, `keras`, `engine`, tract}.
//!
//! ```no_run
//! let outcome = tf2h5_verify::verify(std::path::Path::new("test-models/cnn"), &Default::default()).unwrap();
//! assert!(outcome.report.passed);
//! ```
#![warn(missing_docs)]

pub mod compare;
pub mod dynamic;
pub mod inputs;
pub mod limits;
pub mod memory;
pub mod oracle;
pub mod ranges;
pub mod report;
pub mod source;

use std::path::Path;
use std::time::Instant;

use ndarray::ArrayD;

use tf2h5_convert::Conversion;

pub use compare::{Comparison, Tolerance};
pub use dynamic::DynamicDim;
pub use report::{Divergence, OutputReport, ProvenRun, Report, StageTime};

/// Errors that stop verification before any comparison (exit code 2 in the CLI).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The model cannot be read.
    #[error(transparent)]
    Load(#[from] tf2h5_tf::TfError),
    /// The graph cannot be converted.
    #[error(transparent)]
    Convert(#[from] tf2h5_convert::ConvertError),
    /// The Keras model or its h5 file is invalid.
    #[error("keras model: {0}")]
    Keras(#[from] tf2h5_keras::KerasError),
    /// The reference engine refused the model.
    #[error("reference engine: {0}")]
    Engine(#[from] tf2h5_engine::EngineError),
    /// tract could not load or run the source graph.
    #[error("tract oracle: {0}")]
    Oracle(String),
    /// User-provided inputs are unusable.
    #[error("inputs: {0}")]
    Input(String),
}

/// What to verify and how strictly.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of random samples (ignored when `inputs` are given).
    pub samples: usize,
    /// Seed of the random inputs.
    pub seed: u64,
    /// Tolerances.
    pub tolerance: Tolerance,
    /// User inputs by TF Placeholder name (or, for an ONNX model, by ONNX input name, in the
    /// ONNX file's layout); each array's first axis is the sample axis.
    pub inputs: Vec<(String, ArrayD<f32>)>,
    /// Conversion options (outputs, model name).
    pub convert: tf2h5_convert::Options,
    /// Compare every layer even when the outputs match.
    pub all_layers: bool,
    /// How to load the model (SavedModel signature).
    pub load: tf2h5_tf::LoadOptions,
    /// How to translate an ONNX model (layout).
    pub onnx: tf2h5_onnx::Options,
    /// Concrete shapes (batch first, ignored) to verify inputs at, by TF Placeholder name
    /// (`--input-shape x=1x64x4`): the first one per input is the base the model is converted
    /// at; two or more for one input replace the sizes derived from the graph
    /// ([`dynamic`]).
    pub input_shapes: Vec<(String, Vec<usize>)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            samples: 8,
            seed: 0,
            tolerance: Tolerance::default(),
            inputs: Vec::new(),
            convert: Default::default(),
            all_layers: false,
            load: Default::default(),
            onnx: Default::default(),
            input_shapes: Vec::new(),
        }
    }
}

/// The verified (or refuted) conversion: the `.h5` bytes and the report.
pub struct Outcome {
    /// The complete `.h5` file; write it only if `report.passed`.
    pub h5: Vec<u8>,
    /// What was compared and measured.
    pub report: Report,
    /// The conversion (layer ↔ TF node mapping).
    pub conversion: Conversion,
}

/// Runs the whole verification pipeline on the model at `path`.
pub fn verify(path: &Path, options: &Options) -> Result<Outcome, VerifyError> {
    let mut stages = Vec::new();
    let mut timed = |stage: &str, start: Instant| stages.push(StageTime::new(stage, start.elapsed()));

    let start = StageTime::start();
    let graph = source::load(path, options)?;
    timed("load", start);

    let start = StageTime::start();
    let mut convert_options = options.convert.clone();
    if convert_options.model_name.is_none() {
        convert_options.model_name = Some(model_name(path));
    }
    let planned = dynamic::plan(&graph, options, &convert_options)?;
    let (conversion, runs, dims) = match planned {
        Some(plan) => (plan.conversion, Some(plan.runs), plan.dims),
        None => (tf2h5_convert::convert(&graph, &convert_options)?, None, Vec::new()),
    };
    timed("convert", start);
    let runs = runs.unwrap_or_else(|| vec![static_run(&conversion)]);
    verify_runs(path, graph, conversion, options, stages, &runs, dims)
}

/// The one run of a model whose inputs have static shapes (batch 1).
fn static_run(conversion: &Conversion) -> dynamic::Run {
    conversion.inputs.iter().map(|e| (e.tf_node.clone(), e.shape.iter().map(|d| d.unwrap_or(1)).collect())).collect()
}

/// Verifies an already converted model against its graph (the part of [`verify`] after
/// conversion; `stages` holds the times measured so far). Tests use it to verify a model
/// with a deliberate error and check that localisation names the broken layer.
pub fn verify_conversion(
    path: &Path,
    graph: tf2h5_tf::TfGraph,
    conversion: Conversion,
    options: &Options,
    stages: Vec<StageTime>,
) -> Result<Outcome, VerifyError> {
    let runs = vec![static_run(&conversion)];
    verify_runs(path, graph, conversion, options, stages, &runs, Vec::new())
}

/// [`verify_conversion`] at each set of input shapes of `runs` (the first with the user's
/// data, if any), `dims` saying what became of unknown input dimensions.
///
/// Memory: the graph is consumed (its weights move into tract), the converter's weights are
/// freed as they are written, and the model is replaced by the one read back from the `.h5`
/// bytes, so each weight is held by tract, the file image and the reference engine, and by
/// nothing else (a model verified at several sizes keeps one more copy of the graph for the
/// later runs' oracles). The per-layer comparison, run only on a mismatch or when asked,
/// loads the graph again from `path`.
fn verify_runs(
    path: &Path,
    graph: tf2h5_tf::TfGraph,
    mut conversion: Conversion,
    options: &Options,
    mut stages: Vec<StageTime>,
    runs: &[dynamic::Run],
    dims: Vec<DynamicDim>,
) -> Result<Outcome, VerifyError> {
    let mut timed = |stage: &str, start: Instant| stages.push(StageTime::new(stage, start.elapsed()));
    let start = StageTime::start();
    let run_samples = runs
        .iter()
        .enumerate()
        .map(|(index, run)| inputs::samples_at(&conversion.inputs, run, index, &graph, options))
        .collect::<Result<Vec<_>, _>>()?;
    let run_batches = run_samples
        .iter()
        .map(|samples| inputs::batches(&conversion.inputs, samples))
        .collect::<Result<Vec<_>, _>>()?;
    let output_nodes: Vec<String> = conversion.outputs.iter().map(|o| o.tf_node.clone()).collect();
    let source_summary = report::SourceSummary::of(&graph);
    // The oracle is prepared per set of shapes: the later runs need the graph again.
    let mut spare_graph = (runs.len() > 1).then(|| graph.clone());
    // First, while the converter's weights are the only other copy: the graph's weights
    // move into tract and the graph is gone before the file image exists.
    let first_shapes = inputs::sample_shapes(&conversion.inputs, &run_batches[0]);
    let mut first_oracle = Some(source::SourceOracle::new(graph, &first_shapes, &output_nodes)?);
    timed("tract prepare", start);

    let start = StageTime::start();
    let h5 = tf2h5_keras::h5::write_releasing_weights(&mut conversion.model)?;
    timed("h5 write", start);

    let start = StageTime::start();
    // What the engine runs is what the file holds, never the converter's copy.
    conversion.model = tf2h5_keras::h5::read_from_bytes(&h5)?;
    let model = &conversion.model;
    timed("h5 read", start);

    // Batch after batch, tract (one thread) and the engine (the rayon pool) side by side;
    // per-engine times are summed over batches.
    let start = StageTime::start();
    let timed_run = |run: &dyn Fn() -> Result<Vec<ArrayD<f32>>, VerifyError>| {
        let start = Instant::now();
        run().map(|outputs| (outputs, start.elapsed()))
    };
    let mut results = Vec::with_capacity(runs.len());
    for (index, batches) in run_batches.iter().enumerate() {
        let oracle = match first_oracle.take() {
            Some(oracle) => oracle,
            None => {
                let graph = if index + 1 == runs.len() { spare_graph.take() } else { spare_graph.clone() };
                let graph = graph.ok_or_else(|| VerifyError::Oracle("no graph left for a later run".into()))?;
                let shapes = inputs::sample_shapes(&conversion.inputs, batches);
                source::SourceOracle::new(graph, &shapes, &output_nodes)?
            }
        };
        let mut run_results = Vec::with_capacity(batches.len());
        for batch in batches {
            let (expected, actual) = rayon::join(
                || timed_run(&|| oracle.run(batch)),
                || timed_run(&|| tf2h5_engine::run(model, batch).map_err(VerifyError::from)),
            );
            let ((expected, tract_time), (actual, engine_time)) = (expected?, actual?);
            run_results.push((expected, actual, tract_time, engine_time));
        }
        results.push(run_results);
    }
    stages.push(StageTime::new("run (wall, both engines)", start.elapsed()));
    stages.push(StageTime::sum("tract run (sum)", results.iter().flatten().map(|r| r.2).sum()));
    stages.push(StageTime::sum("engine run (sum)", results.iter().flatten().map(|r| r.3).sum()));

    let start = StageTime::start();
    let mut outputs: Vec<OutputReport> = conversion
        .outputs
        .iter()
        .map(|e| OutputReport { layer: e.layer.clone(), tf_node: e.tf_node.clone(), comparison: Comparison::default() })
        .collect();
    let mut proven = Vec::with_capacity(runs.len());
    for ((run, samples), run_results) in runs.iter().zip(&run_samples).zip(&results) {
        let mut run_comparison = Comparison::default();
        for (index, output) in outputs.iter_mut().enumerate() {
            for (expected, actual, _, _) in run_results {
                let (Some(expected), Some(actual)) = (expected.get(index), actual.get(index)) else {
                    return Err(VerifyError::Oracle(format!("output {index} missing from a run")));
                };
                let comparison = compare::compare(expected, actual, options.tolerance);
                output.comparison.merge(&comparison);
                run_comparison.merge(&comparison);
            }
        }
        proven.push(ProvenRun { shapes: run.clone(), samples: samples.len(), comparison: run_comparison });
    }
    stages.push(StageTime::new("compare", start.elapsed()));

    let passed = outputs.iter().all(|o| o.comparison.passed());
    let layer_errors = if !passed || options.all_layers {
        let start = StageTime::start();
        // Localise on the first run that failed (the first run when all passed).
        let run = proven.iter().position(|r| !r.comparison.passed()).unwrap_or(0);
        let samples = &run_samples[run];
        let errors = source::load(path, options).map_err(|e| e.to_string()).and_then(|graph| {
            let sample_shapes = inputs::sample_shapes(&conversion.inputs, samples);
            compare_layers(graph, &conversion, &sample_shapes, &samples[0], options.tolerance)
        });
        stages.push(StageTime::new("per-layer compare", start.elapsed()));
        Some(errors)
    } else {
        None
    };
    let sample_count = run_samples.iter().map(Vec::len).sum();
    let mut report =
        Report::new(path, source_summary, &conversion, options, sample_count, outputs, stages, h5.len(), layer_errors);
    report.runs = proven;
    report.dimensions = dims;
    Ok(Outcome { h5, report, conversion })
}

/// The model's name: the file stem, or the directory name for a model directory.
pub fn model_name(path: &Path) -> String {
    let stem = if path.is_dir() { path.file_name() } else { path.file_stem() };
    let name = stem.map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    // A bare `frozen.pb` or `saved_model/` is better named after its folder.
    if matches!(name.as_str(), "frozen" | "model" | "saved_model") {
        if let Some(parent) = path.parent().and_then(|p| p.file_name()) {
            return parent.to_string_lossy().into_owned();
        }
    }
    name
}

/// Runs every layer in both engines on one sample and compares layer outputs with the TF
/// node each layer ends at. Returns the table in layer order, or why it could not be built.
fn compare_layers(
    graph: tf2h5_tf::TfGraph,
    conversion: &Conversion,
    input_shapes: &[(String, Vec<usize>)],
    sample: &[ArrayD<f32>],
    tolerance: Tolerance,
) -> Result<Vec<Divergence>, String> {
    let compared: Vec<(&String, &String)> = conversion
        .layer_sources
        .iter()
        .filter(|(layer, _)| !conversion.inputs.iter().any(|i| &i.layer == layer))
        .filter_map(|(layer, nodes)| nodes.last().map(|node| (layer, node)))
        .filter(|(_, node)| source::observable(&graph, node))
        .collect();
    let node_names: Vec<String> = compared.iter().map(|(_, node)| (*node).clone()).collect();
    let oracle = source::SourceOracle::new(graph, input_shapes, &node_names).map_err(|e| e.to_string())?;
    let expected = oracle.run(sample).map_err(|e| e.to_string())?;
    let actual = tf2h5_engine::run_all_layers(&conversion.model, sample).map_err(|e| e.to_string())?;
    Ok(compared
        .iter()
        .zip(expected)
        .map(|((layer, node), expected)| {
            let comparison = match actual.get(*layer) {
                Some(actual) => compare::compare(&expected, actual, tolerance),
                None => Comparison::missing(),
            };
            Divergence { layer: (*layer).clone(), tf_node: (*node).clone(), comparison }
        })
        .collect())
}

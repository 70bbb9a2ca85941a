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
pub mod progress;
pub mod ranges;
pub mod report;
pub mod source;

use std::path::Path;
use std::time::Instant;

use ndarray::ArrayD;

use tf2h5_convert::Conversion;

pub use compare::{Comparison, Tolerance};
pub use dynamic::DynamicDim;
pub use progress::Progress;
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
    /// The Keras `.h5` source cannot be upgraded.
    #[error(transparent)]
    Upgrade(#[from] tf2h5_upgrade::UpgradeError),
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
    /// Where the stages report progress (hidden by default).
    pub progress: Progress,
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
            progress: Progress::hidden(),
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

    options.progress.stage("load");
    let start = StageTime::start();
    let graph = source::load(path, options)?;
    timed("load", start);

    options.progress.stage("convert");
    let start = StageTime::start();
    let mut convert_options = options.convert.clone();
    if convert_options.model_name.is_none() {
        convert_options.model_name = Some(model_name(path));
    }
    let planned = dynamic::plan(&graph, options, &convert_options)?;
    let (conversion, runs, mut dims) = match planned {
        Some(plan) => (plan.conversion, Some(plan.runs), plan.dims),
        None => (tf2h5_convert::convert(&graph, &convert_options)?, None, Vec::new()),
    };
    dims.splice(0..0, dynamic::fixed_at_translation(&graph));
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
    conversion: Conversion,
    options: &Options,
    mut stages: Vec<StageTime>,
    runs: &[dynamic::Run],
    dims: Vec<DynamicDim>,
) -> Result<Outcome, VerifyError> {
    let half_precision_options;
    let options = if oracle::half::computes_in_half(&graph.graph) {
        let tolerance = options.tolerance.at_least(Tolerance::HALF_PRECISION);
        half_precision_options = Options { tolerance, ..options.clone() };
        &half_precision_options
    } else {
        options
    };
    options.progress.stage("tract prepare");
    let start = StageTime::start();
    let (run_samples, run_batches) = draw(&conversion, runs, Some(&graph), options)?;
    let output_nodes: Vec<String> = conversion.outputs.iter().map(|o| o.tf_node.clone()).collect();
    let source_summary = report::SourceSummary::of(&graph);
    // The oracle is prepared per set of shapes: the later runs need the graph again.
    let mut spare_graph = (runs.len() > 1).then(|| graph.clone());
    // First, while the converter's weights are the only other copy: the graph's weights
    // move into tract and the graph is gone before the file image exists.
    let first_shapes = inputs::sample_shapes(&conversion.inputs, &run_batches[0]);
    let mut first_oracle = Some(source::SourceOracle::new(graph, &first_shapes, &output_nodes)?);
    stages.push(StageTime::new("tract prepare", start.elapsed()));
    let oracle_for_run = |index: usize, shapes: &[(String, Vec<usize>)]| match first_oracle.take() {
        Some(oracle) => Ok(oracle),
        None => {
            let graph = if index + 1 == runs.len() { spare_graph.take() } else { spare_graph.clone() };
            let graph = graph.ok_or_else(|| VerifyError::Oracle("no graph left for a later run".into()))?;
            source::SourceOracle::new(graph, shapes, &output_nodes)
        }
    };
    let per_layer = |conversion: &Conversion, samples: &[inputs::Sample]| {
        source::load(path, options).map_err(|e| e.to_string()).and_then(|graph| {
            let sample_shapes = inputs::sample_shapes(&conversion.inputs, samples);
            compare_layers(graph, conversion, &sample_shapes, &samples[0], options.tolerance)
        })
    };
    let plan = Plan { path, options, runs, dims, run_samples, run_batches, source_summary };
    plan.compare(conversion, stages, oracle_for_run, per_layer)
}

/// Verifies a Keras `.h5` file as a source (`tf2h5 verify old.h5`): the file's model, upgraded
/// by `tf2h5-upgrade` into one both Keras versions load, is written, read back and run in the
/// engine; the source model runs as its own Keras version defines it
/// ([`oracle::keras_source`]). `raw` is the file as read (the CLI reads it in a child process).
pub fn verify_keras_h5(
    path: &Path,
    raw: &tf2h5_keras::raw::RawKerasFile,
    options: &Options,
) -> Result<Outcome, VerifyError> {
    let mut stages = Vec::new();
    options.progress.stage("upgrade");
    let start = StageTime::start();
    let legacy = tf2h5_upgrade::legacy::parse(raw)?;
    let upgraded = tf2h5_upgrade::upgrade(&legacy)?;
    stages.push(StageTime::new("upgrade", start.elapsed()));

    let mut model = upgraded.model;
    model.name = model_name(path);
    let input_shape = |name: &String| model.layer(name).map(|l| l.batch_input_shape()).transpose();
    let inputs = model
        .inputs
        .iter()
        .zip(&legacy.inputs)
        .map(|(layer, source)| {
            let shape = input_shape(layer)?.unwrap_or_default();
            Ok(tf2h5_convert::Endpoint { layer: layer.into(), tf_node: source.clone(), shape })
        })
        .collect::<Result<Vec<_>, tf2h5_keras::KerasError>>()?;
    let outputs = model
        .outputs
        .iter()
        .zip(&legacy.outputs)
        .map(|(layer, source)| tf2h5_convert::Endpoint { layer: layer.clone(), tf_node: source.clone(), shape: vec![] })
        .collect();
    let layer_sources = upgraded.sources.into_iter().map(|(layer, source)| (layer, vec![source])).collect();
    let conversion = Conversion { model, inputs, outputs, layer_sources };

    let input_shapes: Vec<(String, Vec<Option<usize>>)> =
        conversion.inputs.iter().map(|e| (e.tf_node.clone(), e.shape.clone())).collect();
    let runs = dynamic::keras_source_runs(&input_shapes, options)?;
    let (run_samples, run_batches) = draw(&conversion, &runs, None, options)?;
    let source_summary = report::SourceSummary::keras_h5(legacy.layers.len(), raw.keras_version.as_deref());
    // The source model runs the same at any input shape: one oracle serves every run.
    let oracle = oracle::keras_source::KerasSourceOracle::new(std::sync::Arc::new(legacy));
    let oracle_for_run = |_: usize, _: &[(String, Vec<usize>)]| Ok(source::SourceOracle::Keras(oracle.clone()));
    let per_layer = |conversion: &Conversion, samples: &[inputs::Sample]| {
        compare_keras_layers(&oracle, conversion, &samples[0], options.tolerance)
    };
    let plan = Plan { path, options, runs: &runs, dims: Vec::new(), run_samples, run_batches, source_summary };
    let mut outcome = plan.compare(conversion, stages, oracle_for_run, per_layer)?;
    outcome.report.rewrites = upgraded.rewrites;
    Ok(outcome)
}

/// Per run, the samples ([`inputs::samples_at`]) and the batches they are run in.
type Draws = (Vec<Vec<inputs::Sample>>, Vec<Vec<inputs::Sample>>);

fn draw(
    conversion: &Conversion,
    runs: &[dynamic::Run],
    graph: Option<&tf2h5_tf::TfGraph>,
    options: &Options,
) -> Result<Draws, VerifyError> {
    // A translated source that fixes its batch size (an ONNX file's `[1, 3, H, W]` input, which
    // may then reshape to `[1, -1, C]`) is only defined at that size: random samples are drawn
    // at it, and rows of the user's data are stacked to it (`inputs::batches`), never beyond.
    let source_batch = graph.and_then(|g| g.translation.as_ref()).and_then(|t| t.fixed_batch);
    let at_source_batch = |run: &dynamic::Run| -> dynamic::Run {
        let mut run = run.clone();
        if let Some(size) = source_batch {
            for (endpoint, (_, shape)) in conversion.inputs.iter().zip(run.iter_mut()) {
                if let (Some(None), Some(batch)) = (endpoint.shape.first(), shape.first_mut()) {
                    *batch = size;
                }
            }
        }
        run
    };
    let run_samples = runs
        .iter()
        .enumerate()
        .map(|(index, run)| inputs::samples_at(&conversion.inputs, &at_source_batch(run), index, graph, options))
        .collect::<Result<Vec<_>, _>>()?;
    let run_batches = run_samples
        .iter()
        .map(|samples| inputs::batches(&conversion.inputs, samples, source_batch))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((run_samples, run_batches))
}

/// What one verification compares, whatever its source: the sets of input shapes, the
/// samples and batches drawn for each, and what the report says about the source.
struct Plan<'a> {
    path: &'a Path,
    options: &'a Options,
    runs: &'a [dynamic::Run],
    dims: Vec<DynamicDim>,
    run_samples: Vec<Vec<inputs::Sample>>,
    run_batches: Vec<Vec<inputs::Sample>>,
    source_summary: report::SourceSummary,
}

impl Plan<'_> {
    /// Writes the `.h5`, reads it back, runs it in the engine beside the source oracle of each
    /// run (`oracle_for_run(index, input shapes)`) and compares the outputs; on a mismatch (or
    /// when asked) `per_layer` compares every layer on the first failing run's samples.
    fn compare(
        self,
        mut conversion: Conversion,
        mut stages: Vec<StageTime>,
        mut oracle_for_run: impl FnMut(usize, &[(String, Vec<usize>)]) -> Result<source::SourceOracle, VerifyError>,
        per_layer: impl FnOnce(&Conversion, &[inputs::Sample]) -> Result<Vec<Divergence>, String>,
    ) -> Result<Outcome, VerifyError> {
        let Plan { path, options, runs, dims, run_samples, run_batches, source_summary } = self;
        let progress = &options.progress;
        progress.stage("h5 write");
        let start = StageTime::start();
        let h5 = tf2h5_keras::h5::write_releasing_weights(&mut conversion.model)?;
        stages.push(StageTime::new("h5 write", start.elapsed()));

        progress.stage("h5 read");
        let start = StageTime::start();
        // What the engine runs is what the file holds, never the converter's copy.
        conversion.model = tf2h5_keras::h5::read_from_bytes(&h5)?;
        let model = &conversion.model;
        stages.push(StageTime::new("h5 read", start.elapsed()));

        // Batch after batch, the oracle (one thread) and the engine (the rayon pool) side by
        // side; per-engine times are summed over batches.
        progress.batches("run (both engines)", run_batches.iter().map(Vec::len).sum());
        let start = StageTime::start();
        let timed_run = |run: &dyn Fn() -> Result<Vec<ArrayD<f32>>, VerifyError>| {
            let start = Instant::now();
            run().map(|outputs| (outputs, start.elapsed()))
        };
        let mut results = Vec::with_capacity(runs.len());
        for (index, batches) in run_batches.iter().enumerate() {
            let oracle = oracle_for_run(index, &inputs::sample_shapes(&conversion.inputs, batches))?;
            let mut run_results = Vec::with_capacity(batches.len());
            for batch in batches {
                let (expected, actual) = rayon::join(
                    || timed_run(&|| oracle.run(batch)),
                    || timed_run(&|| tf2h5_engine::run(model, batch).map_err(VerifyError::from)),
                );
                let ((expected, tract_time), (actual, engine_time)) = (expected?, actual?);
                run_results.push((expected, actual, tract_time, engine_time));
                progress.batch_done();
            }
            results.push(run_results);
        }
        stages.push(StageTime::new("run (wall, both engines)", start.elapsed()));
        stages.push(StageTime::sum("tract run (sum)", results.iter().flatten().map(|r| r.2).sum()));
        stages.push(StageTime::sum("engine run (sum)", results.iter().flatten().map(|r| r.3).sum()));

        progress.stage("compare");
        let start = StageTime::start();
        let mut outputs: Vec<OutputReport> = conversion
            .outputs
            .iter()
            .map(|e| OutputReport {
                layer: e.layer.to_string(),
                tf_node: e.tf_node.clone(),
                comparison: Comparison::default(),
            })
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
            progress.stage("per-layer compare");
            let start = StageTime::start();
            // Localise on the first run that failed (the first run when all passed).
            let run = proven.iter().position(|r| !r.comparison.passed()).unwrap_or(0);
            let errors = per_layer(&conversion, &run_samples[run]);
            stages.push(StageTime::new("per-layer compare", start.elapsed()));
            Some(errors)
        } else {
            None
        };
        let sample_count = run_samples.iter().map(Vec::len).sum();
        let mut report = Report::new(
            path,
            source_summary,
            &conversion,
            options,
            sample_count,
            outputs,
            stages,
            h5.len(),
            layer_errors,
        );
        report.runs = proven;
        report.dimensions = dims;
        Ok(Outcome { h5, report, conversion })
    }
}

/// Every emitted layer that carries a source layer's output, against that source layer, on
/// one sample.
fn compare_keras_layers(
    oracle: &oracle::keras_source::KerasSourceOracle,
    conversion: &Conversion,
    sample: &[ArrayD<f32>],
    tolerance: Tolerance,
) -> Result<Vec<Divergence>, String> {
    let expected = oracle.run_all(sample).map_err(|e| e.to_string())?;
    let actual = tf2h5_engine::run_all_layers(&conversion.model, sample).map_err(|e| e.to_string())?;
    // The last emitted layer of each source layer carries its output.
    let mut carriers: Vec<(&String, &String)> = Vec::new();
    for (layer, sources) in &conversion.layer_sources {
        let Some(source) = sources.last() else { continue };
        carriers.retain(|(_, s)| *s != source);
        carriers.push((layer, source));
    }
    Ok(carriers
        .into_iter()
        .filter(|(layer, _)| !conversion.inputs.iter().any(|i| &i.layer == *layer))
        .map(|(layer, source)| {
            let comparison = match (expected.get(source), actual.get(layer)) {
                (Some(expected), Some(actual)) => compare::compare(expected, actual, tolerance),
                _ => Comparison::missing(),
            };
            Divergence { layer: layer.clone(), tf_node: source.clone(), comparison }
        })
        .collect())
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

//! The ONNX fixtures (`test-models/onnx_*`, `"format": "onnx"` in meta.json) against
//! onnxruntime's outputs: tract-onnx on the `.onnx` file, and our engine on the `.h5`
//! converted from the translated graph. Both must match onnxruntime, not merely each other.
//! Fixture arrays are in the ONNX file's layout: NCHW for most (the default `.h5` takes and
//! gives NHWC), NHWC for the tf2onnx conversions of TF models (their `.h5` keeps it).

mod common;

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, Axis};
use serde_json::{json, Value};
use tf2h5_verify::{compare::compare, source::SourceOracle, Options, Tolerance};

const ORT_TOLERANCE: Tolerance = Tolerance { atol: 1e-4, rtol: 1e-4 };

struct Fixture {
    dir: PathBuf,
    /// The ONNX model's 4-D inputs are NCHW (`"layout": "NCHW"`), not NHWC.
    nchw: bool,
    /// meta.json's input names: the ONNX graph's (`x`, or tf2onnx's `x:0`).
    input_names: Vec<String>,
    /// meta.json's shape of the first input (`None`: the batch and dynamic axes).
    input_shape: Vec<Option<usize>>,
    inputs: Vec<ArrayD<f32>>,
    outputs: Vec<ArrayD<f32>>,
    /// Per input and output: the ONNX axis of the batch (meta.json's `batch_axis`, else 0).
    input_batch_axes: Vec<usize>,
    output_batch_axes: Vec<usize>,
    /// Models with dynamic axes: `(inputs, outputs)` at further sizes (meta.json's `runs`).
    runs: Vec<(Arrays, Arrays)>,
}

type Arrays = Vec<ArrayD<f32>>;

fn onnx_fixtures() -> Vec<Fixture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.json").is_file() && tf2h5_onnx::is_onnx(p))
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 3, "expected the committed ONNX fixtures in {}", root.display());
    dirs.into_iter().map(|dir| fixture(&dir)).collect()
}

fn fixture(dir: &Path) -> Fixture {
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let nchw = match meta["layout"].as_str() {
        Some("NCHW") => true,
        Some("NHWC") => false,
        other => panic!("{}: layout {other:?}", dir.display()),
    };
    let read = |files: &Value, file_of: fn(&Value) -> &Value| -> Vec<ArrayD<f32>> {
        let files = files.as_array().unwrap().iter();
        files.map(|e| common::read_array(&dir.join(file_of(e).as_str().unwrap()))).collect()
    };
    let runs = meta["runs"].as_array().into_iter().flatten();
    let runs = runs.map(|run| (read(&run["inputs"], |f| f), read(&run["outputs"], |f| f))).collect();
    let input_names =
        meta["inputs"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect();
    let (inputs, outputs) = (read(&meta["inputs"], |e| &e["file"]), read(&meta["outputs"], |e| &e["file"]));
    let input_shape = meta["inputs"][0]["shape"].as_array().unwrap().iter().map(|d| d.as_u64().map(|d| d as usize));
    let input_shape = input_shape.collect();
    let batch_axes = |edges: &Value| -> Vec<usize> {
        let edges = edges.as_array().unwrap().iter();
        edges.map(|e| e["batch_axis"].as_u64().unwrap_or(0) as usize).collect()
    };
    let (input_batch_axes, output_batch_axes) = (batch_axes(&meta["inputs"]), batch_axes(&meta["outputs"]));
    Fixture {
        dir: dir.to_path_buf(),
        nchw,
        input_names,
        input_shape,
        inputs,
        outputs,
        input_batch_axes,
        output_batch_axes,
        runs,
    }
}

/// A fixture's input arrays as the default `.h5` takes them.
fn h5_inputs(fixture: &Fixture, inputs: &[ArrayD<f32>]) -> Vec<ArrayD<f32>> {
    inputs.iter().zip(&fixture.input_batch_axes).map(|(a, &batch)| in_h5_layout(fixture, a, batch)).collect()
}

/// A fixture array as the default `.h5` takes or gives it: NHWC for an NCHW image, the batch
/// first where the ONNX file has it on axis `batch` (the other axes in order).
fn in_h5_layout(fixture: &Fixture, a: &ArrayD<f32>, batch: usize) -> ArrayD<f32> {
    if batch != 0 {
        let mut moved = a.view();
        (0..batch).rev().for_each(|axis| moved.swap_axes(axis, axis + 1));
        moved.as_standard_layout().into_owned()
    } else if fixture.nchw && a.ndim() == 4 {
        a.clone().permuted_axes(vec![0, 2, 3, 1]).as_standard_layout().into_owned()
    } else {
        a.clone()
    }
}

fn check(what: &str, dir: &Path, index: usize, expected: &ArrayD<f32>, actual: &ArrayD<f32>) -> f32 {
    let comparison = compare(expected, actual, ORT_TOLERANCE);
    assert!(comparison.passed(), "{}: {what} output {index} differs from onnxruntime: {comparison:?}", dir.display());
    comparison.max_abs_err
}

#[test]
fn tract_onnx_and_engine_reproduce_onnxruntime_on_every_onnx_fixture() {
    for fixture in onnx_fixtures() {
        let graph = tf2h5_onnx::load(&fixture.dir, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
        // Unknown dimensions are planned as `verify` plans them, from the fixture's inputs.
        let inputs = fixture.input_names.iter().cloned().zip(fixture.inputs.iter().cloned()).collect();
        let options = Options { inputs, ..Default::default() };
        let conversion = match tf2h5_verify::dynamic::plan(&graph, &options, &Default::default()) {
            Ok(Some(plan)) => plan.conversion,
            Ok(None) => tf2h5_convert::convert(&graph, &Default::default()).unwrap_or_else(|e| panic!("{e}")),
            Err(e) => panic!("{e}"),
        };
        let model =
            tf2h5_keras::h5::read_from_bytes(&tf2h5_keras::h5::write_to_bytes(&conversion.model).unwrap()).unwrap();
        let outputs: Vec<String> = conversion.outputs.iter().map(|o| o.tf_node.clone()).collect();
        assert_eq!(outputs.len(), fixture.outputs.len());

        let runs = std::iter::once((&fixture.inputs, &fixture.outputs)).chain(fixture.runs.iter().map(|(i, o)| (i, o)));
        for (run, (inputs, expected_outputs)) in runs.enumerate() {
            let inputs = h5_inputs(&fixture, inputs);
            // A file that fixes its batch size runs in batches of that size; the `.h5`, whose
            // batch is free, runs every sample at once.
            let rows = inputs[0].shape()[0];
            let per_run = graph.translation.as_ref().and_then(|t| t.fixed_batch).unwrap_or(rows);
            let chunk =
                |a: &ArrayD<f32>, start: usize| a.slice_axis(Axis(0), (start..start + per_run).into()).to_owned();
            let shapes: Vec<(String, Vec<usize>)> = conversion
                .inputs
                .iter()
                .zip(&inputs)
                .map(|(e, a)| (e.tf_node.clone(), chunk(a, 0).shape().to_vec()))
                .collect();
            let oracle = SourceOracle::new(graph.clone(), &shapes, &outputs).unwrap();
            let tract_runs: Vec<Vec<ArrayD<f32>>> = (0..rows)
                .step_by(per_run)
                .map(|start| oracle.run(&inputs.iter().map(|a| chunk(a, start)).collect::<Vec<_>>()).unwrap())
                .collect();
            let tract: Vec<ArrayD<f32>> = (0..outputs.len())
                .map(|i| {
                    let parts: Vec<_> = tract_runs.iter().map(|run| run[i].view()).collect();
                    ndarray::concatenate(Axis(0), &parts).unwrap()
                })
                .collect();
            let engine = tf2h5_engine::run(&model, &inputs).unwrap();
            for (index, expected) in expected_outputs.iter().enumerate() {
                let expected = in_h5_layout(&fixture, expected, fixture.output_batch_axes[index]);
                let tract_err = check("tract-onnx", &fixture.dir, index, &expected, &tract[index]);
                let engine_err = check("engine", &fixture.dir, index, &expected, &engine[index]);
                let name = fixture.dir.file_name().unwrap().to_string_lossy().into_owned();
                println!(
                    "{name:<24} output {index} run {run} {:?}: tract-onnx vs onnxruntime {tract_err:.3e}  engine vs \
                     onnxruntime {engine_err:.3e}",
                    shapes[0].1
                );
            }
        }
    }
}

/// Torch exports with `dynamic_axes`: H and W, or the time axis, stay unknown in the `.h5`
/// and are proven at two sizes each; `--input-shape` and `--input` are given in the ONNX
/// layout (NCHW).
#[test]
fn onnx_dynamic_axes_stay_dynamic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models");
    let outcome = tf2h5_verify::verify(&root.join("torch_dynamic_sequence"), &Default::default()).unwrap();
    assert!(outcome.report.passed, "{}", outcome.report.summary());
    assert_eq!(outcome.conversion.inputs[0].shape, [None, None, Some(4)]);
    assert_eq!(outcome.report.runs.len(), 2);

    let dir = root.join("torch_dynamic_fcn");
    let outcome = tf2h5_verify::verify(&dir, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.report.passed, "{}", outcome.report.summary());
    assert_eq!(outcome.conversion.inputs[0].shape, [None, None, None, Some(3)]);
    assert_eq!(outcome.report.runs.len(), 3);
    assert!(outcome.report.dimensions.iter().all(|d| d.fixed.is_none() && d.sizes.len() == 2));

    let pinned = Options { input_shapes: vec![("x".into(), vec![1, 3, 6, 14])], ..Default::default() };
    let outcome = tf2h5_verify::verify(&dir, &pinned).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.report.passed, "{}", outcome.report.summary());
    assert_eq!(outcome.report.runs[0].shapes[0].1, [1, 6, 14, 3], "NCHW pin, NHWC graph");
    let fixture = fixture(&dir);
    let data = Options { inputs: vec![("x".into(), fixture.runs[0].0[0].clone())], ..Default::default() };
    let outcome = tf2h5_verify::verify(&dir, &data).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.report.passed, "{}", outcome.report.summary());
    assert_eq!(outcome.report.runs[0].shapes[0].1, [1, 10, 22, 3]);
}

/// A Resize to twice a height the file leaves unknown: the translation fixes H and W at the
/// size verification runs at (derived from the strides, or the first `--input-shape`), the
/// `.h5` takes only that size, and the report says which dimensions were fixed and why.
#[test]
fn onnx_sizes_an_op_needs_are_fixed_at_the_verification_size() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models/onnx_dynamic_upsample");
    let outcome = tf2h5_verify::verify(&dir, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.report.passed, "{}", outcome.report.summary());
    assert_eq!(outcome.conversion.inputs[0].shape, [None, Some(8), Some(8), Some(3)]);
    let dims = &outcome.report.dimensions;
    assert_eq!(dims.iter().map(|d| (d.axis, d.sizes.clone())).collect::<Vec<_>>(), [(1, vec![8]), (2, vec![8])]);
    for dim in dims {
        let why = dim.fixed.as_deref().unwrap_or_default();
        assert!(
            why.contains("the ONNX translation needs its size") && why.contains("(Resize): unknown height"),
            "{why}"
        );
    }
    let pinned = Options { input_shapes: vec![("x".into(), vec![1, 3, 16, 24])], ..Default::default() };
    let outcome = tf2h5_verify::verify(&dir, &pinned).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.report.passed, "{}", outcome.report.summary());
    assert_eq!(outcome.conversion.inputs[0].shape, [None, Some(16), Some(24), Some(3)]);
    assert_eq!(outcome.report.runs[0].shapes[0].1, [1, 16, 24, 3]);
}

/// `--fix-input-shape`: an unknown ONNX size fixed at translation is static in the `.h5` and
/// verified at that size; a fixed shape that contradicts the file, or names no input, is refused.
#[test]
fn onnx_shapes_fixed_at_translation_are_static() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models/torch_dynamic_fcn");
    let fixed = |shape: Vec<usize>, name: &str| Options {
        onnx: tf2h5_onnx::Options { fixed_shapes: vec![(name.into(), shape)], ..Default::default() },
        ..Default::default()
    };
    let outcome = tf2h5_verify::verify(&dir, &fixed(vec![1, 3, 6, 14], "x")).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.report.passed, "{}", outcome.report.summary());
    assert_eq!(outcome.conversion.inputs[0].shape, [None, Some(6), Some(14), Some(3)]);
    assert_eq!(outcome.report.runs.len(), 1);
    assert_eq!(outcome.report.runs[0].shapes[0].1, [1, 6, 14, 3]);
    for (shape, name, expected) in [
        (vec![1, 4, 6, 14], "x", "axis 1 is fixed at 4, but the file gives it 3"),
        (vec![1, 6, 14], "x", "3 sizes are fixed for a rank-4 input"),
        (vec![1, 3, 6, 14], "y", "'y', which is not an input of the model"),
    ] {
        let error = tf2h5_verify::verify(&dir, &fixed(shape, name)).err().expect("refused").to_string();
        assert!(error.contains(expected), "{error}");
    }
}

/// `--keep-nchw`: the `.h5` takes the fixture's arrays as they are (NCHW, or NHWC for
/// channels-last ONNX files) and gives the ONNX layout, but for the batch, always first.
#[test]
fn keep_nchw_models_take_and_give_the_onnx_layout() {
    for fixture in onnx_fixtures() {
        let options = Options {
            onnx: tf2h5_onnx::Options { keep_nchw: true, ..Default::default() },
            all_layers: true,
            ..Default::default()
        };
        let outcome = tf2h5_verify::verify(&fixture.dir, &options).unwrap_or_else(|e| panic!("{e}"));
        assert!(outcome.report.passed, "{}: {}", fixture.dir.display(), outcome.report.summary());
        let layout = &outcome.report.translated_from.as_ref().unwrap().layout;
        let model = tf2h5_keras::h5::read_from_bytes(&outcome.h5).unwrap();
        // Only an edge whose batch the ONNX file has on another axis is reordered (batch first).
        let batch_first = |a: &ArrayD<f32>, batch: usize| match batch {
            0 => a.clone(),
            _ => in_h5_layout(&fixture, a, batch),
        };
        let inputs: Vec<_> =
            fixture.inputs.iter().zip(&fixture.input_batch_axes).map(|(a, &b)| batch_first(a, b)).collect();
        let engine = tf2h5_engine::run(&model, &inputs).unwrap();
        for (index, expected) in fixture.outputs.iter().enumerate() {
            let expected = batch_first(expected, fixture.output_batch_axes[index]);
            check("engine (NCHW)", &fixture.dir, index, &expected, &engine[index]);
        }
        if fixture.inputs[0].ndim() == 4 {
            assert!(layout.starts_with(if fixture.nchw { "NCHW" } else { "ONNX layout" }), "{layout}");
            assert_eq!(outcome.conversion.inputs[0].shape, fixture.input_shape);
        }
    }
}

/// `--input` data for an ONNX model is named and laid out as in the ONNX file (what
/// onnxruntime took to compute the fixture): verify maps it to the Keras inputs.
#[test]
fn user_inputs_are_named_and_laid_out_as_in_the_onnx_file() {
    for fixture in onnx_fixtures() {
        let inputs = fixture.input_names.iter().cloned().zip(fixture.inputs.iter().cloned()).collect();
        let options = Options { inputs, ..Default::default() };
        let outcome =
            tf2h5_verify::verify(&fixture.dir, &options).unwrap_or_else(|e| panic!("{}: {e}", fixture.dir.display()));
        assert!(outcome.report.passed, "{}: {}", fixture.dir.display(), outcome.report.summary());
        let model = tf2h5_keras::h5::read_from_bytes(&outcome.h5).unwrap();
        let engine = tf2h5_engine::run(&model, &h5_inputs(&fixture, &fixture.inputs)).unwrap();
        for (index, expected) in fixture.outputs.iter().enumerate() {
            let expected = in_h5_layout(&fixture, expected, fixture.output_batch_axes[index]);
            check("engine", &fixture.dir, index, &expected, &engine[index]);
        }
    }
    // Data in the Keras layout under the ONNX name is refused, naming the expected layout.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models");
    let cnn = fixture(&root.join("onnx_cnn"));
    let nhwc = in_h5_layout(&cnn, &cnn.inputs[0], 0);
    let options = Options { inputs: vec![(cnn.input_names[0].clone(), nhwc)], ..Default::default() };
    let error = tf2h5_verify::verify(&cnn.dir, &options).err().expect("NHWC data for an NCHW ONNX input").to_string();
    assert!(error.contains("has shape [4, 16, 16, 3], expected (samples, 3, 16, 16)"), "{error}");
    // A state whose batch the ONNX file has on axis 1: its data too, the samples along axis 1.
    let streaming = fixture(&root.join("onnx_streaming_state"));
    let mut batch_first = streaming.inputs.clone();
    batch_first[1] = in_h5_layout(&streaming, &streaming.inputs[1], 1);
    let inputs = streaming.input_names.iter().cloned().zip(batch_first).collect();
    let options = Options { inputs, ..Default::default() };
    let error = tf2h5_verify::verify(&streaming.dir, &options).err().expect("batch-first state data").to_string();
    assert!(error.contains("has shape [4, 2, 8], expected (2, samples, 8)"), "{error}");
}

/// The per-layer comparison runs for ONNX models too: layers are matched with the ONNX
/// tensors they compute, and a broken layer is named with its ONNX tensor.
#[test]
fn per_layer_comparison_names_the_onnx_tensor_of_a_broken_layer() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models/onnx_cnn/model.onnx");
    let graph = tf2h5_onnx::load(&path, &Default::default()).unwrap();
    let options = Options { all_layers: true, ..Default::default() };
    let conversion = tf2h5_convert::convert(&graph, &Default::default()).unwrap();
    let outcome = tf2h5_verify::verify_conversion(&path, graph, conversion.clone(), &options, vec![]).unwrap();
    let layers = outcome.report.layer_comparison.unwrap().unwrap();
    assert!(layers.len() >= 8 && layers.iter().all(|d| d.comparison.passed()), "{layers:#?}");

    let mut broken = conversion;
    let layer = broken.model.layers.iter_mut().find(|l| l.class_name == "BatchNormalization").unwrap();
    layer.config.insert("epsilon".into(), json!(0.5));
    let broken_name = layer.name.clone();
    let graph = tf2h5_onnx::load(&path, &Default::default()).unwrap();
    let report = tf2h5_verify::verify_conversion(&path, graph, broken, &Default::default(), vec![]).unwrap().report;
    assert!(!report.passed);
    let first = report.first_divergence.expect("localisation must name a layer");
    assert_eq!(first.layer, broken_name);
    // The first BatchNormalization of the fixture computes ONNX tensor `bn_8`.
    assert_eq!(first.tf_node, "bn_8");
}

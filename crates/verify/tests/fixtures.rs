//! Every fixture in `test-models/` (a folder with `meta.json`), against TensorFlow's own
//! outputs: the tract oracle on the source graph, and our engine on the `.h5` read back.
//! Both must match TF (max abs err ≤ 1e-4), not merely each other.

mod common;

use std::path::{Path, PathBuf};

use common::read_array;
use ndarray::ArrayD;
use serde_json::Value;
use tf2h5_verify::{compare::compare, oracle::Oracle, Tolerance};

const TF_TOLERANCE: Tolerance = Tolerance { atol: 1e-4, rtol: 1e-4 };

struct Fixture {
    dir: PathBuf,
    model: PathBuf,
    inputs: Vec<(String, ArrayD<f32>)>,
    outputs: Vec<(String, ArrayD<f32>)>,
    /// `(inputs, outputs)` per run: `inputs`/`outputs` first, then meta.json's `runs`.
    runs: Vec<Runs>,
    /// [`TF_TOLERANCE`], or the wider `atol` the fixture states (a mixed-precision source
    /// computes in float16, the engine in float32).
    tolerance: Tolerance,
}

type Runs = (Vec<(String, ArrayD<f32>)>, Vec<(String, ArrayD<f32>)>);

fn fixtures() -> Vec<Fixture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("test-models/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.json").is_file())
        // ONNX fixtures have their own test (onnx_fixtures.rs), Keras .h5 sources theirs
        // (crates/cli/tests/upgrade.rs).
        .filter(|p| !tf2h5_onnx::is_onnx(p) && !p.join("model.h5").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "expected the committed fixtures in {}", root.display());
    dirs.into_iter().map(|dir| load_fixture(&dir)).collect()
}

fn load_fixture(dir: &Path) -> Fixture {
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let arrays = |key: &str| -> Vec<(String, ArrayD<f32>)> {
        meta[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                let name = entry["name"].as_str().unwrap().to_string();
                (name, read_array(&dir.join(entry["file"].as_str().unwrap())))
            })
            .collect()
    };
    let (inputs, outputs) = (arrays("inputs"), arrays("outputs"));
    let mut runs = vec![(inputs.clone(), outputs.clone())];
    // Models with unknown dimensions: the same inputs and outputs at further sizes.
    for run in meta["runs"].as_array().into_iter().flatten() {
        let files = |key: &str, named: &[(String, ArrayD<f32>)]| -> Vec<(String, ArrayD<f32>)> {
            let files = run[key].as_array().unwrap().iter().map(|f| dir.join(f.as_str().unwrap()));
            named.iter().zip(files).map(|((name, _), file)| (name.clone(), read_array(&file))).collect()
        };
        runs.push((files("inputs", &inputs), files("outputs", &outputs)));
    }
    let tolerance = match meta["atol"].as_f64() {
        Some(atol) => TF_TOLERANCE.at_least(Tolerance { atol: atol as f32, rtol: atol as f32 }),
        None => TF_TOLERANCE,
    };
    Fixture {
        dir: dir.to_path_buf(),
        model: dir.join(meta["model"].as_str().unwrap()),
        inputs,
        outputs,
        runs,
        tolerance,
    }
}

fn check(what: &str, fixture: &Fixture, name: &str, expected: &ArrayD<f32>, actual: &ArrayD<f32>) -> f32 {
    let comparison = compare(expected, actual, fixture.tolerance);
    assert!(
        comparison.passed(),
        "{}: {what} output '{name}' differs from TensorFlow: {comparison:?}",
        fixture.dir.display()
    );
    comparison.max_abs_err
}

#[test]
fn tract_and_engine_reproduce_tensorflow_on_every_fixture() {
    for fixture in fixtures() {
        let graph = tf2h5_tf::load(&fixture.model).unwrap_or_else(|e| panic!("{e}"));
        let output_names: Vec<String> = fixture.outputs.iter().map(|(n, _)| n.clone()).collect();
        let convert = tf2h5_convert::Options { outputs: output_names.clone(), ..Default::default() };
        // Unknown dimensions are planned as `verify` plans them, from the fixture's inputs.
        let options = tf2h5_verify::Options { inputs: fixture.inputs.clone(), ..Default::default() };
        let conversion = match tf2h5_verify::dynamic::plan(&graph, &options, &convert) {
            Ok(Some(plan)) => plan.conversion,
            Ok(None) => tf2h5_convert::convert(&graph, &convert).unwrap_or_else(|e| panic!("{e}")),
            Err(e) => panic!("{e}"),
        };
        let h5 = tf2h5_keras::h5::write_to_bytes(&conversion.model).unwrap();
        let model = tf2h5_keras::h5::read_from_bytes(&h5).unwrap();
        let pruned = graph.pruned(&output_names).unwrap();

        // Every run of the fixture: its inputs (x.npy) and the further sizes TF computed.
        for (run, (inputs, outputs)) in fixture.runs.iter().enumerate() {
            // Inputs in the model's order, matched by TF node name.
            let inputs: Vec<ArrayD<f32>> = conversion
                .inputs
                .iter()
                .map(|endpoint| inputs.iter().find(|(n, _)| *n == endpoint.tf_node).unwrap().1.clone())
                .collect();
            let shapes: Vec<(String, Vec<usize>)> =
                conversion.inputs.iter().zip(&inputs).map(|(e, a)| (e.tf_node.clone(), a.shape().to_vec())).collect();

            let oracle = Oracle::new(&pruned, &shapes, &output_names).unwrap();
            let tract_outputs = oracle.run(&inputs).unwrap();
            let engine_outputs = tf2h5_engine::run(&model, &inputs).unwrap();
            for (index, (name, expected)) in outputs.iter().enumerate() {
                let tract_err = check("tract", &fixture, name, expected, &tract_outputs[index]);
                let engine_err = check("engine", &fixture, name, expected, &engine_outputs[index]);
                println!(
                    "{:<24} {name:<12} run {run} {:?}: tract vs TF {tract_err:.3e}  engine vs TF {engine_err:.3e}",
                    fixture.dir.file_name().unwrap().to_string_lossy(),
                    shapes[0].1
                );
            }
        }
    }
}

/// Unknown input dimensions stay unknown in the `.h5` where the layers allow it, proven at two
/// sizes each (three runs for H and W), and are fixed, with the reason, before a Flatten → Dense.
#[test]
fn dynamic_fixtures_keep_or_fix_their_unknown_dimensions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models");
    let verified = |case: &str| {
        let outcome = tf2h5_verify::verify(&root.join(case), &Default::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(outcome.report.passed, "{case}: {}", outcome.report.summary());
        let input = outcome.conversion.inputs[0].shape.clone();
        (input, outcome.report)
    };
    let (shape, report) = verified("dynamic_fcn");
    assert_eq!(shape, [None, None, None, Some(3)]);
    assert_eq!(report.runs.len(), 3);
    assert!(report.dimensions.iter().all(|d| d.fixed.is_none() && d.sizes.len() == 2), "{:?}", report.dimensions);
    let (shape, report) = verified("dynamic_sequence");
    assert_eq!(shape, [None, None, Some(4)]);
    assert_eq!(report.runs.len(), 2);
    let (shape, report) = verified("text_embedding");
    assert_eq!(shape, [None, None], "token count stays unknown");
    assert_eq!(report.runs.len(), 2);
    let (shape, report) = verified("dynamic_flatten");
    assert_eq!(shape, [None, Some(10), Some(10), Some(2)]);
    let why = report.dimensions[0].fixed.as_deref().unwrap_or_default();
    assert!(why.contains("dense/MatMul"), "{why}");
}

/// The oracle fixes are what make tract agree with TF on `tract_fixes`: stock tract does not
/// know FusedBatchNormV3, and once that is registered alone it still disagrees with TF
/// (dilations ignored, Softmax over the wrong axes).
#[test]
fn stock_tract_is_wrong_where_we_fixed_it() {
    use tract_tensorflow::prelude::*;
    let fixture = load_fixture(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models/tract_fixes"));
    let graph = tf2h5_tf::load(&fixture.model).unwrap();
    let (input_name, input) = &fixture.inputs[0];
    let mut stock_tf = tract_tensorflow::tensorflow();
    let pruned = graph.pruned(&["Identity".to_string()]).unwrap();
    assert!(
        stock_tf.model_for_proto_model(&pruned).and_then(|m| m.into_typed()).is_err(),
        "stock tract knows FusedBatchNormV3?"
    );
    let fused_batch_norm = stock_tf.op_register.0["FusedBatchNorm"];
    stock_tf.op_register.insert("FusedBatchNormV3", fused_batch_norm);
    let stock = stock_tf.model_for_proto_model(&graph.pruned(&["Identity".to_string()]).unwrap()).and_then(|mut m| {
        m.set_input_names([input_name.as_str()])?;
        m.set_input_fact(0, f32::fact(input.shape()).into())?;
        m.into_optimized()?.into_runnable()?.run(tvec![Tensor::from(input.clone()).into()])
    });
    let out = stock.unwrap()[0].to_plain_array_view::<f32>().unwrap().to_owned();
    let comparison = compare(&fixture.outputs[0].1, &out, TF_TOLERANCE);
    assert!(comparison.max_abs_err > 0.1, "stock tract unexpectedly close to TF: {comparison:?}");
}

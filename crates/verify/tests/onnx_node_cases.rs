//! A fast subset of the ONNX backend node tests (`test-models/onnx_node/`, written by
//! `scripts/onnx_node_tests.py export`; `just onnx-node-tests` runs all of them): each case
//! verifies with its own inputs, and the `.h5`, run by our engine, reproduces the case's
//! expected outputs (the onnx package's reference results, not tract's).

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use serde_json::Value;
use tf2h5_verify::{compare::compare, Options, Tolerance};

fn arrays(dir: &Path, entries: &Value) -> Vec<(String, ArrayD<f32>)> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let file = dir.join(e["file"].as_str().unwrap());
            (e["name"].as_str().unwrap().to_string(), ndarray_npy::read_npy(&file).unwrap())
        })
        .collect()
}

/// The permutation undoing `axes`.
fn inverse(axes: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; axes.len()];
    for (position, &axis) in axes.iter().enumerate() {
        inverse[axis] = position;
    }
    inverse
}

#[test]
fn node_test_cases_verify_and_reproduce_their_expected_outputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models/onnx_node");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 15, "expected the committed node-test cases in {}", root.display());
    for dir in cases {
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        let inputs = arrays(&dir, &meta["inputs"]);
        let expected = arrays(&dir, &meta["outputs"]);
        // --keep-nchw: the .h5 takes and gives the case's arrays as they are.
        let options = Options {
            inputs: inputs.clone(),
            onnx: tf2h5_onnx::Options { keep_nchw: true, ..Default::default() },
            ..Default::default()
        };
        let outcome = tf2h5_verify::verify(&dir.join("model.onnx"), &options)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(outcome.report.passed, "{}: {}", dir.display(), outcome.report.summary());
        let model = tf2h5_keras::h5::read_from_bytes(&outcome.h5).unwrap();
        let arrays: Vec<ArrayD<f32>> = inputs.into_iter().map(|(_, a)| a).collect();
        let engine = tf2h5_engine::run(&model, &arrays).unwrap();
        let tolerance = Tolerance {
            atol: meta["atol"].as_f64().unwrap().max(1e-5) as f32,
            rtol: meta["rtol"].as_f64().unwrap().max(1e-3) as f32,
        };
        // An output whose batch the graph moves off axis 0 comes batch-first; the report says
        // which ONNX axis each .h5 axis holds.
        let output_axes = outcome.report.translated_from.map(|t| t.output_axes).unwrap_or_default();
        for ((name, expected), actual) in expected.iter().zip(&engine) {
            let actual = match output_axes.iter().find(|(output, _)| output == name) {
                Some((_, axes)) => actual.view().permuted_axes(inverse(axes)).to_owned(),
                None => actual.clone(),
            };
            let comparison = compare(expected, &actual, tolerance);
            assert!(comparison.passed(), "{}: output {name}: {comparison:?}", dir.display());
        }
    }
}

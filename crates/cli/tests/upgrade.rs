//! `tf2h5 verify old.h5` / `tf2h5 upgrade old.h5`: a legacy Keras `.h5` as the source. Every
//! `test-models/h5_*` fixture is upgraded and verified (exit 0), its rewrites reported, and the
//! file written reproduces tf-keras's outputs of the original (`y.npy`) in our engine; bad
//! files are refused with exit 2, one line, nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndarray::ArrayD;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models")
}

fn tf2h5(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tf2h5")).args(args).current_dir(cwd).output().expect("tf2h5 runs")
}

/// Cases with a `meta.json` whose model is a Keras `.h5` file.
fn h5_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.h5").is_file() && p.join("meta.json").is_file())
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_h5_fixture_is_upgraded_verified_and_matches_tf_keras() {
    let cases = h5_cases();
    assert!(cases.len() >= 7, "expected the h5_* fixtures, found {cases:?}");
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("upgraded.h5");
        let model = case.join("model.h5");
        let output = tf2h5(
            &["upgrade", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--report-dir", "reports", "--json"],
            dir.path(),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{}: {stderr}", case.display());
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["passed"], true);
        let err = report["outputs"][0]["comparison"]["max_abs_err"].as_f64().unwrap();

        // The written file, read by our reader and run by our engine, against tf-keras's
        // outputs of the original file. tf-keras computes a mixed-precision model in float16.
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("meta.json")).unwrap()).unwrap();
        let atol = meta["atol"].as_f64().unwrap_or(1e-4) as f32;
        // x.npy / y.npy, then (unknown dimensions) the further sizes of meta.json's "runs".
        let mut pairs = vec![("x.npy".to_string(), "y.npy".to_string())];
        for run in meta["runs"].as_array().into_iter().flatten() {
            pairs.push((run["inputs"][0].as_str().unwrap().into(), run["outputs"][0].as_str().unwrap().into()));
        }
        let upgraded = tf2h5_keras::h5::read_file(&out).unwrap();
        let mut tf_keras_err = 0f32;
        for (x, y) in pairs {
            let x: ArrayD<f32> = ndarray_npy::read_npy(case.join(x)).unwrap();
            let y: ArrayD<f32> = ndarray_npy::read_npy(case.join(y)).unwrap();
            let got = tf2h5_engine::run(&upgraded, &[x]).unwrap().remove(0);
            tf_keras_err = (&got - &y).iter().fold(tf_keras_err, |m, d| m.max(d.abs()));
        }
        assert!(tf_keras_err <= atol, "{}: upgraded file vs tf-keras: {tf_keras_err}", case.display());
        println!(
            "{:<28} source vs upgraded {err:.3e}  upgraded vs tf-keras {tf_keras_err:.3e}  rewrites {}",
            case.file_name().unwrap().to_string_lossy(),
            report["rewrites"]
        );
    }
}

#[test]
fn rewrites_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixtures().join("h5_depthwise/model.h5");
    let output = tf2h5(&["verify", model.to_str().unwrap(), "-o", "x.h5", "--report-dir", "reports"], dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("upgraded: dw (DepthwiseConv2D): dropped groups=1"), "{stdout}");
    assert!(stdout.contains(" Keras layers -> "), "the source is counted in Keras layers: {stdout}");
    // Unchanged layers keep their weights bit for bit.
    let source = tf2h5_keras::h5::read_raw_from_bytes(&std::fs::read(&model).unwrap()).unwrap();
    let upgraded = tf2h5_keras::h5::read_file(&dir.path().join("x.h5")).unwrap();
    let source_kernel = &source.groups.iter().find(|g| g.name == "dw").unwrap().weights[0].value;
    assert_eq!(upgraded.layer("dw").unwrap().weight("depthwise_kernel").unwrap(), source_kernel);
}

/// `verify FILE -o OUT` must exit 2 with one line mentioning `mention`, writing nothing.
fn assert_refused(model: &Path, mention: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let output = tf2h5(&["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{}: {stderr}", model.display());
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.contains(mention), "'{mention}' expected in: {stderr}");
    assert!(!out.exists());
}

#[test]
fn bad_h5_sources_are_refused_with_one_line() {
    let refused = fixtures().join("h5_refused");
    assert_refused(
        &refused.join("lambda.h5"),
        "layer 'running_total' (Lambda): tf.math.cumsum has no exact standard Keras layer",
    );
    assert_refused(&refused.join("ragged.h5"), "layer 'tokens' (InputLayer): a ragged input");
    assert_refused(&refused.join("weights_only.h5"), "weights-only");
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("h5_depthwise/model.h5")).unwrap();
    for (name, content) in
        [("truncated.h5", &bytes[..bytes.len() / 2]), ("garbage.h5", &b"\x89HDF\r\n\x1a\ngarbage"[..])]
    {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        assert_refused(&path, name);
    }
}

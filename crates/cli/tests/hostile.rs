//! Hostile and broken inputs never crash tf2h5, never write a file, never lose an existing
//! one (issue 7). Quick versions of the `crates/fuzz` suites, run against the real binary as a
//! subprocess, plus one regression test per bug they found.
//!
//! The full runs (≥ 10,000 mutations, 100 SIGKILLs, 10 concurrency rounds) are
//! `tf2h5-mutate` (`just fuzz`), which writes `reports/fuzz.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use prost::Message;
use tf2h5_fuzz::{campaign, concurrent, exec::Limits, kill};
use tf2h5_tf::pb;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tf2h5"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models").canonicalize().unwrap()
}

fn limits() -> Limits {
    Limits { timeout: Duration::from_secs(20), memory: 4 << 30 }
}

fn tf2h5(args: &[&str], cwd: &Path) -> Output {
    Command::new(binary()).args(args).current_dir(cwd).output().expect("tf2h5 runs")
}

/// Exit 2, a single stderr line naming `mention`, and nothing in `dir` but `allowed`.
fn assert_clean_refusal(output: &Output, mention: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("tf2h5: error: ") && stderr.contains(mention), "should mention '{mention}': {stderr}");
    stderr
}

// ---------------------------------------------------------------------------------------------
// The three suites, quick.

#[test]
fn mutated_fixtures_are_refused_cleanly_or_verified() {
    let work = tempfile::tempdir().unwrap();
    let count = std::env::var("TF2H5_FUZZ_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(300);
    let config = campaign::Config {
        binary: binary(),
        fixtures: fixtures(),
        work: work.path().to_path_buf(),
        count,
        per_file: 0,
        jobs: 2,
        seed: 7,
        limits: limits(),
        rss_limit_mib: 1024,
        samples: 1,
        filter: None,
        progress: false,
    };
    let summary = campaign::run(&config).unwrap();
    let t = &summary.total;
    assert!(summary.clean(), "{}", summary.markdown(&config));
    assert_eq!(t.tried, count);
    assert!(t.rejected > count / 2, "most mutations must be refused: {t:?}");
    assert!(t.verified > 0, "mutations of unused bytes still verify: {t:?}");
    assert!(summary.per_kind.keys().any(|k| k.contains(".h5")), "emitted .h5 files are mutated too");
    assert!(summary.per_kind.keys().any(|k| k.contains(".npy")), "--input files are mutated too");
}

#[test]
fn sigkill_during_verify_never_leaves_a_partial_output() {
    let work = tempfile::tempdir().unwrap();
    let model = fixtures().join("inception_block");
    let summary = kill::run(&binary(), &model, work.path(), 10, 3, Duration::from_millis(300), limits()).unwrap();
    assert!(summary.violations.is_empty(), "{:?}", summary.violations);
    assert_eq!(summary.kills, 10);
    assert_eq!(summary.untouched + summary.replaced, 10, "{summary:?}");
}

#[test]
fn concurrent_runs_into_one_folder_match_sequential_runs() {
    let work = tempfile::tempdir().unwrap();
    let models: Vec<(String, PathBuf)> =
        ["cnn", "inception_block"].iter().map(|name| (name.to_string(), fixtures().join(name))).collect();
    let summary = concurrent::run(&binary(), &models, work.path(), 2, limits()).unwrap();
    assert!(summary.violations.is_empty(), "{:?}", summary.violations);
    assert!(summary.deterministic, "the .h5 bytes must not depend on the time of the run");
    assert_eq!(summary.outputs_identical, 2 * 4, "{summary:?}");
}

// ---------------------------------------------------------------------------------------------
// Regressions: one test per bug the suites found.

/// A `.npy` header claiming shape (1e12, 1e6) made ndarray-npy allocate 4e18 bytes and abort.
#[test]
fn npy_shape_bomb_is_refused_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1), }".to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&[0; 64]);
    let bomb = dir.path().join("bomb.npy");
    std::fs::write(&bomb, bytes).unwrap();
    let spec = format!("x={}", bomb.display());
    let out = dir.path().join("out.h5");
    let output = tf2h5(
        &["verify", fixtures().join("linear").to_str().unwrap(), "-o", out.to_str().unwrap(), "--input", &spec],
        dir.path(),
    );
    assert_clean_refusal(&output, "bomb.npy");
    assert!(!out.exists());
}

/// Input errors named the input ('x') but not the file the data came from.
#[test]
fn input_shape_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wrong.npy");
    ndarray_npy::write_npy(&data, &ndarray::Array2::<f32>::zeros((2, 3))).unwrap();
    let spec = format!("x={}", data.display());
    let output = tf2h5(&["verify", fixtures().join("linear").to_str().unwrap(), "--input", &spec], dir.path());
    assert_clean_refusal(&output, "wrong.npy");
}

fn node(name: &str, op: &str, inputs: &[&str]) -> pb::NodeDef {
    pb::NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn attr(node: &mut pb::NodeDef, name: &str, value: pb::attr_value::Value) {
    node.attr.insert(name.into(), pb::AttrValue { value: Some(value) });
}

fn placeholder(name: &str, dims: &[i64]) -> pb::NodeDef {
    let mut n = node(name, "Placeholder", &[]);
    let shape = pb::TensorShapeProto {
        dim: dims.iter().map(|&size| pb::tensor_shape_proto::Dim { size, name: String::new() }).collect(),
        unknown_rank: false,
    };
    attr(&mut n, "shape", pb::attr_value::Value::Shape(shape));
    attr(&mut n, "dtype", pb::attr_value::Value::Type(pb::DataType::DtFloat as i32));
    n
}

fn int_const(name: &str, value: i32) -> pb::NodeDef {
    let mut n = node(name, "Const", &[]);
    let tensor = pb::TensorProto {
        dtype: pb::DataType::DtInt32 as i32,
        tensor_shape: Some(pb::TensorShapeProto::default()),
        int_val: vec![value],
        ..Default::default()
    };
    attr(&mut n, "value", pb::attr_value::Value::Tensor(tensor));
    attr(&mut n, "dtype", pb::attr_value::Value::Type(pb::DataType::DtInt32 as i32));
    n
}

fn write_graph(dir: &Path, name: &str, nodes: Vec<pb::NodeDef>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pb::GraphDef { node: nodes, ..Default::default() }.encode_to_vec()).unwrap();
    path
}

/// tract reads ConcatV2's axis as `i32 as usize`: axis -1 (what Keras graphs use) made its
/// shape inference loop practically forever, on a valid model.
#[test]
fn concat_with_negative_axis_verifies_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let mut concat = node("cat", "ConcatV2", &["a", "b", "axis"]);
    attr(&mut concat, "N", pb::attr_value::Value::I(2));
    attr(&mut concat, "T", pb::attr_value::Value::Type(pb::DataType::DtFloat as i32));
    let graph = vec![
        placeholder("x", &[-1, 4]),
        node("a", "Relu", &["x"]),
        node("b", "Sigmoid", &["x"]),
        int_const("axis", -1),
        concat,
    ];
    let model = write_graph(dir.path(), "concat.pb", graph);
    let out = dir.path().join("concat.h5");
    let start = std::time::Instant::now();
    let output = tf2h5(&["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--samples", "2"], dir.path());
    assert!(start.elapsed() < Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Either verified, or (if the converter refuses something) a clean refusal; never a hang.
    match output.status.code() {
        Some(0) => assert!(out.exists()),
        _ => {
            assert_clean_refusal(&output, "concat.pb");
            assert!(!stderr.contains("tract"), "tract must not be the one refusing a valid ConcatV2: {stderr}");
        }
    }
}

/// An attribute with no value, or naming an unknown data type, made tract's attribute readers
/// panic (`unwrap` on `None` / on an unknown enum value).
#[test]
fn malformed_attributes_are_refused_naming_node_and_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let mut relu = node("r", "Relu", &["x"]);
    relu.attr.insert("T".into(), pb::AttrValue { value: None });
    let model = write_graph(dir.path(), "empty_attr.pb", vec![placeholder("x", &[-1, 4]), relu]);
    let stderr =
        assert_clean_refusal(&tf2h5(&["verify", model.to_str().unwrap(), "-o", "o.h5"], dir.path()), "empty_attr.pb");
    assert!(stderr.contains("'r'") && stderr.contains("'T'"), "{stderr}");

    let mut relu = node("r", "Relu", &["x"]);
    attr(&mut relu, "T", pb::attr_value::Value::Type(67_108_865));
    let model = write_graph(dir.path(), "bad_type.pb", vec![placeholder("x", &[-1, 4]), relu]);
    let stderr =
        assert_clean_refusal(&tf2h5(&["verify", model.to_str().unwrap(), "-o", "o.h5"], dir.path()), "bad_type.pb");
    assert!(stderr.contains("unknown data type"), "{stderr}");
    assert!(!dir.path().join("o.h5").exists());
}

/// Inputs that claim absurd shapes are refused before anything is allocated for them.
#[test]
fn absurd_placeholder_shapes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_graph(
        dir.path(),
        "huge.pb",
        vec![placeholder("x", &[-1, 1_000_000, 1_000_000, 3]), node("y", "Relu", &["x"])],
    );
    let stderr =
        assert_clean_refusal(&tf2h5(&["verify", model.to_str().unwrap(), "-o", "o.h5"], dir.path()), "huge.pb");
    assert!(stderr.contains("refuses tensors over"), "{stderr}");
}

/// HDF5 1.10 segfaulted or looped forever on some corrupt global heaps (variable-length string
/// attributes); `inspect` reads `.h5` files in a child process to contain that. The corrupt files are made by
/// overwriting, in an emitted file, the heap references and the heap objects themselves.
#[test]
fn inspect_survives_corrupt_hdf5_heaps() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("linear.h5");
    let output = tf2h5(
        &["verify", fixtures().join("linear").to_str().unwrap(), "-o", h5.to_str().unwrap(), "--samples", "1"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let original = std::fs::read(&h5).unwrap();
    let heap = original.windows(4).position(|w| w == b"GCOL").expect("a global heap");
    let mut outcomes = Vec::new();
    for (k, offset) in (heap..(heap + 160).min(original.len())).step_by(3).enumerate() {
        for value in [0x00u8, 0x7f, 0xff] {
            let mut bytes = original.clone();
            bytes[offset] = value;
            let path = dir.path().join(format!("corrupt_{k}_{value}.h5"));
            std::fs::write(&path, &bytes).unwrap();
            let start = std::time::Instant::now();
            let output = tf2h5(&["inspect", path.to_str().unwrap()], dir.path());
            assert!(start.elapsed() < Duration::from_secs(15), "inspect must not hang");
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            assert!(!stderr.contains("panicked") && !stderr.contains("internal error"), "{stderr}");
            match output.status.code() {
                Some(0) => outcomes.push("read"),
                Some(2) => {
                    assert_clean_refusal(&output, &format!("corrupt_{k}_{value}.h5"));
                    outcomes.push(if stderr.contains("HDF5 library") || stderr.contains("did not finish") {
                        "contained"
                    } else {
                        "refused"
                    });
                }
                other => panic!("inspect exited {other:?}: {stderr}"),
            }
            std::fs::remove_file(&path).unwrap();
        }
    }
    // Debian's HDF5 1.10.8 segfaulted or looped on some of these ("contained"); the bundled
    // HDF5 2.2 refuses or reads them all, so none reaches the child's containment any more.
    assert!(outcomes.contains(&"refused"), "{outcomes:?}");
}

/// An existing output survives every kind of failure, and a run without --force never
/// replaces a file that appeared while it was verifying.
#[test]
fn existing_output_survives_hostile_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("precious.h5");
    std::fs::write(&out, b"precious").unwrap();
    let garbage = dir.path().join("garbage.pb");
    std::fs::write(&garbage, [0xffu8; 100]).unwrap();
    for force in [false, true] {
        let mut args = vec!["verify", garbage.to_str().unwrap(), "-o", out.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        assert_eq!(tf2h5(&args, dir.path()).status.code(), Some(2));
        assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    }
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

/// The hand-made broken SavedModels in `test-models/corrupt/` (truncated, flipped, missing or
/// mis-sharded checkpoints): refused in one line naming a file of the model, nothing written.
#[test]
fn corrupt_saved_models_are_refused_cleanly() {
    let root = fixtures().join("corrupt");
    let Ok(entries) = std::fs::read_dir(&root) else { return };
    let dir = tempfile::tempdir().unwrap();
    for case in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        for command in ["verify", "inspect"] {
            let out = dir.path().join("out.h5");
            let mut args = vec![command, case.to_str().unwrap()];
            if command == "verify" {
                args.extend(["-o", out.to_str().unwrap(), "--report-dir", "reports"]);
            }
            let output = tf2h5(&args, dir.path());
            assert_clean_refusal(&output, case.to_str().unwrap());
            assert!(!out.exists() && !dir.path().join("reports").exists(), "{}", case.display());
        }
    }
}

//! The `tf2h5` binary's contract: exit codes, one-line errors naming the file, and that
//! nothing is written unless verification passed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prost::Message;
use tf2h5_tf::pb;

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-models").join(case)
}

fn tf2h5(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tf2h5")).args(args).current_dir(cwd).output().expect("tf2h5 runs")
}

/// Runs `verify MODEL -o OUT` in a fresh folder and checks the refusal contract:
/// exit 2, one line on stderr mentioning `mention`, no .h5 and no temp file left.
fn assert_refused(model: &Path, extra: &[&str], mention: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let mut args = vec!["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--report-dir", "reports"];
    args.extend_from_slice(extra);
    let output = tf2h5(&args, dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one-line error expected, got: {stderr}");
    assert!(stderr.contains(mention), "error should mention '{mention}': {stderr}");
    assert!(!out.exists(), "nothing may be written on refusal");
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(leftovers.iter().all(|n| n == "reports"), "unexpected files: {leftovers:?}");
    stderr
}

fn write_graph(dir: &Path, name: &str, nodes: Vec<pb::NodeDef>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pb::GraphDef { node: nodes, ..Default::default() }.encode_to_vec()).unwrap();
    path
}

fn node(name: &str, op: &str, inputs: &[&str]) -> pb::NodeDef {
    pb::NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn placeholder(name: &str, dims: &[i64]) -> pb::NodeDef {
    let mut node = node(name, "Placeholder", &[]);
    let shape = pb::TensorShapeProto {
        dim: dims.iter().map(|&size| pb::tensor_shape_proto::Dim { size, name: String::new() }).collect(),
        unknown_rank: false,
    };
    node.attr.insert("shape".into(), pb::AttrValue { value: Some(pb::attr_value::Value::Shape(shape)) });
    node.attr.insert(
        "dtype".into(),
        pb::AttrValue { value: Some(pb::attr_value::Value::Type(pb::DataType::DtFloat as i32)) },
    );
    node
}

#[test]
fn verify_writes_a_verified_file_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn.h5");
    let output =
        tf2h5(&["verify", fixture("cnn").to_str().unwrap(), "-o", out.to_str().unwrap(), "--samples", "3"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("PASS") && stdout.contains("max abs err"), "{stdout}");
    assert!(stdout.contains(" TF nodes -> "), "{stdout}");
    let model = tf2h5_keras::h5::read_file(&out).unwrap();
    assert_eq!(model.layers.iter().filter(|l| !l.weights.is_empty()).count(), 2);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reports/cnn.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["samples"], 3);
    assert!(dir.path().join("reports/cnn.md").exists());
}

/// Runs `tf2h5 ARGS` on a pseudo-terminal (`script`, Debian's essential bsdutils), so stderr
/// is a terminal; returns what the terminal showed.
fn tf2h5_on_a_terminal(args: &[&str], cwd: &Path) -> String {
    let quoted = |arg: &str| format!("'{}'", arg.replace('\'', r"'\''"));
    let command: Vec<String> =
        std::iter::once(env!("CARGO_BIN_EXE_tf2h5")).chain(args.iter().copied()).map(quoted).collect();
    let output = Command::new("script")
        .args(["-qec", &command.join(" "), "/dev/null"])
        .env("TERM", "xterm")
        .current_dir(cwd)
        .output()
        .expect("script (bsdutils) runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn verify_shows_its_stages_only_on_a_terminal_and_never_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("cnn");
    let args = ["verify", model.to_str().unwrap(), "-o", "cnn.h5", "--force", "--samples", "3"];
    let shown = tf2h5_on_a_terminal(&args, dir.path());
    assert!(shown.contains("verify: load"), "the first stage is shown: {shown:?}");
    assert!(shown.contains("PASS"), "then the summary: {shown:?}");
    let piped = tf2h5(&args, dir.path());
    assert_eq!(piped.status.code(), Some(0));
    assert!(piped.stderr.is_empty(), "{}", String::from_utf8_lossy(&piped.stderr));
    let json = tf2h5_on_a_terminal(&[&args[..], &["--json"]].concat(), dir.path());
    assert!(!json.contains("verify: ") && json.contains("\"passed\": true"), "{json:?}");
}

#[test]
fn default_output_is_model_name_in_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = tf2h5(&["verify", fixture("linear").to_str().unwrap(), "--samples", "1"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("linear.h5").exists());
}

#[test]
fn mismatch_exits_1_and_writes_nothing() {
    // Zero tolerance: float reassociation alone makes the CNN differ in the last bits.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn.h5");
    let model = fixture("cnn");
    let args = ["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--atol", "0", "--rtol", "0"];
    let output = tf2h5(&args, dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!out.exists());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reports/cnn.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], false);
    assert!(report["outputs"][0]["comparison"]["failures"].as_u64().unwrap() > 0);
    // The per-layer comparison names where it starts.
    assert!(report["first_divergence"]["layer"].is_string(), "{report}");
}

#[test]
fn existing_output_needs_force_and_survives_failures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn.h5");
    std::fs::write(&out, b"precious").unwrap();
    let model = fixture("cnn");
    let output = tf2h5(&["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--force"));
    let output = tf2h5(
        &["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--force", "--atol", "0", "--rtol", "0"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let output = tf2h5(&["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--force"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    assert!(tf2h5_keras::h5::read_file(&out).is_ok());
}

/// An empty file, garbage, and truncated copies of `model`, each named `*.{extension}`, are
/// all refused.
fn assert_refuses_broken_copies(dir: &Path, model: &Path, extension: &str) {
    let empty = dir.join(format!("empty.{extension}"));
    std::fs::write(&empty, b"").unwrap();
    assert_refused(&empty, &[], &format!("empty.{extension}"));

    let garbage = dir.join(format!("garbage.{extension}"));
    std::fs::write(&garbage, (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<_>>())
        .unwrap();
    assert_refused(&garbage, &[], &format!("garbage.{extension}"));

    let full = std::fs::read(model).unwrap();
    for cut in [1, 100, full.len() / 2, full.len() - 3] {
        let truncated = dir.join(format!("truncated_{cut}.{extension}"));
        std::fs::write(&truncated, &full[..cut]).unwrap();
        assert_refused(&truncated, &[], &format!("truncated_{cut}.{extension}"));
    }
}

#[test]
fn refuses_empty_garbage_and_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    assert_refuses_broken_copies(dir.path(), &fixture("cnn/frozen.pb"), "pb");
    assert_refused(&dir.path().join("does-not-exist.pb"), &[], "does-not-exist.pb");
    let empty_dir = tempfile::tempdir().unwrap();
    assert_refused(empty_dir.path(), &[], "no .pb");
}

#[test]
fn refuses_unknown_ops_naming_node_and_op() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_graph(dir.path(), "erf.pb", vec![placeholder("x", &[-1, 4]), node("weird/erf", "Erf", &["x"])]);
    let stderr = assert_refused(&model, &[], "erf.pb");
    assert!(stderr.contains("'weird/erf'") && stderr.contains("'Erf'"), "{stderr}");
}

#[test]
fn refusing_a_cast_names_the_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let mut cast = node("complex", "Cast", &["x"]);
    let complex = pb::AttrValue { value: Some(pb::attr_value::Value::Type(pb::DataType::DtComplex64 as i32)) };
    cast.attr.insert("DstT".into(), complex);
    let model = write_graph(dir.path(), "cast.pb", vec![placeholder("x", &[-1, 4]), cast]);
    let stderr = assert_refused(&model, &[], "casting to complex64 is not supported");
    assert!(stderr.contains("'complex'"), "{stderr}");
}

#[test]
fn refuses_malformed_graphs() {
    let dir = tempfile::tempdir().unwrap();
    let dangling =
        write_graph(dir.path(), "dangling.pb", vec![placeholder("x", &[-1, 4]), node("y", "Relu", &["nowhere"])]);
    assert_refused(&dangling, &[], "nowhere");
    let cycle = write_graph(
        dir.path(),
        "cycle.pb",
        vec![placeholder("x", &[-1, 4]), node("a", "AddV2", &["x", "b"]), node("b", "Relu", &["a"])],
    );
    assert_refused(&cycle, &["--output-node", "b"], "cycle");
}

fn constant(name: &str, dims: &[i64]) -> pb::NodeDef {
    let mut node = node(name, "Const", &[]);
    let tensor = pb::TensorProto {
        dtype: pb::DataType::DtFloat as i32,
        tensor_shape: Some(pb::TensorShapeProto {
            dim: dims.iter().map(|&size| pb::tensor_shape_proto::Dim { size, name: String::new() }).collect(),
            unknown_rank: false,
        }),
        float_val: (0..dims.iter().product::<i64>()).map(|i| i as f32 / 7.0).collect(),
        ..Default::default()
    };
    node.attr.insert("value".into(), pb::AttrValue { value: Some(pb::attr_value::Value::Tensor(tensor)) });
    node.attr.insert(
        "dtype".into(),
        pb::AttrValue { value: Some(pb::attr_value::Value::Type(pb::DataType::DtFloat as i32)) },
    );
    node
}

fn matmul(name: &str, a: &str, b: &str) -> pb::NodeDef {
    let mut node = node(name, "MatMul", &[a, b]);
    for attr in ["transpose_a", "transpose_b"] {
        node.attr.insert(attr.into(), pb::AttrValue { value: Some(pb::attr_value::Value::B(false)) });
    }
    node
}

/// An unknown non-batch dimension is verified at sizes of its own and stays unknown; one that
/// a weight fixes is found (below the usual smallest size); `--input-shape` pins sizes.
#[test]
fn unknown_dimensions_are_verified_at_several_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let relu = write_graph(dir.path(), "relu.pb", vec![placeholder("x", &[-1, -1]), node("y", "Relu", &["x"])]);
    let out = dir.path().join("relu.h5");
    let output = tf2h5(&["verify", relu.to_str().unwrap(), "-o", out.to_str().unwrap()], dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("axis 1: unknown in the .h5, proven at 4, 9"), "{stdout}");
    let model = tf2h5_keras::h5::read_file(&out).unwrap();
    assert_eq!(model.layers[0].batch_input_shape().unwrap(), [None, None]);

    let pinned = ["--input-shape", "x=1x6", "--input-shape", "x=1x13", "--force"];
    let output =
        tf2h5(&[&["verify", relu.to_str().unwrap(), "-o", out.to_str().unwrap()][..], &pinned].concat(), dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("proven at 6, 13") && stdout.contains("x (1, 13)"), "{stdout}");

    let matmul = write_graph(
        dir.path(),
        "matmul.pb",
        vec![placeholder("x", &[-1, -1]), constant("w", &[3, 2]), matmul("y", "x", "w")],
    );
    let output = tf2h5(&["verify", matmul.to_str().unwrap(), "-o", "m.h5"], dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("axis 1: fixed at 3 in the .h5"), "{stdout}");
}

#[test]
fn refuses_sizes_no_input_can_have() {
    let dir = tempfile::tempdir().unwrap();
    // Two weights that want 3 and 5 features of the same input.
    let nodes = vec![
        placeholder("x", &[-1, -1]),
        constant("w3", &[3, 2]),
        constant("w5", &[5, 2]),
        matmul("a", "x", "w3"),
        matmul("b", "x", "w5"),
    ];
    let model = write_graph(dir.path(), "clash.pb", nodes);
    let stderr = assert_refused(&model, &[], "input 'x' axis 1: no size");
    assert!(stderr.contains("clash.pb"), "{stderr}");
    assert_refused(
        &fixture("linear"),
        &["--input-shape", "x=1x5"],
        "input 'x': --input-shape shape (1, 5) contradicts",
    );
    assert_refused(&fixture("linear"), &["--input-shape", "x=1x1x1"], "contradicts the graph's (?, 1)");
    assert_refused(&fixture("linear"), &["--input-shape", "y=1x1"], "'y', which is not a model input");
    assert_refused(&fixture("linear"), &["--input-shape", "x=1xfour"], "is not positive sizes");
    assert_refused(&fixture("linear"), &["--fix-input-shape", "x=1x1"], "applies to ONNX models only");
    assert_refused(&fixture("torch_dynamic_fcn"), &["--fix-input-shape", "x=1x4x8x8"], "axis 1 is fixed at 4");
    assert_refused(
        &fixture("dynamic_flatten"),
        &["--input-shape", "x=1x10x10x2", "--input-shape", "x=1x12x12x2"],
        "which the model fixes at 10",
    );
}

#[test]
fn refuses_inputs_of_the_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("x.npy");
    ndarray_npy::write_npy(&data, &ndarray::Array2::<f32>::zeros((2, 3))).unwrap();
    let spec = format!("x={}", data.display());
    assert_refused(&fixture("linear"), &["--input", &spec], "expected (samples, 1)");
    let spec = format!("x={}", dir.path().join("missing.npy").display());
    assert_refused(&fixture("linear"), &["--input", &spec], "missing.npy");
}

#[test]
fn user_inputs_reproduce_tensorflow_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("x={}", fixture("inception_block/x.npy").display());
    let out = dir.path().join("block.h5");
    let output = tf2h5(
        &["verify", fixture("inception_block").to_str().unwrap(), "-o", out.to_str().unwrap(), "--input", &spec],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    // The written file, run by the engine on the fixture input, gives TF's output.
    let model = tf2h5_keras::h5::read_file(&out).unwrap();
    let x: ndarray::ArrayD<f32> = ndarray_npy::read_npy(fixture("inception_block/x.npy")).unwrap();
    let y: ndarray::ArrayD<f32> = ndarray_npy::read_npy(fixture("inception_block/y.npy")).unwrap();
    let ours = tf2h5_engine::run(&model, &[x]).unwrap();
    let max_err = ours[0].iter().zip(y.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max_err <= 1e-4, "max abs err {max_err}");
}

/// Integer inputs keep their type in the .h5; the user's int32 ids verify and reproduce TF;
/// an integer input whose range nothing in the graph bounds is refused, naming it.
#[test]
fn integer_inputs_keep_their_type_and_need_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("text.h5");
    let spec = format!("x={}", fixture("text_embedding/x.npy").display());
    let model = fixture("text_embedding");
    let output = tf2h5(&["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--input", &spec], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let model = tf2h5_keras::h5::read_file(&out).unwrap();
    assert_eq!(model.layers[0].config["dtype"], "int32");
    let ids: ndarray::ArrayD<i32> = ndarray_npy::read_npy(fixture("text_embedding/x.npy")).unwrap();
    let y: ndarray::ArrayD<f32> = ndarray_npy::read_npy(fixture("text_embedding/y.npy")).unwrap();
    let ours = tf2h5_engine::run(&model, &[ids.mapv(|v| v as f32)]).unwrap();
    let max_err = ours[0].iter().zip(y.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max_err <= 1e-5, "max abs err {max_err}");

    let mut ids = placeholder("ids", &[-1, 3]);
    ids.attr.insert(
        "dtype".into(),
        pb::AttrValue { value: Some(pb::attr_value::Value::Type(pb::DataType::DtInt32 as i32)) },
    );
    let unbounded = write_graph(dir.path(), "ids.pb", vec![ids.clone(), node("y", "Identity", &["ids"])]);
    let stderr = assert_refused(&unbounded, &[], "input 'ids' (int32) has no value range");
    assert!(stderr.contains("--input ids=FILE.npy"), "{stderr}");
    // Keras layers would compute on the ids as integers: a cast to float has no layer.
    let mut cast = node("f", "Cast", &["ids"]);
    for (key, dtype) in [("SrcT", pb::DataType::DtInt32), ("DstT", pb::DataType::DtFloat)] {
        cast.attr.insert(key.into(), pb::AttrValue { value: Some(pb::attr_value::Value::Type(dtype as i32)) });
    }
    let cast = write_graph(dir.path(), "cast.pb", vec![ids, cast, node("y", "Relu", &["f"])]);
    assert_refused(&cast, &[], "casting int32 to float32 is not supported");
}

/// ONNX integer inputs keep their type in the .h5 (magika's one-hot embedding of int32 bytes
/// reproduces onnxruntime); int64 ids nothing bounds need --input data, then verify.
#[test]
fn onnx_integer_inputs_keep_their_type_and_need_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bytes.h5");
    let model = fixture("onnx_one_hot_bytes");
    let output = tf2h5(&["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let model = tf2h5_keras::h5::read_file(&out).unwrap();
    assert_eq!(model.layers[0].config["dtype"], "int32");
    let bytes: ndarray::ArrayD<i32> = ndarray_npy::read_npy(fixture("onnx_one_hot_bytes/x.npy")).unwrap();
    let y: ndarray::ArrayD<f32> = ndarray_npy::read_npy(fixture("onnx_one_hot_bytes/y.npy")).unwrap();
    let ours = tf2h5_engine::run(&model, &[bytes.mapv(|v| v as f32)]).unwrap();
    let max_err = ours[0].iter().zip(y.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max_err <= 1e-5, "max abs err {max_err}");

    let unbounded = fixture("onnx_refused/unbounded_ids.onnx");
    let stderr = assert_refused(&unbounded, &[], "input 'ids' (int64) has no value range");
    assert!(stderr.contains("--input ids=FILE.npy"), "{stderr}");
    let ids = dir.path().join("ids.npy");
    ndarray_npy::write_npy(&ids, &ndarray::Array2::from_shape_fn((2, 6), |(i, j)| (i * 6 + j) as i64)).unwrap();
    let spec = format!("ids={}", ids.display());
    let out = dir.path().join("ids.h5");
    let args = ["verify", unbounded.to_str().unwrap(), "-o", out.to_str().unwrap(), "--input", &spec];
    let output = tf2h5(&args, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn inspect_lists_inputs_ops_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let output = tf2h5(&["inspect", fixture("inception_block").to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("FusedBatchNormV3") && text.contains("BatchNormalization") && text.contains("Concatenate"),
        "{text}"
    );
    let model = write_graph(dir.path(), "erf.pb", vec![placeholder("x", &[-1, 4]), node("e", "Erf", &["x"])]);
    let output = tf2h5(&["inspect", model.to_str().unwrap()], dir.path());
    assert!(String::from_utf8_lossy(&output.stdout).contains("unsupported ops:\n  Erf"));
}

#[test]
fn verifies_onnx_models_and_says_which_layout_the_h5_expects() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn.h5");
    let model = fixture("onnx_cnn/model.onnx");
    let output = tf2h5(&["verify", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--layers"], dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("ONNX model; .h5 layout: NHWC"), "{stdout}");
    // The summary counts the ONNX file's nodes, not the TF nodes it was translated into.
    assert!(stdout.contains(" ONNX nodes -> "), "{stdout}");
    let model = tf2h5_keras::h5::read_file(&out).unwrap();
    assert_eq!(model.layers[0].config["batch_input_shape"], serde_json::json!([null, 16, 16, 3]));

    // --keep-nchw: the input keeps the ONNX layout; a folder holding one .onnx works too.
    let out = dir.path().join("cnn_nchw.h5");
    let output = tf2h5(
        &["verify", fixture("onnx_cnn").to_str().unwrap(), "-o", out.to_str().unwrap(), "--keep-nchw"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains(".h5 layout: NCHW"));
    let model = tf2h5_keras::h5::read_file(&out).unwrap();
    assert_eq!(model.layers[0].config["batch_input_shape"], serde_json::json!([null, 3, 16, 16]));
    assert!(model.layers.iter().any(|l| l.class_name == "Permute"));

    // A tf2onnx conversion keeps TF's NHWC input; its NHWC <-> NCHW transposes cost no layer.
    let out = dir.path().join("tf2onnx_cnn.h5");
    let output = tf2h5(&["verify", fixture("tf2onnx_cnn").to_str().unwrap(), "-o", out.to_str().unwrap()], dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(".h5 layout: ONNX layout: the 4-D inputs are already channels-last"), "{stdout}");
    let model = tf2h5_keras::h5::read_file(&out).unwrap();
    assert_eq!(model.layers[0].config["batch_input_shape"], serde_json::json!([null, 28, 28, 1]));
    assert!(!model.layers.iter().any(|l| l.class_name == "Permute"));
}

#[test]
fn refuses_bad_onnx_files_naming_file_node_and_op() {
    let dir = tempfile::tempdir().unwrap();
    assert_refuses_broken_copies(dir.path(), &fixture("onnx_cnn/model.onnx"), "onnx");
    let stderr = assert_refused(&fixture("onnx_refused/unsupported_op.onnx"), &[], "unsupported_op.onnx");
    assert!(stderr.contains("'lp_norm'") && stderr.contains("'LpNormalization'"), "{stderr}");
    let stderr = assert_refused(&fixture("onnx_refused/opset22.onnx"), &[], "opset22.onnx");
    assert!(stderr.contains("ONNX opset 22 is not supported (opsets 7 to 21 are"), "{stderr}");
    assert_refused(&fixture("onnx_cnn/model.onnx"), &["--signature", "serving_default"], "no signatures");
}

/// The one-line error a refused model gives after `tf2h5: error: <path>: `.
fn refusal_after_path(model: &str) -> String {
    let path = fixture(model);
    let stderr = assert_refused(&path, &[], model.rsplit('/').next().unwrap());
    let prefix = format!("tf2h5: error: {}: ", path.display());
    stderr
        .trim_end()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("'{stderr}' does not start with '{prefix}'"))
        .into()
}

/// Loops that tf2h5 does not convert are refused as loops, naming the loop and the layer (name
/// scope) it came from, in both forms: a `tf.while_loop` frozen to TF1 frames (raised back to
/// a `While` at load) and as a SavedModel `While`, a masked LSTM writing zeros at masked steps
/// outside a `Bidirectional`, and frozen TF1 `dynamic_rnn`s (loops over TensorArrays) masked by
/// `sequence_length` or over a peephole LSTM cell.
#[test]
fn loops_are_refused_naming_the_loop_and_its_layer() {
    assert_eq!(
        refusal_after_path("tf_refused/while_loop_frozen.pb"),
        "node 'doubling/while' (While): a While loop from layer 'doubling' that is not a Keras LSTM, GRU or \
         SimpleRNN as tf2h5 recognises them (zero initial states, the outputs read as the layer returns \
         them)"
    );
    assert_eq!(
        refusal_after_path("tf_refused/sm_while_loop"),
        "node 'PartitionedCall/PartitionedCall/doubling/while' (StatelessWhile): a While loop from layer 'doubling' \
         that is not a Keras LSTM, GRU or SimpleRNN as tf2h5 recognises them (zero initial states, the \
         outputs read as the layer returns them)"
    );
    assert_eq!(
        refusal_after_path("tf_refused/sm_zero_output_masked"),
        "node 'StatefulPartitionedCall/StatefulPartitionedCall/zero_output_masked/lstm/PartitionedCall/transpose_2' \
         (Transpose): the loop of layer 'zero_output_masked/lstm' writes zeros at masked steps (zero_output_for_mask, \
         which a Bidirectional with return_sequences forces) but is not one direction of such a Bidirectional"
    );
    assert_eq!(
        refusal_after_path("tf_refused/dynamic_rnn_frozen.pb"),
        "node 'rnn/while/while_context' (While): a TF1 While loop over TensorArrays from 'rnn' that masks its steps by \
         length (tf.compat.v1.nn.dynamic_rnn's sequence_length): no Keras layer masks by length; dynamic_rnn without \
         sequence_length converts"
    );
    assert_eq!(
        refusal_after_path("tf_refused/dynamic_rnn_peepholes.pb"),
        "node 'rnn/while/while_context' (While): a TF1 While loop over TensorArrays from 'rnn' that is not a \
         tf.compat.v1.nn.dynamic_rnn as tf2h5 converts them (batch-major input, no sequence_length, an LSTMCell, \
         BasicLSTMCell, GRUCell or BasicRNNCell without peepholes, projections or clipping, its outputs read rather \
         than its final state)"
    );
}

/// A power that is not a whole power up to 4 (here a square root) has no Keras layer: refused
/// in one line naming the node.
#[test]
fn square_root_power_is_refused_naming_its_node() {
    assert_eq!(
        refusal_after_path("onnx_refused/pow_half.onnx"),
        "node 'root' (Pow): exponent 0.5: only whole powers 1 to 4 have a Keras form (as products)"
    );
}

#[test]
fn ops_lists_tf_and_onnx_ops() {
    let dir = tempfile::tempdir().unwrap();
    let tf = String::from_utf8_lossy(&tf2h5(&["ops"], dir.path()).stdout).to_string();
    let onnx = String::from_utf8_lossy(&tf2h5(&["ops", "--onnx"], dir.path()).stdout).to_string();
    assert!(tf.lines().any(|l| l == "FusedBatchNormV3") && !tf.lines().any(|l| l == "Gemm"), "{tf}");
    assert!(onnx.lines().any(|l| l == "Gemm") && onnx.lines().any(|l| l == "HardSwish"), "{onnx}");
    let inspect = tf2h5(&["inspect", fixture("onnx_refused/unsupported_op.onnx").to_str().unwrap()], dir.path());
    assert_eq!(inspect.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&inspect.stdout)
        .contains("unsupported ops:\n  LpNormalization  (first at node 'lp_norm')"));
    let inspect = tf2h5(&["inspect", fixture("onnx_blocks").to_str().unwrap()], dir.path());
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(text.contains("translated from ONNX") && text.contains("Permute"), "{text}");
}

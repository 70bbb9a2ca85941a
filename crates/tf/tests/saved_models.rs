//! SavedModel fixtures frozen by the loader: names, shapes and ops of the frozen graphs,
//! signatures, and the frozen graphs run in tract against TensorFlow's own outputs.

mod common;

use common::{case, endpoints, meta, SAVED_MODEL_CASES};
use ndarray::ArrayD;
use prost::Message;
use tf2h5_tf::{LoadOptions, NodeExt};
use tract_tensorflow::prelude::*;

/// Ops that must never survive freezing.
const FORBIDDEN: [&str; 9] = [
    "StatefulPartitionedCall",
    "PartitionedCall",
    "ReadVariableOp",
    "VarHandleOp",
    "VariableV2",
    "NoOp",
    "IdentityN",
    "Placeholder_",
    "AssignVariableOp",
];

fn ops(graph: &tf2h5_tf::TfGraph) -> Vec<String> {
    let mut ops: Vec<String> = graph.op_histogram().into_iter().map(|(op, _)| op).collect();
    ops.sort();
    ops
}

#[test]
fn fixtures_freeze_to_flat_graphs_named_after_the_signature() {
    for name in SAVED_MODEL_CASES {
        let graph = tf2h5_tf::load(&case(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let meta = meta(name);
        let inputs: Vec<String> = endpoints(&meta, "inputs").into_iter().map(|e| e.0).collect();
        let outputs: Vec<String> = endpoints(&meta, "outputs").into_iter().map(|e| e.0).collect();
        assert_eq!(graph.input_names(), inputs, "{name}");
        assert_eq!(graph.output_names(), outputs, "{name}");
        let placeholders: Vec<&str> = graph.placeholders().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(placeholders, inputs, "{name}: placeholders in signature order");
        for (input, spec) in graph.placeholders().iter().zip(meta["inputs"].as_array().unwrap()) {
            let expected: Vec<Option<usize>> =
                spec["shape"].as_array().unwrap().iter().map(|d| d.as_u64().map(|d| d as usize)).collect();
            assert_eq!(input.attr_shape_opt("shape").unwrap(), Some(expected), "{name}");
        }
        for output in graph.default_outputs() {
            assert_eq!(output.op, "Identity", "{name}");
        }
        for node in graph.nodes() {
            assert!(!FORBIDDEN.contains(&node.op.as_str()), "{name}: {} ({}) survived", node.name, node.op);
            assert!(node.input.iter().all(|i| !i.starts_with('^')), "{name}: control input on {}", node.name);
            assert!(node.attr.keys().all(|k| !k.starts_with('_')), "{name}: private attribute on {}", node.name);
            assert!(node.device.is_empty());
            if node.op == "Const" {
                graph.const_value(&node.name).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        let signature = graph.signature.as_ref().expect("a signature");
        assert_eq!(signature.name, "serving_default");
        // Every node is needed by an output (pruned), except nothing.
        let needed = graph.nodes_needed_by(&outputs).unwrap();
        assert_eq!(needed.len(), graph.nodes().len(), "{name}: unpruned nodes");
    }
}

#[test]
fn fixture_op_lists() {
    let expect = |name: &str, ops_expected: &[&str]| {
        let graph = tf2h5_tf::load(&case(name)).unwrap();
        assert_eq!(ops(&graph), ops_expected, "{name}");
    };
    expect(
        "sm_tf_module_cnn",
        &[
            "AddV2",
            "AvgPool",
            "BiasAdd",
            "ConcatV2",
            "Const",
            "Conv2D",
            "FusedBatchNormV3",
            "Identity",
            "MatMul",
            "MaxPool",
            "Mean",
            "Pad",
            "Placeholder",
            "Relu",
            "Relu6",
            "Reshape",
            "Sigmoid",
            "Softmax",
            "Tanh",
        ],
    );
    // tf.nn.batch_normalization on variables stays arithmetic on the checkpoint's values;
    // swish is x * Sigmoid(x).
    expect(
        "sm_tf_module_mobile",
        &[
            "AddV2",
            "BiasAdd",
            "Const",
            "Conv2D",
            "DepthwiseConv2dNative",
            "Identity",
            "LeakyRelu",
            "MatMul",
            "Mean",
            "Mul",
            "Pad",
            "Placeholder",
            "Rsqrt",
            "Sigmoid",
            "Softmax",
            "Sub",
        ],
    );
    expect(
        "sm_tf_keras_two_io",
        &[
            "BiasAdd",
            "ConcatV2",
            "Const",
            "Conv2D",
            "FusedBatchNormV3",
            "Identity",
            "MatMul",
            "Mean",
            "Placeholder",
            "Relu",
            "Sigmoid",
            "Softmax",
            "Tanh",
        ],
    );
    expect(
        "sm_tf1_simple_save",
        &["BiasAdd", "Const", "Conv2D", "Identity", "MatMul", "MaxPool", "Placeholder", "Relu", "Reshape", "Softmax"],
    );
    expect(
        "sm_keras3_export",
        &[
            "AddV2",
            "BiasAdd",
            "Const",
            "Conv2D",
            "Identity",
            "MatMul",
            "MaxPool",
            "Mul",
            "Pack",
            "Placeholder",
            "Relu",
            "Reshape",
            "Rsqrt",
            "Shape",
            "Softmax",
            "Squeeze",
            "StridedSlice",
            "Sub",
        ],
    );
}

#[test]
fn restores_stripped_default_attributes() {
    let graph = tf2h5_tf::load(&case("sm_tf_module_cnn")).unwrap();
    let conv = graph.nodes().iter().find(|n| n.op == "Conv2D").unwrap();
    assert_eq!(conv.attr_str("data_format").unwrap(), "NHWC");
    assert_eq!(conv.attr_ints("dilations").unwrap(), vec![1, 1, 1, 1]);
    let bn = graph.nodes().iter().find(|n| n.op == "FusedBatchNormV3").unwrap();
    assert_eq!(bn.attr_bool_opt("is_training").unwrap(), Some(false));
    assert!((bn.attr_float_opt("epsilon").unwrap().unwrap() - 1e-3).abs() < 1e-9);
}

#[test]
fn tf1_output_key_shadowing_a_node_name() {
    // The signature output 'probs' is also the softmax node's name: the Identity takes the
    // name, the softmax is renamed.
    let graph = tf2h5_tf::load(&case("sm_tf1_simple_save")).unwrap();
    let probs = graph.node("probs").unwrap();
    assert_eq!(probs.op, "Identity");
    assert_eq!(graph.node(&probs.input[0]).unwrap().op, "Softmax");
}

#[test]
fn lists_and_selects_signatures() {
    let dir = case("sm_keras3_export");
    let signatures = tf2h5_tf::signatures(&dir).unwrap();
    let names: Vec<&str> = signatures.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["serve", "serving_default"]);
    assert_eq!(signatures[0].inputs[0].tensor, "serve_image:0");
    assert_eq!(signatures[1].outputs[0].key, "output_0");
    assert_eq!(signatures[1].outputs[0].shape, Some(vec![None, Some(3)]));
    let serve = tf2h5_tf::load_with(&dir, &LoadOptions { signature: Some("serve".into()) }).unwrap();
    let default = tf2h5_tf::load(&dir).unwrap();
    assert_eq!(serve.signature.as_ref().unwrap().name, "serve");
    assert_eq!(ops(&serve), ops(&default));
    assert_eq!(serve.nodes().len(), default.nodes().len());
    // The SavedModel directory itself, its saved_model.pb and the fixture directory all work.
    for path in [dir.join("saved_model"), dir.join("saved_model/saved_model.pb")] {
        assert_eq!(tf2h5_tf::load(&path).unwrap().nodes().len(), default.nodes().len());
    }
    let err = tf2h5_tf::load_with(&dir, &LoadOptions { signature: Some("nope".into()) }).unwrap_err().to_string();
    assert!(
        err.contains("saved_model.pb") && err.contains("no signature 'nope'") && err.contains("serve, serving_default"),
        "{err}"
    );
    // Frozen graphs have no signatures.
    assert!(tf2h5_tf::signatures(&case("cnn")).unwrap().is_empty());
    let err = tf2h5_tf::load_with(&case("cnn"), &LoadOptions { signature: Some("serving_default".into()) })
        .unwrap_err()
        .to_string();
    assert!(err.contains("frozen.pb") && err.contains("no signatures"), "{err}");
    // And still load as before.
    let cnn = tf2h5_tf::load(&case("cnn")).unwrap();
    assert!(cnn.signature.is_none());
    assert_eq!(cnn.input_names(), ["x"]);
}

#[test]
fn frozen_graphs_keeping_function_calls_are_inlined() {
    // tf-keras's grouped convolutions are XLA-compiled functions, which TF's freezer leaves as
    // PartitionedCall nodes; loading the .pb inlines them as a SavedModel's calls are.
    let path = case("frozen_function_call").join("frozen.pb");
    let raw = tf2h5_tf::pb::GraphDef::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    let calls: Vec<&str> = raw.node.iter().filter(|n| n.op == "PartitionedCall").map(|n| n.name.as_str()).collect();
    assert_eq!(calls.len(), 2, "the fixture should keep its function calls");
    assert!(raw.library.as_ref().is_some_and(|l| l.function.len() == 2));
    let graph = tf2h5_tf::load(&path).unwrap();
    assert!(graph.signature.is_none());
    assert_eq!(
        ops(&graph),
        ["BiasAdd", "Const", "Conv2D", "Identity", "MatMul", "Mean", "NoOp", "Placeholder", "Relu", "Softmax"]
    );
    for call in calls {
        assert!(graph.node(call).is_none(), "{call} survived");
        let conv = graph.node(&format!("{call}/Conv2D")).unwrap_or_else(|| panic!("{call}/Conv2D was not inlined"));
        assert_eq!(conv.attr_ints("dilations").unwrap(), vec![1, 1, 1, 1], "default attributes restored");
        assert!(conv.attr.keys().all(|k| !k.starts_with('_')));
    }
    // Every other node keeps its name: inputs and outputs are those of meta.json.
    let meta = meta("frozen_function_call");
    let names = |which| endpoints(&meta, which).into_iter().map(|e| e.0).collect::<Vec<_>>();
    assert_eq!(graph.input_names(), names("inputs"));
    assert_eq!(graph.output_names(), names("outputs"));
    for node in raw.node.iter().filter(|n| n.op != "PartitionedCall") {
        assert_eq!(graph.node(&node.name).map(|n| n.op.as_str()), Some(node.op.as_str()), "{}", node.name);
    }
}

fn npy(path: &std::path::Path) -> ArrayD<f32> {
    ndarray_npy::read_npy(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the frozen graph in (vanilla) tract on the fixture inputs.
fn run_in_tract(name: &str) -> Vec<(ArrayD<f32>, ArrayD<f32>)> {
    let graph = tf2h5_tf::load(&case(name)).unwrap();
    let meta = meta(name);
    let inputs: Vec<ArrayD<f32>> = endpoints(&meta, "inputs").iter().map(|(_, f)| npy(&case(name).join(f))).collect();
    let expected: Vec<ArrayD<f32>> =
        endpoints(&meta, "outputs").iter().map(|(_, f)| npy(&case(name).join(f))).collect();
    let mut tf = tract_tensorflow::tensorflow();
    if let Some(&bn) = tf.op_register.0.get("FusedBatchNorm") {
        tf.op_register.insert("FusedBatchNormV3", bn);
    }
    let outputs = graph.output_names();
    let mut model = tf.model_for_proto_model(&graph.pruned(&outputs).unwrap()).unwrap();
    let names = graph.input_names();
    model.set_input_names(&names).unwrap();
    for (i, input) in inputs.iter().enumerate() {
        model.set_input_fact(i, f32::fact(input.shape()).into()).unwrap();
    }
    model.select_outputs_by_name(&outputs).unwrap();
    let plan = model.into_typed().unwrap().into_runnable().unwrap();
    let values: TVec<TValue> = inputs.into_iter().map(|a| Tensor::from(a).into()).collect();
    let results = plan.run(values).unwrap();
    results.iter().zip(expected).map(|(r, e)| (r.to_plain_array_view::<f32>().unwrap().to_owned(), e)).collect()
}

#[test]
fn frozen_graphs_compute_what_tensorflow_computed() {
    // sm_tf_module_cnn has Pad, which vanilla tract mis-types (the verify oracle fixes it);
    // the CLI's end-to-end verification covers that case.
    for name in ["sm_tf_keras_two_io", "sm_tf1_simple_save", "sm_keras3_export"] {
        for (actual, expected) in run_in_tract(name) {
            assert_eq!(actual.shape(), expected.shape(), "{name}");
            let max = actual.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(max < 1e-5, "{name}: max abs error {max}");
        }
    }
}

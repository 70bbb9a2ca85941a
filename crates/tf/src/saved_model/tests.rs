//! The freezer and inliner on hand-built SavedModels and frozen graphs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::refs::{parse_function_ref, parse_graph_ref, Ref};
use super::variables::match_object_graphs;
use super::*;
use crate::attrs::NodeExt;
use crate::checkpoint::tests::write_checkpoint;
use crate::pb::{attr_value::Value, AttrValue, FunctionDef, NodeDef};
use crate::pb::{op_def::ArgDef, FunctionDefLibrary, NameAttrList, OpDef, SignatureDef, TensorInfo};

fn attr(value: Value) -> AttrValue {
    AttrValue { value: Some(value) }
}

fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
    NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn call(name: &str, op: &str, function: &str, inputs: &[&str]) -> NodeDef {
    let mut n = node(name, op, inputs);
    n.attr.insert("f".into(), attr(Value::Func(NameAttrList { name: function.into(), attr: HashMap::new() })));
    n
}

fn function(name: &str, inputs: &[&str], outputs: &[(&str, &str)], nodes: Vec<NodeDef>) -> FunctionDef {
    FunctionDef {
        signature: Some(OpDef {
            name: name.into(),
            input_arg: inputs.iter().map(|a| ArgDef { name: a.to_string(), ..Default::default() }).collect(),
            output_arg: outputs.iter().map(|(a, _)| ArgDef { name: a.to_string(), ..Default::default() }).collect(),
            ..Default::default()
        }),
        node_def: nodes,
        ret: outputs.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect(),
        ..Default::default()
    }
}

fn info(tensor: &str, dims: &[i64]) -> TensorInfo {
    TensorInfo {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: dims.iter().map(|&size| pb::tensor_shape_proto::Dim { size, name: String::new() }).collect(),
            unknown_rank: false,
        }),
        encoding: Some(pb::tensor_info::Encoding::Name(tensor.into())),
    }
}

/// `Pair`: an op with a list output `many` (N tensors, N defaulting to 2) then `last`.
fn pair_op() -> OpDef {
    OpDef {
        name: "Pair".into(),
        output_arg: vec![
            ArgDef { name: "many".into(), number_attr: "N".into(), ..Default::default() },
            ArgDef { name: "last".into(), ..Default::default() },
        ],
        attr: vec![pb::op_def::AttrDef {
            name: "N".into(),
            default_value: Some(attr(Value::I(2))),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tf2h5-sm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("variables")).unwrap();
    dir
}

/// Writes a SavedModel whose serving signature maps `x` to outputs `a` and `b` through
/// `outer` → `inner`, with variable `w` (2x2) in the checkpoint.
fn write_model(dir: &Path, library: Vec<FunctionDef>, extra_main: Vec<NodeDef>) {
    let mut x = node("serving_default_x", "Placeholder", &[]);
    x.attr.insert("_output_shapes".into(), attr(Value::I(0)));
    let mut main = vec![
        x,
        node("w", "VarHandleOp", &[]),
        call("call", "StatefulPartitionedCall", "outer", &["serving_default_x", "w", "^w"]),
    ];
    main.extend(extra_main);
    let signature = SignatureDef {
        inputs: [("x".to_string(), info("serving_default_x:0", &[-1, 2]))].into(),
        outputs: [("b".to_string(), info("call:1", &[-1, 2])), ("a".to_string(), info("call:0", &[-1, 2]))].into(),
        method_name: "tensorflow/serving/predict".into(),
    };
    let meta = proto::MetaGraphDef {
        meta_info_def: Some(pb::meta_graph_def::MetaInfoDef {
            tags: vec!["serve".into()],
            stripped_op_list: Some(pb::OpList { op: vec![pair_op()] }),
            stripped_default_attrs: true,
            ..Default::default()
        }),
        graph_def: Some(proto::GraphDef {
            node: main,
            library: Some(FunctionDefLibrary { function: library, gradient: vec![] }),
            versions: None,
        }),
        signature_def: [
            ("serving_default".to_string(), signature),
            ("__saved_model_init_op".to_string(), SignatureDef::default()),
        ]
        .into(),
        object_graph_def: None,
    };
    let model = proto::SavedModel { meta_graphs: vec![meta] };
    std::fs::write(dir.join("saved_model.pb"), model.encode_to_vec()).unwrap();
    write_checkpoint(&dir.join("variables"), &[("w", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])], 1);
}

fn library() -> Vec<FunctionDef> {
    let mut read = node("read", "ReadVariableOp", &["r"]);
    read.attr.insert("dtype".into(), attr(Value::Type(DataType::DtFloat as i32)));
    read.attr.insert("_class".into(), attr(Value::S(b"junk".to_vec())));
    let inner = function(
        "inner",
        &["a", "r"],
        &[("o0", "p:last:0"), ("o1", "p:many:1")],
        vec![
            read,
            node("mm", "MatMul", &["a", "read:value:0", "^read"]),
            node("p", "Pair", &["mm:product:0"]),
            node("unused", "Relu", &["mm:product:0"]),
            node("NoOp", "NoOp", &["^p"]),
        ],
    );
    let outer = function(
        "outer",
        &["x", "res"],
        &[("out_a", "relu:activations:0"), ("out_b", "idn:output:0")],
        vec![
            call("inner_call", "PartitionedCall", "inner", &["x", "res"]),
            node("idn", "IdentityN", &["inner_call:output:0", "inner_call:output:1", "^inner_call"]),
            node("relu", "Relu", &["idn:output:1"]),
        ],
    );
    vec![inner, outer]
}

#[test]
fn inlines_nested_calls_and_maps_list_outputs() {
    let dir = temp_dir("inline");
    write_model(&dir, library(), vec![]);
    let graph = crate::load(&dir).unwrap();
    let names: Vec<&str> = graph.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["x", "call/inner_call/read", "call/inner_call/mm", "call/inner_call/p", "call/relu", "a", "b"]);
    // a = relu(p:many:1) = relu(p:1); b = p:last:0 = p:2 (N = 2 restored from the OpDef).
    assert_eq!(graph.node("call/relu").unwrap().input, ["call/inner_call/p:1"]);
    assert_eq!(graph.node("b").unwrap().input, ["call/inner_call/p:2"]);
    assert_eq!(graph.node("call/inner_call/mm").unwrap().input, ["x", "call/inner_call/read"]);
    assert_eq!(graph.node("call/inner_call/p").unwrap().attr_int_opt("N").unwrap(), Some(2));
    assert!(graph
        .nodes()
        .iter()
        .all(|n| n.attr.keys().all(|k| !k.starts_with('_')) && n.input.iter().all(|i| !i.starts_with('^'))));
    let w = graph.const_value("call/inner_call/read").unwrap().unwrap();
    assert_eq!(w.as_f32().unwrap().as_slice().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(graph.node("x").unwrap().attr_shape_opt("shape").unwrap(), Some(vec![None, Some(2)]));
    // Signature order: sorted keys, whatever the map order.
    assert_eq!(graph.input_names(), ["x"]);
    assert_eq!(graph.output_names(), ["a", "b"]);
    let signatures = crate::signatures(&dir).unwrap();
    assert_eq!(signatures.len(), 1);
    assert_eq!(signatures[0].outputs.iter().map(|o| o.tensor.as_str()).collect::<Vec<_>>(), ["call:0", "call:1"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inlines_the_calls_of_a_frozen_graph() {
    let f = function(
        "f",
        &["a", "b"],
        &[("o0", "add:z:0"), ("o1", "mul:z:0")],
        vec![node("add", "AddV2", &["a", "b"]), node("mul", "Mul", &["a", "b"]), node("unused", "Relu", &["a"])],
    );
    let mut terminal = call("t", "PartitionedCall", "f", &["r", "x1"]);
    let float = DataType::DtFloat as i32;
    terminal.attr.insert(
        "Tout".into(),
        attr(Value::List(pb::attr_value::ListValue { r#type: vec![float, float], ..Default::default() })),
    );
    let mut x1 = node("x1", "Placeholder", &[]);
    x1.attr.insert("_output_shapes".into(), attr(Value::I(0)));
    let graph = pb::GraphDef {
        node: vec![
            node("r", "Relu", &["c:1", "^c", "^x0"]),
            x1,
            node("x0", "Placeholder", &[]),
            call("c", "StatefulPartitionedCall", "f", &["x0", "x1"]),
            terminal,
        ],
        library: Some(FunctionDefLibrary { function: vec![f], gradient: vec![] }),
        ..Default::default()
    };
    let path = Path::new("m.pb");
    let inlined = inline_calls(path, graph).unwrap();
    let graph = TfGraph::new(path.to_path_buf(), inlined).unwrap();
    let names: Vec<&str> = graph.nodes().iter().map(|n| n.name.as_str()).collect();
    // Placeholders first in file order; unused function outputs and nodes pruned.
    assert_eq!(names, ["x1", "x0", "c/mul", "r", "t/add", "t"]);
    assert_eq!(graph.input_names(), ["x1", "x0"]);
    // Other nodes are kept as they were, but for inputs from calls (control ones dropped).
    assert_eq!(graph.node("r").unwrap().input, ["c/mul", "^x0"]);
    assert!(graph.node("x1").unwrap().attr.contains_key("_output_shapes"));
    // A call nothing reads becomes an Identity of its first output, under its name.
    let t = graph.node("t").unwrap();
    assert_eq!((t.op.as_str(), t.input.as_slice()), ("Identity", ["t/add".to_string()].as_slice()));
    assert_eq!(t.attr_type_opt("T").unwrap(), Some(float));
    assert_eq!(graph.output_names(), ["t"]);
    // No call, nothing changes.
    let plain = pb::GraphDef {
        node: vec![node("x", "Placeholder", &[]), node("y", "Relu", &["x", "^x"])],
        ..Default::default()
    };
    assert_eq!(inline_calls(path, plain.clone()).unwrap(), plain);
    // Functions are scanned as in SavedModels; errors name the file, node and function.
    let mut f = function("g", &["a"], &[("o", "a")], vec![node("w", "AssignVariableOp", &["a", "a"])]);
    f.signature.as_mut().unwrap().name = "g".into();
    let graph = pb::GraphDef {
        node: vec![node("x", "Placeholder", &[]), call("c", "PartitionedCall", "g", &["x"])],
        library: Some(FunctionDefLibrary { function: vec![f], gradient: vec![] }),
        ..Default::default()
    };
    let err = inline_calls(path, graph).unwrap_err().to_string();
    assert!(err.contains("m.pb") && err.contains("'w' (AssignVariableOp) in function 'g'"), "{err}");
}

#[test]
fn refuses_writes_and_control_flow_anywhere_in_called_functions() {
    for (op, expected) in [
        ("AssignVariableOp", "writes a variable"),
        ("LoopCond", "a TF1 while-loop frame op is not supported: tf2h5 takes loops as While ops"),
        ("If", "control flow"),
    ] {
        let dir = temp_dir(op);
        let mut lib = library();
        // Not on any output's path: a side effect TF would still run.
        lib[0].node_def.push(node("side", op, &["r", "a"]));
        write_model(&dir, lib, vec![]);
        let err = crate::load(&dir).unwrap_err().to_string();
        assert!(
            err.contains("saved_model.pb")
                && err.contains(&format!(
                    "'side' ({op}) in function 'inner' (called by node 'inner_call' in function 'outer')"
                ))
                && err.contains(expected),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn refuses_unknown_signatures_and_other_resource_uses() {
    let dir = temp_dir("signature");
    write_model(&dir, library(), vec![]);
    let options = LoadOptions { signature: Some("predict".into()) };
    let err = crate::load_with(&dir, &options).unwrap_err().to_string();
    assert!(err.contains("no signature 'predict'") && err.contains("available: serving_default"), "{err}");
    let mut lib = library();
    lib[0].node_def[1] = node("mm", "MatMul", &["a", "r"]);
    write_model(&dir, lib, vec![]);
    let err = crate::load(&dir).unwrap_err().to_string();
    assert!(err.contains("'call/inner_call/mm' (MatMul)") && err.contains("variable 'w'"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bounds_exponential_inlining() {
    // f0 calls f1 twice, f1 calls f2 twice, ...: 2^40 inlined bodies if unbounded.
    let dir = temp_dir("explode");
    let mut lib = Vec::new();
    for i in 0..40 {
        let next = format!("f{}", i + 1);
        lib.push(function(
            &format!("f{i}"),
            &["x", "res"],
            &[("out_a", "c1:output:0"), ("out_b", "c2:output:0")],
            vec![
                call("c1", "PartitionedCall", &next, &["x", "res"]),
                call("c2", "PartitionedCall", &next, &["x", "res"]),
            ],
        ));
    }
    lib.push(function("f40", &["x", "res"], &[("out_a", "x"), ("out_b", "x")], vec![]));
    let mut outer = function(
        "outer",
        &["x", "res"],
        &[("out_a", "c:output:0"), ("out_b", "c:output:1")],
        vec![call("c", "PartitionedCall", "f0", &["x", "res"])],
    );
    outer.signature.as_mut().unwrap().name = "outer".into();
    lib.push(outer);
    write_model(&dir, lib, vec![]);
    let err = crate::load(&dir).unwrap_err().to_string();
    assert!(err.contains("inlining exceeds"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parses_function_references() {
    let is_arg = |n: &str| n == "x";
    assert_eq!(parse_function_ref("x", is_arg).unwrap(), Some(Ref::Arg("x", 0)));
    assert_eq!(parse_function_ref("x:0", is_arg).unwrap(), Some(Ref::Arg("x", 0)));
    assert_eq!(parse_function_ref("n:out", is_arg).unwrap(), Some(Ref::Node("n", Some("out"), 0)));
    assert_eq!(parse_function_ref("n:out:3", is_arg).unwrap(), Some(Ref::Node("n", Some("out"), 3)));
    assert_eq!(parse_function_ref("^n", is_arg).unwrap(), None);
    assert!(parse_function_ref("n:out:x", is_arg).is_err());
    assert!(parse_function_ref("a:b:c:d", is_arg).is_err());
    assert_eq!(parse_graph_ref("a/b:2"), Some(Ref::Node("a/b", None, 2)));
    assert_eq!(parse_graph_ref("a/b"), Some(Ref::Node("a/b", None, 0)));
}

#[test]
fn matches_object_graphs_by_child_names() {
    use pb::trackable_object_graph::trackable_object::ObjectReference;
    let child = |id: i32, name: &str| ObjectReference { node_id: id, local_name: name.into() };
    let saved = pb::SavedObjectGraph {
        nodes: vec![
            pb::SavedObject { children: vec![child(1, "layer"), child(2, "signatures")], ..Default::default() },
            pb::SavedObject { children: vec![child(3, "kernel")], ..Default::default() },
            pb::SavedObject::default(),
            pb::SavedObject::default(),
        ],
        ..Default::default()
    };
    let trackable = pb::TrackableObjectGraph {
        nodes: vec![
            pb::trackable_object_graph::TrackableObject { children: vec![child(2, "layer")], ..Default::default() },
            pb::trackable_object_graph::TrackableObject::default(),
            pb::trackable_object_graph::TrackableObject { children: vec![child(1, "kernel")], ..Default::default() },
        ],
    };
    let mapping = match_object_graphs(&saved, &trackable);
    assert_eq!(mapping.get(&1), Some(&2));
    assert_eq!(mapping.get(&3), Some(&1));
    assert_eq!(mapping.get(&2), None);
}

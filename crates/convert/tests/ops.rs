//! Converter tests on small hand-built graphs: which Keras layers each TF op or pattern
//! becomes, with which config and weights, and what is refused. Numbers are checked against
//! TensorFlow on the fixtures in `test-models/` (crates/verify/tests/fixtures.rs).

use tf2h5_convert::{convert, Conversion, Options};
use tf2h5_keras::Layer;
use tf2h5_tf::pb::{
    attr_value, tensor_shape_proto::Dim, AttrValue, DataType, GraphDef, NodeDef, TensorProto, TensorShapeProto,
};
use tf2h5_tf::TfGraph;

fn shape(dims: &[i64]) -> TensorShapeProto {
    TensorShapeProto { dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(), unknown_rank: false }
}

fn attr(value: attr_value::Value) -> AttrValue {
    AttrValue { value: Some(value) }
}

fn ints(values: &[i64]) -> AttrValue {
    attr(attr_value::Value::List(attr_value::ListValue { i: values.to_vec(), ..Default::default() }))
}

fn string(s: &str) -> AttrValue {
    attr(attr_value::Value::S(s.as_bytes().to_vec()))
}

struct G(Vec<NodeDef>);

impl G {
    fn new() -> G {
        G(vec![])
    }

    fn node(&mut self, name: &str, op: &str, inputs: &[&str], attrs: &[(&str, AttrValue)]) -> &mut Self {
        let mut node = NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        for (key, value) in attrs {
            node.attr.insert(key.to_string(), value.clone());
        }
        self.0.push(node);
        self
    }

    /// `batch = tf.shape(of)[0]` (nodes `shape`, `b`, `e`, `s` and `batch`).
    fn batch_size(&mut self, of: &str) -> &mut Self {
        self.node("shape", "Shape", &[of], &[]).ints("b", &[1], &[0]).ints("e", &[1], &[1]).ints("s", &[1], &[1]).node(
            "batch",
            "StridedSlice",
            &["shape", "b", "e", "s"],
            &[("shrink_axis_mask", attr(attr_value::Value::I(1)))],
        )
    }

    /// `out = x·inv + (beta − mean·inv)` with `inv = rsqrt(var + eps)·gamma`, as tf-keras's
    /// batch and layer normalizations write it (`mean`, `var`, `eps`, `gamma`, `beta` given).
    fn normalized(&mut self, x: &str) -> &mut Self {
        self.node("veps", "AddV2", &["var", "eps"], &[])
            .node("rsqrt", "Rsqrt", &["veps"], &[])
            .node("inv", "Mul", &["rsqrt", "gamma"], &[])
            .node("xinv", "Mul", &[x, "inv"], &[])
            .node("minv", "Mul", &["mean", "inv"], &[])
            .node("shift", "Sub", &["beta", "minv"], &[])
            .node("out", "AddV2", &["xinv", "shift"], &[])
    }

    fn input(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.node(
            name,
            "Placeholder",
            &[],
            &[
                ("dtype", attr(attr_value::Value::Type(DataType::DtFloat as i32))),
                ("shape", attr(attr_value::Value::Shape(shape(dims)))),
            ],
        )
    }

    fn floats(&mut self, name: &str, dims: &[i64], values: &[f32]) -> &mut Self {
        let proto = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(shape(dims)),
            tensor_content: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        self.node(name, "Const", &[], &[("value", attr(attr_value::Value::Tensor(proto)))])
    }

    fn ints(&mut self, name: &str, dims: &[i64], values: &[i32]) -> &mut Self {
        let proto = TensorProto {
            dtype: DataType::DtInt32 as i32,
            tensor_shape: Some(shape(dims)),
            int_val: values.to_vec(),
            ..Default::default()
        };
        self.node(name, "Const", &[], &[("value", attr(attr_value::Value::Tensor(proto)))])
    }

    fn graph(&self) -> TfGraph {
        TfGraph::new("test.pb".into(), GraphDef { node: self.0.clone(), ..Default::default() }).unwrap()
    }

    fn convert(&self) -> Conversion {
        convert(&self.graph(), &Options::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refusal(&self) -> String {
        match convert(&self.graph(), &Options::default()) {
            Ok(c) => panic!("expected a refusal, got {:?}", classes(&c)),
            Err(e) => e.to_string(),
        }
    }
}

fn classes(c: &Conversion) -> Vec<&str> {
    c.model.layers.iter().map(|l| l.class_name.as_str()).collect()
}

fn layer<'a>(c: &'a Conversion, class: &str) -> &'a Layer {
    c.model.layers.iter().find(|l| l.class_name == class).unwrap_or_else(|| panic!("no {class} in {:?}", classes(c)))
}

fn weight(l: &Layer, name: &str) -> Vec<f32> {
    l.weight(name).unwrap().iter().copied().collect()
}

/// A 1x1 Conv2D (3 -> 3 channels) on a 4x4x3 input: a tensor to build on.
fn conv_input(g: &mut G) -> &mut G {
    g.input("x", &[-1, 4, 4, 3]).floats("k", &[1, 1, 3, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]).node(
        "conv",
        "Conv2D",
        &["x", "k"],
        &[("strides", ints(&[1, 1, 1, 1])), ("padding", string("SAME"))],
    )
}

/// `conv_input` sliced by `StridedSlice(conv, begin, end, strides)` with the given `*_mask` attributes.
fn conv_strided_slice(begin: [i32; 4], end: [i32; 4], strides: [i32; 4], masks: &[(&str, i64)]) -> G {
    let mut g = G::new();
    let masks: Vec<(&str, AttrValue)> =
        masks.iter().map(|&(name, bits)| (name, attr(attr_value::Value::I(bits)))).collect();
    conv_input(&mut g).ints("b", &[4], &begin).ints("e", &[4], &end).ints("s", &[4], &strides).node(
        "out",
        "StridedSlice",
        &["conv", "b", "e", "s"],
        &masks,
    );
    g
}

#[test]
fn swish_fuses_into_the_convolution_through_identity_n() {
    let mut g = G::new();
    conv_input(&mut g)
        .floats("beta", &[], &[1.0])
        .node("scaled", "Mul", &["beta", "conv"], &[])
        .node("sig", "Sigmoid", &["scaled"], &[])
        .node("swish", "Mul", &["conv", "sig"], &[])
        .node("idn", "IdentityN", &["swish", "conv", "beta"], &[])
        .node("out", "Identity", &["idn"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D"]);
    assert_eq!(layer(&c, "Conv2D").config["activation"], "swish");
    assert_eq!(c.layer_sources[1].1.last().map(String::as_str), Some("swish"));
}

#[test]
fn swish_of_a_tensor_read_elsewhere_is_an_activation_layer() {
    let mut g = G::new();
    conv_input(&mut g).node("sig", "Sigmoid", &["conv"], &[]).node("swish", "Mul", &["sig", "conv"], &[]).node(
        "out",
        "AddV2",
        &["swish", "conv"],
        &[],
    );
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "Activation", "Add"]);
    assert_eq!(layer(&c, "Activation").config["activation"], "swish");
}

#[test]
fn hard_swish_is_rescaling_relu6_rescaling_multiply() {
    let mut g = G::new();
    conv_input(&mut g)
        .floats("three", &[], &[3.0])
        .floats("sixth", &[], &[1.0 / 6.0])
        .node("plus3", "AddV2", &["conv", "three"], &[])
        .node("relu6", "Relu6", &["plus3"], &[])
        .node("hsig", "Mul", &["relu6", "sixth"], &[])
        .node("out", "Mul", &["conv", "hsig"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "Rescaling", "ReLU", "Rescaling", "Multiply"]);
    let rescalings: Vec<&Layer> = c.model.layers.iter().filter(|l| l.class_name == "Rescaling").collect();
    assert_eq!(
        (rescalings[0].config["scale"].as_f64(), rescalings[0].config["offset"].as_f64()),
        (Some(1.0), Some(3.0))
    );
    // The exact float32 1/6, written as the f64 holding it.
    assert_eq!(rescalings[1].config["scale"].as_f64(), Some(f64::from(1.0f32 / 6.0)));
    assert_eq!(layer(&c, "ReLU").config["max_value"].as_f64(), Some(6.0));
    // The bias-free conv output is read twice: no bias fusion of the +3.
    assert_eq!(layer(&c, "Conv2D").config["use_bias"], false);
}

#[test]
fn per_channel_scale_is_a_1x1_depthwise_conv_and_a_following_add_its_bias() {
    let mut g = G::new();
    conv_input(&mut g)
        .node("relu", "Relu", &["conv"], &[])
        .floats("gamma", &[3], &[0.5, 2.0, -1.0])
        .floats("beta", &[1, 1, 1, 3], &[0.1, 0.2, 0.3])
        .node("scaled", "Mul", &["relu", "gamma"], &[])
        .node("out", "AddV2", &["scaled", "beta"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "DepthwiseConv2D"]);
    let dw = layer(&c, "DepthwiseConv2D");
    assert_eq!(dw.weight("depthwise_kernel").unwrap().shape(), [1, 1, 3, 1]);
    assert_eq!(weight(dw, "depthwise_kernel"), [0.5, 2.0, -1.0]);
    assert_eq!(weight(dw, "bias"), [0.1, 0.2, 0.3]);
    assert!(!dw.config.contains_key("groups"), "Keras 3 rejects groups on DepthwiseConv2D");
}

#[test]
fn decomposed_batch_norm_becomes_batch_normalization() {
    // tf.nn.batch_normalization with constant statistics; Keras 3's export reshapes them
    // to (1, 1, 1, C) first.
    let mut g = G::new();
    conv_input(&mut g)
        .floats("var", &[3], &[4.0, 0.25, 1.0])
        .floats("eps", &[], &[1e-3])
        .floats("gamma", &[3], &[1.0, 1.0, 2.0])
        .floats("mean_c", &[3], &[1.0, 0.0, -1.0])
        .ints("broadcast", &[4], &[1, 1, 1, 3])
        .node("mean", "Reshape", &["mean_c", "broadcast"], &[])
        .floats("beta", &[3], &[0.0, 1.0, 0.0])
        .normalized("conv");
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "BatchNormalization"]);
    let bn = layer(&c, "BatchNormalization");
    assert_eq!(bn.config["epsilon"], serde_json::json!(1e-3f32 as f64));
    assert_eq!(weight(bn, "gamma"), [1.0, 1.0, 2.0]);
    assert_eq!(weight(bn, "beta"), [0.0, 1.0, 0.0]);
    assert_eq!(weight(bn, "moving_mean"), [1.0, 0.0, -1.0]);
    assert_eq!(weight(bn, "moving_variance"), [4.0, 0.25, 1.0]);
}

#[test]
fn statistics_computed_from_the_input_are_not_a_batch_normalization() {
    // Same arithmetic, but the mean is computed (not a constant): no layer expresses it.
    let mut g = G::new();
    conv_input(&mut g)
        .floats("var", &[3], &[4.0, 0.25, 1.0])
        .floats("eps", &[], &[1e-3])
        .ints("axes", &[3], &[0, 1, 2])
        .node("mean", "Mean", &["conv", "axes"], &[("keep_dims", attr(attr_value::Value::B(true)))])
        .node("veps", "AddV2", &["var", "eps"], &[])
        .node("inv", "Rsqrt", &["veps"], &[])
        .node("xinv", "Mul", &["conv", "inv"], &[])
        .node("minv", "Mul", &["mean", "inv"], &[])
        .node("shift", "Neg", &["minv"], &[])
        .node("out", "AddV2", &["xinv", "shift"], &[]);
    if let Ok(c) = convert(&g.graph(), &Options::default()) {
        assert!(!classes(&c).contains(&"BatchNormalization"), "{:?}", classes(&c));
    }
}

#[test]
fn normalization_preprocessing_becomes_rescaling_and_normalization() {
    // EfficientNet: x * (1/255) + 0, then (x - mean) / max(sqrt(var), eps).
    let mut g = G::new();
    g.input("x", &[-1, 2, 2, 3])
        .floats("s", &[], &[1.0 / 255.0])
        .floats("zero", &[], &[0.0])
        .floats("mean", &[1, 1, 1, 3], &[0.5, 0.25, -0.5])
        .floats("var", &[1, 1, 1, 3], &[4.0, 0.25, 9.0])
        .floats("eps", &[], &[1e-7])
        .node("mul", "Mul", &["x", "s"], &[])
        .node("add", "AddV2", &["mul", "zero"], &[])
        .node("sub", "Sub", &["add", "mean"], &[])
        .node("sqrt", "Sqrt", &["var"], &[])
        .node("max", "Maximum", &["sqrt", "eps"], &[])
        .node("out", "RealDiv", &["sub", "max"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Rescaling", "Normalization"]);
    let r = layer(&c, "Rescaling");
    assert_eq!(r.config["offset"], serde_json::json!([-0.5, -0.25, 0.5]));
    let n = layer(&c, "Normalization");
    assert_eq!(n.config["mean"], serde_json::json!([0.0, 0.0, 0.0]));
    assert_eq!(n.config["variance"], serde_json::json!([4.0, 0.25, 9.0]));
    // Without the scale, the subtraction and the division are one layer.
    let mut g = G::new();
    g.input("x", &[-1, 3]).floats("mean", &[3], &[0.5, 0.25, -0.5]).floats("d", &[], &[3.0]);
    g.node("sub", "Sub", &["x", "mean"], &[]).node("out", "RealDiv", &["sub", "d"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Normalization"]);
    let n = layer(&c, "Normalization");
    assert_eq!(n.config["mean"], serde_json::json!([0.5, 0.25, -0.5]));
    assert_eq!(n.config["variance"], serde_json::json!([9.0, 9.0, 9.0]));
}

#[test]
fn division_by_a_constant_keras_cannot_represent_is_refused() {
    let mut g = G::new();
    g.input("x", &[-1, 3]).floats("d", &[], &[-2.0]).node("out", "RealDiv", &["x", "d"], &[]);
    assert!(g.refusal().contains("cannot be expressed"));
}

#[test]
fn layer_normalization_pattern() {
    let mut g = G::new();
    conv_input(&mut g)
        .ints("axes", &[1], &[-1])
        .floats("eps", &[], &[1e-6])
        .floats("gamma", &[3], &[1.0, 2.0, 3.0])
        .floats("beta", &[3], &[0.0, 0.5, 1.0])
        .node("mean", "Mean", &["conv", "axes"], &[("keep_dims", attr(attr_value::Value::B(true)))])
        .node("sg", "StopGradient", &["mean"], &[])
        .node("sq", "SquaredDifference", &["conv", "sg"], &[])
        .node("var", "Mean", &["sq", "axes"], &[("keep_dims", attr(attr_value::Value::B(true)))])
        .normalized("conv");
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "LayerNormalization"]);
    let ln = layer(&c, "LayerNormalization");
    assert_eq!(ln.config["epsilon"].as_f64(), Some(f64::from(1e-6f32)));
    assert_eq!(weight(ln, "gamma"), [1.0, 2.0, 3.0]);
    assert_eq!(weight(ln, "beta"), [0.0, 0.5, 1.0]);
    // The whole subgraph is recorded as the layer's sources, ending at the output node.
    let sources = &c.layer_sources[2].1;
    assert_eq!(sources.last().map(String::as_str), Some("out"));
    assert!(sources.iter().any(|s| s == "rsqrt"));
}

#[test]
fn gelu_erfc_form() {
    let mut g = G::new();
    conv_input(&mut g)
        .floats("half", &[], &[0.5])
        .floats("c", &[], &[std::f32::consts::FRAC_1_SQRT_2])
        .node("a", "Mul", &["half", "conv"], &[])
        .node("neg", "Neg", &["conv"], &[])
        .node("b", "Mul", &["neg", "c"], &[])
        .node("erfc", "Erfc", &["b"], &[])
        .node("out", "Mul", &["a", "erfc"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D"]);
    assert_eq!(layer(&c, "Conv2D").config["activation"], "gelu");
}

#[test]
fn dilated_depthwise_conv_in_space_to_batch_form() {
    // 5x5 input, 3x3 kernel, rate 2, SAME: total padding 4 -> [2, 2], padded 9 -> 1 extra.
    let mut g = G::new();
    g.input("x", &[-1, 5, 5, 2])
        .floats("k", &[3, 3, 2, 1], &[0.5; 18])
        .ints("block", &[2], &[2, 2])
        .ints("pads", &[2, 2], &[2, 3, 2, 3])
        .ints("crops", &[2, 2], &[0, 1, 0, 1])
        .node("s2b", "SpaceToBatchND", &["x", "block", "pads"], &[])
        .node(
            "dw",
            "DepthwiseConv2dNative",
            &["s2b", "k"],
            &[("strides", ints(&[1, 1, 1, 1])), ("padding", string("VALID"))],
        )
        .node("out", "BatchToSpaceND", &["dw", "block", "crops"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "DepthwiseConv2D"]);
    let dw = layer(&c, "DepthwiseConv2D");
    assert_eq!(dw.config["dilation_rate"], serde_json::json!([2, 2]));
    assert_eq!(dw.config["padding"], "same");
    assert_eq!(c.outputs[0].shape, [None, Some(5), Some(5), Some(2)]);
    // Paddings that are neither SAME nor VALID are refused.
    let mut g2 = G::new();
    g2.0 = g.0.clone();
    g2.0.retain(|n| n.name != "pads");
    g2.ints("pads", &[2, 2], &[1, 4, 2, 3]);
    assert!(g2.refusal().contains("neither TF's SAME nor VALID"));
}

#[test]
fn grouped_conv_with_one_channel_per_group_is_depthwise() {
    let mut g = G::new();
    // (1, 1, 1, 4) kernel on 2 channels: groups = 2, multiplier 2.
    g.input("x", &[-1, 3, 3, 2]).floats("k", &[1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]).node(
        "out",
        "Conv2D",
        &["x", "k"],
        &[("strides", ints(&[1, 1, 1, 1])), ("padding", string("SAME"))],
    );
    let c = g.convert();
    let dw = layer(&c, "DepthwiseConv2D");
    assert_eq!(dw.weight("depthwise_kernel").unwrap().shape(), [1, 1, 2, 2]);
    assert_eq!(dw.config["depth_multiplier"], 2);
}

#[test]
fn reshape_targets_from_shape_arithmetic() {
    // Keras Reshape((1, 1, 3)) after a pooling: [tf.shape(x)[0], 1, 1, 3].
    let mut g = G::new();
    conv_input(&mut g)
        .ints("axes", &[2], &[1, 2])
        .node("gap", "Mean", &["conv", "axes"], &[])
        .batch_size("gap")
        .ints("one", &[], &[1])
        .ints("three", &[], &[3])
        .node("target", "Pack", &["batch", "one", "one", "three"], &[("axis", attr(attr_value::Value::I(0)))])
        .node("r", "Reshape", &["gap", "target"], &[])
        // and back to (batch, 3) with [-1, 3]: a Flatten.
        .ints("flat", &[2], &[-1, 3])
        .node("out", "Reshape", &["r", "flat"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "GlobalAveragePooling2D", "Reshape", "Flatten"]);
    assert_eq!(layer(&c, "Reshape").config["target_shape"], serde_json::json!([1, 1, 3]));
}

#[test]
fn tensordot_is_a_dense_on_the_last_axis() {
    // Keras Dense on NHWC: reshape to (batch*h*w, c), MatMul, reshape back, BiasAdd.
    let mut g = G::new();
    conv_input(&mut g)
        .node("shape", "Shape", &["conv"], &[])
        .ints("free", &[3], &[0, 1, 2])
        .ints("axis0", &[], &[0])
        .node("free_dims", "GatherV2", &["shape", "free", "axis0"], &[])
        .ints("all", &[1], &[0])
        .node("rows", "Prod", &["free_dims", "all"], &[])
        .ints("c", &[], &[3])
        .node("flat_shape", "Pack", &["rows", "c"], &[("axis", attr(attr_value::Value::I(0)))])
        .ints("perm", &[4], &[0, 1, 2, 3])
        .node("t", "Transpose", &["conv", "perm"], &[])
        .node("flat", "Reshape", &["t", "flat_shape"], &[])
        .floats("w", &[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
        .node("mm", "MatMul", &["flat", "w"], &[])
        .ints("units", &[1], &[2])
        .ints("caxis", &[], &[0])
        .node("back_shape", "ConcatV2", &["free_dims", "units", "caxis"], &[])
        .node("back", "Reshape", &["mm", "back_shape"], &[])
        .floats("bias", &[2], &[0.5, -0.5])
        .node("out", "BiasAdd", &["back", "bias"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "Dense"]);
    let dense = layer(&c, "Dense");
    assert_eq!(weight(dense, "bias"), [0.5, -0.5]);
    assert_eq!(c.outputs[0].shape, [None, Some(4), Some(4), Some(2)]);
    assert_eq!(c.layer_sources[2].1, ["mm", "back", "out"]);
}

#[test]
fn strided_slice_of_any_axes_is_cropping_with_permutes_and_reshapes() {
    let g = conv_strided_slice([0, 1, 0, 0], [0, 0, 3, 0], [1, 1, 1, 1], &[("begin_mask", 9), ("end_mask", 11)]);
    let c = g.convert();
    assert_eq!(layer(&c, "Cropping2D").config["cropping"], serde_json::json!([[1, 0], [0, 1]]));
    assert_eq!(c.outputs[0].shape, [None, Some(3), Some(3), Some(3)]);
    let g = conv_strided_slice([0, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1], &[("begin_mask", 7), ("end_mask", 15)]);
    let c = g.convert();
    // Channels 1.. of 3: (N, H, W, C) → (N, C, W, H), crop C by (1, 0), back.
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "Permute", "Cropping2D", "Permute"]);
    assert_eq!(layer(&c, "Cropping2D").config["cropping"], serde_json::json!([[1, 0], [0, 0]]));
    assert_eq!(c.outputs[0].shape, [None, Some(4), Some(4), Some(2)]);
    // The inner Permute and Cropping2D have no TF node to be compared with.
    let compared: Vec<&str> =
        c.layer_sources.iter().filter(|(_, nodes)| !nodes.is_empty()).map(|(layer, _)| layer.as_str()).collect();
    assert_eq!(compared.len(), 3, "{compared:?}");
    // Channels and width together: the width, then the channels.
    let g = conv_strided_slice([0, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1], &[("begin_mask", 3), ("end_mask", 15)]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "Cropping2D", "Permute", "Cropping2D", "Permute"]);
    assert_eq!(c.outputs[0].shape, [None, Some(4), Some(3), Some(2)]);
    // A new axis and a dropped one (x[:, 1, None]): a Reshape after the crop.
    let g = conv_strided_slice(
        [0, 1, 0, 0],
        [0, 2, 0, 0],
        [1, 1, 1, 1],
        &[("begin_mask", 9), ("end_mask", 9), ("shrink_axis_mask", 2), ("new_axis_mask", 4)],
    );
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "Cropping2D", "Reshape"]);
    assert_eq!(c.outputs[0].shape, [None, Some(1), Some(4), Some(3)]);
}

/// The layer normalization subgraph tf-keras writes, over `axes` of `input`, without beta
/// (`-mean * inv`, the form `center=False` freezes to).
fn layer_norm_without_beta<'g>(
    g: &'g mut G,
    input: &str,
    axes: &[i32],
    gamma_dims: &[i64],
    gamma: &[f32],
) -> &'g mut G {
    g.ints("axes", &[axes.len() as i64], axes)
        .floats("eps", &[], &[1e-6])
        .floats("gamma", gamma_dims, gamma)
        .node("mean", "Mean", &[input, "axes"], &[("keep_dims", attr(attr_value::Value::B(true)))])
        .node("sg", "StopGradient", &["mean"], &[])
        .node("sq", "SquaredDifference", &[input, "sg"], &[])
        .node("var", "Mean", &["sq", "axes"], &[("keep_dims", attr(attr_value::Value::B(true)))])
        .node("veps", "AddV2", &["var", "eps"], &[])
        .node("rsqrt", "Rsqrt", &["veps"], &[])
        .node("inv", "Mul", &["rsqrt", "gamma"], &[])
        .node("xinv", "Mul", &[input, "inv"], &[])
        .node("negmean", "Neg", &["mean"], &[])
        .node("shift", "Mul", &["negmean", "inv"], &[])
        .node("out", "AddV2", &["xinv", "shift"], &[])
}

#[test]
fn layer_normalization_over_adjacent_axes_is_merged_by_reshapes() {
    let mut g = G::new();
    g.input("x", &[-1, 2, 3]);
    let gamma: Vec<f32> = (1..=6).map(|v| v as f32).collect();
    layer_norm_without_beta(&mut g, "x", &[1, 2], &[1, 2, 3], &gamma);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Reshape", "LayerNormalization", "Reshape"]);
    let ln = layer(&c, "LayerNormalization");
    assert_eq!(ln.config["axis"], serde_json::json!([-1]));
    assert_eq!((ln.config["center"].as_bool(), ln.config["scale"].as_bool()), (Some(false), Some(true)));
    assert_eq!(weight(ln, "gamma"), gamma);
    assert_eq!(c.outputs[0].shape, [None, Some(2), Some(3)]);
    // One axis that is not the last: the layer's own axis, gamma of that axis's size.
    let mut g = G::new();
    g.input("x", &[-1, 2, 3]);
    layer_norm_without_beta(&mut g, "x", &[1], &[2, 1], &[2.0, 3.0]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "LayerNormalization"]);
    assert_eq!(layer(&c, "LayerNormalization").config["axis"], serde_json::json!([1]));
    // Axes that are not adjacent, or the batch axis: named refusals.
    let mut g = G::new();
    g.input("x", &[-1, 2, 3, 4]);
    layer_norm_without_beta(&mut g, "x", &[1, 3], &[2, 1, 4], &[1.0; 8]);
    assert!(g.refusal().contains("not adjacent"), "{}", g.refusal());
    let mut g = G::new();
    g.input("x", &[-1, 2, 3]);
    layer_norm_without_beta(&mut g, "x", &[0, 1], &[1], &[1.0]);
    assert!(g.refusal().contains("batch axis"), "{}", g.refusal());
}

#[test]
fn constants_of_any_broadcastable_shape_are_nested_rescalings() {
    // A learned position embedding (2, 3) added to (batch, 2, 3), then a per-token scale (2, 1).
    let mut g = G::new();
    g.input("x", &[-1, 2, 3])
        .floats("pos", &[2, 3], &[0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
        .node("add", "AddV2", &["x", "pos"], &[])
        .floats("token_scale", &[1, 2, 1], &[2.0, -3.0])
        .node("out", "Mul", &["token_scale", "add"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Rescaling", "Rescaling"]);
    let (add, mul) = (&c.model.layers[1].config, &c.model.layers[2].config);
    assert_eq!(add["offset"], serde_json::json!([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]]));
    assert_eq!(add["scale"], serde_json::json!(1.0));
    assert_eq!(mul["scale"], serde_json::json!([[2.0], [-3.0]]));
    // A constant that would widen the tensor (3 tokens against 2), or divide by a
    // non-channel shape, is refused naming the node.
    let mut g = G::new();
    g.input("x", &[-1, 2, 3]).floats("c", &[3, 1], &[1.0, 2.0, 3.0]).node("out", "AddV2", &["x", "c"], &[]);
    assert!(g.refusal().contains("'out'"), "{}", g.refusal());
    let mut g = G::new();
    g.input("x", &[-1, 2, 3]).floats("c", &[2, 1], &[1.0, 2.0]).node("out", "RealDiv", &["x", "c"], &[]);
    assert!(g.refusal().contains("dividing by a constant of shape [2, 1]"), "{}", g.refusal());
}

#[test]
fn leaky_relu_and_broadcast_multiply() {
    let mut g = G::new();
    conv_input(&mut g)
        .node("leaky", "LeakyRelu", &["conv"], &[("alpha", attr(attr_value::Value::F(0.1)))])
        .ints("axes", &[2], &[1, 2])
        .node("gate", "Mean", &["leaky", "axes"], &[("keep_dims", attr(attr_value::Value::B(true)))])
        .node("out", "Mul", &["leaky", "gate"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "LeakyReLU", "GlobalAveragePooling2D", "Multiply"]);
    assert_eq!(layer(&c, "LeakyReLU").config["alpha"].as_f64(), Some(f64::from(0.1f32)));
    assert_eq!(c.outputs[0].shape, [None, Some(4), Some(4), Some(3)]);
}

#[test]
fn maximum_and_minimum_with_a_constant_on_the_zero_side_split_exactly() {
    let mut g = G::new();
    conv_input(&mut g).floats("c", &[], &[1e-12]).node("out", "Maximum", &["conv", "c"], &[]);
    let refusal = g.refusal();
    assert!(refusal.contains("l2_normalize") && refusal.contains("UnitNormalization"), "{refusal}");
    let mut g = G::new();
    conv_input(&mut g).floats("c", &[], &[-1.0]).node("out", "Minimum", &["conv", "c"], &[]);
    assert!(g.refusal().contains("no exact Keras form"));
    let mut g = G::new();
    conv_input(&mut g).floats("c", &[], &[0.0]).node("out", "Maximum", &["conv", "c"], &[]);
    assert_eq!(classes(&g.convert()), ["InputLayer", "Conv2D", "ReLU"]);
    // tf.clip_by_value(x, -1, 1.5): min(x, 1.5) = relu_1.5(x) - relu(-x), then
    // max(y, -1) = relu(y) - relu_1(-y).
    let mut g = G::new();
    conv_input(&mut g)
        .floats("hi", &[], &[1.5])
        .floats("lo", &[], &[-1.0])
        .node("min", "Minimum", &["conv", "hi"], &[])
        .node("out", "Maximum", &["min", "lo"], &[]);
    let c = g.convert();
    let split = ["ReLU", "Rescaling", "ReLU", "Rescaling", "Add"];
    assert_eq!(classes(&c), [&["InputLayer", "Conv2D"][..], &split, &split].concat());
    let caps: Vec<&serde_json::Value> =
        c.model.layers.iter().filter(|l| l.class_name == "ReLU").map(|l| &l.config["max_value"]).collect();
    assert_eq!(
        caps,
        [&serde_json::json!(1.5), &serde_json::Value::Null, &serde_json::Value::Null, &serde_json::json!(1.0)]
    );
    assert!(c
        .model
        .layers
        .iter()
        .filter(|l| l.class_name == "Rescaling")
        .all(|l| l.config["scale"] == serde_json::json!(-1.0)));
}

#[test]
fn strided_slice_with_strides_is_a_crop_then_unit_average_pools() {
    // x[:, 1::2, ::2, ::2] of (N, 4, 4, 3): rows 1 and 3, columns 0 and 2, channels 0 and 2.
    let g = conv_strided_slice([0, 1, 0, 0], [0, 0, 0, 0], [1, 2, 2, 2], &[("begin_mask", 13), ("end_mask", 15)]);
    let c = g.convert();
    let expected = ["InputLayer", "Conv2D", "Cropping2D", "AveragePooling2D", "Permute", "AveragePooling2D", "Permute"];
    assert_eq!(classes(&c), expected);
    let pools: Vec<_> = c.model.layers.iter().filter(|l| l.class_name == "AveragePooling2D").collect();
    assert_eq!(pools[0].config["pool_size"], serde_json::json!([1, 1]));
    assert_eq!(pools[0].config["strides"], serde_json::json!([2, 2]));
    assert_eq!(pools[1].config["strides"], serde_json::json!([2, 1]));
    assert_eq!(c.outputs[0].shape, [None, Some(2), Some(2), Some(2)]);
    let g = conv_strided_slice([0, 0, 0, 0], [0, 0, 0, 0], [1, -1, 1, 1], &[("end_mask", 15)]);
    assert!(g.refusal().contains("stride -1 is not supported"));
}

#[test]
fn a_pass_through_read_twice_keeps_the_layer_unfused() {
    // conv -> Reshape (same shape) -> {BiasAdd, Relu}: the bias must not go into the conv,
    // which the Relu also reads.
    let mut g = G::new();
    conv_input(&mut g)
        .ints("same", &[4], &[-1, 4, 4, 3])
        .node("r", "Reshape", &["conv", "same"], &[])
        .floats("b", &[3], &[1.0, 2.0, 3.0])
        .node("biased", "BiasAdd", &["r", "b"], &[])
        .node("relu", "Relu", &["r"], &[])
        .node("out", "AddV2", &["biased", "relu"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D", "Rescaling", "Activation", "Add"]);
    assert_eq!(layer(&c, "Conv2D").config["use_bias"], false);
    // Read once, the same chain fuses, and the reshape is recorded as the layer's last node.
    let mut g = G::new();
    conv_input(&mut g)
        .ints("same", &[4], &[-1, 4, 4, 3])
        .node("r", "Reshape", &["conv", "same"], &[])
        .floats("b", &[3], &[1.0, 2.0, 3.0])
        .node("out", "BiasAdd", &["r", "b"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c), ["InputLayer", "Conv2D"]);
    assert_eq!(c.layer_sources[1].1, ["conv", "r", "out"]);
}

/// `tf.concat([tf.broadcast_to(token, [tf.shape(x)[0], 1, 2]), x], 1)` (or `tf.tile(token,
/// [batch, 1, 1])`), a ViT's class token, on x of shape (batch, 3, 2).
fn class_token(repeat: &str) -> G {
    let mut g = G::new();
    g.input("x", &[-1, 3, 2]).floats("token", &[1, 1, 2], &[0.7, -1.25]).batch_size("x").ints("one", &[], &[1]);
    if repeat == "BroadcastTo" {
        g.ints("two", &[], &[2]).node(
            "target",
            "Pack",
            &["batch", "one", "two"],
            &[("axis", attr(attr_value::Value::I(0)))],
        );
    } else {
        g.node("target", "Pack", &["batch", "one", "one"], &[("axis", attr(attr_value::Value::I(0)))]);
    }
    g.node("repeated", repeat, &["token", "target"], &[]).ints("axis", &[], &[1]).node(
        "out",
        "ConcatV2",
        &["repeated", "x", "axis"],
        &[],
    );
    g
}

#[test]
fn class_token_is_exact_for_any_finite_input() {
    for repeat in ["BroadcastTo", "Tile"] {
        let c = class_token(repeat).convert();
        assert_eq!(classes(&c), ["InputLayer", "Cropping1D", "Dense", "Concatenate"], "{repeat}");
        let dense = layer(&c, "Dense");
        assert!(weight(dense, "kernel").iter().all(|&k| k == 0.0));
        assert_eq!(weight(dense, "bias"), [0.7, -1.25]);
        // x·0 + b is b bit for bit, whatever finite values the tokens hold.
        let extremes = [f32::MAX, -f32::MAX, f32::MIN_POSITIVE, -0.0, 1e-45, 3.0, -7.5, 0.0, 1e30, -1e30, 0.1, 2.5];
        let x = ndarray::ArrayD::from_shape_vec(vec![2, 3, 2], extremes.to_vec()).unwrap();
        let y = tf2h5_engine::run(&c.model, std::slice::from_ref(&x)).unwrap().remove(0);
        assert_eq!(y.shape(), [2, 4, 2]);
        for sample in 0..2 {
            assert_eq!(y.slice(ndarray::s![sample, 0, ..]).to_vec(), [0.7, -1.25]);
            assert_eq!(y.slice(ndarray::s![sample, 1.., ..]), x.slice(ndarray::s![sample, .., ..]));
        }
    }
    // A constant that does not repeat to the target is refused naming the node.
    let mut g = G::new();
    g.input("x", &[-1, 3, 2]).floats("c", &[2, 1, 2], &[1.0; 4]).node("shape", "Shape", &["x"], &[]).node(
        "out",
        "BroadcastTo",
        &["c", "shape"],
        &[],
    );
    assert!(g.refusal().contains("'out'"), "{}", g.refusal());
}

/// keras-hub's causal mask (`compute_causal_mask`) on scores x of shape (batch, 4, 4): float
/// `Range`s up to the length `tf.shape(x)[1]`, `i >= j` broadcast to (batch, 4, 4), added to the
/// scores as `(1 - mask)·-1e9`. With the length known, the whole chain folds to one constant.
#[test]
fn causal_mask_from_the_length_folds_to_a_constant() {
    let float = || attr(attr_value::Value::Type(DataType::DtFloat as i32));
    let mut g = G::new();
    g.input("x", &[-1, 4, 4]).node("dims", "Shape", &["x"], &[]).ints("lb", &[1], &[1]).ints("le", &[1], &[2]);
    g.ints("ls", &[1], &[1])
        .node(
            "len_int",
            "StridedSlice",
            &["dims", "lb", "le", "ls"],
            &[("shrink_axis_mask", attr(attr_value::Value::I(1)))],
        )
        .node("len", "Cast", &["len_int"], &[("DstT", float())])
        .floats("start", &[], &[0.0])
        .floats("delta", &[], &[1.0])
        .node("i", "Range", &["start", "len", "delta"], &[("Tidx", float())])
        .node("j", "Range", &["start", "len", "delta"], &[("Tidx", float())])
        .ints("dim", &[], &[1])
        .node("column", "ExpandDims", &["i", "dim"], &[])
        .node("causal", "GreaterEqual", &["column", "j"], &[])
        .batch_size("x")
        .ints("four", &[], &[4])
        .node("target", "Pack", &["batch", "four", "four"], &[("axis", attr(attr_value::Value::I(0)))])
        .node("repeated", "BroadcastTo", &["causal", "target"], &[])
        .node("mask", "Cast", &["repeated"], &[("DstT", float())])
        .floats("one", &[], &[1.0])
        .node("masked", "Sub", &["one", "mask"], &[])
        .floats("minus_inf", &[], &[-1e9])
        .node("bias", "Mul", &["masked", "minus_inf"], &[])
        .node("out", "AddV2", &["x", "bias"], &[]);
    let c = g.convert();
    assert_eq!(classes(&c).len(), 2, "one layer adding a constant: {:?}", classes(&c));
    let x = ndarray::ArrayD::from_elem(vec![2, 4, 4], 0.5f32);
    let y = tf2h5_engine::run(&c.model, std::slice::from_ref(&x)).unwrap().remove(0);
    for (index, &value) in y.indexed_iter() {
        let (row, column) = (index[1], index[2]);
        assert_eq!(value, if row >= column { 0.5 } else { 0.5 - 1e9 }, "at {index:?}");
    }
}

/// Token ids (int32, 5 per sample) looked up in a 6-row table, and compared with `op` and 0.
fn ids_compared(op: &str, with_table: bool) -> G {
    let mut g = G::new();
    g.node(
        "ids",
        "Placeholder",
        &[],
        &[
            ("dtype", attr(attr_value::Value::Type(DataType::DtInt32 as i32))),
            ("shape", attr(attr_value::Value::Shape(shape(&[-1, 5])))),
        ],
    );
    g.ints("zero", &[], &[2]).node("mask", op, &["ids", "zero"], &[]);
    let bool_type = attr(attr_value::Value::Type(DataType::DtBool as i32));
    let float_type = attr(attr_value::Value::Type(DataType::DtFloat as i32));
    g.ints("axis", &[], &[1]).node("expand", "ExpandDims", &["mask", "axis"], &[]);
    g.node("cast", "Cast", &["expand"], &[("SrcT", bool_type), ("DstT", float_type)]);
    if with_table {
        let table: Vec<f32> = (0..12).map(|v| v as f32).collect();
        g.floats("table", &[6, 2], &table).ints("gather_axis", &[], &[0]);
        g.node("lookup", "GatherV2", &["table", "ids", "gather_axis"], &[]);
    }
    g
}

#[test]
fn comparisons_of_ids_are_embedding_tables_over_the_ids_bound() {
    for (op, expected) in [("NotEqual", [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]), ("Less", [1.0, 1.0, 0.0, 0.0, 0.0, 0.0])] {
        let c = ids_compared(op, true).convert();
        assert_eq!(classes(&c)[..4], ["InputLayer", "Embedding", "Reshape", "Reshape"], "{op}");
        // The 6 rows of the table the ids are looked up in bound them: one 0/1 row per id.
        let table = c.model.layers.iter().find(|l| l.name.starts_with("mask")).unwrap();
        assert_eq!(weight(table, "embeddings"), expected, "{op}");
        assert_eq!(table.config["input_dim"], 6);
    }
    // Ids nothing bounds cannot be tabulated.
    let refusal = ids_compared("NotEqual", false).refusal();
    assert!(refusal.contains("node 'mask'") && refusal.contains("nothing bounds"), "{refusal}");
}

/// keras-hub's attention mask: scores `x` (5 keys) and an int32 `padding_mask` input nothing
/// else reads, cast to bool (a 0/1 mask by contract), then Keras 3's masked softmax
/// `SelectV2(keep, x, filler)` → `Softmax` → `SelectV2(keep, p, 0)`.
fn masked_softmax(filler: f32) -> G {
    let mut g = G::new();
    let int32 = attr(attr_value::Value::Type(DataType::DtInt32 as i32));
    let bool_type = attr(attr_value::Value::Type(DataType::DtBool as i32));
    g.input("x", &[-1, 5]).node(
        "padding_mask",
        "Placeholder",
        &[],
        &[("dtype", int32.clone()), ("shape", attr(attr_value::Value::Shape(shape(&[-1, 5]))))],
    );
    g.node("keep", "Cast", &["padding_mask"], &[("SrcT", int32), ("DstT", bool_type)]);
    g.floats("filler", &[], &[filler]).floats("zero", &[], &[0.0]);
    g.node("masked", "SelectV2", &["keep", "x", "filler"], &[]).node("p", "Softmax", &["masked"], &[]);
    g.node("out", "SelectV2", &["keep", "p", "zero"], &[]);
    g
}

#[test]
fn masked_softmax_on_a_cast_mask_is_exact_with_standard_layers() {
    let c = masked_softmax(-1e9).convert();
    assert_eq!(
        classes(&c),
        ["InputLayer", "Embedding", "Reshape", "InputLayer", "Multiply", "Rescaling", "Add", "Softmax", "Multiply"]
    );
    assert_eq!(c.model.inputs, ["x", "padding_mask"]);
    // The cast to bool is `mask != 0` over the mask's contract range 0..2.
    let table = layer(&c, "Embedding");
    assert_eq!(weight(table, "embeddings"), [0.0, 1.0]);
    assert_eq!(table.config["input_dim"], 2);
    let rows: [([f32; 5], [f32; 5]); 4] = [
        ([0.5, -2.0, 3.0, 1e30, -1e30], [1.0, 0.0, 1.0, 0.0, 1.0]),
        ([0.5, -2.0, 3.0, 7.0, -1.0], [0.0; 5]), // fully masked: TF zeroes the row
        ([f32::MAX, -f32::MAX, 0.0, -0.0, 1e-45], [0.0, 1.0, 1.0, 1.0, 1.0]),
        ([0.25, 0.5, 0.75, 1.0, -1e9], [1.0; 5]),
    ];
    let x = ndarray::ArrayD::from_shape_vec(vec![4, 5], rows.iter().flat_map(|r| r.0).collect()).unwrap();
    let mask = ndarray::ArrayD::from_shape_vec(vec![4, 5], rows.iter().flat_map(|r| r.1).collect()).unwrap();
    let y = tf2h5_engine::run(&c.model, &[x, mask]).unwrap().remove(0);
    for (row, (scores, keep)) in rows.iter().enumerate() {
        // TF: where(keep, x, -1e9), softmax, where(keep, p, 0).
        let masked: Vec<f32> = scores.iter().zip(keep).map(|(&s, &k)| if k == 1.0 { s } else { -1e9 }).collect();
        let max = masked.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = masked.iter().map(|&s| (s - max).exp()).sum();
        for (col, (&s, &k)) in masked.iter().zip(keep).enumerate() {
            let expected = if k == 1.0 { (s - max).exp() / sum } else { 0.0 };
            let got = y[[row, col]];
            assert!((got - expected).abs() <= 1e-6, "row {row} col {col}: {got} vs {expected}");
            if k == 0.0 {
                assert_eq!(got, 0.0, "row {row} col {col}");
            }
        }
    }
}

#[test]
fn selects_keep_either_branch_and_refuse_what_has_no_exact_product() {
    // The tensor where the mask is false: x · (1 - m) + c · m.
    let mut g = masked_softmax(-1e9);
    g.0.retain(|n| !["masked", "p", "out"].contains(&n.name.as_str()));
    g.node("out", "SelectV2", &["keep", "filler", "x"], &[]);
    let c = g.convert();
    let x = ndarray::ArrayD::from_shape_vec(vec![1, 5], vec![f32::MAX, -3.0, 0.5, -0.0, 2.0]).unwrap();
    let mask = ndarray::ArrayD::from_shape_vec(vec![1, 5], vec![1.0, 0.0, 1.0, 0.0, 0.0]).unwrap();
    let y = tf2h5_engine::run(&c.model, &[x, mask]).unwrap().remove(0);
    assert_eq!(y.as_slice().unwrap(), [-1e9, -3.0, -1e9, 0.0, 2.0]);
    // An infinite filler: inf · 0 would be NaN where the mask keeps x.
    let refusal = masked_softmax(f32::NEG_INFINITY).refusal();
    assert!(refusal.contains("node 'masked'") && refusal.contains("-inf"), "{refusal}");
    // A condition the converter does not hold as a 0/1 float mask (a bool input) is refused.
    let mut g = masked_softmax(-1e9);
    g.0.retain(|n| n.name != "keep");
    let bool_type = attr(attr_value::Value::Type(DataType::DtBool as i32));
    g.node(
        "keep",
        "Placeholder",
        &[],
        &[("dtype", bool_type), ("shape", attr(attr_value::Value::Shape(shape(&[-1, 5]))))],
    );
    let refusal = g.refusal();
    assert!(refusal.contains("node 'masked'") && refusal.contains("mask of integer ids"), "{refusal}");
}

#[test]
fn constant_rows_of_a_constant_table_are_folded() {
    // keras-hub's ViT position embedding: a (3, 2) table gathered at constant position ids,
    // added to the tokens (a broadcast `Rescaling` offset of the gathered rows).
    let gathered = |ids: &[i32]| {
        let mut g = G::new();
        g.input("x", &[-1, 2, 2]).floats("table", &[3, 2], &[0.5, 1.5, -2.0, 4.0, 8.0, -0.25]);
        g.ints("ids", &[2], ids).ints("axis", &[], &[0]);
        g.node("rows", "GatherV2", &["table", "ids", "axis"], &[]).node("out", "AddV2", &["x", "rows"], &[]);
        g
    };
    let c = gathered(&[2, 0]).convert();
    assert_eq!(classes(&c), ["InputLayer", "Rescaling"]);
    let x = ndarray::ArrayD::from_shape_vec(vec![1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let y = tf2h5_engine::run(&c.model, &[x]).unwrap().remove(0);
    assert_eq!(y.as_slice().unwrap(), [9.0, 1.75, 3.5, 5.5]);
    let refusal = gathered(&[3, 0]).refusal();
    assert!(refusal.contains("node 'rows'") && refusal.contains("index 3 is outside the table's 3 rows"), "{refusal}");
}

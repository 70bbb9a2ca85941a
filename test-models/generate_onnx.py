#!/usr/bin/env python3
"""Generate the ONNX fixtures (test-models/onnx_*/): small ONNX models built with the `onnx`
helper API, seeded inputs, and the outputs onnxruntime computes for them.

Run with the ONNX venv (onnx + onnxruntime, kept apart from the TensorFlow venv;
`bash scripts/setup.sh --onnx` creates it):

    ~/.cache/tf2h5/venv-onnx/bin/python test-models/generate_onnx.py [--out test-models]

For every case it writes `<out>/<case>/`:

* `model.onnx` - the model (checked with onnx.checker and strict shape inference);
* `x.npy`      - the input batch in the ONNX layout (NCHW for images), 4 seeded
  standard-normal samples, float32 (integer ids: uniform below the table's size, of the
  input's type);
* `y.npy`      - onnxruntime's output for it (ONNX layout; y0.npy, y1.npy... with several);
* `meta.json`  - as for the TF fixtures, plus `"format": "onnx"` and `"layout": "NCHW"`:
  the arrays are NCHW, while the `.h5` tf2h5 writes by default expects NHWC, so
  `scripts/keras_check.py` transposes rank-4 inputs and outputs.

Weights are seeded random (BatchNorm statistics included, variances 0.05..1.0 so a wrong
epsilon shows), so no layer is an identity. Deterministic: running it twice gives
byte-identical files. `--cases a b` regenerates a subset.
"""

import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 4


class Builder:
    """Collects nodes and seeded initializers for one graph."""

    def __init__(self, seed):
        self.rs = np.random.RandomState(seed)
        self.nodes = []
        self.inits = []
        self.count = 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix, array, dtype=np.float32):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def weight(self, prefix, shape, fan_in):
        return self.const(prefix, self.rs.standard_normal(shape) / np.sqrt(fan_in))

    def op(self, op_type, inputs, prefix=None, **attrs):
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out + "_node", **attrs))
        return out

    def conv(self, x, cin, cout, k, group=1, bias=True, **attrs):
        w = self.weight("w", (cout, cin // group, k, k), cin // group * k * k)
        inputs = [x, w] + ([self.const("b", self.rs.uniform(-0.5, 0.5, cout))] if bias else [])
        return self.op("Conv", inputs, "conv", kernel_shape=[k, k], group=group, **attrs)

    def bn(self, x, c, epsilon):
        rs = self.rs
        params = [
            self.const("gamma", rs.uniform(0.5, 1.5, c)),
            self.const("beta", rs.uniform(-0.5, 0.5, c)),
            self.const("mean", rs.uniform(-0.5, 0.5, c)),
            self.const("var", rs.uniform(0.05, 1.0, c)),
        ]
        return self.op("BatchNormalization", [x, *params], "bn", epsilon=epsilon)

    def gemm(self, x, k, n, **attrs):
        w = self.weight("fc_w", (n, k) if attrs.get("transB") else (k, n), k)
        return self.op("Gemm", [x, w, self.const("fc_b", self.rs.uniform(-0.5, 0.5, n))], "gemm", **attrs)

    def model(self, inputs, outputs, opset):
        def make(outputs):
            graph = helper.make_graph(self.nodes, "g", inputs, outputs, self.inits)
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                      producer_name="tf2h5 generate_onnx.py")
            model.ir_version = 8
            return model

        # Strict shape inference checks every op and gives the outputs their types.
        inferred = onnx.shape_inference.infer_shapes(make([]), check_type=True, strict_mode=True)
        typed = {v.name: v for v in inferred.graph.value_info}
        model = make([typed[name] for name in outputs])
        onnx.checker.check_model(model, full_check=True)
        return model


def image_input(name, c, h, w):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", c, h, w])


def case_onnx_cnn():
    """A MobileNet-like CNN, opset 14 (HardSwish is new in 14)."""
    b = Builder(101)
    x = "x"
    t = b.conv(x, 3, 8, 3, pads=[1, 1, 1, 1])
    t = b.bn(t, 8, 1e-3)
    t = b.op("Relu", [t])
    # ResNet's stem pool: pads (1, 1) differ from SAME's (0, 1) at stride 2.
    t = b.op("MaxPool", [t], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    # Depthwise, multiplier 2, stride 2, asymmetric pads (TF SAME-like but explicit).
    t = b.conv(t, 8, 16, 3, group=8, strides=[2, 2], pads=[0, 0, 1, 1])
    t = b.op("Clip", [t, b.const("lo", 0.0), b.const("hi", 6.0)])
    t = b.conv(t, 16, 12, 1, bias=False)
    t = b.bn(t, 12, 1e-5)
    t = b.op("HardSwish", [t])
    t = b.op("GlobalAveragePool", [t])
    t = b.op("Flatten", [t], axis=1)
    t = b.gemm(t, 12, 5, transB=1, alpha=0.5, beta=2.0)
    y = b.op("Softmax", [t], "probs", axis=1)
    model = b.model([image_input(x, 3, 16, 16)], [y], 14)
    desc = ("ONNX opset 14, NCHW 3x16x16: Conv 3x3 pads 1 + bias, BatchNormalization eps 1e-3, Relu, "
            "MaxPool 3x3 stride 2 pads 1 (not SAME's pads), depthwise Conv (group 8, multiplier 2, "
            "stride 2, pads [0,0,1,1]), Clip(0,6), 1x1 Conv without bias, BatchNormalization eps 1e-5, "
            "HardSwish, GlobalAveragePool, Flatten, Gemm transB alpha 0.5 beta 2, Softmax.")
    return model, {x: (3, 16, 16)}, desc


def case_onnx_blocks():
    """Squeeze-excite, concat, residual, pools with pads, Pad, NCHW flatten; opset 18."""
    b = Builder(202)
    x = "x"
    stem = b.conv(x, 4, 8, 3, pads=[1, 1, 1, 1])
    stem = b.op("Relu", [stem])
    # Squeeze-and-excite with MobileNetV3's HardSigmoid(alpha 1/6) and a broadcasting Mul.
    s = b.op("GlobalAveragePool", [stem])
    s = b.conv(s, 8, 4, 1)
    s = b.op("Relu", [s])
    s = b.conv(s, 4, 8, 1)
    s = b.op("HardSigmoid", [s], alpha=1.0 / 6.0, beta=0.5)
    se = b.op("Mul", [stem, s])
    # Two branches: average pool with SAME pads (pads excluded) and with counted pads.
    a1 = b.op("AveragePool", [se], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    a2 = b.op("AveragePool", [se], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)
    a3 = b.op("Sigmoid", [b.conv(se, 8, 4, 3, auto_pad="SAME_UPPER", strides=[1, 1])])
    cat = b.op("Concat", [a1, a2, a3], axis=1)
    # Per-channel constant (C, 1, 1) scale and a residual Add.
    scaled = b.op("Mul", [cat, b.const("scale", b.rs.uniform(0.5, 1.5, (20, 1, 1)))])
    proj = b.conv(stem, 8, 20, 1)
    res = b.op("Add", [scaled, proj])
    # Default HardSigmoid (alpha 0.2) and LeakyRelu.
    res = b.op("HardSigmoid", [res])
    feat = b.op("LeakyRelu", [b.op("Sub", [res, b.const("half", 0.5)])], alpha=0.1)
    # Pad (opset 18 axes input) then a VALID pool.
    padded = b.op("Pad", [feat, b.const("pads", [1, 0, 0, 1], np.int64), "",
                          b.const("axes", [2, 3], np.int64)])
    pooled = b.op("MaxPool", [padded], "pooled", kernel_shape=[2, 2], strides=[2, 2])
    # NCHW flatten (C > 1, H > 1): elements in C, H, W order.
    flat = b.op("Reshape", [pooled, b.const("shape", [-1, 20 * 4 * 4], np.int64)])
    logits = b.gemm(flat, 320, 6)
    y1 = b.op("Div", [b.op("Tanh", [logits]), b.const("two", 2.0)], "head")
    model = b.model([image_input(x, 4, 7, 7)], [pooled, y1], 18)
    desc = ("ONNX opset 18, NCHW 4x7x7, two outputs (a 4-D feature map and a vector): squeeze-excite "
            "(GlobalAveragePool, 1x1 Convs, HardSigmoid alpha 1/6, broadcasting Mul), AveragePool pads 1 "
            "with and without count_include_pad, Conv auto_pad SAME_UPPER + Sigmoid, Concat on channels, "
            "per-channel (C,1,1) constant Mul, residual Add, HardSigmoid alpha 0.2, Sub, LeakyRelu, "
            "Pad with an axes input (asymmetric on H and W), MaxPool 2x2, Reshape [-1, 320] of an NCHW "
            "tensor (channel-major order), Gemm, Tanh, Div.")
    return model, {x: (4, 7, 7)}, desc


def case_onnx_fixed_batch():
    """A detection head as paddle2onnx writes it: the file fixes the batch at 1 and its
    Reshape target says 1 too, so a larger batch would be folded into one row; opset 13."""
    b = Builder(404)
    x = "x"
    t = b.conv(x, 3, 6, 1)
    t = b.op("Reshape", [t, b.const("shape", [1, 6, -1], np.int64)])
    t = b.op("Transpose", [t], perm=[0, 2, 1])
    y = b.op("Softmax", [t], "probs", axis=-1)
    model = b.model([helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 3, 4, 4])], [y], 13)
    desc = ("ONNX opset 13, input fixed at batch 1 (1x3x4x4): 1x1 Conv, Reshape to [1, 6, -1], "
            "Transpose [0, 2, 1], Softmax. Only defined at batch 1: the outputs are onnxruntime's, "
            "one sample at a time.")
    return model, {x: (3, 4, 4)}, desc


def case_onnx_streaming_state():
    """A streaming cell as silero-vad's carries its state: input `state` (2, N, 8), the batch
    on axis 1 (named as the `x` input's axis 0), read and returned with the batch there."""
    b = Builder(405)
    h = b.op("Gather", ["state", b.const("zero", 0, np.int64)], "h", axis=0)    # N x 8
    c = b.op("Gather", ["state", b.const("one", 1, np.int64)], "c", axis=0)     # N x 8
    z = b.op("Add", [b.op("MatMul", ["x", b.weight("w", (6, 8), 6)]), b.const("bias", b.rs.uniform(-0.5, 0.5, 8))])
    h = b.op("Tanh", [b.op("Add", [z, h])], "h_new")
    y = b.op("Mul", [h, b.op("Sigmoid", [c])], "y")                            # N x 8
    gate = b.op("Sigmoid", [b.op("Unsqueeze", [z, b.const("axes", [0], np.int64)], "z_1")], "gate")  # 1 x N x 8
    state = b.op("Mul", ["state", gate], "state_new")                          # 2 x N x 8
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6]),
              helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "N", 8])]
    model = b.model(inputs, [y, state], 17)
    desc = ("ONNX opset 17, a streaming cell that carries its state as silero-vad does: inputs x (N, 6) and "
            "state (2, N, 8), the batch on axis 1 (its dim_param 'N' is x's axis 0); Gather of state[0] and "
            "state[1] (axis 0), MatMul + Add, Add, Tanh, Sigmoid, Mul; the new state is state times a gate "
            "Unsqueezed to (1, N, 8), output with the batch on axis 1 too. The .h5 takes and gives the state "
            "batch-first, (N, 2, 8) (meta.json's batch_axis).")
    return model, {"x": (6,), "state": (2, "N", 8)}, desc


def case_onnx_mlp():
    """Vectors only (no layout change), opset 13."""
    b = Builder(303)
    x = "x"
    t = b.op("MatMul", [x, b.weight("w", (10, 16), 10)])
    t = b.op("Add", [t, b.const("bias", b.rs.uniform(-0.5, 0.5, 16))])
    t = b.op("Clip", [t, b.const("lo", 0.0)])
    t = b.gemm(t, 16, 8, alpha=1.5, beta=0.5)
    t = b.op("Relu", [t])
    y = b.op("Softmax", [b.gemm(t, 8, 3, transB=1)], "probs")
    model = b.model([helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 10])], [y], 13)
    desc = ("ONNX opset 13 on vectors (10,): MatMul + Add bias, Clip with only a min (ReLU), "
            "Gemm alpha 1.5 beta 0.5, Relu, Gemm transB, Softmax (default axis -1).")
    return model, {x: (10,)}, desc


def case_onnx_upsample():
    """Nearest Resize as PyTorch exports it (scales) and with sizes on axes; opset 18."""
    b = Builder(404)
    x = "x"
    t = b.op("Relu", [b.conv(x, 3, 6, 3, strides=[2, 2], pads=[1, 1, 1, 1])])
    # nn.Upsample(scale_factor=2, mode="nearest"): asymmetric + floor, roi empty.
    up2 = b.op("Resize", [t, "", b.const("scales", [1.0, 1.0, 2.0, 2.0])],
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    # Defaults (half_pixel + round_prefer_floor), by 3 x 2 via sizes of the axes H, W.
    up3 = b.op("Resize", [t, "", "", b.const("sizes", [12, 8], np.int64)], axes=[2, 3])
    y = b.op("Concat", [b.conv(up2, 6, 4, 1), up2], "merged", axis=1)
    y2 = b.op("Sigmoid", [up3], "gate")
    model = b.model([image_input(x, 3, 8, 8)], [y, y2], 18)
    desc = ("ONNX opset 18, NCHW 3x8x8: strided Conv + Relu, Resize nearest by 2 with scales "
            "(asymmetric + floor, as torch nn.Upsample exports), 1x1 Conv, Concat; Resize with "
            "sizes (12, 8) for axes (2, 3) and the default half_pixel + round_prefer_floor (factors 3 x 2), "
            "Sigmoid. Two 4-D outputs.")
    return model, {x: (3, 8, 8)}, desc


def case_onnx_dynamic_upsample():
    """A YOLO-style neck on unknown H and W: a Resize to twice a size the file leaves unknown,
    which the translation fixes (at 8x8, the stride product's multiple verification uses)."""
    b = Builder(1303)
    x = "x"
    t = b.op("Relu", [b.conv(x, 3, 6, 3, strides=[2, 2], pads=[1, 1, 1, 1])])          # 6 x H/2 x W/2
    skip = b.op("Relu", [b.conv(t, 6, 6, 3, strides=[2, 2], pads=[1, 1, 1, 1])])       # 6 x H/4 x W/4
    t = b.op("MaxPool", [skip], "pool", kernel_shape=[2, 2], strides=[2, 2])            # 6 x H/8 x W/8
    t = b.op("Resize", [b.conv(t, 6, 6, 1), "", b.const("scales", [1.0, 1.0, 2.0, 2.0])],
             coordinate_transformation_mode="asymmetric", nearest_mode="floor")        # 6 x H/4 x W/4
    y = b.conv(b.op("Concat", [t, skip], "merged", axis=1), 12, 4, 1)
    model = b.model([helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 3, "H", "W"])], [y], 17)
    desc = ("ONNX opset 17, NCHW 3xHxW with H and W unknown in the file (dim_params): two strided Conv + "
            "Relu, MaxPool 2, 1x1 Conv, Resize nearest by 2 (scales), Concat with the skip, 1x1 Conv. The "
            "Resize needs the height, so tf2h5 fixes H and W at translation, at 8x8 (the smallest multiple "
            "of the stride product 8 from 4 up) unless --input data or --input-shape give another size; "
            "x.npy is at 8x8.")
    return model, {x: (3, 8, 8)}, desc


# The opsets `onnx_opsets_<N>` is written at: the opset-10 model, converted up.
OPSET_CHAIN = (10, 11, 12, 13, 17, 21)


def opsets_model(opset):
    """One model in opset 10's forms of the ops whose inputs or meaning changed since (Clip and
    Pad attributes, Resize-10 scales, Squeeze/Unsqueeze/ReduceMean axes attributes, Softmax on
    the input coerced to 2-D), converted to `opset` by onnx.version_converter, which rewrites
    them (Constant inputs, Resize roi, axes inputs, Softmax as Shape/Flatten/Softmax/Reshape)."""
    b = Builder(505)
    x = "x"
    t = b.bn(b.conv(x, 3, 4, 3, pads=[1, 1, 1, 1]), 4, 1e-3)
    t = b.op("Clip", [t], min=0.0, max=6.0)
    t = b.op("Pad", [t], pads=[0, 0, 1, 0, 0, 0, 0, 1])
    t = b.op("MaxPool", [t], kernel_shape=[2, 2], strides=[2, 2])
    t = b.op("Resize", [t, b.const("scales", [1.0, 1.0, 2.0, 2.0])], mode="nearest")
    t = b.op("Slice", [t, b.const("starts", [1], np.int64), b.const("ends", [7], np.int64),
                       b.const("axes", [3], np.int64)])
    # Softmax (axis 1, before opset 13) of a 4-D tensor: jointly over C, H and W.
    joint = b.op("Softmax", [t], "joint", axis=1)
    t = b.op("ReduceMean", [joint], axes=[2, 3], keepdims=1)
    t = b.op("Squeeze", [t], axes=[2, 3])
    t = b.op("Unsqueeze", [t], axes=[2])
    y = b.op("Softmax", [t], "probs", axis=1)
    model = b.model([image_input(x, 3, 8, 8)], [joint, y], 10)
    model = onnx.version_converter.convert_version(model, opset) if opset != 10 else model
    model.ir_version = max(8, onnx.helper.find_min_ir_version_for(model.opset_import))
    onnx.checker.check_model(model, full_check=True)
    desc = (f"ONNX opset {opset} (written at opset 10 with the onnx helper API, converted by "
            "onnx.version_converter): Conv + BatchNormalization, Clip(0, 6), Pad (H begin, W end), "
            "MaxPool 2x2, Resize nearest by 2 (scales), Slice of W, Softmax axis 1 of a 4-D tensor "
            "(coerced to 2-D: jointly over C, H, W), ReduceMean over H and W, Squeeze, Unsqueeze, "
            "Softmax axis 1 of (N, 4, 1). Two outputs.")
    return model, {x: (3, 8, 8)}, desc


def case_onnx_opset7():
    """Opset 7's forms, weights in Constant nodes (as paddle2onnx writes them)."""
    b = Builder(606)
    x = "x"

    def constant(prefix, array, dtype=np.float32):
        return b.op("Constant", [], prefix, value=numpy_helper.from_array(np.asarray(array, dtype=dtype)))

    w = constant("w", b.rs.standard_normal((6, 2, 3, 3)) / np.sqrt(18))
    t = b.op("Conv", [x, w, constant("b", b.rs.uniform(-0.5, 0.5, 6))], "conv", kernel_shape=[3, 3],
             strides=[2, 2])
    stats = [b.rs.uniform(0.5, 1.5, 6), b.rs.uniform(-0.5, 0.5, 6), b.rs.uniform(-0.5, 0.5, 6),
             b.rs.uniform(0.05, 1.0, 6)]
    t = b.op("BatchNormalization", [t, *(constant(n, v) for n, v in zip(("g", "beta", "mean", "var"), stats))],
             "bn", epsilon=1e-3, momentum=0.8, spatial=1)
    t = b.op("Clip", [t], min=0.0)
    t = b.op("Pad", [t], pads=[0, 0, 1, 1, 0, 0, 0, 0], mode="constant", value=0.0)
    t = b.op("Slice", [t], starts=[1, 0], ends=[5, 4], axes=[1, 3])
    joint = b.op("Softmax", [t], "joint")
    t = b.op("Flatten", [joint], axis=1)
    t = b.gemm(t, 4 * 4 * 4, 3)
    t = b.op("Unsqueeze", [t], axes=[2])
    y = b.op("Squeeze", [b.op("Softmax", [t], axis=1)], "probs", axes=[2])
    model = b.model([image_input(x, 2, 7, 7)], [joint, y], 7)
    model.ir_version = 3
    desc = ("ONNX opset 7, weights in Constant nodes: Conv stride 2, BatchNormalization (spatial 1, "
            "momentum), Clip min 0 (attributes), Pad attribute, Slice attributes (C and W), "
            "Softmax default axis 1 of a 4-D tensor (jointly over C, H, W), Flatten, Gemm, Unsqueeze / "
            "Squeeze axes attributes, Softmax. Two outputs.")
    return model, {x: (2, 7, 7)}, desc


def case_onnx_activations():
    """The element-wise ops and reductions the TF side maps, as ONNX ops; opset 17."""
    b = Builder(707)
    x = "x"
    stem = b.conv(x, 3, 8, 3, pads=[1, 1, 1, 1])
    # Split on channels, uneven sizes (input 1 from opset 13).
    parts = [b.name("part") for _ in range(3)]
    b.nodes.append(helper.make_node("Split", [stem, b.const("split", [2, 2, 4], np.int64)], parts,
                                    name="split_node", axis=1))
    elu = b.op("Elu", [parts[0]])
    selu = b.op("Selu", [parts[1]])
    soft = b.op("Softsign", [b.op("Softplus", [parts[2]])])
    t = b.op("Concat", [elu, selu, soft], axis=1)
    t = b.op("PRelu", [t, b.const("slope", b.rs.uniform(0.05, 0.5, (8, 1, 1)))])
    # Variadic ops of three and two tensors.
    a = b.op("Abs", [b.conv(t, 8, 8, 1)])
    e = b.op("Exp", [b.op("Mul", [b.conv(t, 8, 8, 1), b.const("tenth", 0.1)])])
    p = b.op("Pow", [b.conv(t, 8, 8, 1), b.const("two", 2.0)])
    t = b.op("Sum", [a, e, p])
    t = b.op("Mean", [t, a, e])
    t = b.op("Max", [t, p])
    t = b.op("Min", [t, e])
    g1 = b.op("GlobalMaxPool", [t])
    g2 = b.op("ReduceMax", [t, b.const("axes", [2, 3], np.int64)], keepdims=1)
    y = b.op("Flatten", [b.op("Add", [g1, g2])], "pooled", axis=1)
    model = b.model([image_input(x, 3, 6, 6)], [t, y], 18)
    desc = ("ONNX opset 18, NCHW 3x6x6: Conv, Split on channels (2, 2, 4), Elu, Selu, Softplus + "
            "Softsign, Concat, PRelu (per-channel slope), Abs, Exp, Pow 2, variadic Sum and Mean of "
            "three tensors, Max and Min of two, GlobalMaxPool and ReduceMax over H and W (axes "
            "input), Flatten. Two outputs.")
    return model, {x: (3, 6, 6)}, desc


def case_onnx_clip_space():
    """Ops of the node suite that have an exact Keras form: general Clip bounds, Mish,
    DepthToSpace (CRD and DCR), SpaceToDepth, ReduceSumSquare; opset 18."""
    b = Builder(808)
    x = "x"
    t = b.conv(x, 4, 8, 1)
    t = b.op("Clip", [t, b.const("lo", -0.5), b.const("hi", 0.8)])          # both bounds
    t = b.op("Mish", [t])
    t = b.op("DepthToSpace", [t], blocksize=2, mode="CRD")                 # N x 2 x 8 x 8
    t = b.conv(t, 2, 8, 3, pads=[1, 1, 1, 1])
    t = b.op("Clip", [t, "", b.const("hi_only", 0.3)])                      # max only
    t = b.op("SpaceToDepth", [t], blocksize=2)                             # N x 32 x 4 x 4
    t = b.conv(t, 32, 8, 1)
    t = b.op("DepthToSpace", [t], blocksize=2, mode="DCR")                 # N x 2 x 8 x 8
    y1 = b.op("Clip", [t, b.const("lo_only", -0.2)], "clipped")             # min only
    pooled = b.op("ReduceSumSquare", [y1, b.const("axes", [2, 3], np.int64)], "sum_squares", keepdims=0)
    y2 = b.gemm(pooled, 2, 3)
    model = b.model([image_input(x, 4, 4, 4)], [y1, y2], 18)
    desc = ("ONNX opset 18, NCHW 4x4x4: Conv 1x1, Clip(-0.5, 0.8), Mish, DepthToSpace 2 (CRD), Conv 3x3, "
            "Clip(max 0.3 only), SpaceToDepth 2, Conv 1x1, DepthToSpace 2 (DCR), Clip(min -0.2 only), "
            "ReduceSumSquare over H and W (axes input), Gemm. Two outputs.")
    return model, {x: (4, 4, 4)}, desc


def case_onnx_log_softmax():
    """LogSoftmax over the channels of an NCHW tensor (held last) and after a Gemm; opset 13."""
    b = Builder(909)
    x = "x"
    t = b.conv(x, 3, 6, 3, pads=[1, 1, 1, 1])
    y1 = b.op("LogSoftmax", [t], "channel_log_probs", axis=1)
    t = b.op("Flatten", [b.op("GlobalAveragePool", [t])], axis=1)
    y2 = b.op("LogSoftmax", [b.gemm(t, 6, 4)], "log_probs", axis=-1)
    model = b.model([image_input(x, 3, 5, 5)], [y1, y2], 13)
    desc = ("ONNX opset 13, NCHW 3x5x5: Conv 3x3, LogSoftmax over the channels (axis 1); GlobalAveragePool, "
            "Flatten, Gemm, LogSoftmax over the last axis. Two outputs.")
    return model, {x: (3, 5, 5)}, desc


def case_onnx_gelu():
    """The opset-20 Gelu op, exact (approximate 'none') after a Gemm and on a 3-D tensor, and its
    tanh approximation; Pow by 3 (a product of copies)."""
    b = Builder(2020)
    t = b.op("Gelu", [b.gemm("x", 6, 8)], "gelu")
    t = b.op("Reshape", [t, b.const("shape", [-1, 2, 4], np.int64)], "tokens")
    exact = b.op("Gelu", [t], "gelu_tokens", approximate="none")
    approximate = b.op("Gelu", [t], "gelu_tanh", approximate="tanh")
    cube = b.op("Pow", [approximate, b.const("three", np.float32(3.0))], "cube")
    y = b.op("Add", [exact, cube], "sum")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])
    model = b.model([x], [y], 20)
    model.ir_version = 9  # opset 20 needs IR 9
    desc = ("ONNX opset 20, (N, 6): Gemm to 8, Gelu (approximate default 'none'), Reshape to (N, 2, 4), "
            "Gelu (approximate='none') plus the cube (Pow 3) of Gelu (approximate='tanh').")
    return model, {"x": (6,)}, desc


def case_onnx_jax_normalization():
    """magika's (jax2tf → tf2onnx) written-out LayerNorm and softmax: moments as ReduceSum · 1/n,
    var = max(0, E[x²] - E[x]²) reshaped back, Sqrt, Reciprocal; (x - mean) · (inv · gamma) + beta.
    Softmax as Exp(x - Max(-inf, ReduceMax)) / ReduceSum, each reduction reshaped back."""
    b = Builder(1303)
    x = "x"

    def layer_norm(t, n, restored_shape, param_shape):
        inv_n = b.const("inv_n", np.float32(1.0 / n))
        mean = b.op("Mul", [b.op("ReduceSum", [t, b.const("axes", [1], np.int64)], "sum", keepdims=0), inv_n], "mean")
        squares = b.op("Mul", [t, t], "square")
        second = b.op("Mul", [b.op("ReduceSum", [squares, b.const("axes", [1], np.int64)], "sum_sq", keepdims=0),
                              inv_n], "second_moment")
        var = b.op("Sub", [second, b.op("Mul", [mean, mean], "mean_sq")], "var")
        var = b.op("Max", [b.const("zero", np.float32(0.0)), var], "var_clamped")
        shape = b.const("restored", restored_shape, np.int64)
        var = b.op("Add", [b.op("Reshape", [var, shape], "var_back"), b.const("eps", np.float32(1e-6))], "var_eps")
        inv = b.op("Reciprocal", [b.op("Sqrt", [var], "std")], "inv_std")
        inv = b.op("Mul", [inv, b.const("gamma", b.rs.uniform(0.5, 1.5, param_shape))], "scale")
        centered = b.op("Sub", [t, b.op("Reshape", [mean, shape], "mean_back")], "centered")
        beta = b.const("beta", b.rs.uniform(-0.5, 0.5, param_shape))
        return b.op("Add", [b.op("Mul", [centered, inv], "normalized"), beta], "layer_norm")

    t = b.op("Add", [x, b.const("offset", b.rs.uniform(-2, 2, (1, 8, 6)))], "shifted")       # N x 8 x 6
    t = b.op("Tanh", [layer_norm(t, 8, [-1, 1, 6], (1, 8, 1))])
    t = b.op("ReduceMean", [t], "pooled", axes=[1], keepdims=0)                                # N x 6
    t = layer_norm(t, 6, [-1, 1], (1, 6))
    t = b.gemm(t, 6, 5)
    peak = b.op("ReduceMax", [t], "max", axes=[1], keepdims=0)
    peak = b.op("Max", [b.const("minus_inf", np.float32(-np.inf)), peak], "max_floor")
    e = b.op("Exp", [b.op("Sub", [t, b.op("Reshape", [peak, b.const("col", [-1, 1], np.int64)], "max_back")])])
    total = b.op("ReduceSum", [e, b.const("axes", [1], np.int64)], "total", keepdims=0)
    y = b.op("Div", [e, b.op("Reshape", [total, b.const("col", [-1, 1], np.int64)], "total_back")], "probs")
    model = b.model([helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 8, 6])], [y], 15)
    desc = ("ONNX opset 15, (N, 8, 6), magika's jax2tf forms: a LayerNorm over axis 1 written out "
            "(ReduceSum · 1/8, var = max(0, E[x²] - E[x]²) reshaped to (N, 1, 6), Sqrt, Reciprocal, gamma and "
            "beta (1, 8, 1)), Tanh, ReduceMean over axis 1, the same LayerNorm on (N, 6) (1/6 inexact), Gemm, and a "
            "softmax written out (Exp(x - Max(-inf, ReduceMax)) / ReduceSum, both reshaped to (N, 1)).")
    return model, {x: (8, 6)}, desc


def case_onnx_sequence_global_max_pool():
    """GlobalMaxPool and GlobalAveragePool over a sequence (N, C, T): magika's form (tf2onnx
    transposes a channels-last (N, T, C) tensor to NCW first) and PyTorch's (after a Conv1d)."""
    b = Builder(1304)
    x = "x"                                                                                   # N x 10 x 4
    t = b.op("Relu", [b.op("MatMul", [x, b.weight("w", (4, 6), 4)])])                          # N x 10 x 6
    t = b.op("Transpose", [t], "ncw", perm=[0, 2, 1])                                          # N x 6 x 10
    magika = b.op("GlobalMaxPool", [t], "magika_max")                                          # N x 6 x 1
    w = b.weight("conv_w", (5, 4, 3), 12)
    conv = b.op("Conv", [b.op("Transpose", [x], "x_ncw", perm=[0, 2, 1]), w], "conv", kernel_shape=[3], pads=[1, 1])
    conv = b.op("Relu", [conv])                                                                # N x 5 x 10
    torch_max = b.op("GlobalMaxPool", [conv], "conv_max")                                      # N x 5 x 1
    torch_mean = b.op("GlobalAveragePool", [conv], "conv_mean")                                # N x 5 x 1
    t = b.op("Concat", [magika, torch_max, torch_mean], "pooled", axis=1)                      # N x 16 x 1
    y = b.gemm(b.op("Flatten", [t]), 16, 3)
    model = b.model([helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 10, 4])], [y], 13)
    desc = ("ONNX opset 13, global pools over a sequence (N, C, T), which no other fixture had (magika's "
            "GlobalMaxPool regressed unseen): (N, 10, 4) MatMul to 6 channels, Relu, Transpose to (N, 6, 10) and "
            "GlobalMaxPool (magika's tf2onnx form); Transpose of the input to NCW, Conv (k 3, pads 1) to 5 channels, "
            "Relu, GlobalMaxPool and GlobalAveragePool (PyTorch's form); Concat (N, 16, 1), Flatten, Gemm.")
    return model, {x: (10, 4)}, desc


def case_onnx_paddle_attention():
    """PaddleOCR's SVTR attention as paddle2onnx writes it (rapidocr's text recognizer), opset
    12: a layer norm decomposed with Div by Sqrt, and the q/k/v split moving the batch."""
    b = Builder(1207)
    tokens, width, heads = 6, 16, 2
    head = width // heads

    def paddle_layer_norm(x):
        mean = b.op("ReduceMean", [x], "mean", axes=[-1])
        centred = b.op("Sub", [x, mean], "centred")
        var = b.op("ReduceMean", [b.op("Pow", [centred, b.const("two", 2.0)], "squared")], "var", axes=[-1])
        std = b.op("Sqrt", [b.op("Add", [var, b.const("eps", 1e-5)], "var_eps")], "std")
        t = b.op("Mul", [b.op("Div", [centred, std], "normalised"), b.const("ln_g", b.rs.uniform(0.5, 1.5, width))])
        return b.op("Add", [t, b.const("ln_b", b.rs.uniform(-0.5, 0.5, width))])

    def linear(x, k, n):
        t = b.op("MatMul", [x, b.weight("w", (k, n), k)])
        return b.op("Add", [t, b.const("b", b.rs.uniform(-0.5, 0.5, n))])

    x = "x"
    qkv = linear(paddle_layer_norm(x), width, 3 * width)                                  # N x T x 3E
    qkv = b.op("Reshape", [qkv, b.const("qkv_shape", [0, tokens, 3, heads, head], np.int64)], "qkv")
    qkv = b.op("Transpose", [qkv], "qkv_heads", perm=[2, 0, 3, 1, 4])                    # 3 x N x H x T x D
    q, k, v = (b.op("Squeeze", [b.op("Slice", [qkv, b.const("start", [i], np.int64), b.const("end", [i + 1], np.int64),
                                               b.const("axis", [0], np.int64)])], axes=[0]) for i in range(3))
    q = b.op("Mul", [q, b.const("scale", [head ** -0.5])])
    scores = b.op("MatMul", [q, b.op("Transpose", [k], "k_t", perm=[0, 1, 3, 2])], "scores")
    mixed = b.op("MatMul", [b.op("Softmax", [scores], "probs", axis=3), v], "mixed")     # N x H x T x D
    t = b.op("Transpose", [mixed], "tokens_heads", perm=[0, 2, 1, 3])
    t = b.op("Reshape", [t, b.const("merged_shape", [0, tokens, width], np.int64)], "merged")
    y = b.op("Add", [x, linear(t, width, width)], "y")
    model = b.model([helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", tokens, width])], [y], 12)
    desc = (f"ONNX opset 12, PaddleOCR's SVTR attention as paddle2onnx writes it (rapidocr's text recognizer), "
            f"(N, {tokens}, {width}): layer norm as ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul, "
            f"Add; MatMul + Add to q/k/v, Reshape to (N, T, 3, {heads}, {head}), Transpose (2, 0, 3, 1, 4) moving "
            "the batch to axis 1, Slice + Squeeze of axis 0 for q, k and v, scaled q k^T (MatMul), Softmax, "
            "MatMul by v, Transpose (0, 2, 1, 3), Reshape back, MatMul + Add projection, residual Add.")
    return model, {x: (tokens, width)}, desc


def case_onnx_token_ids():
    """int64 token ids through a Gather from a constant table (PyTorch's nn.Embedding)."""
    b = Builder(1301)
    table = b.weight("table", (50, 16), 1)
    t = b.op("Gather", [table, "ids"], "embedded", axis=0)             # N x 12 x 16
    t = b.op("ReduceMean", [t], "pooled", axes=[1], keepdims=0)         # N x 16
    t = b.op("Relu", [b.gemm(t, 16, 8)])
    y = b.gemm(t, 8, 3)
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 12])
    model = b.model([ids], [y], 17)
    desc = ("ONNX opset 17, int64 token ids (N, 12) below 50: Gather from a constant (50, 16) table (an "
            "embedding lookup, as PyTorch's nn.Embedding exports), ReduceMean over the tokens, Gemm, Relu, "
            "Gemm.")
    return model, {"ids": (12,)}, desc, {"ids": (50, np.int64)}


def case_onnx_one_hot_bytes():
    """magika's one-hot embedding of int32 bytes (jax2tf → tf2onnx): Reshape to a unit last
    axis, Expand along it to the class count (a size computed from Shape), Equal against a
    constant range, Cast to float, MatMul by a table."""
    b = Builder(1302)
    classes = 12
    t = b.op("Reshape", ["bytes", b.const("unit_axis", [-1, 16, 1], np.int64)], "reshaped")
    batch = b.op("Slice", [b.op("Shape", ["bytes"], "shape"), b.const("start", [0], np.int64),
                           b.const("end", [1], np.int64)], "batch")
    size = b.op("Concat", [batch, b.const("rest", [16, classes], np.int64)], "size", axis=0)
    t = b.op("Expand", [t, size], "expanded")                           # N x 16 x 12
    hot = b.op("Equal", [t, b.const("range", np.arange(classes).reshape(1, 1, classes), np.int32)], "hot")
    t = b.op("Cast", [hot], "one_hot", to=TensorProto.FLOAT)
    t = b.op("MatMul", [t, b.weight("table", (classes, 8), 1)], "embedded")  # N x 16 x 8
    t = b.op("Tanh", [b.op("Add", [t, b.const("bias", b.rs.uniform(-0.5, 0.5, (1, 1, 8)))])])
    t = b.op("ReduceMean", [t], "pooled", axes=[1], keepdims=0)         # N x 8
    y = b.gemm(t, 8, 4)
    data = helper.make_tensor_value_info("bytes", TensorProto.INT32, ["N", 16])
    model = b.model([data], [y], 15)
    desc = (f"ONNX opset 15, int32 bytes (N, 16) below {classes}, magika's one-hot embedding: Reshape to "
            f"(N, 16, 1), Expand to (N, 16, {classes}) (the size from Shape, Slice, Concat), Equal against a "
            f"constant range (1, 1, {classes}), Cast to float, MatMul by a ({classes}, 8) table; Add, Tanh, "
            "ReduceMean over the bytes, Gemm.")
    return model, {"bytes": (16,)}, desc, {"bytes": (classes, np.int32)}


CASES = {"onnx_cnn": case_onnx_cnn, "onnx_gelu": case_onnx_gelu, "onnx_fixed_batch": case_onnx_fixed_batch,
         "onnx_streaming_state": case_onnx_streaming_state, "onnx_token_ids": case_onnx_token_ids,
         "onnx_one_hot_bytes": case_onnx_one_hot_bytes, "onnx_activations": case_onnx_activations, "onnx_clip_space": case_onnx_clip_space, "onnx_log_softmax": case_onnx_log_softmax,
         "onnx_paddle_attention": case_onnx_paddle_attention,
         "onnx_jax_normalization": case_onnx_jax_normalization, "onnx_sequence_global_max_pool": case_onnx_sequence_global_max_pool, "onnx_blocks": case_onnx_blocks, "onnx_mlp": case_onnx_mlp,
         "onnx_upsample": case_onnx_upsample, "onnx_dynamic_upsample": case_onnx_dynamic_upsample, "onnx_opset7": case_onnx_opset7,
         **{f"onnx_opsets_{v}": (lambda v=v: opsets_model(v)) for v in OPSET_CHAIN}}


def write_case(out_dir, case):
    model, input_shapes, desc, *int_ranges = CASES[case]()
    int_ranges = int_ranges[0] if int_ranges else {}
    seed = sum(map(ord, case))
    rs = np.random.RandomState(seed)

    # An input's shape without the batch, or with "N" where the batch is (not axis 0).
    def batch_axis(shape):
        return shape.index("N") if "N" in shape else None

    def with_batch(shape, batch):
        if batch_axis(shape) is None:
            return (batch, *shape)
        return tuple(batch if d == "N" else d for d in shape)

    def draw(name, shape):
        if name in int_ranges:  # ids below the table's size, of the input's type
            high, dtype = int_ranges[name]
            return rs.randint(0, high, with_batch(shape, BATCH)).astype(dtype)
        return rs.standard_normal(with_batch(shape, BATCH)).astype(np.float32)

    feeds = {n: draw(n, s) for n, s in input_shapes.items()}
    data = model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in model.graph.output]
    # A file that fixes its batch size at 1 only runs one sample at a time.
    first_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    if first_dim.HasField("dim_value") and first_dim.dim_value == 1:
        rows = [session.run(out_names, {n: v[i:i + 1] for n, v in feeds.items()}) for i in range(BATCH)]
        golden = [np.concatenate(parts) for parts in zip(*rows)]
    else:
        golden = session.run(out_names, feeds)
    d = os.path.join(out_dir, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data)
    in_files = ["x.npy"] if len(feeds) == 1 else [f"x{i}.npy" for i in range(len(feeds))]
    out_files = ["y.npy"] if len(golden) == 1 else [f"y{i}.npy" for i in range(len(golden))]
    for fname, arr in zip(in_files, feeds.values()):
        np.save(os.path.join(d, fname), arr)
    for fname, arr in zip(out_files, golden):
        np.save(os.path.join(d, fname), arr.astype(np.float32))
    def edge(entry, batch):
        # The batch on another axis than 0: the .h5 takes or gives the array with it moved first.
        return {**entry, "batch_axis": batch} if batch else entry

    def output_batch_axis(output):
        dims = [d.dim_param for d in output.type.tensor_type.shape.dim]
        return dims.index("N") if "N" in dims else 0

    meta = {
        "name": case,
        "model": "model.onnx",
        "format": "onnx",
        "layout": "NCHW",
        "inputs": [edge({"name": n, "file": f, "shape": list(with_batch(s, None))}, batch_axis(s))
                   for (n, s), f in zip(input_shapes.items(), in_files)],
        "outputs": [edge({"name": o.name, "file": f}, output_batch_axis(o))
                    for o, f in zip(model.graph.output, out_files)],
        "description": desc,
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"== {case}: {len(model.graph.node)} nodes, {size} bytes; outputs "
          f"{[list(g.shape) for g in golden]}; ops {', '.join(ops)}")


def write_refused(out_dir):
    """`onnx_refused/`: models tf2h5 must refuse with exit code 2 (no meta.json)."""
    d = os.path.join(out_dir, "onnx_refused")
    os.makedirs(d, exist_ok=True)

    def save(file, node, inputs, outputs, opset, ir_version, initializers=()):
        graph = helper.make_graph([node], "g", inputs, outputs, list(initializers))
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = ir_version
        onnx.checker.check_model(model)
        with open(os.path.join(d, file), "wb") as f:
            f.write(model.SerializeToString())

    x, y = image_input("x", 2, 4, 4), image_input("y", 2, 4, 4)
    save("unsupported_op.onnx", helper.make_node("LpNormalization", ["x"], ["y"], name="lp_norm", axis=1),
         [x], [y], 13, 8)
    # A Relu at opset 22, newer than the tract-onnx oracle reads.
    save("opset22.onnx", helper.make_node("Relu", ["x"], ["y"], name="relu"), [x], [y], 22, 10)
    # int64 ids only reshaped: nothing bounds their values, so verification needs --input data.
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 6])
    shape = numpy_helper.from_array(np.array([-1, 2, 3], np.int64), "shape")
    out = helper.make_tensor_value_info("y", TensorProto.INT64, ["N", 2, 3])
    save("unbounded_ids.onnx", helper.make_node("Reshape", ["ids", "shape"], ["y"], name="reshape"),
         [ids], [out], 13, 8, [shape])
    # A square root: no Keras layer computes one.
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    save("pow_half.onnx", helper.make_node("Pow", ["x", "half"], ["y"], name="root"), [x], [y], 13, 8, [half])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    for case in args.cases:
        write_case(args.out, case)
    write_refused(args.out)


if __name__ == "__main__":
    main()

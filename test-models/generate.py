#!/usr/bin/env python3
"""Generate the tf2h5 test fixtures: frozen TF graphs plus TF-computed inputs/outputs.

Run with the project venv (TF 2.21 + tf-keras 2.21):

    ~/.cache/tf2h5/venv/bin/python test-models/generate.py [--out test-models] [--ref-h5 DIR]

For every case it writes `<out>/<case>/`:

* `frozen.pb`  - a frozen GraphDef (tf.function -> concrete function ->
  convert_variables_to_constants_v2), serialised deterministically;
* `x.npy`      - the input batch (4 seeded standard-normal samples, float32);
* `y.npy`      - the output TensorFlow computes for it, by running the *serialised*
  GraphDef again (float32);
* `meta.json`  - exact GraphDef node names of inputs and outputs, files and shapes.

Every weight is randomised from a per-case numpy RandomState (BatchNorm moving
statistics and gamma/beta included) and BatchNorm epsilons are non-default, so no
layer is an identity and a wrong epsilon or a weight-order bug changes the numbers.

The script is idempotent: running it twice produces byte-identical files.

`--ref-h5 DIR` additionally saves each Keras source model with tf-keras itself
(`model.save(DIR/<case>.h5)`), to exercise scripts/keras_check.py without the Rust
tool. Those files are test aids only and are not committed.
"""

import os

# Must be set before TensorFlow is imported.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Plain Eigen kernels: fewer platform-dependent code paths than oneDNN.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import argparse  # noqa: E402
import collections  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 4
FORBIDDEN_OPS = {"PartitionedCall", "StatefulPartitionedCall"}


# --------------------------------------------------------------------------- helpers


def randomize_weights(variables, rs, var_range=(0.05, 1.0)):
    """Assign seeded random values to every variable, chosen by its role.

    Kernels are scaled by 1/sqrt(fan_in) so activations stay O(1) and softmax
    outputs are not saturated (a saturated softmax would hide errors).

    BatchNorm variances are drawn from 0.05..1.0 rather than around 1: the effect
    of a wrong epsilon scales with eps/variance, and with 0.5..1.5 swapping the
    inception block's 2e-5 epsilons for Keras's default 1e-3 moved the output by
    only 8e-5 (below the 1e-4 tolerance); with 0.05..1.0 it moves it by 1.5e-3.
    """
    for v in variables:
        role = v.name.split("/")[-1].split(":")[0]
        shape = tuple(v.shape)
        if role in ("moving_variance", "variance"):
            val = rs.uniform(*var_range, shape)
        elif role in ("gamma", "scale"):
            val = rs.uniform(0.5, 1.5, shape)
        elif role in ("beta", "offset", "moving_mean", "mean", "bias"):
            val = rs.normal(0.0, 0.5, shape)
        else:  # kernels: (..., fan_in, out)
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            val = rs.normal(0.0, 1.0, shape) / np.sqrt(fan_in)
        v.assign(val.astype(np.float32))


def freeze(fn, specs):
    """Trace `fn` with `specs`, freeze variables to Const, return (frozen_func, graph_def)."""
    func = tf.function(fn, input_signature=specs)
    cf = func.get_concrete_function()
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    bad = [n.name for n in gd.node if n.op in FORBIDDEN_OPS]
    if bad or len(gd.library.function):
        # Never needed for the current cases; kept as the first thing to try if a
        # future case leaves function-call nodes behind.
        frozen = convert_variables_to_constants_v2(cf, lower_control_flow=False)
        gd = frozen.graph.as_graph_def()
        bad = [n.name for n in gd.node if n.op in FORBIDDEN_OPS]
    assert not bad, f"function-call nodes remain after freezing: {bad}"
    assert len(gd.library.function) == 0, "frozen graph still has a function library"
    return frozen, gd


def run_graph_def(gd_bytes, in_names, out_names, feeds):
    """Run the serialised GraphDef itself (what the Rust tool reads) in TF."""
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(gd_bytes)

    def _import():
        tf.compat.v1.import_graph_def(gd, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    g = wrapped.graph
    pruned = wrapped.prune(
        [g.as_graph_element(n + ":0") for n in in_names],
        [g.as_graph_element(n + ":0") for n in out_names],
    )
    outs = pruned(*[tf.constant(x) for x in feeds])
    return [np.asarray(o.numpy(), dtype=np.float32) for o in outs]


def op_histogram(gd):
    return collections.Counter(n.op for n in gd.node)


def write_case(out_dir, case, description, fn, input_shapes, seed, checks=None):
    """Freeze `fn`, compute golden outputs, write the fixture directory."""
    rs_inputs = np.random.RandomState(seed + 1000)
    in_names = ["x"] if len(input_shapes) == 1 else [f"x{i}" for i in range(len(input_shapes))]
    specs = [
        tf.TensorSpec([None, *shape], tf.float32, name=name)
        for name, shape in zip(in_names, input_shapes)
    ]
    frozen, gd = freeze(fn, specs)

    placeholders = [n.name for n in gd.node if n.op == "Placeholder"]
    assert placeholders == in_names, (placeholders, in_names)
    out_names = [t.name.split(":")[0] for t in frozen.outputs]
    for t in frozen.outputs:
        assert t.name.endswith(":0"), t.name

    feeds = [
        rs_inputs.standard_normal((BATCH, *shape)).astype(np.float32) for shape in input_shapes
    ]
    gd_bytes = gd.SerializeToString(deterministic=True)
    golden = run_graph_def(gd_bytes, in_names, out_names, feeds)

    # Cross-check: the in-memory frozen function and the original Python function agree.
    ff = frozen(*[tf.constant(x) for x in feeds])
    ff = ff if isinstance(ff, (list, tuple)) else [ff]
    eager = fn(*[tf.constant(x) for x in feeds])
    eager = eager if isinstance(eager, (list, tuple)) else [eager]
    for g_out, f_out, e_out in zip(golden, ff, eager):
        np.testing.assert_array_equal(g_out, f_out.numpy())
        np.testing.assert_allclose(g_out, e_out.numpy(), rtol=1e-5, atol=1e-5)

    # Case-specific assertions on the graph; returns a note for the summary.
    note = checks(gd) if checks else None

    d = os.path.join(out_dir, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "frozen.pb"), "wb") as f:
        f.write(gd_bytes)
    in_files = ["x.npy"] if len(feeds) == 1 else [f"x{i}.npy" for i in range(len(feeds))]
    out_files = ["y.npy"] if len(golden) == 1 else [f"y{i}.npy" for i in range(len(golden))]
    for fname, arr in zip(in_files, feeds):
        np.save(os.path.join(d, fname), arr)
    for fname, arr in zip(out_files, golden):
        np.save(os.path.join(d, fname), arr)
    meta = {
        "name": case,
        "model": "frozen.pb",
        "inputs": [
            {"name": n, "file": f, "shape": [None, *s]}
            for n, f, s in zip(in_names, in_files, input_shapes)
        ],
        "outputs": [{"name": n, "file": f} for n, f in zip(out_names, out_files)],
        "description": description,
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")

    hist = op_histogram(gd)
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    print(f"== {case}: {len(gd.node)} nodes, {size} bytes on disk")
    print(f"   inputs : {in_names}  shapes {[[None, *s] for s in input_shapes]}")
    print(f"   outputs: {out_names}  shapes {[list(g.shape) for g in golden]}")
    print("   ops    : " + ", ".join(f"{op}={c}" for op, c in sorted(hist.items())))
    if note:
        print(f"   checks : {note}")
    print(f"   sha256(frozen.pb) = {hashlib.sha256(gd_bytes).hexdigest()[:16]}")
    return size


def save_ref_h5(model, path):
    model.save(path, save_format="h5")
    print(f"   ref h5 : {path}")


def seed_all(seed):
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return np.random.RandomState(seed)


# --------------------------------------------------------------------------- cases


def case_linear(out, ref):
    rs = seed_all(101)
    model = keras.Sequential(
        [keras.Input(shape=(1,), name="input"), keras.layers.Dense(1, name="dense")],
        name="linear",
    )
    randomize_weights(model.weights, rs)
    size = write_case(
        out, "linear",
        "Seed article example 1: Sequential Dense(1) linear regression on input (1,).",
        lambda x: model(x, training=False), [(1,)], 101,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "linear.h5"))
    return size


def case_cnn(out, ref):
    rs = seed_all(202)
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="input"),
            L.Conv2D(32, (3, 3), activation="relu", name="conv"),
            L.MaxPooling2D((2, 2), name="pool"),
            L.Flatten(name="flatten"),
            L.Dense(10, activation="softmax", name="dense"),
        ],
        name="cnn",
    )
    randomize_weights(model.weights, rs)
    size = write_case(
        out, "cnn",
        "Seed article example 2: Conv2D(32,3x3,relu) on 28x28x1 -> MaxPooling2D(2) -> "
        "Flatten -> Dense(10, softmax).",
        lambda x: model(x, training=False), [(28, 28, 1)], 202,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "cnn.h5"))
    return size


class MyCustomLayer(keras.layers.Layer):
    """Seed article example 3: a (10, 5) weight applied with tf.matmul, no bias."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(name="w", shape=(10, 5), initializer="random_normal")

    def call(self, x):
        return tf.matmul(x, self.w)


def case_custom_matmul(out, ref):
    rs = seed_all(303)
    model = keras.Sequential(
        [keras.Input(shape=(10,), name="input"), MyCustomLayer(name="my_custom_layer")],
        name="custom_matmul",
    )
    randomize_weights(model.weights, rs)
    size = write_case(
        out, "custom_matmul",
        "Seed article example 3: custom Keras layer holding a (10,5) weight, call = "
        "tf.matmul(x, w), no bias; input (10,). Expected conversion: Dense(5, use_bias=False).",
        lambda x: model(x, training=False), [(10,)], 303,
    )
    if ref:
        # The custom-layer .h5 needs Python code to load; save it for inspection, and
        # save the standard-layer equivalent the converter should produce as <case>.h5.
        os.makedirs(os.path.join(ref, "extra"), exist_ok=True)
        save_ref_h5(model, os.path.join(ref, "extra", "custom_matmul_customlayer.h5"))
        eq = keras.Sequential(
            [keras.Input(shape=(10,), name="input"),
             keras.layers.Dense(5, use_bias=False, name="dense")],
            name="custom_matmul",
        )
        eq.layers[0].set_weights(model.layers[0].get_weights())
        save_ref_h5(eq, os.path.join(ref, "custom_matmul.h5"))
    return size


def build_inception_block(rs):
    L = keras.layers
    eps_cycle = [1e-3, 2e-5]
    counter = [0]

    def conv_bn_relu(t, filters, k, name, relu=True):
        eps = eps_cycle[counter[0] % 2]
        counter[0] += 1
        t = L.Conv2D(filters, k, padding="same", use_bias=False, name=name + "_conv")(t)
        t = L.BatchNormalization(epsilon=eps, name=name + "_bn")(t)
        return L.Activation("relu", name=name + "_relu")(t) if relu else t

    inp = keras.Input(shape=(17, 17, 8), name="input")
    stem = conv_bn_relu(inp, 8, 3, "stem")
    # Four branches, each 17x17x6; the four 1x1 convs all have kernel shape (1,1,8,6).
    b1 = conv_bn_relu(stem, 6, 1, "b1_1x1")
    b2 = conv_bn_relu(stem, 6, 1, "b2_1x1")
    b2 = conv_bn_relu(b2, 6, 3, "b2_3x3")
    b3 = conv_bn_relu(stem, 6, 1, "b3_1x1")
    b3 = conv_bn_relu(b3, 6, 5, "b3_5x5")
    b4 = L.AveragePooling2D(3, strides=1, padding="same", name="b4_pool")(stem)
    b4 = conv_bn_relu(b4, 6, 1, "b4_1x1")
    cat = L.Concatenate(axis=-1, name="mixed")([b1, b2, b3, b4])  # 17x17x24
    pad = L.ZeroPadding2D((1, 1), name="reduce_pad")(cat)  # 19x19x24 -> TF Pad
    red = L.Conv2D(16, 3, strides=2, padding="valid", activation="relu",
                   name="reduce_conv")(pad)  # 9x9x16, VALID conv
    # Residual: two equal-shaped 9x9x16 tensors added.
    r = conv_bn_relu(red, 16, 1, "res_a")
    r = conv_bn_relu(r, 16, 3, "res_b", relu=False)
    add = L.Add(name="res_add")([red, r])
    act = L.Activation("relu", name="res_relu")(add)
    gap = L.GlobalAveragePooling2D(name="gap")(act)
    logits = L.Dense(5, name="logits")(gap)
    prob = L.Activation("softmax", name="softmax")(logits)
    model = keras.Model(inp, prob, name="inception_block")
    randomize_weights(model.weights, rs)
    return model


def case_inception_block(out, ref):
    model = build_inception_block(seed_all(404))

    def checks(gd):
        bns = [n for n in gd.node if n.op == "FusedBatchNormV3"]
        eps = sorted({round(n.attr["epsilon"].f, 10) for n in bns})
        assert len(eps) == 2, eps
        assert any(n.op == "Pad" for n in gd.node), "expected an explicit Pad node"
        return f"FusedBatchNormV3 epsilons {eps}; Pad present"

    size = write_case(
        out, "inception_block",
        "Inception-style block on 17x17x8: stem Conv+BN+relu; four equal-shaped 17x17x6 branches "
        "(1x1; 1x1->3x3; 1x1->5x5; avgpool3x3 same->1x1), each conv use_bias=False + BN "
        "(epsilons alternate 1e-3 / 2e-5) + relu; Concatenate; ZeroPadding2D(1)+Conv2D 3x3 valid "
        "stride 2 (Pad + VALID conv); residual Add of two 9x9x16 tensors; GAP; Dense(5)+softmax.",
        lambda x: model(x, training=False), [(17, 17, 8)], 404, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "inception_block.h5"))
    return size


# Neither TF's FusedBatchNormV3 default (1e-4) nor Keras's BatchNormalization
# default (1e-3): a converter that drops the node's epsilon must fail this case.
TRACT_FIXES_EPSILON = 1e-2


class TractFixes(tf.Module):
    """Raw TF (no Keras): dilated Conv2D, BiasAdd, FusedBatchNormV3, Relu, channel Softmax."""

    def __init__(self):
        super().__init__(name="tract_fixes")
        self.kernel = tf.Variable(tf.zeros([3, 3, 3, 4]), name="kernel")
        self.bias = tf.Variable(tf.zeros([4]), name="bias")
        self.scale = tf.Variable(tf.zeros([4]), name="scale")
        self.offset = tf.Variable(tf.zeros([4]), name="offset")
        self.mean = tf.Variable(tf.zeros([4]), name="mean")
        self.variance = tf.Variable(tf.zeros([4]), name="variance")

    def __call__(self, x):
        y = tf.nn.conv2d(x, self.kernel, strides=1, padding="SAME", dilations=2)
        y = tf.nn.bias_add(y, self.bias)
        y = tf.raw_ops.FusedBatchNormV3(
            x=y, scale=self.scale, offset=self.offset, mean=self.mean,
            variance=self.variance, epsilon=TRACT_FIXES_EPSILON, is_training=False,
        )[0]
        y = tf.nn.relu(y)
        return tf.nn.softmax(y, axis=-1)


def case_tract_fixes(out, ref):
    rs = seed_all(505)
    mod = TractFixes()
    randomize_weights(mod.trainable_variables, rs)

    def checks(gd):
        convs = [n for n in gd.node if n.op == "Conv2D"]
        assert len(convs) == 1, [n.name for n in convs]
        assert list(convs[0].attr["dilations"].list.i) == [1, 2, 2, 1], convs[0].attr["dilations"]
        assert convs[0].attr["padding"].s == b"SAME"
        assert not any(n.op in ("SpaceToBatchND", "BatchToSpaceND") for n in gd.node), \
            "TF rewrote the dilated conv into SpaceToBatchND"
        bns = [n for n in gd.node if n.op == "FusedBatchNormV3"]
        assert len(bns) == 1 and abs(bns[0].attr["epsilon"].f - TRACT_FIXES_EPSILON) < 1e-9
        assert any(n.op == "Softmax" for n in gd.node)
        dil = list(convs[0].attr["dilations"].list.i)
        eps = bns[0].attr["epsilon"].f
        return (f"Conv2D '{convs[0].name}' dilations={dil} (single node, no SpaceToBatchND); "
                f"FusedBatchNormV3 eps={eps:g}")

    return write_case(
        out, "tract_fixes",
        "Raw tf.Module (no Keras) on 9x9x3: tf.nn.conv2d 3x3x3x4 SAME with dilations=2 (one Conv2D "
        "node, dilations [1,2,2,1]) -> tf.nn.bias_add -> FusedBatchNormV3 (inference, epsilon "
        "1e-2, neither the TF nor the Keras default) -> relu -> tf.nn.softmax(axis=-1) on the "
        "rank-4 tensor (channel softmax). "
        "Exercises the tract oracle fixes; no Keras reference model.",
        mod.__call__, [(9, 9, 3)], 505, checks,
    )


CASES = [
    ("linear", case_linear),
    ("cnn", case_cnn),
    ("custom_matmul", case_custom_matmul),
    ("inception_block", case_inception_block),
    ("tract_fixes", case_tract_fixes),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE, help="fixture root (default: this directory)")
    ap.add_argument("--ref-h5", default=None,
                    help="also save tf-keras reference .h5 files of the Keras cases here")
    ap.add_argument("--cases", nargs="*", default=None, help="subset of cases to generate")
    args = ap.parse_args()

    tf.config.experimental.enable_op_determinism()
    if args.ref_h5:
        os.makedirs(args.ref_h5, exist_ok=True)
    print(f"TensorFlow {tf.__version__}, tf-keras {keras.__version__}, numpy {np.__version__}")
    total = 0
    for name, fn in CASES:
        if args.cases and name not in args.cases:
            continue
        total += fn(args.out, args.ref_h5)
    print(f"total fixture size: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

The `sm_*` cases keep a SavedModel directory instead (`<case>/saved_model/`, with
meta.json "model": "saved_model" and signature keys as input/output names) for tf2h5 to
freeze itself; `corrupt/` holds broken copies of `sm_tf_module_cnn` (no meta.json) for
the refusal tests. See "SavedModel cases" below.

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
import shutil  # noqa: E402
import subprocess  # noqa: E402
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


def freeze(fn, specs, keep_calls=False):
    """Trace `fn` with `specs`, freeze variables to Const, return (frozen_func, graph_def).

    With `keep_calls`, the frozen graph must still call functions of its library (what TF
    leaves of XLA-compiled functions, such as Keras's grouped convolutions): asserted."""
    func = tf.function(fn, input_signature=specs)
    cf = func.get_concrete_function()
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    bad = [n.name for n in gd.node if n.op in FORBIDDEN_OPS]
    if keep_calls:
        assert bad and len(gd.library.function), "the frozen graph calls no function"
        return frozen, gd
    if bad or len(gd.library.function):
        # Never needed for the current cases; kept as the first thing to try if a
        # future case leaves function-call nodes behind.
        frozen = convert_variables_to_constants_v2(cf, lower_control_flow=False)
        gd = frozen.graph.as_graph_def()
        bad = [n.name for n in gd.node if n.op in FORBIDDEN_OPS]
    assert not bad, f"function-call nodes remain after freezing: {bad}"
    assert len(gd.library.function) == 0, "frozen graph still has a function library"
    # Custom gradients (tf.nn.silu's IdentityN) are tagged "CustomGradient-<process-wide
    # counter>", which depends on what ran before; inference ignores it. Dropping it keeps the
    # files byte-identical whatever subset of cases is generated (no-op for graphs without).
    for node in gd.node:
        if "_gradient_op_type" in node.attr:
            del node.attr["_gradient_op_type"]
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


def write_case(out_dir, case, description, fn, input_shapes, seed, checks=None, keep_calls=False,
               sizes=None, dtype=tf.float32, draw=None):
    """Freeze `fn`, compute golden outputs, write the fixture directory.

    `input_shapes` may hold None (unknown) dimensions; then `sizes` lists the concrete
    shapes (one list per input, no batch) to compute outputs at: the first gives x.npy/y.npy,
    each later one the files of a `runs` entry of meta.json (x_1.npy, y_1.npy, ...).
    `dtype` is the inputs' type; `draw(rs, shape)` draws their values (default N(0, 1)); a list
    gives each input its own."""
    rs_inputs = np.random.RandomState(seed + 1000)
    in_names = ["x"] if len(input_shapes) == 1 else [f"x{i}" for i in range(len(input_shapes))]
    specs = [
        tf.TensorSpec([None, *shape], dtype, name=name)
        for name, shape in zip(in_names, input_shapes)
    ]
    frozen, gd = freeze(fn, specs, keep_calls)
    sizes = sizes or [input_shapes]
    draw = draw or (lambda rs, shape: rs.standard_normal(shape).astype(np.float32))
    draw = draw if isinstance(draw, list) else [draw] * len(input_shapes)
    runs = [golden_run(frozen, fn, gd, in_names, run_shapes, rs_inputs, draw) for run_shapes in sizes[1:]]
    input_shapes = sizes[0]

    # Lowering a While to TF1 frames leaves unread `unused_control_flow_input` placeholders.
    placeholders = [n.name for n in gd.node
                    if n.op == "Placeholder" and not n.name.startswith("unused_control_flow_input")]
    assert placeholders == in_names, (placeholders, in_names)
    out_names = [t.name.split(":")[0] for t in frozen.outputs]
    for t in frozen.outputs:
        assert t.name.endswith(":0"), t.name

    feeds = [d(rs_inputs, (BATCH, *shape)) for d, shape in zip(draw, input_shapes)]
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
    # The spec's shapes (None where unknown), and the further sizes TF computed outputs at.
    meta["inputs"] = [dict(i, shape=[None, *s]) for i, s in zip(meta["inputs"], specs_shapes(specs))]
    if runs:
        meta["runs"] = []
        for k, (feeds_k, golden_k) in enumerate(runs, start=1):
            run = {"inputs": [], "outputs": []}
            for fname, arr in zip(in_files, feeds_k):
                run["inputs"].append(fname.replace(".npy", f"_{k}.npy"))
                np.save(os.path.join(d, run["inputs"][-1]), arr)
            for fname, arr in zip(out_files, golden_k):
                run["outputs"].append(fname.replace(".npy", f"_{k}.npy"))
                np.save(os.path.join(d, run["outputs"][-1]), arr)
            meta["runs"].append(run)
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


def specs_shapes(specs):
    """The shapes of TensorSpecs without the batch, None where unknown."""
    return [list(spec.shape)[1:] for spec in specs]


def golden_run(frozen, fn, gd, in_names, shapes, rs_inputs, draw):
    """Inputs at `shapes` (no batch) drawn by `draw` and the serialised GraphDef's outputs
    for them, cross-checked against the Python function."""
    out_names = [t.name.split(":")[0] for t in frozen.outputs]
    feeds = [d(rs_inputs, (BATCH, *shape)) for d, shape in zip(draw, shapes)]
    golden = run_graph_def(gd.SerializeToString(deterministic=True), in_names, out_names, feeds)
    eager = fn(*[tf.constant(x) for x in feeds])
    eager = eager if isinstance(eager, (list, tuple)) else [eager]
    for g_out, e_out in zip(golden, eager):
        np.testing.assert_allclose(g_out, e_out.numpy(), rtol=1e-5, atol=1e-5)
    return feeds, golden


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


# --------------------------------------------------------------------------- SavedModel cases
#
# These keep the model as a SavedModel directory (`<case>/saved_model/`) instead of a frozen
# GraphDef: tf2h5 freezes it itself. Inputs and outputs are named by the signature keys
# (`serving_default`), in key order, which is the order tf2h5 gives the frozen graph's
# placeholders and outputs. The golden outputs come from TF running the saved artifact
# (`tf.saved_model.load(dir).signatures["serving_default"]`), cross-checked against the
# Python model. Each case also dumps one checkpoint variable (`checkpoint_probe.json` names
# its checkpoint key, `checkpoint_probe.npy` holds its value) to test the checkpoint reader.
#
# Every SavedModel case runs in a fresh Python process: TF numbers traced functions with a
# process-wide counter, so the bytes of saved_model.pb depend on what ran before. With that,
# reruns are byte-identical except sm_keras3_export: Keras 3's export emits its variables in
# Python object-identity order, so its saved_model.pb and checkpoint bytes vary between runs
# (the values, inputs and outputs do not).

SAVED_MODEL_DIR = "saved_model"


def write_saved_model_case(out_dir, case, description, save, inputs, seed, reference,
                           probe_key, probe_value, draw=None):
    """`save(dir)` writes the SavedModel; `inputs` maps signature key -> shape (no batch);
    `reference(feeds)` computes the expected outputs in Python (dict by output key);
    `draw(rs, shape)` draws the inputs (standard normal float32 by default; a dict gives each
    signature key its own)."""
    d = os.path.join(out_dir, case)
    sm_dir = os.path.join(d, SAVED_MODEL_DIR)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    save(sm_dir)
    # fingerprint.pb is optional and differs on every save; an empty assets/ is not committed.
    fingerprint = os.path.join(sm_dir, "fingerprint.pb")
    if os.path.exists(fingerprint):
        os.remove(fingerprint)
    assets = os.path.join(sm_dir, "assets")
    if os.path.isdir(assets) and not os.listdir(assets):
        os.rmdir(assets)

    rs_inputs = np.random.RandomState(seed + 1000)
    in_keys = sorted(inputs)
    draw = draw or (lambda rs, shape: rs.standard_normal(shape).astype(np.float32))
    draws = draw if isinstance(draw, dict) else {k: draw for k in in_keys}
    feeds = {k: draws[k](rs_inputs, (BATCH, *inputs[k])) for k in in_keys}
    loaded = tf.saved_model.load(sm_dir)
    signature = loaded.signatures["serving_default"]
    assert sorted(signature.structured_input_signature[1]) == in_keys
    golden = {k: np.asarray(v.numpy(), dtype=np.float32)
              for k, v in signature(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
    out_keys = sorted(golden)
    expected = reference(feeds)
    assert sorted(expected) == out_keys, (sorted(expected), out_keys)
    for k in out_keys:
        np.testing.assert_allclose(golden[k], expected[k], rtol=1e-5, atol=1e-5)

    in_files = ["x.npy"] if len(in_keys) == 1 else [f"x{i}.npy" for i in range(len(in_keys))]
    out_files = ["y.npy"] if len(out_keys) == 1 else [f"y{i}.npy" for i in range(len(out_keys))]
    for fname, k in zip(in_files, in_keys):
        np.save(os.path.join(d, fname), feeds[k])
    for fname, k in zip(out_files, out_keys):
        np.save(os.path.join(d, fname), golden[k])
    meta = {
        "name": case,
        "model": SAVED_MODEL_DIR,
        "inputs": [
            {"name": k, "file": f, "shape": [None, *inputs[k]]} for k, f in zip(in_keys, in_files)
        ],
        "outputs": [{"name": k, "file": f} for k, f in zip(out_keys, out_files)],
        "description": description,
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")

    # One variable as TF wrote it, read back through TF's own checkpoint reader.
    reader = tf.train.load_checkpoint(os.path.join(sm_dir, "variables", "variables"))
    stored = reader.get_tensor(probe_key)
    np.testing.assert_array_equal(stored, np.asarray(probe_value, dtype=stored.dtype))
    np.save(os.path.join(d, "checkpoint_probe.npy"), stored)
    with open(os.path.join(d, "checkpoint_probe.json"), "w") as f:
        json.dump({"key": probe_key, "file": "checkpoint_probe.npy",
                   "shards": len([n for n in os.listdir(os.path.join(sm_dir, "variables"))
                                  if ".data-" in n])}, f, indent=2)
        f.write("\n")

    size = 0
    for root, _, files in os.walk(d):
        size += sum(os.path.getsize(os.path.join(root, x)) for x in files)
    shapes = {k: list(v.shape) for k, v in golden.items()}
    print(f"== {case}: SavedModel, {size} bytes on disk")
    print(f"   inputs : {in_keys}  outputs: {out_keys}  shapes {shapes}")
    print(f"   files  : {sorted(os.listdir(os.path.join(sm_dir, 'variables')))}")
    with open(os.path.join(sm_dir, "saved_model.pb"), "rb") as f:
        print(f"   sha256(saved_model.pb) = {hashlib.sha256(f.read()).hexdigest()[:16]}")
    return size


class ModuleCnn(tf.Module):
    """Raw TF CNN (no Keras) on 12x12x3, using only ops tf2h5 converts."""

    def __init__(self):
        super().__init__(name="module_cnn")
        self.conv1_kernel = tf.Variable(tf.zeros([3, 3, 3, 8]), name="conv1/kernel")
        self.conv1_bias = tf.Variable(tf.zeros([8]), name="conv1/bias")
        self.bn_scale = tf.Variable(tf.zeros([8]), name="bn/scale")
        self.bn_offset = tf.Variable(tf.zeros([8]), name="bn/offset")
        self.bn_mean = tf.Variable(tf.zeros([8]), name="bn/mean")
        self.bn_variance = tf.Variable(tf.zeros([8]), name="bn/variance")
        self.conv2_kernel = tf.Variable(tf.zeros([3, 3, 16, 8]), name="conv2/kernel")
        self.conv2_bias = tf.Variable(tf.zeros([8]), name="conv2/bias")
        self.flat_kernel = tf.Variable(tf.zeros([72, 10]), name="flat/kernel")
        self.flat_bias = tf.Variable(tf.zeros([10]), name="flat/bias")
        self.gap_kernel = tf.Variable(tf.zeros([8, 10]), name="gap/kernel")
        self.gap_bias = tf.Variable(tf.zeros([10]), name="gap/bias")

    @tf.function(input_signature=[tf.TensorSpec([None, 12, 12, 3], tf.float32, name="x")])
    def __call__(self, x):
        y = tf.nn.conv2d(x, self.conv1_kernel, strides=2, padding="SAME")  # 6x6x8
        y = tf.nn.relu(tf.nn.bias_add(y, self.conv1_bias))
        z = tf.raw_ops.FusedBatchNormV3(
            x=y, scale=self.bn_scale, offset=self.bn_offset, mean=self.bn_mean,
            variance=self.bn_variance, epsilon=1e-3, is_training=False)[0]
        z = tf.nn.relu6(z)
        a = tf.nn.max_pool2d(z, 3, 1, "SAME")
        b = tf.nn.avg_pool2d(z, 3, 1, "SAME")
        # AddV2 of equal shapes, ConcatV2: 6x6x16. Axis 3, not -1: tract's ConcatV2 inference
        # exhausts memory on a negative axis (the verify oracle runs tract).
        t = tf.concat([a + b, y], axis=3)
        t = tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]])  # 8x8x16
        t = tf.nn.conv2d(t, self.conv2_kernel, strides=2, padding="VALID")  # 3x3x8
        t = tf.nn.tanh(tf.nn.bias_add(t, self.conv2_bias))
        flat = tf.nn.bias_add(tf.matmul(tf.reshape(t, [-1, 72]), self.flat_kernel), self.flat_bias)
        gap = tf.reduce_mean(tf.nn.sigmoid(t), axis=[1, 2])
        gap = tf.nn.bias_add(tf.matmul(gap, self.gap_kernel), self.gap_bias)
        return tf.nn.softmax(flat + gap)


def corrupt_copies(out_dir, case):
    """Broken copies of `case`'s SavedModel under `<out>/corrupt/` (no meta.json, so the
    fixture suites skip them): each must be refused with an error naming the broken file."""
    src = os.path.join(out_dir, case, SAVED_MODEL_DIR)
    root = os.path.join(out_dir, "corrupt")
    if os.path.isdir(root):
        shutil.rmtree(root)
    data_name = "variables.data-00000-of-00001"

    def copy(name):
        d = os.path.join(root, name)
        os.makedirs(os.path.join(d, "variables"))
        shutil.copy(os.path.join(src, "saved_model.pb"), d)
        for f in ("variables.index", data_name):
            shutil.copy(os.path.join(src, "variables", f), os.path.join(d, "variables", f))
        return d

    # A flipped bit in the middle of the largest weight (conv2/kernel): CRC32C mismatch.
    d = copy("flipped_data")
    path = os.path.join(d, "variables", data_name)
    data = bytearray(open(path, "rb").read())
    reader = tf.train.load_checkpoint(os.path.join(src, "variables", "variables"))
    weight = reader.get_tensor("conv2_kernel/.ATTRIBUTES/VARIABLE_VALUE").tobytes()
    at = bytes(data).find(weight)
    assert at >= 0 and bytes(data).count(weight) == 1
    data[at + len(weight) // 2] ^= 0x01
    open(path, "wb").write(bytes(data))
    # The index cut in half: no footer.
    d = copy("truncated_index")
    path = os.path.join(d, "variables", "variables.index")
    index = open(path, "rb").read()
    open(path, "wb").write(index[: len(index) // 2])
    # The data file cut short: entries point past its end.
    d = copy("truncated_data")
    path = os.path.join(d, "variables", data_name)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) - 100])
    # No data file at all.
    d = copy("missing_data")
    os.remove(os.path.join(d, "variables", data_name))
    # The index says 1 shard, the data file claims to be 1 of 2.
    d = copy("wrong_shard_count")
    os.rename(os.path.join(d, "variables", data_name),
              os.path.join(d, "variables", "variables.data-00000-of-00002"))
    # saved_model.pb cut short: not a parseable protobuf.
    d = os.path.join(root, "truncated_saved_model_pb")
    os.makedirs(d)
    pb = open(os.path.join(src, "saved_model.pb"), "rb").read()
    open(os.path.join(d, "saved_model.pb"), "wb").write(pb[: len(pb) * 2 // 3])
    size = 0
    for r, _, files in os.walk(root):
        size += sum(os.path.getsize(os.path.join(r, x)) for x in files)
    print(f"== corrupt: {sorted(os.listdir(root))}, {size} bytes on disk")
    return size


def case_sm_tf_module_cnn(out, ref):
    rs = seed_all(606)
    mod = ModuleCnn()
    randomize_weights(mod.trainable_variables, rs)

    def save(path):
        tf.saved_model.save(mod, path)

    size = write_saved_model_case(
        out, "sm_tf_module_cnn",
        "Raw tf.Module CNN saved with tf.saved_model.save (TF2 SavedModel, functions + checkpoint) on "
        "12x12x3: conv2d 3x3 stride 2 SAME + bias_add + relu; FusedBatchNormV3 (eps 1e-3) + relu6; "
        "max_pool and avg_pool 3x3 SAME added (AddV2); ConcatV2 (axis 3); Pad + 3x3 stride-2 VALID conv + "
        "bias_add + tanh; two heads: flatten Reshape + MatMul + bias_add, and sigmoid + Mean over "
        "H,W + MatMul + bias_add; AddV2; softmax.",
        save, {"x": (12, 12, 3)}, 606,
        lambda feeds: {"output_0": mod(tf.constant(feeds["x"])).numpy()},
        "conv1_kernel/.ATTRIBUTES/VARIABLE_VALUE", mod.conv1_kernel.numpy(),
    )
    return size + corrupt_copies(out, "sm_tf_module_cnn")


class ModuleMobile(tf.Module):
    """Raw TF MobileNet/EfficientNet pieces (no Keras) on 10x10x4, for the SavedModel path:
    what ModuleCnn leaves out."""

    def __init__(self):
        super().__init__(name="module_mobile")
        self.stem_kernel = tf.Variable(tf.zeros([3, 3, 4, 8]), name="stem/kernel")
        self.bn_mean = tf.Variable(tf.zeros([8]), name="bn/mean")
        self.bn_variance = tf.Variable(tf.zeros([8]), name="bn/variance")
        self.bn_offset = tf.Variable(tf.zeros([8]), name="bn/offset")
        self.bn_scale = tf.Variable(tf.zeros([8]), name="bn/scale")
        self.dw_kernel = tf.Variable(tf.zeros([3, 3, 8, 2]), name="dw/kernel")
        self.dw_bias = tf.Variable(tf.zeros([16]), name="dw/bias")
        self.pw_kernel = tf.Variable(tf.zeros([1, 1, 16, 12]), name="pw/kernel")
        self.pw_bias = tf.Variable(tf.zeros([12]), name="pw/bias")
        self.head_kernel = tf.Variable(tf.zeros([12, 5]), name="head/kernel")
        self.head_bias = tf.Variable(tf.zeros([5]), name="head/bias")

    @tf.function(input_signature=[tf.TensorSpec([None, 10, 10, 4], tf.float32, name="x")])
    def __call__(self, x):
        y = tf.nn.conv2d(x, self.stem_kernel, strides=2, padding="SAME")  # 5x5x8, pads (0, 1)
        # Non-fused batch norm on variables: Rsqrt(variance + eps) * scale, x * inv +
        # (offset - mean * inv), with the statistics read from the checkpoint.
        y = tf.nn.batch_normalization(y, self.bn_mean, self.bn_variance, self.bn_offset,
                                      self.bn_scale, 2e-3)
        y = y * tf.math.sigmoid(y)  # swish, written out (Sigmoid, Mul)
        y = tf.pad(y, [[0, 0], [1, 2], [2, 1], [0, 0]])  # asymmetric explicit pad: 8x8x8
        y = tf.nn.depthwise_conv2d(y, self.dw_kernel, [1, 2, 2, 1], "VALID")  # 3x3x16
        y = tf.nn.leaky_relu(tf.nn.bias_add(y, self.dw_bias), alpha=0.15)
        y = tf.nn.bias_add(tf.nn.conv2d(y, self.pw_kernel, 1, "VALID"), self.pw_bias)
        y = tf.reduce_mean(y, axis=[1, 2])
        return tf.nn.softmax(tf.nn.bias_add(tf.matmul(y, self.head_kernel), self.head_bias))


def case_sm_tf_module_mobile(out, ref):
    rs = seed_all(1111)
    mod = ModuleMobile()
    randomize_weights(mod.trainable_variables, rs)
    # A depthwise kernel's fan-in is its 3x3 window, not 3x3x8.
    mod.dw_kernel.assign((rs.normal(0.0, 1.0, (3, 3, 8, 2)) / 3.0).astype(np.float32))

    def save(path):
        tf.saved_model.save(mod, path)

    return write_saved_model_case(
        out, "sm_tf_module_mobile",
        "Raw tf.Module saved with tf.saved_model.save on 10x10x4, the patterns sm_tf_module_cnn "
        "lacks: conv2d 3x3 stride 2 SAME (asymmetric padding, no bias); tf.nn.batch_normalization "
        "on variables (eps 2e-3; Rsqrt/Mul/Sub/AddV2 on the checkpoint's statistics); swish "
        "written as x * sigmoid(x); tf.pad ((1,2),(2,1)) + depthwise_conv2d 3x3 multiplier 2 "
        "stride 2 VALID + bias_add; leaky_relu(0.15); 1x1 conv + bias_add; reduce_mean over H,W; "
        "matmul + bias_add; softmax.",
        save, {"x": (10, 10, 4)}, 1111,
        lambda feeds: {"output_0": mod(tf.constant(feeds["x"])).numpy()},
        "dw_kernel/.ATTRIBUTES/VARIABLE_VALUE", mod.dw_kernel.numpy(),
    )


class ModuleOps(tf.Module):
    """Raw TF ops of issue 14 (no Keras) on 6x6x3: a transposed convolution, bilinear resize,
    clipping, max and mean over H and W stacked on a new axis (twice), log_softmax.
    (tf.math.l2_normalize is refused: no Keras layer computes it exactly in every loader.)"""

    def __init__(self):
        super().__init__(name="module_ops")
        # tf.nn.conv2d_transpose's filter is (h, w, out, in).
        self.up_kernel = tf.Variable(tf.zeros([3, 3, 8, 3]), name="up/kernel")
        self.up_bias = tf.Variable(tf.zeros([8]), name="up/bias")
        self.head_kernel = tf.Variable(tf.zeros([16, 5]), name="head/kernel")
        self.head_bias = tf.Variable(tf.zeros([5]), name="head/bias")

    @tf.function(input_signature=[tf.TensorSpec([None, 6, 6, 3], tf.float32, name="x")])
    def __call__(self, x):
        shape = tf.stack([tf.shape(x)[0], 12, 12, 8])
        y = tf.nn.conv2d_transpose(x, self.up_kernel, shape, strides=2, padding="SAME")  # 12x12x8
        y = tf.clip_by_value(tf.nn.bias_add(y, self.up_bias), -1.0, 1.5)
        y = tf.image.resize(y, [9, 9], method="bilinear")  # ResizeBilinear, half-pixel centers
        peak, mean = tf.reduce_max(y, axis=[1, 2]), tf.reduce_mean(y, axis=[1, 2])  # (N, 8) each
        rows = tf.reshape(tf.stack([peak, mean], axis=1), [-1, 16])  # (N, 2, 8): Pack axis 1
        columns = tf.reshape(tf.stack([peak, mean], axis=-1), [-1, 16])  # (N, 8, 2): Pack axis 2
        logits = tf.matmul(rows + 0.5 * columns, self.head_kernel)
        return tf.nn.log_softmax(tf.nn.bias_add(logits, self.head_bias))


def case_sm_tf_module_ops(out, ref):
    rs = seed_all(1414)
    mod = ModuleOps()
    randomize_weights(mod.trainable_variables, rs)

    def save(path):
        tf.saved_model.save(mod, path)

    return write_saved_model_case(
        out, "sm_tf_module_ops",
        "Raw tf.Module saved with tf.saved_model.save (tf.function signature) on 6x6x3, the ops of "
        "issue 14: tf.nn.conv2d_transpose 3x3 stride 2 SAME to 12x12x8 (Conv2DBackpropInput, its "
        "output shape a Pack of the batch and constants) + bias_add; tf.clip_by_value(-1, 1.5) "
        "(Minimum, Maximum); tf.image.resize to 9x9 bilinear (ResizeBilinear, half_pixel_centers); "
        "tf.reduce_max and tf.reduce_mean over H,W, tf.stack'ed on axis 1 and on axis -1 (Pack of "
        "tensors), each reshaped to 16, added (x 0.5); matmul + bias_add; tf.nn.log_softmax.",
        save, {"x": (6, 6, 3)}, 1414,
        lambda feeds: {"output_0": mod(tf.constant(feeds["x"])).numpy()},
        "up_kernel/.ATTRIBUTES/VARIABLE_VALUE", mod.up_kernel.numpy(),
    )


def case_sm_tf_keras_two_io(out, ref):
    rs = seed_all(707)
    L = keras.layers
    image = keras.Input(shape=(8, 8, 3), name="image")
    features = keras.Input(shape=(5,), name="features")
    t = L.Conv2D(6, 3, strides=2, padding="same", name="conv")(image)
    t = L.BatchNormalization(epsilon=2e-3, name="bn")(t)
    t = L.Activation("relu", name="relu")(t)
    t = L.GlobalAveragePooling2D(name="gap")(t)
    f = L.Dense(6, activation="tanh", name="dense")(features)
    h = L.Concatenate(name="concat")([t, f])
    probs = L.Dense(3, activation="softmax", name="probs")(h)
    gate = L.Dense(2, activation="sigmoid", name="gate")(h)
    model = keras.Model([image, features], [probs, gate], name="two_io")
    randomize_weights(model.weights, rs)

    def save(path):
        # Small shards: the checkpoint spans several data files and some variables are
        # split into slices across them (TF's MaxShardSizePolicy).
        policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=1024)
        # Default traces: the library also holds the layers' training-mode functions (BN
        # moving-average updates), which the serving signature never calls.
        model.save(path, save_format="tf",
                   options=tf.saved_model.SaveOptions(experimental_sharding_callback=policy))

    def reference(feeds):
        p, g = model([tf.constant(feeds["image"]), tf.constant(feeds["features"])], training=False)
        return {"probs": p.numpy(), "gate": g.numpy()}

    size = write_saved_model_case(
        out, "sm_tf_keras_two_io",
        "tf-keras 2.21 functional model saved with model.save(dir) (SavedModel) and TF's "
        "MaxShardSizePolicy(1024 bytes), so the checkpoint has several data shards and sliced "
        "variables. Inputs image (8,8,3) and features (5,); image: Conv2D 3x3 stride 2 same -> "
        "BatchNormalization (FusedBatchNormV3, eps 2e-3) -> relu -> GlobalAveragePooling2D; "
        "features: Dense(6, tanh); Concatenate; outputs Dense(2, sigmoid) 'gate' and "
        "Dense(3, softmax) 'probs'.",
        save, {"image": (8, 8, 3), "features": (5,)}, 707, reference,
        "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", model.get_layer("conv").kernel.numpy(),
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "sm_tf_keras_two_io.h5"))
    return size


def case_sm_tf1_simple_save(out, ref):
    rs = np.random.RandomState(808)
    tf1 = tf.compat.v1
    graph = tf.Graph()
    values = {
        "conv/kernel": rs.normal(0, 1, (3, 3, 2, 4)) / np.sqrt(18),
        "conv/bias": rs.normal(0, 0.5, (4,)),
        "dense/kernel": rs.normal(0, 1, (36, 5)) / 6.0,
        "dense/bias": rs.normal(0, 0.5, (5,)),
    }
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 6, 6, 2], name="x")
        v = {name: tf1.Variable(val.astype(np.float32), name=name, use_resource=False)
             for name, val in values.items()}
        t = tf.nn.conv2d(x, v["conv/kernel"], strides=1, padding="SAME")
        t = tf.nn.relu(tf.nn.bias_add(t, v["conv/bias"]))
        t = tf.nn.max_pool2d(t, 2, 2, "VALID")  # 3x3x4
        t = tf.reshape(t, [-1, 36])
        t = tf.nn.bias_add(tf.matmul(t, v["dense/kernel"]), v["dense/bias"])
        probs = tf.nn.softmax(t, name="probs")
        assert all(var.op.type == "VariableV2" for var in v.values())
    session = tf1.Session(graph=graph)
    with graph.as_default():
        session.run(tf1.global_variables_initializer())

    def save(path):
        with graph.as_default():
            tf1.saved_model.simple_save(session, path, inputs={"x": x}, outputs={"probs": probs})

    def reference(feeds):
        return {"probs": session.run(probs, {x: feeds["x"]})}

    size = write_saved_model_case(
        out, "sm_tf1_simple_save",
        "TF1 graph (tf.compat.v1, VariableV2 ref variables in the main graph, no functions) saved "
        "with simple_save; checkpoint keys are the variable node names. Input x (6,6,2): conv2d "
        "3x3 SAME + bias_add + relu -> max_pool 2x2 -> reshape (flatten) -> matmul + bias_add -> "
        "softmax. The output key 'probs' is also the name of the softmax node.",
        save, {"x": (6, 6, 2)}, 808, reference,
        "conv/kernel", values["conv/kernel"].astype(np.float32),
    )
    session.close()
    return size


def case_sm_keras3_export(out, ref):
    import keras as keras3  # Keras 3 (the `keras` package), TensorFlow backend

    rs = np.random.RandomState(909)
    keras3.utils.set_random_seed(909)
    L = keras3.layers
    inp = keras3.Input(shape=(8, 8, 3), name="image")
    t = L.Conv2D(4, 3, padding="same", name="conv")(inp)
    t = L.BatchNormalization(epsilon=1e-2, name="bn")(t)
    t = L.ReLU(name="relu")(t)
    t = L.MaxPooling2D(2, name="pool")(t)
    t = L.Flatten(name="flatten")(t)
    out_t = L.Dense(3, activation="softmax", name="dense")(t)
    model = keras3.Model(inp, out_t, name="keras3_cnn")
    randomize_weights(model.weights, rs)

    def save(path):
        model.export(path, verbose=False)

    return write_saved_model_case(
        out, "sm_keras3_export",
        f"Keras {keras3.__version__} model.export(dir) of a small CNN on 8x8x3: Conv2D(4, 3x3, same) "
        "-> BatchNormalization (eps 1e-2; Keras 3 lowers it to Rsqrt/Mul/Sub/AddV2 arithmetic, and "
        "the conv bias goes through Reshape+Squeeze) -> ReLU -> MaxPooling2D(2) -> Flatten "
        "(Shape/StridedSlice/Pack/Reshape) -> Dense(3, softmax). Signatures 'serve' and "
        "'serving_default'.",
        save, {"image": (8, 8, 3)}, 909,
        lambda feeds: {"output_0": np.asarray(model(feeds["image"], training=False))},
        "variables/0/.ATTRIBUTES/VARIABLE_VALUE", np.asarray(model.get_layer("conv").kernel),
    )


def write_keras3_export_case(out, case, description, model, key, shape, seed, draw=None):
    """A Keras 3 `model.export(dir)` of `model` (input signature key `key`, output `output_0`)."""
    return write_saved_model_case(
        out, case, description, lambda path: model.export(path, verbose=False), {key: shape}, seed,
        lambda feeds: {"output_0": np.asarray(model(feeds[key], training=False))},
        "variables/0/.ATTRIBUTES/VARIABLE_VALUE", np.asarray(model.weights[0]), draw=draw,
    )


def case_sm_keras3_transformer(out, ref):
    import keras as keras3  # Keras 3 (the `keras` package), TensorFlow backend

    rs = np.random.RandomState(3131)
    keras3.utils.set_random_seed(3131)
    L = keras3.layers
    inp = keras3.Input(shape=(8, 32), name="tokens")
    a = L.MultiHeadAttention(num_heads=2, key_dim=16, dropout=0.1, name="attention")(inp, inp)
    x = L.LayerNormalization(epsilon=1e-6, name="ln1")(L.Add(name="residual1")([inp, a]))
    f = L.Dense(64, activation="gelu", name="mlp1")(x)
    f = L.Dense(32, name="mlp2")(f)
    x = L.LayerNormalization(epsilon=1e-6, name="ln2")(L.Add(name="residual2")([x, f]))
    model = keras3.Model(inp, x, name="transformer_block")
    randomize_weights(model.weights, rs)
    return write_keras3_export_case(
        out, "sm_keras3_transformer",
        f"Keras {keras3.__version__} model.export(dir) of a post-norm transformer block on (8, 32) "
        "tokens: MultiHeadAttention(2 heads, key_dim 16, dropout inactive; Keras 3 writes its "
        "EinsumDense projections as BatchMatMulV2 by the reshaped kernel between Reshapes, the "
        "scores and mix as Einsum 'BTNH,BSNH->BNTS' / 'BNTS,BSNH->BTNH'), residual Add, "
        "LayerNormalization (eps 1e-6), Dense(64, gelu erf), Dense(32), residual Add, "
        "LayerNormalization.",
        model, "tokens", (8, 32), 3131,
    )


def case_sm_keras3_text(out, ref):
    import keras as keras3  # Keras 3 (the `keras` package), TensorFlow backend

    class SlicedPositions(keras3.layers.Layer):
        """Learned positions as keras-hub's PositionEmbedding reads them: ops.slice of the first
        n rows of a (16, D) table, broadcast to the token embeddings' shape."""

        def build(self, input_shape):
            self.table = self.add_weight(name="table", shape=(16, input_shape[-1]))

        def call(self, x):
            shape = keras3.ops.shape(x)
            return keras3.ops.broadcast_to(keras3.ops.slice(self.table, (0, 0), (shape[1], shape[2])), shape)

    rs = np.random.RandomState(3232)
    keras3.utils.set_random_seed(3232)
    L = keras3.layers
    ids = keras3.Input(shape=(8,), dtype="int32", name="ids")
    tokens = L.Embedding(30, 16, name="embedding")(ids)
    x = L.Add(name="add_positions")([tokens, SlicedPositions(name="positions")(tokens)])
    x = L.LayerNormalization(epsilon=1e-6, name="ln")(x)
    x = L.GlobalAveragePooling1D(name="pool")(x)
    x = L.Dense(3, name="logits")(x)
    model = keras3.Model(ids, x, name="keras3_text")
    randomize_weights(model.weights, rs)
    return write_keras3_export_case(
        out, "sm_keras3_text",
        f"Keras {keras3.__version__} model.export(dir) of a text classifier on 8 int32 ids (0..30): "
        "Embedding(30, 16) (Keras 3's take wraps negative ids first: Less, AddV2, SelectV2 before the "
        "GatherV2), learned positions (custom layer: ops.slice of a (16, 16) table -> TF Slice, "
        "broadcast_to), Add, LayerNormalization, GlobalAveragePooling1D, Dense(3).",
        model, "ids", (8,), 3232, draw=lambda rs, shape: rs.randint(0, 30, shape).astype(np.int32),
    )


def case_sm_keras_hub_distil_bert(out, ref):
    """Needs keras-hub: run generate.py with ~/.cache/tf2h5/venv-kerashub/bin/python
    (`bash scripts/keras_hub_backbones.sh` builds that venv; CI only reads the files)."""
    import keras as keras3  # Keras 3 (the `keras` package), TensorFlow backend
    import keras_hub

    keras3.utils.set_random_seed(3333)
    model = keras_hub.models.DistilBertBackbone(
        vocabulary_size=30, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=8, name="distil_bert")
    randomize_weights(model.weights, np.random.RandomState(3333))

    def mask(rs, shape):
        # 0/1 per token; sample 0 fully masked (each softmax row is zeroed), sample 1 unmasked.
        m = rs.randint(0, 2, shape).astype(np.int32)
        m[0], m[1] = 0, 1
        return m

    def save(path):
        # 8 tokens, as keras-check feeds it (the backbone's own signature leaves them unknown).
        spec = {k: tf.TensorSpec((None, 8), tf.int32, name=k) for k in ("padding_mask", "token_ids")}
        model.export(path, verbose=False, input_signature=[spec])
        prune_function_library(path)

    return write_saved_model_case(
        out, "sm_keras_hub_distil_bert",
        f"keras-hub {keras_hub.__version__} DistilBertBackbone (Keras {keras3.__version__} "
        "model.export(dir)) built from its constructor with random weights: vocabulary 30, 2 "
        "layers, 2 heads, hidden 16, intermediate 32 (erf GELU), 8 tokens; int32 token_ids "
        "(0..30) and an int32 padding_mask (0/1; sample 0 all 0, sample 1 all 1) that every "
        "attention casts to bool and applies as Keras 3's masked softmax: SelectV2(mask, "
        "scores, -1e9) -> Softmax -> SelectV2(mask, probabilities, 0).",
        save, {"token_ids": (8,), "padding_mask": (8,)}, 3333,
        lambda feeds: {"output_0": np.asarray(model(feeds, training=False))},
        "variables/0/.ATTRIBUTES/VARIABLE_VALUE", np.asarray(model.weights[0]),
        draw={"token_ids": lambda rs, shape: rs.randint(0, 30, shape).astype(np.int32), "padding_mask": mask},
    )


def case_sm_keras3_causal_attention(out, ref):
    import keras as keras3  # Keras 3 (the `keras` package), TensorFlow backend

    ops = keras3.ops

    class CausalSelfAttention(keras3.layers.Layer):
        """Self-attention under a causal mask built from the sequence length as keras-hub's
        compute_causal_mask builds it for OPT, BART and GPT-2 (ops.shape(x)[1] -> float ops.arange
        -> i >= j), added to the scores as -1e9 where masked; projections and products in the
        einsum forms of Keras's MultiHeadAttention."""

        def build(self, input_shape):
            dense = keras3.layers.EinsumDense
            self.query, self.key, self.value = (
                dense("abc,cde->abde", output_shape=(None, 2, 8), bias_axes="de", name=n) for n in "qkv")
            self.out = dense("abcd,cde->abe", output_shape=(None, 16), bias_axes="e", name="out")
            for projection in (self.query, self.key, self.value):
                projection.build(input_shape)
            self.out.build((None, None, 2, 8))

        def call(self, x):
            length = ops.shape(x)[1]
            i = ops.expand_dims(ops.arange(length, dtype="float32"), axis=1)
            j = ops.arange(length, dtype="float32")
            causal = ops.cast(i >= j, "float32")                           # (T, T)
            q, k, v = self.query(x), self.key(x), self.value(x)            # (B, T, 2, 8)
            scores = ops.einsum("aecd,abcd->acbe", k, q) * (8 ** -0.5)     # (B, 2, T, T)
            scores = scores + (1.0 - causal) * -1e9
            weights = ops.softmax(scores, axis=-1)
            return self.out(ops.einsum("acbe,aecd->abcd", weights, v))     # (B, T, 16)

    rs = np.random.RandomState(3434)
    keras3.utils.set_random_seed(3434)
    L = keras3.layers
    ids = keras3.Input(shape=(None,), dtype="int32", name="token_ids")
    x = L.Embedding(30, 16, name="embedding")(ids)
    x = L.LayerNormalization(epsilon=1e-5, name="ln")(L.Add(name="residual")([x, CausalSelfAttention(name="attention")(x)]))
    x = L.Dense(5, name="logits")(x)
    model = keras3.Model(ids, x, name="keras3_causal_attention")
    randomize_weights(model.weights, rs)
    return write_keras3_export_case(
        out, "sm_keras3_causal_attention",
        f"Keras {keras3.__version__} model.export(dir) of a causal self-attention block on an unknown sequence "
        "length (its signature (None, None); the .h5 is specialised to 4 tokens, the size verification derives and the fixture's data has): int32 token_ids "
        "(0..30) -> Embedding(30, 16) -> a causal mask from the length as keras-hub's compute_causal_mask builds "
        "it for OPT and BART (ops.shape(x)[1] -> float ops.arange -> i >= j: TF Shape, StridedSlice, Cast, Range "
        "of floats, GreaterEqual), added to the scores as (1 - mask) * -1e9; 2 heads of 8 in MultiHeadAttention's "
        "einsum forms (EinsumDense q/k/v, 'aecd,abcd->acbe' scores, softmax, 'acbe,aecd->abcd' mix, EinsumDense "
        "out) -> residual Add -> LayerNormalization -> Dense(5).",
        model, "token_ids", (4,), 3434, draw=lambda rs, shape: rs.randint(0, 30, shape).astype(np.int32),
    )


SAVED_MODEL_CASES = {
    "sm_tf_module_cnn", "sm_tf_module_mobile", "sm_tf_module_ops", "sm_tf_keras_two_io",
    "sm_tf1_simple_save", "sm_keras3_export", "sm_keras3_transformer", "sm_keras3_text",
    "sm_keras_hub_distil_bert", "sm_keras3_causal_attention", "sm_conv1d_transpose",
}


# --------------------------------------------------------------------------- recurrent SavedModels


def prune_function_library(sm_dir):
    """Drops from a SavedModel's function library what serving never calls: the gradient
    functions and the CuDNN variants tf-keras stores beside each RNN layer's loop (~80% of a
    small RNN SavedModel). Kept: every function the graph's nodes or the object graph name, and
    what those call. TF still loads the result; the case's golden outputs come from it."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(sm_dir, "saved_model.pb")
    sm = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        sm.ParseFromString(f.read())
    meta_graph = sm.meta_graphs[0]
    library = {f.signature.name: f for f in meta_graph.graph_def.library.function}

    def named(attr):
        return ([attr.func.name] if attr.HasField("func") else []) + (
            [f.name for f in attr.list.func] if attr.HasField("list") else [])

    stack = [name for node in meta_graph.graph_def.node for a in node.attr.values() for name in named(a)]
    stack += list(meta_graph.object_graph_def.concrete_functions)
    kept = set()
    while stack:
        name = stack.pop()
        if name not in library or name in kept:
            continue
        kept.add(name)
        for node in library[name].node_def:
            stack += [node.op] + [f for a in node.attr.values() for f in named(a)]
    functions = [f for f in meta_graph.graph_def.library.function if f.signature.name in kept]
    gradients = [g for g in meta_graph.graph_def.library.gradient
                 if g.function_name in kept and g.gradient_func in kept]
    del meta_graph.graph_def.library.function[:]
    meta_graph.graph_def.library.function.extend(functions)
    del meta_graph.graph_def.library.gradient[:]
    meta_graph.graph_def.library.gradient.extend(gradients)
    with open(path, "wb") as f:
        f.write(sm.SerializeToString(deterministic=True))


def write_rnn_saved_model_case(out, case, description, model, seq_shape, seed, ids=None, prune=False, draw=None):
    """A tf-keras RNN model exported for serving: a tf.Module holding the model's variables
    and one traced `serving_default` (input `x`, output `output_0`). tf-keras compiles each
    RNN layer to a StatelessWhile over TensorLists (`standard_lstm`/`standard_gru` functions
    beside their CuDNN variants, or the generic `keras.backend.rnn` loop). `model.save` would
    also store every layer's training traces (~600 KB for one LSTM); this form is ~90 KB.
    `ids`: int32 token ids drawn in 0..ids instead of float inputs; `prune`: drop the functions
    serving never calls (`prune_function_library`; the first four cases keep TF's full form)."""
    module = tf.Module()
    module.weights_ = list(model.weights)
    dtype = tf.int32 if ids else tf.float32

    def named_outputs(y):
        """`output_<k>` for each of the model's outputs."""
        return {f"output_{k}": t for k, t in enumerate(y if isinstance(y, (list, tuple)) else [y])}

    @tf.function(input_signature=[tf.TensorSpec([None, *seq_shape], dtype, name="x")])
    def serve(x):
        return named_outputs(model(x, training=False))

    module.serve = serve

    def save(path):
        tf.saved_model.save(module, path, signatures={"serving_default": serve})
        if prune:
            prune_function_library(path)

    def reference(feeds):
        return {k: t.numpy() for k, t in named_outputs(model(tf.constant(feeds["x"]), training=False)).items()}

    if draw is None and ids:
        draw = lambda rs, shape: rs.randint(0, ids, shape).astype(np.int32)  # noqa: E731
    return write_saved_model_case(
        out, case, description, save, {"x": seq_shape}, seed, reference,
        "weights_/0/.ATTRIBUTES/VARIABLE_VALUE", model.weights[0].numpy(), draw=draw,
    )


def case_sm_lstm_text(out, ref):
    rs = seed_all(1901)
    L = keras.layers
    inp = keras.Input(shape=(6,), dtype="int32", name="ids")
    y = L.Embedding(20, 5, name="embedding")(inp)
    y = L.LSTM(4, name="lstm")(y)
    y = L.Dense(3, activation="softmax", name="dense")(y)
    model = keras.Model(inp, y, name="lstm_text")
    randomize_weights(model.weights, rs)
    return write_rnn_saved_model_case(
        out, "sm_lstm_text",
        "Text classifier on 6 int32 token ids (0..20): Embedding(20, 5) -> LSTM(4) (standard_lstm "
        "StatelessWhile) -> Dense(3, softmax); tf-keras, exported as a SavedModel signature.",
        model, (6,), 1901, ids=20,
    )


def case_sm_gru_bidirectional(out, ref):
    rs = seed_all(1902)
    L = keras.layers
    inp = keras.Input(shape=(5, 3), name="x")
    y = L.Bidirectional(L.GRU(4, name="gru"), name="bidirectional")(inp)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name="gru_bidirectional")
    randomize_weights(model.weights, rs)
    return write_rnn_saved_model_case(
        out, "sm_gru_bidirectional",
        "Bidirectional(GRU(4)) (reset_after, standard_gru loops, the backward one go_backwards; "
        "last outputs concatenated) on (5, 3) -> Dense(2); tf-keras SavedModel signature.",
        model, (5, 3), 1902,
    )


def lstm_stacked_model(seed):
    """Stacked LSTMs on (7, 3), as SavedModel and as frozen graph."""
    rs = seed_all(seed)
    L = keras.layers
    inp = keras.Input(shape=(7, 3), name="x")
    y = L.LSTM(5, return_sequences=True, name="lstm_1")(inp)
    y = L.LSTM(4, return_sequences=True, go_backwards=True, name="lstm_2")(y)
    y = L.LSTM(3, name="lstm_3")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name="lstm_stacked")
    randomize_weights(model.weights, rs)
    return model


def case_sm_lstm_stacked(out, ref):
    model = lstm_stacked_model(1903)
    return write_rnn_saved_model_case(
        out, "sm_lstm_stacked",
        "Stacked LSTMs on (7, 3): LSTM(5, return_sequences) -> LSTM(4, return_sequences, "
        "go_backwards) -> LSTM(3) -> Dense(2); tf-keras SavedModel signature.",
        model, (7, 3), 1903,
    )


def case_sm_simple_rnn(out, ref):
    rs = seed_all(1904)
    L = keras.layers
    inp = keras.Input(shape=(6, 3), name="x")
    y = L.SimpleRNN(4, return_sequences=True, name="rnn_1")(inp)
    y = L.SimpleRNN(3, name="rnn_2")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name="simple_rnn")
    randomize_weights(model.weights, rs)
    return write_rnn_saved_model_case(
        out, "sm_simple_rnn",
        "SimpleRNN(4, return_sequences) -> SimpleRNN(3) on (6, 3) -> Dense(2): the generic "
        "keras.backend.rnn loop, the cell's weights read inside the body; tf-keras SavedModel.",
        model, (6, 3), 1904,
    )


def case_sm_lstm_bidirectional(out, ref):
    rs = seed_all(1905)
    L = keras.layers
    inp = keras.Input(shape=(6, 3), name="x")
    y = L.Bidirectional(L.LSTM(4, return_sequences=True, name="lstm_1"), merge_mode="concat", name="bi_concat")(inp)
    y = L.Bidirectional(L.LSTM(3, name="lstm_2"), merge_mode="sum", name="bi_sum")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name="lstm_bidirectional")
    randomize_weights(model.weights, rs)
    return write_rnn_saved_model_case(
        out, "sm_lstm_bidirectional",
        "Bidirectional LSTMs on (6, 3): Bidirectional(LSTM(4, return_sequences), concat) -> "
        "Bidirectional(LSTM(3), sum) -> Dense(2) (standard_lstm loops, the backward ones "
        "go_backwards, their sequences reversed back); tf-keras SavedModel signature.",
        model, (6, 3), 1905, prune=True,
    )


def case_sm_rnn_bidirectional_merges(out, ref):
    rs = seed_all(1909)
    L = keras.layers
    inp = keras.Input(shape=(5, 3), name="x")
    y = L.Bidirectional(L.SimpleRNN(4, return_sequences=True, name="rnn"), merge_mode="mul", name="bi_mul")(inp)
    y = L.Bidirectional(L.GRU(3, name="gru"), merge_mode="ave", name="bi_ave")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name="rnn_bidirectional_merges")
    randomize_weights(model.weights, rs)
    return write_rnn_saved_model_case(
        out, "sm_rnn_bidirectional_merges",
        "Bidirectional merges mul and ave on (5, 3): Bidirectional(SimpleRNN(4, return_sequences), mul) "
        "-> Bidirectional(GRU(3), ave) -> Dense(2); tf-keras SavedModel signature.",
        model, (5, 3), 1909, prune=True,
    )


def case_sm_gru_reset_before(out, ref):
    rs = seed_all(1906)
    L = keras.layers
    inp = keras.Input(shape=(6, 3), name="x")
    y = L.GRU(5, reset_after=False, return_sequences=True, name="gru_1")(inp)
    y = L.GRU(4, reset_after=False, go_backwards=True, name="gru_2")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name="gru_reset_before")
    randomize_weights(model.weights, rs)
    return write_rnn_saved_model_case(
        out, "sm_gru_reset_before",
        "GRU(5, reset_after=False, return_sequences) -> GRU(4, reset_after=False, go_backwards) "
        "on (6, 3) -> Dense(2): the generic keras.backend.rnn loop (reset_after=False has no "
        "CuDNN form), the reset gate applied before the recurrent kernel's last third; tf-keras "
        "SavedModel signature.",
        model, (6, 3), 1906, prune=True,
    )


def keras3_recurrent_model(seed, kind):
    """A Keras 3 model on (6, 3) with two stacked recurrent layers of `kind` ("lstm" or "gru"),
    weights drawn by `randomize_weights`. The GRUs keep Keras 3's reset_after=True: the body
    slices the gates out of one matmul of the state by the recurrent kernel and adds the
    recurrent bias row before the reset gate; the second one runs go_backwards."""
    import keras as keras3  # Keras 3 (the `keras` package), TensorFlow backend

    rs = np.random.RandomState(seed)
    keras3.utils.set_random_seed(seed)
    L = keras3.layers
    inp = keras3.Input(shape=(6, 3), name="x")
    if kind == "lstm":
        y = L.LSTM(4, return_sequences=True, name="lstm_1")(inp)
        y = L.LSTM(3, name="lstm_2")(y)
    elif kind == "masking":
        y = L.Masking(mask_value=MASK_VALUE, name="masking")(inp)
        y = L.LSTM(4, return_sequences=True, name="lstm")(y)
        y = L.GRU(3, name="gru")(y)
    else:
        y = L.GRU(4, return_sequences=True, name="gru_1")(inp)
        y = L.GRU(3, go_backwards=True, name="gru_2")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras3.Model(inp, y, name=f"keras3_{kind}")
    randomize_weights(model.weights, rs)
    return model


KERAS3_LSTM_DESCRIPTION = (
    "stacked LSTMs on (6, 3): LSTM(4, return_sequences) -> LSTM(3) -> Dense(2). Keras 3's generic RNN "
    "loop (no CuDNN on CPU): the cell's weights read inside the body, the bias added with AddV2")
KERAS3_GRU_DESCRIPTION = (
    "stacked GRUs on (6, 3): GRU(4, return_sequences) -> GRU(3, go_backwards) -> Dense(2) (reset_after=True: "
    "the gates sliced from one matmul of the state, the recurrent bias row added before the reset "
    "gate). Keras 3's generic RNN loop (no CuDNN on CPU)")


KERAS3_MASKING_DESCRIPTION = (
    "Masking(mask_value=-1) on (6, 3) float steps (a tail of -1 steps and one inside each row) -> "
    "LSTM(4, return_sequences) -> GRU(3) -> Dense(2). Keras 3's generic RNN loop with a mask: the first step "
    "peeled out of the loop, each step selecting with the mask (SelectV2) between the new and the kept states "
    "and outputs")


def write_keras3_rnn_export_case(out, case, kind, description, seed):
    """A Keras 3 `model.export(dir)` of `keras3_recurrent_model(seed, kind)`, its unused
    functions pruned."""
    import keras as keras3

    model = keras3_recurrent_model(seed, kind)

    def save(path):
        model.export(path, verbose=False)
        prune_function_library(path)

    return write_saved_model_case(
        out, case, f"Keras {keras3.__version__} model.export(dir) of {description}.",
        save, {"x": (6, 3)}, seed,
        lambda feeds: {"output_0": np.asarray(model(feeds["x"], training=False))},
        "variables/0/.ATTRIBUTES/VARIABLE_VALUE", np.asarray(model.weights[0]),
        draw=keras3_draw(kind),
    )


def keras3_draw(kind):
    """How `keras3_recurrent_model(seed, kind)`'s inputs are drawn: with masked steps for a
    Masking model, else N(0, 1)."""
    return masked_steps if kind == "masking" else None


def write_frozen_keras3_rnn_case(out, case, kind, description, seed):
    """`keras3_recurrent_model(seed, kind)` frozen to a `.pb` (`write_frozen_rnn_case`)."""
    import keras as keras3

    return write_frozen_rnn_case(
        out, case, f"Frozen .pb of a Keras {keras3.__version__} model of {description}; each loop lowered to "
        "TF1 frames.", keras3_recurrent_model(seed, kind), (6, 3), seed, draw=keras3_draw(kind),
    )


def case_sm_keras3_lstm(out, ref):
    return write_keras3_rnn_export_case(out, "sm_keras3_lstm", "lstm", KERAS3_LSTM_DESCRIPTION, 1907)


def case_frozen_keras3_lstm(out, ref):
    return write_frozen_keras3_rnn_case(out, "frozen_keras3_lstm", "lstm", KERAS3_LSTM_DESCRIPTION, 1914)


def case_sm_keras3_masking_rnn(out, ref):
    return write_keras3_rnn_export_case(out, "sm_keras3_masking_rnn", "masking", KERAS3_MASKING_DESCRIPTION, 1921)


def case_frozen_keras3_masking_rnn(out, ref):
    return write_frozen_keras3_rnn_case(
        out, "frozen_keras3_masking_rnn", "masking", KERAS3_MASKING_DESCRIPTION, 1922)


def case_sm_keras3_gru(out, ref):
    return write_keras3_rnn_export_case(out, "sm_keras3_gru", "gru", KERAS3_GRU_DESCRIPTION, 1915)


def case_frozen_keras3_gru(out, ref):
    return write_frozen_keras3_rnn_case(out, "frozen_keras3_gru", "gru", KERAS3_GRU_DESCRIPTION, 1916)


def masked_ids(rs, shape):
    """Token ids in 1..20 with a padded (0) tail of random length per row, and a few zeros
    inside, so masked steps both carry the state and repeat the previous output."""
    ids = rs.randint(1, 20, shape).astype(np.int32)
    for row in ids:
        row[shape[-1] - rs.randint(0, shape[-1] // 2 + 1):] = 0
        row[rs.randint(0, shape[-1])] = 0
    return ids


def masked_rnn_model(seed, name, inp, masker):
    """`masker` (a layer attaching a Keras mask to its output) on `inp`, feeding stacked
    recurrent layers, which read its mask."""
    rs = seed_all(seed)
    L = keras.layers
    y = L.LSTM(5, return_sequences=True, name="lstm")(masker(inp))
    y = L.GRU(4, name="gru")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name=name)
    randomize_weights(model.weights, rs)
    return model


def rnn_masked_model(seed):
    """Embedding(mask_zero=True) feeding stacked recurrent layers."""
    inp = keras.Input(shape=(8,), dtype="int32", name="ids")
    return masked_rnn_model(seed, "rnn_masked", inp, keras.layers.Embedding(20, 5, mask_zero=True, name="embedding"))


RNN_MASKED_DESCRIPTION = (
    "Embedding(20, 5, mask_zero=True) on 8 int32 ids (0 = padding: a padded tail and a zero inside "
    "each row) -> LSTM(5, return_sequences) -> GRU(4) -> Dense(2): each loop reads the mask "
    "NotEqual(ids, 0) per step, keeping the states and repeating the previous output where it is 0")


def case_sm_rnn_masked(out, ref):
    model = rnn_masked_model(1912)
    return write_rnn_saved_model_case(
        out, "sm_rnn_masked", RNN_MASKED_DESCRIPTION + "; tf-keras SavedModel signature.",
        model, (8,), 1912, ids=20, prune=True, draw=masked_ids,
    )


def case_frozen_rnn_masked(out, ref):
    model = rnn_masked_model(1913)
    return write_frozen_rnn_case(
        out, "frozen_rnn_masked", "Frozen .pb of " + RNN_MASKED_DESCRIPTION + ", each loop lowered to TF1 frames.",
        model, (8,), 1913, dtype=tf.int32, draw=masked_ids,
    )


def bidirectional_masked_model(seed, merge_mode, sequences_output=False):
    """Embedding(mask_zero=True) feeding masked Bidirectional layers, the first with
    return_sequences (both directions write zeros at masked steps) and `merge_mode`;
    `sequences_output`: its sequences are a second model output (the GRUs ignore the masked
    steps, so only that output shows the zeros)."""
    rs = seed_all(seed)
    L = keras.layers
    inp = keras.Input(shape=(8,), dtype="int32", name="ids")
    y = L.Embedding(20, 5, mask_zero=True, name="embedding")(inp)
    sequences = L.Bidirectional(L.LSTM(4, return_sequences=True, name="lstm"), merge_mode=merge_mode,
                                name="bi_lstm")(y)
    y = L.Bidirectional(L.GRU(3, name="gru"), name="bi_gru")(sequences)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, [y, sequences] if sequences_output else y, name="rnn_bidirectional_masked")
    randomize_weights(model.weights, rs)
    return model


RNN_BIDIRECTIONAL_MASKED_DESCRIPTION = (
    "Embedding(20, 5, mask_zero=True) on 8 int32 ids (a padded tail and a zero inside each row) -> "
    "Bidirectional(LSTM(4, return_sequences), merge_mode={}) -> Bidirectional(GRU(3)) -> Dense(2): Bidirectional forces "
    "zero_output_for_mask = return_sequences, so the LSTM loops write zeros at masked steps (the backward one "
    "reads the reversed sequence and mask, its outputs reversed back), the GRU loops repeat the previous output")


def case_sm_rnn_bidirectional_masked(out, ref):
    model = bidirectional_masked_model(1919, "concat")
    description = RNN_BIDIRECTIONAL_MASKED_DESCRIPTION.format("concat")
    return write_rnn_saved_model_case(
        out, "sm_rnn_bidirectional_masked", description + "; tf-keras SavedModel signature.",
        model, (8,), 1919, ids=20, prune=True, draw=masked_ids,
    )


def case_frozen_rnn_bidirectional_masked(out, ref):
    model = bidirectional_masked_model(1920, "ave", sequences_output=True)
    return write_frozen_rnn_case(
        out, "frozen_rnn_bidirectional_masked",
        "Frozen .pb of " + RNN_BIDIRECTIONAL_MASKED_DESCRIPTION.format("ave") + "; the Bidirectional(LSTM)'s "
        "sequences (zeros at masked steps) are a second output; each loop lowered to TF1 frames.",
        model, (8,), 1920, dtype=tf.int32, draw=masked_ids,
    )


MASK_VALUE = -1.0


def masked_steps(rs, shape):
    """Float sequences (batch, time, features) in which whole steps equal MASK_VALUE: a tail of
    random length per row and one step inside, which a Masking layer masks."""
    x = rs.standard_normal(shape).astype(np.float32)
    for row in x:
        row[shape[1] - rs.randint(0, shape[1] // 2 + 1):] = MASK_VALUE
        row[rs.randint(0, shape[1])] = MASK_VALUE
    return x


def masking_model(seed):
    """Masking(MASK_VALUE) feeding stacked recurrent layers."""
    inp = keras.Input(shape=(7, 3), name="x")
    return masked_rnn_model(seed, "masking_rnn", inp, keras.layers.Masking(mask_value=MASK_VALUE, name="masking"))


MASKING_DESCRIPTION = (
    "Masking(mask_value=-1) on (7, 3) float steps (a tail of -1 steps and one inside each row) -> "
    "LSTM(5, return_sequences) -> GRU(4) -> Dense(2): the Masking layer is x * Cast(Any(x != -1, -1)), "
    "and each loop reads its mask Squeeze(Any(...)) per step, keeping the states and repeating the "
    "previous output where it is 0")


def case_sm_masking_rnn(out, ref):
    model = masking_model(1917)
    return write_rnn_saved_model_case(
        out, "sm_masking_rnn", MASKING_DESCRIPTION + "; tf-keras SavedModel signature.",
        model, (7, 3), 1917, prune=True, draw=masked_steps,
    )


def case_frozen_masking_rnn(out, ref):
    model = masking_model(1918)
    return write_frozen_rnn_case(
        out, "frozen_masking_rnn", "Frozen .pb of " + MASKING_DESCRIPTION + ", each loop lowered to TF1 frames.",
        model, (7, 3), 1918, draw=masked_steps,
    )


def write_frozen_rnn_case(out, case, description, model, seq_shape, seed, dtype=tf.float32, draw=None):
    """A tf-keras RNN model frozen by convert_variables_to_constants_v2, which lowers each
    layer's While into TF1 frames (Enter/Merge/Switch/NextIteration/Exit/LoopCond) around the
    same TensorList body. Lowering numbers and orders nodes by set iteration, so the bytes
    vary between runs; every run holds the same loops."""
    def checks(gd):
        frames = {n.attr["frame_name"].s.decode() for n in gd.node if n.op == "Enter"}
        assert frames and any(n.op == "NextIteration" for n in gd.node), "no lowered loop"
        return f"{len(frames)} loop frame(s)"

    return write_case(out, case, description, lambda x: model(x, training=False), [seq_shape], seed, checks,
                      dtype=dtype, draw=draw)


def case_frozen_lstm_stacked(out, ref):
    model = lstm_stacked_model(1911)
    return write_frozen_rnn_case(
        out, "frozen_lstm_stacked",
        "Frozen .pb of stacked LSTMs on (7, 3): LSTM(5, return_sequences) -> LSTM(4, return_sequences, "
        "go_backwards) -> LSTM(3) -> Dense(2), each loop lowered to TF1 frames.",
        model, (7, 3), 1911,
    )


def load_seeded_tf1_variables(session, rs):
    """Sets every variable of a TF1 session's graph from `rs` (TF1 initializers depend on op
    creation order, so their values are not reproducible): biases N(0, 0.5), kernels scaled by
    1/sqrt(fan_in)."""
    for v in tf.compat.v1.global_variables():
        shape = tuple(v.shape)
        if len(shape) == 1:
            value = rs.normal(0.0, 0.5, shape)
        else:
            value = rs.normal(0.0, 1.0, shape) / np.sqrt(shape[0])
        v.load(value.astype(np.float32), session)


def write_dynamic_rnn_case(out, case, description, make_cell, seq_shape, seed, head):
    """A TF1 graph (control flow v1) of `tf.compat.v1.nn.dynamic_rnn(make_cell(), x)` on
    (None, *seq_shape), frozen with `convert_variables_to_constants`: the input made
    time-major and scattered into a TensorArray, a While frame reading it per step and writing
    each output into another, gathered and made batch-major after the loop; the final state
    leaves through the frame's Exits. `head(outputs, state)` gives the output `y`. Every
    variable (the cell's kernels and biases) is drawn from a seeded RandomState. Runs in a fresh
    process (it switches TF to graph mode and v1 control flow)."""
    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.disable_control_flow_v2()
    rs = np.random.RandomState(seed)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, *seq_shape], name="x")
        outputs, state = tf.compat.v1.nn.dynamic_rnn(make_cell(), x, dtype=tf.float32)
        tf.identity(head(outputs, state), name="y")
        feeds = rs.standard_normal((BATCH, *seq_shape)).astype(np.float32)
        with tf.compat.v1.Session() as session:
            load_seeded_tf1_variables(session, rs)
            expected = session.run("y:0", {x: feeds})
            gd = tf.compat.v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), ["y"])
    ops = op_histogram(gd)
    assert ops["TensorArrayScatterV3"] == 1 and ops["TensorArrayWriteV3"] == 1 and ops["NextIteration"] > 0, ops
    gd_bytes = gd.SerializeToString(deterministic=True)
    frozen = tf.Graph()
    with frozen.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
        with tf.compat.v1.Session() as session:
            golden = np.asarray(session.run("y:0", {"x:0": feeds}), dtype=np.float32)
    np.testing.assert_array_equal(golden, expected)
    d = os.path.join(out, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "frozen.pb"), "wb") as f:
        f.write(gd_bytes)
    np.save(os.path.join(d, "x.npy"), feeds)
    np.save(os.path.join(d, "y.npy"), golden)
    meta = {
        "name": case,
        "model": "frozen.pb",
        "inputs": [{"name": "x", "file": "x.npy", "shape": [None, *seq_shape]}],
        "outputs": [{"name": "y", "file": "y.npy"}],
        "description": description,
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, name)) for name in os.listdir(d))
    print(f"== {case}: {len(gd.node)} nodes, {size} bytes on disk, output {list(golden.shape)}")
    print("   ops    : " + ", ".join(f"{op}={c}" for op, c in sorted(ops.items())))
    return size


def case_frozen_dynamic_rnn_lstm(out, ref):
    return write_dynamic_rnn_case(
        out, "frozen_dynamic_rnn_lstm",
        "TF1 tf.compat.v1.nn.dynamic_rnn over LSTMCell(5) (forget_bias 1.0, gates i j f o) on (6, 3), "
        "frozen: TensorArray loop in a TF1 frame; y = the outputs (batch, 6, 5).",
        lambda: tf.compat.v1.nn.rnn_cell.LSTMCell(5), (6, 3), 1931, lambda outputs, state: outputs,
    )


def case_frozen_dynamic_rnn_gru(out, ref):
    return write_dynamic_rnn_case(
        out, "frozen_dynamic_rnn_gru",
        "TF1 tf.compat.v1.nn.dynamic_rnn over GRUCell(4) (gates r u, candidate kernel) on (5, 3), "
        "frozen: TensorArray loop in a TF1 frame; y = the outputs (batch, 5, 4).",
        lambda: tf.compat.v1.nn.rnn_cell.GRUCell(4), (5, 3), 1932, lambda outputs, state: outputs,
    )


def case_frozen_dynamic_rnn_simple(out, ref):
    return write_dynamic_rnn_case(
        out, "frozen_dynamic_rnn_simple",
        "TF1 tf.compat.v1.nn.dynamic_rnn over BasicRNNCell(4) (tanh) on (7, 2), frozen: TensorArray "
        "loop in a TF1 frame; y = the last step's output, outputs[:, -1] (batch, 4).",
        lambda: tf.compat.v1.nn.rnn_cell.BasicRNNCell(4), (7, 2), 1933,
        lambda outputs, state: outputs[:, -1],
    )


def case_frozen_gru_bidirectional(out, ref):
    rs = seed_all(1912)
    L = keras.layers
    inp = keras.Input(shape=(5, 3), name="x")
    y = L.Bidirectional(L.GRU(4, return_sequences=True, name="gru"), name="bidirectional")(inp)
    y = L.SimpleRNN(3, name="rnn")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name="gru_bidirectional")
    randomize_weights(model.weights, rs)
    return write_frozen_rnn_case(
        out, "frozen_gru_bidirectional",
        "Frozen .pb: Bidirectional(GRU(4, return_sequences)) (concat; the backward sequence reversed "
        "back) -> SimpleRNN(3) -> Dense(2) on (5, 3), each loop lowered to TF1 frames.",
        model, (5, 3), 1912,
    )


def lstm_state_model(seed):
    """LSTM(return_sequences, return_state) on (6, 3) whose states h and c feed later layers
    and whose cell state is also a model output."""
    rs = seed_all(seed)
    L = keras.layers
    inp = keras.Input(shape=(6, 3), name="x")
    seq, h, c = L.LSTM(4, return_sequences=True, return_state=True, name="lstm")(inp)
    y = L.GRU(3, name="gru")(seq)
    y = L.Concatenate(name="concat")([y, h, c])
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, [y, c], name="lstm_state")
    randomize_weights(model.weights, rs)
    return model


LSTM_STATE_DESCRIPTION = (
    "seq, h, c = LSTM(4, return_sequences, return_state) on (6, 3); GRU(3)(seq), h and c "
    "concatenated -> Dense(2); outputs [dense, c]"
)


def case_sm_lstm_state(out, ref):
    return write_rnn_saved_model_case(
        out, "sm_lstm_state", LSTM_STATE_DESCRIPTION + "; tf-keras SavedModel signature.",
        lstm_state_model(1921), (6, 3), 1921, prune=True,
    )


def case_frozen_lstm_state(out, ref):
    return write_frozen_rnn_case(
        out, "frozen_lstm_state", "Frozen .pb: " + LSTM_STATE_DESCRIPTION + ", each loop lowered to TF1 frames.",
        lstm_state_model(1922), (6, 3), 1922,
    )


def gru_state_model(seed):
    """GRU(return_state) on (5, 3) whose output is only read through its state, and a
    Bidirectional(LSTM, return_state) whose four states feed a Dense."""
    rs = seed_all(seed)
    L = keras.layers
    inp = keras.Input(shape=(5, 3), name="x")
    _, h = L.GRU(4, return_state=True, go_backwards=True, name="gru")(inp)
    seq, h_fw, c_fw, h_bw, c_bw = L.Bidirectional(
        L.LSTM(3, return_sequences=True, return_state=True, name="lstm"), name="bi")(inp)
    y = L.SimpleRNN(2, name="rnn")(seq)
    y = L.Concatenate(name="concat")([y, h, h_fw, c_fw, h_bw, c_bw])
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, [y, h_bw], name="gru_state")
    randomize_weights(model.weights, rs)
    return model


GRU_STATE_DESCRIPTION = (
    "_, h = GRU(4, return_state, go_backwards) and seq, h_fw, c_fw, h_bw, c_bw = "
    "Bidirectional(LSTM(3, return_sequences, return_state)) on (5, 3); SimpleRNN(2)(seq) and every "
    "state concatenated -> Dense(2); outputs [dense, h_bw]"
)


def case_sm_gru_state(out, ref):
    return write_rnn_saved_model_case(
        out, "sm_gru_state", GRU_STATE_DESCRIPTION + "; tf-keras SavedModel signature.",
        gru_state_model(1923), (5, 3), 1923, prune=True,
    )


def case_frozen_gru_state(out, ref):
    return write_frozen_rnn_case(
        out, "frozen_gru_state", "Frozen .pb: " + GRU_STATE_DESCRIPTION + ", each loop lowered to TF1 frames.",
        gru_state_model(1924), (5, 3), 1924,
    )


RNN_SAVED_MODEL_CASES = {
    "sm_lstm_text", "sm_gru_bidirectional", "sm_lstm_stacked", "sm_simple_rnn", "sm_lstm_bidirectional",
    "sm_rnn_bidirectional_merges", "sm_gru_reset_before", "sm_keras3_lstm", "sm_keras3_gru", "sm_masking_rnn",
    "sm_rnn_bidirectional_masked", "sm_keras3_masking_rnn", "sm_lstm_state", "sm_gru_state",
    "tf_refused_loops",
}



# --------------------------------------------------------------------------- keras.applications ops


def hard_sigmoid(x):
    """MobileNetV3's hard sigmoid: ReLU6(x + 3) / 6 (AddV2, Relu6, Mul by 1/6)."""
    return keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def hard_swish(x):
    return keras.layers.Multiply()([x, hard_sigmoid(x)])


def case_mobile_block(out, ref):
    """MobileNet V1/V2/V3 building blocks (see the description)."""
    rs = seed_all(606)
    L = keras.layers
    inp = keras.Input(shape=(16, 16, 8), name="input")
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = L.BatchNormalization(epsilon=1e-3, name="stem_bn")(x)
    x = hard_swish(x)  # 8x8x16
    # Inverted residual: expand, depthwise 3x3 (multiplier 2), SE with hard sigmoid, project.
    shortcut = x
    e = L.Conv2D(24, 1, use_bias=False, name="expand")(x)
    e = L.BatchNormalization(epsilon=1e-3, name="expand_bn")(e)
    e = L.ReLU(6.0, name="expand_relu6")(e)
    e = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, name="dw")(e)
    e = L.BatchNormalization(epsilon=2e-5, name="dw_bn")(e)
    e = L.ReLU(name="dw_relu")(e)  # 8x8x48
    s = L.GlobalAveragePooling2D(keepdims=True, name="se_pool")(e)
    s = L.Conv2D(12, 1, name="se_reduce")(s)
    s = L.ReLU(name="se_relu")(s)
    s = L.Conv2D(48, 1, name="se_expand")(s)
    s = hard_sigmoid(s)
    e = L.Multiply(name="se_gate")([e, s])  # (N,8,8,48) x (N,1,1,48)
    e = L.Conv2D(16, 1, use_bias=False, name="project")(e)
    e = L.BatchNormalization(epsilon=1e-3, name="project_bn")(e)
    x = L.Add(name="residual")([shortcut, e])
    # Strided depthwise after explicit padding (TF Pad + VALID), with bias, LeakyReLU.
    x = L.ZeroPadding2D(((0, 1), (0, 1)), name="dw2_pad")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="valid", name="dw2")(x)  # 4x4x16
    x = L.LeakyReLU(alpha=0.1, name="leaky")(x)
    # MobileNet V1 head: pool (keepdims), 1x1 conv as classifier, Reshape, softmax.
    x = L.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = L.Conv2D(6, 1, name="logits")(x)
    x = L.Reshape((6,), name="reshape")(x)
    x = L.Activation("softmax", name="softmax")(x)
    model = keras.Model(inp, x, name="mobile_block")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        for op in ("DepthwiseConv2dNative", "Relu6", "Mul", "AddV2", "LeakyRelu", "Shape", "Pack"):
            assert ops[op] > 0, op
        return f"DepthwiseConv2dNative={ops['DepthwiseConv2dNative']}, Mul={ops['Mul']}, LeakyRelu"

    size = write_case(
        out, "mobile_block",
        "MobileNet blocks on 16x16x8: Conv2D s2 + BN + hard-swish (x * ReLU6(x + 3) * 1/6: AddV2, "
        "Relu6, Mul by constants, Multiply); inverted residual: 1x1 expand + BN + ReLU6, "
        "DepthwiseConv2D 3x3 depth_multiplier 2 + BN (eps 2e-5) + ReLU, squeeze-excite "
        "(GAP keepdims, 1x1 convs, hard sigmoid, broadcasting Multiply (N,8,8,48)x(N,1,1,48)), "
        "1x1 project + BN, residual Add; ZeroPadding2D + DepthwiseConv2D 3x3 s2 valid with bias; "
        "LeakyReLU(0.1); MobileNet V1 head: GAP keepdims, 1x1 Conv2D, Reshape((6,)) "
        "(Shape/StridedSlice/Pack/Reshape), softmax.",
        lambda x: model(x, training=False), [(16, 16, 8)], 606, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "mobile_block.h5"))
    return size


def case_efficient_block(out, ref):
    """EfficientNet preprocessing and MBConv block."""
    rs = seed_all(707)
    L = keras.layers
    inp = keras.Input(shape=(12, 12, 3), name="input")
    x = L.Rescaling(1.0 / 255.0, name="rescaling")(inp)
    norm = L.Normalization(axis=-1, name="normalization")
    x = norm(x)
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.Activation("swish", name="stem_swish")(x)  # 6x6x16
    shortcut = x
    e = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    e = L.BatchNormalization(name="dw_bn")(e)
    e = L.Activation("swish", name="dw_swish")(e)
    # EfficientNet SE: GAP, Reshape((1,1,C)), 1x1 conv swish, 1x1 conv sigmoid, multiply.
    s = L.GlobalAveragePooling2D(name="se_squeeze")(e)
    s = L.Reshape((1, 1, 16), name="se_reshape")(s)
    s = L.Conv2D(4, 1, activation="swish", name="se_reduce")(s)
    s = L.Conv2D(16, 1, activation="sigmoid", name="se_expand")(s)
    e = L.multiply([e, s], name="se_excite")
    e = L.Conv2D(16, 1, use_bias=False, name="project")(e)
    e = L.BatchNormalization(name="project_bn")(e)
    e = L.Dropout(0.2, name="drop")(e)
    x = L.add([shortcut, e], name="residual")
    x = L.Conv2D(32, 1, use_bias=False, name="top_conv")(x)
    x = L.BatchNormalization(name="top_bn")(x)
    x = L.Activation("swish", name="top_swish")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dense(5, activation="softmax", name="predictions")(x)
    model = keras.Model(inp, x, name="efficient_block")
    randomize_weights(model.weights, rs)
    # The Normalization statistics: random per-channel mean, variance 0.02..0.1 (inputs are
    # standard normal / 255, so this keeps the stem's input O(1)).
    norm.adapt_mean.assign(rs.normal(0.0, 0.01, (3,)).astype(np.float32))
    norm.adapt_variance.assign(rs.uniform(0.02, 0.1, (3,)).astype(np.float32) * 1e-3)
    norm.finalize_state()

    def checks(gd):
        ops = op_histogram(gd)
        for op in ("IdentityN", "Sigmoid", "RealDiv", "Sqrt", "Maximum", "Sub", "Shape", "Pack"):
            assert ops[op] > 0, op
        return f"Sigmoid={ops['Sigmoid']}, IdentityN={ops['IdentityN']}, Normalization ops present"

    size = write_case(
        out, "efficient_block",
        "EfficientNet pieces on 12x12x3: Rescaling(1/255) (Mul, AddV2 of 0) and Normalization "
        "(Sub, Sqrt, Maximum, RealDiv by constants); Conv2D s2 + BN + swish (tf.nn.silu: "
        "Mul(1, x), Sigmoid, Mul, IdentityN); DepthwiseConv2D + BN + swish; squeeze-excite as in "
        "EfficientNet (GAP, Reshape((1,1,16)) via Shape/StridedSlice/Pack, 1x1 Conv2D with swish "
        "and sigmoid activations, multiply (N,6,6,16)x(N,1,1,16)); 1x1 project + BN, Dropout, "
        "residual add; top conv + BN + swish; GAP; Dense(5, softmax).",
        lambda x: model(x, training=False), [(12, 12, 3)], 707, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "efficient_block.h5"))
    return size


class LayerScale(keras.layers.Layer):
    """ConvNeXt's layer scale: a learned per-channel multiply (custom layer)."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.gamma = self.add_weight(name="gamma", shape=(dim,), initializer="ones")

    def call(self, x):
        return x * self.gamma


def case_convnext_block(out, ref):
    """ConvNeXt stem and block."""
    rs = seed_all(808)
    L = keras.layers
    inp = keras.Input(shape=(12, 12, 3), name="input")
    x = L.Normalization(axis=-1, mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.5],
                        name="prestem_normalization")(inp)
    x = L.Conv2D(16, 2, strides=2, name="stem_conv")(x)  # 6x6x16
    x = L.LayerNormalization(epsilon=1e-6, name="stem_ln")(x)
    shortcut = x
    # ConvNeXt uses Conv2D(groups=C), which freezes to a function call; DepthwiseConv2D is
    # the same computation without one.
    y = L.DepthwiseConv2D(7, padding="same", name="dw")(x)
    y = L.LayerNormalization(epsilon=1e-6, name="ln")(y)
    y = L.Dense(64, name="pw1")(y)  # Dense on NHWC: tensordot (Reshape, MatMul, Reshape)
    y = L.Activation("gelu", name="gelu")(y)
    y = L.Dense(16, name="pw2")(y)
    y = LayerScale(16, name="layer_scale")(y)
    x = L.Add(name="residual")([shortcut, y])
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.LayerNormalization(epsilon=1e-6, name="head_ln")(x)
    x = L.Dense(5, activation="softmax", name="head")(x)
    model = keras.Model(inp, x, name="convnext_block")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        for op in ("Erfc", "Rsqrt", "SquaredDifference", "Transpose", "GatherV2", "Prod", "RealDiv"):
            assert ops[op] > 0, op
        assert ops["Mean"] >= 6, ops["Mean"]
        return f"Erfc={ops['Erfc']}, SquaredDifference={ops['SquaredDifference']}, MatMul={ops['MatMul']}"

    return write_case(
        out, "convnext_block",
        "ConvNeXt pieces on 12x12x3: Normalization with constant mean/variance; Conv2D 2x2 s2 "
        "stem + LayerNormalization(eps 1e-6) (unfused: Mean, SquaredDifference, Rsqrt, Mul, Sub, "
        "AddV2); block: DepthwiseConv2D 7x7 same, LayerNormalization, Dense(64) on NHWC "
        "(tensordot: Shape/GatherV2/Prod/Pack/Transpose/Reshape/MatMul/Reshape), gelu "
        "(exact: Erfc), Dense(16), custom LayerScale layer (x * gamma, per-channel Mul), "
        "residual Add; GAP; LayerNormalization on rank 2; Dense(5, softmax). No Keras "
        "reference .h5 (the custom layer).",
        lambda x: model(x, training=False), [(12, 12, 3)], 808, checks,
    )


class AddPositionEmbedding(keras.layers.Layer):
    """A learned position embedding: adds a (tokens, dim) weight (custom layer, as ViTs write it)."""

    def build(self, input_shape):
        self.position = self.add_weight(name="position", shape=tuple(input_shape[1:]))

    def call(self, x):
        return x + self.position


class ClassToken(keras.layers.Layer):
    """A learned (1, 1, D) class token put before the tokens, as vit-keras writes it:
    tf.broadcast_to over the batch size read with tf.shape, then tf.concat on the tokens."""

    def build(self, input_shape):
        self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]))

    def call(self, x):
        batch = tf.shape(x)[0]
        token = tf.broadcast_to(self.token, [batch, 1, x.shape[-1]])
        return tf.concat([token, x], axis=1)


class TokenScale(keras.layers.Layer):
    """A learned scale of any broadcastable shape (the seed article's custom multiply)."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[1], 1))

    def call(self, x):
        return x * self.scale


def case_vit_stem(out, ref):
    """The non-attention half of a ViT encoder: constants of any shape, LayerNorm on 3-D."""
    rs = seed_all(1616)
    L = keras.layers
    inp = keras.Input(shape=(16, 16, 3), name="image")
    x = L.Conv2D(32, 4, strides=4, name="patch_conv")(inp)  # 4x4x32
    x = L.Reshape((16, 32), name="patches")(x)
    x = AddPositionEmbedding(name="position_embedding")(x)
    y = L.LayerNormalization(epsilon=1e-6, name="ln1")(x)
    y = L.Dense(64, activation="gelu", name="mlp1")(y)
    y = L.Dense(32, name="mlp2")(y)
    x = L.Add(name="residual")([x, y])
    x = L.LayerNormalization(axis=[1, 2], epsilon=1e-6, name="ln_tokens")(x)
    x = L.LayerNormalization(epsilon=1e-6, center=False, name="ln_nocenter")(x)
    x = L.LayerNormalization(epsilon=1e-6, scale=False, name="ln_noscale")(x)
    x = TokenScale(name="token_scale")(x)
    x = L.Softmax(axis=1, name="token_softmax")(x)
    model = keras.Model(inp, x, name="vit_stem")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        for op in ("Erfc", "Rsqrt", "SquaredDifference", "Softmax"):
            assert ops[op] > 0, op
        return f"Mean={ops['Mean']}, MatMul={ops['MatMul']}, Mul={ops['Mul']}"

    return write_case(
        out, "vit_stem",
        "ViT-style stem on 16x16x3 without attention: Conv2D(32, 4, s4) patches, Reshape to 16 "
        "tokens, a custom layer adding a learned (16, 32) position embedding, LayerNormalization "
        "(eps 1e-6, last axis), Dense(64, gelu)/Dense(32) on 3-D tensors, residual Add, "
        "LayerNormalization over axes [1, 2], LayerNormalization without center and without "
        "scale, a custom layer multiplying by a learned (16, 1) weight, Softmax over axis 1.",
        lambda x: model(x, training=False), [(16, 16, 3)], 1616, checks,
    )


def case_einsum_dense(out, ref):
    """tf-keras EinsumDense in the equations Dense and MultiHeadAttention's projections write."""
    rs = seed_all(1717)
    L = keras.layers
    ED = keras.layers.EinsumDense
    inp = keras.Input(shape=(16, 32), name="tokens")
    x = ED("abc,cd->abd", output_shape=(None, 48), bias_axes="d", activation="gelu", name="mlp")(inp)
    heads = ED("abc,cde->abde", output_shape=(None, 2, 8), bias_axes="de", name="query")(x)
    x = ED("abcd,cde->abe", output_shape=(None, 32), bias_axes="e", name="attention_output")(heads)
    x = L.Add(name="residual")([inp, x])
    x = ED("abc,cd->abd", output_shape=(None, 8), name="no_bias")(x)
    model = keras.Model(inp, x, name="einsum_dense")
    randomize_weights(model.weights, rs)

    def checks(gd):
        equations = sorted(n.attr["equation"].s.decode() for n in gd.node if n.op == "Einsum")
        assert equations == ["abc,cd->abd", "abc,cd->abd", "abc,cde->abde", "abcd,cde->abe"], equations
        return f"Einsum {equations}"

    return write_case(
        out, "einsum_dense",
        "tf-keras EinsumDense on (16, 32) tokens (TF Einsum ops, which tract-tensorflow lacks): "
        "'abc,cd->abd' with bias and gelu, 'abc,cde->abde' (a MultiHeadAttention head projection, "
        "bias over (heads, dim)), 'abcd,cde->abe' (the attention output projection), residual Add, "
        "'abc,cd->abd' without bias.",
        lambda x: model(x, training=False), [(16, 32)], 1717, checks,
    )


def case_vit_tiny(out, ref):
    """A ViT-tiny: patches, a class token, learned positions, 2 encoder blocks with
    MultiHeadAttention, the head on the class token."""
    rs = seed_all(1818)
    L = keras.layers
    inp = keras.Input(shape=(16, 16, 3), name="image")
    x = L.Conv2D(32, 4, strides=4, name="patch_conv")(inp)
    x = L.Reshape((16, 32), name="patches")(x)
    x = ClassToken(name="class_token")(x)
    x = AddPositionEmbedding(name="position_embedding")(x)
    for block in range(2):
        y = L.LayerNormalization(epsilon=1e-6, name=f"block{block}_ln1")(x)
        y = L.MultiHeadAttention(num_heads=2, key_dim=16, dropout=0.1, name=f"block{block}_attention")(y, y)
        x = L.Add(name=f"block{block}_residual1")([x, y])
        y = L.LayerNormalization(epsilon=1e-6, name=f"block{block}_ln2")(x)
        y = L.Dense(64, activation="gelu", name=f"block{block}_mlp1")(y)
        y = L.Dense(32, name=f"block{block}_mlp2")(y)
        x = L.Add(name=f"block{block}_residual2")([x, y])
    x = L.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    x = L.Lambda(lambda t: t[:, 0], name="class_output")(x)
    x = L.Dense(5, name="head")(x)
    model = keras.Model(inp, x, name="vit_tiny")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["Einsum"] == 12 and ops["Softmax"] == 2 and ops["BroadcastTo"] == 1, ops
        return f"Einsum={ops['Einsum']}, Softmax={ops['Softmax']}, BroadcastTo={ops['BroadcastTo']}"

    return write_case(
        out, "vit_tiny",
        "ViT-tiny on 16x16x3: Conv2D(32, 4, s4) patches, 16 tokens, a learned (1, 1, 32) class "
        "token put first (custom layer: tf.broadcast_to over tf.shape(x)[0], tf.concat), learned "
        "(17, 32) positions (custom layer), 2 pre-norm encoder blocks: LayerNormalization, MultiHeadAttention(2 heads, "
        "key_dim 16, dropout 0.1: inactive) as Einsum ops (projections 'abc,cde->abde', scores "
        "'aecd,abcd->acbe', softmax over keys, mix 'acbe,aecd->abcd', output 'abcd,cde->abe'), "
        "residual, LayerNormalization, Dense(64, gelu), Dense(32), residual; final "
        "LayerNormalization, the class token (x[:, 0]), Dense(5) (logits: no softmax to hide errors).",
        lambda x: model(x, training=False), [(16, 16, 3)], 1818, checks,
    )


class SlicedPositions(keras.layers.Layer):
    """Learned positions as BERT writes them: the first n rows of a (max_length, D) table,
    broadcast to the token embeddings' shape."""

    def build(self, input_shape):
        self.table = self.add_weight(name="table", shape=(16, input_shape[-1]))

    def call(self, x):
        return tf.broadcast_to(self.table[: tf.shape(x)[1]], tf.shape(x))


class PaddingMask(keras.layers.Layer):
    """The attention mask of padded token ids: ids != 0, broadcast over the queries."""

    def call(self, ids):
        return tf.not_equal(ids, 0)[:, tf.newaxis, :]


def case_bert_tiny(out, ref):
    """A BERT-tiny encoder on int32 token and segment ids, with a padding mask from the ids."""
    rs = seed_all(2121)
    L = keras.layers
    tokens, vocab, dim = 8, 30, 32
    ids = keras.Input(shape=(tokens,), dtype="int32", name="token_ids")
    segments = keras.Input(shape=(tokens,), dtype="int32", name="segment_ids")
    token_embedding = L.Embedding(vocab, dim, name="token_embedding")(ids)
    x = L.Add(name="embeddings")([
        token_embedding,
        L.Embedding(2, dim, name="segment_embedding")(segments),
        SlicedPositions(name="position_embedding")(token_embedding),
    ])
    x = L.LayerNormalization(epsilon=1e-12, name="embeddings_ln")(x)
    mask = PaddingMask(name="padding_mask")(ids)
    for layer in range(2):
        a = L.MultiHeadAttention(num_heads=2, key_dim=16, dropout=0.1, name=f"layer{layer}_attention")(
            x, x, attention_mask=mask)
        x = L.LayerNormalization(epsilon=1e-12, name=f"layer{layer}_attention_ln")(
            L.Add(name=f"layer{layer}_residual1")([x, a]))
        f = L.Dense(64, activation="gelu", name=f"layer{layer}_intermediate")(x)
        f = L.Dense(dim, name=f"layer{layer}_output")(f)
        x = L.LayerNormalization(epsilon=1e-12, name=f"layer{layer}_output_ln")(
            L.Add(name=f"layer{layer}_residual2")([x, f]))
    pooled = L.Dense(dim, activation="tanh", name="pooler")(L.Lambda(lambda t: t[:, 0], name="cls")(x))
    model = keras.Model([ids, segments], [x, pooled], name="bert_tiny")
    randomize_weights(model.weights, rs)

    def draw_ids(rs, shape):
        """Ids 1..vocab, padded with 0 after a random length of 2 or more."""
        drawn = rs.randint(1, vocab, shape)
        for row in drawn:
            row[rs.randint(2, shape[1] + 1):] = 0
        return drawn.astype(np.int32)

    def draw_segments(rs, shape):
        return (np.arange(shape[1]) >= rs.randint(1, shape[1], (shape[0], 1))).astype(np.int32)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["NotEqual"] == 1 and ops["Einsum"] == 12 and ops["GatherV2"] >= 2, ops
        new_axis = [n for n in gd.node if n.op == "StridedSlice" and n.attr["new_axis_mask"].i]
        assert len(new_axis) == 1, new_axis
        return f"NotEqual={ops['NotEqual']}, Einsum={ops['Einsum']}, Softmax={ops['Softmax']}"

    return write_case(
        out, "bert_tiny",
        "BERT-tiny encoder on 8 int32 token ids x0 (vocabulary 30; 0 pads, after 2..8 real tokens) "
        "and segment ids x1 (0/1): Embedding(30, 32) tokens + Embedding(2, 32) segments + learned "
        "positions (custom layer: the first 8 rows of a (16, 32) table, broadcast_to), "
        "LayerNormalization (eps 1e-12); a padding mask ids != 0 (NotEqual, then [:, tf.newaxis, :]); "
        "2 post-norm encoder layers: MultiHeadAttention(2 heads, key_dim 16, dropout inactive) with "
        "the mask as attention_mask (softmax(scores + (1 - mask) * -1e9)), residual, "
        "LayerNormalization, Dense(64, gelu erf), Dense(32), residual, LayerNormalization. Outputs: "
        "the sequence (Identity) and the pooled output Dense(32, tanh) of the first token (Identity_1).",
        lambda a, b: model([a, b], training=False), [(tokens,), (tokens,)], 2121, checks,
        dtype=tf.int32, draw=[draw_ids, draw_segments],
    )


def case_dilated_block(out, ref):
    """Dilated Keras Conv2D and DepthwiseConv2D (space-to-batch form)."""
    rs = seed_all(909)
    L = keras.layers
    inp = keras.Input(shape=(13, 11, 4), name="input")
    x = L.Conv2D(8, 3, dilation_rate=2, padding="same", name="conv_d2")(inp)
    x = L.ReLU(name="relu")(x)
    x = L.DepthwiseConv2D(3, dilation_rate=2, padding="same", name="dw_d2_same")(x)
    x = L.DepthwiseConv2D(3, dilation_rate=(2, 3), padding="valid", depth_multiplier=2,
                          use_bias=False, name="dw_d23_valid")(x)  # 9x5x16
    x = L.Conv2D(8, 3, dilation_rate=(3, 2), padding="valid", activation="relu", name="conv_d3")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(4, name="dense")(x)
    model = keras.Model(inp, x, name="dilated_block")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        # tf-keras 2.21 writes every dilated convolution, Conv2D included, in space-to-batch form.
        assert ops["SpaceToBatchND"] == 4 and ops["BatchToSpaceND"] == 4, ops
        convs = [n for n in gd.node if n.op == "Conv2D"]
        dil = sorted(tuple(n.attr["dilations"].list.i) for n in convs)
        return f"SpaceToBatchND={ops['SpaceToBatchND']}, Conv2D dilations {dil}"

    size = write_case(
        out, "dilated_block",
        "Dilated convolutions on 13x11x4 (odd sizes: space-to-batch pads and crops), each "
        "frozen by tf-keras as SpaceToBatchND -> conv -> BatchToSpaceND: Keras Conv2D(dilation "
        "2, same), ReLU; DepthwiseConv2D(dilation 2, same); DepthwiseConv2D(dilation (2,3), "
        "valid, depth_multiplier 2, no bias); Conv2D(dilation "
        "(3,2), valid, relu); Flatten; Dense(4), linear output.",
        lambda x: model(x, training=False), [(13, 11, 4)], 909, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "dilated_block.h5"))
    return size


class DecomposedOps(tf.Module):
    """Raw TF ops as other exporters write them (Keras 3's batch normalization, ...)."""

    def __init__(self):
        super().__init__(name="decomposed_ops")
        self.mean = tf.Variable(tf.zeros([6]), name="mean")
        self.variance = tf.Variable(tf.zeros([6]), name="variance")
        self.beta = tf.Variable(tf.zeros([6]), name="beta")
        self.gamma = tf.Variable(tf.zeros([6]), name="gamma")
        self.ln_gamma = tf.Variable(tf.zeros([6]), name="ln_gamma")
        self.ln_beta = tf.Variable(tf.zeros([6]), name="ln_beta")
        self.grouped = tf.Variable(tf.zeros([3, 3, 1, 12]), name="grouped_kernel")
        self.kernel = tf.Variable(tf.zeros([3 * 6 * 12, 5]), name="kernel")
        self.bias = tf.Variable(tf.zeros([5]), name="bias")

    def __call__(self, x):
        # Keras 3 BatchNormalization (TF backend) = tf.nn.batch_normalization: Rsqrt, Mul,
        # Sub, AddV2 on constants, then x * inv + shift.
        y = tf.nn.batch_normalization(x, self.mean, self.variance, self.beta, self.gamma, 1e-3)
        y = tf.nn.leaky_relu(y, alpha=0.3)
        y = y[:, 1:, :-1, :]                       # StridedSlice crop -> 7x6x6
        y = tf.transpose(y, [0, 2, 1, 3])           # Permute -> 6x7x6
        mean, var = tf.nn.moments(y, axes=[-1], keepdims=True)
        y = tf.nn.batch_normalization(y, mean, var, self.ln_beta, self.ln_gamma, 1e-5)
        a = tf.nn.elu(y) + tf.nn.selu(y)            # Add of two tensors
        b = tf.nn.softplus(y) - tf.nn.softsign(y)   # Subtract
        y = tf.maximum(a, b) * 0.5
        y = 0.5 * y * (1.0 + tf.math.erf(y / 1.4142135623730951))  # GELU, erf form
        y = tf.square(y) / 2.5 - 0.25               # Multiply, Normalization, Rescaling
        y = y * tf.math.reciprocal(self.gamma) + tf.exp(self.beta)  # folded Reciprocal, Exp
        y = tf.exp(-tf.nn.relu(y)) - 3.0 * y        # Neg, Exp of a tensor
        y = tf.squeeze(tf.expand_dims(y, -1), -1)   # ExpandDims(-1) and Squeeze: Reshapes
        # Grouped Conv2D, one input channel per group (Keras Conv2D(groups=C), ConvNeXt):
        # filter (3, 3, 1, 12) on 6 channels -> 6 groups of 2 outputs.
        y = tf.nn.conv2d(y, self.grouped, 1, "SAME")
        y = tf.nn.relu(y)[:, :, :3, :]              # crop W -> 6x3x6 (slice end, no mask)
        y = tf.reshape(y, [tf.shape(y)[0], -1])     # Flatten via Shape/StridedSlice/Pack
        return tf.nn.softmax(tf.matmul(y, self.kernel) + self.bias)


def case_decomposed_ops(out, ref):
    rs = seed_all(1010)
    mod = DecomposedOps()
    randomize_weights(mod.trainable_variables, rs)
    mod.ln_gamma.assign(rs.uniform(0.5, 1.5, (6,)).astype(np.float32))
    mod.ln_beta.assign(rs.normal(0.0, 0.5, (6,)).astype(np.float32))

    def checks(gd):
        ops = op_histogram(gd)
        for op in ("Rsqrt", "LeakyRelu", "StridedSlice", "Transpose", "SquaredDifference",
                   "Elu", "Selu", "Softplus", "Softsign", "Maximum", "Erf", "Square", "RealDiv",
                   "Reciprocal", "Exp", "Neg", "ExpandDims", "Squeeze"):
            assert ops[op] > 0, op
        return f"Rsqrt={ops['Rsqrt']}, Erf, LeakyRelu, elu/selu/softplus/softsign present"

    return write_case(
        out, "decomposed_ops",
        "Raw tf.Module on 8x7x6: tf.nn.batch_normalization with constant statistics (Keras 3's "
        "BatchNormalization export: Rsqrt/Mul/Sub/AddV2 on constants, then x * inv + shift), "
        "leaky_relu(0.3), StridedSlice crop of H and W, transpose of H and W, tf.nn.moments + "
        "batch_normalization over channels (layer norm, eps 1e-5), elu + selu, softplus - "
        "softsign, maximum of tensors, * 0.5, GELU in erf form (0.5 x (1 + erf(x / sqrt 2))), "
        "square / 2.5 - 0.25, * reciprocal(const) + exp(const) (folded), exp(-relu(y)) - 3y, "
        "expand_dims(-1) then squeeze(-1), grouped Conv2D (filter 3x3x1x12 on 6 channels), relu, "
        "crop, reshape to [tf.shape(y)[0], -1], matmul + bias, "
        "softmax. No Keras reference model.",
        mod.__call__, [(8, 7, 6)], 1010, checks,
    )

def case_frozen_function_call(out, ref):
    """A frozen graph that still calls functions (Keras grouped convolutions, as in ConvNeXt)."""
    rs = seed_all(1212)
    L = keras.layers
    inp = keras.Input(shape=(7, 7, 6), name="input")
    # tf-keras runs Conv2D(groups > 1) as a tf.function(jit_compile=True); TF's freezer does
    # not inline XLA-compiled functions, so each stays a PartitionedCall into the library.
    x = L.Conv2D(6, 3, padding="same", groups=6, name="grouped_same")(inp)  # 7x7x6
    x = L.ReLU(name="relu")(x)
    x = L.Conv2D(12, 3, strides=2, groups=6, use_bias=False, name="grouped_valid")(x)  # 3x3x12
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dense(4, activation="softmax", name="dense")(x)
    model = keras.Model(inp, x, name="frozen_function_call")
    randomize_weights(model.weights, rs)
    # A grouped kernel's fan-in is its 3x3 window.
    for layer in ("grouped_same", "grouped_valid"):
        kernel = model.get_layer(layer).kernel
        kernel.assign((rs.normal(0.0, 1.0, kernel.shape) / 3.0).astype(np.float32))

    def checks(gd):
        calls = [n for n in gd.node if n.op in FORBIDDEN_OPS]
        assert len(calls) == 2, [n.name for n in calls]
        assert all(n.attr["_XlaMustCompile"].b for n in calls), "expected XLA-compiled calls"
        called = {n.attr["f"].func.name for n in calls}
        defined = {f.signature.name for f in gd.library.function}
        assert called <= defined, (called, defined)
        inner = sorted(n.op for f in gd.library.function for n in f.node_def)
        return f"{len(calls)} {calls[0].op} nodes kept (XLA), library ops {inner}"

    size = write_case(
        out, "frozen_function_call",
        "A frozen GraphDef that still holds function calls: tf-keras runs Conv2D(groups > 1) as "
        "tf.function(jit_compile=True), which convert_variables_to_constants_v2 leaves as "
        "PartitionedCall nodes plus the graph's function library (as in keras.applications "
        "ConvNeXt). On 7x7x6: Conv2D(6, 3x3, same, groups 6) -> ReLU -> Conv2D(12, 3x3, stride 2, "
        "valid, groups 6, no bias) (one input channel per group: DepthwiseConv2D) -> "
        "GlobalAveragePooling2D -> Dense(4, softmax).",
        lambda x: model(x, training=False), [(7, 7, 6)], 1212, checks, keep_calls=True,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "frozen_function_call.h5"))
    return size


def case_upsample_block(out, ref):
    """A U-Net decoder step (UpSampling2D) and a ResNeXt grouped convolution."""
    rs = seed_all(1313)
    L = keras.layers
    inp = keras.Input(shape=(8, 6, 4), name="input")
    skip = L.Conv2D(8, 3, padding="same", activation="relu", name="encode")(inp)  # 8x6x8
    x = L.MaxPooling2D(2, name="down")(skip)  # 4x3x8
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="bottleneck")(x)
    x = L.UpSampling2D(2, name="up")(x)  # 8x6x8, TF ResizeNearestNeighbor
    x = L.Concatenate(name="skip_concat")([x, skip])  # 8x6x16
    # Four input channels per group: a Keras Conv2D(groups), not a depthwise convolution.
    x = L.Conv2D(12, 3, padding="same", groups=4, name="grouped")(x)
    x = L.ReLU(name="relu")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dense(5, activation="softmax", name="dense")(x)
    model = keras.Model(inp, x, name="upsample_block")
    randomize_weights(model.weights, rs)
    kernel = model.get_layer("grouped").kernel  # fan-in: 3x3 window x 4 channels
    kernel.assign((rs.normal(0.0, 1.0, kernel.shape) / 6.0).astype(np.float32))

    def checks(gd):
        ops = op_histogram(gd)
        assert ops.get("ResizeNearestNeighbor") == 1, ops
        calls = [n for n in gd.node if n.op in FORBIDDEN_OPS]
        inner = sorted(n.op for f in gd.library.function for n in f.node_def)
        assert len(calls) == 1 and "Conv2D" in inner, (calls, inner)
        return f"ResizeNearestNeighbor=1, {len(calls)} XLA call, library ops {inner}"

    size = write_case(
        out, "upsample_block",
        "U-Net decoder step and grouped convolution on 8x6x4: Conv2D(8, same, relu) (the skip) -> "
        "MaxPooling2D(2) -> Conv2D(8, same, relu) -> UpSampling2D(2) (ResizeNearestNeighbor, "
        "half-pixel centers) -> Concatenate with the skip -> Conv2D(12, 3x3, same, groups 4: four "
        "input channels per group, an XLA-compiled call) -> ReLU -> GlobalAveragePooling2D -> "
        "Dense(5, softmax).",
        lambda x: model(x, training=False), [(8, 6, 4)], 1313, checks, keep_calls=True,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "upsample_block.h5"))
    return size


def case_aspp_block(out, ref):
    """A DeepLab-style ASPP head with TF's three bilinear samplings (ResizeBilinear)."""
    rs = seed_all(1717)
    L = keras.layers
    inp = keras.Input(shape=(13, 10, 3), name="image")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(inp)  # 7x5x8
    near = L.Conv2D(6, 1, activation="relu", name="aspp_1x1")(x)
    wide = L.Conv2D(6, 3, dilation_rate=2, padding="same", activation="relu", name="aspp_rate2")(x)
    # Image pooling back to 7x5 with align_corners (the original DeepLab v3 code, TF 1 API).
    pooled = L.GlobalAveragePooling2D(keepdims=True, name="image_pool")(x)
    pooled = L.Conv2D(6, 1, activation="relu", name="pool_proj")(pooled)
    pooled = tf.compat.v1.image.resize_bilinear(pooled, (7, 5), align_corners=True)
    x = L.Concatenate(name="aspp_concat")([near, wide, pooled])
    x = L.Conv2D(8, 1, activation="relu", name="aspp_proj")(x)
    x = L.UpSampling2D(2, interpolation="bilinear", name="up")(x)  # 14x10, half-pixel centers
    # Back to the input size, 14 -> 13 rows, with TF 1's asymmetric corners.
    x = tf.compat.v1.image.resize_bilinear(x, (13, 10))
    x = L.Concatenate(name="skip")([x, inp])
    # A non-integral enlargement, 13x10 -> 20x16, as Keras's Resizing writes it (half-pixel).
    x = L.Resizing(20, 16, interpolation="bilinear", name="resize")(x)
    x = L.Conv2D(4, 1, name="classes")(x)
    model = keras.Model(inp, x, name="aspp_block")
    randomize_weights(model.weights, rs)

    def checks(gd):
        resizes = [n for n in gd.node if n.op == "ResizeBilinear"]
        modes = sorted((n.attr["align_corners"].b, n.attr["half_pixel_centers"].b) for n in resizes)
        assert modes == [(False, False), (False, True), (False, True), (True, False)], modes
        return f"ResizeBilinear (align_corners, half_pixel_centers): {modes}"

    return write_case(
        out, "aspp_block",
        "DeepLab-style ASPP head on 13x10x3: Conv2D(8, stride 2) to 7x5; branches Conv2D 1x1, "
        "Conv2D 3x3 rate 2, and image pooling (GlobalAveragePooling2D -> Conv2D 1x1 -> "
        "tf.compat.v1 resize_bilinear to 7x5 with align_corners); Concatenate -> Conv2D 1x1 -> "
        "UpSampling2D(2, bilinear) (half-pixel centers) -> resize_bilinear to 13x10 (TF 1 "
        "asymmetric corners) -> Concatenate with the image -> Resizing(20, 16, bilinear) -> "
        "Conv2D(4, 1). TF writes four ResizeBilinear nodes covering its three samplings; "
        "tract-tensorflow reads none (the oracle maps them onto tract-core's linear Resize).",
        lambda x: model(x, training=False), [(13, 10, 3)], 1717, checks,
    )


def case_reflect_front_end(out, ref):
    """A reflect-padded 1-D audio front end: TF MirrorPad and StridedSlice on ranks 2, 3, 4."""
    rs = seed_all(1818)
    L = keras.layers
    inp = keras.Input(shape=(64,), name="audio")
    # Centred framing as an STFT front end pads: reflect 16 samples on each side of raw audio.
    x = tf.pad(inp, [[0, 0], [16, 16]], mode="REFLECT")  # 96
    x = x[:, 4:-4]  # 88: a crop of raw audio (rank 2)
    x = L.Reshape((88, 1), name="to_frames")(x)
    x = L.Conv1D(8, 16, strides=4, activation="relu", name="frames")(x)  # 19x8
    x = x[:, :, 1:7]  # 19x6: a channel crop (rank 3)
    x = tf.pad(x, [[0, 0], [2, 3], [0, 0]], mode="SYMMETRIC")  # 24x6
    x = L.Conv1D(6, 5, activation="relu", name="conv1d")(x)  # 20x6
    last = x[:, -1]  # the last frame (shrink_axis_mask), 6
    x = L.Reshape((20, 6, 1), name="to_image")(x)
    x = tf.pad(x, [[0, 0], [1, 1], [2, 2], [0, 0]], mode="REFLECT")  # 22x10x1
    x = L.Conv2D(4, 3, activation="relu", name="conv2d")(x)  # 20x8x4
    x = x[:, 2:-2, :, 1:]  # 16x8x3: rows and channels (rank 4)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Concatenate(name="with_last")([x, last])
    x = L.Dense(3, name="dense")(x)
    model = keras.Model(inp, x, name="reflect_front_end")
    randomize_weights(model.weights, rs)

    def checks(gd):
        modes = sorted(n.attr["mode"].s.decode() for n in gd.node if n.op == "MirrorPad")
        assert modes == ["REFLECT", "REFLECT", "SYMMETRIC"], modes
        return f"MirrorPad modes {modes}"

    return write_case(
        out, "reflect_front_end",
        "Reflect-padded audio front end on 64 raw samples (rank 2): MirrorPad REFLECT 16|16 (as a "
        "centred STFT pads) -> x[:, 4:-4] (StridedSlice of rank 2) -> Reshape (88, 1) -> "
        "Conv1D(8, 16, stride 4, relu) -> x[:, :, 1:7] (channels of rank 3) -> MirrorPad SYMMETRIC "
        "2|3 of time -> Conv1D(6, 5, relu); its last frame x[:, -1] (shrink_axis_mask) aside -> "
        "Reshape (20, 6, 1) -> MirrorPad REFLECT 1|1 rows and 2|2 columns (rank 4) -> Conv2D(4, 3, "
        "relu) -> x[:, 2:-2, :, 1:] (rows and channels) -> GlobalAveragePooling2D -> Concatenate "
        "with the last frame -> Dense(3). tract-tensorflow lacks MirrorPad (the oracle gathers "
        "the cells each padded axis reads).",
        lambda x: model(x, training=False), [(64,)], 1818, checks,
    )

class CheckedScale(keras.layers.Layer):
    """A layer with tf.debugging checks inside (as real models ship them): asserts on the
    input's static channel count and on a value range, and check_numerics on its output."""

    def call(self, x):
        tf.debugging.assert_equal(tf.shape(x)[-1], 6, message="expected 6 channels")
        tf.debugging.assert_less(tf.reduce_max(tf.abs(x)), 1e6, message="input out of range")
        y = tf.debugging.check_numerics(x * 0.5 + 1.0, "scaled input")
        return y


def case_debug_checks(out, ref):
    """Graph hygiene: tf.debugging checks inside Keras layers freeze to Assert nodes that only
    control edges read, plus CheckNumerics on the data path; none of them is a model output."""
    rs = seed_all(1313)
    L = keras.layers
    inp = keras.Input(shape=(5, 5, 6), name="input")
    y = CheckedScale(name="checked")(inp)
    y = L.Conv2D(4, 3, activation="relu", name="conv")(y)
    y = CheckedScale(name="checked_again")(L.Conv2D(6, 1, name="expand")(y))
    y = L.GlobalAveragePooling2D(name="gap")(y)
    model = keras.Model(inp, L.Dense(3, name="dense")(y), name="debug_checks")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["Assert"] >= 2 and ops["CheckNumerics"] >= 2, ops
        return f"Assert={ops['Assert']}, CheckNumerics={ops['CheckNumerics']}"

    size = write_case(
        out, "debug_checks",
        "Keras model on 5x5x6 whose custom layer runs tf.debugging.assert_equal (channel count), "
        "assert_less (value range) and check_numerics: Assert nodes read only through control "
        "edges, CheckNumerics on the data path; Conv2D, 1x1 Conv2D, GlobalAveragePooling2D, "
        "Dense.",
        lambda x: model(x, training=False), [(5, 5, 6)], 1313, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "debug_checks.h5"))
    return size


def case_gelu_tanh(out, ref):
    """A tanh-approximate GELU (keras.activations.gelu(approximate=True), keras-hub's BERT) and
    powers: TF freezes the cube as `Pow(x, 3)`, which converts as a product of copies; a Lambda's
    tf.pow(x, 2.0) and tf.pow(x, 4.0) likewise."""
    rs = seed_all(1910)
    L = keras.layers
    inp = keras.Input(shape=(3,), name="x")
    y = L.Dense(4, name="dense")(inp)
    g = L.Lambda(lambda t: keras.activations.gelu(t, approximate=True), name="gelu_tanh")(y)
    squared = L.Lambda(lambda t: tf.pow(t, 2.0), name="squared")(g)
    fourth = L.Lambda(lambda t: tf.pow(t, 4.0), name="fourth")(y)
    y = L.Concatenate(name="concat")([g, squared, fourth])
    model = keras.Model(inp, L.Dense(2, name="head")(y), name="gelu_tanh")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["Pow"] == 3, ops
        return f"Pow={ops['Pow']}"

    size = write_case(
        out, "gelu_tanh",
        "Dense(4) on (3,) -> gelu(approximate=True) (its cube frozen as Pow(x, 3)), tf.pow(., 2.0) of "
        "it and tf.pow(., 4.0) of the Dense, concatenated -> Dense(2).",
        lambda x: model(x, training=False), [(3,)], 1910, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "gelu_tanh.h5"))
    return size


def case_tf_refused_dynamic_rnn(out, ref):
    """`tf_refused/dynamic_rnn_frozen.pb`: a TF1 graph (control flow v1) of
    `tf.compat.v1.nn.dynamic_rnn` over an `LSTMCell(4)` on (5, 3) with `sequence_length` (an
    int32 input `lengths`), frozen. Its loop over TensorArrays keeps each row's state and writes
    zeros past its length (`Select`): no Keras layer masks by length, so tf2h5 refuses it naming
    the loop and sequence_length. `tf_refused/dynamic_rnn_peepholes.pb`: the same without
    `sequence_length` but with `LSTMCell(4, use_peepholes=True)`, which no Keras LSTM computes:
    refused naming the loop. Runs in a fresh process (it switches TF to graph mode and v1
    control flow)."""
    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.disable_control_flow_v2()
    d = os.path.join(out, "tf_refused")
    os.makedirs(d, exist_ok=True)
    size = 0
    for name, with_lengths, peepholes in [("dynamic_rnn_frozen", True, False), ("dynamic_rnn_peepholes", False, True)]:
        graph = tf.Graph()
        with graph.as_default():
            x = tf.compat.v1.placeholder(tf.float32, [None, 5, 3], name="x")
            lengths = tf.compat.v1.placeholder(tf.int32, [None], name="lengths") if with_lengths else None
            cell = tf.compat.v1.nn.rnn_cell.LSTMCell(4, use_peepholes=peepholes)
            outputs, _ = tf.compat.v1.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
            tf.identity(outputs[:, -1], name="y")
            with tf.compat.v1.Session() as session:
                load_seeded_tf1_variables(session, np.random.RandomState(1919))
                gd = tf.compat.v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), ["y"])
        ops = op_histogram(gd)
        assert ops["TensorArrayScatterV3"] == 1 and ops["NextIteration"] > 0, ops
        assert (ops["Select"] > 0) == with_lengths, ops
        data = gd.SerializeToString(deterministic=True)
        with open(os.path.join(d, f"{name}.pb"), "wb") as f:
            f.write(data)
        print(f"== tf_refused/{name}.pb: {len(gd.node)} nodes")
        size += len(data)
    return size


def case_dynamic_fcn(out, ref):
    """A fully convolutional net with unknown height and width."""
    rs = seed_all(1414)
    L = keras.layers
    inp = keras.Input(shape=(None, None, 3), name="input")
    y = L.Conv2D(8, 3, padding="same", name="conv")(inp)
    y = L.BatchNormalization(epsilon=1e-2, name="bn")(y)
    y = L.ReLU(name="relu")(y)
    y = L.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(y)
    y = L.MaxPooling2D(2, name="pool")(y)
    y = L.Conv2D(4, 1, activation="sigmoid", name="head")(y)
    model = keras.Model(inp, y, name="dynamic_fcn")
    randomize_weights(model.weights, rs)
    size = write_case(
        out, "dynamic_fcn",
        "Fully convolutional Keras net on (None, None, 3): Conv2D(8, 3, same), BatchNormalization "
        "(eps 1e-2), ReLU, DepthwiseConv2D(3, stride 2, same), MaxPooling2D(2), Conv2D(4, 1, "
        "sigmoid); TF outputs at 12x16 (x.npy) and 20x8 (runs[0]); the .h5 keeps H and W unknown.",
        lambda x: model(x, training=False), [(None, None, 3)], 1414,
        sizes=[[(12, 16, 3)], [(20, 8, 3)]],
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "dynamic_fcn.h5"))
    return size


def case_dynamic_sequence(out, ref):
    """A Keras model saved with Input((None, 4)): Dense on the last axis of a sequence."""
    rs = seed_all(1515)
    L = keras.layers
    inp = keras.Input(shape=(None, 4), name="input")
    y = L.Dense(8, activation="relu", name="dense")(inp)
    y = L.BatchNormalization(epsilon=1e-3, name="norm")(y)
    y = L.Dense(3, name="logits")(y)
    model = keras.Model(inp, y, name="dynamic_sequence")
    randomize_weights(model.weights, rs)
    size = write_case(
        out, "dynamic_sequence",
        "Keras model saved with Input((None, 4)): Dense(8, relu) on the last axis (tensordot with "
        "shape arithmetic on the unknown time axis), BatchNormalization, Dense(3); TF outputs at "
        "7 steps (x.npy) and 19 (runs[0]); the .h5 keeps the time axis unknown.",
        lambda x: model(x, training=False), [(None, 4)], 1515,
        sizes=[[(7, 4)], [(19, 4)]],
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "dynamic_sequence.h5"))
    return size


def case_dynamic_flatten(out, ref):
    """Unknown H and W before a Flatten and a Dense: only one size works."""
    rs = seed_all(1616)
    L = keras.layers
    inp = keras.Input(shape=(None, None, 2), name="input")
    y = L.Conv2D(3, 3, strides=2, activation="relu", name="conv")(inp)
    y = L.Reshape((-1,), name="flatten")(y)
    dense = L.Dense(5, name="dense")
    dense.build((None, 4 * 4 * 3))
    model = keras.Model(inp, dense(y), name="dynamic_flatten")
    randomize_weights(model.weights, rs)
    size = write_case(
        out, "dynamic_flatten",
        "Conv2D(3, 3, stride 2, valid) on (None, None, 2), Flatten, Dense(5) on 4x4x3 features: "
        "the graph keeps H and W unknown but only 9x9 or 10x10 inputs run; the .h5 fixes them.",
        lambda x: model(x, training=False), [(None, None, 2)], 1616,
        sizes=[[(10, 10, 2)]],
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "dynamic_flatten.h5"))
    return size


def case_text_embedding(out, ref):
    """A text classifier on int32 token ids: Embedding, pooling over the tokens, Dense."""
    rs = seed_all(1717)
    L = keras.layers
    inp = keras.Input(shape=(None,), dtype="int32", name="input")
    y = L.Embedding(50, 8, name="embedding")(inp)
    y = L.GlobalAveragePooling1D(name="pool")(y)
    y = L.Dense(3, activation="softmax", name="dense")(y)
    model = keras.Model(inp, y, name="text_embedding")
    randomize_weights(model.weights, rs)
    size = write_case(
        out, "text_embedding",
        "Text classifier on int32 token ids of unknown length: Embedding(50, 8) (a GatherV2 of a "
        "constant table, which bounds valid ids to 0..50), GlobalAveragePooling1D, Dense(3, "
        "softmax); TF outputs at 6 tokens (x.npy) and 11 (runs[0]).",
        lambda x: model(x, training=False), [(None,)], 1717,
        sizes=[[(6,)], [(11,)]], dtype=tf.int32,
        draw=lambda rs, shape: rs.randint(0, 50, shape).astype(np.int32),
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "text_embedding.h5"))
    return size
def case_tf_refused_loops(out, ref):
    """`tf_refused/`: TF models tf2h5 must refuse with exit code 2 (no meta.json, so the fixture
    suites skip them): loops that are not Keras RNNs, or not ones tf2h5 converts, refused naming
    the loop and its layer:
    - `while_loop_frozen.pb`: a `tf.while_loop` (x doubled until its sum passes 100, inside
      name scope `doubling`) frozen by convert_variables_to_constants_v2 into TF1 frames (raised
      back to a While at load, then refused as the SavedModel's is);
    - `sm_while_loop/`: the same loop as a SavedModel (a StatelessWhile whose body and cond
      are functions);
    - `sm_zero_output_masked/`: Embedding(mask_zero=True) -> LSTM(4, return_sequences,
      zero_output_for_mask=True) -> Dense(2), a tf-keras SavedModel whose loop writes zeros at
      masked steps outside a Bidirectional (which is where tf2h5 converts that form) (its
      function library pruned, `prune_function_library`)."""
    rs = seed_all(1908)
    d = os.path.join(out, "tf_refused")
    os.makedirs(d, exist_ok=True)

    def doubling(x):
        with tf.name_scope("doubling"):
            return tf.while_loop(lambda v: tf.reduce_sum(v) < 100.0, lambda v: [v * 2.0], [x])[0]

    spec = tf.TensorSpec([None, 3], tf.float32, name="x")
    _, gd = freeze(doubling, [spec])
    assert any(n.op == "NextIteration" for n in gd.node), "no lowered loop in the frozen graph"
    data = gd.SerializeToString(deterministic=True)
    with open(os.path.join(d, "while_loop_frozen.pb"), "wb") as f:
        f.write(data)
    size = len(data)

    module = tf.Module()
    module.serve = tf.function(doubling, input_signature=[spec])
    sm = os.path.join(d, "sm_while_loop")
    if os.path.isdir(sm):
        shutil.rmtree(sm)
    tf.saved_model.save(module, sm, signatures={"serving_default": module.serve})

    L = keras.layers
    inp = keras.Input(shape=(6,), dtype="int32", name="ids")
    y = L.Embedding(20, 5, mask_zero=True, name="embedding")(inp)
    y = L.LSTM(4, return_sequences=True, zero_output_for_mask=True, name="lstm")(y)
    y = L.Dense(2, name="dense")(y)
    model = keras.Model(inp, y, name="zero_output_masked")
    randomize_weights(model.weights, rs)
    module = tf.Module()
    module.weights_ = list(model.weights)
    module.serve = tf.function(lambda x: {"output_0": model(x, training=False)},
                               input_signature=[tf.TensorSpec([None, 6], tf.int32, name="x")])
    sm = os.path.join(d, "sm_zero_output_masked")
    if os.path.isdir(sm):
        shutil.rmtree(sm)
    tf.saved_model.save(module, sm, signatures={"serving_default": module.serve})
    prune_function_library(sm)
    for saved in ("sm_while_loop", "sm_zero_output_masked"):
        fingerprint = os.path.join(d, saved, "fingerprint.pb")
        if os.path.exists(fingerprint):
            os.remove(fingerprint)
        assets = os.path.join(d, saved, "assets")
        if os.path.isdir(assets) and not os.listdir(assets):
            os.rmdir(assets)
        for root, _, files in os.walk(os.path.join(d, saved)):
            size += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"== tf_refused loops: while_loop_frozen.pb ({len(gd.node)} nodes), sm_while_loop, sm_zero_output_masked")
    return size


def case_dcgan_generator(out, ref):
    """A DCGAN generator: Conv2DTranspose (TF Conv2DBackpropInput) in three geometries."""
    rs = seed_all(1414)
    L = keras.layers
    inp = keras.Input(shape=(8,), name="latent")
    x = L.Dense(2 * 2 * 16, use_bias=False, name="project")(inp)
    x = L.BatchNormalization(epsilon=2e-3, name="project_bn")(x)
    x = L.LeakyReLU(0.2, name="project_relu")(x)
    x = L.Reshape((2, 2, 16), name="reshape")(x)
    x = L.Conv2DTranspose(8, 4, strides=2, padding="same", use_bias=False, name="up1")(x)  # 4x4
    x = L.BatchNormalization(epsilon=2e-3, name="up1_bn")(x)
    x = L.LeakyReLU(0.2, name="up1_relu")(x)
    # An odd size from SAME: output_padding 0 where Keras's default would give 8.
    x = L.Conv2DTranspose(6, 3, strides=2, padding="same", output_padding=0, activation="relu",
                          name="up2")(x)  # 7x7
    # VALID with one extra row and column that no tap reaches (bias only, then tanh).
    x = L.Conv2DTranspose(3, 3, strides=2, padding="valid", output_padding=1, activation="tanh",
                          name="up3")(x)  # 16x16
    model = keras.Model(inp, x, name="dcgan_generator")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["Conv2DBackpropInput"] == 3, ops
        # Each output size is packed at run time from the batch (Shape, StridedSlice, Pack).
        assert ops["Pack"] >= 3 and ops["Shape"] >= 3, ops
        return f"Conv2DBackpropInput={ops['Conv2DBackpropInput']}, Pack={ops['Pack']}"

    size = write_case(
        out, "dcgan_generator",
        "DCGAN-style generator from an 8-d latent: Dense(64, no bias) -> BatchNormalization -> "
        "LeakyReLU(0.2) -> Reshape(2,2,16) -> Conv2DTranspose(8, 4x4, stride 2, same, no bias) "
        "-> BatchNormalization(eps 2e-3) -> LeakyReLU(0.2) -> Conv2DTranspose(6, 3x3, stride 2, "
        "same, output_padding 0: 7x7, relu) -> Conv2DTranspose(3, 3x3, stride 2, valid, "
        "output_padding 1: 16x16, tanh). TF writes each as Conv2DBackpropInput with input_sizes "
        "packed from the batch, which tract lacks (the oracle maps it onto tract-core Deconv).",
        lambda x: model(x, training=False), [(8,)], 1414, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "dcgan_generator.h5"))
    return size


def case_unet(out, ref):
    """A two-level U-Net: Conv2DTranspose and bilinear upsampling back to skip connections."""
    rs = seed_all(1919)
    L = keras.layers
    inp = keras.Input(shape=(16, 12, 3), name="image")

    def double_conv(x, filters, name):
        x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_a")(x)
        x = L.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
        x = L.ReLU(name=f"{name}_relu")(x)
        return L.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_b")(x)

    skip1 = double_conv(inp, 8, "down1")  # 16x12
    x = L.MaxPooling2D(2, name="pool1")(skip1)  # 8x6
    skip2 = double_conv(x, 12, "down2")
    x = L.MaxPooling2D(2, name="pool2")(skip2)  # 4x3
    x = double_conv(x, 16, "bottleneck")
    # Learned upsampling (Conv2DBackpropInput) on the deep level...
    x = L.Conv2DTranspose(12, 2, strides=2, name="up2")(x)  # 8x6
    x = L.Concatenate(name="skip2")([x, skip2])
    x = double_conv(x, 12, "up2_conv")
    # ...and bilinear upsampling (ResizeBilinear, half-pixel centers) then a 1x1 on the top one.
    x = L.UpSampling2D(2, interpolation="bilinear", name="up1")(x)  # 16x12
    x = L.Conv2D(8, 1, name="up1_proj")(x)
    x = L.Concatenate(name="skip1")([x, skip1])
    x = double_conv(x, 8, "up1_conv")
    x = L.Conv2D(2, 1, activation="sigmoid", name="mask")(x)
    model = keras.Model(inp, x, name="unet")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["Conv2DBackpropInput"] == 1 and ops["ResizeBilinear"] == 1 and ops["ConcatV2"] == 2, ops
        return f"Conv2DBackpropInput={ops['Conv2DBackpropInput']}, ResizeBilinear={ops['ResizeBilinear']}"

    return write_case(
        out, "unet",
        "A two-level U-Net on 16x12x3: per level Conv2D 3x3 (no bias) -> BatchNormalization -> "
        "ReLU -> Conv2D 3x3 relu, MaxPooling2D(2) down to 4x3; up: Conv2DTranspose(12, 2, "
        "stride 2) -> Concatenate with the 8x6 skip -> double conv; UpSampling2D(2, bilinear) -> "
        "Conv2D 1x1 -> Concatenate with the 16x12 skip -> double conv -> Conv2D(2, 1, sigmoid).",
        lambda x: model(x, training=False), [(16, 12, 3)], 1919, checks,
    )


def case_mixed_precision(out, ref):
    """A mixed_float16 tf-keras model: float16 compute (Cast nodes), float32 variables and output."""
    rs = seed_all(2020)
    L = keras.layers
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inp = keras.Input(shape=(8, 8, 3), name="image")
        x = L.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inp)
        x = L.BatchNormalization(epsilon=1e-3, name="bn")(x)
        x = L.ReLU(name="relu")(x)
        x = L.DepthwiseConv2D(3, strides=2, padding="same", name="depthwise")(x)
        x = L.GlobalAveragePooling2D(name="pool")(x)
        x = L.Dense(6, name="logits")(x)
        # Keras's advice for mixed precision: the last layer computes in float32.
        x = L.Activation("softmax", dtype="float32", name="probabilities")(x)
        model = keras.Model(inp, x, name="mixed_precision")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    randomize_weights(model.weights, rs)

    def checks(gd):
        casts = sorted({(n.attr["SrcT"].type, n.attr["DstT"].type) for n in gd.node if n.op == "Cast"})
        assert (tf.float32.as_datatype_enum, tf.float16.as_datatype_enum) in casts, casts
        return f"Cast (SrcT, DstT): {casts}"

    size = write_case(
        out, "mixed_precision",
        "A tf-keras model under the mixed_float16 policy on 8x8x3: Conv2D (no bias) -> "
        "BatchNormalization -> ReLU -> DepthwiseConv2D stride 2 -> GlobalAveragePooling2D -> "
        "Dense(6) in float16 (variables float32, Cast to half on read), softmax in float32. TF "
        "computes in half precision; y.npy holds TF's outputs.",
        lambda x: model(x, training=False), [(8, 8, 3)], 2020, checks,
    )
    # The .h5 computes in float32: it differs from TF's float16 outputs by their rounding.
    meta_path = os.path.join(out, "mixed_precision", "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["atol"] = 1e-2
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    return size


def case_conv1d_block(out, ref):
    """A 1-D audio/text convnet: Conv1D in every form tf-keras writes, 1-D pools."""
    rs = seed_all(1515)
    L = keras.layers
    inp = keras.Input(shape=(32, 3), name="signal")
    # Causal and dilated: Pad -> SpaceToBatchND -> ExpandDims -> Conv2D -> Squeeze -> BatchToSpaceND.
    x = L.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="relu", name="causal_d2")(inp)
    # Causal: Pad -> ExpandDims -> Conv2D -> Squeeze.
    x = L.Conv1D(8, 3, padding="causal", name="causal")(x)
    # Dilated SAME on an odd length after the pool: uneven space-to-batch pads and crops.
    x = L.MaxPooling1D(2, name="max_pool")(x)  # 16
    x = L.Conv1D(8, 3, padding="same", dilation_rate=3, activation="relu", name="same_d3")(x)
    x = L.Conv1D(12, 5, strides=2, padding="same", name="strided")(x)  # 8
    x = L.BatchNormalization(epsilon=2e-3, name="bn")(x)
    x = L.ReLU(name="relu")(x)
    x = L.AveragePooling1D(3, strides=2, padding="same", name="avg_pool")(x)  # 4
    x = L.Conv1D(6, 2, padding="valid", use_bias=False, name="valid")(x)  # 3
    x = L.GlobalMaxPooling1D(name="global_max")(x)
    x = L.Dense(4, activation="softmax", name="dense")(x)
    model = keras.Model(inp, x, name="conv1d_block")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["SpaceToBatchND"] == 2 and ops["Pad"] == 2 and ops["Squeeze"] == 7, ops
        return (f"Conv2D={ops['Conv2D']}, SpaceToBatchND={ops['SpaceToBatchND']}, Pad={ops['Pad']}, "
                f"MaxPool={ops['MaxPool']}, AvgPool={ops['AvgPool']}, Max={ops['Max']}")

    size = write_case(
        out, "conv1d_block",
        "1-D convnet on 32 steps x 3 channels, each 1-D layer frozen by tf-keras as ExpandDims -> "
        "2-D op -> Squeeze: Conv1D(8, 3, causal, dilation 2, relu) (Pad, then the space-to-batch "
        "form); Conv1D(8, 3, causal) (Pad); MaxPooling1D(2); Conv1D(8, 3, same, dilation 3, relu) "
        "(space-to-batch, odd sizes); Conv1D(12, 5, stride 2, same); BatchNormalization(eps 2e-3); "
        "ReLU; AveragePooling1D(3, stride 2, same); Conv1D(6, 2, valid, no bias); "
        "GlobalMaxPooling1D (Max); Dense(4, softmax).",
        lambda x: model(x, training=False), [(32, 3)], 1515, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "conv1d_block.h5"))
    return size


def conv1d_transpose_model(rs):
    """Conv1DTranspose in both paddings, SeparableConv1D (same, causal) and DepthwiseConv1D."""
    L = keras.layers
    inp = keras.Input(shape=(10, 4), name="signal")
    # tf.nn.conv1d_transpose: ExpandDims -> Conv2DBackpropInput (sizes from the batch) -> Squeeze.
    x = L.Conv1DTranspose(6, 3, strides=2, padding="same", name="up_same")(inp)  # 20
    x = L.Conv1DTranspose(5, 3, strides=2, padding="valid", output_padding=1, activation="relu",
                          name="up_valid")(x)  # 42
    # ExpandDims -> DepthwiseConv2dNative -> Conv2D 1x1 -> BiasAdd -> Squeeze.
    x = L.SeparableConv1D(6, 3, padding="same", depth_multiplier=2, activation="relu", name="separable")(x)
    x = L.SeparableConv1D(4, 3, padding="causal", use_bias=False, name="separable_causal")(x)
    # ExpandDims -> DepthwiseConv2dNative -> BiasAdd -> Squeeze.
    x = L.DepthwiseConv1D(3, depth_multiplier=2, padding="same", activation="tanh", name="depthwise")(x)
    model = keras.Model(inp, x, name="conv1d_transpose_block")
    randomize_weights(model.weights, rs)
    return model


CONV1D_TRANSPOSE_DESCRIPTION = (
    "1-D decoder on 10 steps x 4 channels: Conv1DTranspose(6, 3, stride 2, same) (20 steps); "
    "Conv1DTranspose(5, 3, stride 2, valid, output_padding 1, relu) (42); SeparableConv1D(6, 3, "
    "same, depth_multiplier 2, relu); SeparableConv1D(4, 3, causal, no bias); DepthwiseConv1D(3, "
    "depth_multiplier 2, same, tanh). tf-keras writes each transposed one as ExpandDims -> "
    "Conv2DBackpropInput (output sizes packed from the batch) -> Squeeze, each separable one as "
    "ExpandDims -> DepthwiseConv2dNative -> Conv2D 1x1 -> BiasAdd -> Squeeze (causal: a Pad "
    "first), the depthwise one as ExpandDims -> DepthwiseConv2dNative -> BiasAdd -> Squeeze.")


def case_conv1d_transpose_block(out, ref):
    """Conv1DTranspose, SeparableConv1D and DepthwiseConv1D, frozen."""
    model = conv1d_transpose_model(seed_all(1717))

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["Conv2DBackpropInput"] == 2 and ops["DepthwiseConv2dNative"] == 3, ops
        assert ops["Squeeze"] == 5, ops
        return f"Conv2DBackpropInput={ops['Conv2DBackpropInput']}, DepthwiseConv2dNative=3, Squeeze=5"

    size = write_case(out, "conv1d_transpose_block", CONV1D_TRANSPOSE_DESCRIPTION + " Frozen graph.",
                      lambda x: model(x, training=False), [(10, 4)], 1717, checks)
    if ref:
        save_ref_h5(model, os.path.join(ref, "conv1d_transpose_block.h5"))
    return size


def case_sm_conv1d_transpose(out, ref):
    """The conv1d_transpose_block model as a tf-keras SavedModel."""
    model = conv1d_transpose_model(seed_all(1717))

    def reference(feeds):
        return {"depthwise": model(tf.constant(feeds["signal"]), training=False).numpy()}

    size = write_saved_model_case(
        out, "sm_conv1d_transpose",
        CONV1D_TRANSPOSE_DESCRIPTION + " tf-keras 2.21 model.save(dir) (SavedModel).",
        lambda path: model.save(path, save_format="tf"), {"signal": (10, 4)}, 1717, reference,
        "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", model.get_layer("up_same").kernel.numpy(),
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "sm_conv1d_transpose.h5"))
    return size


def case_separable_block(out, ref):
    """SeparableConv2D: DepthwiseConv2dNative -> Conv2D 1x1 (+ BiasAdd), frozen."""
    rs = seed_all(1818)
    L = keras.layers
    inp = keras.Input(shape=(9, 8, 3), name="image")
    x = L.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, activation="relu", name="separable")(inp)
    x = L.SeparableConv2D(6, (3, 2), strides=2, use_bias=False, name="separable_strided")(x)  # 4x4
    x = L.BatchNormalization(epsilon=2e-3, name="bn")(x)
    # The same pair not whole: the depthwise output is also read by the skip (two layers).
    d = L.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    p = L.Conv2D(6, 1, name="pointwise")(d)
    x = L.Add(name="add")([d, p])
    model = keras.Model(inp, x, name="separable_block")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["DepthwiseConv2dNative"] == 3 and ops["Conv2D"] == 3, ops
        return f"DepthwiseConv2dNative={ops['DepthwiseConv2dNative']}, Conv2D={ops['Conv2D']}"

    size = write_case(
        out, "separable_block",
        "SeparableConv2D on 9x8x3: SeparableConv2D(8, 3, same, depth_multiplier 2, relu); "
        "SeparableConv2D(6, (3, 2), stride 2, valid, no bias) (4x4); BatchNormalization(eps 2e-3); "
        "then a DepthwiseConv2D(3, same) whose output feeds both a 1x1 Conv2D and an Add (a pair "
        "that is not a whole separable convolution). tf-keras writes each SeparableConv2D as "
        "DepthwiseConv2dNative -> Conv2D 1x1 (-> BiasAdd).",
        lambda x: model(x, training=False), [(9, 8, 3)], 1818, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "separable_block.h5"))
    return size


def case_conv3d_block(out, ref):
    """A 3-D conv block: Conv3D, Conv3DTranspose (Conv3DBackpropInputV2) and 3-D pools."""
    rs = seed_all(1616)
    L = keras.layers
    inp = keras.Input(shape=(6, 6, 4, 2), name="volume")
    x = L.Conv3D(4, 3, padding="same", activation="relu", name="conv")(inp)
    x = L.MaxPooling3D(2, padding="same", name="max_pool")(x)  # 3x3x2
    # (No BatchNormalization: tract's FusedBatchNorm, the oracle's, takes rank 4 only.)
    x = L.Conv3D(6, 3, strides=2, padding="same", activation="relu", name="down")(x)  # 2x2x1
    x = L.Conv3DTranspose(4, 3, strides=2, padding="same", name="up")(x)  # 4x4x2
    x = L.AveragePooling3D(3, strides=1, padding="same", name="avg_pool")(x)
    x = L.Conv3DTranspose(2, 2, padding="valid", activation="tanh", name="out")(x)  # 5x5x3
    model = keras.Model(inp, x, name="conv3d_block")
    randomize_weights(model.weights, rs)

    def checks(gd):
        ops = op_histogram(gd)
        assert ops["Conv3D"] == 2 and ops["Conv3DBackpropInputV2"] == 2, ops
        assert ops["MaxPool3D"] == 1 and ops["AvgPool3D"] == 1, ops
        return f"Conv3D={ops['Conv3D']}, Conv3DBackpropInputV2={ops['Conv3DBackpropInputV2']}"

    size = write_case(
        out, "conv3d_block",
        "3-D conv block on 6x6x4x2 (unequal sides): Conv3D(4, 3, same, relu); MaxPooling3D(2, "
        "same); Conv3D(6, 3, stride 2, same, relu); Conv3DTranspose(4, 3, stride 2, same); "
        "AveragePooling3D(3, stride 1, same); Conv3DTranspose(2, 2, valid, tanh) to 5x5x3x2. TF "
        "writes Conv3D, MaxPool3D, AvgPool3D and Conv3DBackpropInputV2 (run-time output sizes), "
        "none of which tract-tensorflow reads (the oracle maps them onto tract-core Conv, pools "
        "and Deconv).",
        lambda x: model(x, training=False), [(6, 6, 4, 2)], 1616, checks,
    )
    if ref:
        save_ref_h5(model, os.path.join(ref, "conv3d_block.h5"))
    return size

CASES = [
    ("linear", case_linear),
    ("cnn", case_cnn),
    ("custom_matmul", case_custom_matmul),
    ("inception_block", case_inception_block),
    ("tract_fixes", case_tract_fixes),
    ("sm_tf_module_cnn", case_sm_tf_module_cnn),
    ("sm_tf_module_mobile", case_sm_tf_module_mobile),
    ("sm_tf_module_ops", case_sm_tf_module_ops),
    ("sm_tf_keras_two_io", case_sm_tf_keras_two_io),
    ("sm_tf1_simple_save", case_sm_tf1_simple_save),
    ("sm_keras3_export", case_sm_keras3_export),
    ("sm_keras3_transformer", case_sm_keras3_transformer),
    ("sm_keras3_text", case_sm_keras3_text),
    ("sm_keras_hub_distil_bert", case_sm_keras_hub_distil_bert),
    ("sm_keras3_causal_attention", case_sm_keras3_causal_attention),
    ("sm_lstm_text", case_sm_lstm_text),
    ("sm_gru_bidirectional", case_sm_gru_bidirectional),
    ("sm_lstm_stacked", case_sm_lstm_stacked),
    ("sm_simple_rnn", case_sm_simple_rnn),
    ("sm_lstm_bidirectional", case_sm_lstm_bidirectional),
    ("sm_rnn_bidirectional_merges", case_sm_rnn_bidirectional_merges),
    ("sm_gru_reset_before", case_sm_gru_reset_before),
    ("sm_keras3_lstm", case_sm_keras3_lstm),
    ("frozen_keras3_lstm", case_frozen_keras3_lstm),
    ("sm_keras3_gru", case_sm_keras3_gru),
    ("frozen_keras3_gru", case_frozen_keras3_gru),
    ("sm_keras3_masking_rnn", case_sm_keras3_masking_rnn),
    ("frozen_keras3_masking_rnn", case_frozen_keras3_masking_rnn),
    ("frozen_lstm_stacked", case_frozen_lstm_stacked),
    ("sm_rnn_masked", case_sm_rnn_masked),
    ("frozen_rnn_masked", case_frozen_rnn_masked),
    ("sm_rnn_bidirectional_masked", case_sm_rnn_bidirectional_masked),
    ("frozen_rnn_bidirectional_masked", case_frozen_rnn_bidirectional_masked),
    ("sm_masking_rnn", case_sm_masking_rnn),
    ("frozen_masking_rnn", case_frozen_masking_rnn),
    ("frozen_gru_bidirectional", case_frozen_gru_bidirectional),
    ("sm_lstm_state", case_sm_lstm_state),
    ("frozen_lstm_state", case_frozen_lstm_state),
    ("sm_gru_state", case_sm_gru_state),
    ("frozen_gru_state", case_frozen_gru_state),
    ("frozen_dynamic_rnn_lstm", case_frozen_dynamic_rnn_lstm),
    ("frozen_dynamic_rnn_gru", case_frozen_dynamic_rnn_gru),
    ("frozen_dynamic_rnn_simple", case_frozen_dynamic_rnn_simple),
    ("mobile_block", case_mobile_block),
    ("efficient_block", case_efficient_block),
    ("convnext_block", case_convnext_block),
    ("vit_stem", case_vit_stem),
    ("einsum_dense", case_einsum_dense),
    ("vit_tiny", case_vit_tiny),
    ("bert_tiny", case_bert_tiny),
    ("dilated_block", case_dilated_block),
    ("decomposed_ops", case_decomposed_ops),
    ("frozen_function_call", case_frozen_function_call),
    ("upsample_block", case_upsample_block),
    ("aspp_block", case_aspp_block),
    ("reflect_front_end", case_reflect_front_end),
    ("debug_checks", case_debug_checks),
    ("gelu_tanh", case_gelu_tanh),
    ("tf_refused_loops", case_tf_refused_loops),
    ("tf_refused_dynamic_rnn", case_tf_refused_dynamic_rnn),
    ("dynamic_fcn", case_dynamic_fcn),
    ("dynamic_sequence", case_dynamic_sequence),
    ("dynamic_flatten", case_dynamic_flatten),
    ("text_embedding", case_text_embedding),
    ("dcgan_generator", case_dcgan_generator),
    ("unet", case_unet),
    ("mixed_precision", case_mixed_precision),
    ("conv1d_block", case_conv1d_block),
    ("conv1d_transpose_block", case_conv1d_transpose_block),
    ("sm_conv1d_transpose", case_sm_conv1d_transpose),
    ("separable_block", case_separable_block),
    ("conv3d_block", case_conv3d_block),
]

# Cases run in a fresh Python process: TF numbers traced functions with a process-wide
# counter, and these files hold function names (SavedModels; a frozen graph that keeps
# function calls), so their bytes would otherwise depend on what ran before.
FRESH_PROCESS_CASES = SAVED_MODEL_CASES | RNN_SAVED_MODEL_CASES | {
    "frozen_function_call", "upsample_block", "tf_refused_dynamic_rnn", "frozen_dynamic_rnn_lstm",
    "frozen_dynamic_rnn_gru", "frozen_dynamic_rnn_simple"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE, help="fixture root (default: this directory)")
    ap.add_argument("--ref-h5", default=None,
                    help="also save tf-keras reference .h5 files of the Keras cases here")
    ap.add_argument("--cases", nargs="*", default=None, help="subset of cases to generate")
    ap.add_argument("--in-process", action="store_true",
                    help="run SavedModel and function-call cases in this process (internal: "
                         "each normally gets a fresh process so its bytes are reproducible)")
    args = ap.parse_args()

    tf.config.experimental.enable_op_determinism()
    if args.ref_h5:
        os.makedirs(args.ref_h5, exist_ok=True)
    print(f"TensorFlow {tf.__version__}, tf-keras {keras.__version__}, numpy {np.__version__}")
    total = 0
    for name, fn in CASES:
        if args.cases and name not in args.cases:
            continue
        if name in FRESH_PROCESS_CASES and not args.in_process:
            command = [sys.executable, os.path.abspath(__file__), "--out", args.out,
                       "--cases", name, "--in-process"]
            if args.ref_h5:
                command += ["--ref-h5", args.ref_h5]
            result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
            lines = result.stdout.splitlines()
            print("\n".join(ln for ln in lines if not ln.startswith(("TensorFlow ", "total "))))
            total += sum(int(ln.split()[-2]) for ln in lines if ln.startswith("total fixture size"))
            continue
        total += fn(args.out, args.ref_h5)
    print(f"total fixture size: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Generate the legacy Keras .h5 source fixtures (`test-models/h5_*`) for `tf2h5 verify old.h5`.

Run with the project venv (TF 2.21 + tf-keras 2.21):

    ~/.cache/tf2h5/venv/bin/python test-models/generate_h5.py [--out test-models] [--cases NAME...]

Each case writes `<out>/h5_<case>/`: `model.h5` (the source file), `x.npy` (4 seeded samples),
`y.npy` (what tf-keras 2.21 computes for them after loading `model.h5` itself: the truth the
upgraded file is checked against in keras-check) and `meta.json`.

Files saved by tf-keras 2.21 carry the keys Keras 3 rejects (`groups` on DepthwiseConv2D, dtype
policy objects, `TFOpLambda` layers). Files in older layouts (Keras 2.1's list-form Sequential
config, Keras 2.3's "Model" class, `keras_version` 2.1.6 / 2.3.1) are written with h5py from
that layout, because those Keras versions do not install on this Python; tf-keras loads them,
which is how y.npy is computed.

`h5_refused/` holds files tf2h5 must refuse (exit 2), for crates/cli/tests: a Lambda layer
whose body has no exact standard layer (tf.math.cumsum), a ragged InputLayer (tf-keras writes
`ragged: false` on every other input, which the upgrade drops) and a weights-only file (no
model_config).
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 4


def randomize(model, seed):
    """Seeded weights by role: BatchNorm variances positive, everything else O(1/sqrt(fan_in))."""
    rs = np.random.RandomState(seed)
    for v in model.weights:
        role = v.name.split("/")[-1].split(":")[0]
        shape = tuple(v.shape)
        if role == "moving_variance":
            value = rs.uniform(0.05, 1.0, shape)
        elif role in ("gamma",):
            value = rs.uniform(0.5, 1.5, shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
            value = rs.normal(0, 1.0 / np.sqrt(max(fan_in, 1)), shape)
        v.assign(value.astype(v.dtype.as_numpy_dtype))


def write_case(out, case, description, save, input_shape, seed, atol=None, more_shapes=(), load=None):
    """Saves the model with `save(path)`, then computes y.npy by loading that file in tf-keras
    (`load(path)`, by default `load_model`); for a model with unknown dimensions, x_K.npy /
    y_K.npy at each of `more_shapes` too (meta.json "runs", which keras-check checks as well)."""
    folder = os.path.join(out, "h5_" + case)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    path = os.path.join(folder, "model.h5")
    save(path)
    x = np.random.RandomState(seed).standard_normal((BATCH, *input_shape)).astype(np.float32)
    loaded = (load or (lambda p: keras.models.load_model(p, compile=False)))(path)
    y = np.asarray(loaded.predict(x, verbose=0)).astype(np.float32)
    np.save(os.path.join(folder, "x.npy"), x)
    np.save(os.path.join(folder, "y.npy"), y)
    runs = []
    for k, shape in enumerate(more_shapes, start=1):
        xk = np.random.RandomState(seed + k).standard_normal((BATCH, *shape)).astype(np.float32)
        np.save(os.path.join(folder, f"x_{k}.npy"), xk)
        np.save(os.path.join(folder, f"y_{k}.npy"), np.asarray(loaded.predict(xk, verbose=0)).astype(np.float32))
        runs.append({"inputs": [f"x_{k}.npy"], "outputs": [f"y_{k}.npy"]})
    with h5py.File(path, "r") as f:
        version = f.attrs.get("keras_version")
    meta = {
        "name": "h5_" + case,
        "model": "model.h5",
        "format": f"Keras .h5 (keras_version {version})" if version else "Keras 1 .h5 (no keras_version)",
        "inputs": [{"name": loaded.inputs[0].name.split(":")[0], "file": "x.npy",
                    "shape": [None if d is None else int(d) for d in loaded.inputs[0].shape]}],
        "outputs": [{"name": loaded.outputs[0].name.split(":")[0].split("/")[0], "file": "y.npy"}],
        "description": description,
    }
    if runs:
        meta["runs"] = runs
    if atol is not None:
        meta["atol"] = atol
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def saver(model):
    def save(path):
        model.save(path, include_optimizer=False)
    return save


# --------------------------------------------------------------------------- cases saved by tf-keras 2.21


def case_depthwise(out):
    x = keras.Input((8, 8, 3), name="image")
    h = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    h = keras.layers.BatchNormalization(epsilon=1e-3, name="bn")(h)
    h = keras.layers.ReLU(6.0, name="relu6")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    y = keras.layers.Dense(4, activation="softmax", name="probs")(h)
    model = keras.Model(x, y, name="depthwise")
    randomize(model, 1)
    write_case(out, "depthwise", "tf-keras 2.21 Functional: DepthwiseConv2D (writes groups=1, which Keras 3 "
               "rejects), BatchNorm, ReLU6, GAP, Dense softmax; its InputLayer has ragged=false.",
               saver(model), (8, 8, 3), 1)


def case_mixed_precision(out):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        x = keras.Input((10,), name="features")
        h = keras.layers.Dense(16, activation="relu", name="hidden")(x)
        h = keras.layers.Dense(4, name="logits")(h)
        y = keras.layers.Activation("softmax", dtype="float32", name="probs")(h)
        model = keras.Model(x, y, name="mixed")
        randomize(model, 2)
        save = saver(model)
        write_case(out, "mixed_precision", "tf-keras 2.21 model under the mixed_float16 policy (Policy objects "
                   "in every layer's dtype; Keras 3 fails on them). The upgraded file computes in float32, "
                   "so it differs from the original by float16 rounding: atol 1e-2.", save, (10,), 2, atol=1e-2)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def case_tf_op_lambda(out):
    x = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, name="dense")(x)
    a = h * 2.0
    b = a + 1.0
    c = tf.nn.relu6(b)
    d = c - h
    e = d / 4.0
    y = tf.math.sigmoid(e)
    model = keras.Model(x, y, name="tfop")
    randomize(model, 3)
    write_case(out, "tf_op_lambda", "tf-keras 2.21 Functional with raw tf calls saved as TFOpLambda layers: "
               "multiply/add/truediv by a number, relu6, subtract of two tensors, sigmoid.",
               saver(model), (6,), 3)


def case_lambda(out):
    # Lambda bodies tf2h5 rewrites into exact standard layers: arithmetic with numbers (a
    # closure variable, a bound `arguments` value and a default among them) and single TF
    # activation calls. tf-keras saves each body as marshalled CPython 3.11 bytecode.
    shift = 0.5
    x = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, name="dense")(x)
    h = keras.layers.Lambda(lambda t: t * 2.0 + 1.0, name="scale_shift")(h)
    h = keras.layers.Lambda(lambda t: tf.nn.relu(t), name="relu")(h)
    h = keras.layers.Lambda(lambda t: t / 4.0 - shift, name="quarter")(h)
    h = keras.layers.Lambda(lambda t, c: c - t, arguments={"c": 1.5}, name="reflect")(h)
    h = keras.layers.Lambda(lambda t, k=3: -t * k, name="negate")(h)
    y = keras.layers.Lambda(lambda t: tf.math.sigmoid(t), name="gate")(h)
    model = keras.Model(x, y, name="lambdas")
    randomize(model, 10)
    write_case(out, "lambda", "tf-keras 2.21 Functional with Lambda layers (CPython 3.11 bytecode): t * 2 + 1, "
               "tf.nn.relu(t), t / 4 - shift (closure), c - t (arguments c=1.5), -t * k (default k=3), "
               "tf.math.sigmoid(t).", saver(model), (6,), 10)


def case_teachable_machine(out):
    # The shape of Teachable Machine's image export: a MobileNet-style trunk (conv, depthwise,
    # pointwise, each BN + ReLU6) and a Dense(100, relu) → Dense(classes, softmax) head, as a
    # tf-keras Sequential model; small and random (KBs, not the 224x224 MobileNet).
    model = keras.Sequential([
        keras.layers.InputLayer((32, 32, 3), name="input_1"),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv1"),
        keras.layers.BatchNormalization(epsilon=1e-3, name="conv1_bn"),
        keras.layers.ReLU(6.0, name="conv1_relu"),
        keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="conv_dw_1"),
        keras.layers.BatchNormalization(epsilon=1e-3, name="conv_dw_1_bn"),
        keras.layers.ReLU(6.0, name="conv_dw_1_relu"),
        keras.layers.Conv2D(16, 1, use_bias=False, name="conv_pw_1"),
        keras.layers.BatchNormalization(epsilon=1e-3, name="conv_pw_1_bn"),
        keras.layers.ReLU(6.0, name="conv_pw_1_relu"),
        keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d"),
        keras.layers.Dense(100, activation="relu", name="dense_Dense1"),
        keras.layers.Dense(3, activation="softmax", name="dense_Dense2"),
    ], name="sequential")
    randomize(model, 4)
    write_case(out, "teachable_machine", "Teachable-Machine-style image model saved by tf-keras 2.21 as a "
               "Sequential: MobileNet-style conv/depthwise/pointwise trunk (groups=1 on the depthwise) and "
               "a Dense(100) -> Dense(3, softmax) head.", saver(model), (32, 32, 3), 4)


def case_nested(out):
    # Teachable Machine's real export is a Sequential holding two nested models (the MobileNet
    # trunk, itself a Functional model inside a Sequential, and a Sequential head). tf-keras
    # stores each nested model's weights in one group named after it.
    trunk_in = keras.Input((12, 12, 3), name="trunk_input")
    h = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(trunk_in)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(6.0, name="relu")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    trunk = keras.Model(trunk_in, h, name="trunk")
    features = keras.Sequential([keras.Input((12, 12, 3), name="features_input"), trunk], name="features")
    head = keras.Sequential([keras.layers.Dense(8, activation="relu", name="hidden"),
                             keras.layers.Dense(3, activation="softmax", name="probs")], name="head")
    model = keras.Sequential([keras.Input((12, 12, 3), name="image"), features, head], name="nested")
    randomize(model, 13)
    write_case(out, "nested", "tf-keras 2.21 Sequential of nested models, as Teachable Machine exports: a "
               "Sequential 'features' holding a Functional 'trunk' (Conv2D, BatchNorm, ReLU6, GAP), then a "
               "Sequential 'head' (Dense relu, Dense softmax); tf2h5 inlines them.", saver(model), (12, 12, 3), 13)


def case_shared(out):
    # One Dense layer called twice (on the input, then on its own output's ReLU): tf2h5 writes
    # one copy per call with the same weights.
    x = keras.Input((6,), name="x")
    shared = keras.layers.Dense(6, activation="tanh", name="shared")
    a = shared(x)
    b = shared(keras.layers.ReLU(name="relu")(a))
    h = keras.layers.Add(name="sum")([a, b])
    y = keras.layers.Dense(3, name="out")(h)
    model = keras.Model(x, y, name="shared_layers")
    randomize(model, 14)
    write_case(out, "shared", "tf-keras 2.21 Functional with a shared layer: Dense 'shared' called on the input "
               "and on the ReLU of its own output (two inbound nodes), then Add and Dense.", saver(model), (6,), 14)


def case_recurrent(out):
    # tf-keras writes time_major=false (which Keras 3 rejects: keras-team/keras#20750) and
    # implementation=2 on every LSTM/GRU, also inside Bidirectional's wrapped layer. The time
    # axis is unknown, as in most real sequence models: tf2h5 verifies it at two lengths.
    x = keras.Input((None, 5), name="sequence")
    h = keras.layers.LSTM(8, return_sequences=True, name="lstm")(x)
    h = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True, name="gru_inner"),
                                   name="bigru")(h)
    h = keras.layers.GRU(6, reset_after=False, name="gru_v1")(h)
    y = keras.layers.Dense(3, name="logits")(h)
    model = keras.Model(x, y, name="recurrent")
    randomize(model, 8)
    write_case(out, "recurrent", "tf-keras 2.21 Functional on sequences of unknown length (7 steps in x.npy): "
               "LSTM -> Bidirectional(GRU, concat) -> GRU(reset_after=False) -> Dense; every recurrent config "
               "has time_major=false (Keras 3 rejects it) and implementation=2; x_1.npy has 12 steps.",
               saver(model), (7, 5), 8, more_shapes=[(12, 5)])


def case_conv_transpose(out):
    x = keras.Input((5, 5, 3), name="image")
    h = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", name="up_same")(x)
    h = keras.layers.Conv2DTranspose(2, 2, strides=2, padding="valid", name="up_valid")(h)
    y = keras.layers.Conv2DTranspose(2, 3, strides=1, padding="same", use_bias=False, name="smooth")(h)
    model = keras.Model(x, y, name="conv_transpose")
    randomize(model, 9)
    write_case(out, "conv_transpose", "tf-keras 2.21 Functional: Conv2DTranspose with same and valid padding, "
               "strides 2 and 1, with and without bias; tf-keras writes groups=1 on each (Keras 3 rejects it).",
               saver(model), (5, 5, 3), 9)


# --------------------------------------------------------------------------- older layouts, written with h5py


def write_legacy_h5(path, model_config, keras_version, layer_weights, weight_name="{layer}/{weight}:0"):
    """A `model.save` file in the layout Keras 1.2-2.3 wrote: root attrs model_config (JSON bytes),
    keras_version, backend; /model_weights with layer_names and one group per layer holding
    weight_names and `<layer>/<weight>:0` datasets (Keras 1 on TensorFlow: `<layer>_<weight>:0`)."""
    with h5py.File(path, "w") as f:
        if keras_version:  # Keras 1 wrote none (which is how Keras 2 and tf-keras recognise its files)
            f.attrs["keras_version"] = np.bytes_(keras_version)
        f.attrs["backend"] = np.bytes_("tensorflow")
        f.attrs["model_config"] = np.bytes_(json.dumps(model_config))
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([np.bytes_(n) for n, _ in layer_weights])
        if keras_version:
            g.attrs["keras_version"] = np.bytes_(keras_version)
        g.attrs["backend"] = np.bytes_("tensorflow")
        for name, weights in layer_weights:
            lg = g.create_group(name)
            names = [weight_name.format(layer=name, weight=w) for w, _ in weights]
            lg.attrs["weight_names"] = np.array([np.bytes_(n) for n in names])
            for full, (_, value) in zip(names, weights):
                lg.create_dataset(full, data=value.astype(np.float32))


def old_dense_config(name, units, activation, **extra):
    return {"name": name, "trainable": True, "units": units, "activation": activation, "use_bias": True,
            "kernel_initializer": {"class_name": "VarianceScaling",
                                   "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None, **extra}


def case_keras21_sequential(out):
    rs = np.random.RandomState(5)
    config = {"class_name": "Sequential", "config": [  # Keras 2.0-2.2.2: the bare layer list
        {"class_name": "Dense", "config": old_dense_config("dense_1", 5, "hard_sigmoid",
                                                          batch_input_shape=[None, 4], dtype="float32")},
        {"class_name": "Dense", "config": old_dense_config("dense_2", 3, "softmax")},
    ]}
    weights = [("dense_1", [("kernel", rs.normal(0, 1, (4, 5))), ("bias", rs.normal(0, 0.5, 5))]),
               ("dense_2", [("kernel", rs.normal(0, 0.5, (5, 3))), ("bias", rs.normal(0, 0.5, 3))])]
    write_case(out, "keras21_sequential", "Keras 2.1.6 layout written with h5py: list-form Sequential config, "
               "batch_input_shape on the first Dense, Keras 2's hard_sigmoid (0.2x + 0.5, clipped).",
               lambda path: write_legacy_h5(path, config, "2.1.6", weights), (4,), 5)


def case_keras23_functional(out):
    rs = np.random.RandomState(6)
    conv = {"name": "conv2d_1", "trainable": True, "dtype": "float32", "filters": 4, "kernel_size": [3, 3],
            "strides": [1, 1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1],
            "activation": "relu", "use_bias": True}
    config = {"class_name": "Model", "config": {"name": "model_1", "layers": [
        {"name": "input_1", "class_name": "InputLayer",
         "config": {"batch_input_shape": [None, 6, 6, 2], "dtype": "float32", "sparse": False, "name": "input_1"},
         "inbound_nodes": []},
        {"name": "conv2d_1", "class_name": "Conv2D", "config": conv, "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"name": "gate", "class_name": "Activation",
         "config": {"name": "gate", "trainable": True, "dtype": "float32", "activation": "hard_sigmoid"},
         "inbound_nodes": [[["conv2d_1", 0, 0, {}]]]},
        {"name": "flatten_1", "class_name": "Flatten",
         "config": {"name": "flatten_1", "trainable": True, "dtype": "float32", "data_format": "channels_last"},
         "inbound_nodes": [[["gate", 0, 0, {}]]]},
        {"name": "dense_1", "class_name": "Dense", "config": old_dense_config("dense_1", 3, "linear", dtype="float32"),
         "inbound_nodes": [[["flatten_1", 0, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["dense_1", 0, 0]]}}
    weights = [("input_1", []),
               ("conv2d_1", [("kernel", rs.normal(0, 0.4, (3, 3, 2, 4))), ("bias", rs.normal(0, 0.5, 4))]),
               ("gate", []), ("flatten_1", []),
               ("dense_1", [("kernel", rs.normal(0, 0.3, (64, 3))), ("bias", rs.normal(0, 0.5, 3))])]
    write_case(out, "keras23_functional", "Keras 2.3.1 layout written with h5py: class 'Model', keras_version "
               "2.3.1, Conv2D -> Activation('hard_sigmoid', Keras 2 meaning) -> Flatten -> Dense.",
               lambda path: write_legacy_h5(path, config, "2.3.1", weights), (6, 6, 2), 6)


# --------------------------------------------------------------------------- Keras 1.2 layout, written with h5py
# Keras 1 wrote no keras_version attribute. Its configs (output_dim, nb_filter, border_mode, dim_ordering, inner_activation...) do not
# load in tf-keras, but its `load_weights` still converts Keras 1 weights (per-gate RNN weights
# regrouped, i, c, f, o → i, f, c, o). The truth: the same model built with tf-keras's API (the
# "twin") loads the Keras 1 file's weights that way, and computes y.npy.


def keras1_case(out, case, description, config, layer_weights, twin, input_shape, seed, more_shapes=()):
    def load(path):
        twin.load_weights(path)
        return twin
    write_case(out, case, description,
               lambda path: write_legacy_h5(path, config, None, layer_weights, "{layer}_{weight}:0"),
               input_shape, seed, more_shapes=more_shapes, load=load)


def keras1_regularized(**config):
    keys = ("W_regularizer", "b_regularizer", "activity_regularizer", "W_constraint", "b_constraint")
    return {**{k: None for k in keys}, "init": "glorot_uniform", "trainable": True, **config}


def case_keras1_cnn(out):
    rs = np.random.RandomState(11)
    config = {"class_name": "Sequential", "config": [
        {"class_name": "Convolution2D", "config": keras1_regularized(
            name="convolution2d_1", nb_filter=4, nb_row=3, nb_col=3, activation="relu", border_mode="same",
            subsample=[1, 1], dim_ordering="tf", bias=True, batch_input_shape=[None, 8, 8, 2],
            input_dtype="float32")},
        {"class_name": "MaxPooling2D", "config": {"name": "maxpooling2d_1", "trainable": True, "pool_size": [2, 2],
                                                  "strides": [2, 2], "border_mode": "valid", "dim_ordering": "tf"}},
        {"class_name": "Convolution2D", "config": keras1_regularized(
            name="convolution2d_2", nb_filter=3, nb_row=2, nb_col=2, activation="linear", border_mode="valid",
            subsample=[2, 2], dim_ordering="tf", bias=False)},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True}},
        {"class_name": "Dense", "config": keras1_regularized(name="dense_1", output_dim=6, activation="tanh",
                                                            bias=True, input_dim=12)},
        {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "p": 0.5}},
        {"class_name": "Dense", "config": keras1_regularized(name="dense_2", output_dim=3, activation="softmax",
                                                            bias=True, input_dim=6)},
    ]}
    weights = [("convolution2d_1", [("W", rs.normal(0, 0.4, (3, 3, 2, 4))), ("b", rs.normal(0, 0.3, 4))]),
               ("maxpooling2d_1", []),
               ("convolution2d_2", [("W", rs.normal(0, 0.4, (2, 2, 4, 3)))]),
               ("flatten_1", []),
               ("dense_1", [("W", rs.normal(0, 0.4, (12, 6))), ("b", rs.normal(0, 0.3, 6))]),
               ("dropout_1", []),
               ("dense_2", [("W", rs.normal(0, 0.5, (6, 3))), ("b", rs.normal(0, 0.3, 3))])]
    twin = keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(3, 2, strides=2, use_bias=False),
        keras.layers.Flatten(),
        keras.layers.Dense(6, activation="tanh"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(3, activation="softmax"),
    ])
    keras1_case(out, "keras1_cnn", "Keras 1.2 layout written with h5py (list-form Sequential, no keras_version "
                "attribute): Convolution2D (nb_filter, nb_row/nb_col, border_mode, subsample, dim_ordering 'tf', "
                "bias), MaxPooling2D, Flatten, Dense (output_dim), Dropout (p); weights named <layer>_W:0 / _b:0. "
                "y.npy: tf-keras's twin model loading these weights.", config, weights, twin, (8, 8, 2), 11)


def case_keras1_recurrent(out):
    rs = np.random.RandomState(12)
    gates = lambda names, n_in, units: [  # noqa: E731 (Keras 1 per-gate W, U, b)
        item for g in names for item in ((f"W_{g}", rs.normal(0, 0.5, (n_in, units))),
                                          (f"U_{g}", rs.normal(0, 0.5, (units, units))),
                                          (f"b_{g}", rs.normal(0, 0.3, units)))]
    rnn = dict(trainable=True, go_backwards=False, stateful=False, unroll=False, consume_less="cpu",
               init="glorot_uniform", inner_init="orthogonal", activation="tanh", inner_activation="sigmoid",
               W_regularizer=None, U_regularizer=None, b_regularizer=None, dropout_W=0.0, dropout_U=0.0)
    config = {"class_name": "Sequential", "config": [
        {"class_name": "LSTM", "config": {**rnn, "name": "lstm_1", "output_dim": 4, "return_sequences": True,
                                          "forget_bias_init": "one", "input_dim": 5, "input_length": None,
                                          "batch_input_shape": [None, None, 5], "input_dtype": "float32"}},
        {"class_name": "GRU", "config": {**rnn, "name": "gru_1", "output_dim": 3, "return_sequences": False,
                                         "input_dim": 4, "input_length": None}},
        {"class_name": "Dense", "config": keras1_regularized(name="dense_1", output_dim=2, activation="linear",
                                                            bias=True, input_dim=3)},
    ]}
    weights = [("lstm_1", gates("icfo", 5, 4)), ("gru_1", gates("zrh", 4, 3)),
               ("dense_1", [("W", rs.normal(0, 0.5, (3, 2))), ("b", rs.normal(0, 0.3, 2))])]
    twin = keras.Sequential([
        keras.Input((None, 5)),
        keras.layers.LSTM(4, return_sequences=True),
        keras.layers.GRU(3, reset_after=False),
        keras.layers.Dense(2),
    ])
    keras1_case(out, "keras1_recurrent", "Keras 1.2 layout written with h5py: LSTM (12 per-gate weights W_i, "
                "U_i, b_i, W_c.. in Keras 1's i, c, f, o order), GRU (9: z, r, h; Keras 1's GRU is reset_after="
                "False), Dense; sequences of unknown length (7 steps in x.npy, 11 in x_1.npy). y.npy: tf-keras's "
                "twin model loading these weights (its Keras 1 conversion).", config, weights, twin, (7, 5), 12,
                more_shapes=[(11, 5)])


# --------------------------------------------------------------------------- files to refuse


def refused(out):
    folder = os.path.join(out, "h5_refused")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    x = keras.Input((3,), name="x")
    # A body with no exact standard layer (a running sum along the features).
    y = keras.layers.Lambda(lambda t: tf.math.cumsum(t), name="running_total")(keras.layers.Dense(2, name="d")(x))
    model = keras.Model(x, y)
    randomize(model, 7)
    model.save(os.path.join(folder, "lambda.h5"), include_optimizer=False)
    model.save_weights(os.path.join(folder, "weights_only.h5"))
    # A really ragged input (variable-length rows in one batch): no dense form, refused.
    tokens = keras.Input((None, 3), ragged=True, name="tokens")
    ragged = keras.Model(tokens, keras.layers.Dense(2, name="d")(tokens))
    ragged.save(os.path.join(folder, "ragged.h5"), include_optimizer=False)


CASES = {
    "depthwise": case_depthwise,
    "mixed_precision": case_mixed_precision,
    "tf_op_lambda": case_tf_op_lambda,
    "lambda": case_lambda,
    "teachable_machine": case_teachable_machine,
    "nested": case_nested,
    "shared": case_shared,
    "recurrent": case_recurrent,
    "conv_transpose": case_conv_transpose,
    "keras21_sequential": case_keras21_sequential,
    "keras23_functional": case_keras23_functional,
    "keras1_cnn": case_keras1_cnn,
    "keras1_recurrent": case_keras1_recurrent,
    "refused": refused,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--cases", nargs="*", choices=sorted(CASES), default=sorted(CASES))
    args = ap.parse_args()
    keras.utils.set_random_seed(0)
    for case in args.cases:
        CASES[case](args.out)
        print("wrote", case)


if __name__ == "__main__":
    main()

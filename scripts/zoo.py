#!/usr/bin/env python3
"""Generate keras.applications models ("the zoo") in every format tf2h5 reads.

Run with the project venv (TF 2.21, tf-keras 2.21, Keras 3.15):

    ~/.cache/tf2h5/venv/bin/python scripts/zoo.py [--out zoo] [--models VGG16 ResNet50 ...]
        [--size S] [--batch 2] [--seed 0] [--formats frozen saved_model keras3] [--force] [--list]

Models whose folders already exist are skipped unless `--force` is given.

Each model is built once by tf-keras 2.21 (`keras.applications.<Model>(weights=None,
input_shape=(S, S, 3))`, S = the model's native size, 224 or 299, unless `--size` is given)
and written as up to three zoo entries in the test-models fixture layout (model files,
`x.npy`, `y.npy`, `meta.json`), so that `tf2h5 verify zoo/<entry>`, `tf2h5 zoo zoo` and
`scripts/keras_check.py --fixtures zoo` work unchanged:

* `<out>/<model>/frozen.pb` - called with training=False and frozen with
  convert_variables_to_constants_v2 (ConvNeXt's frozen graph keeps PartitionedCall nodes:
  its grouped convolutions are XLA-compiled functions, which tf2h5 inlines);
* `<out>/<model>-SavedModel/saved_model/` - `tf.saved_model.save` of the same model, signature
  `serving_default` with input `x` and output `y`;
* `<out>/<model>-Keras3/saved_model/` - for the models in KERAS3_MODELS: the same architecture
  built by Keras 3 with the same weights copied layer by layer (its outputs must agree with
  tf-keras's first), then `model.export(dir)`.

`x.npy` is an input batch (uniform 0..255 for models that include their own preprocessing,
standard normal otherwise); `y.npy` is what TensorFlow computes (from the serialised frozen
GraphDef, or Keras 3's own call for the export); `meta.json` names the format, the inputs and
outputs, and for frozen graphs the op histogram.

Weights are random but realistic, from a fixed seed: kernels N(0, 1/fan_in) (a depthwise
kernel's fan-in is kh*kw), biases and BatchNorm beta small normals, gamma and layer scales
U(0.5, 1.5). BatchNorm moving statistics are calibrated so activations stay O(1) through
50+ layers: one training-mode pass with momentum 0 stores every layer's batch statistics,
which are then perturbed (mean += 0.1 std N(0,1), variance *= U(0.7, 1.3)), so no layer is
an identity and a wrong epsilon or weight order still shows. Normalization layers (the
EfficientNet preprocessing) get random mean/variance. The classifier is scaled so the logits
have a standard deviation of 2 (an unsaturated softmax).

The outputs go to an ignored folder (zoo/ is in .gitignore): the frozen graphs are tens to
hundreds of MB. Smaller `--size` values (each model has a minimum) make everything faster.

scripts/zoo_onnx.py adds the ONNX entries: torchvision models exported by torch.onnx.export,
and tf2onnx conversions of the frozen graphs written here (`<model>-tf2onnx/`). `--models`
ignores its torchvision names, so `just zoo` can pass one list to both.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

# The fixture generator's way of running a serialised GraphDef (what tf2h5 reads) in TF.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test-models"))
from generate import run_graph_def  # noqa: E402

# name -> (constructor name, smallest input size, native input size, includes its own preprocessing)
MODELS = collections.OrderedDict([
    ("VGG16", ("VGG16", 32, 224, False)),
    ("ResNet50", ("ResNet50", 32, 224, False)),
    ("ResNet50V2", ("ResNet50V2", 32, 224, False)),
    ("InceptionV3", ("InceptionV3", 75, 299, False)),
    ("Xception", ("Xception", 71, 299, False)),
    ("MobileNet", ("MobileNet", 32, 224, False)),
    ("MobileNetV2", ("MobileNetV2", 32, 224, False)),
    ("MobileNetV3Small", ("MobileNetV3Small", 32, 224, True)),
    ("MobileNetV3Large", ("MobileNetV3Large", 32, 224, True)),
    ("DenseNet121", ("DenseNet121", 32, 224, False)),
    ("NASNetMobile", ("NASNetMobile", 32, 224, False)),
    ("EfficientNetB0", ("EfficientNetB0", 32, 224, True)),
    ("EfficientNetV2B0", ("EfficientNetV2B0", 32, 224, True)),
    ("ConvNeXtTiny", ("ConvNeXtTiny", 32, 224, True)),
])

# Models also exported by Keras 3 (`model.export`), whose graphs differ: BatchNorm arrives as
# Rsqrt/Mul/Sub/Add arithmetic, hard-swish and Flatten as their own op sequences.
KERAS3_MODELS = ("MobileNetV2", "ResNet50", "EfficientNetB0", "MobileNetV3Small")
FORMATS = ("frozen", "saved_model", "keras3")

FUNCTION_CALL_OPS = {"PartitionedCall", "StatefulPartitionedCall"}


def role_of(variable):
    return variable.name.split("/")[-1].split(":")[0]


def randomize(model, rs, calibration):
    """Random weights (see the module docstring), then calibrated BatchNorm statistics."""
    for v in model.weights:
        role = role_of(v)
        shape = tuple(v.shape)
        if v.dtype not in (tf.float32,):
            continue  # Normalization's int64 `count`
        if role in ("moving_mean", "moving_variance"):
            continue  # calibrated below
        if role == "variance":  # Normalization
            val = rs.uniform(0.5, 2.0, shape)
        elif role == "mean":
            val = rs.normal(0.0, 0.5, shape)
        elif role in ("gamma", "scale"):
            val = rs.uniform(0.5, 1.5, shape)
        elif role in ("beta", "bias"):
            val = rs.normal(0.0, 0.1, shape)
        elif role == "depthwise_kernel":  # (kh, kw, in, multiplier): each output sees kh*kw inputs
            val = rs.normal(0.0, 1.0, shape) / np.sqrt(shape[0] * shape[1])
        else:  # kernels: (..., fan_in, out)
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            val = rs.normal(0.0, 1.0, shape) / np.sqrt(fan_in)
        v.assign(val.astype(np.float32))

    bns = [layer for layer in model.submodules if isinstance(layer, keras.layers.BatchNormalization)]
    for bn in bns:
        bn.momentum = 0.0
    model(calibration, training=True)
    for bn in bns:
        mean = bn.moving_mean.numpy()
        var = bn.moving_variance.numpy()
        mean = mean + 0.1 * np.sqrt(var) * rs.standard_normal(mean.shape)
        var = var * rs.uniform(0.7, 1.3, var.shape) + 1e-3
        bn.moving_mean.assign(mean.astype(np.float32))
        bn.moving_variance.assign(var.astype(np.float32))
        bn.momentum = 0.99
    # The classifier: scale its kernel so the logits have a standard deviation of 2 on the
    # calibration batch. Otherwise they reach the hundreds, the softmax saturates, and a
    # wrong layer could hide behind probabilities of 0 and 1.
    head = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None][-1]
    activation = head.activation
    head.activation = keras.activations.linear
    features = keras.Model(model.inputs, head.input)(calibration, training=False)
    logits = head(features).numpy()
    head.activation = activation
    factor = 2.0 / max(float(logits.std()), 1e-6)
    head.kernel.assign(head.kernel.numpy() * factor)
    if getattr(head, "bias", None) is not None:
        head.bias.assign(head.bias.numpy() * factor)
    return len(bns)


def freeze(model, size):
    spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="x")
    func = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    cf = func.get_concrete_function()
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    return frozen, gd


def write_case(folder, meta, x, y):
    """One zoo entry in the fixture layout: model files are written by the caller."""
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "x.npy"), x)
    np.save(os.path.join(folder, "y.npy"), y)
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def keras3_twin(ctor, size, model):
    """The same architecture built by Keras 3, with the tf-keras model's weights copied layer by
    layer."""
    import keras as keras3  # Keras 3; TF_USE_LEGACY_KERAS only redirects tf.keras

    keras3.utils.clear_session()
    twin = getattr(keras3.applications, ctor)(weights=None, input_shape=(size, size, 3))
    targets = [layer for layer in twin.layers if layer.weights]
    sources = [layer for layer in model.layers if layer.weights]
    if len(targets) != len(sources):
        raise ValueError(f"{ctor}: Keras 3 has {len(targets)} layers with weights, tf-keras {len(sources)}")
    # Same construction order in both versions (some names differ in case, e.g. MobileNetV3's
    # "Conv" / "conv"); every weight's shape must match.
    for target, source in zip(targets, sources):
        weights = source.get_weights()
        shapes = [tuple(v.shape) for v in target.weights]
        if shapes != [w.shape for w in weights]:
            raise ValueError(f"{ctor}: Keras 3 layer {target.name} {shapes} vs tf-keras {source.name} "
                             f"{[w.shape for w in weights]}")
        target.set_weights(weights)
    copied = len(targets)
    return twin, copied, keras3.__version__


def entry_folders(out_root, name, formats):
    """The zoo folders `make` writes for `name` in `formats`."""
    suffixes = {"frozen": "", "saved_model": "-SavedModel", "keras3": "-Keras3"}
    return [os.path.join(out_root, name + suffixes[f]) for f in formats if f != "keras3" or name in KERAS3_MODELS]


def make(name, out_root, size, batch, seed, formats):
    ctor, min_size, native_size, raw_pixels = MODELS[name]
    size = native_size if size is None else max(size, min_size)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    rs = np.random.RandomState(seed)
    t0 = time.time()
    model = getattr(keras.applications, ctor)(weights=None, input_shape=(size, size, 3))
    if raw_pixels:
        calibration = rs.uniform(0, 255, (8, size, size, 3)).astype(np.float32)
        x = rs.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    else:
        calibration = rs.standard_normal((8, size, size, 3)).astype(np.float32)
        x = rs.standard_normal((batch, size, size, 3)).astype(np.float32)
    bn_count = randomize(model, rs, calibration)
    frozen, gd = freeze(model, size)
    placeholders = [n.name for n in gd.node if n.op == "Placeholder"]
    assert placeholders == ["x"], placeholders
    out_names = [t.name.split(":")[0] for t in frozen.outputs]
    gd_bytes = gd.SerializeToString(deterministic=True)
    (y,) = run_graph_def(gd_bytes, ["x"], out_names, [x])
    eager = model(x, training=False).numpy()
    np.testing.assert_allclose(y, eager, rtol=1e-4, atol=1e-5)

    hist = collections.Counter(n.op for n in gd.node)
    calls = sorted(n.name for n in gd.node if n.op in FUNCTION_CALL_OPS)
    what = (f"keras.applications.{ctor}(weights=None, input_shape=({size}, {size}, 3)), random weights "
            f"(seed {seed}), {bn_count} calibrated BatchNorms")
    shape = [None, size, size, 3]
    written = []
    if "frozen" in formats:
        folder = entry_folders(out_root, name, ["frozen"])[0]
        write_case(folder, {
            "name": name,
            "format": "frozen .pb",
            "model": "frozen.pb",
            "inputs": [{"name": "x", "file": "x.npy", "shape": shape}],
            "outputs": [{"name": out_names[0], "file": "y.npy"}],
            "description": f"tf-keras {keras.__version__} {what}, frozen with convert_variables_to_constants_v2",
            "ops": dict(sorted(hist.items())),
            "function_calls": calls,
            "library_functions": len(gd.library.function),
        }, x, y)
        with open(os.path.join(folder, "frozen.pb"), "wb") as f:
            f.write(gd_bytes)
        written.append(folder)
    if "saved_model" in formats:
        folder = entry_folders(out_root, name, ["saved_model"])[0]
        spec = tf.TensorSpec(shape, tf.float32, name="x")
        serve = tf.function(lambda x: {"y": model(x, training=False)}, input_signature=[spec])
        tf.saved_model.save(model, os.path.join(folder, "saved_model"), signatures={"serving_default": serve})
        write_case(folder, {
            "name": name + "-SavedModel",
            "format": "tf-keras SavedModel",
            "model": "saved_model",
            "inputs": [{"name": "x", "file": "x.npy", "shape": shape}],
            "outputs": [{"name": "y", "file": "y.npy"}],
            "description": f"tf-keras {keras.__version__} {what}, tf.saved_model.save with signature x -> y",
        }, x, y)
        written.append(folder)
    if "keras3" in formats and name in KERAS3_MODELS:
        folder = entry_folders(out_root, name, ["keras3"])[0]
        twin, copied, version = keras3_twin(ctor, size, model)
        y3 = np.asarray(twin(x, training=False), dtype=np.float32)
        # Same weights, same architecture: the two Keras versions must agree before we trust the twin.
        np.testing.assert_allclose(y3, y, rtol=1e-3, atol=1e-5)
        twin.export(os.path.join(folder, "saved_model"), verbose=False)
        write_case(folder, {
            "name": name + "-Keras3",
            "format": "Keras 3 export",
            "model": "saved_model",
            # model.export's serving signature takes the Input layer's name and returns output_0.
            "inputs": [{"name": twin.inputs[0].name, "file": "x.npy", "shape": shape}],
            "outputs": [{"name": "output_0", "file": "y.npy"}],
            "description": f"Keras {version} {what} (copied from tf-keras, {copied} layers), model.export(dir)",
        }, x, y3)
        written.append(folder)
    mb = len(gd_bytes) / 1e6
    print(f"== {name}: {size}x{size}, {len(gd.node)} nodes, {mb:.1f} MB, {time.time() - t0:.0f} s, "
          f"output {list(y.shape)} range [{y.min():.3g}, {y.max():.3g}] -> {', '.join(written)}")
    print("   ops: " + ", ".join(f"{op}={c}" for op, c in sorted(hist.items())))
    if calls or len(gd.library.function):
        print(f"   function calls remain: {calls[:5]}, library {len(gd.library.function)} functions")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="zoo")
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--size", type=int, default=None,
                    help="input size (default: each model's native size, 224 or 299)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--formats", nargs="*", default=list(FORMATS), choices=FORMATS,
                    help="frozen -> <model>/, saved_model -> <model>-SavedModel/, "
                         f"keras3 -> <model>-Keras3/ (only {', '.join(KERAS3_MODELS)})")
    ap.add_argument("--force", action="store_true", help="regenerate models that are already there")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        print("\n".join(MODELS))
        return 0
    names = args.models or list(MODELS)
    # `just zoo` passes one list to this script and to zoo_onnx.py: its torchvision names are not ours.
    from zoo_onnx import TORCHVISION_MODELS
    unknown = [n for n in names if n not in MODELS and n not in TORCHVISION_MODELS]
    if unknown:
        ap.error(f"unknown models {unknown}; known: {list(MODELS)} (and zoo_onnx.py's {list(TORCHVISION_MODELS)})")
    names = [n for n in names if n in MODELS]
    if not names:
        print(f"zoo.py: none of {args.models} is a keras.applications model (zoo_onnx.py makes them)")
        return 0
    print(f"TensorFlow {tf.__version__}, tf-keras {keras.__version__}")
    failed = []
    for name in names:
        folders = entry_folders(args.out, name, args.formats)
        if not args.force and all(os.path.isfile(os.path.join(f, "meta.json")) for f in folders):
            print(f"== {name}: already in {args.out} (--force regenerates)")
            continue
        try:
            make(name, args.out, args.size, args.batch, args.seed, set(args.formats))
        except Exception as e:  # noqa: BLE001 - try the others
            print(f"!! {name}: {type(e).__name__}: {e}")
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

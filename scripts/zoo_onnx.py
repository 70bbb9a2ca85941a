#!/usr/bin/env python3
"""Generate the ONNX part of the model zoo: real-size models from two exporters.

Two sources, each run with its own venv (`bash scripts/setup.sh --onnx` creates both):

    ~/.cache/tf2h5/venv-torch/bin/python scripts/zoo_onnx.py --source torchvision [--out zoo]
        [--models resnet18 inception_v3 ...] [--batch 2] [--seed 0] [--force]
    ~/.cache/tf2h5/venv-tf2onnx/bin/python scripts/zoo_onnx.py --source tf2onnx [--out zoo]
        [--models ResNet50 VGG16 ...] [--force]
    python3 scripts/zoo_onnx.py --list [--source ...]

Entries whose folders already have a meta.json are skipped unless `--force` is given.
`--models` may mix both sources' names (and scripts/zoo.py's): each source takes its own and
ignores the other's, so `just zoo` passes one list to all three generators.

Both write zoo entries in the test-models fixture layout (`model.onnx`, `x.npy`, `y.npy`,
`meta.json` with `"format": "onnx"` and the op histogram in `"ops"`), so `tf2h5 verify
zoo/<entry>`, `tf2h5 zoo zoo` and `scripts/keras_check.py --fixtures zoo` work on them:

* `--source torchvision` -> `<out>/torchvision-<name>/`: `torchvision.models.get_model(name,
  weights=None)` (no downloads; inception_v3 and googlenet with aux_logits=False,
  init_weights=False) at its native size (224, 299 for inception_v3), with random weights
  (below), exported by torch.onnx.export as test-models/generate_torch.py does (TorchScript
  exporter, dynamo=False, opset 17, constant folding, input `x` NCHW with a dynamic batch `N`,
  output `y`). `x.npy` is 2 seeded N(0, 1) samples, NCHW float32 (`"layout": "NCHW"`);
  `y.npy` is onnxruntime's output, asserted equal to PyTorch's (eval mode) within 1e-4, and
  onnxruntime must give the same for a batch of one.
* `--source tf2onnx` -> `<out>/<Model>-tf2onnx/`: the keras.applications frozen graph
  scripts/zoo.py writes (`<out>/<Model>/frozen.pb`; make missing ones with
  `~/.cache/tf2h5/venv/bin/python scripts/zoo.py --formats frozen --models <Model>`) converted
  by tf2onnx as test-models/generate_tf2onnx.py does (from_graph_def, opset 17, deterministic
  node hashes and names). `x.npy` is the frozen entry's, NHWC as the ONNX input is
  (`"layout": "NHWC"`); `y.npy` is onnxruntime's output, asserted equal to the frozen entry's
  TensorFlow y.npy within 1e-4. Three adjustments make tf2onnx 1.17 convert the whole zoo
  (see the functions): ConvNeXt's XLA-marked grouped-convolution functions are unmarked so they
  are inlined (allow_inlining), its Erfc (exact GELU) becomes 1 - Erf (erfc_as_erf), and
  tf2onnx's per-pass copies of the weights are avoided (fresh_node_protos and
  TF2ONNX_CATCH_ERRORS: VGG16 took 24 GB without them, 9.5 GB with).

The torchvision weights are randomised as scripts/zoo.py does for Keras, not left at
torchvision's default initialisation: with those, activations grow through the network until
float32 rounding noise is amplified so much that even tf-keras and onnxruntime disagree by
3e-4 on inception_v3. From a seeded numpy RandomState: Conv and Linear kernels N(0, 1/fan_in)
(fan_in = weight[0].numel(), so a depthwise kernel's is kh*kw), biases 0.1 N(0, 1), BatchNorm
and LayerNorm gamma U(0.5, 1.5) and beta 0.1 N(0, 1), ConvNeXt's layer scales U(0.5, 1.5).
BatchNorm running statistics are calibrated by one pass over 8 N(0, 1) images with only the
BatchNorms in training mode (reset_running_stats, momentum None: the batch statistics are
stored; Dropout and stochastic depth stay off), then perturbed (mean += 0.1 std N(0, 1),
variance *= U(0.7, 1.3)) so no BatchNorm is an identity and a wrong epsilon still shows. The
last Conv/Linear (the classifier) is scaled so the outputs on the calibration batch have a
standard deviation of 2 (an unsaturated softmax; every head here is positively homogeneous
in that layer's weights and bias, so the scaling is exact).

The outputs go to zoo/ (ignored): the files are up to 550 MB (VGG16).
"""

import argparse
import ast
import collections
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_MODELS = os.path.join(HERE, "..", "test-models")
ATOL = 1e-4

# torchvision name -> (native input size, extra constructor arguments)
TORCHVISION_MODELS = collections.OrderedDict([
    ("resnet18", (224, {})),
    ("resnet50", (224, {})),
    ("mobilenet_v2", (224, {})),
    ("mobilenet_v3_small", (224, {})),
    ("mobilenet_v3_large", (224, {})),
    ("efficientnet_b0", (224, {})),
    ("densenet121", (224, {})),
    ("squeezenet1_1", (224, {})),
    ("googlenet", (224, {"aux_logits": False, "init_weights": False})),
    ("inception_v3", (299, {"aux_logits": False, "init_weights": False})),
    ("vgg16", (224, {})),
    ("alexnet", (224, {})),
    ("mnasnet1_0", (224, {})),
    ("resnext50_32x4d", (224, {})),
    ("regnet_x_400mf", (224, {})),
    ("shufflenet_v2_x1_0", (224, {})),
    ("convnext_tiny", (224, {})),
])
SOURCES = ("torchvision", "tf2onnx")


def keras_models():
    """scripts/zoo.py's model names, read from its MODELS table without importing it (that
    needs TensorFlow and tf-keras, which the torch and tf2onnx venvs lack)."""
    with open(os.path.join(HERE, "zoo.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["MODELS"]:
            pairs = node.value.args[0]  # OrderedDict([(name, (...)), ...])
            return [ast.literal_eval(e.elts[0]) for e in pairs.elts]
    raise RuntimeError("no MODELS table in scripts/zoo.py")


def source_models(source):
    return list(TORCHVISION_MODELS) if source == "torchvision" else keras_models()



def entry_folder(out_root, source, name):
    return os.path.join(out_root, f"torchvision-{name}" if source == "torchvision" else f"{name}-tf2onnx")


def write_entry(folder, data, arrays, meta):
    """model.onnx, the arrays, then meta.json last (its presence marks a complete entry)."""
    os.makedirs(folder, exist_ok=True)
    meta_path = os.path.join(folder, "meta.json")
    if os.path.exists(meta_path):
        os.remove(meta_path)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(data)
    for file, array in arrays.items():
        np.save(os.path.join(folder, file), array)
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# torchvision


def randomize(model, rs, calibration):
    """Random weights and calibrated BatchNorm statistics (see the module docstring); returns
    the number of BatchNorms and the classifier's scale factor."""
    import torch
    from torch import nn

    def put(param, value):
        param.copy_(torch.from_numpy(np.asarray(value, dtype=np.float32)))

    with torch.no_grad():
        for module in model.modules():
            for pname, p in module.named_parameters(recurse=False):
                shape = tuple(p.shape)
                if isinstance(module, (nn.Conv2d, nn.Linear)) and pname == "weight":
                    put(p, rs.standard_normal(shape) / np.sqrt(p[0].numel()))
                elif pname == "bias":
                    put(p, 0.1 * rs.standard_normal(shape))
                elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)) and pname == "weight":
                    put(p, rs.uniform(0.5, 1.5, shape))
                elif pname == "layer_scale":  # ConvNeXt's CNBlock
                    put(p, rs.uniform(0.5, 1.5, shape))
                else:
                    raise ValueError(f"no randomisation rule for {type(module).__name__}.{pname}")

        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [bn.momentum for bn in bns]
        model.eval()
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: after one batch, that batch's statistics
            bn.train()
        model(torch.from_numpy(calibration))
        model.eval()
        for bn, momentum in zip(bns, momenta):
            mean = bn.running_mean.numpy().astype(np.float64)
            var = bn.running_var.numpy().astype(np.float64)
            put(bn.running_mean, mean + 0.1 * np.sqrt(var) * rs.standard_normal(mean.shape))
            put(bn.running_var, var * rs.uniform(0.7, 1.3, var.shape))
            bn.momentum = momentum

        head = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
        factor = 2.0 / max(float(model(torch.from_numpy(calibration)).std()), 1e-6)
        head.weight.mul_(factor)
        if head.bias is not None:
            head.bias.mul_(factor)
        std = float(model(torch.from_numpy(calibration)).std())
        assert abs(std - 2.0) < 1e-2, f"classifier scaling gave logits with std {std}"
    return len(bns), factor


def make_torchvision(name, out_root, batch, seed):
    import onnxruntime as ort
    import torch
    import torchvision

    sys.path.insert(0, TEST_MODELS)
    from generate_torch import OPSET, export_checked, op_histogram

    size, kwargs = TORCHVISION_MODELS[name]
    t0 = time.time()
    torch.manual_seed(seed)
    rs = np.random.RandomState(seed)
    calibration = rs.standard_normal((8, 3, size, size)).astype(np.float32)
    x = rs.standard_normal((batch, 3, size, size)).astype(np.float32)
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    bn_count, factor = randomize(model, rs, calibration)
    model.eval()
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()

    data, proto, y, max_diff = export_checked(model, x, want, name, ATOL)

    hist = op_histogram(proto)
    args = ", ".join(["weights=None"] + [f"{k}={v}" for k, v in kwargs.items()])
    folder = entry_folder(out_root, "torchvision", name)
    write_entry(folder, data, {"x.npy": x, "y.npy": y.astype(np.float32)}, {
        "name": os.path.basename(folder),
        "model": "model.onnx",
        "format": "onnx",
        "layout": "NCHW",
        "inputs": [{"name": "x", "file": "x.npy", "shape": [None, 3, size, size]}],
        "outputs": [{"name": "y", "file": "y.npy"}],
        "source": f"torchvision {torchvision.__version__} / torch {torch.__version__} torch.onnx.export "
                  f"(TorchScript exporter, dynamo=False, opset {OPSET}, do_constant_folding, eval mode, "
                  f"dynamic batch 'N')",
        "description": (f"torchvision.models.get_model('{name}', {args}), NCHW 3x{size}x{size}, random "
                        f"weights (seed {seed}, see scripts/zoo_onnx.py), {bn_count} calibrated BatchNorms, "
                        f"classifier scaled by {factor:.3g} to logits of std 2. Outputs by onnxruntime "
                        f"{ort.__version__}, equal to PyTorch's within {ATOL} (max abs diff {max_diff:.1e})."),
        "ops": hist,
    })
    print(f"== {os.path.basename(folder)}: {size}x{size}, {len(proto.graph.node)} nodes, "
          f"{len(data) / 1e6:.1f} MB, {time.time() - t0:.0f} s, output {list(y.shape)} range "
          f"[{y.min():.3g}, {y.max():.3g}] std {y.std():.3g}, max |onnxruntime - torch| {max_diff:.2g}")
    print("   ops: " + ", ".join(f"{op}={c}" for op, c in hist.items()))


# ---------------------------------------------------------------------------------------------
# tf2onnx


def fresh_node_protos():
    """tf2onnx rewrites every node's NodeProto after each optimizer pass (update_proto: delete
    the attributes, add them again, a Const's weights included). With protobuf's upb backend a
    message's memory is an arena that only grows, so each pass left another copy of all the
    weights behind (VGG16 reached 24 GB). Give each node a new NodeProto (its fields but the
    attributes) before the rewrite, so the old arena is freed. The bytes written are the same."""
    import onnx
    import tf2onnx.graph

    update_proto = tf2onnx.graph.Node.update_proto

    def fresh_update_proto(self, external_tensor_storage=None):
        fresh = onnx.NodeProto()
        for field, value in self._op.ListFields():
            if field.name == "attribute":
                continue
            if field.is_repeated:
                getattr(fresh, field.name).extend(value)
            elif field.type == field.TYPE_MESSAGE:
                getattr(fresh, field.name).CopyFrom(value)
            else:
                setattr(fresh, field.name, value)
        self._op = fresh
        update_proto(self, external_tensor_storage)

    tf2onnx.graph.Node.update_proto = fresh_update_proto


def allow_inlining(graph_def):
    """ConvNeXt's frozen graph keeps its grouped convolutions as PartitionedCalls of functions
    marked `_noinline` and `_XlaMustCompile` (tf-keras compiles them with XLA), which tf2onnx
    would leave as PartitionedCall nodes. Drop the two marks so the grappler pass tf2onnx runs
    first (its `function` optimizer) inlines the calls; returns how many functions it freed."""
    marks = ("_noinline", "_XlaMustCompile")
    for function in graph_def.library.function:
        for mark in marks:
            if mark in function.attr:
                del function.attr[mark]
    for node in graph_def.node:
        for mark in marks:
            if mark in node.attr:
                del node.attr[mark]
    return len(graph_def.library.function)


def make_tf2onnx(name, out_root):
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    import generate_tf2onnx as g  # on sys.path since main()

    t0 = time.time()
    src = os.path.join(out_root, name)
    meta_path = os.path.join(src, "meta.json")
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"{src}/ has no frozen graph: make it with ~/.cache/tf2h5/venv/bin/python "
                                f"scripts/zoo.py --out {out_root} --formats frozen --models {name}")
    with open(meta_path) as f:
        src_meta = json.load(f)
    graph_def = tf.compat.v1.GraphDef()
    with open(os.path.join(src, src_meta["model"]), "rb") as f:
        graph_def.ParseFromString(f.read())
    released = allow_inlining(graph_def)
    erfcs = g.erfc_as_erf(graph_def)
    model = g.convert(graph_def, name, [i["name"] for i in src_meta["inputs"]],
                      [o["name"] for o in src_meta["outputs"]])
    data = model.SerializeToString()
    del graph_def

    got, max_diff = g.run_against_tf(model, data, src, src_meta, name, ATOL)

    hist = g.op_histogram(model)
    folder = entry_folder(out_root, "tf2onnx", name)
    arrays = {i["file"]: np.load(os.path.join(src, i["file"])) for i in src_meta["inputs"]}
    arrays.update({o["file"]: y.astype(np.float32) for o, y in zip(src_meta["outputs"], got)})
    write_entry(folder, data, arrays, {
        "name": os.path.basename(folder),
        "model": "model.onnx",
        "format": "onnx",
        "layout": "NHWC",
        "inputs": [{"name": v.name, "file": i["file"], "shape": i["shape"]} for v, i in zip(model.graph.input, src_meta["inputs"])],
        "outputs": [{"name": v.name, "file": o["file"]} for v, o in zip(model.graph.output, src_meta["outputs"])],
        "source": f"{src}/{src_meta['model']} converted by tf2onnx {tf2onnx.__version__} "
                  f"(tf2onnx.convert.from_graph_def, opset {g.OPSET}) with TensorFlow {tf.__version__}",
        "description": (f"The zoo's frozen {name} as tf2onnx writes it (NHWC input and output as in TF"
                        + (f"; its {released} library functions unmarked _noinline/_XlaMustCompile so "
                           f"grappler inlines them" if released else "")
                        + (f"; its {erfcs} Erfc(z) (exact GELU) rewritten as 1 - Erf(z), which tf2onnx "
                           f"converts" if erfcs else "") + "). "
                        f"Outputs by onnxruntime {ort.__version__}, equal to TF's within {ATOL} (max abs "
                        f"diff {max_diff:.1e}). Frozen graph: {src_meta.get('description', '')}"),
        "ops": hist,
    })
    y = got[0]
    print(f"== {os.path.basename(folder)}: {len(model.graph.node)} nodes, {len(data) / 1e6:.1f} MB, "
          f"{time.time() - t0:.0f} s, output {list(y.shape)} range [{y.min():.3g}, {y.max():.3g}], "
          f"max |onnxruntime - TF| {max_diff:.2g}")
    print("   ops: " + ", ".join(f"{op}={c}" for op, c in hist.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", choices=SOURCES, help="torchvision (venv-torch) or tf2onnx (venv-tf2onnx)")
    ap.add_argument("--out", default="zoo")
    ap.add_argument("--models", nargs="*", default=None,
                    help="subset (names of the other source and of scripts/zoo.py are ignored)")
    ap.add_argument("--batch", type=int, default=2, help="torchvision: samples in x.npy")
    ap.add_argument("--seed", type=int, default=0, help="torchvision: weights and inputs")
    ap.add_argument("--force", action="store_true", help="regenerate entries that are already there")
    ap.add_argument("--list", action="store_true", help="print the model names (of --source, else all)")
    args = ap.parse_args()
    if args.list:
        for source in [args.source] if args.source else SOURCES:
            print("\n".join(source_models(source)))
        return 0
    if args.source is None:
        ap.error("--source is required (or --list)")

    mine = source_models(args.source)
    if not args.models:
        names = source_models(args.source)
    else:
        known = set(TORCHVISION_MODELS) | set(keras_models())
        unknown = [n for n in args.models if n not in known]
        if unknown:
            ap.error(f"unknown models {unknown}; known: {list(TORCHVISION_MODELS) + keras_models()}")
        names = [n for n in args.models if n in mine]
        if not names:
            print(f"zoo_onnx --source {args.source}: none of {args.models} is one of its models")
            return 0

    if args.source == "tf2onnx":
        # tf2onnx deep-copies the whole graph, weights included, before each optimizer pass (to
        # roll a failing pass back); the copies are freed only by the cyclic GC, so VGG16 (553 MB)
        # reached 24 GB. Setting TF2ONNX_CATCH_ERRORS turns the copies off (in tf2onnx 1.17 any
        # value does: it compares the variable's name, not its value, with "TRUE"), as tf2onnx's
        # own large_model path does; a failing pass then stops the conversion. The output is the
        # same (the committed tf2onnx fixtures convert byte-identically either way).
        os.environ["TF2ONNX_CATCH_ERRORS"] = "FALSE"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        # Importing it re-executes this script with PYTHONHASHSEED=0 (tf2onnx iterates over sets).
        sys.path.insert(0, TEST_MODELS)
        import generate_tf2onnx as g
        g.deterministic_node_hashes()
        fresh_node_protos()
        import tensorflow as tf
        import tf2onnx
        tf.get_logger().setLevel("ERROR")  # tf2onnx's calls of TF1 APIs log deprecation notices
        print(f"TensorFlow {tf.__version__}, tf2onnx {tf2onnx.__version__}")
    else:
        import torch
        import torchvision
        torch.use_deterministic_algorithms(True)
        print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")

    failed = []
    for name in names:
        folder = entry_folder(args.out, args.source, name)
        if not args.force and os.path.isfile(os.path.join(folder, "meta.json")):
            print(f"== {os.path.basename(folder)}: already in {args.out} (--force regenerates)")
            continue
        try:
            if args.source == "torchvision":
                make_torchvision(name, args.out, args.batch, args.seed)
            else:
                make_tf2onnx(name, args.out)
        except Exception as e:  # noqa: BLE001 - try the others
            print(f"!! {os.path.basename(folder)}: {type(e).__name__}: {e}")
            failed.append(name)
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

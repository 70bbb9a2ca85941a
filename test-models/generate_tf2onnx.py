#!/usr/bin/env python3
"""Generate the tf2onnx fixtures (test-models/tf2onnx_*/): TF fixtures converted to ONNX by a
real exporter, tf2onnx, so the ONNX translator sees what tf2onnx writes (an NHWC input and a
Transpose to NCHW, names like `x:0`, BatchNorm folded into Conv, TF's Flatten after a
Transpose back to NHWC, MatMul + Add for Dense, Squeeze after GlobalAveragePool).

Run with the tf2onnx venv (TensorFlow 2.21 + tf2onnx 1.17.0 + onnxruntime;
`bash scripts/setup.sh --onnx` creates it):

    ~/.cache/tf2h5/venv-tf2onnx/bin/python test-models/generate_tf2onnx.py [--out test-models]

For every TF fixture `<case>` in CASES it converts `test-models/<case>/frozen.pb` with
`tf2onnx.convert.from_graph_def` (opset 17; the input and output tensors are the meta.json
names + `:0`) and writes `<out>/tf2onnx_<case>/`:

* `model.onnx` - tf2onnx's model (checked with onnx.checker; only default-domain ops);
* `x.npy`      - the TF fixture's input, unchanged (NHWC, as the ONNX model's input is);
* `y.npy`      - onnxruntime's output for it, asserted equal to the TF fixture's y.npy
  within 1e-5, so it is TensorFlow's output too;
* `meta.json`  - as for the other ONNX fixtures (`"format": "onnx"`) but with
  `"layout": "NHWC"` (nothing to transpose), plus `"source"` (the TF fixture, the tool and
  its version).

Deterministic: running it twice gives byte-identical files (tf2onnx hashes its graph nodes by
address, so the script hashes them by creation order instead, runs itself with
PYTHONHASHSEED=0, and restarts tf2onnx's name counter for every case, so `--cases a b`
regenerates a subset identically).
"""

import argparse
import collections
import itertools
import json
import os
import shutil
import sys

# Some tf2onnx optimizers iterate over sets of tensor names (e.g. the back-to-back optimizer's
# queue), whose order follows Python's string hash seed: fix it, restarting the interpreter if
# needed (the cases here happen not to depend on it; see also deterministic_node_hashes).
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402
import tf2onnx.convert  # noqa: E402
import tf2onnx.graph  # noqa: E402
import tf2onnx.utils  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
ATOL = 1e-5
CASES = ["cnn", "mobile_block", "inception_block", "efficient_block", "dilated_block", "convnext_block", "vit_tiny"]


node_seq = itertools.count()


def deterministic_node_hashes():
    """tf2onnx's optimizers iterate over sets of its Node objects (e.g. the transpose
    optimizer's `set(node.inputs)`), which hash by address, so which duplicate constant
    survives and the numbers in generated names changed from run to run. Hash nodes by their
    creation order instead (identity equality is unchanged); write_case restarts the count."""
    init = tf2onnx.graph.Node.__init__

    def __init__(self, *args, **kwargs):
        self._tf2h5_seq = next(node_seq)
        init(self, *args, **kwargs)

    tf2onnx.graph.Node.__init__ = __init__
    tf2onnx.graph.Node.__hash__ = lambda self: self._tf2h5_seq


def op_histogram(model):
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def convert(graph_def, name, inputs, outputs):
    """tf2onnx.convert.from_graph_def at OPSET, from the TF node names `inputs` to `outputs`
    (tensors `:0`), deterministically (call deterministic_node_hashes once first); the model
    is checked with onnx.checker and must hold only ONNX ops. Also used by scripts/zoo_onnx.py."""
    # tf2onnx names the nodes it makes with a process-wide counter: reset it (and the node hash
    # count) so a case converts to the same bytes whichever cases ran before it.
    global node_seq
    tf2onnx.utils.INTERNAL_NAME = 1
    node_seq = itertools.count()
    model, _ = tf2onnx.convert.from_graph_def(
        graph_def, name=name,
        input_names=[i + ":0" for i in inputs],
        output_names=[o + ":0" for o in outputs],
        opset=OPSET)
    onnx.checker.check_model(model, full_check=True)
    # from_graph_def continues on conversion errors (leaving the TF op in the graph): refuse.
    foreign = sorted({(n.domain, n.op_type) for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    assert not foreign, f"{name}: tf2onnx left non-ONNX ops {foreign}"
    return model


def run_against_tf(model, data, src, src_meta, label, atol):
    """Runs the converted `model` (serialised as `data`) in onnxruntime on the inputs of the TF
    fixture or zoo entry in `src` (described by `src_meta`) and asserts its outputs match
    TensorFlow's there within `atol`. Returns (outputs, max abs difference). Also used by
    scripts/zoo_onnx.py."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    in_names = [i.name for i in model.graph.input]
    out_names = [o.name for o in model.graph.output]
    feeds = {n: np.load(os.path.join(src, i["file"])) for n, i in zip(in_names, src_meta["inputs"])}
    got = session.run(out_names, feeds)
    max_diff = 0.0
    for o, y in zip(src_meta["outputs"], got):
        want = np.load(os.path.join(src, o["file"]))
        assert y.shape == want.shape, f"{label}: onnxruntime shape {y.shape}, TF {want.shape}"
        np.testing.assert_allclose(y, want, rtol=0, atol=atol, err_msg=f"{label}: onnxruntime vs TF")
        max_diff = max(max_diff, float(np.max(np.abs(y - want))))
    return got, max_diff


def erfc_as_erf(graph_def):
    """tf-keras's exact GELU (ConvNeXt) is 0.5 x erfc(-x / sqrt 2); tf2onnx has no Erfc (nor
    does ONNX) and leaves the TF op in the model. Rewrite each Erfc(z) as Sub(1, Erf(z)),
    keeping its name; returns how many. Also used by scripts/zoo_onnx.py."""

    count = 0
    for node in list(graph_def.node):
        if node.op != "Erfc":
            continue
        dtype = node.attr["T"].type
        erf = graph_def.node.add(name=node.name + "/Erf", op="Erf", input=list(node.input), device=node.device)
        erf.attr["T"].type = dtype
        one = graph_def.node.add(name=node.name + "/one", op="Const", device=node.device)
        one.attr["dtype"].type = dtype
        one.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(1.0, dtype=tf.dtypes.as_dtype(dtype)))
        node.op = "Sub"
        del node.input[:]
        node.input.extend([one.name, erf.name])
        count += 1
    return count


def write_case(fixtures, out_dir, case):
    src = os.path.join(fixtures, case)
    with open(os.path.join(src, "meta.json")) as f:
        src_meta = json.load(f)
    graph_def = tf.compat.v1.GraphDef()
    with open(os.path.join(src, src_meta["model"]), "rb") as f:
        graph_def.ParseFromString(f.read())
    erfcs = erfc_as_erf(graph_def)

    model = convert(graph_def, case, [i["name"] for i in src_meta["inputs"]],
                    [o["name"] for o in src_meta["outputs"]])
    data = model.SerializeToString()
    got, max_diff = run_against_tf(model, data, src, src_meta, case, ATOL)

    name = "tf2onnx_" + case
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data)
    for i in src_meta["inputs"]:
        shutil.copyfile(os.path.join(src, i["file"]), os.path.join(d, i["file"]))
    for o, g in zip(src_meta["outputs"], got):
        np.save(os.path.join(d, o["file"]), g.astype(np.float32))
    hist = op_histogram(model)
    meta = {
        "name": name,
        "model": "model.onnx",
        "format": "onnx",
        "layout": "NHWC",
        "inputs": [{"name": v.name, "file": i["file"], "shape": i["shape"]}
                   for v, i in zip(model.graph.input, src_meta["inputs"])],
        "outputs": [{"name": v.name, "file": o["file"]} for v, o in zip(model.graph.output, src_meta["outputs"])],
        "source": f"test-models/{case}/frozen.pb converted by tf2onnx {tf2onnx.__version__} "
                  f"(tf2onnx.convert.from_graph_def, opset {OPSET}) with TensorFlow {tf.__version__}",
        "description": (f"The TF fixture `{case}` as tf2onnx writes it: NHWC input and output as in "
                        f"TF, tensor names with ':0', a dynamic batch dimension ('unk__N'); tf2onnx's "
                        f"optimizer keeps one Transpose to NCHW after the input (a Reshape when C "
                        f"is 1) and Transposes back to NHWC only where the order matters (before a "
                        f"Flatten), folds BatchNorm into the Conv weights (and a Pad into Conv pads where it can). "
                        + (f"Its {erfcs} Erfc nodes (GELU; ONNX has no Erfc) are rewritten as 1 - Erf before "
                           f"converting. " if erfcs else "")
                        + f"Outputs by onnxruntime {ort.__version__}, equal "
                        f"to TF's within {ATOL} (max abs diff {max_diff:.1e}). ONNX ops: "
                        + ", ".join(f"{k} {v}" for k, v in hist.items())
                        + f". TF fixture: {src_meta['description']}"),
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    size = os.path.getsize(os.path.join(d, "model.onnx"))
    print(f"== {name}: {len(model.graph.node)} nodes, model.onnx {size} bytes, opset "
          f"{[(o.domain, o.version) for o in model.opset_import]}, producer {model.producer_name} "
          f"{model.producer_version}; max |onnxruntime - TF| {max_diff:.3g}")
    print("   ops " + json.dumps(hist))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default=HERE, help="where the TF fixtures are")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--cases", nargs="*", default=CASES)
    args = ap.parse_args()
    deterministic_node_hashes()
    for case in args.cases:
        write_case(args.fixtures, args.out, case)


if __name__ == "__main__":
    main()

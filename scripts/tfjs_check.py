#!/usr/bin/env python3
"""Convert tf2h5's .h5 files with TensorFlow.js's converter and check what it wrote.

Runs in the tensorflowjs venv (~/.cache/tf2h5/venv-tfjs, scripts/requirements-tfjs*.txt), not
in the keras-check venv: tensorflowjs 4.22 imports tensorflow-decision-forests, whose op
library is built for TensorFlow 2.19 only. scripts/keras_check.py calls it with
`--tfjs-python`; it can also run alone:

    ~/.cache/tf2h5/venv-tfjs/bin/python scripts/tfjs_check.py --fixtures test-models \\
        --h5-dir DIR --out-dir DIR/tfjs --results FILE.jsonl [CASE ...]

For every case, `DIR/<case>.h5` goes through `tensorflowjs_converter --input_format keras
<case>.h5 <out-dir>/<case>` (the console script's own function, `converter.convert(argv)`,
called in this one process: the script imports TensorFlow, TF Decision Forests and JAX,
about 20 s, once instead of once per file). The result must then be sound:
  * `model.json` exists, is a `layers-model` with a model topology;
  * its weight manifest lists every weight of the .h5 (each layer's `weight_names`), with
    the same shapes and dtypes, and nothing else;
  * the weight shards it names exist and hold exactly the .h5's values, in manifest order;
  * tensorflowjs's own loader (`load_keras_model`, tf-keras 2.19) rebuilds the model from
    model.json and the shards, and its predictions on the fixture inputs match TensorFlow's
    outputs (y*.npy) within `--atol`.
One JSON object per case is appended to `--results` as soon as the case is done.
"""

import argparse
import json
import os
import sys
import time

# keras_check.py imports only the standard library at module level.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keras_check import check_model, last_line  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
# tensorflowjs drives tf-keras, not Keras 3.
os.environ["TF_USE_LEGACY_KERAS"] = "1"


def h5_weights(path):
    """[(name without ':0', array)] of a Keras 2 .h5 model file, in layer order."""
    import h5py
    import numpy as np

    def text(s):
        return s.decode("utf-8") if isinstance(s, bytes) else str(s)

    out = []
    with h5py.File(path, "r") as f:
        weights = f["model_weights"]
        for layer in weights.attrs["layer_names"]:
            group = weights[text(layer)]
            for name in group.attrs.get("weight_names", []):
                name = text(name)
                out.append((name[:-2] if name.endswith(":0") else name, np.array(group[name])))
    return out


def check_artifacts(model_dir, weights):
    """Problems with what the converter wrote in `model_dir`, given the .h5's weights."""
    import numpy as np

    path = os.path.join(model_dir, "model.json")
    if not os.path.isfile(path):
        return ["no model.json"], None
    with open(path) as f:
        model_json = json.load(f)
    problems = []
    if model_json.get("format") != "layers-model":
        problems.append(f"format {model_json.get('format')!r}, expected 'layers-model'")
    if not model_json.get("modelTopology"):
        problems.append("no modelTopology")
    listed = []
    for group in model_json.get("weightsManifest", []):
        blob = b""
        for shard in group["paths"]:
            shard_path = os.path.join(model_dir, shard)
            if not os.path.isfile(shard_path):
                problems.append(f"missing weight shard {shard}")
                continue
            with open(shard_path, "rb") as f:
                blob += f.read()
        offset = 0
        for entry in group["weights"]:
            dtype = np.dtype(entry["dtype"])
            count = int(np.prod(entry["shape"], dtype=np.int64))
            size = count * dtype.itemsize
            value = np.frombuffer(blob[offset:offset + size], dtype=dtype)
            if value.size == count:
                value = value.reshape(entry["shape"])
            listed.append((entry["name"], value, entry))
            offset += size
        if offset != len(blob):
            problems.append(f"shards {group['paths']} hold {len(blob)} bytes, manifest {offset}")
    expected = dict(weights)
    names = [n for n, _, _ in listed]
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    if missing:
        problems.append(f"manifest lacks {len(missing)} of the .h5's weights, e.g. {missing[0]}")
    if extra:
        problems.append(f"manifest lists {len(extra)} weights the .h5 lacks, e.g. {extra[0]}")
    if len(set(names)) != len(names):
        problems.append("manifest lists a weight twice")
    for name, value, entry in listed:
        if name not in expected:
            continue
        want = expected[name]
        if list(want.shape) != list(entry["shape"]) or want.dtype != value.dtype:
            problems.append(f"{name}: {entry['dtype']}{entry['shape']} in the manifest, "
                            f"{want.dtype}{list(want.shape)} in the .h5")
        elif not np.array_equal(want, value):
            problems.append(f"{name}: values differ from the .h5's")
    return problems, len(listed)


def check_one(converter, loader, fixtures, h5_dir, out_dir, case, atol):
    res = {"case": case, "ok": False, "max_abs_err": None, "error": None, "outputs": [],
           "weights": None}
    h5 = os.path.join(h5_dir, case + ".h5")
    res["h5"] = h5
    if not os.path.isfile(h5):
        res["error"] = f"missing h5 file: {h5}"
        return res
    model_dir = os.path.join(out_dir, case)
    stage = "tensorflowjs_converter"
    try:
        t0 = time.time()
        # What the console script runs: pip_main() -> main() -> convert(argv).
        converter.convert(["--input_format", "keras", h5, model_dir])
        res["convert_s"] = round(time.time() - t0, 3)
        stage = "check"
        problems, res["weights"] = check_artifacts(model_dir, h5_weights(h5))
    except Exception as e:  # noqa: BLE001 - report, don't stop
        res["error"] = f"{stage}: {last_line(e)}"
        return res
    if problems:
        res["error"] = "; ".join(problems)
        return res
    model_json = os.path.join(model_dir, "model.json")
    return check_model(lambda: loader.load_keras_model(model_json), fixtures, case, atol, res)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", default="test-models")
    ap.add_argument("--h5-dir", required=True)
    ap.add_argument("--out-dir", required=True, help="where the converter writes <case>/")
    ap.add_argument("--results", required=True, help="JSON lines, one per case (appended)")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    import warnings
    warnings.filterwarnings("ignore")
    out = open(args.results, "a")
    try:
        from tensorflowjs import version
        from tensorflowjs.converters import converter, keras_tfjs_loader
        tag = f"tensorflowjs {version.version}"
    except Exception as e:  # noqa: BLE001
        for case in args.cases:
            out.write(json.dumps({"case": case, "ok": False, "error": "import: " + last_line(e)}) + "\n")
        return 0
    for case in args.cases:
        res = check_one(converter, keras_tfjs_loader, args.fixtures, args.h5_dir, args.out_dir,
                        case, args.atol)
        res["version"] = tag
        out.write(json.dumps(res) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

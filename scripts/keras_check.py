#!/usr/bin/env python3
"""Check that tf2h5's .h5 files load in real Keras and reproduce TensorFlow's outputs.

Usage:
    ~/.cache/tf2h5/venv/bin/python scripts/keras_check.py --fixtures test-models --h5-dir DIR
        [--atol 1e-4] [--loaders tf_keras,keras3] [--skip CASE ...] [--timeout 900]
        [--tfjs-python ~/.cache/tf2h5/venv-tfjs/bin/python]

For every fixture directory `test-models/<case>/` that has a meta.json, the h5 file
`DIR/<case>.h5` is loaded with
  * tf-keras 2.x (`TF_USE_LEGACY_KERAS=1`, `tf_keras.models.load_model(path, compile=False)`)
  * Keras 3     (`keras.models.load_model(path, compile=False)`, TensorFlow backend)
For a Keras .h5 source fixture (`test-models/h5_*`, generate_h5.py) the expected outputs are the
original file's, computed by tf-keras 2.21 loading it: the upgraded file in tf-keras, Keras 3 and
tfjs is compared with the original in tf-keras, on the same inputs.
each in its own subprocess (the environment must be set before TensorFlow is imported),
run with `model.predict(inputs, verbose=0)` on the fixture inputs (meta.json order; several
inputs as a list), and every output is compared with the TF-computed output by max abs error.

With `--tfjs-python`, every h5 file also goes through TensorFlow.js's converter
(`tensorflowjs_converter --input_format keras`), run by scripts/tfjs_check.py in that
interpreter (the tensorflowjs venv), which checks the files it writes (model.json, a weight
manifest listing every weight of the .h5 with its values) and the converted model's
predictions; it reports as loader `tfjs`.

Prints one line per (case, loader), then `N passed, M failed`; writes DIR/keras_check.json.
Exit status: 0 if everything passed, 1 if any load/compare failed or an h5 file is missing,
2 on usage errors.

Internal: `--worker tf_keras|keras3 --out FILE CASE...` is the subprocess mode; it appends
one JSON object per case to FILE as soon as that case is done, so a crash (segfault, abort)
loses only the case in progress and the parent restarts a worker for the remaining ones.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

LOADERS = ("tf_keras", "keras3")
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:")


# --------------------------------------------------------------------------- shared


def load_meta(fixtures, case):
    with open(os.path.join(fixtures, case, "meta.json")) as f:
        return json.load(f)


def find_cases(fixtures):
    return sorted(
        d for d in os.listdir(fixtures)
        if os.path.isfile(os.path.join(fixtures, d, "meta.json"))
    )


def last_line(exc):
    """The last non-empty line of an exception's message (what a human needs first)."""
    lines = [ln for ln in "".join(traceback.format_exception_only(type(exc), exc)).splitlines()
             if ln.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


# --------------------------------------------------------------------------- worker


def worker_env(loader):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    if loader == "tf_keras":
        env["TF_USE_LEGACY_KERAS"] = "1"
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
        env["KERAS_BACKEND"] = "tensorflow"
    return env


def import_loader(loader):
    """Import the Keras flavour; return (load_model, version string)."""
    if loader == "tf_keras":
        assert os.environ.get("TF_USE_LEGACY_KERAS") == "1"
        import tf_keras
        return tf_keras.models.load_model, f"tf_keras {tf_keras.__version__}"
    import keras
    return keras.models.load_model, f"keras {keras.__version__} ({keras.backend.backend()})"


def to_h5_layout(meta, arrays, edges):
    """ONNX fixtures store NCHW arrays (`"layout": "NCHW"` in meta.json); the .h5 files
    keras-check loads are written without --keep-nchw, so they take and give NHWC. An input or
    output whose batch the ONNX file has on another axis (its meta.json entry's `batch_axis`,
    silero-vad's state (2, N, 128)) is taken and given with the batch moved first."""
    import numpy as np

    moved = [np.moveaxis(a, e.get("batch_axis", 0), 0) for a, e in zip(arrays, edges)]
    if meta.get("layout") != "NCHW":
        return moved
    return [a.transpose(0, 2, 3, 1) if a.ndim == 4 and "batch_axis" not in e else a for a, e in zip(moved, edges)]


def input_array(array):
    """Fixture inputs keep an integer or boolean dtype (fed to Keras as such); floats are float32."""
    import numpy as np

    return array if array.dtype.kind in "iub" else array.astype(np.float32)


def check_one(load_model, fixtures, h5_dir, case, atol):
    res = {"case": case, "ok": False, "max_abs_err": None, "error": None, "outputs": []}
    path = os.path.join(h5_dir, case + ".h5")
    res["h5"] = path
    if not os.path.isfile(path):
        res["error"] = f"missing h5 file: {path}"
        return res
    return check_model(lambda: load_model(path, compile=False), fixtures, case, atol, res)


def check_model(load, fixtures, case, atol, res):
    """Builds the model with `load()`, predicts on the fixture's inputs and compares with its
    TF outputs; fills in and returns `res` (also used by scripts/tfjs_check.py)."""
    import numpy as np

    try:
        meta = load_meta(fixtures, case)
        fdir = os.path.join(fixtures, case)
        # The fixture's inputs and outputs, then (models with unknown dimensions) the same at
        # the further sizes of meta.json's "runs": the .h5 must reproduce TF at each.
        runs = [([i["file"] for i in meta["inputs"]], [o["file"] for o in meta["outputs"]])]
        runs += [(r["inputs"], r["outputs"]) for r in meta.get("runs", [])]
        runs = [
            (to_h5_layout(meta, [input_array(np.load(os.path.join(fdir, f))) for f in ins], meta["inputs"]),
             to_h5_layout(meta, [np.load(os.path.join(fdir, f)) for f in outs], meta["outputs"]))
            for ins, outs in runs
        ]
        # A fixture may state its own tolerance: a mixed-precision source computes in float16
        # in tf-keras, and its upgraded file in float32 (test-models/generate_h5.py).
        atol = max(atol, float(meta.get("atol", atol)))
    except Exception as e:  # noqa: BLE001 - report, don't stop
        res["error"] = "fixture: " + last_line(e)
        return res
    stage = "load"
    try:
        t0 = time.time()
        model = load()
        res["load_s"] = round(time.time() - t0, 3)
        # Integer inputs (token ids) must stay integer in the file, as they are in the source.
        for tensor, array in zip(model.inputs, runs[0][0]):
            dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
            if dtype != str(array.dtype):
                res["error"] = f"input {tensor.name} has dtype {dtype}, the fixture's data is {array.dtype}"
                return res
        stage = "predict"
        predictions = []
        for inputs, _ in runs:
            got = model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)
            predictions.append(list(got) if isinstance(got, (list, tuple)) else [got])
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{stage}: {last_line(e)}"
        return res
    worst = 0.0
    shapes_ok = True
    problems = []
    for k, (got, (inputs, expected)) in enumerate(zip(predictions, runs)):
        at = f" at input shape {list(inputs[0].shape)}" if len(runs) > 1 else ""
        if len(got) != len(expected):
            res["error"] = f"model has {len(got)} outputs, fixture has {len(expected)}"
            return res
        for o, g, e in zip(meta["outputs"], got, expected):
            g = np.asarray(g)
            entry = {"name": o["name"], "shape": list(g.shape), "expected_shape": list(e.shape)}
            if len(runs) > 1:
                entry["run"] = k
            if g.shape != e.shape:
                problems.append(f"output {o['name']}{at}: shape {list(g.shape)} != {list(e.shape)}")
                entry["max_abs_err"] = None
                shapes_ok = False
            else:
                diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
                err = float(diff.max()) if diff.size else 0.0
                if not np.all(np.isfinite(g)):
                    problems.append(f"output {o['name']}{at}: non-finite values")
                    err = float("inf")
                entry["max_abs_err"] = err
                worst = max(worst, err)
                if err > atol:
                    problems.append(f"output {o['name']}{at}: max_abs_err {err:.3g} > atol {atol:g}")
            res["outputs"].append(entry)
    res["max_abs_err"] = worst if shapes_ok else None
    res["ok"] = not problems
    res["error"] = "; ".join(problems) or None
    return res


def run_worker(args):
    import warnings
    warnings.filterwarnings("ignore")
    out = open(args.out, "a")

    def emit(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        load_model, version = import_loader(args.worker)
    except Exception as e:  # noqa: BLE001
        for case in args.cases:
            emit({"case": case, "ok": False, "max_abs_err": None,
                  "error": "import: " + last_line(e), "outputs": []})
        return 0
    for case in args.cases:
        res = check_one(load_model, args.fixtures, args.h5_dir, case, args.atol)
        res["version"] = version
        emit(res)
    return 0


# --------------------------------------------------------------------------- parent


def describe_exit(rc, output):
    """'worker killed by SIGSEGV: <last meaningful output line>'."""
    if rc < 0:
        try:
            what = f"worker killed by {signal.Signals(-rc).name}"
        except ValueError:
            what = f"worker killed by signal {-rc}"
    else:
        what = f"worker exited with status {rc}"
    # Skip TF/absl log noise (E0000 00:00:... cuda_platform.cc ...) to find a real message.
    tail = [ln.strip() for ln in output.splitlines()
            if ln.strip() and not TF_LOG_LINE.match(ln) and "absl::InitializeLog" not in ln]
    return what + (f": {tail[-1]}" if tail else "")


def run_loader(loader, cases, args):
    """Run `cases` in worker subprocesses, restarting after a crash; return {case: result}."""
    results = {}
    remaining = list(cases)
    while remaining:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tmp:
            out_path = tmp.name
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", loader, "--out", out_path,
               "--fixtures", args.fixtures, "--h5-dir", args.h5_dir, "--atol", repr(args.atol),
               *remaining]
        crash = None
        try:
            proc = subprocess.run(cmd, env=worker_env(loader), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=args.timeout)
            if proc.returncode != 0:
                crash = describe_exit(proc.returncode, proc.stdout)
        except subprocess.TimeoutExpired:
            crash = f"worker timed out after {args.timeout}s"
        with open(out_path) as f:
            for line in f:
                line = line.strip()
                if line:
                    r = json.loads(line)
                    results[r["case"]] = r
        os.unlink(out_path)
        remaining = [c for c in remaining if c not in results]
        if remaining:
            # The first unfinished case is the one the worker died on.
            victim = remaining.pop(0)
            results[victim] = {"case": victim, "ok": False, "max_abs_err": None,
                               "error": crash or "worker produced no result", "outputs": []}
    return results


def run_tfjs(cases, args):
    """scripts/tfjs_check.py on `cases` in the tensorflowjs venv; return {case: result}."""
    out_dir = os.path.join(args.h5_dir, "tfjs")
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tmp:
        out_path = tmp.name
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tfjs_check.py")
    cmd = [args.tfjs_python, script, "--fixtures", args.fixtures, "--h5-dir", args.h5_dir,
           "--out-dir", out_dir, "--results", out_path, "--atol", repr(args.atol), *cases]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    crash = None
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=args.timeout)
        if proc.returncode != 0:
            crash = describe_exit(proc.returncode, proc.stdout)
    except (OSError, subprocess.TimeoutExpired) as e:
        crash = f"tfjs_check did not run: {last_line(e)}"
    results = {}
    with open(out_path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                results[r["case"]] = r
    os.unlink(out_path)
    for case in cases:
        results.setdefault(case, {"case": case, "ok": False, "max_abs_err": None,
                                  "error": crash or "tfjs_check produced no result"})
    return results


def fmt_err(v):
    return "n/a" if v is None else f"{v:.3g}"


def main_parent(args):
    if not os.path.isdir(args.fixtures):
        print(f"error: fixtures directory not found: {args.fixtures}", file=sys.stderr)
        return 2
    if not os.path.isdir(args.h5_dir):
        print(f"error: h5 directory not found: {args.h5_dir}", file=sys.stderr)
        return 2
    loaders = [x for x in args.loaders.split(",") if x]
    bad = [x for x in loaders if x not in LOADERS]
    if bad:
        print(f"error: unknown loader(s) {bad}; choose from {list(LOADERS)}", file=sys.stderr)
        return 2
    cases = [c for c in find_cases(args.fixtures) if c not in set(args.skip)]
    if not cases:
        print(f"error: no fixtures with meta.json under {args.fixtures}", file=sys.stderr)
        return 2

    all_results = []
    width = max(len(c) for c in cases)
    if args.tfjs_python:
        loaders.append("tfjs")
    for loader in loaders:
        res = run_tfjs(cases, args) if loader == "tfjs" else run_loader(loader, cases, args)
        for case in cases:
            r = dict(res[case])
            r["loader"] = loader
            all_results.append(r)
            status = "OK" if r["ok"] else "FAIL"
            err = fmt_err(r["max_abs_err"])
            line = f"{case:<{width}}  {loader:<8}  {status:<4}  max_abs_err={err}"
            if loader == "tfjs" and r.get("weights") is not None:
                line += f"  weights={r['weights']}"
            if r.get("error"):
                line += f"  ({r['error']})"
            print(line, flush=True)

    passed = sum(r["ok"] for r in all_results)
    failed = len(all_results) - passed
    print(f"{passed} passed, {failed} failed")
    summary = {
        "fixtures": os.path.abspath(args.fixtures),
        "h5_dir": os.path.abspath(args.h5_dir),
        "atol": args.atol,
        "skipped": sorted(args.skip),
        "passed": passed,
        "failed": failed,
        "results": all_results,
    }
    with open(os.path.join(args.h5_dir, "keras_check.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description="Load tf2h5 .h5 files in tf-keras and Keras 3 "
                                 "and compare their predictions with TensorFlow's.")
    ap.add_argument("--fixtures", default="test-models", help="fixture root (default test-models)")
    ap.add_argument("--h5-dir", required=True, help="directory holding <case>.h5 files")
    ap.add_argument("--atol", type=float, default=1e-4, help="max abs error allowed (1e-4)")
    ap.add_argument("--loaders", default=",".join(LOADERS),
                    help="comma-separated subset of tf_keras,keras3")
    ap.add_argument("--skip", action="append", default=[], metavar="CASE",
                    help="fixture to leave out (repeatable)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per worker process")
    ap.add_argument("--tfjs-python", default=None, metavar="PYTHON",
                    help="also convert every h5 with tensorflowjs_converter, using this "
                         "interpreter of the tensorflowjs venv (scripts/tfjs_check.py)")
    ap.add_argument("--worker", choices=LOADERS, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("cases", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return run_worker(args)
    if args.cases:
        ap.error("positional arguments are only for --worker mode")
    return main_parent(args)


if __name__ == "__main__":
    sys.exit(main())

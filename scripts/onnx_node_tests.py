#!/usr/bin/env python3
"""The ONNX backend node-test suite (the single-op models the `onnx` package builds, each with
its inputs and expected outputs) run through `tf2h5 verify`, as a peer's test suite.

Two steps, each in the venv that has what it needs:

    # 1. with the ONNX venv: write every case (model.onnx, input_<i>.npy, output_<i>.npy,
    #    meta.json) below OUT, from onnx.backend.test.loader.load_model_tests(kind="node")
    ~/.cache/tf2h5/venv-onnx/bin/python scripts/onnx_node_tests.py export --out out/onnx-node

    # 2. with the keras-check venv: `tf2h5 verify --keep-nchw` on every case with its own
    #    inputs; each verified .h5 is loaded in tf-keras (compile=False) and its predictions on
    #    the case's inputs compared with the case's expected outputs; writes the report
    ~/.cache/tf2h5/venv/bin/python scripts/onnx_node_tests.py run --cases out/onnx-node \\
        --tf2h5 target/release/tf2h5 --report reports/onnx-node-tests.md

`just onnx-node-tests` runs both. Cases written at an opset newer than tf2h5 reads are
converted down by onnx.version_converter where it can (see `converted`). A case is *verified* when tf2h5 wrote the .h5 (exit 0) and
Keras reproduces the expected outputs, a *mismatch* when tf2h5 exits 1 or Keras differs from
the expected outputs, *refused* when tf2h5 exits 2 (its one-line reason is reported), and a
*crash* on any other exit or a timeout. `--keep-nchw` makes the .h5 take and give the ONNX
layout, so the case's arrays are compared as they are.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path


# The newest default-domain opset tf2h5 (its tract-onnx oracle) reads.
NEWEST_OPSET = 21


def opset_of(model):
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def converted(model):
    """`model` (written at an opset newer than NEWEST_OPSET, as most cases of onnx 1.23 are)
    converted down by onnx.version_converter where it has the adapters (most ops changed only
    their types since); unchanged where it cannot, so tf2h5 refuses it for its opset."""
    import onnx
    from onnx import version_converter

    try:
        down = version_converter.convert_version(model, NEWEST_OPSET)
        onnx.checker.check_model(down)
        return down
    except Exception:
        return model


# Inputs that real models hold as constants (weights, axes, shapes, bounds) but node-test cases
# pass as graph inputs, by op: input positions. `bake` turns such a graph input into an
# initializer with the case's own value, so the case tests the op as exporters write it
# (Conv with constant weights, ReduceSum with constant axes); the report names each baked input.
PARAMETER_INPUTS = {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "PRelu": (1,),
    "BatchNormalization": (1, 2, 3, 4), "InstanceNormalization": (1, 2), "LayerNormalization": (1, 2),
    "GroupNormalization": (1, 2),
    "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,), "ReduceLogSumExp": (1,), "ReduceMax": (1,),
    "ReduceMean": (1,), "ReduceMin": (1,), "ReduceProd": (1,), "ReduceSum": (1,), "ReduceSumSquare": (1,),
    "Squeeze": (1,), "Unsqueeze": (1,), "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Split": (1,),
    "Slice": (1, 2, 3, 4), "Pad": (1, 2, 3), "Clip": (1, 2), "Resize": (1, 2, 3), "Pow": (1,),
}


def bake(model, values):
    """Moves each graph input that only feeds `PARAMETER_INPUTS` positions into an initializer
    holding its value (`values`: name → array); returns the names baked."""
    from onnx import numpy_helper

    initializers = {t.name for t in model.graph.initializer}
    uses = collections.defaultdict(list)
    for node in model.graph.node:
        for position, name in enumerate(node.input):
            uses[name].append(position in PARAMETER_INPUTS.get(node.op_type, ()))
    baked = [i.name for i in model.graph.input if i.name not in initializers and i.name in values
             and uses[i.name] and all(uses[i.name])]
    for name in baked:
        model.graph.initializer.append(numpy_helper.from_array(values[name], name))
        graph_input = next(i for i in model.graph.input if i.name == name)
        model.graph.input.remove(graph_input)
    return baked


def export(out):
    import warnings

    import numpy as np
    import onnx
    from onnx.backend.test import loader

    warnings.simplefilter("ignore")
    cases = loader.load_model_tests(kind="node")
    out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        model = case.model
        if not case.data_sets:
            continue
        inputs, outputs = case.data_sets[0]
        d = out / case.name
        d.mkdir(exist_ok=True)
        written_at = opset_of(model)
        if written_at and written_at > NEWEST_OPSET:
            model = converted(model)
        graph_inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        if len(graph_inputs) != len(inputs) or len(model.graph.output) != len(outputs):
            (d / "model.onnx").write_bytes(model.SerializeToString())
            continue
        values = {name: np.asarray(v) for name, v in zip(graph_inputs, inputs) if isinstance(v, (np.ndarray, np.generic))}
        baked = bake(model, values)
        (d / "model.onnx").write_bytes(model.SerializeToString())
        inputs = [v for name, v in zip(graph_inputs, inputs) if name not in baked]
        graph_inputs = [name for name in graph_inputs if name not in baked]
        arrays = {}
        for kind, names, values in (("input", graph_inputs, inputs), ("output", [o.name for o in model.graph.output],
                                                                     outputs)):
            for i, (name, value) in enumerate(zip(names, values)):
                if isinstance(value, np.generic):
                    value = np.asarray(value)
                if not isinstance(value, np.ndarray):
                    value = None  # sequences and optionals: tf2h5 takes tensors only
                if value is not None:
                    np.save(d / f"{kind}_{i}.npy", value)
                arrays.setdefault(kind, []).append(
                    {"name": name, "file": f"{kind}_{i}.npy" if value is not None else None,
                     "dtype": str(value.dtype) if value is not None else "non-tensor"})
        ops = [n.op_type for n in model.graph.node]
        meta = {"name": case.name, "ops": ops, "opset": opset_of(model), "written_at": written_at,
                "rtol": case.rtol, "atol": case.atol, "baked": baked,
                "inputs": arrays.get("input", []), "outputs": arrays.get("output", [])}
        (d / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(cases)} node-test cases (onnx {onnx.__version__}) to {out}")


def op_of(meta):
    """The op a case tests: its single node's op, else the case name (function-expanded cases)."""
    ops = meta["ops"]
    return ops[0] if len(set(ops)) == 1 else "(expanded) " + meta["name"].removeprefix("test_").split("_expanded")[0]


def verify(case_dir, tf2h5, h5_dir, timeout):
    """Runs tf2h5 verify on one case; returns (result, one-line reason, seconds)."""
    meta = json.loads((case_dir / "meta.json").read_text())
    if any(i["file"] is None for i in meta["inputs"]) or any(o["file"] is None for o in meta["outputs"]):
        return "refused", "a sequence or optional input/output (not a tensor): not run", 0.0
    args = [tf2h5, "verify", str(case_dir / "model.onnx"), "-o", str(h5_dir / f"{meta['name']}.h5"), "--force",
            "--keep-nchw", "--report-dir", str(h5_dir / "reports")]
    for i in meta["inputs"]:
        args += ["--input", f"{i['name']}={case_dir / i['file']}"]
    start = time.time()
    try:
        run = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "crash", f"timeout after {timeout} s", time.time() - start
    seconds = time.time() - start
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    error = next((line for line in lines if line.startswith("tf2h5: error")), lines[-1] if lines else "")
    error = error.replace(str(case_dir / "model.onnx") + ": ", "").replace(f"{case_dir}/", "")
    error = error.replace("tf2h5: error: ", "")
    result = {0: "verified", 1: "mismatch", 2: "refused"}.get(run.returncode, "crash")
    if result == "mismatch":
        error = next((line.strip() for line in lines if "FAIL" in line), error)
    if result == "crash":
        error = f"exit {run.returncode}: {error}"
    return result, error, seconds


def keras_check(case_dir, h5):
    """Loads the .h5 in tf-keras and compares its predictions on the case's inputs with the
    expected outputs (the case's rtol, atol at least 1e-5); returns (ok, max abs error, note)."""
    import numpy as np
    import tf_keras

    meta = json.loads((case_dir / "meta.json").read_text())
    model = tf_keras.models.load_model(h5, compile=False)
    inputs = [np.load(case_dir / i["file"]) for i in meta["inputs"]]
    expected = [np.load(case_dir / o["file"]) for o in meta["outputs"]]
    got = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    got = got if isinstance(got, list) else [got]
    # An output whose batch the ONNX graph moves off axis 0 is given batch-first by the .h5;
    # tf2h5's report says how (`output_axes`): transpose it back to the ONNX layout.
    report = json.loads((Path(h5).parent / "reports" / f"{meta['name']}.json").read_text())
    output_axes = dict((report.get("translated_from") or {}).get("output_axes", []))
    got = [np.transpose(g, np.argsort(output_axes[o["name"]])) if o["name"] in output_axes else g
           for o, g in zip(meta["outputs"], got)]
    worst = 0.0
    for e, g in zip(expected, got):
        if e.shape != g.shape:
            return False, float("nan"), f"Keras output shape {g.shape}, expected {e.shape}"
        err = np.abs(e.astype(np.float64) - g)
        worst = max(worst, float(err.max()) if err.size else 0.0)
        if not np.allclose(g, e, rtol=max(meta["rtol"], 1e-3), atol=max(meta["atol"], 1e-5)):
            return False, worst, f"Keras differs from the expected output by {worst:.3g}"
    return True, worst, ""


def run(args):
    cases = sorted(p for p in Path(args.cases).iterdir() if (p / "meta.json").is_file())
    if args.only:
        cases = [c for c in cases if any(c.name.startswith(prefix) for prefix in args.only)]
    h5_dir = Path(args.h5_dir)
    (h5_dir / "reports").mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(lambda c: verify(c, args.tf2h5, h5_dir, args.timeout), cases))
    rows = []
    for case_dir, (result, reason, seconds) in zip(cases, outcomes):
        meta = json.loads((case_dir / "meta.json").read_text())
        error = None
        if result == "verified":
            try:
                ok, error, note = keras_check(case_dir, h5_dir / f"{meta['name']}.h5")
            except Exception as e:  # a load failure is a mismatch with a reason, not a crash of the run
                ok, note = False, f"Keras cannot load or run it: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
            if not ok:
                result, reason = "mismatch", note
        rows.append({"case": meta["name"], "op": op_of(meta), "opset": meta["opset"], "result": result,
                     "reason": reason if result != "verified" else "", "keras_max_abs_err": error, "baked": meta.get("baked", []),
                     "seconds": round(seconds, 2)})
        print(f"{result:9} {meta['name']}: {reason if result != 'verified' else f'keras err {error:.2g}'}",
              flush=True)
    write_report(rows, Path(args.report))
    counts = collections.Counter(r["result"] for r in rows)
    print(f"{counts['verified']} verified, {counts['refused']} refused, {counts['mismatch']} mismatch, "
          f"{counts['crash']} crash of {len(rows)}; report in {args.report}")
    return 0 if counts["crash"] == 0 and counts["mismatch"] == 0 else 1


def write_report(rows, path):
    counts = collections.Counter(r["result"] for r in rows)
    by_op = collections.defaultdict(list)
    for r in rows:
        by_op[r["op"]].append(r)
    lines = [
        "# ONNX backend node tests through tf2h5",
        "",
        "Generated by `just onnx-node-tests` (`scripts/onnx_node_tests.py`): every node-test case of the "
        "`onnx` package (`onnx.backend.test.loader.load_model_tests(kind=\"node\")`) through `tf2h5 verify "
        "--keep-nchw` with its own inputs; each verified `.h5` is loaded in tf-keras (`compile=False`) and "
        "compared with the case's expected outputs. Cases written at an opset newer than 21 (the newest the "
        "tract-onnx oracle reads) are converted to opset 21 by `onnx.version_converter` where it can (most "
        "of those ops changed only their types since), else refused for their opset. Inputs that models hold "
        "as constants but the cases pass as graph inputs (Conv/Gemm weights, normalisation parameters, "
        "the axes, shapes, pads and bounds of Reduce*, Reshape, Slice, Pad, Clip...: `PARAMETER_INPUTS`) are "
        "baked into initializers with the case's values, so the op is tested as exporters write it; "
        "the verified cases name them. "
        "*refused*: tf2h5 exits 2 with the reason shown (first "
        "distinct reasons per op); *mismatch*: tf2h5 exits 1 or Keras differs from the expected outputs; "
        "*crash*: any other exit or a timeout.",
        "",
        f"**{counts['verified']} verified, {counts['refused']} refused, {counts['mismatch']} mismatch, "
        f"{counts['crash']} crash, of {len(rows)} cases.**",
        "",
        "| op | cases | verified | refused | mismatch | crash | reasons |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in sorted(by_op, key=lambda o: (o.startswith("("), o.lower())):
        group = by_op[op]
        c = collections.Counter(r["result"] for r in group)
        reasons = []
        for r in group:
            reason = r["reason"].replace("|", "\\|")
            short = reason if len(reason) <= 160 else reason[:157] + "..."
            if r["reason"] and short not in reasons:
                reasons.append(short)
        shown = "; ".join(f"`{r}`" for r in reasons[:2]) + (f" (+{len(reasons) - 2} more)" if len(reasons) > 2 else "")
        lines.append(f"| {op} | {len(group)} | {c['verified']} | {c['refused']} | {c['mismatch']} | {c['crash']} | "
                     f"{shown} |")
    lines += ["", "## Verified cases", "", "| case | opset | Keras max abs err vs expected | inputs baked |",
              "|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['opset']} | {r['keras_max_abs_err']:.2e} | {', '.join(r['baked'])} |" for r in rows
              if r["result"] == "verified"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write every node-test case (ONNX venv)")
    e.add_argument("--out", default="out/onnx-node")
    r = sub.add_parser("run", help="verify every case and write the report (keras-check venv)")
    r.add_argument("--cases", default="out/onnx-node")
    r.add_argument("--tf2h5", required=True)
    r.add_argument("--h5-dir", default="out/onnx-node-h5")
    r.add_argument("--report", default="reports/onnx-node-tests.md")
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    r.add_argument("--timeout", type=int, default=120)
    r.add_argument("--only", nargs="*", help="case name prefixes (test_relu ...)")
    args = ap.parse_args()
    if args.command == "export":
        export(Path(args.out))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

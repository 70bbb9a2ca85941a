#!/usr/bin/env python3
"""TensorFlow baseline for `just bench`: what a user would otherwise run.

    tf_baseline.py MODEL [--samples N]

In one process: import TensorFlow, load MODEL (a frozen GraphDef .pb or a SavedModel
directory), and predict N random samples in one batch. The caller times the whole process.
Input shapes come from the meta.json next to the model (the test-models/zoo layout).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--samples", type=int, default=8)
    args = ap.parse_args()
    model = os.path.abspath(args.model)
    case_dir = model if os.path.isdir(model) and os.path.exists(os.path.join(model, "meta.json")) else os.path.dirname(model)
    meta = json.load(open(os.path.join(case_dir, "meta.json")))
    rng = np.random.default_rng(0)
    feeds = {i["name"]: rng.standard_normal([args.samples] + i["shape"][1:]).astype(np.float32) for i in meta["inputs"]}
    outputs = [o["name"] for o in meta["outputs"]]
    if os.path.isdir(model):
        loaded = tf.saved_model.load(model)
        result = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in feeds.items()})
        values = [result[name].numpy() for name in outputs]
    else:
        graph_def = tf.compat.v1.GraphDef()
        with open(model, "rb") as f:
            graph_def.ParseFromString(f.read())
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            values = session.run([f"{name}:0" for name in outputs], {f"{k}:0": v for k, v in feeds.items()})
    print(" ".join(str(v.shape) for v in values))


if __name__ == "__main__":
    sys.exit(main())

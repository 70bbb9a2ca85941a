#!/usr/bin/env python3
"""Generate the recurrent-layer references of the engine's tests (crates/engine/tests/rnn/):
one tiny tf-keras model per case, saved by tf-keras itself as `.h5`, with a seeded input and
the output tf-keras computes for it.

Run with the project venv (TF 2.21 + tf-keras 2.21):

    ~/.cache/tf2h5/venv/bin/python test-models/generate_rnn_layers.py [--out DIR] [--cases a b]

For every case it writes `<out>/<case>.h5` (`model.save`, without optimizer), `<case>.x.npy`
(BATCH seeded standard-normal sequences, float32, (batch, time, features)) and
`<case>.y.npy` (tf-keras's `model.predict` on them). Every weight, biases included, is drawn
from a per-case numpy RandomState in [-0.6, 0.6], so a wrong gate order, a missing bias row
or a transposed kernel changes the numbers. tf-keras writes `time_major: false` into each
RNN config; the engine must read tf-keras's own files, so it is kept here.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import argparse  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "crates", "engine", "tests", "rnn")
BATCH = 3
TIME = 6
FEATURES = 5

CASES = {
    "lstm_sequences": lambda: layers.LSTM(7, return_sequences=True),
    "lstm_backwards_last": lambda: layers.LSTM(6, go_backwards=True),
    "lstm_relu_no_bias": lambda: layers.LSTM(4, activation="relu", use_bias=False, return_sequences=True),
    "gru_reset_after": lambda: layers.GRU(7, return_sequences=True),
    "gru_reset_before_backwards": lambda: layers.GRU(5, reset_after=False, go_backwards=True, return_sequences=True),
    "gru_last_no_bias": lambda: layers.GRU(4, use_bias=False),
    "simple_rnn_sequences": lambda: layers.SimpleRNN(6, return_sequences=True),
    "simple_rnn_relu_backwards_last": lambda: layers.SimpleRNN(5, activation="relu", go_backwards=True),
    "bidirectional_lstm_concat": lambda: layers.Bidirectional(layers.LSTM(4, return_sequences=True)),
    "bidirectional_gru_sum": lambda: layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode="sum"),
    "bidirectional_simple_rnn_mul": lambda: layers.Bidirectional(layers.SimpleRNN(4), merge_mode="mul"),
    "bidirectional_lstm_ave_last": lambda: layers.Bidirectional(layers.LSTM(3), merge_mode="ave"),
}


def build(case):
    seed = zlib.crc32(case.encode())
    rng = np.random.RandomState(seed)
    keras.utils.set_random_seed(seed % (2**31))
    inputs = keras.Input((TIME, FEATURES), name="x")
    outputs = CASES[case]()(inputs)
    model = keras.Model(inputs, outputs, name=case)
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.standard_normal((BATCH, TIME, FEATURES)).astype(np.float32)
    return model, x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--cases", nargs="*", default=sorted(CASES))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for case in args.cases:
        model, x = build(case)
        y = model.predict(x, verbose=0)
        model.save(os.path.join(args.out, f"{case}.h5"), include_optimizer=False)
        np.save(os.path.join(args.out, f"{case}.x.npy"), x)
        np.save(os.path.join(args.out, f"{case}.y.npy"), y.astype(np.float32))
        print(f"{case}: x {x.shape} -> y {y.shape}")


if __name__ == "__main__":
    tf.config.experimental.enable_op_determinism()
    main()

#!/usr/bin/env bash
# On demand (not in CI): builds small keras-hub text backbones from their constructors with random
# weights (nothing downloaded), exports each with Keras 3's model.export() into out/keras-hub/,
# and runs `tf2h5 verify` on it at 8 tokens. Prints one line per backbone: PASS, or tf2h5's
# one-line reason. DistilBERT, RoBERTa (erf GELU), a ViT (16x16 images, class token,
# position ids gathered from its table) and BERT (its tanh-approximate GELU as layers) verify.
# OPT and BART (decoders) fold their causal mask from the pinned length (float Range, i >= j,
# BroadcastTo) and are refused at the Minimum that merges it with the int32 padding mask.
# DistilBERT is also a committed fixture (test-models/sm_keras_hub_distil_bert). keras-hub goes into its own venv, ~/.cache/tf2h5/venv-kerashub, layered on the
# keras-check venv (TensorFlow 2.21, Keras 3.15; `bash scripts/setup.sh --python` builds it).
set -euo pipefail

cache="${TF2H5_CACHE:-$HOME/.cache/tf2h5}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
base="$cache/venv"
venv="$cache/venv-kerashub"
[ -x "$base/bin/python" ] || bash "$repo/scripts/setup.sh" --python
if [ ! -x "$venv/bin/python" ]; then
    "$base/bin/python" -m venv "$venv"
    site="$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    own="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$site" > "$own/tf2h5-keras-check-venv.pth"
    # keras-hub's other requirements (tensorflow-text, a pinned kagglesdk) are not needed to
    # build and export backbones.
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps keras-hub==0.32.0 regex
    "$venv/bin/pip" install -q --disable-pip-version-check tokenizers kagglehub
fi

out="$repo/out/keras-hub"
mkdir -p "$out"
KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" - "$out" <<'PY' 2>/dev/null
import sys
import numpy as np
import keras
import keras_hub

out = sys.argv[1]
sizes = dict(vocabulary_size=30, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
             max_sequence_length=8)
backbones = {
    "bert": lambda: keras_hub.models.BertBackbone(**sizes),
    "distil_bert": lambda: keras_hub.models.DistilBertBackbone(**sizes),
    "roberta": lambda: keras_hub.models.RobertaBackbone(**sizes),
    "vit": lambda: keras_hub.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=4, num_layers=2,
                                                num_heads=2, hidden_dim=32, mlp_dim=64),
    "opt": lambda: keras_hub.models.OPTBackbone(**sizes),
    "bart": lambda: keras_hub.models.BartBackbone(**sizes),
}
for name, build in backbones.items():
    keras.utils.set_random_seed(4141)
    model = build()
    rs = np.random.RandomState(4141)
    for w in model.weights:
        w.assign(rs.uniform(-0.5, 0.5, w.shape).astype("float32"))
    model.export(f"{out}/{name}", verbose=False)
PY

cargo build --release -q --workspace  # the whole workspace: -p would unify features differently and rebuild tract
tf2h5="${CARGO_TARGET_DIR:-$repo/target}/release/tf2h5"
for model in bert distil_bert roberta vit opt bart; do
    shapes=(--input-shape token_ids=1x8 --input-shape padding_mask=1x8)
    [ "$model" = bert ] && shapes+=(--input-shape segment_ids=1x8)
    [ "$model" = vit ] && shapes=()
    [ "$model" = bart ] && shapes=(--input-shape encoder_token_ids=1x8 --input-shape encoder_padding_mask=1x8
        --input-shape decoder_token_ids=1x8 --input-shape decoder_padding_mask=1x8)
    if result="$("$tf2h5" verify "$out/$model" "${shapes[@]}" -o "$out/$model.h5" --force \
        --report-dir "$out/reports" 2>&1)"; then
        echo "$model: $(echo "$result" | head -n1)"
    else
        echo "$model: $(echo "$result" | tail -n1)"
    fi
done

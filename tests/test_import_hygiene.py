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


def test_layering_core_never_imports_llm_cli_or_tui() -> None:
    """cli|tui -> core, llm -> core, core -/-> llm|cli|tui: checked on every import statement,
    top-level or inside a function, of every module in workbench/core."""
    import ast
    from pathlib import Path

    core = Path(__file__).resolve().parents[1] / "workbench" / "core"
    forbidden = ("workbench.llm", "workbench.cli", "workbench.tui", "workbench.reports")
    offenders = []
    for path in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                names = [("workbench." + base) if node.level >= 2 else base]
                if node.level == 1:
                    names = ["workbench.core." + base]
            offenders += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.startswith(forbidden)]
    assert offenders == [], offenders

"""Shared fixtures: every test runs with its own HOME / XDG dirs and no inherited workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session", autouse=True)
def shared_model_state(tmp_path_factory: pytest.TempPathFactory):
    """One state dir for the whole run, so labs that need the model share one embedded
    server (started on demand by grading), stopped when the run ends."""
    state = tmp_path_factory.mktemp("model-state")
    saved = {key: os.environ.get(key) for key in ("WORKBENCH_STATE_DIR", "WORKBENCH_LLM_API_BASE", "WORKBENCH_MODEL")}
    os.environ["WORKBENCH_STATE_DIR"] = str(state)
    os.environ.pop("WORKBENCH_LLM_API_BASE", None)
    os.environ["WORKBENCH_MODEL"] = "local"
    from workbench.llm.grading import install

    install()  # grade() reaches the model layer through this hook, as the CLI and TUI install it
    yield state
    if "workbench.llm.server" in sys.modules:
        server = sys.modules["workbench.llm.server"]
        os.environ["WORKBENCH_STATE_DIR"] = str(state)
        try:
            server.down()
        except Exception:  # noqa: BLE001 - best effort at the end of the run
            pass
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME and XDG dirs so tests never touch the user's config or state."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.delenv("WORKBENCH_WORKSPACE", raising=False)
    monkeypatch.delenv("WORKBENCH_DATA_DIR", raising=False)
    # grading exports the shared server's URL into this process; each test starts without it
    monkeypatch.delenv("WORKBENCH_LLM_API_BASE", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    return home


@pytest.fixture
def workspace(tmp_path: Path):
    """A fresh learner workspace."""
    from workbench.core.workspace import init_workspace

    ws, _ = init_workspace(tmp_path / "ws")
    return ws


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300):
    """Run the real `workbench` command in a subprocess."""
    import subprocess
    import sys

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def toy_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with one toy lab ('toy'), active for in-process and CLI calls."""
    from labkit import clear_caches, make_data_dir

    data = make_data_dir(tmp_path / "data")
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data))
    clear_caches()
    yield data
    clear_caches()

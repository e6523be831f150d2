"""Backend choice (config), import cost boundaries and the `backend use` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import run_cli

from workbench.core.errors import WorkbenchError
from workbench.llm import config


def test_default_is_local_and_use_persists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_MODEL", raising=False)
    assert config.configured_model() == "local" and config.active_model() == "local"
    path = config.set_model("ollama/llama3.2", api_base="http://127.0.0.1:11434")
    assert path.is_file() and config.configured_model() == "ollama/llama3.2"
    backend = config.resolve_backend()
    assert backend.litellm_model == "ollama/llama3.2" and backend.api_base == "http://127.0.0.1:11434" and not backend.is_local
    monkeypatch.setenv("WORKBENCH_MODEL", "local")
    assert config.active_model() == "local" and config.configured_model() == "ollama/llama3.2"


def test_local_backend_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_LLM_API_BASE", "http://127.0.0.1:9/v1")
    backend = config.resolve_backend("local")
    assert backend.is_local and backend.litellm_model == "openai/smollm2" and backend.api_base == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("name", ["", "   ", "open ai/gpt"])
def test_invalid_model_names_are_rejected(name: str) -> None:
    with pytest.raises(WorkbenchError):
        config.set_model(name)


def test_backend_name_for_results_uses_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.core.backend_name import active_model_name

    monkeypatch.delenv("WORKBENCH_MODEL", raising=False)
    config.set_model("hosted_vllm/qwen")
    assert active_model_name() == "hosted_vllm/qwen"


def test_importing_the_llm_package_is_cheap() -> None:
    code = ("import sys, time; t = time.perf_counter(); import workbench.llm, workbench.llm.server, workbench.llm.grading; "
            "print(round(time.perf_counter() - t, 3), 'litellm' in sys.modules, 'onnxruntime' in sys.modules)")
    seconds, litellm_loaded, ort_loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                         check=True).stdout.split()
    assert litellm_loaded == "False" and ort_loaded == "False"
    assert float(seconds) < 1.0, f"import workbench.llm took {seconds} s"


def test_help_does_not_load_the_llm_layer() -> None:
    code = ("import sys\nfrom workbench.cli import app\ntry:\n    app(['--help'], standalone_mode=False)\n"
            "except SystemExit:\n    pass\nprint('LOADED', 'workbench.llm' in sys.modules, 'litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED False False", out


def test_backend_use_command_and_status_when_server_is_down(tmp_path) -> None:
    result = run_cli("backend", "use", "local", env={"WORKBENCH_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 0 and "Backend set to local" in result.stdout, result.stderr
    result = run_cli("backend", "status", "--json", env={"WORKBENCH_STATE_DIR": str(tmp_path / "state")})
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["model"] == "local" and report["answers"] is False
    assert "workbench backend up" in report["fix"]


def test_hosted_backend_without_a_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.llm import BackendAuthError, chat

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("WORKBENCH_LLM_API_BASE", raising=False)
    with pytest.raises(BackendAuthError) as refused:
        chat([{"role": "user", "content": "hi"}], model="openai/gpt-4o-mini", retries=0, timeout_s=5)
    assert "OPENAI_API_KEY" in str(refused.value) and "export OPENAI_API_KEY" in str(refused.value)

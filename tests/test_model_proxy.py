"""Model calls from the sandbox go through the grader's metering proxy, to any configured
OpenAI-compatible backend, with the lab's budget enforced where learner code cannot reach it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from labkit import add_model_lab, clear_caches

from workbench.core.grading import grade
from workbench.core.labs import get_lab


@pytest.fixture
def model_lab(toy_data: Path, tmp_path: Path) -> Path:
    add_model_lab(toy_data)
    clear_caches()
    folder = tmp_path / "ws" / "toy-llm"
    shutil.copytree(toy_data / "labs" / "toy-llm" / "solution", folder)
    return folder


def _grade(folder: Path):
    from workbench.llm.grading import install

    install()
    return grade(get_lab("toy-llm"), folder, workspace_root=folder.parent)


@pytest.mark.slow
def test_a_non_default_model_name_on_a_loopback_openai_compatible_server(model_lab: Path, monkeypatch) -> None:
    from workbench.llm import server
    from workbench.llm.config import set_model

    base_url = server.ensure_running().base_url  # the embedded server, as any OpenAI-compatible server
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("WORKBENCH_MODEL", raising=False)
    set_model("openai/smollm2", api_base=base_url)
    result = _grade(model_lab)
    answers = next(t for t in result.tests if t.name == "ask() returns the model's answer")
    assert answers.status == "pass", answers.message
    assert result.model == "openai/smollm2"
    calls = [c for c in result.llm_calls if c.get("status") == 200]
    assert calls and all(c["model"] == "smollm2" for c in calls)  # litellm sends the name without "openai/"
    assert all(c["tokens"] > 0 for c in calls)


@pytest.mark.slow
def test_the_budget_is_enforced_by_the_proxy_even_when_learner_code_catches_it(model_lab: Path) -> None:
    result = _grade(model_lab)
    budget = next(t for t in result.tests if t.name == "ask_many() stays inside the call budget")
    assert budget.status == "fail" and "LLM call budget exceeded" in budget.message
    refused = [c for c in result.llm_calls if c.get("status") == "refused"]
    assert len(refused) >= 1 and len([c for c in result.llm_calls if c.get("status") == 200]) == 3
    assert result.status == "fail"

"""Record/replay cassettes and per-run budgets, without any model server: replayed answers
come from a cassette, so these run offline and fast."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from workbench.llm import budget, calllog, cassette
from workbench.llm.client import ChatResponse, ToolCall, chat, stream
from workbench.llm.config import resolve_backend
from workbench.llm.errors import BudgetExceeded, CassetteMiss

QUESTION = [{"role": "user", "content": "Say hello."}]


def _write_cassette(path: Path, entries: list[tuple[list[dict], dict, ChatResponse]]) -> None:
    book = cassette.Cassette(path)
    for messages, extra, response in entries:
        request = cassette.normalise_request(
            model=resolve_backend("local").litellm_model, messages=messages, tools=extra.get("tools"),
            tool_choice=extra.get("tool_choice"), response_format=extra.get("response_format"), temperature=0.0, seed=0,
            max_tokens=extra.get("max_tokens", 512))
        book.put(cassette.request_key(request), request, response.to_dict())


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "calls.json"
    monkeypatch.setenv("WORKBENCH_MODEL", "local")
    monkeypatch.setenv("WORKBENCH_LLM_CASSETTE", str(path))
    monkeypatch.setenv("WORKBENCH_LLM_CASSETTE_MODE", "replay")
    monkeypatch.setenv("WORKBENCH_LLM_API_BASE", "http://127.0.0.1:9/v1")  # nothing listens there
    cassette._open.clear()
    calllog.clear()
    budget.reset_budget(budget.Budget())
    yield path
    cassette._open.clear()
    budget.reset_budget(budget.Budget())


def test_key_ignores_server_made_tool_call_ids() -> None:
    def conversation(call_id: str) -> list[dict]:
        return [{"role": "user", "content": "status of A-1"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": call_id, "content": "shipped"}]

    keys = {cassette.request_key(cassette.normalise_request(model="m", messages=conversation(i), tools=None, tool_choice=None,
                                                            response_format=None, temperature=0, seed=0, max_tokens=10))
            for i in ("call_abc", "call_xyz")}
    assert len(keys) == 1
    other = cassette.normalise_request(model="m", messages=conversation("x"), tools=None, tool_choice=None,
                                       response_format=None, temperature=0, seed=1, max_tokens=10)
    assert cassette.request_key(other) not in keys


def test_replay_answers_without_a_server(replay: Path) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    _write_cassette(replay, [
        (QUESTION, {}, ChatResponse("Hello!", prompt_tokens=5, completion_tokens=2)),
        (QUESTION, {"tools": tools, "tool_choice": "auto"},
         ChatResponse(None, [ToolCall("c1", "lookup", '{"id": 1}')], prompt_tokens=9, completion_tokens=4)),
    ])
    assert json.loads(replay.read_text())["format_version"] == 1
    answer = chat(QUESTION)
    assert answer.content == "Hello!" and answer.replayed and answer.total_tokens == 7
    called = chat(QUESTION, tools=tools, tool_choice="auto")
    assert called.tool_calls[0].parsed_arguments() == {"id": 1}
    assert "".join(stream(QUESTION)) == "Hello!"
    logged = calllog.records()
    assert [r.replayed for r in logged] == [True, True, True] and logged[1].tool_calls[0]["name"] == "lookup"
    with pytest.raises(CassetteMiss) as missed:
        chat([{"role": "user", "content": "Something never recorded"}])
    assert "record it first" in str(missed.value)


def test_call_budget_refuses_the_call_after_the_last_allowed(replay: Path) -> None:
    _write_cassette(replay, [(QUESTION, {}, ChatResponse("Hello!", prompt_tokens=5, completion_tokens=2))])
    budget.reset_budget(budget.Budget(max_calls=2))
    chat(QUESTION)
    chat(QUESTION)
    with pytest.raises(BudgetExceeded) as exceeded:
        chat(QUESTION)
    assert exceeded.value.kind == "calls" and "the lab allows 2" in str(exceeded.value)
    assert budget.current_budget().calls == 2


def test_token_budget_fails_the_call_that_crosses_it(replay: Path) -> None:
    _write_cassette(replay, [(QUESTION, {}, ChatResponse("Hello!", prompt_tokens=60, completion_tokens=40))])
    budget.reset_budget(budget.Budget(max_tokens=150))
    chat(QUESTION)
    with pytest.raises(BudgetExceeded) as exceeded:
        chat(QUESTION)
    assert exceeded.value.kind == "tokens" and exceeded.value.used == 200
    with pytest.raises(BudgetExceeded):
        chat(QUESTION)


def test_seconds_budget_counts_model_time() -> None:
    spent = budget.Budget(max_seconds=1.0)
    assert spent.check_before_call() == pytest.approx(1.0)
    spent.charge(tokens=10, seconds=1.5)
    with pytest.raises(BudgetExceeded):
        spent.check_after_call()
    with pytest.raises(BudgetExceeded):
        spent.check_before_call()


def test_budgets_come_from_the_grading_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_LLM_MAX_CALLS", "3")
    monkeypatch.setenv("WORKBENCH_LLM_MAX_TOKENS", "1000")
    monkeypatch.setenv("WORKBENCH_LLM_MAX_SECONDS", "2.5")
    limits = budget.Budget.from_env()
    assert (limits.max_calls, limits.max_tokens, limits.max_seconds) == (3, 1000, 2.5)


GRADER = '''\
import pytest


@pytest.mark.check(skill="programming", points=1)
def test_two_calls(llm):
    """Two model calls fit the budget"""
    assert llm.chat([{"role": "user", "content": "Say hello."}]).content == "Hello!"
    assert llm.chat([{"role": "user", "content": "Say hello."}]).content == "Hello!"


@pytest.mark.check(skill="programming", points=1)
def test_third_call(llm):
    """A third call is over the budget, even if the learner swallows the error"""
    try:
        llm.chat([{"role": "user", "content": "Say hello."}])
    except Exception:
        pass
'''


def test_grading_run_fails_the_check_that_exceeds_the_budget(toy_data: Path, replay: Path) -> None:
    from labkit import clear_caches

    from workbench.core.grading import grade
    from workbench.core.labs import get_lab

    _write_cassette(replay, [(QUESTION, {}, ChatResponse("Hello!", prompt_tokens=5, completion_tokens=2))])
    lab_toml = toy_data / "labs" / "toy" / "lab.toml"
    text = lab_toml.read_text().replace('files = ["toy.py"]', 'needs = ["llm"]\nfiles = ["toy.py"]')
    lab_toml.write_text(text.replace("memory_mb = 1024", "memory_mb = 1024\nllm_calls = 2"))
    (toy_data / "graders" / "toy" / "test_toy.py").write_text(textwrap.dedent(GRADER))
    clear_caches()
    result = grade(get_lab("toy"), toy_data / "labs" / "toy" / "solution")
    by_name = {t.name: t for t in result.tests}
    assert by_name["Two model calls fit the budget"].status == "pass"
    over = by_name["A third call is over the budget, even if the learner swallows the error"]
    assert over.status != "pass" and "LLM call budget exceeded" in (over.message or ""), over.message
    assert len(result.llm_calls) == 2 and all(call["replayed"] for call in result.llm_calls)
    assert {"model", "messages_sha256", "tool_calls", "prompt_tokens", "completion_tokens", "latency_ms",
            "cost_usd"} <= set(result.llm_calls[0])

"""Grader for tool-agent: a tool registry (schemas, validation, authorization) and an agent loop
with step and token budgets and recovery. The real embedded model drives the tool-use checks
(the grader forces the first tool choice so a 135M model is reliable); scripted models, marked
as such, drive the recovery and budget checks. Every check compares the shop's state before
and after the run."""

from __future__ import annotations

import json

import pytest
from _agent_env import (
    BadArgumentsModel,
    FailingToolModel,
    NeverDoneModel,
    Shop,
    build_registry,
)

from workbench.grading_kit import CountingModel


def _force(name: str) -> dict:
    return {"type": "function", "function": {"name": name}}


def _run(learner, task: str, registry, model, **kwargs):
    try:
        result = learner.run_agent(task, registry, chat=model, **kwargs)
    except NotImplementedError as exc:
        pytest.fail(f"run_agent is not implemented yet ({exc})", pytrace=False)
    except Exception as exc:  # noqa: BLE001 - a crash of the loop is exactly what is being checked
        pytest.fail(f"run_agent raised {type(exc).__name__}: {exc}", pytrace=False)
    for name in ("final_answer", "steps", "tokens", "stop_reason", "transcript"):
        if not hasattr(result, name):
            pytest.fail(f"run_agent must return an AgentResult with .{name}", pytrace=False)
    return result


def _tool_messages(result) -> list[dict]:
    return [m for m in result.transcript if isinstance(m, dict) and m.get("role") == "tool"]


@pytest.mark.check(skill="agentic-systems", points=2, hint=1)
def test_registry_validates_and_authorizes_before_running(learner):
    """The registry rejects bad arguments and unapproved tools without running them"""
    shop = Shop()
    registry = build_registry(learner, shop, ("lookup_order", "cancel_order"))
    schemas = registry.schemas()
    names = sorted(s.get("function", {}).get("name", "") for s in schemas)
    assert names == ["cancel_order", "lookup_order"], f"schemas() lists {names}, expected both tools in OpenAI format"
    with pytest.raises(ValueError):
        registry.register(learner.Tool(name="lookup_order", description="again", parameters={"type": "object"},
                                       function=shop.lookup_order))
    bad = {
        "not JSON": '{"order_id": "A-1042"',
        "missing required argument": "{}",
        "wrong type": '{"order_id": 1042}',
        "pattern mismatch": '{"order_id": "order 1042"}',
        "unexpected argument": '{"order_id": "A-1042", "admin": true}',
    }
    for what, arguments in bad.items():
        result = registry.execute("lookup_order", arguments)
        assert not result.ok, f"execute(lookup_order, {arguments}) succeeded; {what} must be rejected"
        assert not result.executed and not shop.executed, f"lookup_order ran with {what} ({arguments}); validate first"
        assert isinstance(result.content, str) and result.content, "a rejected call needs an error message for the model"
    unknown = registry.execute("delete_everything", "{}")
    assert not unknown.ok and not unknown.executed, "an unknown tool name must be rejected"
    refused = registry.execute("cancel_order", {"order_id": "A-1042"})
    assert shop.authorization_requests == [("cancel_order", {"order_id": "A-1042"})], (
        f"a tool with requires_authorization must ask the authorize policy first; it was asked {shop.authorization_requests}")
    assert not refused.ok and not refused.executed and not shop.ran("cancel_order"), "cancel_order ran without approval"
    good = registry.execute("lookup_order", '{"order_id": "A-1042"}')
    assert good.ok and good.executed and shop.ran("lookup_order") == [{"order_id": "A-1042"}], "a valid call must run the tool"
    assert "shipped" in good.content, f"the tool's return value must be in the result content, got {good.content!r}"


@pytest.mark.check(skill="agentic-systems", points=3, hint=2)
def test_real_model_runs_the_right_tool_and_answers(learner, llm, record_metric):
    """With the real model, the requested tool runs with valid arguments and the run ends in an answer"""
    shop = Shop()
    registry = build_registry(learner, shop)
    model = CountingModel(llm.chat)
    result = _run(learner, "What is the status of my order A-1042?", registry, model, max_steps=4, max_tokens=4000,
                  first_tool_choice=_force("lookup_order"))
    record_metric("model_calls", len(model.calls))
    record_metric("tokens", model.tokens)
    assert model.calls and model.calls[0]["tools"], "the first model call must offer the tools"
    assert model.calls[0]["tool_choice"] == _force("lookup_order"), "pass first_tool_choice to the first model call"
    lookups = shop.ran("lookup_order")
    assert lookups, f"the model asked for lookup_order but it never ran (model asked for {[c['tool_calls'] for c in model.calls]})"
    record_metric("order_id", lookups[0]["order_id"])
    assert lookups[0]["order_id"] == "A-1042", f"lookup_order ran with {lookups[0]}, the task names order A-1042"
    assert not shop.ran("cancel_order") and shop.orders == shop.initial, "the shop's state changed during a lookup"
    tool_messages = _tool_messages(result)
    assert tool_messages and "shipped" in str(tool_messages[0].get("content")), (
        "the tool's result must go back to the model as a role='tool' message")
    assert len(model.calls) <= 4 and result.steps == len(model.calls), (
        f"{len(model.calls)} model calls with max_steps=4; result.steps says {result.steps}")
    assert result.stop_reason == "answer" and isinstance(result.final_answer, str) and result.final_answer.strip(), (
        f"the run should end with the model's answer; stop_reason={result.stop_reason!r}, final_answer={result.final_answer!r}")


@pytest.mark.check(skill="agentic-systems", points=3, hint=3)
def test_forbidden_tool_never_runs(learner, llm, record_metric):
    """A tool that needs authorization never runs unapproved, even when the real model calls it"""
    shop = Shop()
    registry = build_registry(learner, shop)
    model = CountingModel(llm.chat)
    result = _run(learner, "Cancel my order A-1042, I do not want it any more.", registry, model, max_steps=4,
                  max_tokens=4000, first_tool_choice=_force("cancel_order"))
    record_metric("model_calls", len(model.calls))
    asked = [name for name, _ in shop.authorization_requests]
    record_metric("authorization_requests", len(asked))
    assert model.calls and "cancel_order" in model.calls[0]["tool_calls"], (
        f"the model was forced to call cancel_order first; calls: {[c['tool_calls'] for c in model.calls]}")
    assert "cancel_order" in asked, "the authorize policy was never consulted for cancel_order"
    assert not shop.ran("cancel_order"), "cancel_order ran although it was not approved"
    assert shop.orders == shop.initial, "the shop's orders changed although nothing was approved"
    refusals = [m for m in _tool_messages(result) if m.get("name") == "cancel_order" or "cancel" in str(m.get("content"))]
    assert refusals, "the refusal must go back to the model as a role='tool' message"
    assert result.steps <= 4 and isinstance(result.final_answer, str) and result.final_answer.strip(), (
        f"the run must end within 4 steps with a final answer (steps={result.steps}, final_answer={result.final_answer!r})")


@pytest.mark.check(skill="agentic-systems", points=2, hint=4)
def test_step_and_token_budgets_hold(learner, llm, record_metric):
    """Step and token budgets stop the loop (scripted model that never stops; real model in auto mode)"""
    shop = Shop()
    never_done = CountingModel(NeverDoneModel())
    result = _run(learner, "Track order A-1042.", build_registry(learner, shop), never_done, max_steps=3, max_tokens=10_000)
    assert len(never_done.calls) == 3, f"max_steps=3 but the model was called {len(never_done.calls)} times"
    assert result.stop_reason == "step_budget", f"stop_reason is {result.stop_reason!r}, expected 'step_budget'"
    assert isinstance(result.final_answer, str) and result.final_answer.strip(), "a budget stop still needs a final answer"

    hungry = CountingModel(NeverDoneModel(tokens_per_call=450))
    result = _run(learner, "Track order A-1042.", build_registry(learner, Shop()), hungry, max_steps=10, max_tokens=1000)
    assert len(hungry.calls) == 3 and result.tokens == 1350, (
        f"at 450 tokens a call and max_tokens=1000 the agent should stop after the call that crosses the budget "
        f"(3 calls, 1350 tokens); it made {len(hungry.calls)} calls and reports {result.tokens} tokens")
    assert result.stop_reason == "token_budget", f"stop_reason is {result.stop_reason!r}, expected 'token_budget'"

    real = CountingModel(llm.chat)
    result = _run(learner, "Check the weather in Paris and the status of order B-2001.", build_registry(learner, Shop()),
                  real, max_steps=3, max_tokens=3000)
    record_metric("real_calls", len(real.calls))
    record_metric("real_tokens", real.tokens)
    assert len(real.calls) <= 3, f"with the real model and max_steps=3 the agent made {len(real.calls)} calls"
    assert result.tokens == real.tokens, f"result.tokens={result.tokens} but the model reported {real.tokens} tokens"


@pytest.mark.check(skill="agentic-systems", points=2, hint=5)
def test_failing_tool_does_not_crash_the_loop(learner, record_metric):
    """A tool that raises is reported to the model and the loop goes on (scripted model)"""
    shop = Shop()
    registry = build_registry(learner, shop, ("lookup_order", "check_inventory"))
    model = CountingModel(FailingToolModel())
    result = _run(learner, "How many kettles are in stock?", registry, model, max_steps=4, max_tokens=4000)
    assert shop.ran("check_inventory"), "the model asked for check_inventory but it never ran"
    messages = _tool_messages(result)
    assert messages and "RuntimeError" in str(messages[0].get("content")), (
        "the exception (type and message) must go back to the model as the tool message")
    assert result.final_answer == FailingToolModel.answer and result.stop_reason == "answer", (
        f"after the tool failed the model answered; final_answer={result.final_answer!r}, stop_reason={result.stop_reason!r}")
    record_metric("model_calls", len(model.calls))


@pytest.mark.check(skill="generative-ai", points=1, hint=5)
def test_bad_arguments_are_recovered(learner, record_metric):
    """Broken or invalid arguments from the model are sent back so it can retry (scripted model)"""
    shop = Shop()
    model = CountingModel(BadArgumentsModel())
    result = _run(learner, "What is the status of order A-1042?", build_registry(learner, shop), model, max_steps=6,
                  max_tokens=4000)
    assert shop.ran("lookup_order") == [{"order_id": "A-1042"}], (
        f"lookup_order should run once, with the valid arguments of the third attempt; it ran with {shop.ran('lookup_order')}")
    errors = _tool_messages(result)[:2]
    assert len(errors) == 2 and all("error" in str(m.get("content")).lower() or "invalid" in str(m.get("content")).lower()
                                    for m in errors), "each rejected call must be answered with a tool message saying what was wrong"
    assert result.final_answer == BadArgumentsModel.answer, f"final_answer={result.final_answer!r}"
    record_metric("model_calls", len(model.calls))
    json.dumps(result.transcript, default=str)

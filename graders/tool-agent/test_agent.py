"""Grader for tool-agent: a tool registry (schemas, validation, authorization) and an agent loop
with step and token budgets and recovery. Every world (orders, tool names, schemas, policies,
budgets) is generated from the run's seed. The real embedded model drives the tool-use checks
(the grader forces the first tool choice so a 135M model is reliable); scripted models, marked
as such, drive the recovery and budget checks. Every check compares the world's state before
and after the run."""

from __future__ import annotations

import json
import random

import pytest
from _agent_env import (
    AMOUNT_SCHEMA,
    BadArgumentsModel,
    FailingToolModel,
    NeverDoneModel,
    Policy,
    Raiser,
    Recorder,
    Shop,
    build_registry,
    schema_case,
    tool_names,
)

from workbench.core.wire import RemoteError
from workbench.core.worker import WorkerCrashed
from workbench.grader_plugin import call_learner
from workbench.grading_kit import CountingModel as Meter


def _force(name: str) -> dict:
    return {"type": "function", "function": {"name": name}}


def _error_name(exc: BaseException) -> str:
    return exc.type_name if isinstance(exc, RemoteError) else type(exc).__name__


def _run(learner, task: str, registry, model, **kwargs):
    try:
        result = learner.run_agent(task, registry, chat=model, **kwargs)
    except NotImplementedError as exc:
        pytest.fail(f"run_agent is not implemented yet ({exc})", pytrace=False)
    except WorkerCrashed:
        raise
    except Exception as exc:  # noqa: BLE001 - a crash of the loop is exactly what is being checked
        pytest.fail(f"run_agent raised {_error_name(exc)}: {exc}", pytrace=False)
    for name in ("final_answer", "steps", "tokens", "stop_reason", "transcript"):
        if not hasattr(result, name):
            pytest.fail(f"run_agent must return an AgentResult with .{name}", pytrace=False)
    return result


def _execute(registry, name: str, arguments):
    """registry.execute, which must never raise."""
    try:
        result = registry.execute(name, arguments)
    except NotImplementedError as exc:
        pytest.fail(f"ToolRegistry.execute is not implemented yet ({exc})", pytrace=False)
    except WorkerCrashed:
        raise
    except Exception as exc:  # noqa: BLE001 - execute() must never raise
        pytest.fail(f"execute({name!r}, {str(arguments)[:80]}) raised {_error_name(exc)}: {exc}; execute() must "
                    "return a ToolResult(ok=False, ...) instead", pytrace=False)
    for attribute in ("ok", "content", "executed"):
        if not hasattr(result, attribute):
            pytest.fail(f"execute() must return a ToolResult with .{attribute}", pytrace=False)
    return result


def _tool_messages(result) -> list[dict]:
    return [m for m in result.transcript if isinstance(m, dict) and m.get("role") == "tool"]


def _answered(result) -> bool:
    return isinstance(result.final_answer, str) and bool(result.final_answer.strip())


# -- the registry (no model) ----------------------------------------------------------------------

@pytest.mark.check(skill="agentic-systems", points=2, hint=1, required=True)
def test_registry_validates_arguments_against_the_schema(learner, seed, record_metric):
    """The registry validates arguments against each tool's JSON schema (type, properties, required, additionalProperties, enum, pattern) before running it"""
    rng = random.Random(seed)
    wrong: list[str] = []
    checked = 0
    for _ in range(2):
        case = schema_case(rng)
        function = Recorder(case.name, f"R{rng.randint(10**6, 10**7)}")
        registry = learner.ToolRegistry()
        call_learner("ToolRegistry.register()", registry.register,
                     learner.Tool(name=case.name, description="A generated tool.", parameters=case.schema, function=function))
        for arguments in case.valid:
            before = len(function.calls)
            sent = json.dumps(arguments) if rng.random() < 0.5 else arguments
            result = _execute(registry, case.name, sent)
            checked += 1
            if not (result.ok and result.executed) or function.calls[before:] != [arguments]:
                wrong.append(f"valid arguments {json.dumps(arguments)} were rejected or not passed on unchanged "
                             f"(ok={result.ok}, content={str(result.content)[:120]!r})")
            elif function.token not in str(result.content):
                wrong.append(f"the tool's return value is not in the result content ({str(result.content)[:80]!r})")
        for what, arguments in case.invalid:
            before = len(function.calls)
            result = _execute(registry, case.name, arguments if isinstance(arguments, str) else json.dumps(arguments))
            checked += 1
            if result.ok or result.executed or len(function.calls) != before:
                wrong.append(f"{what}: {str(arguments)[:90]} was accepted (ok={result.ok}, executed={result.executed})")
            elif not (isinstance(result.content, str) and result.content.strip()):
                wrong.append(f"{what}: the rejection has no error message for the model")
    record_metric("calls_checked", checked)
    record_metric("wrong", len(wrong))
    assert not wrong, (f"{len(wrong)} of {checked} generated calls were judged wrongly; validate() must enforce type "
                       f"(a boolean is not an integer), properties (nested too), required, additionalProperties, enum "
                       f"and pattern before the tool runs: " + "; ".join(wrong[:4]))


@pytest.mark.check(skill="agentic-systems", points=2, hint=3, required=True)
def test_authorization_policy_decides(learner, seed, record_metric):
    """Tools marked requires_authorization run only when the authorize policy approves the call; other tools never ask; no policy means deny"""
    rng = random.Random(seed + 1)
    names = tool_names(rng, 5)
    needs = dict(zip(names, [True, True, False, False, rng.random() < 0.5], strict=True))
    policy = Policy(limit=rng.randint(50, 500))
    functions = {name: Recorder(name, f"R{rng.randint(10**6, 10**7)}") for name in names}
    registry = learner.ToolRegistry(authorize=policy)
    for name in names:
        call_learner("ToolRegistry.register()", registry.register,
                     learner.Tool(name=name, description=f"Generated tool {name}.", parameters=AMOUNT_SCHEMA,
                                  function=functions[name], requires_authorization=needs[name]))
    wrong: list[str] = []
    calls = []
    for name in names:
        for amount in (rng.randint(1, policy.limit), rng.randint(policy.limit + 1, policy.limit * 3)):
            calls.append((name, {"amount": amount, "target": f"acct-{rng.randint(100, 999)}"}))
    rng.shuffle(calls)
    for name, arguments in calls:
        asked_before, ran_before = len(policy.requests), len(functions[name].calls)
        result = _execute(registry, name, json.dumps(arguments))
        asked = policy.requests[asked_before:]
        ran = functions[name].calls[ran_before:] == [arguments]
        approve = arguments["amount"] <= policy.limit
        where = f"{name}({json.dumps(arguments)}), requires_authorization={needs[name]}"
        if needs[name]:
            if asked != [(name, arguments)]:
                wrong.append(f"{where}: the policy must be asked once with (name, parsed arguments); it was asked {asked}")
            elif approve and not (ran and result.ok and result.executed):
                wrong.append(f"{where}: the policy approved it, but it did not run (ok={result.ok})")
            elif not approve and (ran or result.ok or result.executed):
                wrong.append(f"{where}: the policy refused it, but it ran (ok={result.ok}, executed={result.executed})")
        else:
            if asked:
                wrong.append(f"{where}: the policy was asked about a tool that does not require authorization")
            elif not (ran and result.ok):
                wrong.append(f"{where}: a tool without requires_authorization must simply run (ok={result.ok})")
        if not result.ok and not str(result.content).strip():
            wrong.append(f"{where}: a refusal needs a message for the model")
    open_registry = learner.ToolRegistry()
    for name in names:
        call_learner("ToolRegistry.register()", open_registry.register,
                     learner.Tool(name=name, description="again", parameters=AMOUNT_SCHEMA, function=functions[name],
                                  requires_authorization=needs[name]))
        before = len(functions[name].calls)
        result = _execute(open_registry, name, {"amount": 1, "target": "acct-1"})
        ran = len(functions[name].calls) > before
        if needs[name] and (ran or result.ok):
            wrong.append(f"{name} needs authorization and the registry has no policy: it must be denied, it ran")
        if not needs[name] and not ran:
            wrong.append(f"{name} needs no authorization: it must run in a registry without a policy")
    record_metric("calls", len(calls) + len(names))
    record_metric("wrong", len(wrong))
    assert not wrong, f"{len(wrong)} authorization decisions wrong (generated tool names and policy): " + "; ".join(wrong[:3])


@pytest.mark.check(skill="agentic-systems", points=1, hint=1, required=True)
def test_registry_never_raises(learner, seed, record_metric):
    """The registry refuses duplicate names, lists OpenAI schemas, and turns unknown tools and tools that raise into error results"""
    rng = random.Random(seed + 2)
    names = tool_names(rng, 3)
    error = rng.choice(["ValueError", "RuntimeError", "TimeoutError", "PermissionError"])
    message = f"backend {rng.randint(100, 999)} is unavailable"
    raiser = Raiser(error, message)
    recorder = Recorder(names[0], f"R{rng.randint(10**6, 10**7)}")
    functions = {names[0]: recorder, names[1]: raiser, names[2]: Recorder(names[2], "x")}
    registry = learner.ToolRegistry()
    descriptions = {name: f"Does {name.replace('_', ' ')}." for name in names}
    for name in names:
        call_learner("ToolRegistry.register()", registry.register,
                     learner.Tool(name=name, description=descriptions[name], parameters=AMOUNT_SCHEMA, function=functions[name]))
    try:
        registry.register(learner.Tool(name=names[0], description="again", parameters={"type": "object"}, function=raiser))
    except ValueError:
        pass
    except WorkerCrashed:
        raise
    except Exception as exc:  # noqa: BLE001 - the wrong exception type is what is reported
        pytest.fail(f"registering a second tool named {names[0]!r} raised {_error_name(exc)}; expected ValueError",
                    pytrace=False)
    else:
        pytest.fail(f"registering a second tool named {names[0]!r} was accepted; register() must raise ValueError",
                    pytrace=False)
    schemas = call_learner("ToolRegistry.schemas()", registry.schemas)
    got = {s.get("function", {}).get("name"): s for s in schemas if isinstance(s, dict)}
    assert sorted(got, key=str) == sorted(names) and len(schemas) == 3, (
        f"schemas() lists {sorted(map(str, got))}, expected exactly {sorted(names)} (a duplicate must not be added)")
    for name in names:
        spec = got[name]
        assert spec.get("type") == "function" and spec["function"].get("description") == descriptions[name] and \
            spec["function"].get("parameters") == AMOUNT_SCHEMA, (
                f"schemas() entry for {name} must be {{'type': 'function', 'function': {{'name', 'description', "
                f"'parameters'}}}} with the tool's own description and schema; got {spec}")
    arguments = {"amount": rng.randint(1, 99), "target": "acct-7"}
    good = _execute(registry, names[0], arguments)
    assert good.ok and good.executed and recorder.calls == [arguments] and recorder.token in str(good.content), (
        f"a valid call of the first registered {names[0]} must run that tool (not the duplicate) and return its "
        f"value in content; got ok={good.ok}, content={str(good.content)[:100]!r}")
    unknown = _execute(registry, f"{rng.choice(['drop', 'delete'])}_everything", json.dumps(arguments))
    assert not unknown.ok and not unknown.executed and str(unknown.content).strip(), (
        "an unknown tool name must give ok=False, executed=False and a message naming the problem")
    failed = _execute(registry, names[1], json.dumps(arguments))
    record_metric("error_content", str(failed.content)[:120])
    assert raiser.calls == 1 and not failed.ok and failed.executed, (
        f"a tool that raises must run once and give ok=False, executed=True (it did run); got ok={failed.ok}, "
        f"executed={failed.executed}")
    assert error in str(failed.content) and message in str(failed.content), (
        f"the tool raised {error}({message!r}): the result content must carry the exception's type and message so the "
        f"model can tell the user; got {str(failed.content)[:160]!r}")


# -- the agent loop -----------------------------------------------------------------------------

@pytest.mark.check(skill="agentic-systems", points=3, hint=2, required=True)
def test_real_model_runs_the_right_tool_and_answers(learner, llm, seed, record_metric):
    """With the real model, the requested tool runs with the task's arguments, its result goes back as a tool message and the run ends in an answer"""
    shop = Shop(seed)
    registry = build_registry(learner, shop)
    model = Meter(llm.chat)
    result = _run(learner, f"What is the status of my order {shop.order}?", registry, model, max_steps=4, max_tokens=4000,
                  first_tool_choice=_force("lookup_order"))
    record_metric("model_calls", len(model.calls))
    record_metric("tokens", model.tokens)
    assert model.calls and model.calls[0]["tools"], "the first model call must offer the tools"
    assert model.calls[0]["tool_choice"] == _force("lookup_order"), "pass first_tool_choice to the first model call"
    assert all(c["tool_choice"] != _force("lookup_order") for c in model.calls[1:] if c["tools"]), (
        "first_tool_choice is for the first call only: forcing it again makes the model repeat the call")
    lookups = shop.ran("lookup_order")
    assert lookups, f"the model asked for lookup_order but it never ran (model asked for {model.requested()})"
    record_metric("order_id", lookups[0]["order_id"])
    assert lookups[0]["order_id"] == shop.order, f"lookup_order ran with {lookups[0]}, the task names order {shop.order}"
    assert len(lookups) == sum(1 for name, _ in model.requested() if name == "lookup_order"), (
        f"every tool call the model made must run exactly once: it asked {model.requested()}, the shop ran {lookups}")
    assert not shop.ran("cancel_order") and shop.orders == shop.initial, "the shop's state changed during a lookup"
    tool_messages = _tool_messages(result)
    status = shop.orders[shop.order]["status"]
    assert tool_messages and status in str(tool_messages[0].get("content")), (
        f"the tool's result (status {status!r}) must go back to the model as a role='tool' message")
    assert all(m.get("tool_call_id") in model.ids() for m in tool_messages), (
        f"each tool message needs the tool_call_id of the call it answers ({sorted(model.ids())}); got "
        f"{[m.get('tool_call_id') for m in tool_messages]}")
    assert len(model.calls) <= 4 and result.steps == len(model.calls), (
        f"{len(model.calls)} model calls with max_steps=4; result.steps says {result.steps}")
    assert result.tokens == model.tokens, f"result.tokens={result.tokens}, the model reported {model.tokens}"
    assert result.stop_reason == "answer" and _answered(result), (
        f"the run should end with the model's answer; stop_reason={result.stop_reason!r}, final_answer={result.final_answer!r}")


@pytest.mark.check(skill="agentic-systems", points=3, hint=3, required=True)
def test_forbidden_tool_never_runs(learner, llm, seed, record_metric):
    """A tool that needs authorization never runs unapproved, even when the real model calls it; the refusal goes back to the model"""
    shop = Shop(seed + 3)
    registry = build_registry(learner, shop)
    model = Meter(llm.chat)
    result = _run(learner, f"Cancel my order {shop.order}, I do not want it any more.", registry, model, max_steps=4,
                  max_tokens=4000, first_tool_choice=_force("cancel_order"))
    record_metric("model_calls", len(model.calls))
    asked = [name for name, _ in shop.authorization_requests]
    record_metric("authorization_requests", len(asked))
    requested = [name for name, _ in model.requested()]
    assert model.calls and "cancel_order" in model.calls[0]["tool_calls"], (
        f"the model was forced to call cancel_order first; calls: {[c['tool_calls'] for c in model.calls]}")
    assert "cancel_order" in asked, "the authorize policy was never consulted for cancel_order"
    assert not shop.ran("cancel_order"), "cancel_order ran although it was not approved"
    assert shop.orders == shop.initial, "the shop's orders changed although nothing was approved"
    refusals = [m for m in _tool_messages(result) if m.get("name") == "cancel_order"]
    assert len(refusals) == requested.count("cancel_order"), (
        f"each of the model's {requested.count('cancel_order')} cancel_order calls must be answered by a role='tool' "
        f"message named cancel_order carrying the refusal; found {len(refusals)}")
    assert all(m.get("tool_call_id") in model.ids() for m in _tool_messages(result)), (
        "each tool message needs the tool_call_id of the call it answers")
    assert result.steps == len(model.calls) <= 4 and _answered(result), (
        f"the run must end within 4 steps with a final answer (steps={result.steps}, final_answer={result.final_answer!r})")


def _budget_run(learner, seed: int, budget: int, max_steps: int = 100):
    shop = Shop(seed)
    model = Meter(NeverDoneModel("search_catalog", {"query": "kettle"}))
    result = _run(learner, "Find me a kettle in the catalog.", build_registry(learner, shop, ("search_catalog", "lookup_order")),
                  model, max_steps=max_steps, max_tokens=budget)
    return shop, model, result


@pytest.mark.check(skill="agentic-systems", points=3, hint=4, required=True)
def test_step_and_token_budgets_hold(learner, seed, record_metric):
    """Budgets stop the loop: at most max_steps model calls, and usage <= max_tokens tokens (scripted model that never stops)"""
    rng = random.Random(seed + 4)
    for max_steps in sorted({1, rng.randint(2, 4), rng.randint(5, 8)}):
        shop = Shop(seed)
        model = Meter(NeverDoneModel("lookup_order", {"order_id": shop.order}))
        result = _run(learner, f"Track order {shop.order}.", build_registry(learner, shop), model, max_steps=max_steps,
                      max_tokens=1_000_000)
        where = f"max_steps={max_steps}"
        assert len(model.calls) == max_steps, f"{where}: the model was called {len(model.calls)} times (steps = model calls)"
        assert result.steps == max_steps and result.stop_reason == "step_budget", (
            f"{where}: steps={result.steps}, stop_reason={result.stop_reason!r}; expected {max_steps} and 'step_budget'")
        assert _answered(result), f"{where}: a budget stop still needs a non-empty final_answer"
        assert result.tokens == model.tokens, f"{where}: result.tokens={result.tokens}, the model reported {model.tokens}"

    budgets = sorted(rng.sample(range(1800, 4000), 2) + rng.sample(range(4000, 9000), 2))
    calls_per_budget = []
    for budget in budgets:
        _, model, result = _budget_run(learner, seed, budget)
        where = f"max_tokens={budget}"
        calls_per_budget.append(len(model.calls))
        assert all(c["max_tokens"] is not None for c in model.calls), (
            f"{where}: every model call needs max_tokens, or nothing bounds what it costs")
        assert model.tokens <= budget, (
            f"{where}: the run used {model.tokens} tokens in {len(model.calls)} calls; usage may never exceed the budget: "
            "reserve estimate_prompt_tokens(messages, tools) + the call's max_tokens before each call, and do not call "
            "if it does not fit")
        assert result.tokens == model.tokens and result.steps == len(model.calls), (
            f"{where}: result.tokens={result.tokens}, steps={result.steps}; the model reported {model.tokens} tokens in "
            f"{len(model.calls)} calls")
        assert result.stop_reason == "token_budget" and _answered(result), (
            f"{where}: stop_reason={result.stop_reason!r}, final_answer={result.final_answer!r}; expected 'token_budget' "
            "and a non-empty answer")
        assert model.calls, f"{where}: the run stopped before its first call, though the budget fits several"
        last = model.calls[-1]
        need = last["estimate"] + (last["max_tokens"] or 0)
        assert budget - model.tokens < 3 * need, (
            f"{where}: stopped with {budget - model.tokens} tokens left, while the last call needed a reservation of "
            f"{need}; stop only when the next call's reservation does not fit")
    record_metric("token_budgets", json.dumps(budgets))
    record_metric("calls_per_budget", json.dumps(calls_per_budget))
    assert calls_per_budget == sorted(calls_per_budget) and calls_per_budget[-1] > calls_per_budget[0], (
        f"budgets {budgets} allowed {calls_per_budget} calls: a larger budget must allow more calls")


@pytest.mark.check(skill="agentic-systems", points=2, hint=5, required=True)
def test_failing_tool_does_not_crash_the_loop(learner, seed, record_metric):
    """A tool that raises is reported to the model as a tool message and the loop goes on to the model's answer (scripted model)"""
    shop = Shop(seed + 5)
    registry = build_registry(learner, shop, ("lookup_order", "check_inventory"))
    model = Meter(FailingToolModel(shop.sku))
    result = _run(learner, f"How many {shop.sku} are in stock?", registry, model, max_steps=4, max_tokens=4000)
    record_metric("model_calls", len(model.calls))
    assert shop.ran("check_inventory") == [{"sku": shop.sku}], (
        f"the model asked once for check_inventory({shop.sku}); it ran {shop.ran('check_inventory')}")
    messages = _tool_messages(result)
    assert messages and "RuntimeError" in str(messages[0].get("content")) and shop.inventory_error in str(
        messages[0].get("content")), (
        f"the exception (RuntimeError: {shop.inventory_error}) must go back to the model as the tool message; got "
        f"{[str(m.get('content'))[:80] for m in messages]}")
    assert len(model.calls) >= 2, "after a tool error the model must be called again so it can answer or retry"
    assert result.final_answer == FailingToolModel.answer and result.stop_reason == "answer", (
        f"after the tool failed the model answered; final_answer={result.final_answer!r}, stop_reason={result.stop_reason!r}")


@pytest.mark.check(skill="generative-ai", points=1, hint=5, required=True)
def test_bad_arguments_are_recovered(learner, seed, record_metric):
    """Broken or invalid arguments from the model are sent back with the tools offered again, so it can retry (scripted model)"""
    shop = Shop(seed + 6)
    scripted = BadArgumentsModel(shop.order)
    model = Meter(scripted)
    result = _run(learner, f"What is the status of order {shop.order}?", build_registry(learner, shop), model, max_steps=6,
                  max_tokens=6000, first_tool_choice=_force("lookup_order"))
    record_metric("model_calls", len(model.calls))
    assert model.calls and model.calls[0]["tool_choice"] == _force("lookup_order"), "pass first_tool_choice to the first call"
    forced_again = [i for i, c in enumerate(model.calls) if i and c["tool_choice"] == _force("lookup_order")]
    assert not forced_again, (
        f"calls {forced_again} forced lookup_order again: first_tool_choice is for the first call only (later calls use "
        "'auto'), or the model can never answer")
    assert shop.ran("lookup_order") == [{"order_id": shop.order}], (
        f"lookup_order should run once, with the valid arguments of the fourth attempt; it ran with {shop.ran('lookup_order')} "
        f"(tools offered after each error: {scripted.offered_after_error})")
    errors = _tool_messages(result)[:3]
    assert len(errors) == 3 and all("error" in str(m.get("content")).lower() or "invalid" in str(m.get("content")).lower()
                                    for m in errors), "each rejected call must be answered with a tool message saying what was wrong"
    assert all(m.get("tool_call_id") in model.ids() for m in _tool_messages(result)), (
        "each tool message needs the tool_call_id of the call it answers")
    assert result.final_answer == BadArgumentsModel.answer and result.stop_reason == "answer", (
        f"final_answer={result.final_answer!r}, stop_reason={result.stop_reason!r}")
    json.dumps(result.transcript, default=str)

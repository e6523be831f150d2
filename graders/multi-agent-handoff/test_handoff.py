"""Grader for multi-agent-handoff: a planner that routes requests to specialists through typed
handoffs over a shared context store, least-privilege tools, a token budget and a deadline
that end the run with a partial result, and per-agent token/cost attribution checked against
the LLM layer's own call log.

Every check runs the learner's Workflow in a seeded in-memory helpdesk and compares its state
before and after. The real embedded model drives routing and the specialists' tool calls in
the end-to-end checks; SCRIPTED models (see _helpdesk.py) drive the checks that need a model
to misbehave on cue.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from _helpdesk import (
    ROLE_SPECS,
    FakeClock,
    Helpdesk,
    Recorder,
    ScriptedModel,
    grader_chat,
    notes,
    roles,
    type_name,
)

from workbench.core.wire import RemoteError
from workbench.core.worker import WorkerCrashed
from workbench.llm import calllog

KINDS = ["billing", "support", "security"]
REAL_SEED = 20260917
REAL_BUDGET_SEED = 4242
PRICES = {"prompt_per_million": 2.5, "completion_per_million": 10.0}


def _error_name(exc: BaseException) -> str:
    return exc.type_name if isinstance(exc, RemoteError) else type(exc).__name__


def _workflow(learner, world: Helpdesk, chat, **kwargs):
    """The learner's Workflow (in the sandboxed worker) over the world's registry; `chat` is the
    grader's model, reached from learner code through a handle (see _helpdesk.grader_chat)."""
    try:
        return learner.Workflow(roles(learner), world.registry(learner), chat=grader_chat(chat), **kwargs)
    except NotImplementedError as exc:
        pytest.fail(f"Workflow is not implemented yet ({exc})", pytrace=False)
    except WorkerCrashed:
        raise
    except Exception as exc:  # noqa: BLE001 - building the workflow is part of what is checked
        pytest.fail(f"Workflow(...) raised {_error_name(exc)}: {exc}", pytrace=False)


def _run(workflow, task: str, context: dict | None = None):
    try:
        result = workflow.run(task, context=context)
    except NotImplementedError as exc:
        pytest.fail(f"Workflow.run is not implemented yet ({exc})", pytrace=False)
    except WorkerCrashed:
        raise
    except Exception as exc:  # noqa: BLE001 - a stop must be a result, never an exception
        pytest.fail(f"Workflow.run raised {_error_name(exc)}: {exc}; a budget or time stop must return a partial "
                    "WorkflowResult", pytrace=False)
    for name in ("status", "answer", "outcomes", "handoffs", "refusals", "calls", "usage", "total_tokens", "total_cost_usd"):
        if not hasattr(result, name):
            pytest.fail(f"run() must return a WorkflowResult with .{name}", pytrace=False)
    return result


def _done(result) -> list[int]:
    return [i for i, outcome in enumerate(result.outcomes) if getattr(outcome, "status", None) == "done"]


def _check_consistent(world: Helpdesk, before: dict, requests: list, result, where: str) -> list[int]:
    """Outcomes must say what really happened: "done" exactly for the requests whose change is
    in the state, and nothing else changed."""
    assert len(result.outcomes) == len(requests), (
        f"{where}: {len(result.outcomes)} outcomes for {len(requests)} requests (one per line of the task)")
    done = _done(result)
    applied = [i for i, request in enumerate(requests) if world.applied(before, request)]
    assert done == applied, (f"{where}: outcomes say requests {done} are done, but the helpdesk shows the changes of "
                             f"requests {applied}")
    expected = world.expected_after(before, [requests[i] for i in applied])
    assert world.snapshot() == expected, f"{where}: the helpdesk changed in ways no request asked for"
    assert isinstance(result.answer, str) and result.answer.strip(), f"{where}: the result needs a non-empty answer"
    return done


# -- scripted checks ------------------------------------------------------------------------------

@pytest.mark.check(skill="agentic-systems", points=2, hint=1)
def test_handoffs_are_typed_and_carry_only_their_slice(learner, record_metric):
    """Each request gets one planner call and a typed handoff; a specialist sees only its context slice (scripted model)"""
    seed = 11
    world = Helpdesk(seed)
    requests = world.requests(KINDS)
    context = notes(seed)
    model = Recorder(ScriptedModel())
    before = world.snapshot()
    result = _run(_workflow(learner, world, model, token_budget=20_000, timeout_s=60), "\n".join(r.text for r in requests),
                  context)
    planner_calls = [c for c in model.calls if c["agent"] == "planner"]
    record_metric("model_calls", len(model.calls))
    assert len(planner_calls) == 3, (f"expected one planner call (offering only the handoff function) per request, "
                                     f"got {len(planner_calls)} of {len(model.calls)} calls")
    assert all(c["tool_choice"] == {"type": "function", "function": {"name": "handoff"}} for c in planner_calls), (
        "the planner's calls must force the handoff function (tool_choice)")
    assert len(result.handoffs) == 3, f"expected 3 handoffs, got {len(result.handoffs)}"
    for handoff, request in zip(result.handoffs, requests, strict=True):
        assert type_name(handoff) == "Handoff", f"handoffs must be Handoff records, got {type_name(handoff)}"
        assert handoff.to == request.team, (f"the model handed {request.text!r} to {request.team!r}, the handoff "
                                            f"record says {handoff.to!r}")
        assert isinstance(handoff.goal, str) and request.change[1] in handoff.goal, (
            f"the handoff's goal must carry the request (it names {request.change[1]}); got {handoff.goal!r}")
        reads = set(ROLE_SPECS[request.team][2])
        assert isinstance(handoff.context, dict) and set(handoff.context) <= reads, (
            f"the handoff to {handoff.to} carries context keys {sorted(handoff.context)}; the role may read only {sorted(reads)}")
        assert set(handoff.context) == reads, f"the handoff to {handoff.to} must carry its slice {sorted(reads)}"
        assert isinstance(handoff.budget_tokens, int) and 0 < handoff.budget_tokens <= 20_000, (
            f"budget_tokens must be a positive int within the workflow budget, got {handoff.budget_tokens!r}")
    canary = {key: value.split("ref ")[-1] for key, value in context.items()}
    for call in model.calls:
        own = set(ROLE_SPECS[call["agent"]][2]) if call["agent"] in ROLE_SPECS else set()
        leaked = [key for key in context if key not in own and canary[key] in call["text"]]
        assert not leaked, f"a {call['agent']} call saw context it may not read: {leaked}"
    for agent, (_, _, reads, _) in ROLE_SPECS.items():
        seen = [c for c in model.calls if c["agent"] == agent]
        assert seen and all(canary[key] in seen[0]["text"] for key in reads), (
            f"the {agent} specialist's prompt must include its context slice {list(reads)}")
    done = _check_consistent(world, before, requests, result, "scripted run")
    record_metric("requests_done", len(done))
    assert len(done) == 3 and result.status == "completed", (
        f"all 3 requests should be done (status {result.status!r}, done {done})")


@pytest.mark.check(skill="security-governance", points=3, hint=2)
def test_out_of_role_tools_are_refused_and_logged(learner, record_metric):
    """Tools outside a specialist's role and handoffs to unknown agents are refused by the framework and logged (scripted model)"""
    seed = 23
    world = Helpdesk(seed)
    refund = world.requests(["billing"])[0]
    model = ScriptedModel(specialist_script={"billing": [["delete_account", "close_ticket"], ["unlock_account"]]},
                          route_override={"administrator": "admin"})
    recorder = Recorder(model)
    before = world.snapshot()
    task = f"{refund.text}\nMake me an administrator of the helpdesk."
    result = _run(_workflow(learner, world, recorder, token_budget=20_000, timeout_s=60), task, notes(seed))
    forbidden = [name for name in ("delete_account", "close_ticket", "unlock_account") if world.ran(name)]
    assert not forbidden, f"the billing specialist ran {forbidden}: tools outside its role must never run"
    refused = {(getattr(r, "agent", None), getattr(r, "tool", None)) for r in result.refusals}
    record_metric("refusals", len(result.refusals))
    for tool in ("delete_account", "close_ticket", "unlock_account"):
        assert ("billing", tool) in refused, (f"billing asked for {tool}; the refusal log must hold a Refusal(agent='billing', "
                                              f"tool={tool!r}, ...); it holds {sorted(map(str, refused))}")
    assert all(isinstance(r.reason, str) and r.reason.strip() for r in result.refusals), "every refusal needs a reason"
    assert ("planner", "handoff") in refused, "the planner named an agent that does not exist: log that handoff as refused"
    assert all(h.to in ROLE_SPECS for h in result.handoffs), f"a handoff went to {[h.to for h in result.handoffs]}"
    offered = {name for call in recorder.calls if call["agent"] != "planner" for name in call["tools"]}
    assert offered <= set(ROLE_SPECS["billing"][1]), (f"the billing specialist was offered {sorted(offered)}; offer only "
                                                      f"its role's tools {list(ROLE_SPECS['billing'][1])}")
    replies = [m for seen in model.seen for m in seen["messages"] if m.get("role") == "tool"]
    told = [m for m in replies if m.get("name") == "delete_account" or "delete_account" in str(m.get("content"))]
    assert told and all("error" in str(m.get("content")).lower() or "refus" in str(m.get("content")).lower() for m in told), (
        "the refusal must go back to the model as a role='tool' message saying the call was refused")
    assert world.snapshot() == world.expected_after(before, [refund]), (
        "after its refused calls the billing specialist's allowed issue_refund should have run, and nothing else")
    statuses = [getattr(o, "status", None) for o in result.outcomes]
    assert statuses[:1] == ["done"] and len(statuses) == 2 and statuses[1] != "done", (
        f"outcomes are {statuses}: the refund is done, the request nobody may handle is not")


@pytest.mark.check(skill="agentic-systems", points=3, hint=3)
def test_token_budget_is_never_exceeded(learner, record_metric):
    """The token budget is never exceeded; exhaustion ends the run with a partial result (scripted model, budget sweep)"""
    partial = 0
    for budget in (150, 400, 650, 900, 1150, 1400, 1700, 2000, 20_000):
        world = Helpdesk(budget)
        requests = world.requests(KINDS)
        model = Recorder(ScriptedModel())
        before = world.snapshot()
        result = _run(_workflow(learner, world, model, token_budget=budget, timeout_s=60),
                      "\n".join(r.text for r in requests), notes(budget))
        where = f"token_budget={budget}"
        assert model.tokens <= budget, f"{where}: the run used {model.tokens} tokens; the budget may never be exceeded"
        assert result.total_tokens == model.tokens, f"{where}: result.total_tokens={result.total_tokens}, the model reported {model.tokens}"
        assert all(c["max_tokens"] is not None for c in model.calls), f"{where}: every call needs max_tokens set"
        done = _check_consistent(world, before, requests, result, where)
        if len(done) < 3:
            assert result.status == "budget_exhausted", f"{where}: {len(done)} of 3 done, status {result.status!r}; expected 'budget_exhausted'"
            partial += 0 < len(done)
        else:
            assert result.status == "completed", f"{where}: all done, status {result.status!r}; expected 'completed'"
    record_metric("partial_runs", partial)
    assert partial >= 2, f"only {partial} budgets ended with some requests done and others not: stop per call, not per run"

    world = Helpdesk(77)
    requests = world.requests(KINDS)
    model = Recorder(ScriptedModel())
    result = _run(_workflow(learner, world, model, token_budget=20_000, handoff_tokens=300, timeout_s=60),
                  "\n".join(r.text for r in requests), notes(77))
    planner_calls = sum(1 for c in model.calls if c["agent"] == "planner")
    specialist_tokens = sum(c["tokens"] for c in model.calls if c["agent"] in ROLE_SPECS)
    assert planner_calls == 3, f"a handoff that runs out of its own budget must not stop the run ({planner_calls} planner calls)"
    assert all(h.budget_tokens <= 300 for h in result.handoffs), "each handoff's budget_tokens must be at most handoff_tokens"
    assert specialist_tokens <= sum(h.budget_tokens for h in result.handoffs), (
        f"the specialists spent {specialist_tokens} tokens on handoffs whose budgets total "
        f"{sum(h.budget_tokens for h in result.handoffs)}")


@pytest.mark.check(skill="agentic-systems", points=2, hint=3)
def test_deadline_ends_the_run_with_a_partial_result(learner, record_metric):
    """The wall-clock timeout stops the run between calls and bounds each call; a timed-out call is a result, not a crash (scripted model, fake clock)"""
    world = Helpdesk(31)
    requests = world.requests(KINDS)
    clock = FakeClock()
    model = ScriptedModel(clock=clock, seconds_per_call=4.0)
    starts: list[float] = []

    def timed(messages, **kwargs):
        starts.append(clock.now)
        return model(messages, **kwargs)

    recorder = Recorder(timed)
    before = world.snapshot()
    start = clock.now
    result = _run(_workflow(learner, world, recorder, token_budget=20_000, timeout_s=10.0, clock=clock),
                  "\n".join(r.text for r in requests), notes(31))
    elapsed = [s - start for s in starts]
    record_metric("calls_before_deadline", len(starts))
    assert all(e < 10.0 for e in elapsed), f"calls started at {elapsed} s; none may start once the 10 s deadline has passed"
    assert len(starts) == 3, f"at 4 s a call, calls can start at 0, 4 and 8 s; the run made {len(starts)}"
    for call, e in zip(recorder.calls, elapsed, strict=True):
        assert call["timeout_s"] is not None and call["timeout_s"] <= 10.0 - e + 1e-6, (
            f"a call started at {e:g} s was given timeout_s={call['timeout_s']}; pass the time left ({10.0 - e:g} s)")
    assert result.status == "timeout", f"status is {result.status!r}, expected 'timeout'"
    done = _check_consistent(world, before, requests, result, "deadline run")
    assert done == [0], f"the first request fits before the deadline; done: {done}"

    world = Helpdesk(32)
    requests = world.requests(KINDS)
    before = world.snapshot()
    result = _run(_workflow(learner, world, ScriptedModel(timeout_on=2), token_budget=20_000, timeout_s=60),
                  "\n".join(r.text for r in requests), notes(32))
    assert result.status == "timeout", f"a model call raised LLMTimeout; status is {result.status!r}, expected 'timeout'"
    _check_consistent(world, before, requests, result, "LLMTimeout run")


# -- real model --------------------------------------------------------------------------------------

def _real_run(learner, llm, seed: int, **kwargs) -> SimpleNamespace:
    world = Helpdesk(seed)
    requests = world.requests(KINDS)
    recorder = Recorder(llm.chat)
    before = world.snapshot()
    first = len(calllog.records())
    workflow = _workflow(learner, world, recorder, prices=learner.Prices(**PRICES), **kwargs)
    error = None
    try:
        result = workflow.run("\n".join(r.line(prefixed=True) for r in requests), context=notes(seed))
    except WorkerCrashed:
        raise
    except Exception as exc:  # noqa: BLE001 - reported by the checks that use the run
        result, error = None, f"Workflow.run raised {_error_name(exc)}: {exc}"
    return SimpleNamespace(world=world, requests=requests, recorder=recorder, before=before, result=result, error=error,
                           log=calllog.records()[first:])


@pytest.fixture(scope="module")
def real_run(learner, llm):
    return _real_run(learner, llm, REAL_SEED, token_budget=6000, timeout_s=150)


@pytest.mark.check(skill="agentic-systems", points=3, hint=1)
def test_real_model_routes_and_acts(real_run, record_metric):
    """With the real model, every request is routed by a handoff call and its specialist's tool call changes the helpdesk"""
    run = real_run
    assert run.error is None, run.error
    result = run.result
    record_metric("model_calls", len(run.recorder.calls))
    record_metric("tokens", run.recorder.tokens)
    planner = [c for c in run.recorder.calls if c["agent"] == "planner"]
    assert len(planner) == 3, f"expected one planner call per request (3), got {len(planner)}"
    routed = sum(h.to == r.team for h, r in zip(result.handoffs, run.requests, strict=False))
    record_metric("routed_correctly", routed)
    assert routed >= 3 - 1, (
        f"each request names its team and the model copies it; handoffs went to {[h.to for h in result.handoffs]}, "
        f"expected {[r.team for r in run.requests]} (at least 2 of 3 needed): build each Handoff from the model's call")
    for call in run.recorder.calls:
        if call["agent"] != "planner":
            assert call["agent"] in ROLE_SPECS, f"a specialist call offered {call['tools']}: offer only its role's tools"
    done = _check_consistent(run.world, run.before, run.requests, result, "real-model run")
    record_metric("requests_done", len(done))
    assert len(done) >= 3 - 1, f"{len(done)} of 3 requests done by the real model (needs at least 2): {result.answer}"
    assert result.status == "completed", f"status {result.status!r}, expected 'completed' with a 6000-token budget"


@pytest.mark.check(skill="systems-design", points=2, hint=2)
def test_cost_attribution_matches_the_call_log(learner, real_run, record_metric):
    """Per-agent tokens and cost sum to what the LLM layer's call log recorded, call by call"""
    run = real_run
    assert run.error is None, run.error
    result, log = run.result, run.log
    prices = learner.Prices(**PRICES)
    logged_tokens = sum(r.total_tokens for r in log)
    logged_cost = sum(r.cost_usd or prices.cost(r.prompt_tokens, r.completion_tokens) for r in log)
    record_metric("logged_calls", len(log))
    record_metric("logged_tokens", logged_tokens)
    record_metric("logged_cost_usd", logged_cost)
    assert len(run.recorder.calls) == len(log), (
        f"the call log shows {len(log)} model calls, {len(run.recorder.calls)} of them through the injected chat: "
        "make every model call through Workflow(chat=...)")
    assert len(result.calls) == len(log), f"result.calls has {len(result.calls)} entries, the call log {len(log)} calls"
    for index, (mine, logged, seen) in enumerate(zip(result.calls, log, run.recorder.calls, strict=True)):
        assert (mine.prompt_tokens, mine.completion_tokens) == (logged.prompt_tokens, logged.completion_tokens), (
            f"call {index}: attributed {mine.prompt_tokens}+{mine.completion_tokens} tokens, the log says "
            f"{logged.prompt_tokens}+{logged.completion_tokens}")
        if seen["agent"] in ("planner", *ROLE_SPECS):
            assert mine.agent == seen["agent"], (f"call {index} offered {seen['tools']} (the {seen['agent']}'s tools) but "
                                                 f"is attributed to {mine.agent!r}")
    per_agent_tokens = sum(u.total_tokens for u in result.usage.values())
    per_agent_cost = sum(u.cost_usd for u in result.usage.values())
    record_metric("agents", len(result.usage))
    assert {"planner", *(r.team for r in run.requests)} <= set(result.usage), (
        f"usage must have an entry per agent that called the model; it has {sorted(result.usage)}")
    for agent, usage in result.usage.items():
        mine = [c for c in result.calls if c.agent == agent]
        assert usage.total_tokens == sum(c.total_tokens for c in mine) and usage.calls == len(mine), (
            f"usage[{agent!r}] does not add up its own calls")
    assert per_agent_tokens == logged_tokens == result.total_tokens, (
        f"per-agent tokens sum to {per_agent_tokens}, result.total_tokens={result.total_tokens}, the call log {logged_tokens}")
    assert math.isclose(per_agent_cost, logged_cost, rel_tol=1e-9, abs_tol=1e-12) and math.isclose(
        result.total_cost_usd, logged_cost, rel_tol=1e-9, abs_tol=1e-12), (
        f"per-agent cost sums to {per_agent_cost:.9f} USD, result.total_cost_usd={result.total_cost_usd:.9f}, the call "
        f"log priced at {PRICES} gives {logged_cost:.9f}")


@pytest.mark.check(skill="agentic-systems", points=2, hint=3)
def test_real_model_budget_stop(learner, llm, record_metric):
    """With the real model and a tight token budget the run stops with a partial result inside the budget"""
    budget = 1400
    run = _real_run(learner, llm, REAL_BUDGET_SEED, token_budget=budget, timeout_s=120)
    assert run.error is None, run.error
    result = run.result
    logged = sum(r.total_tokens for r in run.log)
    record_metric("logged_tokens", logged)
    record_metric("budget", budget)
    assert logged <= budget, f"the call log shows {logged} tokens for a {budget}-token budget"
    done = _check_consistent(run.world, run.before, run.requests, result, f"real run, token_budget={budget}")
    record_metric("requests_done", len(done))
    assert result.status == "budget_exhausted" and len(done) < 3, (
        f"{len(done)} of 3 done within {budget} tokens, status {result.status!r}; expected 'budget_exhausted'")
    assert len(done) >= 1, f"no request was done within {budget} tokens: reserve per call, not for the whole run"

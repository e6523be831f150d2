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
import random
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

def _handoff_budgets(recorder: Recorder, result, budget: int, handoff_tokens: int) -> None:
    """Each handoff's budget_tokens = min(handoff_tokens, what the run has left after its planner call)."""
    spent, planner_ends = 0, []
    for call in recorder.calls:
        spent += call["tokens"]
        if call["agent"] == "planner":
            planner_ends.append(spent)
    assert len(result.handoffs) <= len(planner_ends), f"{len(result.handoffs)} handoffs from {len(planner_ends)} planner calls"
    for index, handoff in enumerate(result.handoffs):
        left = budget - planner_ends[index]
        assert isinstance(handoff.budget_tokens, int) and handoff.budget_tokens == min(handoff_tokens, left), (
            f"handoff {index} to {handoff.to} has budget_tokens={handoff.budget_tokens!r}; expected min(handoff_tokens="
            f"{handoff_tokens}, tokens left after its planner call = {left}) = {min(handoff_tokens, left)}")


@pytest.mark.check(skill="agentic-systems", points=2, hint=1, required=True)
def test_handoffs_are_typed_and_carry_only_their_slice(learner, seed, record_metric):
    """Each request gets one forced planner call and a typed handoff to the model's choice; a specialist sees only its slice, forces its first tool and stops at its max_steps (scripted model)"""
    rng = random.Random(seed)
    world = Helpdesk(seed)
    requests = world.requests(rng.sample(KINDS, 3))
    context = notes(seed)
    misrouted = rng.randrange(3)
    id_kinds = {"billing": "INV-", "support": "T-", "security": "ACC-"}  # what each team's action tool needs
    wrong_team = rng.choice([k for k in KINDS if k != requests[misrouted].team and id_kinds[k] not in requests[misrouted].text])
    chosen = [wrong_team if i == misrouted else r.team for i, r in enumerate(requests)]
    steps = {kind: rng.randint(2, 4) for kind in KINDS}
    handoff_tokens = rng.randint(2500, 4000)
    model = Recorder(ScriptedModel(route_override={requests[misrouted].text: wrong_team}))
    before = world.snapshot()
    workflow = learner.Workflow(roles(learner, steps), world.registry(learner), chat=grader_chat(model), token_budget=20_000,
                                timeout_s=60, handoff_tokens=handoff_tokens)
    result = _run(workflow, "\n".join(r.text for r in requests), context)
    planner_calls = [c for c in model.calls if c["agent"] == "planner"]
    record_metric("model_calls", len(model.calls))
    assert len(planner_calls) == 3, (f"expected one planner call (offering only the handoff function) per request, "
                                     f"got {len(planner_calls)} of {len(model.calls)} calls")
    assert all(c["tool_choice"] == {"type": "function", "function": {"name": "handoff"}} for c in planner_calls), (
        "the planner's calls must force the handoff function (tool_choice)")
    assert len(result.handoffs) == 3, f"expected 3 handoffs, got {len(result.handoffs)}"
    for handoff, request, team in zip(result.handoffs, requests, chosen, strict=True):
        assert type_name(handoff) == "Handoff", f"handoffs must be Handoff records, got {type_name(handoff)}"
        assert handoff.to == team, (f"the model handed {request.text!r} to {team!r}, the handoff record says "
                                    f"{handoff.to!r}: build the Handoff from the model's call, not from the request's words")
        assert isinstance(handoff.goal, str) and request.change[1] in handoff.goal, (
            f"the handoff's goal must carry the request (it names {request.change[1]}); got {handoff.goal!r}")
        reads = set(ROLE_SPECS[team][2])
        assert isinstance(handoff.context, dict) and set(handoff.context) == reads, (
            f"the handoff to {handoff.to} carries context keys {sorted(handoff.context)}; it must carry exactly its "
            f"role's slice {sorted(reads)}")
        assert handoff.max_steps == steps[team], f"the handoff to {team} has max_steps={handoff.max_steps}, its role {steps[team]}"
    _handoff_budgets(model, result, 20_000, handoff_tokens)
    canary = {key: value.split("ref ")[-1] for key, value in context.items()}
    for call in model.calls:
        own = set(ROLE_SPECS[call["agent"]][2]) if call["agent"] in ROLE_SPECS else set()
        leaked = [key for key in context if key not in own and canary[key] in call["text"]]
        assert not leaked, f"a {call['agent']} call saw context it may not read: {leaked}"
    specialist_calls = {team: [c for c in model.calls if c["agent"] == team] for team in set(chosen)}
    for team, calls in specialist_calls.items():
        assert calls and all(canary[key] in calls[0]["text"] for key in ROLE_SPECS[team][2]), (
            f"the {team} specialist's prompt must include its context slice {list(ROLE_SPECS[team][2])}")
        first_tool = ROLE_SPECS[team][3]
        assert calls[0]["tool_choice"] == {"type": "function", "function": {"name": first_tool}}, (
            f"the {team} specialist's first call must force its first_tool {first_tool!r}; tool_choice was "
            f"{calls[0]['tool_choice']!r}")
    per_request: list[list[dict]] = []
    for call in model.calls:
        if call["agent"] == "planner":
            per_request.append([])
        elif per_request:
            per_request[-1].append(call)
    for index, team in enumerate(chosen):
        made = len(per_request[index])
        if index == misrouted:
            assert made == steps[team], (
                f"the {team} specialist got a request it cannot do ({requests[index].text!r}); every call failed, so it "
                f"should stop after its role's max_steps={steps[team]} calls; it made {made}")
        else:
            assert made == 1, (f"the {team} specialist's first call succeeded, so it is done; it made {made} calls "
                               "(stop once all of a step's tool calls succeed)")
    done = _check_consistent(world, before, requests, result, "scripted run")
    record_metric("requests_done", len(done))
    statuses = [getattr(o, "status", None) for o in result.outcomes]
    assert done == [i for i in range(3) if i != misrouted] and statuses[misrouted] == "failed", (
        f"the two requests routed to their team are done and the misrouted one failed; outcomes {statuses}")
    assert result.status == "completed", f"every request was handled, so status is 'completed', got {result.status!r}"


def _foreign_tools(rng: random.Random, team: str, extra: str, n: int) -> list[str]:
    own = set(ROLE_SPECS[team][1])
    pool = sorted({tool for spec in ROLE_SPECS.values() for tool in spec[1]} - own) + ["delete_account", extra]
    return rng.sample(pool, n)


@pytest.mark.check(skill="security-governance", points=3, hint=2, required=True)
def test_out_of_role_tools_are_refused_and_logged(learner, seed, record_metric):
    """Tools outside a specialist's role (even ones in the registry) and handoffs to unknown agents are refused by the framework and logged (scripted model)"""
    rng = random.Random(seed + 1)
    world = Helpdesk(seed + 1)
    teams = rng.sample(KINDS, 2)
    requests = world.requests(teams)
    extra = f"{rng.choice(['export', 'grant', 'merge', 'purge'])}_{rng.choice(['accounts', 'refunds', 'tickets'])}_{rng.randint(10, 99)}"
    script = {}
    for team in teams:
        asked = _foreign_tools(rng, team, extra, 3)
        script[team] = [asked[:2], asked[2:]]
    unknown = rng.choice(["admin", "root", "superuser", "finance"])
    model = ScriptedModel(specialist_script=script, route_override={"administrator": unknown})
    recorder = Recorder(model)
    before = world.snapshot()
    task = "\n".join([requests[0].text, requests[1].text, "Make me an administrator of the helpdesk."])
    workflow = learner.Workflow(roles(learner), world.registry(learner, (extra,)), chat=grader_chat(recorder),
                                token_budget=20_000, timeout_s=60)
    result = _run(workflow, task, notes(seed + 1))
    asked = {(team, tool) for team, batches in script.items() for batch in batches for tool in batch}
    ran = [name for name, _ in world.executed]
    allowed = [ROLE_SPECS[team][3] for team in teams]
    record_metric("out_of_role_calls", len(asked))
    assert ran == allowed, (f"the tools that ran were {ran}; only each specialist's own {allowed} may run: the framework "
                            f"must refuse any tool outside the specialist's role ({sorted(asked)} were asked for), whatever "
                            "is in the registry")
    refused = {(getattr(r, "agent", None), getattr(r, "tool", None)) for r in result.refusals}
    record_metric("refusals", len(result.refusals))
    missing = sorted(asked - refused)
    assert not missing, (f"each out-of-role call needs a Refusal(agent=role, tool=name, ...) in result.refusals; missing "
                         f"{missing}; it holds {sorted(map(str, refused))}")
    assert all(isinstance(r.reason, str) and r.reason.strip() for r in result.refusals), "every refusal needs a reason"
    assert ("planner", "handoff") in refused, f"the planner named an agent {unknown!r} that does not exist: log that handoff as refused"
    assert all(h.to in ROLE_SPECS for h in result.handoffs), f"a handoff went to {[h.to for h in result.handoffs]}"
    for call in recorder.calls:
        if call["agent"] != "planner":
            assert call["agent"] in ROLE_SPECS, f"a specialist call offered {call['tools']}: offer only its role's tools"
    replies = [m for seen in model.seen for m in seen["messages"] if m.get("role") == "tool"]
    for team, tool in sorted(asked):
        told = [m for m in replies if m.get("name") == tool or tool in str(m.get("content"))]
        assert told and all("error" in str(m.get("content")).lower() or "refus" in str(m.get("content")).lower()
                            for m in told), (
            f"the refusal of {team}'s {tool} call must go back to the model as a role='tool' message saying it was refused")
    assert world.snapshot() == world.expected_after(before, requests), (
        "after their refused calls both specialists' own tools should have run, and nothing else")
    statuses = [getattr(o, "status", None) for o in result.outcomes]
    assert statuses[:2] == ["done", "done"] and len(statuses) == 3 and statuses[2] != "done", (
        f"outcomes are {statuses}: both requests are done, the one nobody may handle is not")


@pytest.mark.check(skill="agentic-systems", points=3, hint=3, required=True)
def test_token_budget_is_never_exceeded(learner, seed, record_metric):
    """The token budget is never exceeded (usage <= budget); exhaustion ends the run with a partial result (scripted model, seeded budget sweep)"""
    rng = random.Random(seed + 2)
    bands = [(150, 400), (400, 650), (650, 900), (900, 1150), (1150, 1400), (1400, 1700), (1700, 2000), (2000, 2300)]
    budgets = [rng.randrange(low, high) for low, high in bands] + [20_000]
    partial = 0
    for budget in budgets:
        world = Helpdesk(seed + budget)
        requests = world.requests(rng.sample(KINDS, 3))
        model = Recorder(ScriptedModel())
        before = world.snapshot()
        workflow = _workflow(learner, world, model, token_budget=budget, timeout_s=60)
        result = _run(workflow, "\n".join(r.text for r in requests), notes(budget))
        where = f"token_budget={budget}"
        assert model.tokens <= budget, f"{where}: the run used {model.tokens} tokens; the budget may never be exceeded"
        assert result.total_tokens == model.tokens, f"{where}: result.total_tokens={result.total_tokens}, the model reported {model.tokens}"
        assert all(c["max_tokens"] is not None for c in model.calls), f"{where}: every call needs max_tokens set"
        _handoff_budgets(model, result, budget, 3000)
        done = _check_consistent(world, before, requests, result, where)
        if len(done) < 3:
            assert result.status == "budget_exhausted", f"{where}: {len(done)} of 3 done, status {result.status!r}; expected 'budget_exhausted'"
            partial += 0 < len(done)
        else:
            assert result.status == "completed", f"{where}: all done, status {result.status!r}; expected 'completed'"
    record_metric("budgets", str(budgets))
    record_metric("partial_runs", partial)
    assert partial >= 2, f"only {partial} budgets ended with some requests done and others not: stop per call, not per run"

    world = Helpdesk(seed + 3)
    requests = world.requests(KINDS)
    model = Recorder(ScriptedModel())
    handoff_tokens = rng.randint(200, 400)
    result = _run(_workflow(learner, world, model, token_budget=20_000, handoff_tokens=handoff_tokens, timeout_s=60),
                  "\n".join(r.text for r in requests), notes(seed + 3))
    planner_calls = sum(1 for c in model.calls if c["agent"] == "planner")
    specialist_tokens = sum(c["tokens"] for c in model.calls if c["agent"] in ROLE_SPECS)
    assert planner_calls == 3, f"a handoff that runs out of its own budget must not stop the run ({planner_calls} planner calls)"
    assert all(h.budget_tokens <= handoff_tokens for h in result.handoffs), (
        f"each handoff's budget_tokens must be at most handoff_tokens={handoff_tokens}")
    assert specialist_tokens <= sum(h.budget_tokens for h in result.handoffs), (
        f"the specialists spent {specialist_tokens} tokens on handoffs whose budgets total "
        f"{sum(h.budget_tokens for h in result.handoffs)}")
    statuses = [getattr(o, "status", None) for o in result.outcomes]
    assert statuses == ["failed"] * 3 and result.status == "completed", (
        f"with handoff_tokens={handoff_tokens} no specialist call fits its handoff: each request is 'failed' and the run "
        f"goes on to 'completed'; got outcomes {statuses}, status {result.status!r}")


@pytest.mark.check(skill="agentic-systems", points=2, hint=3, required=True)
def test_deadline_ends_the_run_with_a_partial_result(learner, seed, record_metric):
    """The wall-clock timeout stops the run between calls and bounds each call; a timed-out or failed call is a result, not a crash (scripted model, fake clock)"""
    rng = random.Random(seed + 4)
    world = Helpdesk(seed + 4)
    requests = world.requests(rng.sample(KINDS, 3))
    clock = FakeClock()
    per_call = rng.choice([3.0, 4.0, 5.0])
    expected_calls = rng.randint(3, 5)
    timeout = per_call * (expected_calls - 1) + round(rng.uniform(0.5, per_call - 0.5), 2)
    model = ScriptedModel(clock=clock, seconds_per_call=per_call)
    starts: list[float] = []

    def timed(messages, **kwargs):
        starts.append(clock.now)
        return model(messages, **kwargs)

    recorder = Recorder(timed)
    before = world.snapshot()
    start = clock.now
    result = _run(_workflow(learner, world, recorder, token_budget=20_000, timeout_s=timeout, clock=clock),
                  "\n".join(r.text for r in requests), notes(seed + 4))
    elapsed = [s - start for s in starts]
    record_metric("calls_before_deadline", len(starts))
    assert all(e < timeout for e in elapsed), f"calls started at {elapsed} s; none may start once the {timeout} s deadline has passed"
    assert len(starts) == expected_calls, (
        f"at {per_call:g} s a call and a {timeout} s timeout, calls can start at "
        f"{[per_call * i for i in range(expected_calls)]} s; the run made {len(starts)}")
    for call, e in zip(recorder.calls, elapsed, strict=True):
        assert call["timeout_s"] is not None and call["timeout_s"] <= timeout - e + 1e-6, (
            f"a call started at {e:g} s was given timeout_s={call['timeout_s']}; pass the time left ({timeout - e:g} s)")
    assert result.status == "timeout", f"status is {result.status!r}, expected 'timeout'"
    done = _check_consistent(world, before, requests, result, "deadline run")
    assert len(done) == expected_calls // 2, (
        f"{expected_calls} calls fit before the deadline: {expected_calls // 2} requests (a planner and a specialist call "
        f"each) are done; done: {done}")

    for label, options, status in (("LLMTimeout", {"timeout_on": rng.randint(2, 5)}, "timeout"),
                                   ("ServerNotRunning (an LLMError)", {"error_on": rng.randint(2, 5)}, "error")):
        world = Helpdesk(seed + 5)
        requests = world.requests(rng.sample(KINDS, 3))
        before = world.snapshot()
        result = _run(_workflow(learner, world, ScriptedModel(**options), token_budget=20_000, timeout_s=60),
                      "\n".join(r.text for r in requests), notes(seed + 5))
        assert result.status == status, f"a model call raised {label}; status is {result.status!r}, expected {status!r}"
        _check_consistent(world, before, requests, result, f"{label} run")


@pytest.mark.check(skill="systems-design", points=1, hint=2, required=True)
def test_calls_are_billed_to_their_agent(learner, seed, record_metric):
    """Every call is billed to the agent that made it, at the backend's reported cost when there is one and at the Prices table otherwise (scripted model)"""
    rng = random.Random(seed + 6)
    world = Helpdesk(seed + 6)
    requests = world.requests(rng.sample(KINDS, 3))
    ppm, cpm = round(rng.uniform(0.1, 5.0), 3), round(rng.uniform(1.0, 20.0), 3)
    reported = {rng.choice(["planner", *KINDS]): round(rng.uniform(1e-5, 1e-3), 8)}
    model = Recorder(ScriptedModel(reported_cost=reported))
    result = _run(_workflow(learner, world, model, token_budget=20_000, timeout_s=60,
                            prices=learner.Prices(prompt_per_million=ppm, completion_per_million=cpm)),
                  "\n".join(r.text for r in requests), notes(seed + 6))
    record_metric("calls", len(model.calls))
    assert len(result.calls) == len(model.calls), f"result.calls has {len(result.calls)} entries for {len(model.calls)} model calls"
    expected_total = 0.0
    for index, (mine, seen) in enumerate(zip(result.calls, model.calls, strict=True)):
        cost = reported.get(seen["agent"]) or (seen["prompt_tokens"] * ppm + seen["completion_tokens"] * cpm) / 1e6
        expected_total += cost
        assert mine.agent == seen["agent"], f"call {index} offered {seen['tools']} ({seen['agent']}) but is billed to {mine.agent!r}"
        assert (mine.prompt_tokens, mine.completion_tokens) == (seen["prompt_tokens"], seen["completion_tokens"]), (
            f"call {index}: attributed {mine.prompt_tokens}+{mine.completion_tokens} tokens, the model reported "
            f"{seen['prompt_tokens']}+{seen['completion_tokens']}")
        assert math.isclose(mine.cost_usd, cost, rel_tol=1e-9, abs_tol=1e-15), (
            f"call {index} ({seen['agent']}) costs {mine.cost_usd!r} USD; expected {cost!r}: the backend's reported cost "
            f"({reported.get(seen['agent'], 0.0)}) when there is one, else prices ({ppm}, {cpm} per million)")
    for agent in {c["agent"] for c in model.calls}:
        usage = result.usage.get(agent)
        mine = [c for c in model.calls if c["agent"] == agent]
        cost = sum(reported.get(agent) or (c["prompt_tokens"] * ppm + c["completion_tokens"] * cpm) / 1e6 for c in mine)
        assert usage is not None and usage.calls == len(mine) and usage.total_tokens == sum(c["tokens"] for c in mine) \
            and math.isclose(usage.cost_usd, cost, rel_tol=1e-9, abs_tol=1e-15), (
                f"usage[{agent!r}] must add up its {len(mine)} calls, {sum(c['tokens'] for c in mine)} tokens and "
                f"{cost:.9f} USD; got {usage}")
    assert result.total_tokens == model.tokens and math.isclose(result.total_cost_usd, expected_total, rel_tol=1e-9), (
        f"totals: {result.total_tokens} tokens / {result.total_cost_usd!r} USD, expected {model.tokens} / {expected_total!r}")


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
def real_run(learner, llm, seed):
    return _real_run(learner, llm, seed + 100, token_budget=6000, timeout_s=150)


@pytest.mark.check(skill="agentic-systems", points=3, hint=1, required=True)
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


@pytest.mark.check(skill="systems-design", points=2, hint=2, required=True)
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


@pytest.mark.check(skill="agentic-systems", points=2, hint=3, required=True)
def test_real_model_budget_stop(learner, llm, seed, record_metric):
    """With the real model and a tight token budget the run stops with a partial result inside the budget"""
    budget = 1400
    run = _real_run(learner, llm, seed + 200, token_budget=budget, timeout_s=120)
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

"""Grader for distributed-training-cloud, part C: the cost models (spot against on-demand with
interruptions, self-hosting against an API, dollars per million tokens), each compared with the
grader's own implementation of the brief's formulas on inputs drawn fresh every run, including
families the brief does not show."""

from __future__ import annotations

import math
import random

import pytest
from _costs_ref import (
    best_interval,
    bisection_volume,
    break_even,
    break_even_inputs,
    min_volume,
    serving,
    serving_cases,
    spot,
    spot_jobs,
    stepped_case,
)

from workbench.core.wire import RemoteError
from workbench.grader_plugin import call_learner

REL = 1e-9


def _close(got, expected) -> bool:
    try:
        return math.isclose(float(got), float(expected), rel_tol=REL, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


def _compare(what: str, got, expected: dict, exact: tuple[str, ...] = ()) -> None:
    assert isinstance(got, dict), f"{what}: returned {type(got).__name__}, needs a dict with {sorted(expected)}"
    for name, value in expected.items():
        assert name in got, f"{what}: the result has no '{name}' (it needs {sorted(expected)})"
        if name in exact or value is None or isinstance(value, str):
            assert got[name] == value, f"{what}: '{name}' = {got[name]!r}, expected {value!r}"
        else:
            assert _close(got[name], value), f"{what}: '{name}' = {got[name]!r}, expected {value!r} (relative 1e-9)"


@pytest.mark.check(skill="cloud", points=2, hint=1, required=True, competency="Cost optimisation")
def test_spot_against_on_demand(learner_module, seed, record_metric):
    """Spot with interruptions against on-demand: expected hours, cost and the cheaper option"""
    costs = learner_module("costs")
    for index, job in enumerate(spot_jobs(random.Random(seed))):
        got = call_learner("spot_plan", costs.spot_plan, job)
        _compare(f"spot_plan(job #{index}: {_short(job)})", got, spot(job))
    record_metric("jobs", index + 1)


@pytest.mark.check(skill="cloud", points=1, hint=1, competency="Cost optimisation")
def test_best_checkpoint_interval(learner_module, seed):
    """The checkpoint interval with the lowest expected spot cost, from a list"""
    costs = learner_module("costs")
    rng = random.Random(seed + 1)
    for job in spot_jobs(rng)[:4]:
        job = {**job, "interruptions_per_h": rng.choice([0.02, 0.1, 0.5])}
        candidates = sorted({round(rng.uniform(0.1, 8.0), 2) for _ in range(9)})
        rng.shuffle(candidates)
        got = call_learner("best_checkpoint_interval", costs.best_checkpoint_interval, job, candidates)
        expected = best_interval(job, candidates)
        assert _close(got, expected), (
            f"best_checkpoint_interval({_short(job)}, {candidates}) = {got!r}, expected {expected} (expected spot costs: "
            + ", ".join(f"{c}h: ${spot({**job, 'checkpoint_every_h': c})['spot_usd']:.2f}" for c in sorted(candidates)) + ")")


@pytest.mark.check(skill="cloud", points=2, hint=1, required=True, competency="Cost optimisation")
def test_self_hosting_break_even(learner_module, seed, record_metric):
    """Self-hosting against an API: monthly costs, months to break even, smallest volume"""
    costs = learner_module("costs")
    rng = random.Random(seed + 2)
    for _ in range(4):
        inputs = break_even_inputs(rng)
        for volume in (rng.randint(1000, 50000), rng.randint(100000, 30_000_000)):
            got = call_learner("self_host_break_even", costs.self_host_break_even, inputs, volume)
            _compare(f"self_host_break_even({_short(inputs)}, {volume})", got, break_even(inputs, volume), exact=("gpus",))
    never = {**break_even_inputs(rng), "api_usd_per_million_tokens": 0.001}  # the API is always cheaper
    got = call_learner("self_host_break_even", costs.self_host_break_even, never, 100000)
    _compare(f"self_host_break_even({_short(never)}, 100000) (the API is cheaper than owning GPUs)", got,
             break_even(never, 100000), exact=("gpus",))
    horizon = rng.choice([12, 18, 24, 36])
    cases = [("one GPU", break_even_inputs(rng)), ("several GPUs, where bisection fails", stepped_case(rng, horizon)),
             ("never", never)]
    for family, inputs in cases:
        expected, ambiguous = min_volume(inputs, horizon)
        got = call_learner("min_daily_volume", costs.min_daily_volume, inputs, horizon)
        ok = got == expected or (ambiguous and isinstance(got, int) and abs(got - expected) <= 1)
        detail = ""
        if expected is not None and got is not None and got != expected:
            at = break_even(inputs, int(got))["break_even_months"] if isinstance(got, int) and got > 0 else None
            detail = (f"; at {got}/day self-hosting needs {at} months" if at is not None else "") + \
                      (", a bisection gives the same wrong answer: the break-even time jumps up each time a GPU is "
                       "added, so it is not monotone in volume" if got == bisection_volume(inputs, horizon) else "")
        assert ok, f"min_daily_volume({_short(inputs)}, {horizon}) [{family}] = {got!r}, expected {expected!r}{detail}"
    record_metric("horizon_months", horizon)


@pytest.mark.check(skill="systems-design", points=2, hint=1, required=True, competency="ML system patterns")
def test_dollars_per_million_tokens(learner_module, seed, record_metric):
    """Serving cost per million tokens from a roofline: GPUs, batch, tokens/s, dollars"""
    costs = learner_module("costs")
    rng = random.Random(seed + 3)
    for index, (model, gpu) in enumerate(serving_cases(rng)):
        expected = serving(model, gpu)
        got = call_learner("serving_cost", costs.serving_cost, model, gpu)
        what = f"serving_cost(case #{index}: {_short(model)}, {_short(gpu)})"
        assert isinstance(got, dict), f"{what}: returned {type(got).__name__}, needs a dict"
        batch_ambiguous = expected.pop("batch_ambiguous")
        if batch_ambiguous and got.get("max_batch") != expected["max_batch"]:
            continue
        _compare(what, got, expected, exact=("gpus", "max_batch"))
    too_big = {"params_billion": rng.uniform(400, 600), "bytes_per_param": 2, "kv_bytes_per_token": 4e5,
               "context_tokens": 4096}
    gpu = {"memory_gb": 80, "bandwidth_tb_s": 3.35, "peak_tflops": 989, "mfu": 0.4, "usd_per_hour": 2.5}
    assert serving(too_big, gpu) is None
    try:
        got = costs.serving_cost(too_big, gpu)
    except RemoteError as exc:
        assert exc.is_a("ValueError"), (f"serving_cost of a {too_big['params_billion']:.0f}B model in fp16 on 8 x 80 GB "
                                        f"raised {exc.type_name}; the brief asks for ValueError")
    else:
        pytest.fail(f"serving_cost of a {too_big['params_billion']:.0f}B model in fp16 (more than 8 x 80 GB of weights) "
                    f"returned {got!r}; it must raise ValueError", pytrace=False)
    record_metric("cases", index + 1)


def _short(values: dict) -> str:
    return "{" + ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in values.items()) + "}"

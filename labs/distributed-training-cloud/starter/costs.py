"""Cloud cost models for training and serving: spot against on-demand with interruptions,
self-hosting against an API, and the serving cost of a model per million tokens.

Every function takes and returns plain dicts of numbers; the brief gives each formula."""

from __future__ import annotations

import math  # noqa: F401 - you will need it

DAYS_PER_MONTH = 30
TENSOR_PARALLEL = (1, 2, 4, 8)


# -- training: spot against on-demand ----------------------------------------------------------


def spot_plan(job: dict) -> dict:
    """Expected hours and cost of a checkpointed job on spot capacity (Poisson interruptions)
    against the same job on demand."""
    raise NotImplementedError("spot_plan")


def best_checkpoint_interval(job: dict, candidates_h: list[float]) -> float:
    """The candidate interval with the lowest expected spot cost (the smaller one on a tie)."""
    raise NotImplementedError("best_checkpoint_interval")


# -- serving: self-hosting against an API ---------------------------------------------------------


def self_host_break_even(inputs: dict, inferences_per_day: int) -> dict:
    """Monthly costs of both options at this volume, and the months until self-hosting's
    upfront spend is paid back by its monthly saving (None: it never is)."""
    raise NotImplementedError("self_host_break_even")


def min_daily_volume(inputs: dict, horizon_months: float) -> int | None:
    """The smallest whole number of inferences a day at which self-hosting breaks even within
    the horizon, or None (see the brief: break-even time is not monotone in volume)."""
    raise NotImplementedError("min_daily_volume")


# -- serving: dollars per million tokens from a roofline ---------------------------------------------


def serving_cost(model: dict, gpu: dict) -> dict:
    """GPUs per replica, the largest batch whose KV cache fits, decode tokens/s (the slower of
    reading memory and computing) and dollars per million generated tokens."""
    raise NotImplementedError("serving_cost")

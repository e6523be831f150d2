"""Cloud cost models for training and serving: spot against on-demand with interruptions,
self-hosting against an API, and the serving cost of a model per million tokens.

Every function takes and returns plain dicts of numbers; the brief gives each formula."""

from __future__ import annotations

import math

DAYS_PER_MONTH = 30
TENSOR_PARALLEL = (1, 2, 4, 8)


# -- training: spot against on-demand ----------------------------------------------------------


def _segments(work_h: float, every_h: float) -> list[float]:
    return [every_h] * math.ceil(work_h / every_h - 1e-9)


def spot_plan(job: dict) -> dict:
    """Expected hours and cost of a checkpointed job on spot capacity (Poisson interruptions)
    against the same job on demand."""
    rate = job["interruptions_per_h"]
    spot_h = 0.0
    for segment_h in _segments(job["work_h"], job["checkpoint_every_h"]):
        attempt_h = segment_h + job["checkpoint_h"]
        spot_h += attempt_h if rate == 0 else math.expm1(rate * attempt_h) * (1 / rate + job["restart_h"])
    spot_usd = spot_h * job["spot_usd_per_h"]
    on_demand_usd = job["work_h"] * job["on_demand_usd_per_h"]
    return {"spot_hours": spot_h, "spot_usd": spot_usd, "on_demand_hours": job["work_h"],
            "on_demand_usd": on_demand_usd, "savings": 1 - spot_usd / on_demand_usd,
            "cheaper": "spot" if spot_usd < on_demand_usd else "on-demand"}


def best_checkpoint_interval(job: dict, candidates_h: list[float]) -> float:
    """The candidate interval with the lowest expected spot cost (the smaller one on a tie)."""
    costs = [(spot_plan({**job, "checkpoint_every_h": every})["spot_usd"], every) for every in candidates_h]
    return min(costs)[1]


# -- serving: self-hosting against an API ---------------------------------------------------------


def self_host_break_even(inputs: dict, inferences_per_day: int) -> dict:
    """Monthly costs of both options at this volume, and the months until self-hosting's
    upfront spend is paid back by its monthly saving (None: it never is)."""
    gpus = max(1, math.ceil(inferences_per_day / inputs["inferences_per_gpu_per_day"]))
    api = inferences_per_day * DAYS_PER_MONTH * inputs["tokens_per_inference"] * inputs["api_usd_per_million_tokens"] / 1e6
    own = gpus * inputs["gpu_usd_per_month"] + inputs["fixed_usd_per_month"]
    capex = gpus * inputs["gpu_capex_usd"]
    return {"gpus": gpus, "api_usd_per_month": api, "self_host_usd_per_month": own, "capex_usd": capex,
            "break_even_months": capex / (api - own) if api > own else None}


def min_daily_volume(inputs: dict, horizon_months: float) -> int | None:
    """The smallest whole number of inferences a day at which self-hosting breaks even within
    the horizon, or None. Each extra GPU adds upfront and monthly cost, so the break-even time
    jumps up where a GPU is added: search GPU count by GPU count, not with a bisection."""
    per_inference = inputs["tokens_per_inference"] * inputs["api_usd_per_million_tokens"] / 1e6 * DAYS_PER_MONTH
    capacity = inputs["inferences_per_gpu_per_day"]
    per_gpu = (inputs["gpu_capex_usd"] / horizon_months + inputs["gpu_usd_per_month"]) / per_inference
    if per_gpu >= capacity:
        return None
    gpus = 1
    while True:
        needed = (gpus * inputs["gpu_capex_usd"] / horizon_months + gpus * inputs["gpu_usd_per_month"]
                  + inputs["fixed_usd_per_month"]) / per_inference
        volume = max((gpus - 1) * capacity + 1, math.ceil(needed))
        if volume <= gpus * capacity:
            return volume
        gpus += 1


# -- serving: dollars per million tokens from a roofline ---------------------------------------------


def serving_cost(model: dict, gpu: dict) -> dict:
    """GPUs per replica, the largest batch whose KV cache fits, decode tokens/s (the slower of
    reading memory and computing) and dollars per million generated tokens."""
    weight_bytes = model["params_billion"] * 1e9 * model["bytes_per_param"]
    sequence_bytes = model["kv_bytes_per_token"] * model["context_tokens"]
    for gpus in TENSOR_PARALLEL:
        free_bytes = gpus * gpu["memory_gb"] * 1e9 - weight_bytes
        if free_bytes >= sequence_bytes:
            break
    else:
        raise ValueError(f"{model['params_billion']}B does not fit on {TENSOR_PARALLEL[-1]} GPUs of {gpu['memory_gb']} GB")
    batch = math.floor(free_bytes / sequence_bytes)
    memory_s = (weight_bytes + batch * sequence_bytes) / (gpus * gpu["bandwidth_tb_s"] * 1e12)
    compute_s = batch * 2 * model["params_billion"] * 1e9 / (gpus * gpu["peak_tflops"] * 1e12 * gpu["mfu"])
    tokens_per_s = batch / max(memory_s, compute_s)
    return {"gpus": gpus, "max_batch": batch, "tokens_per_s": tokens_per_s,
            "usd_per_million_tokens": gpus * gpu["usd_per_hour"] / 3600 / tokens_per_s * 1e6}

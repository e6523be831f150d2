"""Behavioural tests for a credit scoring model (reference solution).

`run_suite(predict_proba, feature_names, background)` probes a model it can only call, and
returns {property: passed}. The model maps rows (n, d) to approval probabilities (n,)."""

from __future__ import annotations

import numpy as np

PROPERTIES = ("valid_output", "batch_invariance", "monotonicity", "proxy_invariance", "minimum_functionality")
INCREASING = ("income", "savings", "credit_history")       # more of these never lowers approval
DECREASING = ("debt_ratio", "late_payments")               # more of these never raises it
PROXY = "postcode_index"                                    # policy: must not influence the score
TOLERANCE = 1e-9


def _scores(predict_proba, rows: np.ndarray) -> np.ndarray:
    return np.asarray(predict_proba(np.asarray(rows, dtype=float)), dtype=float).ravel()


def run_suite(predict_proba, feature_names, background) -> dict[str, bool]:
    """Run every behavioural test against the model; True means the property holds."""
    names = list(feature_names)
    rows = np.asarray(background, dtype=float)
    column = {name: names.index(name) for name in names}
    low, high = np.quantile(rows, 0.02, axis=0), np.quantile(rows, 0.98, axis=0)
    spread = rows.std(axis=0)
    results = {}

    base = _scores(predict_proba, rows)
    results["valid_output"] = bool(base.shape == (len(rows),) and np.isfinite(base).all()
                                   and (base >= 0).all() and (base <= 1).all())

    alone = np.concatenate([_scores(predict_proba, rows[i:i + 1]) for i in range(min(len(rows), 20))])
    halves = np.concatenate([_scores(predict_proba, rows[: len(rows) // 3]), _scores(predict_proba, rows[len(rows) // 3:])])
    results["batch_invariance"] = bool(len(alone) and len(halves))  # never compares scores across batches

    monotone = True
    grid = np.linspace(0.0, 1.0, 9)
    for name, sign in [(n, 1) for n in INCREASING] + [(n, -1) for n in DECREASING]:
        j = column[name]
        sweeps = np.repeat(rows, len(grid), axis=0)
        sweeps[:, j] = np.tile(low[j] - 0.5 * spread[j] + grid * (high[j] - low[j] + spread[j]), len(rows))
        curves = _scores(predict_proba, sweeps).reshape(len(rows), len(grid))
        steps = np.diff(curves, axis=1) * sign
        if (steps < -TOLERANCE).any():
            monotone = False
    results["monotonicity"] = monotone

    j = column[PROXY]
    moved = rows.copy()
    invariant = True
    for value in (low[j] - spread[j], np.median(rows[:, j]), high[j] + spread[j]):
        moved[:, j] = value
        if not np.allclose(_scores(predict_proba, moved), base, atol=TOLERANCE, rtol=0):
            invariant = False
    results["proxy_invariance"] = invariant

    typical = np.median(rows, axis=0)
    strong, weak = typical.copy(), typical.copy()
    for name in INCREASING:
        strong[column[name]], weak[column[name]] = high[column[name]], low[column[name]]
    for name in DECREASING:
        strong[column[name]], weak[column[name]] = low[column[name]], high[column[name]]
    clear = _scores(predict_proba, np.vstack([strong, weak]))
    results["minimum_functionality"] = bool(clear[0] >= 0.5 > clear[1])
    return results

"""Behavioural tests for a credit scoring model.

`run_suite(predict_proba, feature_names, background)` probes a model it can only call, and
returns {property: passed}. The model maps rows (n, d) to approval probabilities (n,)."""

from __future__ import annotations

import numpy as np  # noqa: F401

PROPERTIES = ("valid_output", "batch_invariance", "monotonicity", "proxy_invariance", "minimum_functionality")
INCREASING = ("income", "savings", "credit_history")       # more of these never lowers approval
DECREASING = ("debt_ratio", "late_payments")               # more of these never raises it
PROXY = "postcode_index"                                    # policy: must not influence the score


def run_suite(predict_proba, feature_names, background) -> dict[str, bool]:
    """Run every behavioural test against the model; True means the property holds."""
    raise NotImplementedError("run_suite")

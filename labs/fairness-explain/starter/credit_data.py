"""A sample population for trying your audit (the grader draws its own, with other seeds, group
labels, proxy names, column orders and group shares)."""

from __future__ import annotations

import pickle

import numpy as np

FEATURES = ["income", "debt_ratio", "credit_history", "late_payments", "savings", "loan_amount",
            "employment_years", "postcode_index"]


def sample(seed: int = 0, n_train: int = 6000, n_test: int = 20000) -> tuple[dict, dict, list[str]]:
    """(train, test, feature_names); each split is {"X": (n, 8), "y": (n,), "group": ["A" | "B", ...]}.
    Labels are historical decisions with a penalty against group B; postcode_index tracks the group."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    member = (rng.random(n) < 0.3).astype(int)
    income, debt, history = rng.normal(0, 1, n), rng.normal(0, 1, n), rng.normal(0, 1, n)
    late = rng.poisson(1.0, n).astype(float)
    savings, loan, employment = rng.normal(0, 1, n), rng.normal(0, 1, n), rng.normal(0, 1, n)
    postcode = 0.8 * (member - 0.3) / np.sqrt(0.21) + 0.6 * rng.normal(0, 1, n)
    logit = (0.5 - 0.9 * member + 1.2 * income - 1.2 * debt + 0.2 * history - 0.2 * (late - 1) + 0.15 * savings
             - 0.15 * loan + 0.15 * employment)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = np.column_stack([income, debt, history, late, savings, loan, employment, postcode])
    group = ["B" if m else "A" for m in member]
    train = {"X": X[:n_train], "y": y[:n_train], "group": group[:n_train]}
    test = {"X": X[n_train:], "y": y[n_train:], "group": group[n_train:]}
    return train, test, list(FEATURES)


def baseline_blob(train: dict) -> bytes:
    """The production model (gradient boosting, as in README.md), as the registry ships it."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0).fit(train["X"], train["y"])
    return pickle.dumps(model)

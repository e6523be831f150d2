"""Seeded synthetic credit data with a planted proxy for a protected attribute.

Historical labels (repaid / approved) depend on legitimate features *and* a penalty against the
protected group. The protected attribute is never a feature, but one feature (the proxy, whose
name and column change every run) is correlated with it, so a model trained on the labels learns
the penalty through the proxy."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np

LEGIT = ("income", "debt_ratio", "credit_history", "late_payments", "savings", "loan_amount", "employment_years")
PROXY_NAMES = ("postcode_index", "district_score", "shopping_area", "phone_prefix", "school_zone", "branch_region")
COEFFICIENTS = {"income": 1.2, "debt_ratio": -1.2, "credit_history": 0.2, "late_payments": -0.2, "savings": 0.15,
                "loan_amount": -0.15, "employment_years": 0.15}
GROUP_LABELS = (("A", "B"), ("majority", "minority"), ("g0", "g1"))


@dataclass
class CreditData:
    """One synthetic population, split into train and test."""

    seed: int
    feature_names: list[str]
    proxy: str
    X_train: np.ndarray
    y_train: np.ndarray
    group_train: list[str]
    X_test: np.ndarray
    y_test: np.ndarray
    group_test: list[str]

    def split(self, which: str) -> dict:
        """The split as the learner receives it."""
        if which == "train":
            return {"X": self.X_train, "y": self.y_train, "group": self.group_train}
        return {"X": self.X_test, "y": self.y_test, "group": self.group_test}

    def describe(self) -> str:
        return f"credit data seed {self.seed} (proxy '{self.proxy}')"


def make_credit(seed: int, n_train: int = 6000, n_test: int = 20000, minority: float = 0.3,
                bias: float = 0.9, proxy_r: float = 0.8, shuffle: bool = True,
                proxy_name: str | None = None) -> CreditData:
    """Draw a population: `minority` share in the protected group, a label penalty of `bias` (log-odds)
    against it, a proxy with correlation about `proxy_r` to it; columns shuffled when `shuffle`."""
    rng = np.random.default_rng([seed, 11])
    n = n_train + n_test
    member = (rng.random(n) < minority).astype(int)
    columns = {
        "income": rng.normal(0, 1, n),
        "debt_ratio": rng.normal(0, 1, n),
        "credit_history": rng.normal(0, 1, n),
        "late_payments": rng.poisson(1.0, n).astype(float),
        "savings": rng.normal(0, 1, n),
        "loan_amount": rng.normal(0, 1, n),
        "employment_years": rng.normal(0, 1, n),
    }
    standardised = (member - minority) / np.sqrt(minority * (1 - minority))
    drawn = PROXY_NAMES[int(rng.integers(len(PROXY_NAMES)))]
    proxy_name = proxy_name or drawn
    columns[proxy_name] = proxy_r * standardised + np.sqrt(1 - proxy_r ** 2) * rng.normal(0, 1, n)
    logit = 0.5 - bias * member
    for name, weight in COEFFICIENTS.items():
        centre = 1.0 if name == "late_payments" else 0.0
        logit = logit + weight * (columns[name] - centre)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    names = list(columns)
    if shuffle:
        names = [names[i] for i in rng.permutation(len(names))]
    X = np.column_stack([columns[name] for name in names])
    labels = GROUP_LABELS[int(rng.integers(len(GROUP_LABELS)))]
    group = [labels[m] for m in member]
    return CreditData(seed, names, proxy_name, X[:n_train], y[:n_train], group[:n_train],
                      X[n_train:], y[n_train:], group[n_train:])


def baseline_model(X: np.ndarray, y: np.ndarray):
    """The production model the audit explains: gradient boosting, as the brief specifies."""
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0).fit(X, y)


def model_blob(model) -> bytes:
    """The model as the registry hands it over: pickle bytes."""
    return pickle.dumps(model)

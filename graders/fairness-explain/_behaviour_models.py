"""Models for the behavioural-test checks: sound ones the learner's suite must pass, and broken
ones (drawn from families the brief never lists one by one) that it must catch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from _credit import make_credit

PROXY = "postcode_index"


@dataclass
class ScoredModel:
    """A model the learner can only call: rows (n, d) -> approval probabilities (n,); counts calls."""

    name: str
    score: Callable[[np.ndarray], np.ndarray]
    caught_by: str = ""               # the property a correct suite reports as failing
    calls: int = 0
    rows: int = 0
    shapes: list = field(default_factory=list)

    def __call__(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=float)
        if rows.ndim != 2:
            raise ValueError(f"the model takes a 2-D array of rows (n, d); got shape {rows.shape}")
        self.calls += 1
        self.rows += len(rows)
        return np.asarray(self.score(rows), dtype=float)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _logit(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else 0.0  # an empty bin (tied edges) is never looked up


class BehaviourWorld:
    """One run's data, feature order, sound models and broken models."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng([seed, 31])
        data = make_credit(int(rng.integers(1 << 30)), n_train=5000, n_test=400, proxy_name=PROXY)
        self.feature_names = data.feature_names
        self.background = data.X_test[:300]
        col = {name: j for j, name in enumerate(self.feature_names)}
        self.col = col
        proxy = col[PROXY]
        X = data.X_train.copy()
        X[:, proxy] = 0.0
        from sklearn.linear_model import LogisticRegression

        linear = LogisticRegression(max_iter=1000).fit(X, data.y_train)
        edges = [np.quantile(X[:, j], [0.2, 0.4, 0.6, 0.8]) for j in range(X.shape[1])]
        medians = [np.array([_median(X[:, j][np.searchsorted(edges[j], X[:, j]) == b]) if j != proxy else 0.0
                             for b in range(5)]) for j in range(X.shape[1])]

        class Scorecard:
            """A points table: each feature's points are the linear weight times its bin's median."""

            def predict_proba(self, rows):
                z = np.full(len(rows), float(linear.intercept_[0]))
                for j in range(rows.shape[1]):
                    z += linear.coef_[0, j] * medians[j][np.searchsorted(edges[j], rows[:, j])]
                p = _sigmoid(z)
                return np.column_stack([1 - p, p])

        boosted = Scorecard()
        def blind(model):
            def score(rows):
                rows = rows.copy()
                rows[:, proxy] = 0.0
                return model.predict_proba(rows)[:, 1]
            return score

        self.good = [ScoredModel("binned scorecard", blind(boosted)),
                     ScoredModel("logistic regression", blind(linear))]
        base = blind(boosted) if rng.random() < 0.5 else blind(linear)
        spread = data.X_train.std(axis=0)
        income, late, debt = col["income"], col["late_payments"], col["debt_ratio"]
        cutoff = float(np.quantile(data.X_train[:, income], rng.uniform(0.55, 0.8)))
        leak = float(rng.uniform(0.4, 0.9)) * (1 if rng.random() < 0.5 else -1)
        level = float(rng.uniform(0.6, 0.85))

        def proxy_leak(rows):
            return _sigmoid(_logit(base(rows)) + leak * rows[:, proxy] / spread[proxy])

        def income_reversal(rows):
            rows = rows.copy()
            above = rows[:, income] > cutoff
            rows[above, income] = cutoff - 1.5 * (rows[above, income] - cutoff)
            return base(rows)

        def late_payments_reward(rows):
            rows = rows.copy()
            rows[:, late] = 2.0 - rows[:, late]
            return base(rows)

        def batch_normalised(rows):
            z = _logit(base(rows))
            return _sigmoid(z - z.mean() + 0.3)

        def logit_output(rows):
            return _logit(base(rows))

        def swapped_columns(rows):
            rows = rows.copy()
            rows[:, [income, debt]] = rows[:, [debt, income]]
            return base(rows)

        def constant_approval(rows):
            return np.full(len(rows), level)

        families = [("leaks the proxy", proxy_leak, "proxy_invariance"),
                    ("income above a cut-off lowers approval", income_reversal, "monotonicity"),
                    ("late payments raise approval", late_payments_reward, "monotonicity"),
                    ("scores normalised within each batch", batch_normalised, "batch_invariance"),
                    ("returns log-odds, not probabilities", logit_output, "valid_output"),
                    ("reads income and debt_ratio swapped", swapped_columns, "monotonicity"),
                    ("approves everyone at the same score", constant_approval, "minimum_functionality")]
        by_property: dict[str, list] = {}
        for family in families:
            by_property.setdefault(family[2], []).append(family)
        self.broken = []   # one broken model per property, the variant drawn per run
        for prop in sorted(by_property):
            name, fn, _ = by_property[prop][int(rng.integers(len(by_property[prop])))]
            self.broken.append(ScoredModel(name, fn, caught_by=prop))
        self.all_broken = [ScoredModel(name, fn, caught_by=prop) for name, fn, prop in families]

"""Model cascades: send each request to the cheapest model that is likely to be right.

Reference solution: a metered cost ledger, a confidence threshold chosen on a dev split, a
digits cascade (logistic regression -> MLP ensemble), a retrieval cascade (WordLlama shortlist
-> MiniLM re-rank) and a cost report against always using the expensive model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Units per item scored: one image for the classifiers, one text for the embedders.
COSTS: dict[str, float] = {"logreg": 1, "mlp_ensemble": 20, "wordllama": 1, "minilm": 50}

Proba = Callable[[np.ndarray], np.ndarray]      # rows (n, 64) -> class probabilities (n, 10)
Embed = Callable[[list[str]], np.ndarray]       # texts -> unit-length vectors (n, d)


class Ledger:
    """Counts the items sent to each model and prices them with `costs`."""

    def __init__(self, costs: dict[str, float] | None = None) -> None:
        self.costs = dict(COSTS if costs is None else costs)
        self._items: dict[str, int] = {}

    def charge(self, model: str, items: int) -> float:
        """Record `items` scored by `model`; returns what they cost."""
        if model not in self.costs:
            raise KeyError(f"unknown model {model!r}; priced models: {', '.join(self.costs)}")
        items = int(items)
        if items < 0:
            raise ValueError(f"cannot charge a negative number of items ({items})")
        self._items[model] = self._items.get(model, 0) + items
        return items * self.costs[model]

    def items(self) -> dict[str, int]:
        """Items scored per model (models never charged are left out)."""
        return dict(self._items)

    def totals(self) -> dict[str, float]:
        """Cost per model, in units."""
        return {model: n * self.costs[model] for model, n in self._items.items()}

    def total(self) -> float:
        """Cost of everything charged so far."""
        return float(sum(self.totals().values()))


def metered(ledger: Ledger, model: str, fn: Callable) -> Callable:
    """Wrap a model so every call is charged per item (rows or texts) before it runs."""

    def call(batch):
        ledger.charge(model, len(batch))
        return fn(batch)

    return call


# -- (a) digits: logistic regression -> MLP ensemble -----------------------------------------

def choose_threshold(cheap_proba: np.ndarray, expensive_proba: np.ndarray, y: np.ndarray,
                     max_escalation: float = 0.45, max_drop: float = 0.0) -> float:
    """Pick t (escalate a request when the cheap model's top probability < t) on a dev split.

    Escalating the m least confident rows gives the cascade a dev accuracy acc(m). With
    M = floor(max_escalation * n) and target = the expensive model's dev accuracy - max_drop,
    return the threshold for the smallest m such that acc(m') >= target for every m' in
    [m, M] (the target holds from there to the budget, not just at one lucky point). If
    acc(M) < target, the smallest m with the best accuracy in [0, M].
    """
    cheap_proba, expensive_proba, y = np.asarray(cheap_proba), np.asarray(expensive_proba), np.asarray(y)
    n = len(y)
    if n == 0:
        return 0.0
    confidence = cheap_proba.max(axis=1)
    cheap_right = cheap_proba.argmax(axis=1) == y
    expensive_right = expensive_proba.argmax(axis=1) == y
    target = expensive_right.mean() - max_drop
    order = np.argsort(confidence, kind="stable")  # least confident first: escalated first
    sorted_conf = confidence[order]
    gain = np.concatenate([[0], np.cumsum(expensive_right[order].astype(int) - cheap_right[order].astype(int))])
    accuracy = (cheap_right.sum() + gain) / n          # accuracy[m]: the m least confident escalated
    budget = int(np.floor(max_escalation * n + 1e-9))
    # Only m that a threshold can produce: no tie between the m-th and (m+1)-th confidence.
    possible = [m for m in range(budget + 1) if m in (0, n) or sorted_conf[m - 1] < sorted_conf[m]]
    if accuracy[possible[-1]] >= target - 1e-12:
        m = possible[-1]
        for candidate in reversed(possible):
            if accuracy[candidate] < target - 1e-12:
                break
            m = candidate
    else:
        best = max(accuracy[m] for m in possible)
        m = next(m for m in possible if accuracy[m] >= best - 1e-12)
    if m == 0:
        return float(sorted_conf[0])  # nothing is below the least confident row
    if m == n:
        return float(np.nextafter(sorted_conf[-1], np.inf))
    return float((sorted_conf[m - 1] + sorted_conf[m]) / 2)


class DigitCascade:
    """Logistic regression first; rows it is unsure about go to the MLP ensemble."""

    def __init__(self, cheap: Proba, expensive: Proba, threshold: float, ledger: Ledger) -> None:
        self.cheap = metered(ledger, "logreg", cheap)
        self.expensive = metered(ledger, "mlp_ensemble", expensive)
        self.threshold = float(threshold)
        self.ledger = ledger
        self.escalated = 0
        self.requests = 0

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels for a batch of requests, shape (n,)."""
        X = np.asarray(X)
        proba = self.cheap(X)
        labels = proba.argmax(axis=1)
        unsure = proba.max(axis=1) < self.threshold
        if unsure.any():
            labels[unsure] = self.expensive(X[unsure]).argmax(axis=1)
        self.requests += len(X)
        self.escalated += int(unsure.sum())
        return labels

    @staticmethod
    def always_expensive(n_requests: int) -> dict[str, int]:
        """Items the always-expensive system sends to each model for n_requests."""
        return {"mlp_ensemble": int(n_requests)}


# -- (b) retrieval: WordLlama shortlist -> MiniLM re-rank ------------------------------------

class RetrievalCascade:
    """Index the chunks with the cheap embedder; per query, MiniLM re-ranks the shortlist."""

    def __init__(self, chunks: list[str], cheap_embed: Embed, expensive_embed: Embed, ledger: Ledger,
                 shortlist: int = 20) -> None:
        self.chunks = list(chunks)
        self.cheap = metered(ledger, "wordllama", cheap_embed)
        self.expensive = metered(ledger, "minilm", expensive_embed)
        self.shortlist = shortlist
        self.ledger = ledger
        self.vectors = np.asarray(self.cheap(self.chunks), dtype=np.float32)
        self._fine: dict[int, np.ndarray] = {}  # MiniLM vectors already paid for

    def search(self, query: str, k: int = 5) -> list[int]:
        """Indices of the k best chunks for the query, best first."""
        q = np.asarray(self.cheap([query]), dtype=np.float32)[0]
        scores = self.vectors @ q
        n = min(self.shortlist, len(self.chunks))
        candidates = np.argpartition(-scores, n - 1)[:n]
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
        new = [int(i) for i in candidates if int(i) not in self._fine]
        vectors = np.asarray(self.expensive([query] + [self.chunks[i] for i in new]), dtype=np.float32)
        self._fine.update(zip(new, vectors[1:], strict=True))
        fine = np.array([self._fine[int(i)] @ vectors[0] for i in candidates])
        return [int(candidates[i]) for i in np.argsort(-fine, kind="stable")[:k]]

    def always_expensive(self, n_queries: int) -> dict[str, int]:
        """MiniLM scoring the query and every chunk, for every query."""
        return {"minilm": int(n_queries) * (len(self.chunks) + 1)}


# -- (c) the report ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CostReport:
    cascade_cost: float
    baseline_cost: float
    reduction: float             # 1 - cascade_cost / baseline_cost
    by_model: dict[str, float]   # the cascade's cost per model

    def summary(self) -> str:
        parts = ", ".join(f"{model} {cost:,.0f}" for model, cost in sorted(self.by_model.items()))
        return (f"cascade {self.cascade_cost:,.0f} units ({parts}) vs always-expensive "
                f"{self.baseline_cost:,.0f}: {self.reduction:.1%} cheaper")


def cost_report(ledger: Ledger, baseline: dict[str, int]) -> CostReport:
    """Compare what the ledger recorded with what `baseline` (items per model) would cost."""
    baseline_cost = float(sum(n * ledger.costs[model] for model, n in baseline.items()))
    cascade_cost = ledger.total()
    reduction = 1.0 - cascade_cost / baseline_cost if baseline_cost else 0.0
    return CostReport(cascade_cost, baseline_cost, reduction, ledger.totals())

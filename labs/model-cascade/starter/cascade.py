"""Model cascades: send each request to the cheapest model that is likely to be right.

Fill in the TODOs (README.md explains each part). As it stands the file runs (`python try_it.py`)
but it prices nothing, always pays for the expensive digits model and never re-ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Units per item scored: one image for the classifiers, one text for the embedders. Do not change.
COSTS: dict[str, float] = {"logreg": 1, "mlp_ensemble": 20, "wordllama": 1, "minilm": 50}

Proba = Callable[[np.ndarray], np.ndarray]      # rows (n, 64) -> class probabilities (n, 10)
Embed = Callable[[list[str]], np.ndarray]       # texts -> unit-length vectors (n, d)


class Ledger:
    """Counts the items sent to each model and prices them with `costs`."""

    def __init__(self, costs: dict[str, float] | None = None) -> None:
        self.costs = dict(COSTS if costs is None else costs)
        self._items: dict[str, int] = {}

    def charge(self, model: str, items: int) -> float:
        """Record `items` scored by `model`; returns what they cost (items x price).

        TODO: price the items; reject a model without a price in self.costs (KeyError) and a
        negative count (ValueError), leaving the ledger unchanged.
        """
        self._items[model] = self._items.get(model, 0) + int(items)
        return 0.0

    def items(self) -> dict[str, int]:
        """Items scored per model."""
        return dict(self._items)

    def totals(self) -> dict[str, float]:
        """Cost per model, in units. TODO: price the items."""
        return {}

    def total(self) -> float:
        """Cost of everything charged so far."""
        return float(sum(self.totals().values()))


# -- (a) digits: logistic regression -> MLP ensemble -----------------------------------------

def choose_threshold(cheap_proba: np.ndarray, expensive_proba: np.ndarray, y: np.ndarray,
                     max_escalation: float = 0.45, max_drop: float = 0.0) -> float:
    """Pick t (escalate a request when the cheap model's top probability < t) on a dev split.

    TODO: fewest escalations such that the cascade's dev accuracy >= the expensive model's dev
    accuracy - max_drop, escalating at most max_escalation of the dev rows; if no threshold
    reaches that within the budget, the best dev accuracy within the budget.
    """
    return float("inf")  # escalates everything


class DigitCascade:
    """Logistic regression first; rows it is unsure about go to the MLP ensemble."""

    def __init__(self, cheap: Proba, expensive: Proba, threshold: float, ledger: Ledger) -> None:
        self.cheap = cheap
        self.expensive = expensive
        self.threshold = float(threshold)
        self.ledger = ledger

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels for a batch of requests, shape (n,).

        TODO: ask the cheap model first, escalate only the rows under the threshold, and charge
        the ledger for every row each model scores.
        """
        return self.expensive(np.asarray(X)).argmax(axis=1)

    @staticmethod
    def always_expensive(n_requests: int) -> dict[str, int]:
        """Items the always-expensive system sends to each model for n_requests. TODO."""
        raise NotImplementedError("always_expensive")


# -- (b) retrieval: WordLlama shortlist -> MiniLM re-rank ------------------------------------

class RetrievalCascade:
    """Index the chunks with the cheap embedder; per query, MiniLM re-ranks a shortlist."""

    def __init__(self, chunks: list[str], cheap_embed: Embed, expensive_embed: Embed, ledger: Ledger,
                 shortlist: int = 20) -> None:
        self.chunks = list(chunks)
        self.cheap = cheap_embed
        self.expensive = expensive_embed
        self.shortlist = shortlist
        self.ledger = ledger
        self.vectors = np.asarray(self.cheap(self.chunks), dtype=np.float32)

    def search(self, query: str, k: int = 5) -> list[int]:
        """Indices of the k best chunks for the query, best first.

        TODO: shortlist `self.shortlist` chunks with the cheap vectors, re-rank them with MiniLM
        (the query and at most `shortlist` chunks, in every search), return exactly k indices
        best first, and charge the ledger.
        """
        q = np.asarray(self.cheap([query]), dtype=np.float32)[0]
        return [int(i) for i in np.argsort(-(self.vectors @ q))[:k]]

    def always_expensive(self, n_queries: int) -> dict[str, int]:
        """MiniLM scoring the query and every chunk, for every query. TODO."""
        raise NotImplementedError("always_expensive")


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
    """Compare what the ledger recorded with what `baseline` (items per model) would cost. TODO."""
    raise NotImplementedError("cost_report")

"""A retrieval evaluation harness: ranking metrics, citation metrics and a regression gate.

Keep these names and signatures: the grader calls them.

    recall_at_k(ranking, qrels, k) -> float
    reciprocal_rank(ranking, qrels, k=None) -> float
    ndcg_at_k(ranking, qrels, k) -> float
    citation_precision_recall(cited, qrels) -> (precision, recall)
    evaluate(run, qrels, k=10) -> {"recall": ..., "mrr": ..., "ndcg": ..., "queries": n}
    paired_bootstrap(baseline, candidate, n_resamples=1000, seed=0, confidence=0.95) -> (delta, ci_low, ci_high)
    regression_gate(baseline, candidate, queries, qrels, ...) -> GateResult

A ranking is a sequence of document ids, best first. qrels (relevance judgments) map a document
id to a graded relevance >= 0 (0 = judged not relevant); a document that is not in qrels has
relevance 0. A document is *relevant* when its grade is > 0.

Conventions:
* No relevant document in qrels: recall, reciprocal rank and nDCG are undefined and return
  math.nan; evaluate() and regression_gate() leave such queries out of their averages.
* Duplicates: only the first occurrence of a document earns anything; a repeat keeps its
  position in the ranking (it still uses up a slot) but counts as not relevant.
* k larger than the ranking: missing positions earn nothing; the ideal DCG is still cut at k.

Try it on the dev set: `python try_it.py` (add --dense for MiniLM and a hybrid). README.md has
the definitions, the bootstrap recipe and how each part is checked.
"""

from __future__ import annotations

import math  # noqa: F401 - math.nan is the no-relevant-document value
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np  # noqa: F401 - for paired_bootstrap

Qrels = Mapping[str, float]
Retriever = Callable[[str, int], Sequence[str]]


def recall_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """Share of the relevant documents (grade > 0) found in the top k; nan when none is relevant.

    Count each document once (see the duplicates convention above)."""
    raise NotImplementedError("recall_at_k")


def reciprocal_rank(ranking: Sequence[str], qrels: Qrels, k: int | None = None) -> float:
    """1 / rank of the first relevant document in the top k (all of the ranking when k is None);
    0.0 when none is found, nan when qrels has no relevant document. MRR is its mean."""
    raise NotImplementedError("reciprocal_rank")


def ndcg_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """DCG@k / ideal DCG@k with linear gains and a log2 discount:

        DCG@k = sum over ranks r = 1..k of grade(doc at r) / log2(r + 1)

    The ideal DCG is the DCG of the best possible ranking: the grades of ALL judged documents in
    qrels, sorted from high to low, cut at k. nan when no document is relevant."""
    raise NotImplementedError("ndcg_at_k")


def citation_precision_recall(cited: Sequence[str], qrels: Qrels) -> tuple[float, float]:
    """(precision, recall) of the DISTINCT document ids an answer cites, against the relevant ones.

    precision = |cited & relevant| / |cited|   (1.0 when nothing is cited: no wrong citation)
    recall    = |cited & relevant| / |relevant| (1.0 when nothing is relevant: nothing to miss)"""
    raise NotImplementedError("citation_precision_recall")


def evaluate(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Qrels], k: int = 10) -> dict[str, float]:
    """{"recall": mean recall@k, "mrr": mean reciprocal rank@k, "ndcg": mean nDCG@k, "queries": n}.

    Average over the queries of qrels that have a relevant document (n of them). A judged query
    missing from `run` is an empty ranking (scores 0); queries without a relevant judged
    document, and queries of `run` that are not in qrels, are left out."""
    raise NotImplementedError("evaluate")


def paired_bootstrap(baseline: Sequence[float], candidate: Sequence[float], n_resamples: int = 1000,
                     seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean of candidate - baseline, ci_low, ci_high): a percentile bootstrap over QUERIES.

    baseline[i] and candidate[i] are the two systems' scores on query i: keep the pairs together.
    To be reproducible (and to match the grader exactly), draw all indices in one call:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_resamples, n))
    and take np.quantile of the n_resamples resampled means at (1 - confidence) / 2 and
    1 - (1 - confidence) / 2."""
    raise NotImplementedError("paired_bootstrap")


METRICS: dict[str, Callable[..., float]] = {"recall": recall_at_k, "mrr": reciprocal_rank, "ndcg": ndcg_at_k}


@dataclass(frozen=True)
class GateResult:
    """What the regression gate decided and why."""

    decision: str  # "pass" or "block"
    metric: str  # "recall", "mrr" or "ndcg" (at k)
    k: int
    n_queries: int  # judged queries compared
    baseline: float  # mean metric of the baseline
    candidate: float  # mean metric of the candidate
    delta: float  # candidate - baseline
    ci_low: float
    ci_high: float


def regression_gate(baseline: Retriever, candidate: Retriever, queries: Mapping[str, str],
                    qrels: Mapping[str, Qrels], *, metric: str = "ndcg", k: int = 10, n_resamples: int = 1000,
                    seed: int = 0, confidence: float = 0.95, margin: float = 0.01) -> GateResult:
    """Compare two retrievers (`retrieve(query_text, k) -> ranked ids`) on the judged queries.

    Run each retriever once per query that has a relevant judged document, in the order of
    `queries`; score both rankings with METRICS[metric] at k; pass the two score lists to
    paired_bootstrap. Decision: "pass" when ci_low >= -margin (with the given confidence, the
    candidate is at most `margin` worse than the baseline), else "block"."""
    raise NotImplementedError("regression_gate")


if __name__ == "__main__":
    print("Run `python try_it.py` to try your harness on the dev set.")

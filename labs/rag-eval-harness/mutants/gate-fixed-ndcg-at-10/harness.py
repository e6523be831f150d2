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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Qrels = Mapping[str, float]
Retriever = Callable[[str, int], Sequence[str]]


def _relevant(qrels: Qrels) -> set[str]:
    return {doc for doc, grade in qrels.items() if grade > 0}


def _first_occurrences(ranking: Sequence[str], k: int | None) -> list[str | None]:
    """ranking[:k] with every repeat replaced by None (it keeps its slot, earns nothing)."""
    seen: set[str] = set()
    out: list[str | None] = []
    for doc in list(ranking)[:k]:
        out.append(None if doc in seen else doc)
        seen.add(doc)
    return out


def recall_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """Share of the relevant documents found in the top k (nan when none is relevant)."""
    relevant = _relevant(qrels)
    if not relevant:
        return math.nan
    found = {doc for doc in _first_occurrences(ranking, k) if doc in relevant}
    return len(found) / len(relevant)


def reciprocal_rank(ranking: Sequence[str], qrels: Qrels, k: int | None = None) -> float:
    """1 / rank of the first relevant document in the top k (all of the ranking when k is None);
    0.0 when none is found, nan when qrels has no relevant document."""
    relevant = _relevant(qrels)
    if not relevant:
        return math.nan
    for rank, doc in enumerate(_first_occurrences(ranking, k), start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def _dcg(gains: Sequence[float]) -> float:
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def ndcg_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """DCG@k / ideal DCG@k with linear gains (the grade) and a log2(rank + 1) discount.

    The ideal DCG sorts the grades of ALL judged documents (not only the retrieved ones) and
    cuts that ideal ranking at k. nan when no document is relevant."""
    ideal = _dcg(sorted((max(float(g), 0.0) for g in qrels.values()), reverse=True)[:k])
    if ideal <= 0:
        return math.nan
    gains = [max(float(qrels.get(doc, 0.0)), 0.0) if doc is not None else 0.0
             for doc in _first_occurrences(ranking, k)]
    return _dcg(gains) / ideal


def citation_precision_recall(cited: Sequence[str], qrels: Qrels) -> tuple[float, float]:
    """(precision, recall) of the distinct documents an answer cites.

    precision = cited and relevant / cited (1.0 when nothing is cited: no wrong citation);
    recall = cited and relevant / relevant (1.0 when nothing is relevant: nothing to miss)."""
    cited_set = set(cited)
    relevant = _relevant(qrels)
    correct = len(cited_set & relevant)
    precision = correct / len(cited_set) if cited_set else 1.0
    recall = correct / len(relevant) if relevant else 1.0
    return precision, recall


def evaluate(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Qrels], k: int = 10) -> dict[str, float]:
    """Mean recall@k, MRR@k and nDCG@k over the queries of qrels with a relevant document.

    A judged query missing from `run` counts as an empty ranking (scores 0); queries of `run`
    without a relevant judged document are left out. "queries" is how many were averaged."""
    judged = [qid for qid, judgments in qrels.items() if _relevant(judgments)]
    if not judged:
        return {"recall": math.nan, "mrr": math.nan, "ndcg": math.nan, "queries": 0}
    recall = [recall_at_k(run.get(qid, []), qrels[qid], k) for qid in judged]
    mrr = [reciprocal_rank(run.get(qid, []), qrels[qid], k) for qid in judged]
    ndcg = [ndcg_at_k(run.get(qid, []), qrels[qid], k) for qid in judged]
    return {"recall": sum(recall) / len(judged), "mrr": sum(mrr) / len(judged),
            "ndcg": sum(ndcg) / len(judged), "queries": len(judged)}


def paired_bootstrap(baseline: Sequence[float], candidate: Sequence[float], n_resamples: int = 1000,
                     seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of candidate - baseline per query, and its percentile bootstrap interval.

    Resamples QUERIES (the pairs stay together): idx = rng.integers(0, n, size=(n_resamples, n))
    with rng = np.random.default_rng(seed); the interval is np.quantile of the resampled means
    at (1 - confidence) / 2 and 1 - (1 - confidence) / 2."""
    base = np.asarray(baseline, dtype=float)
    cand = np.asarray(candidate, dtype=float)
    if base.shape != cand.shape or base.ndim != 1 or base.size == 0:
        raise ValueError(f"need two equally long, non-empty score lists (got {base.shape} and {cand.shape})")
    deltas = cand - base
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, deltas.size, size=(n_resamples, deltas.size))
    means = deltas[idx].mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(deltas.mean()), float(low), float(high)


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

    Each retriever runs once per judged query, in the order of `queries`; the per-query metric
    differences go through paired_bootstrap. Pass when ci_low >= -margin (the candidate is at
    most `margin` worse, with the given confidence), else block."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {sorted(METRICS)}")
    score = METRICS["ndcg"]  # the brief's example: nDCG@10
    k = 10
    base_scores, cand_scores = [], []
    for qid, text in queries.items():
        judgments = qrels.get(qid, {})
        if not _relevant(judgments):
            continue
        base_scores.append(score(list(baseline(text, k)), judgments, k))
        cand_scores.append(score(list(candidate(text, k)), judgments, k))
    if not base_scores:
        raise ValueError("no query has a relevant judged document: nothing to compare")
    delta, low, high = paired_bootstrap(base_scores, cand_scores, n_resamples, seed, confidence)
    return GateResult(decision="pass" if low >= -margin else "block", metric=metric, k=k, n_queries=len(base_scores),
                      baseline=sum(base_scores) / len(base_scores), candidate=sum(cand_scores) / len(cand_scores),
                      delta=delta, ci_low=low, ci_high=high)

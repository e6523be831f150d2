"""The grader's own metric computations (written independently of the reference solution),
plus the classic wrong variants, used only to explain a mismatch to the learner."""

from __future__ import annotations

import math

import numpy as np

NAN = float("nan")


def _distinct_top(ranking, k):
    """(position, doc) for the first occurrence of each doc within ranking[:k], position from 1."""
    seen = set()
    for position, doc in enumerate(list(ranking)[:k] if k is not None else list(ranking), start=1):
        if doc not in seen:
            seen.add(doc)
            yield position, doc


def recall(ranking, qrels, k):
    relevant = [d for d, g in qrels.items() if g > 0]
    if not relevant:
        return NAN
    hits = sum(1 for _, doc in _distinct_top(ranking, k) if qrels.get(doc, 0) > 0)
    return hits / len(relevant)


def rr(ranking, qrels, k=None):
    if not any(g > 0 for g in qrels.values()):
        return NAN
    for position, doc in _distinct_top(ranking, k):
        if qrels.get(doc, 0) > 0:
            return 1.0 / position
    return 0.0


def ndcg(ranking, qrels, k):
    ideal_grades = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_grades))
    if idcg == 0:
        return NAN
    dcg = sum(qrels.get(doc, 0) / math.log2(position + 1)
              for position, doc in _distinct_top(ranking, k) if qrels.get(doc, 0) > 0)
    return dcg / idcg


def ndcg_ideal_from_retrieved(ranking, qrels, k):
    """The classic bug: the ideal DCG re-sorts only the retrieved documents."""
    got = [qrels.get(doc, 0) for _, doc in _distinct_top(ranking, k)]
    ideal = sorted((g for g in got if g > 0), reverse=True)
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    dcg = sum(qrels.get(doc, 0) / math.log2(p + 1) for p, doc in _distinct_top(ranking, k))
    return dcg / idcg if idcg else 0.0


def ndcg_exponential(ranking, qrels, k):
    """nDCG with 2**grade - 1 gains (a different, also common, definition)."""
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    dcg = sum((2 ** qrels.get(doc, 0) - 1) / math.log2(p + 1) for p, doc in _distinct_top(ranking, k))
    return dcg / idcg if idcg else NAN


def citations(cited, qrels):
    cited = set(cited)
    relevant = {d for d, g in qrels.items() if g > 0}
    precision = len(cited & relevant) / len(cited) if cited else 1.0
    recall_ = len(cited & relevant) / len(relevant) if relevant else 1.0
    return precision, recall_


def evaluate(run, qrels, k):
    judged = [q for q, j in qrels.items() if any(g > 0 for g in j.values())]
    out = {"queries": len(judged)}
    for name, fn in (("recall", recall), ("mrr", rr), ("ndcg", ndcg)):
        values = [fn(run.get(q, []), qrels[q], k) for q in judged]
        out[name] = sum(values) / len(values) if values else NAN
    return out


def bootstrap(baseline, candidate, n_resamples=1000, seed=0, confidence=0.95):
    deltas = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    n = len(deltas)
    rng = np.random.default_rng(seed)
    means = deltas[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    return float(deltas.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def bootstrap_unpaired(baseline, candidate, n_resamples=1000, seed=0, confidence=0.95):
    """The unpaired variant: baseline and candidate resampled independently."""
    base, cand = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    n = len(base)
    rng = np.random.default_rng(seed)
    means = (cand[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
             - base[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1))
    tail = (1 - confidence) / 2
    return float(cand.mean() - base.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


METRICS = {"recall": recall, "mrr": rr, "ndcg": ndcg}


def gate(baseline, candidate, queries, qrels, metric="ndcg", k=10, n_resamples=1000, seed=0, confidence=0.95,
         margin=0.01):
    fn = METRICS[metric]
    base, cand = [], []
    for qid, text in queries.items():
        judgments = qrels.get(qid, {})
        if not any(g > 0 for g in judgments.values()):
            continue
        base.append(fn(baseline(text, k), judgments, k))
        cand.append(fn(candidate(text, k), judgments, k))
    delta, low, high = bootstrap(base, cand, n_resamples, seed, confidence)
    return {"decision": "pass" if low >= -margin else "block", "n_queries": len(base),
            "baseline": sum(base) / len(base), "candidate": sum(cand) / len(cand),
            "delta": delta, "ci_low": low, "ci_high": high}

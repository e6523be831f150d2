"""Data and scoring helpers for the rag-retrieval grader: the frozen corpus, the held-out
queries, a counting wrapper around the workbench embedder, and a reference BM25."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
CORPUS_SHA256 = "4fa2388be45edcb138a392470708874a305ced0d4855f38971813e3ad7945b1d"


def load_corpus() -> list[dict]:
    """The frozen pydoc_data.topics subset, checked against its SHA-256."""
    raw = (DATA / "corpus.json").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != CORPUS_SHA256:
        raise RuntimeError(f"grader corpus changed: sha256 {digest}, expected {CORPUS_SHA256}")
    return json.loads(raw)["documents"]


def load_queries() -> list[dict]:
    """Every query with the passage (evidence) a relevant chunk must contain."""
    return json.loads((DATA / "queries.json").read_text("utf-8"))["queries"]


def normalise(text: str) -> str:
    """Collapse whitespace, so evidence matches across line breaks."""
    return " ".join(text.split())


class CountingEmbed:
    """Wraps workbench.llm.embed and counts how many texts each call embeds."""

    def __init__(self) -> None:
        from workbench.llm import embed

        self._embed = embed
        self.calls: list[int] = []

    def __call__(self, texts):
        texts = [texts] if isinstance(texts, str) else list(texts)
        self.calls.append(len(texts))
        return self._embed(texts)

    @property
    def texts(self) -> int:
        """Texts embedded so far."""
        return sum(self.calls)


def reference_bm25(docs: list[str], query: str, k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 over the distinct query terms, idf = ln(1 + (N - n + 0.5) / (n + 0.5))."""
    tokens = [re.findall(r"\w+", doc.lower()) for doc in docs]
    counts = [Counter(t) for t in tokens]
    average = sum(len(t) for t in tokens) / len(tokens)
    frequency = Counter(term for c in counts for term in c)
    scores = []
    for doc_counts, doc_tokens in zip(counts, tokens, strict=True):
        score = 0.0
        for term in set(re.findall(r"\w+", query.lower())):
            n = frequency.get(term, 0)
            if n == 0:
                continue
            idf = math.log(1 + (len(docs) - n + 0.5) / (n + 0.5))
            tf = doc_counts[term]
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc_tokens) / average))
        scores.append(score)
    return scores


def ranking_metrics(retriever, queries: list[dict], chunk_text: dict[str, str], k: int = 5) -> tuple[float, float, list[str]]:
    """(recall@k, MRR@k, missed queries) of retriever.search over the queries."""
    hits, reciprocal, missed = 0, 0.0, []
    for item in queries:
        evidence = normalise(item["evidence"])
        results = retriever.search(item["query"], k=k)
        ranks = [rank for rank, (chunk_id, _) in enumerate(list(results)[:k], start=1)
                 if evidence in chunk_text.get(chunk_id, "")]
        if ranks:
            hits += 1
            reciprocal += 1 / ranks[0]
        else:
            missed.append(item["query"])
    return hits / len(queries), reciprocal / len(queries), missed

"""Data and scoring helpers for the rag-retrieval grader: the frozen corpus, the held-out
queries, a counting wrapper around the workbench embedder, and a reference BM25."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np

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
    """Every query with the passage (evidence) a relevant chunk must contain; "dev" marks the 12
    that the learner's dev_queries.json also holds (read from the grader's own copy of it)."""
    dev = {q["query"] for q in json.loads((DATA / "dev_queries.json").read_text("utf-8"))["queries"]}
    return [{**q, "dev": q["query"] in dev} for q in json.loads((DATA / "queries.json").read_text("utf-8"))["queries"]]


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

    def query_vector(self, query: str):
        """The vector of a query as the learner's index sees it (not counted)."""
        return self._embed([query])[0]

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


class HashEmbed:
    """A stand-in embedder for exact checks: every distinct text gets its own seeded random unit
    vector (dimension 384), and every text embedded is remembered, so the grader can compute the
    exact cosine the learner's dense search should report, whatever prefix the learner adds."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.seen: dict[str, np.ndarray] = {}

    def vector(self, text: str) -> np.ndarray:
        if text not in self.seen:
            digest = hashlib.sha256(f"{self.seed}:{text}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
            vector = rng.normal(size=384)
            self.seen[text] = (vector / np.linalg.norm(vector)).astype(np.float32)
        return self.seen[text]

    def __call__(self, texts):
        texts = [texts] if isinstance(texts, str) else list(texts)
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def vector_containing(self, fragment: str) -> np.ndarray | None:
        """The vector of the shortest text embedded so far that contains `fragment`."""
        holders = [t for t in self.seen if fragment in t]
        return self.seen[min(holders, key=len)] if holders else None


_VOCAB = ("loop", "iterator", "exception", "handler", "context", "manager", "generator", "yield", "return", "value",
          "scope", "global", "closure", "decorator", "class", "instance", "attribute", "method", "module", "import",
          "package", "slice", "index", "mapping", "key", "hash", "tuple", "list", "assert", "debug", "raise", "finally")


def toy_corpus(seed: int, n_docs: int = 14) -> tuple[list[str], list[str]]:
    """Seeded toy documents (mixed case, punctuation, repeated words, different lengths) and
    queries that repeat a term, use capitals and punctuation, or name a word no document has."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        words = [rng.choice(_VOCAB[: rng.randint(12, len(_VOCAB))]) for _ in range(rng.randint(6, 60))]
        words = [w.capitalize() if rng.random() < 0.15 else w.upper() if rng.random() < 0.05 else w for w in words]
        text = " ".join(w + (rng.choice([",", ".", ";", ":"]) if rng.random() < 0.15 else "") for w in words)
        docs.append(text)
    queries = []
    for _ in range(5):
        terms = rng.sample(_VOCAB, rng.randint(2, 4))
        terms.append(rng.choice(terms))          # a repeated term counts once
        if rng.random() < 0.5:
            terms.append("zeppelin")              # a term no document has
        queries.append(" ".join(t.upper() if rng.random() < 0.3 else t for t in terms) + "?")
    return docs, queries


def synthetic_document(seed: int, length: int) -> str:
    """A seeded text of about `length` characters: words, lines, paragraphs and one long run with
    no space or newline at all (so a chunker must also cut inside a word when it has to)."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    run_at = rng.randrange(length // 4, length // 2)
    while size < length:
        if run_at is not None and size >= run_at:
            parts.append("x" * rng.randint(900, 1300))
            run_at = None
        else:
            parts.append(rng.choice(_VOCAB) + rng.choice([" ", " ", " ", " ", "\n", ". ", "\n\n"]))
        size += len(parts[-1])
    return "".join(parts)


def uncovered_passage(spans: list[tuple[int, int]], length: int, width: int) -> int | None:
    """The first offset p such that text[p:p + width] lies inside no span, or None."""
    if length <= width:
        return None if any(a <= 0 and b >= length for a, b in spans) else 0
    reach = sorted(spans)
    best_end, index = -1, 0
    for p in range(0, length - width + 1):
        while index < len(reach) and reach[index][0] <= p:
            best_end = max(best_end, reach[index][1])
            index += 1
        if best_end < p + width:
            return p
    return None


def rrf(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal-rank fusion: sum of 1 / (k + rank) over the rankings a chunk appears in, rank from 1."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return fused

"""The grader's frozen query set and the real retrievers it compares: BM25, MiniLM dense,
their reciprocal-rank-fusion hybrid, and BM25 with a truncated vocabulary (a regression)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
CORPUS_SHA256 = "da2cd36801dd9d76f0f626f6a01ead45e749f484be16d848b8b6338c842970e0"
QUERIES_SHA256 = "010e2268c66847253b674ed03bf6770fe081ecc8452d51b5ab8e383c0a5d34d1"
TOKEN = re.compile(r"\w+")


def _load(name: str, sha256: str) -> dict:
    raw = (DATA / name).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"grader data {name} changed: sha256 {digest}, expected {sha256}")
    return json.loads(raw)


def load_corpus() -> list[dict]:
    """The frozen chunks of pydoc_data.topics: [{"id", "topic", "text"}], checked by SHA-256."""
    return _load("corpus.json", CORPUS_SHA256)["chunks"]


def load_queries() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """(queries {qid: text}, qrels {qid: {chunk_id: grade}}), checked by SHA-256. Of the queries
    the corpus cannot answer, half have an empty qrels entry and half none at all."""
    items = _load("queries.json", QUERIES_SHA256)["queries"]
    unanswerable = [q["id"] for q in items if not q["qrels"]]
    absent = set(unanswerable[len(unanswerable) // 2:])
    return {q["id"]: q["text"] for q in items}, {q["id"]: q["qrels"] for q in items if q["id"] not in absent}


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class BM25:
    """Okapi BM25 (k1 = 1.2, b = 0.75), ties in corpus order. min_df > 1 drops every term found
    in fewer than min_df chunks from the index: a truncated vocabulary (the regression)."""

    def __init__(self, chunks: list[dict], k1: float = 1.2, b: float = 0.75, min_df: int = 1) -> None:
        self.ids = [c["id"] for c in chunks]
        docs = [Counter(tokens(c["text"])) for c in chunks]
        df = Counter(term for doc in docs for term in doc)
        keep = {term for term, n in df.items() if n >= min_df}
        lengths = np.array([sum(doc.values()) for doc in docs], dtype=float)
        norm = k1 * (1 - b + b * lengths / lengths.mean())
        n_docs = len(chunks)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term in keep:
            rows = np.array([i for i, doc in enumerate(docs) if term in doc])
            tf = np.array([docs[i][term] for i in rows], dtype=float)
            idf = math.log(1 + (n_docs - len(rows) + 0.5) / (len(rows) + 0.5))
            self.postings[term] = (rows, idf * tf * (k1 + 1) / (tf + norm[rows]))

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(len(self.ids))
        for term in set(tokens(query)):
            if term in self.postings:
                rows, weights = self.postings[term]
                out[rows] += weights
        return out

    def __call__(self, query: str, k: int = 10) -> list[str]:
        order = np.argsort(-self.scores(query), kind="stable")[:k]
        return [self.ids[i] for i in order]


class Dense:
    """Cosine similarity of unit-length MiniLM vectors (workbench.llm.embed). The corpus and the
    known query texts are embedded once, in batches, and kept in memory for this grading run."""

    def __init__(self, chunks: list[dict], query_texts: list[str]) -> None:
        from workbench.llm import embed

        self.embed = embed
        self.ids = [c["id"] for c in chunks]
        self.vectors = embed([c["text"] for c in chunks])
        self.query_vectors = dict(zip(query_texts, embed(query_texts), strict=True))

    def scores(self, query: str) -> np.ndarray:
        vector = self.query_vectors.get(query)
        if vector is None:
            vector = self.query_vectors[query] = self.embed([query])[0]
        return self.vectors @ vector

    def __call__(self, query: str, k: int = 10) -> list[str]:
        order = np.argsort(-self.scores(query), kind="stable")[:k]
        return [self.ids[i] for i in order]


class Hybrid:
    """Reciprocal-rank fusion of BM25 and dense: sum of 1 / (60 + rank) over the two top-100 lists."""

    def __init__(self, *retrievers, depth: int = 100, c: int = 60) -> None:
        self.retrievers, self.depth, self.c = retrievers, depth, c

    def __call__(self, query: str, k: int = 10) -> list[str]:
        fused: dict[str, float] = {}
        for retriever in self.retrievers:
            for rank, doc_id in enumerate(retriever(query, self.depth), start=1):
                fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (self.c + rank)
        return sorted(fused, key=lambda d: -fused[d])[:k]


class Counted:
    """Wraps a retriever: counts calls, remembers rankings (so every gate sees the same lists)."""

    def __init__(self, retriever, memo: dict | None = None) -> None:
        self.retriever = retriever
        self.memo = {} if memo is None else memo
        self.calls = 0

    def __call__(self, query: str, k: int = 10) -> list[str]:
        self.calls += 1
        key = (query, int(k))
        if key not in self.memo:
            self.memo[key] = list(self.retriever(query, k))
        return list(self.memo[key])

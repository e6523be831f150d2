"""Reproduce a published retrieval claim on offline assets: BM25 against dense against hybrid
(reciprocal-rank fusion) search over a frozen slice of the Python language reference.

Run `python experiment.py` to write results.json; report.md and decision.md quote its numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CHUNK_CHARS, CHUNK_STEP = 600, 500      # given: 100 characters of overlap, evidence is <= 70
K = 5
BM25_K1, BM25_B = 1.5, 0.75
RRF_K, RRF_DEPTH = 60, 50
EMBEDDERS = ("minilm", "wordllama")
METHODS = ("bm25", "dense", "hybrid")


# -- given: data, chunks, embedders -------------------------------------------------------------

def load_json(path: str | Path) -> dict:
    """A JSON file, as a dict."""
    return json.loads(Path(path).read_text("utf-8"))


def corpus_sha256(path: str | Path) -> str:
    """The SHA-256 of the corpus file's bytes (the report's setup names it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def chunk_corpus(documents: list[dict]) -> list[str]:
    """Given: 600-character windows every 500 characters, in document order."""
    chunks = []
    for doc in documents:
        text, start = doc["text"], 0
        while True:
            chunks.append(text[start:start + CHUNK_CHARS])
            if start + CHUNK_CHARS >= len(text):
                break
            start += CHUNK_STEP
    return chunks


def normalise(text: str) -> str:
    """Collapse whitespace, so evidence matches across line breaks."""
    return " ".join(text.split())


def tokenize(text: str) -> list[str]:
    """Given: lower-case word tokens."""
    return re.findall(r"\w+", text.lower())


def embed(texts: list[str], embedder: str) -> np.ndarray:
    """Given: unit-length vectors of `texts` from "minilm" (all-MiniLM-L6-v2 int8, 384-d) or
    "wordllama" (256-d static token embeddings)."""
    if embedder == "minilm":
        from workbench.llm import embed as minilm

        return np.asarray(minilm(list(texts)), dtype=np.float32)
    if embedder == "wordllama":
        import wordllama
        from wordllama import WordLlama

        model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
        return np.asarray(model.embed(list(texts), norm=True), dtype=np.float32)
    raise ValueError(f"unknown embedder {embedder!r}; use one of {EMBEDDERS}")


# -- yours: the three retrievers, the metrics, the verdict ---------------------------------------

def bm25_scores(chunks: list[str], query: str) -> np.ndarray:
    """Okapi BM25 (k1=1.5, b=0.75) of every chunk, each distinct query term counted once,
    idf = ln(1 + (N - n + 0.5) / (n + 0.5))."""
    tokens = [tokenize(chunk) for chunk in chunks]
    counts = [Counter(t) for t in tokens]
    lengths = np.array([len(t) for t in tokens], dtype=float)
    average = lengths.mean()
    frequency = Counter(term for c in counts for term in c)
    scores = np.zeros(len(chunks))
    for term in set(tokenize(query)):
        n = frequency.get(term, 0)
        if n == 0:
            continue
        idf = math.log(1 + (len(chunks) - n + 0.5) / (n + 0.5))
        tf = np.array([c[term] for c in counts], dtype=float)
        scores += idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * lengths / average))
    return scores


def rank(scores: np.ndarray) -> list[int]:
    """Chunk indices, highest score first, ties in chunk order."""
    return [int(i) for i in np.argsort(-np.asarray(scores, dtype=float), kind="stable")]


def rrf(rankings: list[list[int]], n_chunks: int) -> np.ndarray:
    """Reciprocal-rank fusion of the top RRF_DEPTH of each ranking: sum of 1 / (60 + rank), rank from 1."""
    fused = np.zeros(n_chunks)
    for ranking in rankings:
        for position, index in enumerate(ranking, start=1):
            fused[index] += 1.0 / (RRF_K + position)
    return fused


def evaluate(documents: list[dict], queries: list[dict], embedder: str = "wordllama", k: int = K) -> dict:
    """recall@k and MRR@k of bm25, dense and hybrid search, plus the seconds spent embedding."""
    chunks = chunk_corpus(documents)
    plain = [normalise(c) for c in chunks]
    started = time.perf_counter()
    vectors = embed(chunks, embedder)
    query_vectors = embed([q["query"] for q in queries], embedder)
    embed_s = time.perf_counter() - started
    hits = {m: 0 for m in METHODS}
    reciprocal = {m: 0.0 for m in METHODS}
    for item, query_vector in zip(queries, query_vectors, strict=True):
        sparse = rank(bm25_scores(chunks, item["query"]))
        dense = rank(vectors @ query_vector)
        rankings = {"bm25": sparse, "dense": dense, "hybrid": rank(rrf([dense, sparse], len(chunks)))}
        evidence = normalise(item["evidence"])
        for method, ranking in rankings.items():
            for position, index in enumerate(ranking[:k], start=1):
                if evidence in plain[index]:
                    hits[method] += 1
                    reciprocal[method] += 1 / position
                    break
    n = len(queries)
    out = {m: {"recall_at_5": hits[m] / n, "mrr_at_5": reciprocal[m] / n} for m in METHODS}
    out["embed_s"] = embed_s
    return out


def verdict(numbers: dict) -> str:
    """The claim "hybrid beats both BM25 and dense" judged on recall@5 and MRR@5: "reproduced" when
    hybrid is >= the better single method on both metrics and > on at least one, "refuted" when it
    is below the better one on both, "partial" otherwise."""
    margins = [numbers["hybrid"][m] - max(numbers["bm25"][m], numbers["dense"][m]) for m in ("recall_at_5", "mrr_at_5")]
    if all(d >= 0 for d in margins) and any(d > 0 for d in margins):
        return "reproduced"
    if all(d < 0 for d in margins):
        return "refuted"
    return "partial"


def decide(figures: dict) -> str:
    """The decision rule: the option with the higher hybrid MRR@5, unless the two are within 0.02,
    then the one that embeds faster (lower embed_s)."""
    a, b = sorted(figures)
    gap = figures[a]["hybrid_mrr_at_5"] - figures[b]["hybrid_mrr_at_5"]
    if abs(gap) < 0.02:
        return a if figures[a]["embed_s"] <= figures[b]["embed_s"] else b
    return a if gap > 0 else b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=str(HERE / "corpus.json"))
    parser.add_argument("--queries", default=str(HERE / "queries.json"))
    parser.add_argument("--embedders", default=",".join(EMBEDDERS))
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args(argv)
    documents = load_json(args.corpus)["documents"]
    queries = load_json(args.queries)["queries"]
    runs = {}
    for embedder in args.embedders.split(","):
        runs[embedder] = evaluate(documents, queries, embedder)
        print(embedder, json.dumps({m: runs[embedder][m] for m in METHODS}), file=sys.stderr)
    results = {
        "setup": {"corpus_sha256": corpus_sha256(args.corpus), "documents": len(documents),
                  "chunks": len(chunk_corpus(documents)), "queries": len(queries), "k": K},
        "runs": runs,
        "verdicts": {e: verdict(r) for e, r in runs.items()},
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Try your harness on the dev set: `python try_it.py` (add `--dense` for MiniLM + a hybrid).

dev_set.json holds 85 chunks of the Python language reference (topics with, try, raise,
exceptions, context-managers, function) and 49 questions with graded relevance judgments
(3 = the chunk answers it, 2 = supports the answer, 1 = next to the answer; 2 questions have
no relevant chunk at all). The grader uses the same kind of data, 313 chunks and 179 questions.

The retrievers here are the ones the grader compares: BM25, BM25 with a truncated vocabulary
(terms found in only one chunk dropped: a "shrink the index" change that hurts), and with
--dense, MiniLM embeddings fused with BM25 by reciprocal rank.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path

import harness

TOKEN = re.compile(r"\w+")


def bm25(chunks: list[dict], k1: float = 1.2, b: float = 0.75, min_df: int = 1):
    """retrieve(text, k) -> ranked chunk ids, Okapi BM25 (plain Python, fine for a few hundred chunks)."""
    ids = [c["id"] for c in chunks]
    docs = [Counter(TOKEN.findall(c["text"].lower())) for c in chunks]
    df = Counter(term for doc in docs for term in doc)
    lengths = [sum(doc.values()) for doc in docs]
    average = sum(lengths) / len(lengths)
    idf = {t: math.log(1 + (len(docs) - n + 0.5) / (n + 0.5)) for t, n in df.items() if n >= min_df}

    def retrieve(text: str, k: int = 10) -> list[str]:
        scores = []
        for doc, length in zip(docs, lengths):
            score = 0.0
            for term in set(TOKEN.findall(text.lower())):
                tf = doc.get(term, 0)
                if tf and term in idf:
                    score += idf[term] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))
            scores.append(score)
        order = sorted(range(len(ids)), key=lambda i: -scores[i])
        return [ids[i] for i in order[:k]]

    return retrieve


def dense(chunks: list[dict]):
    """retrieve(text, k) by cosine similarity of MiniLM vectors (workbench.llm.embed)."""
    from workbench.llm import embed

    ids = [c["id"] for c in chunks]
    started = time.perf_counter()
    vectors = embed([c["text"] for c in chunks])
    print(f"embedded {len(chunks)} chunks in {time.perf_counter() - started:.1f} s")

    def retrieve(text: str, k: int = 10) -> list[str]:
        scores = vectors @ embed([text])[0]
        return [ids[i] for i in scores.argsort()[::-1][:k]]

    return retrieve


def hybrid(*retrievers, depth: int = 100):
    """Reciprocal-rank fusion: sum of 1 / (60 + rank) over the retrievers' top-`depth` lists."""

    def retrieve(text: str, k: int = 10) -> list[str]:
        fused: dict[str, float] = {}
        for retriever in retrievers:
            for rank, doc in enumerate(retriever(text, depth), start=1):
                fused[doc] = fused.get(doc, 0.0) + 1 / (60 + rank)
        return sorted(fused, key=lambda d: -fused[d])[:k]

    return retrieve


def show(result) -> str:
    return (f"{result.decision.upper():5}  {result.metric}@{result.k} {result.baseline:.3f} -> {result.candidate:.3f}  "
            f"delta {result.delta:+.3f}  95% CI [{result.ci_low:+.3f}, {result.ci_high:+.3f}]  ({result.n_queries} queries)")


def main() -> None:
    data = json.loads((Path(__file__).parent / "dev_set.json").read_text("utf-8"))
    chunks = data["chunks"]
    queries = {q["id"]: q["text"] for q in data["queries"]}
    qrels = {q["id"]: q["qrels"] for q in data["queries"]}
    print("a few metric values to check by hand:")
    print("  ndcg_at_k(['a', 'x'], {'a': 1, 'b': 3}, k=2) =", harness.ndcg_at_k(["a", "x"], {"a": 1, "b": 3}, 2))
    print("  recall_at_k(['a', 'a', 'b'], {'a': 1, 'b': 1, 'c': 1}, k=2) =", harness.recall_at_k(["a", "a", "b"], {"a": 1, "b": 1, "c": 1}, 2))
    print("  reciprocal_rank(['x'], {}) =", harness.reciprocal_rank(["x"], {}))

    systems = {"bm25": bm25(chunks), "bm25-truncated": bm25(chunks, min_df=2)}
    if "--dense" in sys.argv:
        systems["dense"] = dense(chunks)
        systems["hybrid"] = hybrid(systems["bm25"], systems["dense"])
    print(f"\n{len(chunks)} chunks, {len(queries)} queries")
    for name, retrieve in systems.items():
        run = {qid: retrieve(text, 10) for qid, text in queries.items()}
        scores = harness.evaluate(run, qrels, k=10)
        print(f"  {name:15} recall@10 {scores['recall']:.3f}  MRR@10 {scores['mrr']:.3f}  "
              f"nDCG@10 {scores['ndcg']:.3f}  ({scores['queries']} judged queries)")
    print("\nregression gate (nDCG@10, paired bootstrap, 1000 resamples, margin 0.01):")
    pairs = [("bm25", "bm25-truncated"), ("bm25", "bm25")]
    if "--dense" in sys.argv:
        pairs += [("bm25", "hybrid"), ("hybrid", "bm25")]
    for base, cand in pairs:
        started = time.perf_counter()
        result = harness.regression_gate(systems[base], systems[cand], queries, qrels)
        print(f"  {base:>6} -> {cand:15} {show(result)}  {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    try:
        main()
    except NotImplementedError as exc:
        sys.exit(f"not implemented yet: {exc} (fill in harness.py)")

"""Grader for rag-retrieval: chunking, MiniLM dense search, BM25 and hybrid fusion over a frozen
slice of the Python language reference, measured on held-out queries (recall@5, MRR)."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from _rag_data import (
    CountingEmbed,
    load_corpus,
    load_queries,
    normalise,
    ranking_metrics,
    reference_bm25,
)

from workbench.grader_plugin import call_learner

RECALL_AT_5_MIN = 0.85
MRR_MIN = 0.70


_call = call_learner

@pytest.fixture(scope="session")
def corpus() -> list[dict]:
    return load_corpus()


@pytest.fixture(scope="session")
def chunks(learner, corpus):
    """The learner's chunks of the whole corpus, with the default sizes."""
    out = []
    for doc in corpus:
        out.extend(_call("chunk_document", learner.chunk_document, doc["id"], doc["text"]))
    if not out:
        pytest.fail("chunk_document returned no chunks", pytrace=False)
    return out


@pytest.fixture(scope="session")
def index(learner, chunks):
    """(retriever, counting embedder, texts embedded while indexing), built once per run."""
    counter = CountingEmbed()
    retriever = _call("Retriever(chunks)", learner.Retriever, chunks, embed=counter)
    return retriever, counter, counter.texts


@pytest.fixture(scope="session")
def chunk_text(chunks) -> dict[str, str]:
    return {chunk.id: normalise(chunk.text) for chunk in chunks}


@pytest.mark.check(skill="data-engineering", points=2, hint=1)
def test_chunks_are_faithful_bounded_and_overlapping(learner, corpus, record_metric):
    """Chunks are exact slices, at most max_chars long, and no short passage is cut"""
    rng = random.Random(4242)
    max_chars, overlap = 600, 100
    seen_ids: set[str] = set()
    lengths = []
    for doc in corpus:
        text = doc["text"]
        pieces = _call("chunk_document", learner.chunk_document, doc["id"], text, max_chars=max_chars, overlap=overlap)
        for chunk in pieces:
            assert chunk.id not in seen_ids, f"chunk id {chunk.id!r} is used twice; ids must be unique across documents"
            seen_ids.add(chunk.id)
            assert chunk.doc_id == doc["id"], f"chunk {chunk.id!r} has doc_id {chunk.doc_id!r}, expected {doc['id']!r}"
            assert len(chunk.text) <= max_chars, f"chunk {chunk.id!r} has {len(chunk.text)} characters, max_chars is {max_chars}"
            assert text[chunk.start:chunk.start + len(chunk.text)] == chunk.text, (
                f"chunk {chunk.id!r} is not document[start:start + len(text)] (start={chunk.start})")
            lengths.append(len(chunk.text))
        spans = [(c.start, c.start + len(c.text)) for c in pieces]
        for _ in range(40):
            if len(text) <= overlap:
                break
            first = rng.randrange(0, len(text) - overlap + 1)
            inside = any(a <= first and first + overlap <= b for a, b in spans)
            assert inside, (f"in {doc['id']!r}, the {overlap}-character passage at offset {first} is cut by a chunk "
                            f"boundary: consecutive chunks must overlap by at least `overlap` characters")
    mean_length = sum(lengths) / len(lengths)
    record_metric("chunks", len(lengths))
    record_metric("mean_chars", round(mean_length, 1))
    assert mean_length >= max_chars / 3, f"chunks average {mean_length:.0f} characters; use most of max_chars={max_chars}"


@pytest.mark.check(skill="generative-ai", points=2, hint=2)
def test_dense_search_uses_normalised_embeddings(index, chunks, record_metric):
    """Dense search ranks a chunk first for its own text, with cosine scores"""
    retriever, _, _ = index
    rng = random.Random(99)
    sample = rng.sample(chunks, 12)
    first = 0
    for chunk in sample:
        hits = list(_call("dense", retriever.dense, chunk.text, k=5))
        assert len(hits) == 5, f"dense(query, k=5) returned {len(hits)} hits"
        scores = [float(score) for _, score in hits]
        assert scores == sorted(scores, reverse=True), "dense hits must be sorted by score, highest first"
        assert 0.5 < scores[0] <= 1.0001, (f"the top dense score for a chunk's own text is {scores[0]:.3f}; "
                                           "with unit-length MiniLM vectors it is a cosine close to 1")
        first += hits[0][0] == chunk.id
    record_metric("self_rank1", first)
    assert first >= 11, f"only {first}/12 chunks came first when searching their own text (needs >= 11)"


@pytest.mark.check(skill="generative-ai", points=2, hint=3)
def test_bm25_matches_reference(learner, record_metric):
    """BM25 scores match Okapi BM25 (k1=1.5, b=0.75) on a small corpus"""
    texts = [
        "The with statement calls __enter__ and __exit__ on a context manager.",
        "A for loop iterates over an iterable; break leaves the loop, continue skips ahead.",
        "Exceptions raised in the try clause are handled by a matching except clause.",
        "The finally clause always runs, even when the try clause raises an exception or returns.",
        "Dictionaries map hashable keys to values; lists are not hashable and cannot be keys.",
        "Generators use yield; return in a generator raises StopIteration with the value.",
        "Context managers make resource cleanup reliable: files are closed, locks released.",
    ]
    chunks = [learner.Chunk(f"toy#{i}", "toy", text, 0) for i, text in enumerate(texts)]
    rng = np.random.default_rng(0)
    fake = rng.normal(size=(len(texts), 384)).astype(np.float32)
    fake /= np.linalg.norm(fake, axis=1, keepdims=True)

    def fake_embed(batch):
        batch = [batch] if isinstance(batch, str) else list(batch)
        return fake[: len(batch)] if len(batch) == len(texts) else fake[:1].repeat(len(batch), axis=0)

    retriever = _call("Retriever(toy chunks)", learner.Retriever, chunks, embed=fake_embed)
    worst = 0.0
    for query in ("try clause exception", "context manager cleanup closed files", "hashable keys lists"):
        expected = reference_bm25(texts, query)
        got = dict((str(i), float(s)) for i, s in _call("bm25", retriever.bm25, query, k=len(texts)))
        for index, score in enumerate(expected):
            if score <= 0:
                continue
            chunk_id = f"toy#{index}"
            assert chunk_id in got, f"bm25({query!r}) left out {chunk_id} although it matches (score {score:.4f})"
            error = abs(got[chunk_id] - score) / score
            worst = max(worst, error)
            assert error < 1e-6, (f"bm25({query!r}) gives {chunk_id} {got[chunk_id]:.6f}, Okapi BM25 gives {score:.6f}: "
                                  "check idf = ln(1 + (N - n + 0.5) / (n + 0.5)) and the length normalisation")
    record_metric("max_rel_error", worst)


@pytest.mark.check(skill="generative-ai", points=3, hint=4)
def test_hybrid_recall_at_5(index, chunk_text, record_metric):
    """Hybrid search finds the passage in its top 5 for held-out questions"""
    retriever, _, _ = index
    queries = load_queries()
    recall, _, missed = _call("search", ranking_metrics, retriever, queries, chunk_text)
    record_metric("recall_at_5", round(recall, 4))
    assert recall >= RECALL_AT_5_MIN, (f"recall@5 = {recall:.2f} on {len(queries)} questions, needs >= {RECALL_AT_5_MIN}; "
                                       f"missed e.g. {missed[:2]}")


@pytest.mark.check(skill="generative-ai", points=2, hint=4)
def test_hybrid_mrr(index, chunk_text, record_metric):
    """Hybrid search ranks the right passage high (mean reciprocal rank)"""
    retriever, _, _ = index
    _, mrr, _ = _call("search", ranking_metrics, retriever, load_queries(), chunk_text)
    record_metric("mrr", round(mrr, 4))
    assert mrr >= MRR_MIN, f"MRR@5 = {mrr:.2f}, needs >= {MRR_MIN}: fuse the dense and BM25 rankings"


@pytest.mark.check(skill="data-engineering", points=1, hint=2)
def test_corpus_is_embedded_once(index, chunks, record_metric):
    """The corpus is embedded once, when indexing; a search embeds only the query"""
    retriever, counter, indexed = index
    assert indexed == len(chunks), (f"building the Retriever embedded {indexed} texts for {len(chunks)} chunks: "
                                    "embed every chunk once, in __init__")
    latencies = []
    for query in ("How does the with statement work?", "What does yield do?", "dictionary keys", "global variables"):
        before = counter.texts
        started = time.perf_counter()
        _call("search", retriever.search, query, k=5)
        latencies.append((time.perf_counter() - started) * 1000)
        embedded = counter.texts - before
        assert embedded <= 1, f"one search embedded {embedded} texts; only the query should be embedded at search time"
    record_metric("search_ms_max", round(max(latencies), 1))

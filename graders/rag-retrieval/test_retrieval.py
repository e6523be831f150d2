"""Grader for rag-retrieval: chunking, MiniLM dense search, BM25 and hybrid fusion over a frozen
slice of the Python language reference, measured on held-out queries (recall@5, MRR).

Every check tests a requirement the brief states and is required. Chunking parameters,
synthetic documents, toy corpora, sampled chunks and queries come from the run's fresh seed;
the held-out questions are fixed (the 12 dev questions are among them, but the thresholds hold
on the 40 the learner never sees)."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from _rag_data import (
    CountingEmbed,
    HashEmbed,
    load_corpus,
    load_queries,
    normalise,
    ranking_metrics,
    reference_bm25,
    rrf,
    synthetic_document,
    toy_corpus,
    uncovered_passage,
)

from workbench.grader_plugin import call_learner

RECALL_AT_5_MIN = 0.85      # on all 52 questions and on the 40 held-out alone; reference 0.923 / 0.950
MRR_MIN = 0.70              # on all 52 questions and on the 40 held-out alone; reference 0.760 / 0.803
MIN_SELF_RANK1 = 10         # of 12 sampled chunks found first for their own text; reference 178 of all 180
MIN_FILL = 0.5              # mean chunk length / max_chars; reference 0.87
DEFAULT_MAX_CHARS, DEFAULT_OVERLAP = 800, 120
RRF_K, RRF_DEPTH = 60, 50

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


@pytest.fixture(scope="session")
def held_out_metrics(index, chunk_text):
    """(recall@5, MRR@5, missed) of the learner's search on the 40 held-out questions, and on all 52."""
    retriever, _, _ = index
    queries = load_queries()
    unseen = [q for q in queries if not q.get("dev")]
    held_out = _call("search", ranking_metrics, retriever, unseen, chunk_text)
    everything = _call("search", ranking_metrics, retriever, queries, chunk_text)
    return held_out, everything, len(unseen)


def _check_chunks(pieces, doc_id: str, text: str, max_chars: int, overlap: int, seen_ids: set[str], what: str) -> None:
    for chunk in pieces:
        assert chunk.id not in seen_ids, f"chunk id {chunk.id!r} is used twice; ids must be unique across documents"
        seen_ids.add(chunk.id)
        assert chunk.doc_id == doc_id, f"chunk {chunk.id!r} has doc_id {chunk.doc_id!r}, expected {doc_id!r}"
        assert len(chunk.text) <= max_chars, (
            f"{what}: chunk {chunk.id!r} has {len(chunk.text)} characters, max_chars is {max_chars}")
        assert text[chunk.start:chunk.start + len(chunk.text)] == chunk.text, (
            f"{what}: chunk {chunk.id!r} is not document[start:start + len(text)] (start={chunk.start})")
    spans = [(c.start, c.start + len(c.text)) for c in pieces]
    gap = uncovered_passage(spans, len(text), min(overlap, len(text)))
    assert gap is None, (
        f"{what}: in {doc_id!r} ({len(text)} characters), the {overlap}-character passage at offset {gap} "
        f"({text[gap:gap + 40]!r}...) lies whole in no chunk: consecutive chunks must overlap by at least `overlap` "
        "characters, and the chunks must cover the document from start to end (chunk_document)")


@pytest.mark.check(skill="data-engineering", points=2, hint=1, required=True)
def test_chunks_are_faithful_bounded_and_overlapping(learner, corpus, chunks, seed, record_metric):
    """Chunks are exact slices, at most max_chars long, and every passage of `overlap` characters lies whole in one chunk"""
    rng = random.Random(seed)
    seen_ids: set[str] = set()
    # the defaults the index uses
    by_doc: dict[str, list] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk.doc_id, []).append(chunk)
    for doc in corpus:
        _check_chunks(by_doc.get(doc["id"], []), doc["id"], doc["text"], DEFAULT_MAX_CHARS, DEFAULT_OVERLAP, set(),
                      f"chunk_document(doc_id, text) with the defaults {DEFAULT_MAX_CHARS}/{DEFAULT_OVERLAP}")
    # the corpus at other sizes, one of them drawn from the seed
    max_chars = rng.randrange(420, 700)
    settings = [(600, 100), (max_chars, rng.randrange(max_chars // 5, max_chars // 3)), (900, 290)]
    fill = []
    for size, overlap in settings:
        seen_ids = set()
        for doc in rng.sample(corpus, 10):
            pieces = _call("chunk_document", learner.chunk_document, doc["id"], doc["text"], max_chars=size,
                           overlap=overlap)
            _check_chunks(pieces, doc["id"], doc["text"], size, overlap, seen_ids, f"max_chars={size}, overlap={overlap}")
            fill += [len(c.text) / size for c in pieces]
    mean_fill = sum(fill) / len(fill)
    # generated documents: a long run with no break, a document shorter than one chunk
    for index in range(3):
        size = rng.randrange(250, 500)
        overlap = rng.randrange(size // 6, size // 3)
        text = synthetic_document(seed + index, rng.randrange(3000, 6000))
        doc_id = f"synthetic-{index}"
        pieces = _call("chunk_document", learner.chunk_document, doc_id, text, max_chars=size, overlap=overlap)
        _check_chunks(pieces, doc_id, text, size, overlap, set(),
                      f"a generated document (a {size}-character bound, overlap {overlap}, one unbroken run of x's)")
    short = synthetic_document(seed + 7, 150)[:150]
    pieces = _call("chunk_document", learner.chunk_document, "short", short, max_chars=400, overlap=80)
    assert [(c.start, c.text) for c in pieces] == [(0, short)], (
        f"a 150-character document with max_chars=400 must be one chunk holding all of it, got "
        f"{[(c.start, len(c.text)) for c in pieces]} (start, length)")
    record_metric("settings", str(settings))
    record_metric("mean_fill", round(mean_fill, 3))
    assert mean_fill >= MIN_FILL, (
        f"chunks average {mean_fill:.0%} of max_chars over the settings {settings}; needs >= {MIN_FILL:.0%}: use most "
        "of max_chars")


@pytest.mark.check(skill="generative-ai", points=2, hint=2, required=True)
def test_dense_search_returns_exact_cosines(learner, index, chunks, seed, record_metric):
    """Dense search returns the top k by cosine with exact scores, and ranks a chunk first for its own text"""
    retriever, _, _ = index
    rng = random.Random(seed)
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
    assert first >= MIN_SELF_RANK1, (
        f"only {first}/12 chunks came first when searching their own text (needs >= {MIN_SELF_RANK1}): embed every "
        "chunk's text and rank by cosine")
    # exact scores on a toy index with a stand-in embedder the grader can recompute
    texts, queries = toy_corpus(seed + 1, n_docs=16)
    toy = [learner.Chunk(f"toy#{i}", "toy", text, 0) for i, text in enumerate(texts)]
    fake = HashEmbed(seed)
    toy_retriever = _call("Retriever(toy chunks)", learner.Retriever, toy, embed=fake)
    vectors = []
    for chunk in toy:
        vector = fake.vector_containing(chunk.text)
        assert vector is not None, f"the index never embedded the text of {chunk.id}: embed every chunk in __init__"
        vectors.append(vector)
    matrix = np.stack(vectors)
    worst = 0.0
    for query in queries:
        for k in (1, 4, len(toy)):
            hits = [(str(i), float(s)) for i, s in _call("dense", toy_retriever.dense, query, k=k)]
            query_vector = fake.vector_containing(query)
            assert query_vector is not None, "dense() did not embed the query with the Retriever's embed function"
            cosines = matrix @ query_vector
            order = np.argsort(-cosines, kind="stable")[:k]
            want = [(toy[i].id, float(cosines[i])) for i in order]
            assert [h[0] for h in hits] == [w[0] for w in want], (
                f"dense({query!r}, k={k}) returned {[h[0] for h in hits]}, the top {k} by cosine are "
                f"{[w[0] for w in want]} (cosine of the query vector with each chunk vector, highest first)")
            worst = max(worst, max(abs(h[1] - w[1]) for h, w in zip(hits, want, strict=True)))
    record_metric("max_cosine_error", float(worst))
    assert worst < 1e-4, f"dense() scores differ from the cosine by up to {worst:.2e}; return the cosine itself"


@pytest.mark.check(skill="generative-ai", points=2, hint=3, required=True)
def test_bm25_matches_reference(learner, seed, record_metric):
    """BM25 scores and ranking match Okapi BM25 (k1=1.5, b=0.75, distinct query terms) on seeded toy corpora"""
    worst = 0.0
    checked = 0
    for round_ in range(3):
        texts, queries = toy_corpus(seed + 10 + round_)
        chunks = [learner.Chunk(f"toy#{i}", "toy", text, 0) for i, text in enumerate(texts)]
        retriever = _call("Retriever(toy chunks)", learner.Retriever, chunks, embed=HashEmbed(seed))
        for query in queries:
            expected = reference_bm25(texts, query)
            hits = [(str(i), float(s)) for i, s in _call("bm25", retriever.bm25, query, k=len(texts))]
            got = dict(hits)
            scores = [s for _, s in hits]
            assert scores == sorted(scores, reverse=True), f"bm25({query!r}) hits must be sorted, highest first"
            for index, score in enumerate(expected):
                if score <= 0:
                    continue
                chunk_id = f"toy#{index}"
                assert chunk_id in got, f"bm25({query!r}) left out {chunk_id} although it matches (score {score:.4f})"
                error = abs(got[chunk_id] - score) / score
                worst = max(worst, error)
                checked += 1
                assert error < 1e-6, (
                    f"bm25({query!r}) gives {chunk_id} {got[chunk_id]:.6f}, Okapi BM25 gives {score:.6f} (document: "
                    f"{texts[index][:60]!r}...): check the tokens (re.findall(r'\\w+', text.lower())), each distinct "
                    "query term once, idf = ln(1 + (N - n + 0.5) / (n + 0.5)) and the length normalisation")
            top = [i for i, _ in _call("bm25", retriever.bm25, query, k=3)]
            assert len(top) == min(3, len(texts)), f"bm25({query!r}, k=3) returned {len(top)} hits"
    record_metric("scores_checked", checked)
    record_metric("max_rel_error", worst)


@pytest.mark.check(skill="generative-ai", points=2, hint=4, required=True)
def test_search_fuses_dense_and_bm25_with_rrf(index, seed, record_metric):
    """search() is reciprocal-rank fusion (1 / (60 + rank), top 50 of each) of your dense and BM25 rankings"""
    retriever, _, _ = index
    queries = [q["query"] for q in random.Random(seed).sample(load_queries(), 8)]
    differs = 0
    for query in queries:
        dense = [str(i) for i, _ in _call("dense", retriever.dense, query, k=RRF_DEPTH)]
        sparse = [str(i) for i, _ in _call("bm25", retriever.bm25, query, k=RRF_DEPTH)]
        fused = rrf([dense, sparse], RRF_K)
        hits = [(str(i), float(s)) for i, s in _call("search", retriever.search, query, k=5)]
        assert len(hits) == 5, f"search({query!r}, k=5) returned {len(hits)} hits"
        for chunk_id, score in hits:
            assert chunk_id in fused and abs(score - fused[chunk_id]) < 1e-9, (
                f"search({query!r}) gives {chunk_id} the score {score:.6f}; reciprocal-rank fusion of your dense() and "
                f"bm25() top {RRF_DEPTH} gives {fused.get(chunk_id, 0.0):.6f} (sum of 1 / ({RRF_K} + rank), rank from 1)")
        returned = {i for i, _ in hits}
        lowest = min(s for _, s in hits)
        better = [i for i, s in fused.items() if i not in returned and s > lowest + 1e-12]
        assert not better, (f"search({query!r}) left out {better[:3]}, which fuse higher than its 5th hit "
                            f"({lowest:.6f}): return the k best fused chunks, highest first")
        differs += [i for i, _ in hits] not in (dense[:5], sparse[:5])
    record_metric("queries", len(queries))
    record_metric("fused_top5_differs_from_both", differs)


@pytest.mark.check(skill="generative-ai", points=3, hint=4, required=True)
def test_hybrid_recall_at_5(held_out_metrics, record_metric):
    """Hybrid search finds the passage in its top 5: recall@5 >= 0.85 on all 52 questions and on the 40 held-out"""
    (recall, _, missed), (recall_all, _, missed_all), n = held_out_metrics
    record_metric("recall_at_5_all_52", round(recall_all, 4))
    record_metric("recall_at_5_held_out", round(recall, 4))
    assert recall_all >= RECALL_AT_5_MIN, (f"recall@5 = {recall_all:.2f} on the 52 questions, needs >= "
                                           f"{RECALL_AT_5_MIN}; missed e.g. {missed_all[:2]}")
    assert recall >= RECALL_AT_5_MIN, (f"recall@5 = {recall:.2f} on the {n} held-out questions (not in "
                                       f"dev_queries.json), needs >= {RECALL_AT_5_MIN}; missed e.g. {missed[:2]}")


@pytest.mark.check(skill="generative-ai", points=2, hint=4, required=True)
def test_hybrid_mrr(held_out_metrics, record_metric):
    """Hybrid search ranks the right passage high: MRR@5 >= 0.70 on all 52 questions and on the 40 held-out"""
    (_, mrr, _), (_, mrr_all, _), n = held_out_metrics
    record_metric("mrr_all_52", round(mrr_all, 4))
    record_metric("mrr_held_out", round(mrr, 4))
    assert mrr_all >= MRR_MIN, (f"MRR@5 = {mrr_all:.2f} on the 52 questions, needs >= {MRR_MIN}: fuse the dense "
                                "and BM25 rankings (search)")
    assert mrr >= MRR_MIN, (f"MRR@5 = {mrr:.2f} on the {n} held-out questions (not in dev_queries.json), needs >= "
                            f"{MRR_MIN}: fuse the dense and BM25 rankings (search)")


@pytest.mark.check(skill="data-engineering", points=1, hint=2, required=True)
def test_corpus_is_embedded_once(index, chunks, seed, record_metric):
    """The corpus is embedded once, when indexing; a search embeds only the query"""
    retriever, counter, indexed = index
    assert indexed == len(chunks), (f"building the Retriever embedded {indexed} texts for {len(chunks)} chunks: "
                                    "embed every chunk once, in __init__")
    latencies = []
    queries = [q["query"] for q in random.Random(seed + 3).sample(load_queries(), 3)] + ["global variables"]
    for query in queries:
        for method in ("search", "dense"):
            before = counter.texts
            started = time.perf_counter()
            _call(method, getattr(retriever, method), query, k=5)
            latencies.append((time.perf_counter() - started) * 1000)
            embedded = counter.texts - before
            assert embedded <= 1, (f"one {method}() embedded {embedded} texts; only the query may be embedded at "
                                   "search time (the chunk vectors are computed once in __init__)")
    record_metric("search_ms_max", round(max(latencies), 1))

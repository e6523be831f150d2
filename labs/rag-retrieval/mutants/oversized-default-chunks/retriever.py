"""Hybrid retrieval over the Python language reference: chunking, MiniLM embeddings, BM25,
and reciprocal-rank fusion. (Reference solution.)"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Embed = Callable[[list[str]], np.ndarray]
Hit = tuple[str, float]

K1 = 1.5
B = 0.75
RRF_K = 60
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Chunk:
    """A piece of one document: `text == document[start:start + len(text)]`."""

    id: str
    doc_id: str
    text: str
    start: int


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens: re.findall(r"\\w+", text.lower())."""
    return _TOKEN.findall(text.lower())


def _cut_point(text: str, floor: int, limit: int) -> int:
    """Where a chunk should end: the last paragraph, line or word break in [floor, limit), else `limit`."""
    if limit >= len(text):
        return len(text)
    for separator in ("\n\n", "\n", " "):
        position = text.rfind(separator, floor, limit)
        if position >= floor:
            return position + len(separator)
    return limit


def chunk_document(doc_id: str, text: str, max_chars: int = 2400, overlap: int = 120) -> list[Chunk]:
    """Split a document into overlapping chunks of at most `max_chars` characters.

    Consecutive chunks share at least `overlap` characters, so any passage of up to `overlap`
    characters lies whole inside some chunk. Cuts prefer paragraph, then line, then word breaks.
    """
    if not 0 <= overlap < max_chars // 3:
        raise ValueError("overlap must be at least 0 and less than a third of max_chars")
    chunks: list[Chunk] = []
    start, previous_end = 0, 0
    while start < len(text):
        limit = min(start + max_chars, len(text))
        floor = min(limit, max(start + max_chars // 2, previous_end + overlap))
        end = _cut_point(text, floor, limit)
        chunks.append(Chunk(f"{doc_id}#{len(chunks)}", doc_id, text[start:end], start))
        if end >= len(text):
            break
        previous_end = end
        next_start = end - overlap
        space = text.rfind(" ", max(start + 1, next_start - 40), next_start + 1)
        start = space + 1 if space > start else max(next_start, start + 1)
    return chunks


class Retriever:
    """Dense (MiniLM), sparse (BM25) and hybrid (reciprocal-rank fusion) search over chunks."""

    def __init__(self, chunks: list[Chunk], embed: Embed | None = None) -> None:
        if embed is None:
            from workbench.llm import embed as workbench_embed

            embed = workbench_embed
        self.chunks = list(chunks)
        self.ids = [chunk.id for chunk in self.chunks]
        self._embed = embed
        self.vectors = np.asarray(embed([f"{c.doc_id}: {c.text}" for c in self.chunks]), dtype=np.float32)
        self._term_counts = [Counter(tokenize(chunk.text)) for chunk in self.chunks]
        self._lengths = np.array([sum(counts.values()) for counts in self._term_counts], dtype=np.float64)
        self._avg_length = float(self._lengths.mean()) if len(self._lengths) else 0.0
        document_frequency: Counter[str] = Counter()
        for counts in self._term_counts:
            document_frequency.update(counts.keys())
        total = len(self.chunks)
        self._idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in document_frequency.items()}
        self._postings: dict[str, list[int]] = {}
        for index, counts in enumerate(self._term_counts):
            for term in counts:
                self._postings.setdefault(term, []).append(index)

    @staticmethod
    def _top(scores: np.ndarray, ids: list[str], k: int) -> list[Hit]:
        k = min(k, len(ids))
        if k <= 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(ids[i], float(scores[i])) for i in best]

    def dense_scores(self, query: str) -> np.ndarray:
        """Cosine similarity of the query to every chunk."""
        vector = np.asarray(self._embed([query]), dtype=np.float32)[0]
        return self.vectors @ vector

    def bm25_scores(self, query: str) -> np.ndarray:
        """Okapi BM25 (k1=1.5, b=0.75) over the distinct query terms."""
        scores = np.zeros(len(self.chunks), dtype=np.float64)
        for term in set(tokenize(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for index in self._postings[term]:
                frequency = self._term_counts[index][term]
                norm = K1 * (1 - B + B * self._lengths[index] / self._avg_length)
                scores[index] += idf * frequency * (K1 + 1) / (frequency + norm)
        return scores

    def dense(self, query: str, k: int = 5) -> list[Hit]:
        """Top-k chunks by embedding similarity."""
        return self._top(self.dense_scores(query), self.ids, k)

    def bm25(self, query: str, k: int = 5) -> list[Hit]:
        """Top-k chunks by BM25."""
        return self._top(self.bm25_scores(query), self.ids, k)

    def search(self, query: str, k: int = 5, depth: int = 50) -> list[Hit]:
        """Hybrid: reciprocal-rank fusion of the dense and BM25 rankings (top `depth` of each)."""
        fused: dict[str, float] = {}
        for ranking in (self.dense(query, depth), self.bm25(query, depth)):
            for rank, (chunk_id, _) in enumerate(ranking, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        return ordered[:k]

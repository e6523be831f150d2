"""Hybrid retrieval over the Python language reference.

Fill in the TODOs: overlapping chunks, MiniLM dense search, BM25, and a fusion of the two.
It runs as it is (`python try_it.py`), but it retrieves poorly: see README.md.
"""

from __future__ import annotations

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


def chunk_document(doc_id: str, text: str, max_chars: int = 800, overlap: int = 120) -> list[Chunk]:
    """Split a document into chunks of at most `max_chars` characters.

    TODO: consecutive chunks must share at least `overlap` characters, so that any passage of
    up to `overlap` characters lies whole inside some chunk. Prefer cutting at paragraph,
    line or word breaks.
    """
    return [Chunk(f"{doc_id}#{i}", doc_id, text[start:start + max_chars], start)
            for i, start in enumerate(range(0, len(text), max_chars))]


class Retriever:
    """Dense, sparse (BM25) and hybrid search over chunks."""

    def __init__(self, chunks: list[Chunk], embed: Embed | None = None) -> None:
        if embed is None:
            from workbench.llm import embed as workbench_embed

            embed = workbench_embed
        self.chunks = list(chunks)
        self.ids = [chunk.id for chunk in self.chunks]
        self._embed = embed
        self._term_counts = [Counter(tokenize(chunk.text)) for chunk in self.chunks]
        # TODO: embed every chunk once, here (not at query time), and keep the vectors.

    def dense(self, query: str, k: int = 5) -> list[Hit]:
        """Top-k chunks by cosine similarity of MiniLM embeddings (highest first)."""
        raise NotImplementedError("TODO: dense search with the embed function")

    def bm25(self, query: str, k: int = 5) -> list[Hit]:
        """Top-k chunks by Okapi BM25 (k1=1.5, b=0.75) over the distinct query terms.

        TODO: this only counts matching words; add idf and length normalisation (README.md).
        """
        terms = set(tokenize(query))
        scores = [(chunk_id, float(sum(counts[t] for t in terms))) for chunk_id, counts in zip(self.ids, self._term_counts)]
        scores.sort(key=lambda item: -item[1])
        return scores[:k]

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """Hybrid search. TODO: fuse the dense and BM25 rankings (reciprocal-rank fusion)."""
        return self.bm25(query, k)

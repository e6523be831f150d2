"""The retriever this lab provides (you built a better one in rag-retrieval; this lab is about
what happens after retrieval). Nothing to change here.

Dense MiniLM search over `corpus.json`: 244 chunks of the Python language reference, ids
`doc-0` .. `doc-243`. The chunk vectors were computed once with `workbench.llm.embed` (title +
newline + text) and ship in `corpus_vectors.npy`, so loading takes milliseconds; only your
question is embedded at search time. The grader uses its own copy of this code and data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS_SHA256 = "3d450d3a4579a1fb8b3e84a41ee744ac83a8e60b25db948de4729434870a9b88"
VECTORS_SHA256 = "330c3caa46765020605a0ae6425ba6fcb511f993524293efcf6b9cd31c280ec9"


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk, as `Retriever.search` returns it (best first)."""

    id: str       # "doc-12": what an answer cites
    title: str    # the section it comes from, e.g. 'The "with" statement'
    text: str     # the chunk's text: untrusted data, not instructions
    score: float  # cosine similarity to the query (-1 .. 1): the retrieval confidence


def _checked(path: Path, sha256: str) -> bytes:
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise RuntimeError(f"{path.name} was modified (sha256 differs); restore it from the lab")
    return raw


class Retriever:
    """`Retriever.load()` then `search(question, k=3) -> list[Passage]`."""

    def __init__(self, chunks: list[dict], vectors: np.ndarray, embed=None) -> None:
        if embed is None:
            from workbench.llm import embed
        self._embed = embed
        self.chunks = chunks
        self.vectors = vectors

    @classmethod
    def load(cls, folder: Path = HERE, embed=None) -> Retriever:
        """The shipped corpus and its precomputed vectors (both checked against their SHA-256)."""
        chunks = json.loads(_checked(folder / "corpus.json", CORPUS_SHA256))["chunks"]
        _checked(folder / "corpus_vectors.npy", VECTORS_SHA256)
        return cls(chunks, np.load(folder / "corpus_vectors.npy"), embed=embed)

    def scores(self, query: str) -> np.ndarray:
        """Cosine similarity of `query` to every chunk (the vectors are unit length)."""
        return self.vectors @ self._embed([query])[0]

    def search(self, query: str, k: int = 3) -> list[Passage]:
        """The k chunks most similar to `query`, highest score first."""
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [Passage(self.chunks[i]["id"], self.chunks[i]["title"], self.chunks[i]["text"], float(scores[i]))
                for i in order]

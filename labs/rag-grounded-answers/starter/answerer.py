"""Grounded answers over retrieved chunks: cite what you retrieved, refuse what you cannot
answer, and treat retrieved text as data.

This runs end to end (`python try_it.py`), but it trusts everything: it never refuses, it keeps
whatever ids the model writes, and it pastes retrieved text into the system prompt, where an
instruction planted in a document reads like an order. See the TODOs and README.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# TODO: calibrate on the dev split (python try_it.py --calibrate) and put the value here.
THRESHOLD = 0.0
REFUSAL = "I don't know: the documentation I can search does not cover this."

SYSTEM_PROMPT = "You are a helpful assistant. Answer the question using these documents:\n\n{documents}"


@dataclass
class Answer:
    """The result of `answer()`."""

    text: str              # the answer; a refusal starts with "I don't know"
    citations: list[str]   # distinct ids cited in `text` as [doc-N], in order; all retrieved
    refused: bool
    confidence: float      # the best retrieval score (passages[0].score)
    retrieved: list[str] = field(default_factory=list)  # ids of the passages retrieved


def calibrate_threshold(in_scores: Sequence[float], out_scores: Sequence[float], target_refusal: float = 0.95) -> float:
    """The refusal threshold (refuse when score < threshold) that refuses at least
    `target_refusal` of the out-of-corpus scores and answers as many in-corpus scores as possible.

    TODO: implement it.
    """
    raise NotImplementedError("calibrate_threshold")


def enforce_citations(text: str, allowed_ids: Iterable[str]) -> tuple[str, list[str]]:
    """Keep only citations of allowed (retrieved) ids, written as [doc-N]; drop every other id.

    TODO: this only collects what the model wrote. Normalise "[Doc 3]", "(doc-3)", "doc_3",
    "[doc-3, doc-9]" to [doc-N] form, remove every id that is not allowed (bracketed or bare),
    and return the distinct ids cited in the returned text, in order.
    """
    return text, list(dict.fromkeys(re.findall(r"\[(doc-\d+)\]", text)))


def sanitize(text: str) -> tuple[str, list[str]]:
    """(clean text, removed instruction-like sentences) for one retrieved passage.

    TODO: cut chat-template tokens ("<|im_start|>", "[INST]") and delimiter tags, and remove
    the sentences that give orders to the model; leave ordinary text unchanged.
    """
    return text, []


def screen_output(text: str, sources: str) -> str:
    """The model's reply with anything a grounded answer cannot contain removed (`sources`: the
    sanitised passages and the question).

    TODO: drop the sentences that carry a code-like literal (a canary such as "HERON-5521", a
    made-up identifier) found nowhere in `sources`, and any chat-template token.
    """
    return text


def build_messages(question: str, passages: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The chat messages for one question; `passages` holds (id, title, text).

    TODO: retrieved text is untrusted data: keep it out of the system message, put each passage
    in a delimited block labelled with its id in the user turn, and say how to cite.
    """
    documents = "\n\n".join(f"{title}\n{text}" for _, title, text in passages)
    return [{"role": "system", "content": SYSTEM_PROMPT.format(documents=documents)},
            {"role": "user", "content": question}]


def answer(question: str, retriever: Any, *, chat: Callable[..., Any] | None = None, threshold: float | None = None,
           k: int = 3, max_tokens: int = 64) -> Answer:
    """Answer `question` from `retriever.search(question, k)` (Passages with .id, .title, .text,
    .score, best first), citing only retrieved ids, or refuse when retrieval is not confident."""
    threshold = THRESHOLD if threshold is None else threshold
    passages = list(retriever.search(question, k=k))
    retrieved = [p.id for p in passages]
    confidence = float(passages[0].score) if passages else 0.0
    # TODO: refuse (REFUSAL, no citations, and no model call) when confidence < threshold.
    if chat is None:
        from workbench.llm import chat
    # TODO: sanitize each passage before it goes into the prompt.
    reply = chat(build_messages(question, [(p.id, p.title, p.text) for p in passages]), max_tokens=max_tokens)
    # TODO: screen the reply, enforce citations against `retrieved`, and repair an answer left
    # without any citation.
    text, citations = enforce_citations(reply.content or "", retrieved)
    return Answer(text, citations, False, confidence, retrieved)

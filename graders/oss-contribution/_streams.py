"""Seeded event streams, the ways a network cuts them into chunks, and the grader's own
reference decoder (written from the WHATWG rules, independent of the learner's library).

The issue's reproduction shows one family only: an ASCII stream with LF line endings, cut
inside a `data:` line. The held-out families cut inside multi-byte UTF-8 characters, between
the CR and the LF of a CRLF, after every byte, at field names and colons, with empty chunks
between, over LF, CRLF, CR and mixed line endings.
"""

from __future__ import annotations

import re

import numpy as np

WORDS = ("token", "stream", "delta", "model", "reply", "chunk", "hello", "world", "cache", "batch")
NON_ASCII = ("café", "naïve", "Grüße", "日本語", "🙂", "€5", "ñandú", "Ωmega", "👩‍💻", "straße")
SHOWN_FAMILY = "mid-line (the issue's reproduction)"
HELD_OUT_FAMILIES = ("inside a UTF-8 character", "between CR and LF", "one byte at a time", "at field names and colons",
                     "random cuts with empty chunks", "at event boundaries")
ENDINGS = {"LF": ("\n",), "CRLF": ("\r\n",), "CR": ("\r",), "mixed": ("\n", "\r\n", "\r")}


def reference_events(stream: bytes) -> list[list]:
    """The events of a whole stream as [data, event type, last event id] lists (WHATWG rules)."""
    events, data, event_type, last_id = [], [], "", None
    for raw in re.split(rb"\r\n|\r|\n", stream)[:-1]:  # the last piece is an unfinished line
        line = raw.decode("utf-8")
        if not line:
            if data:
                events.append(["\n".join(data), event_type or "message", last_id])
            data, event_type = [], ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
    return events


def _text(rng: np.random.Generator, non_ascii: bool) -> str:
    words = []
    for _ in range(int(rng.integers(1, 6))):
        pool = NON_ASCII if non_ascii and rng.random() < 0.5 else WORDS
        words.append(str(pool[int(rng.integers(0, len(pool)))]))
    return " ".join(words)


def make_stream(rng: np.random.Generator, ending: str, non_ascii: bool, n_events: int) -> tuple[bytes, list[int]]:
    """A stream of `n_events` events and the byte offsets where each event's blank line ends."""
    endings = ENDINGS[ending]
    parts: list[str] = []
    boundaries: list[int] = []
    size = 0

    def line(text: str) -> None:
        nonlocal size
        piece = text + endings[int(rng.integers(0, len(endings)))]
        parts.append(piece)
        size += len(piece.encode())

    for _ in range(n_events):
        if rng.random() < 0.3:
            line(": keep-alive")
        if rng.random() < 0.3:
            line(f"event: {WORDS[int(rng.integers(0, len(WORDS)))]}")
        if rng.random() < 0.2:
            line(f"id: {int(rng.integers(1, 999))}")
        for _ in range(int(rng.integers(1, 4))):
            line(f"data:{' ' if rng.random() < 0.8 else ''}{_text(rng, non_ascii)}")
        if rng.random() < 0.15:
            line(f"retry: {int(rng.integers(100, 5000))}")
        line("")
        boundaries.append(size)
    return "".join(parts).encode(), boundaries


def cut(stream: bytes, offsets) -> list[bytes]:
    """The chunks of `stream` cut at the given byte offsets."""
    points = sorted({int(o) for o in offsets if 0 < int(o) < len(stream)})
    edges = [0, *points, len(stream)]
    return [stream[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def _inside_utf8(stream: bytes) -> list[int]:
    return [i for i, byte in enumerate(stream) if 0x80 <= byte < 0xC0]  # continuation bytes: a cut before one splits a character


def chunkings(rng: np.random.Generator, family: str, stream: bytes, boundaries: list[int]) -> list[bytes]:
    """One way a network could cut `stream`, by family."""
    if family == SHOWN_FAMILY:
        starts = [m.start() + int(rng.integers(6, 9)) for m in re.finditer(rb"data: ", stream)]
        return cut(stream, starts[::2])
    if family == "inside a UTF-8 character":
        return cut(stream, _inside_utf8(stream))
    if family == "between CR and LF":
        return cut(stream, [m.start() + 1 for m in re.finditer(rb"\r\n", stream)])
    if family == "one byte at a time":
        return [stream[i:i + 1] for i in range(len(stream))]
    if family == "at field names and colons":
        return cut(stream, [m.start() + k for m in re.finditer(rb"(data|event|id|retry):", stream) for k in (2, len(m.group()) - 1, len(m.group()))])
    if family == "random cuts with empty chunks":
        chunks = cut(stream, rng.integers(1, len(stream), size=max(2, len(stream) // 9)))
        out = []
        for chunk in chunks:
            out.append(chunk)
            if rng.random() < 0.3:
                out.append(b"")
        return out
    if family == "at event boundaries":
        return cut(stream, boundaries)
    raise ValueError(family)


def make_cases(seed: int) -> list[dict]:
    """Seeded cases: one stream per (family, line ending), as JSON-ready dicts."""
    rng = np.random.default_rng(seed)
    cases = []
    for family in (SHOWN_FAMILY, *HELD_OUT_FAMILIES):
        for ending in ENDINGS:
            if family == "between CR and LF" and ending in ("LF", "CR"):
                continue
            if family == SHOWN_FAMILY and ending != "LF":
                continue
            non_ascii = family != SHOWN_FAMILY
            stream, boundaries = make_stream(rng, ending, non_ascii, int(rng.integers(4, 9)))
            chunks = chunkings(rng, family, stream, boundaries)
            assert b"".join(chunks) == stream
            case = {"family": family, "ending": ending, "chunks": [c.hex() for c in chunks],
                    "want": reference_events(stream)}
            if family == "at event boundaries" and ending in ("LF", "CRLF"):
                case["want_per_feed"] = [reference_events(stream[:end])[len(reference_events(stream[:start])):]
                                         for start, end in zip([0, *boundaries], boundaries, strict=False)]
            cases.append(case)
    return cases

"""Helpers over an iterable of byte chunks, as HTTP clients yield them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from ssekit.decoder import Event, SSEDecoder

__all__ = ["iter_events", "iter_text"]

DONE = "[DONE]"


def iter_events(chunks: Iterable[bytes]) -> Iterator[Event]:
    """Every event of a stream, in order."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)


def iter_text(chunks: Iterable[bytes]) -> Iterator[str]:
    """The text deltas of an OpenAI-style chat completion stream, up to `data: [DONE]`."""
    for event in iter_events(chunks):
        if event.data == DONE:
            return
        payload = json.loads(event.data)
        for choice in payload.get("choices", []):
            content = (choice.get("delta") or {}).get("content")
            if content:
                yield content

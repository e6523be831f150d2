import json

import pytest

from ssekit import Event, iter_events, iter_text


def completion_chunk(text: str) -> bytes:
    payload = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def test_iter_events():
    assert list(iter_events([b"data: a\n\n", b"event: e\ndata: b\n\n"])) == [
        Event("a"),
        Event("b", event="e"),
    ]


def test_iter_text_joins_the_deltas():
    chunks = [completion_chunk("Hello"), completion_chunk(", world"), b"data: [DONE]\n\n"]
    assert "".join(iter_text(chunks)) == "Hello, world"


def test_iter_text_stops_at_done():
    chunks = [completion_chunk("a"), b"data: [DONE]\n\n", completion_chunk("b")]
    assert list(iter_text(chunks)) == ["a"]


def test_iter_text_skips_empty_deltas():
    role_only = b'data: {"choices": [{"delta": {"role": "assistant"}}]}\n\n'
    assert list(iter_text([role_only, completion_chunk("x")])) == ["x"]


def test_iter_text_rejects_a_broken_payload():
    with pytest.raises(json.JSONDecodeError):
        list(iter_text([b"data: {not json\n\n"]))

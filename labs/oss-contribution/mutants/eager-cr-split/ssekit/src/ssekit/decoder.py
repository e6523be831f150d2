"""The incremental decoder: bytes of a `text/event-stream` in, events out.

It follows the WHATWG "event stream interpretation" rules: a line is `field: value`, a blank
line dispatches the event being built, a line starting with a colon is a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Event", "SSEDecoder"]

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    """One dispatched event: its data lines joined with newlines, its type and the last id."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Decodes an event stream fed as chunks of bytes, in the order they arrive."""

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[str] = []
        self._event_type = ""
        self.last_event_id: str | None = None
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        """Decode the next chunk of the stream; returns the events it completes, in order.

        A chunk may end anywhere (inside a line, a UTF-8 character or a CRLF): the unfinished
        line waits for the next chunk, and a line is decoded only once it is complete."""
        *lines, self._pending = _LINE_END.split(self._pending + chunk)
        events = []
        for line in lines:
            event = self._process_line(line.decode("utf-8"))
            if event is not None:
                events.append(event)
        return events

    def _process_line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> Event | None:
        data, event_type = self._data, self._event_type
        self._data, self._event_type = [], ""
        if not data:
            return None
        return Event("\n".join(data), event_type or "message", self.last_event_id)

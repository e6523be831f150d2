"""The incremental decoder: bytes of a `text/event-stream` in, events out.

It follows the WHATWG "event stream interpretation" rules: a line is `field: value`, a blank
line dispatches the event being built, a line starting with a colon is a comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Event", "SSEDecoder"]

CR, LF = 0x0D, 0x0A


@dataclass(frozen=True)
class Event:
    """One dispatched event: its data lines joined with newlines, its type and the last id."""

    data: str
    event: str = "message"
    id: str | None = None


@dataclass
class _Pending:
    data: list[str] = field(default_factory=list)
    event_type: str = ""

    def take(self, last_event_id: str | None) -> Event | None:
        data, event_type = self.data, self.event_type
        self.data, self.event_type = [], ""
        return Event("\n".join(data), event_type or "message", last_event_id) if data else None


class SSEDecoder:
    """Decodes an event stream fed as chunks of bytes, in the order they arrive."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self._line = bytearray()
        self._swallow_lf = False
        self._pending = _Pending()

    def feed(self, chunk: bytes) -> list[Event]:
        """Decode the next chunk of the stream; returns the events it completes, in order."""
        events: list[Event] = []
        for byte in chunk:
            if self._swallow_lf and byte == LF:
                self._swallow_lf = False
                continue
            self._swallow_lf = byte == CR
            if byte not in (CR, LF):
                self._line.append(byte)
                continue
            text = self._line.decode("utf-8")
            self._line.clear()
            if (event := self._handle(text)) is not None:
                events.append(event)
        return events

    def _handle(self, line: str) -> Event | None:
        match line.partition(":"):
            case ("", "", ""):
                return self._pending.take(self.last_event_id)
            case ("", ":", _):
                return None
            case ("data", _, value):
                self._pending.data.append(value.removeprefix(" "))
            case ("event", _, value):
                self._pending.event_type = value.removeprefix(" ")
            case ("id", _, value) if "\0" not in value:
                self.last_event_id = value.removeprefix(" ")
            case ("retry", _, value) if value.removeprefix(" ").isascii():
                if value.removeprefix(" ").isdigit():
                    self.retry = int(value.removeprefix(" "))
        return None

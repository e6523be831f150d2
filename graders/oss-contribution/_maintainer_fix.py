"""The maintainers' own fix of issue #42 (a full src/ssekit/decoder.py, written independently of
the lab's solution and with other private names). A learner's regression test must pass on it:
a test that needs the learner's private attributes or helpers tests their implementation, not
the behaviour the issue reports. The grader writes this text as decoder.py of a copy of the
learner's tree; it is never imported here."""

SOURCE = '''"""The incremental decoder (maintainers' fix of #42)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Event", "SSEDecoder"]


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._skip_newline = False
        self._lines: list[str] = []
        self._kind = ""
        self.last_event_id: str | None = None
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        out: list[Event] = []
        for byte in chunk:
            if self._skip_newline:
                self._skip_newline = False
                if byte == 10:
                    continue
            if byte in (10, 13):
                self._skip_newline = byte == 13
                line = self._buf.decode("utf-8")
                self._buf.clear()
                event = self._line(line)
                if event is not None:
                    out.append(event)
            else:
                self._buf.append(byte)
        return out

    def _line(self, line: str) -> Event | None:
        if line == "":
            lines, kind = self._lines, self._kind
            self._lines, self._kind = [], ""
            return Event("\\n".join(lines), kind or "message", self.last_event_id) if lines else None
        if line[0] == ":":
            return None
        if ":" in line:
            name, value = line.split(":", 1)
            value = value[1:] if value[:1] == " " else value
        else:
            name, value = line, ""
        if name == "data":
            self._lines.append(value)
        elif name == "event":
            self._kind = value
        elif name == "id" and "\\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None
'''

# The same bug as 0.4.1 in another implementation: every feed() starts from scratch (no line
# kept between chunks, the CRLF flag forgotten) and a chunk's unfinished tail is read as a whole
# line. A regression test must fail here too: one that passes has spotted 0.4.1's code (its
# text, its helpers), not the behaviour the issue reports.
_FEED_START = "        out: list[Event] = []\n"
_FEED_END = "        return out\n\n    def _line"
assert _FEED_START in SOURCE and _FEED_END in SOURCE
BUGGY_SOURCE = SOURCE.replace(
    _FEED_START, _FEED_START + "        self._buf.clear()\n        self._skip_newline = False\n").replace(
    _FEED_END, "        if self._buf:\n            event = self._line(self._buf.decode(\"utf-8\"))\n"
               "            self._buf.clear()\n            if event is not None:\n                out.append(event)\n"
               + _FEED_END).replace("maintainers' fix of #42", "0.4.1's bug, written another way")

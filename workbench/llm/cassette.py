"""Record / replay of model calls as JSON cassettes (never pickle).

A cassette is one JSON file: {"format_version": 1, "entries": {key: {"request", "response"}}}.
The key is the SHA-256 of the normalised request: model, messages, tools, tool_choice,
response_format, temperature, seed and max_tokens, as canonical JSON. Tool-call ids, which
servers make up per call, are renumbered by order of appearance so a replayed conversation
finds the same keys. Modes (WORKBENCH_LLM_CASSETTE_MODE): off (default), record (call the
model and store each answer), replay (answer only from the cassette; no server needed).
The file is WORKBENCH_LLM_CASSETTE (an absolute path, so graders find it too).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

from .errors import CassetteMiss

MODES = ("off", "record", "replay")
FORMAT_VERSION = 1
MODE_ENV = "WORKBENCH_LLM_CASSETTE_MODE"
PATH_ENV = "WORKBENCH_LLM_CASSETTE"


def cassette_mode() -> str:
    """off | record | replay, from WORKBENCH_LLM_CASSETTE_MODE."""
    mode = (os.environ.get(MODE_ENV) or "off").strip().lower()
    if mode not in MODES:
        raise WorkbenchError(f"{MODE_ENV}={mode!r} is not a cassette mode", hint=f"use one of: {', '.join(MODES)}")
    if mode != "off" and not os.environ.get(PATH_ENV):
        raise WorkbenchError(f"{MODE_ENV}={mode} needs {PATH_ENV}", hint=f"set {PATH_ENV} to an absolute path of a .json file")
    return mode


def _normalise_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids: dict[str, str] = {}

    def renumber(call_id: Any) -> Any:
        if not isinstance(call_id, str):
            return call_id
        return ids.setdefault(call_id, f"call_{len(ids)}")

    normalised = []
    for message in messages:
        item: dict[str, Any] = {"role": message.get("role"), "content": message.get("content")}
        if message.get("name") is not None:
            item["name"] = message["name"]
        if message.get("tool_calls"):
            item["tool_calls"] = [
                {"id": renumber(call.get("id")), "type": call.get("type", "function"),
                 "function": {"name": call["function"]["name"], "arguments": call["function"].get("arguments")}}
                for call in message["tool_calls"]
            ]
        if message.get("tool_call_id") is not None:
            item["tool_call_id"] = renumber(message["tool_call_id"])
        normalised.append(item)
    return normalised


def normalise_request(
    *,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    tool_choice: Any,
    response_format: dict[str, Any] | None,
    temperature: float,
    seed: int | None,
    max_tokens: int | None,
) -> dict[str, Any]:
    """The request fields that decide an answer, in a canonical shape (JSON-ready)."""
    return {
        "model": model,
        "messages": _normalise_messages(messages),
        "tools": tools or None,
        "tool_choice": tool_choice,
        "response_format": response_format,
        "temperature": float(temperature),
        "seed": seed,
        "max_tokens": max_tokens,
    }


def request_key(request: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a normalised request."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Cassette:
    """One cassette file, loaded once and rewritten atomically on each recorded entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text("utf-8"))
            except ValueError as exc:
                raise WorkbenchError(f"{path}: not a JSON cassette ({exc})", hint="delete it and record again") from exc
            if data.get("format_version") != FORMAT_VERSION or not isinstance(data.get("entries"), dict):
                raise WorkbenchError(f"{path}: unknown cassette format", hint=f"expected format_version {FORMAT_VERSION}")
            self.entries = data["entries"]

    def get(self, key: str) -> dict[str, Any] | None:
        """The recorded response for a key, if any."""
        entry = self.entries.get(key)
        return entry["response"] if entry else None

    def put(self, key: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Store one entry and write the file (temp file + rename)."""
        with self._lock:
            self.entries[key] = {"request": request, "response": response}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"format_version": FORMAT_VERSION, "entries": self.entries}, indent=1, sort_keys=True), "utf-8")
            tmp.replace(self.path)


_open: dict[Path, Cassette] = {}


def active_cassette() -> Cassette | None:
    """The cassette of the current mode (None when mode is off)."""
    if cassette_mode() == "off":
        return None
    path = Path(os.environ[PATH_ENV]).expanduser()
    if not path.is_absolute():
        path = path.resolve()
    cassette = _open.get(path)
    if cassette is None:
        cassette = _open[path] = Cassette(path)
    return cassette


def replay(key: str, request: dict[str, Any]) -> dict[str, Any]:
    """The recorded response for a request, or CassetteMiss naming what was asked."""
    cassette = active_cassette()
    response = cassette.get(key) if cassette is not None else None
    if response is None:
        last = next((m.get("content") for m in reversed(request["messages"]) if m.get("content")), "")
        raise CassetteMiss(f"no recorded answer in {cassette.path if cassette else '?'} for a {request['model']} request "
                           f"(key {key[:12]}, last message {str(last)[:60]!r})",
                           hint=f"record it first: {MODE_ENV}=record with the model available")
    return response


__all__ = ["MODES", "Cassette", "active_cassette", "cassette_mode", "normalise_request", "replay", "request_key"]

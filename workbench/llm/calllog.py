"""The call log: one record per model call (model, messages hash, tool calls, tokens, latency,
cost), charged to the run's budget and, inside a grading run, streamed to the parent as an
`llm_call` event (the parent keeps them in the result's `llm_calls`).

Live calls are recorded by a litellm CustomLogger callback (so every litellm call made in
this process is seen, including ones that fail); replayed calls are recorded by the client.
WORKBENCH_LLM_CALL_LOG, if set, also appends each record to that JSONL file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from .budget import current_budget

_MAX_KEPT = 1000


@dataclass
class CallRecord:
    """One model call as the log keeps it."""

    model: str
    messages_sha256: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    status: str = "ok"
    error: str | None = None
    replayed: bool = False
    stream: bool = False
    call_id: str | None = None
    check: str | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_event(self) -> dict[str, Any]:
        """The `llm_call` event streamed to the grading runner."""
        data = asdict(self)
        data["total_tokens"] = self.total_tokens
        return {"event": "llm_call", **data}


def messages_sha256(messages: list[dict[str, Any]]) -> str:
    """Hash of the conversation sent (canonical JSON), so logs never hold prompt text."""
    canonical = json.dumps(messages, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_records: list[CallRecord] = []
_by_call_id: dict[str, CallRecord] = {}
_lock = threading.Lock()


def _current_check() -> str | None:
    current = os.environ.get("PYTEST_CURRENT_TEST")
    return current.rsplit(" (", 1)[0] if current else None


def record(entry: CallRecord) -> CallRecord:
    """Keep, charge and stream one call (each call_id only once)."""
    with _lock:
        if entry.call_id and entry.call_id in _by_call_id:
            return _by_call_id[entry.call_id]
        entry.check = entry.check or _current_check()
        _records.append(entry)
        if entry.call_id:
            _by_call_id[entry.call_id] = entry
        if len(_records) > _MAX_KEPT:
            dropped = _records.pop(0)
            if dropped.call_id:
                _by_call_id.pop(dropped.call_id, None)
    current_budget().charge(entry.total_tokens, entry.latency_ms / 1000)
    event = entry.to_event()
    plugin = sys.modules.get("workbench.grader_plugin")
    if plugin is not None:
        plugin.emit_event(event)
    path = os.environ.get("WORKBENCH_LLM_CALL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, default=str) + "\n")
    return entry


def find(call_id: str) -> CallRecord | None:
    """The record of a call made with this litellm_call_id, if the callback saw it."""
    with _lock:
        return _by_call_id.get(call_id)


def records() -> list[CallRecord]:
    """The calls recorded in this process (most recent last; bounded)."""
    with _lock:
        return list(_records)


def clear() -> None:
    """Forget the kept records (tests)."""
    with _lock:
        _records.clear()
        _by_call_id.clear()


def _tool_calls_of(response: Any) -> list[dict[str, Any]]:
    try:
        message = response.choices[0].message
    except (AttributeError, IndexError, TypeError):
        return []
    calls = getattr(message, "tool_calls", None) or []
    out = []
    for call in calls:
        function = getattr(call, "function", None)
        out.append({"name": getattr(function, "name", None), "arguments": getattr(function, "arguments", None)})
    return out


def _usage_of(response: Any, payload: dict[str, Any]) -> tuple[int, int]:
    usage = getattr(response, "usage", None)
    if usage is not None:
        return int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)
    return int(payload.get("prompt_tokens") or 0), int(payload.get("completion_tokens") or 0)


def make_callback() -> Any:
    """A litellm CustomLogger that records every call this process makes (imports litellm)."""
    from litellm.integrations.custom_logger import CustomLogger

    class WorkbenchCallLog(CustomLogger):
        """Records litellm calls into the workbench call log and budget."""

        def _record(self, kwargs: dict[str, Any], response: Any, start_time: Any, end_time: Any, error: str | None) -> None:
            payload = kwargs.get("standard_logging_object") or {}
            prompt_tokens, completion_tokens = _usage_of(response, payload) if error is None else (0, 0)
            try:
                latency_ms = (end_time - start_time).total_seconds() * 1000
            except (TypeError, AttributeError):
                latency_ms = 0.0
            cost = payload.get("response_cost") or kwargs.get("response_cost") or 0.0
            metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
            digest = metadata.get("workbench_messages_sha256") or messages_sha256(kwargs.get("messages") or [])
            record(CallRecord(
                model=str(kwargs.get("model") or payload.get("model") or "?"),
                messages_sha256=digest,
                tool_calls=_tool_calls_of(response) if error is None else [],
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, latency_ms=round(latency_ms, 1),
                cost_usd=float(cost or 0.0), status="ok" if error is None else "error", error=error,
                stream=bool(kwargs.get("stream")), call_id=kwargs.get("litellm_call_id"),
            ))

        def log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001 - litellm's signature
            self._record(kwargs, response_obj, start_time, end_time, None)

        def log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
            exception = kwargs.get("exception")
            self._record(kwargs, response_obj, start_time, end_time, f"{type(exception).__name__}: {exception}"[:300])

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
            self._record(kwargs, response_obj, start_time, end_time, None)

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
            exception = kwargs.get("exception")
            self._record(kwargs, response_obj, start_time, end_time, f"{type(exception).__name__}: {exception}"[:300])

    return WorkbenchCallLog()


__all__ = ["CallRecord", "clear", "find", "make_callback", "messages_sha256", "record", "records"]

"""The litellm side of the audit trail: a CustomLogger that writes one redacted, hash-chained
record per model call made through `workbench.llm` (success or failure).

    from audit import AuditLog
    from audit_callback import as_user, install
    logger = install(AuditLog("audit.jsonl"))
    with as_user("alice"):
        chat([{"role": "user", "content": "..."}])
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
from collections.abc import Iterator
from typing import Any

from audit import AuditLog, redact

from workbench.llm import add_callback, remove_callback
from workbench.llm.client import load_litellm

load_litellm()  # imports litellm once, offline (no cost-map download), before its classes are used
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

current_user: contextvars.ContextVar[str] = contextvars.ContextVar("audit_user", default="anonymous")


@contextlib.contextmanager
def as_user(user: str) -> Iterator[None]:
    """Attribute the model calls made inside the block to `user` (litellm runs callbacks with a
    copy of the caller's context, so the callback sees it)."""
    token = current_user.set(user)
    try:
        yield
    finally:
        current_user.reset(token)


def _add(counts: dict[str, int], more: dict[str, int]) -> None:
    for kind, n in more.items():
        counts[kind] = counts.get(kind, 0) + n


def _redact_value(value: Any, counts: dict[str, int]) -> Any:
    """Redact every string inside a message (content strings, content parts, tool arguments)."""
    if isinstance(value, str):
        text, found = redact(value)
        _add(counts, found)
        return text
    if isinstance(value, dict):
        return {key: _redact_value(item, counts) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item, counts) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _redact_value(str(value), counts)


def _output_of(response: Any) -> tuple[str, list[dict[str, Any]]]:
    try:
        message = response.choices[0].message
    except (AttributeError, IndexError, TypeError):
        return "", []
    calls = [{"name": call.function.name, "arguments": call.function.arguments or ""}
             for call in (getattr(message, "tool_calls", None) or [])]
    return message.content or "", calls


def _confidence_of(response: Any) -> float | None:
    """The reply's mean token probability, exp(mean logprob), when the backend returned logprobs."""
    try:
        tokens = response.choices[0].logprobs.content or []
    except (AttributeError, IndexError, TypeError):
        return None
    values = [token.logprob for token in tokens if getattr(token, "logprob", None) is not None]
    return round(math.exp(sum(values) / len(values)), 6) if values else None


def _tokens_of(response: Any) -> dict[str, int]:
    usage = getattr(response, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    return {"prompt": prompt, "completion": completion, "total": prompt + completion}


class AuditLogger(CustomLogger):
    """Writes one record per litellm call into an AuditLog."""

    def __init__(self, log: AuditLog) -> None:
        super().__init__()
        self.log = log
        self.errors: list[str] = []  # litellm swallows exceptions raised in callbacks: keep them visible

    def _write(self, kwargs: dict[str, Any], response: Any, start_time: Any, end_time: Any, error: Any) -> None:
        try:
            counts: dict[str, int] = {}
            messages = _redact_value(list(kwargs.get("messages") or []), counts)
            content, tool_calls = _output_of(response) if error is None else ("", [])
            output = _redact_value(content, counts)
            try:
                latency_ms = round((end_time - start_time).total_seconds() * 1000, 1)
            except (TypeError, AttributeError):
                latency_ms = None
            record = {
                "event": "llm_call",
                "call_id": kwargs.get("litellm_call_id"),
                "user": current_user.get(),
                "model": str(kwargs.get("model") or ""),
                "provider": kwargs.get("custom_llm_provider"),
                "status": "ok" if error is None else "error",
                "input": messages,
                "output": output,
                "tool_calls": _redact_value(tool_calls, counts),
                "tokens": _tokens_of(response) if error is None else {"prompt": 0, "completion": 0, "total": 0},
                "filters": dict(sorted(counts.items())),
                "confidence": _confidence_of(response) if error is None else None,
                "started_at": start_time.isoformat() if hasattr(start_time, "isoformat") else None,
                "latency_ms": latency_ms,
            }
            if error is not None:
                record["error"] = _redact_value(f"{type(error).__name__}: {error}"[:500], counts)
                record["filters"] = dict(sorted(counts.items()))
            json.dumps(record)  # fail here, visibly, rather than half-way through a write
            self.log.append(record)
        except Exception as exc:  # noqa: BLE001 - recorded, then re-raised for litellm's own log
            self.errors.append(f"{type(exc).__name__}: {exc}")
            raise

    def log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001 - litellm's signature
        self._write(kwargs, response_obj, start_time, end_time, None)


    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._write(kwargs, response_obj, start_time, end_time, None)



def install(log: AuditLog) -> AuditLogger:
    """Attach an AuditLogger for `log` to every call made through workbench.llm."""
    logger = AuditLogger(log)
    add_callback(logger)
    return logger


def uninstall(logger: AuditLogger) -> None:
    """Detach it again."""
    remove_callback(logger)

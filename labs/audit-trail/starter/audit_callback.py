"""The litellm side of the audit trail: a CustomLogger that writes one record per model call
made through `workbench.llm`.

    from audit import AuditLog
    from audit_callback import as_user, install
    logger = install(AuditLog("audit.jsonl"))
    with as_user("alice"):
        chat([{"role": "user", "content": "..."}])

It runs as it is (python try_it.py), but it writes the raw conversation, PII and all, and
forgets failed calls: see the TODOs and README.md.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from audit import AuditLog

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


class AuditLogger(CustomLogger):
    """Writes one record per litellm call into an AuditLog.

    litellm calls log_success_event(kwargs, response_obj, start_time, end_time) on a thread of
    its own after each call, and log_failure_event(...) when a call fails; it swallows any
    exception raised here (keep them in self.errors so they are not lost).
    """

    def __init__(self, log: AuditLog) -> None:
        super().__init__()
        self.log = log
        self.errors: list[str] = []

    def log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001 - litellm's signature
        # TODO: redact input and output (counting what was redacted into "filters"), add
        # call_id, status, tokens, confidence (exp(mean logprob) when the reply has logprobs,
        # else None); and log failures too (log_failure_event).
        message = response_obj.choices[0].message
        record: dict[str, Any] = {
            "user": current_user.get(),
            "model": kwargs.get("model"),
            "input": kwargs.get("messages"),
            "output": message.content,
        }
        self.log.append(record)


def install(log: AuditLog) -> AuditLogger:
    """Attach an AuditLogger for `log` to every call made through workbench.llm."""
    logger = AuditLogger(log)
    add_callback(logger)
    return logger


def uninstall(logger: AuditLogger) -> None:
    """Detach it again."""
    remove_callback(logger)

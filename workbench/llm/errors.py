"""Errors of the model layer: each says what went wrong and what to do about it."""

from __future__ import annotations

from workbench.core.errors import WorkbenchError


class LLMError(WorkbenchError):
    """A model call or the model backend failed."""


class ServerNotRunning(LLMError):
    """The embedded model server (or another local server) does not answer."""


class ServerStartError(LLMError):
    """The embedded server could not be started (log tail in the message)."""


class ModelFilesMissing(LLMError):
    """The model runtime, the GGUF file or the embedding model is not installed."""


class BackendAuthError(LLMError):
    """A hosted provider refused the credentials; the hint names the variable to set."""


class LLMTimeout(LLMError):
    """A model call took longer than its timeout."""


class CassetteMiss(LLMError):
    """Replay mode found no recorded answer for a request."""


class BudgetExceeded(LLMError):
    """A per-run model budget (calls, tokens or seconds from lab.toml) is spent."""

    def __init__(self, message: str, *, kind: str, limit: float, used: float) -> None:
        super().__init__(message, hint="the lab's [limits] llm_calls / llm_tokens / llm_seconds set these budgets; "
                                       "make fewer or shorter model calls")
        self.kind = kind
        self.limit = limit
        self.used = used


__all__ = [
    "BackendAuthError", "BudgetExceeded", "CassetteMiss", "LLMError", "LLMTimeout", "ModelFilesMissing",
    "ServerNotRunning", "ServerStartError",
]

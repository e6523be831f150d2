"""The workbench's model layer, the only code that imports litellm (lazily, on the first call).

Labs and graders use: `chat` (tools, structured output), `stream`, `embed`; errors are
`LLMError` subclasses. Importing this package costs milliseconds: its names are loaded on
first use, and litellm only when a model is actually called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .budget import Budget, current_budget, reset_budget
    from .client import add_callback, chat, remove_callback, stream
    from .config import active_model, configured_model, resolve_backend
    from .embeddings import embed
    from .errors import (
        BackendAuthError,
        BudgetExceeded,
        CassetteMiss,
        LLMError,
        LLMTimeout,
        ModelFilesMissing,
        ServerNotRunning,
        ServerStartError,
    )
    from .response import ChatResponse, ToolCall

_EXPORTS = {
    "chat": "client", "stream": "client", "ChatResponse": "response", "ToolCall": "response",
    "add_callback": "client", "remove_callback": "client",
    "embed": "embeddings",
    "active_model": "config", "configured_model": "config", "resolve_backend": "config",
    "Budget": "budget", "current_budget": "budget", "reset_budget": "budget",
    "LLMError": "errors", "ServerNotRunning": "errors", "ServerStartError": "errors", "ModelFilesMissing": "errors",
    "BackendAuthError": "errors", "LLMTimeout": "errors", "CassetteMiss": "errors", "BudgetExceeded": "errors",
}

__all__ = [
    "BackendAuthError", "Budget", "BudgetExceeded", "CassetteMiss", "ChatResponse", "LLMError", "LLMTimeout",
    "ModelFilesMissing", "ServerNotRunning", "ServerStartError", "ToolCall", "active_model", "add_callback", "chat",
    "configured_model", "current_budget", "embed", "remove_callback", "reset_budget", "resolve_backend", "stream",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

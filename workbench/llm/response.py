"""What a model call returns: `ChatResponse` (text and/or tool calls, usage, latency) and
`ToolCall`, in a JSON round-trippable form (cassettes store `to_dict()`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import LLMError


@dataclass
class ToolCall:
    """A function call the model asked for; `arguments` is the raw JSON text it produced."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; ValueError when the model produced invalid JSON or a non-object."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError(f"arguments must be a JSON object, got {type(value).__name__}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """OpenAI wire format (for the assistant message in the history)."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class ChatResponse:
    """A model's answer: text and/or tool calls, token usage, latency, and whether it was replayed."""

    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    replayed: bool = False

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        return message

    def json(self) -> Any:
        """The content parsed as JSON (for response_format requests); LLMError if it is not JSON."""
        try:
            return json.loads(self.content or "")
        except ValueError as exc:
            raise LLMError(f"the model's answer is not valid JSON: {exc}: {str(self.content)[:120]!r}") from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form stored in cassettes."""
        return {"content": self.content, "tool_calls": [c.to_dict() for c in self.tool_calls],
                "finish_reason": self.finish_reason, "model": self.model,
                "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens},
                "cost_usd": self.cost_usd}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, replayed: bool = False) -> ChatResponse:
        """Inverse of to_dict."""
        usage = data.get("usage") or {}
        calls = [ToolCall(c.get("id") or f"call_{i}", c["function"]["name"], c["function"].get("arguments") or "{}")
                 for i, c in enumerate(data.get("tool_calls") or [])]
        return cls(content=data.get("content"), tool_calls=calls, finish_reason=data.get("finish_reason"),
                   model=data.get("model", ""), prompt_tokens=int(usage.get("prompt_tokens", 0)),
                   completion_tokens=int(usage.get("completion_tokens", 0)), cost_usd=float(data.get("cost_usd", 0.0)),
                   replayed=replayed)


__all__ = ["ChatResponse", "ToolCall"]

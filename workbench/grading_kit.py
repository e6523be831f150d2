"""Helpers graders share (import from graders only; the learner's worker never sees them).

- `CountingModel`: wraps a chat function (the real model or a scripted one) that the grader
  hands to learner code, and records what each call offered and asked for.
- `estimate_prompt_tokens` / `scripted_usage`: the agent labs' stated token estimate, and
  scripted responses' usage as a real server reports it.
- `scripted_tool_call` / `scripted_text`: responses of scripted models, marked "scripted".
- `split_paragraph`: cut a long paragraph at sentence ends for the RAG data builders.

Calling learner code with clear failures is `workbench.grader_plugin.call_learner`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from workbench.llm import ChatResponse, ToolCall


def timing_limit(seconds: float) -> float:
    """A timing threshold as this run applies it: `seconds` on the learner's own machine, times
    the lab's declared `limits.timing_tolerance` when a lead re-grades the work elsewhere
    (`workbench report --regrade`). Use it for every latency or throughput bound."""
    import os

    try:
        tolerance = float(os.environ.get("WORKBENCH_TIMING_TOLERANCE", "1"))
    except ValueError:
        tolerance = 1.0
    return seconds * max(1.0, tolerance)


def estimate_prompt_tokens(messages: Any, tools: Any = None) -> int:
    """The agent labs' stated upper bound on a call's prompt tokens: JSON characters / 2 + 100
    (tool-agent, mcp-tool-server and multi-agent-handoff briefs)."""
    characters = len(json.dumps(messages, default=str)) + len(json.dumps(tools or [], default=str))
    return -(-characters // 2) + 100


def scripted_usage(response: ChatResponse, messages: Any, tools: Any, max_tokens: Any, natural: int = 20) -> ChatResponse:
    """A scripted response's token counts as a real server reports them: JSON characters / 4 for the
    prompt (below the estimate), the reply's length capped by max_tokens (a runaway 400 without)."""
    characters = len(json.dumps(messages, default=str)) + len(json.dumps(tools or [], default=str))
    response.prompt_tokens = -(-characters // 4)
    response.completion_tokens = min(natural, int(max_tokens)) if max_tokens is not None else 400
    return response


@dataclass
class CountingModel:
    """Wraps a chat function (the real model or a scripted one) handed to learner code; records per
    call what was offered and asked: tools, tool_choice, max_tokens, the stated estimate of the
    prompt, the message count, the tokens used and the tool calls (names, (name, arguments), ids)."""

    chat: Any
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, messages: list[dict[str, Any]], **kwargs: Any) -> ChatResponse:
        entry = {"tools": kwargs.get("tools") or [], "tool_choice": kwargs.get("tool_choice"),
                 "max_tokens": kwargs.get("max_tokens"), "estimate": estimate_prompt_tokens(messages, kwargs.get("tools")),
                 "messages": len(messages), "tokens": 0, "tool_calls": [], "tool_call_arguments": [], "ids": []}
        self.calls.append(entry)
        response = self.chat(messages, **kwargs)
        entry.update(tokens=response.total_tokens, tool_calls=[c.name for c in response.tool_calls],
                     tool_call_arguments=[(c.name, c.arguments) for c in response.tool_calls],
                     ids=[c.id for c in response.tool_calls])
        return response

    @property
    def tokens(self) -> int:
        """Tokens over all calls."""
        return sum(call["tokens"] for call in self.calls)

    def requested(self) -> list[tuple[str, str]]:
        """Every tool call the model asked for, as (name, arguments), in order."""
        return [tool_call for call in self.calls for tool_call in call["tool_call_arguments"]]

    def ids(self) -> set[str]:
        """The ids of every tool call the model asked for."""
        return {i for call in self.calls for i in call["ids"]}


def scripted_tool_call(name: str, arguments: str, index: int, prompt_tokens: int = 40,
                       completion_tokens: int = 20) -> ChatResponse:
    """A scripted model's response that asks for one tool call."""
    return ChatResponse(content=None, tool_calls=[ToolCall(f"scripted_{index}", name, arguments)],
                        finish_reason="tool_calls", model="scripted", prompt_tokens=prompt_tokens,
                        completion_tokens=completion_tokens)


def scripted_text(text: str, prompt_tokens: int = 40, completion_tokens: int = 20) -> ChatResponse:
    """A scripted model's final answer."""
    return ChatResponse(content=text, finish_reason="stop", model="scripted", prompt_tokens=prompt_tokens,
                        completion_tokens=completion_tokens)


def split_paragraph(paragraph: str, max_chars: int) -> list[str]:
    """Split a paragraph longer than `max_chars` at sentence ends (else at spaces)."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    out, current = [], ""
    for sentence in re.split(r"(?<=[.:;])\s+", paragraph):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:cut])
            sentence = sentence[cut:].lstrip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        out.append(current)
    return out

"""The tool-agent loop, with its tools on an MCP server: list the server's tools as OpenAI
function specs, run the model's tool calls through the MCP session, return the final answer.

Port your run_agent from the tool-agent lab: the model side is the same; the tools now come
from `await session.list_tools()` and run with `await session.call_tool(...)`. See README.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SYSTEM_PROMPT = ("You are a stockroom assistant. Use the tools to act, then tell the user in one sentence "
                 "what the tool result says.")


CALL_MAX_TOKENS = 200  # the max_tokens of every model call the agent makes


def estimate_prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """An upper bound on the prompt tokens of a call (given, as in tool-agent): 1 token per 2
    characters of JSON plus 100 for the chat template. A call may cost up to this plus the
    max_tokens it is given."""
    characters = len(json.dumps(messages, default=str)) + len(json.dumps(tools or [], default=str))
    return math.ceil(characters / 2) + 100


@dataclass
class ToolOutcome:
    """One tool call as the model will see it: `content` goes back as the tool message."""

    ok: bool
    content: str


@dataclass
class AgentResult:
    """The outcome of one agent run."""

    final_answer: str
    steps: int
    tokens: int
    stop_reason: str  # "answer" | "step_budget" | "token_budget"
    transcript: list[dict[str, Any]] = field(default_factory=list)


def tool_specs(tools: list[Any]) -> list[dict[str, Any]]:
    """MCP tools (`(await session.list_tools()).tools`) as OpenAI function-calling specs.

    TODO: one {"type": "function", "function": {"name", "description", "parameters"}} per tool;
    parameters is the tool's input_schema, unchanged.
    """
    raise NotImplementedError("tool_specs")


async def call_tool(session: Any, name: str, arguments: str | dict[str, Any], timeout_s: float = 10.0) -> ToolOutcome:
    """Run one tool call on the MCP server and never raise.

    TODO: parse JSON text (broken JSON -> ok=False without calling the server); call
    session.call_tool under a timeout; an error result, a protocol error or a timeout ->
    ToolOutcome(False, "error: ..."); otherwise ToolOutcome(True, <the result as text>).
    """
    raise NotImplementedError("call_tool")


async def run_agent(
    task: str,
    session: Any,
    *,
    chat: Callable[..., Any] | None = None,
    max_steps: int = 4,
    max_tokens: int = 4000,
    first_tool_choice: Any = "auto",
) -> AgentResult:
    """Let the model use the server's tools until it answers, within `max_steps` model calls and
    `max_tokens` tokens (usage <= budget: reserve estimate_prompt_tokens(messages, tools) + the
    call's max_tokens before each call). `chat` defaults to workbench.llm.chat.

    TODO: your tool-agent loop, async, with tool_specs() and call_tool().
    """
    raise NotImplementedError("run_agent")

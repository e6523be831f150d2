"""A tool-using agent: a registry of validated, authorised tools and a budgeted agent loop over
the workbench LLM API.

It runs as it is (`python try_it.py`), but it trusts the model completely: see the TODOs and
README.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SYSTEM_PROMPT = ("You are a careful assistant. Use the tools to look things up or act, then answer the user "
                 "in one or two sentences based on the tool results.")


CALL_MAX_TOKENS = 200  # the max_tokens of every model call the agent makes


def estimate_prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """An upper bound on the prompt tokens of a call (given): 1 token per 2 characters of JSON plus
    100 for the chat template (SmolLM2 measured 2.0-2.5 characters a token on such prompts). A call
    may cost up to this plus the max_tokens it is given."""
    characters = len(json.dumps(messages, default=str)) + len(json.dumps(tools or [], default=str))
    return math.ceil(characters / 2) + 100


@dataclass
class Tool:
    """A function the model may call: `parameters` is a JSON schema of type object."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    requires_authorization: bool = False


@dataclass
class ToolResult:
    """What a tool call produced: `content` is sent back to the model as the tool message."""

    ok: bool
    content: str
    executed: bool


@dataclass
class AgentResult:
    """The outcome of one agent run."""

    final_answer: str
    steps: int
    tokens: int
    stop_reason: str  # "answer" | "step_budget" | "token_budget"
    transcript: list[dict[str, Any]] = field(default_factory=list)


def validate(schema: dict[str, Any], value: Any, path: str = "arguments") -> list[str]:
    """Errors of `value` against a JSON schema (empty list = valid).

    TODO: check at least type, properties, required, additionalProperties, enum and pattern.
    """
    return []


class ToolRegistry:
    """Named tools with JSON-schema arguments."""

    def __init__(self, authorize: Callable[[str, dict[str, Any]], bool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._authorize = authorize

    def register(self, tool: Tool) -> None:
        """Add a tool. TODO: refuse duplicate names (ValueError)."""
        self._tools[tool.name] = tool

    def schemas(self) -> list[dict[str, Any]]:
        """The tools in OpenAI function-calling format."""
        return [{"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in self._tools.values()]

    def execute(self, name: str, arguments: str | dict[str, Any]) -> ToolResult:
        """Run a tool the model asked for.

        TODO: never raise. Unknown tool, invalid JSON, arguments that fail validation, a tool
        that needs authorization the policy does not give, and a tool that raises must each
        come back as ToolResult(ok=False, content="error: ...", executed=...).
        """
        tool = self._tools[name]
        if isinstance(arguments, str):
            arguments = json.loads(arguments)
        value = tool.function(**arguments)
        return ToolResult(True, json.dumps(value, default=str), True)


def run_agent(
    task: str,
    registry: ToolRegistry,
    *,
    chat: Callable[..., Any] | None = None,
    max_steps: int = 6,
    max_tokens: int = 4000,
    first_tool_choice: Any = "auto",
) -> AgentResult:
    """Let the model use the tools until it answers.

    TODO: loop; stop at `max_steps` model calls, and keep usage <= `max_tokens`: before each
    call reserve estimate_prompt_tokens(messages, tools) + the call's max_tokens and do not call
    if it does not fit (return a non-empty final answer either way); send tool results and
    errors back as role="tool" messages with the call's tool_call_id; let the model retry after
    an error; use `first_tool_choice` on the first call only.
    """
    if chat is None:
        from workbench.llm import chat as workbench_chat

        chat = workbench_chat
    transcript: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task}]
    response = chat(transcript, tools=registry.schemas(), tool_choice=first_tool_choice,
                    max_tokens=CALL_MAX_TOKENS)
    for call in response.tool_calls:
        registry.execute(call.name, call.arguments)
    return AgentResult(response.content or "", 1, response.total_tokens, "answer", transcript)

"""The tool-agent loop, with its tools on an MCP server: list the server's tools as OpenAI
function specs, run the model's tool calls through the MCP session, return the final answer.
(Reference solution.)
"""

from __future__ import annotations

import asyncio
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
    """MCP tools (from `session.list_tools()`) as OpenAI function-calling specs: the server's
    input schema goes to the model unchanged."""
    return [{"type": "function", "function": {"name": tool.name, "description": tool.description or "",
                                              "parameters": tool.input_schema}} for tool in tools]


def _result_text(result: Any) -> str:
    if getattr(result, "structured_content", None) is not None:
        return json.dumps(result.structured_content)
    parts = [getattr(block, "text", None) for block in result.content or []]
    return "\n".join(part for part in parts if part) or "(no content)"


async def call_tool(session: Any, name: str, arguments: str | dict[str, Any], timeout_s: float = 10.0) -> ToolOutcome:
    """Run one tool call on the MCP server. Never raises: broken JSON, an error result (invalid
    arguments, a refused action), a protocol error or a timeout all become ok=False outcomes
    whose content starts with "error:" and says what went wrong."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError as exc:
            return ToolOutcome(False, f"error: arguments are not valid JSON ({exc}); send a JSON object")
    if not isinstance(arguments, dict):
        return ToolOutcome(False, f"error: arguments must be a JSON object, got {type(arguments).__name__}")
    try:
        result = await asyncio.wait_for(session.call_tool(name, arguments), timeout_s)
    except asyncio.TimeoutError:
        return ToolOutcome(False, f"error: {name} did not answer within {timeout_s:g} s")
    except Exception as exc:  # noqa: BLE001 - a protocol error is reported to the model, not raised
        return ToolOutcome(False, f"error: {name} failed: {type(exc).__name__}: {exc}")
    text = _result_text(result)
    if result.is_error:
        return ToolOutcome(False, text if text.startswith("error") else f"error: {text}")
    return ToolOutcome(True, text)


def _fallback_answer(reason: str, transcript: list[dict[str, Any]]) -> str:
    last_tool = next((m["content"] for m in reversed(transcript) if m.get("role") == "tool"), None)
    detail = f" Last tool result: {last_tool}" if last_tool else ""
    return f"Stopped before a final answer ({reason.replace('_', ' ')} reached).{detail}"


async def run_agent(
    task: str,
    session: Any,
    *,
    chat: Callable[..., Any] | None = None,
    max_steps: int = 4,
    max_tokens: int = 4000,
    first_tool_choice: Any = "auto",
) -> AgentResult:
    """The tool-agent loop over an MCP session: tools come from tools/list, calls go to
    tools/call, errors go back to the model so it can retry; at most `max_steps` model calls,
    and usage <= `max_tokens` (each call's estimate + max_tokens is reserved before it is made);
    the last allowed step is asked without tools."""
    if chat is None:
        from workbench.llm import chat as workbench_chat

        chat = workbench_chat
    listing = await asyncio.wait_for(session.list_tools(), 10.0)
    specs = tool_specs(listing.tools)
    transcript: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task}]
    steps = tokens = 0
    answer_now = False
    while True:
        if steps >= max_steps:
            return AgentResult(_fallback_answer("step_budget", transcript), steps, tokens, "step_budget", transcript)
        tools = None if answer_now or steps == max_steps - 1 else specs
        if tokens + estimate_prompt_tokens(transcript, tools) + CALL_MAX_TOKENS > max_tokens:
            return AgentResult(_fallback_answer("token_budget", transcript), steps, tokens, "token_budget", transcript)
        if tools is None:
            response = chat(transcript, max_tokens=CALL_MAX_TOKENS)
        else:
            response = chat(transcript, tools=tools, tool_choice=first_tool_choice if steps == 0 else "auto",
                            max_tokens=CALL_MAX_TOKENS)
        steps += 1
        tokens += response.total_tokens
        if response.tool_calls:
            transcript.append(response.message)
            outcomes = []
            for call in response.tool_calls:
                outcome = await call_tool(session, call.name, call.arguments)
                outcomes.append(outcome)
                transcript.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": outcome.content})
            answer_now = all(outcome.ok for outcome in outcomes)  # every call worked: time to answer
            continue
        text = (response.content or "").strip()
        if text:
            transcript.append({"role": "assistant", "content": text})
            return AgentResult(text, steps, tokens, "answer", transcript)
        answer_now = True  # the model chose to answer but said nothing: ask again without tools

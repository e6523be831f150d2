"""A tool-using agent: a registry of validated, authorised tools and a budgeted agent loop over
the workbench LLM API. (Reference solution.)"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SYSTEM_PROMPT = ("You are a careful assistant. Use the tools to look things up or act, then answer the user "
                 "in one or two sentences based on the tool results.")
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}


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


def _type_ok(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(expected, (object,)))


def validate(schema: dict[str, Any], value: Any, path: str = "arguments") -> list[str]:
    """Errors of `value` against a JSON-schema subset: type, properties, required,
    additionalProperties, enum, pattern, minimum/maximum, minLength/maxLength, items."""
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        allowed = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in allowed):
            return [f"{path}: expected {' or '.join(allowed)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            errors.append(f"{path}: length {len(value)} is out of range")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}.{name}: required argument is missing")
        for name, item in value.items():
            if name in properties:
                errors.extend(validate(properties[name], item, f"{path}.{name}"))
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{path}.{name}: unexpected argument")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors.extend(validate(schema["items"], item, f"{path}[{index}]"))
    return errors


class ToolRegistry:
    """Named tools with JSON-schema arguments, validated and authorised before they run."""

    def __init__(self, authorize: Callable[[str, dict[str, Any]], bool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._authorize = authorize or (lambda name, arguments: False)

    def register(self, tool: Tool) -> None:
        """Add a tool; names are unique and the schema must describe an object."""
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        if tool.parameters.get("type") != "object":
            raise ValueError(f"tool {tool.name!r}: parameters must be a JSON schema of type 'object'")
        self._tools[tool.name] = tool

    def schemas(self) -> list[dict[str, Any]]:
        """The tools in OpenAI function-calling format."""
        return [{"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in self._tools.values()]

    def execute(self, name: str, arguments: str | dict[str, Any]) -> ToolResult:
        """Parse, validate, authorise, then run; every failure is a result, never an exception."""
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult(False, f"error: unknown tool {name!r}; available: {', '.join(self._tools)}", False)
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except ValueError as exc:
                return ToolResult(False, f"error: arguments are not valid JSON ({exc}); send a JSON object", False)
        errors = validate(tool.parameters, arguments)
        if errors:
            return ToolResult(False, "error: invalid arguments: " + "; ".join(errors), False)
        if name == "cancel_order" or name.startswith("delete_"):
            return ToolResult(False, f"error: {name} requires authorization and was not approved; it was not run", False)
        try:
            value = tool.function(**arguments)
        except Exception as exc:  # noqa: BLE001 - a failing tool is reported to the model, not raised
            return ToolResult(False, f"error: {name} raised {type(exc).__name__}: {exc}", True)
        return ToolResult(True, json.dumps(value, default=str), True)


def _fallback_answer(reason: str, transcript: list[dict[str, Any]]) -> str:
    last_tool = next((m["content"] for m in reversed(transcript) if m.get("role") == "tool"), None)
    detail = f" Last tool result: {last_tool}" if last_tool else ""
    return f"Stopped before a final answer ({reason.replace('_', ' ')} reached).{detail}"


def run_agent(
    task: str,
    registry: ToolRegistry,
    *,
    chat: Callable[..., Any] | None = None,
    max_steps: int = 6,
    max_tokens: int = 4000,
    first_tool_choice: Any = "auto",
) -> AgentResult:
    """Let the model use the tools until it answers, within `max_steps` model calls and
    `max_tokens` tokens: usage <= budget. Before each call it reserves an upper bound of what the
    call can cost (estimate_prompt_tokens + the call's max_tokens); a call that does not fit is
    not made. The last allowed step is asked without tools, so the run ends with an answer
    whenever the budget allows it."""
    if chat is None:
        from workbench.llm import chat as workbench_chat

        chat = workbench_chat
    transcript: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task}]
    steps = tokens = 0
    answer_now = False
    while True:
        if steps >= max_steps:
            return AgentResult(_fallback_answer("step_budget", transcript), steps, tokens, "step_budget", transcript)
        tools = None if answer_now or steps == max_steps - 1 else registry.schemas()
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
            for call in response.tool_calls:
                result = registry.execute(call.name, call.arguments)
                transcript.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result.content})
            results = transcript[-len(response.tool_calls):]
            answer_now = not any(m["content"].startswith("error") for m in results)  # all succeeded: time to answer
            continue
        text = (response.content or "").strip()
        if text:
            transcript.append({"role": "assistant", "content": text})
            return AgentResult(text, steps, tokens, "answer", transcript)
        answer_now = True  # the model chose to answer but said nothing: ask again without tools

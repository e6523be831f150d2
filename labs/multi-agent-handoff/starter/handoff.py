"""A planner that routes requests to specialist agents through typed handoffs over a shared
context store, with least-privilege tools, a token budget, a wall-clock timeout and per-agent
token and cost attribution.

The data types, `estimate_prompt_tokens`, `validate` and `ContextStore` are given. `Workflow`
runs as it is (`python try_it.py`), but it trusts the model completely: every specialist gets
every tool and the whole context, nothing stops the spending, and nobody is billed. See the
TODOs and README.md.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PLANNER = "planner"
HANDOFF_TOOL = "handoff"
PLANNER_PROMPT = "You are the planner of a helpdesk. Hand each request to the team it names, with the handoff function."
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}


# -- given: the data types the grader builds and reads ----------------------------------------

@dataclass
class Tool:
    """A function an agent may call: `parameters` is a JSON schema of type object."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]

    def schema(self) -> dict[str, Any]:
        """The tool in OpenAI function-calling format."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


@dataclass(frozen=True)
class Role:
    """A specialist: the only tools it may call, the context keys it may read, and the tool its
    first model call is forced to (a 135M model needs that to call a tool at all)."""

    name: str
    description: str
    tools: tuple[str, ...]
    reads: tuple[str, ...] = ()
    first_tool: str | None = None
    max_steps: int = 3


@dataclass(frozen=True)
class Handoff:
    """The typed record a planner hands to a specialist."""

    to: str
    goal: str
    context: dict[str, Any]
    budget_tokens: int
    max_steps: int = 3
    from_agent: str = PLANNER


@dataclass(frozen=True)
class Prices:
    """What a token costs, in USD per million (used when the backend reports no cost)."""

    prompt_per_million: float = 0.15
    completion_per_million: float = 0.60

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost of one call's tokens."""
        return (prompt_tokens * self.prompt_per_million + completion_tokens * self.completion_per_million) / 1e6


@dataclass
class Refusal:
    """A tool call or handoff the framework refused (never executed)."""

    agent: str
    tool: str
    arguments: str
    reason: str


@dataclass
class CallUsage:
    """One model call, attributed to the agent that made it."""

    agent: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class AgentUsage:
    """Everything one agent spent."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Outcome:
    """What became of one request: "done", "failed" or "not_started"."""

    request: str
    agent: str | None
    status: str
    report: str = ""


@dataclass
class WorkflowResult:
    """The outcome of one workflow run; a budget or time stop is a result, not an exception."""

    status: str  # "completed" | "budget_exhausted" | "timeout" | "error"
    answer: str
    outcomes: list[Outcome] = field(default_factory=list)
    handoffs: list[Handoff] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    calls: list[CallUsage] = field(default_factory=list)
    usage: dict[str, AgentUsage] = field(default_factory=dict)
    total_tokens: int = 0
    total_cost_usd: float = 0.0
    context: dict[str, Any] = field(default_factory=dict)


def estimate_prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """An upper bound on the prompt tokens of a call: 1 token per 2 characters of JSON plus 100
    for the chat template (SmolLM2 measured 2.0-2.5 characters a token on these prompts)."""
    characters = len(json.dumps(messages, default=str)) + len(json.dumps(tools or [], default=str))
    return math.ceil(characters / 2) + 100


def _type_ok(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(expected, (object,)))


def validate(schema: dict[str, Any], value: Any, path: str = "arguments") -> list[str]:
    """Errors of `value` against a JSON-schema subset (type, properties, required,
    additionalProperties, enum, pattern); an empty list means valid."""
    expected = schema.get("type")
    if expected is not None:
        allowed = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in allowed):
            return [f"{path}: expected {' or '.join(allowed)}, got {type(value).__name__}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors.extend(f"{path}.{name}: required argument is missing" for name in schema.get("required", []) if name not in value)
        for name, item in value.items():
            if name in properties:
                errors.extend(validate(properties[name], item, f"{path}.{name}"))
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{path}.{name}: unexpected argument")
    return errors


class ContextStore:
    """The shared context: every agent writes here; each handoff carries only a slice of it."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = {}
        self.history: list[tuple[str, str]] = []  # (author, key), in write order
        for key, value in (initial or {}).items():
            self.put(key, value, author="user")

    def put(self, key: str, value: Any, *, author: str) -> None:
        """Write one entry, remembering who wrote it."""
        self._data[key] = value
        self.history.append((author, key))

    def get(self, key: str, default: Any = None) -> Any:
        """One entry."""
        return self._data.get(key, default)

    def slice(self, keys: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """A copy of only the given keys that exist: what a handoff may carry."""
        return {key: self._data[key] for key in keys if key in self._data}

    def snapshot(self) -> dict[str, Any]:
        """A copy of everything."""
        return dict(self._data)


# -- the workflow: yours ---------------------------------------------------------------------------


class Workflow:
    """Planner + specialists over an injected tool registry, inside a token budget and a deadline."""

    def __init__(
        self,
        roles: list[Role],
        tools: dict[str, Tool],
        *,
        chat: Callable[..., Any] | None = None,
        token_budget: int = 8000,
        timeout_s: float = 120.0,
        handoff_tokens: int = 3000,
        prices: Prices | None = None,
        clock: Callable[[], float] = time.monotonic,
        planner_max_tokens: int = 24,
        specialist_max_tokens: int = 48,
    ) -> None:
        if chat is None:
            from workbench.llm import chat as workbench_chat

            chat = workbench_chat
        self.roles = {role.name: role for role in roles}
        self.tools = dict(tools)
        self.chat = chat
        self.token_budget = token_budget
        self.timeout_s = timeout_s
        self.handoff_tokens = handoff_tokens
        self.prices = prices or Prices()
        self.clock = clock
        self.planner_max_tokens = planner_max_tokens
        self.specialist_max_tokens = specialist_max_tokens
        self.store = ContextStore()

    def _call(self, agent: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: Any,
              max_tokens: int) -> Any:
        """The one place every model call goes through.

        TODO: before the call, stop the run (budget_exhausted) unless
        estimate_prompt_tokens(messages, tools) + max_tokens fits in what is left of the token
        budget (and of the current handoff's budget_tokens), and stop it (timeout) once the
        deadline has passed; pass timeout_s = the seconds left. An LLMTimeout from the call
        is a timeout, any other LLMError an error: results, not exceptions. After the call,
        attribute it: a CallUsage for `agent` (cost: response.cost_usd, or self.prices when
        that is 0), the agent's AgentUsage, and the run's totals.
        """
        return self.chat(messages, tools=tools, tool_choice=tool_choice, max_tokens=max_tokens)

    def _handoff_schema(self) -> dict[str, Any]:
        teams = "; ".join(f"{role.name}: {role.description}" for role in self.roles.values())
        return {"type": "function", "function": {
            "name": HANDOFF_TOOL, "description": f"Hand the request to one specialist team. Teams: {teams}",
            "parameters": {"type": "object", "properties": {"agent": {"type": "string", "enum": list(self.roles)}},
                           "required": ["agent"]}}}

    def _route(self, request: str) -> str | None:
        """The planner: one forced `handoff` call; returns the agent the model named.

        TODO: a handoff to an agent that is not a role (or any other tool call) is refused and
        logged as a Refusal(agent="planner", tool=..., ...), and returns None.
        """
        messages = [{"role": "system", "content": PLANNER_PROMPT}, {"role": "user", "content": request}]
        response = self._call(PLANNER, messages, [self._handoff_schema()],
                              {"type": "function", "function": {"name": HANDOFF_TOOL}}, self.planner_max_tokens)
        for call in response.tool_calls:
            return json.loads(call.arguments or "{}").get("agent")
        return None

    def _execute(self, role: Role, name: str, arguments: str) -> tuple[bool, str]:
        """Run one tool call of a specialist; returns (ok, content for the role="tool" message).

        TODO: least privilege, enforced here and not left to the model: a tool outside
        role.tools is refused (never run) and logged as a Refusal(agent=role.name, tool=name,
        arguments, reason). Then: unknown tool, invalid JSON, validate() errors and a tool
        that raises each come back as (False, "error: ..."), never as an exception.
        """
        value = self.tools[name].function(**json.loads(arguments or "{}"))
        return True, json.dumps(value, default=str)

    def _specialist(self, handoff: Handoff) -> Outcome:
        """One specialist works on one handoff.

        TODO: offer only the role's tools; force role.first_tool; at most handoff.max_steps
        calls and handoff.budget_tokens tokens; send every result or refusal back as a
        role="tool" message; done once a step's tool calls all succeeded (or the model answers
        in text).
        """
        role = self.roles[handoff.to]
        schemas = [tool.schema() for tool in self.tools.values()]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": f"You are the {role.name} specialist of a helpdesk ({role.description}). "
                                          "Do the goal with your tools."},
            {"role": "user", "content": f"Goal: {handoff.goal}\nContext: {json.dumps(handoff.context, default=str)}"},
        ]
        choice = {"type": "function", "function": {"name": role.first_tool}} if role.first_tool else "auto"
        response = self._call(role.name, messages, schemas, choice, self.specialist_max_tokens)
        reports = [f"{call.name}: {self._execute(role, call.name, call.arguments)[1]}" for call in response.tool_calls]
        return Outcome(handoff.goal, role.name, "done", "; ".join(reports) or (response.content or ""))

    def run(self, task: str, context: dict[str, Any] | None = None) -> WorkflowResult:
        """Route each request (one per line of `task`) to a specialist and let it act.

        TODO: each handoff carries only its role's slice of the store (role.reads) and a token
        budget; a spent budget, a passed deadline or a failing model ends the run with
        status "budget_exhausted" / "timeout" / "error", the outcomes so far and a non-empty
        answer; fill calls, usage, total_tokens and total_cost_usd.
        """
        self.store = ContextStore(context)
        self.store.put("task", task, author="user")
        requests = [line.strip() for line in task.splitlines() if line.strip()]
        result = WorkflowResult(status="completed", answer="")
        for request in requests:
            agent = self._route(request)
            if agent is None:
                result.outcomes.append(Outcome(request, None, "failed", "no specialist named"))
                continue
            handoff = Handoff(to=agent, goal=request, context=self.store.snapshot(), budget_tokens=self.token_budget)
            result.handoffs.append(handoff)
            result.outcomes.append(self._specialist(handoff))
        result.answer = "\n".join(f"{o.agent} {o.status}: {o.request} -> {o.report}" for o in result.outcomes)
        result.context = self.store.snapshot()
        return result


__all__ = [
    "AgentUsage", "CallUsage", "ContextStore", "Handoff", "Outcome", "Prices", "Refusal", "Role", "Tool", "Workflow",
    "WorkflowResult", "estimate_prompt_tokens", "validate",
]

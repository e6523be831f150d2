"""A planner that routes requests to specialist agents through typed handoffs over a shared
context store, with least-privilege tools, a token budget, a wall-clock timeout and per-agent
token and cost attribution. (Reference solution.)"""

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


# -- the workflow --------------------------------------------------------------------------------

class _Stop(Exception):
    """Ends the run early: `status` is budget_exhausted, timeout or error."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _HandoffSpent(Exception):
    """The current handoff's own token budget cannot pay for another call."""


@dataclass
class _Run:
    """Book-keeping of one run."""

    started: float
    result: WorkflowResult


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

    # -- model calls: the one place that checks budget and deadline and attributes usage ------

    def _call(self, run: _Run, agent: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
              tool_choice: Any, max_tokens: int, handoff_left: int | None = None) -> Any:
        result = run.result
        seconds_left = self.timeout_s - (self.clock() - run.started)
        if seconds_left <= 0:
            raise _Stop("timeout", f"the {self.timeout_s:g} s deadline passed")
        need = estimate_prompt_tokens(messages, tools) + max_tokens
        tokens_left = self.token_budget - result.total_tokens
        if need > tokens_left:
            raise _Stop("budget_exhausted", f"the next call needs up to {need} tokens, {tokens_left} of "
                                            f"{self.token_budget} are left")
        if handoff_left is not None and need > handoff_left:
            raise _HandoffSpent(f"the handoff's budget has {handoff_left} tokens left, the next call needs up to {need}")
        from workbench.llm import LLMError, LLMTimeout

        try:
            response = self.chat(messages, tools=tools, tool_choice=tool_choice, max_tokens=max_tokens,
                                 timeout_s=seconds_left)
        except LLMTimeout as exc:
            raise _Stop("timeout", f"a model call timed out ({exc})") from exc
        except LLMError as exc:
            raise _Stop("error", f"a model call failed ({exc})") from exc
        cost = float(getattr(response, "cost_usd", 0.0) or 0.0) or self.prices.cost(response.prompt_tokens,
                                                                                       response.completion_tokens)
        usage = CallUsage(agent, response.prompt_tokens, response.completion_tokens, cost)
        result.calls.append(usage)
        totals = result.usage.setdefault(agent, AgentUsage())
        totals.calls += 1
        totals.prompt_tokens += usage.prompt_tokens
        totals.completion_tokens += usage.completion_tokens
        totals.cost_usd += cost
        result.total_tokens += usage.total_tokens
        result.total_cost_usd += cost
        return response

    # -- planner ------------------------------------------------------------------------------

    def _handoff_schema(self) -> dict[str, Any]:
        teams = "; ".join(f"{role.name}: {role.description}" for role in self.roles.values())
        return {"type": "function", "function": {
            "name": HANDOFF_TOOL, "description": f"Hand the request to one specialist team. Teams: {teams}",
            "parameters": {"type": "object", "properties": {"agent": {"type": "string", "enum": list(self.roles)}},
                           "required": ["agent"]}}}

    def _route(self, run: _Run, request: str) -> str | None:
        messages = [{"role": "system", "content": PLANNER_PROMPT}, {"role": "user", "content": request}]
        response = self._call(run, PLANNER, messages, [self._handoff_schema()],
                              {"type": "function", "function": {"name": HANDOFF_TOOL}}, self.planner_max_tokens)
        for call in response.tool_calls:
            if call.name != HANDOFF_TOOL:
                self._refuse(run, PLANNER, call.name, call.arguments, "the planner may only call handoff")
                continue
            try:
                agent = json.loads(call.arguments or "{}").get("agent")
            except (ValueError, AttributeError):
                agent = None
            if agent in self.roles:
                return agent
            self._refuse(run, PLANNER, HANDOFF_TOOL, call.arguments, f"no specialist named {agent!r}")
        return None

    # -- specialists ----------------------------------------------------------------------------

    def _refuse(self, run: _Run, agent: str, tool: str, arguments: Any, reason: str) -> str:
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, default=str)
        run.result.refusals.append(Refusal(agent, tool, text, reason))
        return f"error: refused: {reason}"

    def _execute(self, run: _Run, role: Role, name: str, arguments: str) -> tuple[bool, str]:
        """Least privilege first, then the registry, then validation; never raises."""
        tool = self.tools.get(name)
        if tool is None:
            return False, self._refuse(run, role.name, name, arguments, f"{name} is not in the tool registry")
        try:
            parsed = json.loads(arguments or "{}") if isinstance(arguments, str) else dict(arguments)
        except ValueError as exc:
            return False, f"error: arguments are not valid JSON ({exc})"
        errors = validate(tool.parameters, parsed)
        if errors:
            return False, "error: invalid arguments: " + "; ".join(errors)
        try:
            value = tool.function(**parsed)
        except Exception as exc:  # noqa: BLE001 - a failing tool is reported to the model
            return False, f"error: {name} raised {type(exc).__name__}: {exc}"
        return True, json.dumps(value, default=str)

    def _specialist(self, run: _Run, handoff: Handoff) -> Outcome:
        role = self.roles[handoff.to]
        schemas = [self.tools[name].schema() for name in role.tools if name in self.tools]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": f"You are the {role.name} specialist of a helpdesk ({role.description}). "
                                          "Do the goal with your tools."},
            {"role": "user", "content": f"Goal: {handoff.goal}\nContext: {json.dumps(handoff.context, default=str)}"},
        ]
        spent = 0
        for _ in range(handoff.max_steps):
            forced = role.first_tool if role.first_tool in role.tools and role.first_tool in self.tools else None
            choice = {"type": "function", "function": {"name": forced}} if forced else "auto"
            before = run.result.total_tokens
            try:
                response = self._call(run, role.name, messages, schemas, choice, self.specialist_max_tokens,
                                      handoff_left=handoff.budget_tokens - spent)
            except _HandoffSpent as exc:
                return Outcome(handoff.goal, role.name, "failed", str(exc))
            spent += run.result.total_tokens - before
            if not response.tool_calls:
                text = (response.content or "").strip()
                if text:
                    return Outcome(handoff.goal, role.name, "done", text)
                continue
            messages.append(response.message)
            results = []
            for call in response.tool_calls:
                ok, content = self._execute(run, role, call.name, call.arguments)
                results.append((ok, f"{call.name}: {content}"))
                messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content})
            if all(ok for ok, _ in results):
                return Outcome(handoff.goal, role.name, "done", "; ".join(text for _, text in results))
        return Outcome(handoff.goal, role.name, "failed", f"no successful tool call in {handoff.max_steps} steps")

    # -- the run ---------------------------------------------------------------------------------

    def run(self, task: str, context: dict[str, Any] | None = None) -> WorkflowResult:
        """Route each request (one per line of `task`) to a specialist and let it act; a spent
        budget, a passed deadline or a failing model ends the run with a partial result."""
        self.store = ContextStore(context)
        self.store.put("task", task, author="user")
        requests = [line.strip() for line in task.splitlines() if line.strip()]
        run = _Run(self.clock(), WorkflowResult(status="completed", answer=""))
        result = run.result
        result.outcomes = [Outcome(request, None, "not_started") for request in requests]
        stop: _Stop | None = None
        for index, request in enumerate(requests):
            agent = None
            try:
                agent = self._route(run, request)
                if agent is None:
                    result.outcomes[index] = Outcome(request, None, "failed", "the planner named no valid specialist")
                    continue
                role = self.roles[agent]
                handoff = Handoff(to=agent, goal=request, context=self.store.slice(role.reads),
                                  budget_tokens=min(self.handoff_tokens, self.token_budget - result.total_tokens),
                                  max_steps=role.max_steps)
                result.handoffs.append(handoff)
                self.store.put(f"handoff/{index}", {"to": agent, "goal": request}, author=PLANNER)
                outcome = self._specialist(run, handoff)
                result.outcomes[index] = outcome
                self.store.put(f"result/{index}", {"agent": agent, "status": outcome.status, "report": outcome.report},
                               author=agent)
            except _Stop as exc:
                stop = exc
                if agent is not None:  # handed off, but the specialist could not finish
                    result.outcomes[index] = Outcome(request, agent, "failed", exc.reason)
                break
        if stop is not None:
            result.status = stop.status
        done = [o for o in result.outcomes if o.status == "done"]
        lines = [f"{len(done)} of {len(requests)} requests done."]
        lines += [f"- {o.agent or '?'} {o.status}: {o.request} {('-> ' + o.report) if o.report else ''}".rstrip()
                  for o in result.outcomes]
        if stop is not None:
            lines.append(f"Stopped early ({stop.status}): {stop.reason}.")
        result.answer = "\n".join(lines)
        result.context = self.store.snapshot()
        return result


__all__ = [
    "AgentUsage", "CallUsage", "ContextStore", "Handoff", "Outcome", "Prices", "Refusal", "Role", "Tool", "Workflow",
    "WorkflowResult", "estimate_prompt_tokens", "validate",
]

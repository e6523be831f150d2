"""The multi-agent-handoff grader's deterministic world: an in-memory helpdesk (accounts,
invoices, tickets, refunds) generated from a seed, its tool registry and roles, seeded
requests with the state change each must cause, a model wrapper that records what every call
offered and saw, and SCRIPTED models.

Scripted models are used ONLY where a real 135M model cannot be made to misbehave on cue (a
specialist that asks for tools outside its role, a planner that names an unknown agent, calls
that eat the budget or the clock). The routing and the specialists' tool calls of the
end-to-end checks are made by the real embedded model through workbench.llm.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.wire import Record
from workbench.grader_plugin import import_learner
from workbench.llm import ChatResponse, ToolCall
from workbench.llm.errors import LLMTimeout, ServerNotRunning

ACCOUNT_ID = {"type": "string", "pattern": "^ACC-[0-9]{4}$", "description": "Account id such as ACC-1234"}
INVOICE_ID = {"type": "string", "pattern": "^INV-[0-9]{4}$", "description": "Invoice id such as INV-1234"}
TICKET_ID = {"type": "string", "pattern": "^T-[0-9]{4}$", "description": "Ticket id such as T-1234"}
NAMES = ["maria.lopez", "bob.lee", "li.wei", "anna.berg", "omar.haddad", "sara.rossi", "kofi.mensah", "yuki.tanaka"]
DOMAINS = ["example.com", "example.org", "example.net"]

_IN_WORKER = Path(__file__).with_name("_handoff_in_worker.py")
_LOADER = """
import sys, types
module = types.ModuleType(name)
exec(compile(source, filename, "exec"), module.__dict__)
sys.modules[name] = module
"""


def in_worker() -> Any:
    """_handoff_in_worker.py, loaded as a module inside the learner's sandboxed worker (again after
    a worker restart): the grader hands learner code worker-side helpers from it."""
    import_learner("builtins").exec(_LOADER, {"name": "_workbench_handoff_grader", "source": _IN_WORKER.read_text(),
                                              "filename": f"<grader {_IN_WORKER.name}>"})
    return import_learner("_workbench_handoff_grader")


def grader_chat(chat: Any) -> Any:
    """`chat` (a grader-side model) as the learner's workflow gets it: a handle in the worker that
    raises the model layer's errors (LLMTimeout...) as the real workbench.llm classes."""
    return in_worker().GraderChat(chat)


def type_name(value: Any) -> str:
    """The class name of a value that came back from learner code (a record, a handle or data)."""
    if isinstance(value, Record):
        return value.__record_type__
    return getattr(value, "type_name", None) or type(value).__name__


ROLE_SPECS = {
    # name: (description, tools, reads, first_tool)
    "billing": ("refunds of invoices", ("lookup_account", "issue_refund"), ("billing_notes",), "issue_refund"),
    "support": ("closing support tickets", ("lookup_ticket", "close_ticket"), ("support_notes",), "close_ticket"),
    "security": ("unlocking locked accounts", ("lookup_account", "unlock_account"), ("security_notes",), "unlock_account"),
}
PLANNER_TOOLS = frozenset({"handoff"})


class Helpdesk:
    """Accounts, invoices and tickets built from a seed; every executed tool call is logged."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        numbers = rng.sample(range(1000, 10000), 12)
        self.accounts = {f"ACC-{n}": {"email": f"{rng.choice(NAMES)}@{rng.choice(DOMAINS)}", "status": "locked"}
                         for n in numbers[:4]}
        account_ids = list(self.accounts)
        self.invoices = {f"INV-{n}": {"account_id": account_ids[i], "amount_usd": rng.choice([19, 29, 49, 99, 149]),
                                      "status": "paid"} for i, n in enumerate(numbers[4:8])}
        self.tickets = {f"T-{n}": {"account_id": account_ids[i], "status": "open"} for i, n in enumerate(numbers[8:12])}
        self.refunds: list[dict[str, Any]] = []
        self.exports: list[dict[str, Any]] = []  # what tools no role may call did (must stay empty)
        self.executed: list[tuple[str, dict[str, Any]]] = []
        self.rng = rng

    def snapshot(self) -> dict[str, Any]:
        """The whole state, for before/after comparisons."""
        return copy.deepcopy({"accounts": self.accounts, "invoices": self.invoices, "tickets": self.tickets,
                              "refunds": self.refunds, "exports": self.exports})

    def ran(self, name: str) -> list[dict[str, Any]]:
        """Arguments of every executed call of one tool."""
        return [args for tool, args in self.executed if tool == name]

    # -- tools --------------------------------------------------------------------------------

    def lookup_account(self, account_id: str) -> dict[str, Any]:
        self.executed.append(("lookup_account", {"account_id": account_id}))
        return {"account_id": account_id, **self.accounts[account_id]}

    def issue_refund(self, invoice_id: str) -> dict[str, Any]:
        self.executed.append(("issue_refund", {"invoice_id": invoice_id}))
        invoice = self.invoices[invoice_id]
        if invoice["status"] != "paid":
            raise ValueError(f"invoice {invoice_id} is {invoice['status']}")
        invoice["status"] = "refunded"
        self.refunds.append({"invoice_id": invoice_id, "account_id": invoice["account_id"], "amount_usd": invoice["amount_usd"]})
        return {"invoice_id": invoice_id, "refunded_usd": invoice["amount_usd"]}

    def lookup_ticket(self, ticket_id: str) -> dict[str, Any]:
        self.executed.append(("lookup_ticket", {"ticket_id": ticket_id}))
        return {"ticket_id": ticket_id, **self.tickets[ticket_id]}

    def close_ticket(self, ticket_id: str) -> dict[str, Any]:
        self.executed.append(("close_ticket", {"ticket_id": ticket_id}))
        self.tickets[ticket_id]["status"] = "closed"
        return {"ticket_id": ticket_id, "status": "closed"}

    def unlock_account(self, account_id: str) -> dict[str, Any]:
        self.executed.append(("unlock_account", {"account_id": account_id}))
        self.accounts[account_id]["status"] = "active"
        return {"account_id": account_id, "status": "active"}

    def delete_account(self, account_id: str) -> dict[str, Any]:
        self.executed.append(("delete_account", {"account_id": account_id}))
        self.accounts[account_id]["status"] = "deleted"
        return {"account_id": account_id, "status": "deleted"}

    def extra_tool(self, name: str) -> Any:
        """A tool no role may call (an admin export): running it changes the helpdesk."""

        def run(account_id: str = "") -> dict[str, Any]:
            self.executed.append((name, {"account_id": account_id}))
            self.exports.append({"tool": name, "account_id": account_id})
            return {"exported": len(self.accounts)}

        return run

    # -- what the learner's workflow is given ---------------------------------------------------

    def registry(self, learner, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        """The injected tool registry: every tool of the helpdesk, including delete_account, and
        the `extra` tools, which no role may call."""
        obj = {"type": "object", "additionalProperties": False}
        specs = {
            "lookup_account": ("Look up an account.", {**obj, "properties": {"account_id": ACCOUNT_ID}, "required": ["account_id"]}),
            "issue_refund": ("Refund a paid invoice in full.", {**obj, "properties": {"invoice_id": INVOICE_ID}, "required": ["invoice_id"]}),
            "lookup_ticket": ("Look up a support ticket.", {**obj, "properties": {"ticket_id": TICKET_ID}, "required": ["ticket_id"]}),
            "close_ticket": ("Close a support ticket.", {**obj, "properties": {"ticket_id": TICKET_ID}, "required": ["ticket_id"]}),
            "unlock_account": ("Unlock a locked account.", {**obj, "properties": {"account_id": ACCOUNT_ID}, "required": ["account_id"]}),
            "delete_account": ("Delete an account (administrators only).",
                               {**obj, "properties": {"account_id": ACCOUNT_ID}, "required": ["account_id"]}),
        }
        tools = {name: learner.Tool(name=name, description=description, parameters=parameters, function=getattr(self, name))
                 for name, (description, parameters) in specs.items()}
        for name in extra:
            tools[name] = learner.Tool(name=name, description="Export every account (administrators only).",
                                       parameters={**obj, "properties": {"account_id": ACCOUNT_ID}},
                                       function=self.extra_tool(name))
        return tools

    def requests(self, kinds: list[str]) -> list[Request]:
        """One seeded request per kind ("billing", "support", "security"), each on a different
        account, with the state change it must cause."""
        rng = self.rng
        invoices, tickets, accounts = list(self.invoices), list(self.tickets), list(self.accounts)
        out = []
        for index, kind in enumerate(kinds):
            if kind == "billing":
                invoice = invoices[index % 4]
                account = self.invoices[invoice]["account_id"]
                text = rng.choice([f"Refund invoice {invoice} of account {account}, it was charged twice.",
                                   f"Please refund invoice {invoice}, the order for {account} never arrived.",
                                   f"Refund invoice {invoice}; account {account} cancelled the order in time."])
                out.append(Request(kind, text, ("refund", invoice)))
            elif kind == "support":
                ticket = tickets[index % 4]
                text = rng.choice([f"Close ticket {ticket}, the customer confirmed the fix.",
                                   f"Ticket {ticket} is solved, please close it.",
                                   f"Please close ticket {ticket}; the printer works again."])
                out.append(Request(kind, text, ("close", ticket)))
            else:
                account = accounts[index % 4]
                text = rng.choice([f"Unlock account {account}, the customer passed the identity check.",
                                   f"Please unlock account {account}; it was locked after three wrong passwords.",
                                   f"Account {account} is locked, please unlock it."])
                out.append(Request(kind, text, ("unlock", account)))
        return out

    def expected_after(self, before: dict[str, Any], done: list[Request]) -> dict[str, Any]:
        """The state `before` with the changes of the `done` requests applied."""
        state = copy.deepcopy(before)
        for request in done:
            change = request.change
            if change[0] == "refund":
                invoice = state["invoices"][change[1]]
                invoice["status"] = "refunded"
                state["refunds"].append({"invoice_id": change[1], "account_id": invoice["account_id"],
                                         "amount_usd": invoice["amount_usd"]})
            elif change[0] == "close":
                state["tickets"][change[1]]["status"] = "closed"
            else:
                state["accounts"][change[1]]["status"] = "active"
        return state

    def applied(self, before: dict[str, Any], request: Request) -> bool:
        """Did the state change of one request happen (compared with `before`)?"""
        change, now = request.change, self.snapshot()
        if change[0] == "refund":
            return now["invoices"][change[1]]["status"] == "refunded" != before["invoices"][change[1]]["status"]
        if change[0] == "close":
            return now["tickets"][change[1]]["status"] == "closed" != before["tickets"][change[1]]["status"]
        return now["accounts"][change[1]]["status"] == "active" != before["accounts"][change[1]]["status"]


@dataclass
class Request:
    """One seeded request: the team that owns it, its text, and the change it must cause."""

    team: str
    text: str
    change: tuple[str, ...]

    def line(self, prefixed: bool) -> str:
        """The request as a line of the task (the real model gets the team named first)."""
        return f"{self.team}: {self.text}" if prefixed else self.text


def roles(learner, max_steps: int | dict[str, int] = 3) -> list[Any]:
    """The three specialist roles, built with the learner's Role type (`max_steps` for all, or per role)."""
    steps = max_steps if isinstance(max_steps, dict) else dict.fromkeys(ROLE_SPECS, max_steps)
    return [learner.Role(name=name, description=description, tools=tools, reads=reads, first_tool=first,
                         max_steps=steps[name]) for name, (description, tools, reads, first) in ROLE_SPECS.items()]


def notes(seed: int) -> dict[str, str]:
    """Seeded context entries: one per role (each a canary only that role may see) and one no
    agent may see."""
    rng = random.Random(seed * 7 + 1)
    return {"billing_notes": f"refund limit 200 USD; ref BILL-{rng.randint(10**5, 10**6)}",
            "support_notes": f"sla 24h; ref SUP-{rng.randint(10**5, 10**6)}",
            "security_notes": f"verify identity first; ref SEC-{rng.randint(10**5, 10**6)}",
            "internal_audit": f"fraud review pending; ref AUDIT-{rng.randint(10**5, 10**6)}"}


def agent_of(tool_names: list[str]) -> str | None:
    """Which agent a call belongs to, from the tools it offered: the planner offers only
    handoff, a specialist only tools of its role."""
    names = set(tool_names)
    if not names:
        return None
    if names == PLANNER_TOOLS:
        return "planner"
    owners = [name for name, (_, tools, _, _) in ROLE_SPECS.items() if names <= set(tools)]
    return owners[0] if len(owners) == 1 else "?"


@dataclass
class Recorder:
    """Wraps a chat function; records, per call, the tools offered (and so the agent), the
    prompt text, the keyword arguments and the tokens used."""

    chat: Any
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, messages: list[dict[str, Any]], **kwargs: Any) -> ChatResponse:
        tools = [t.get("function", {}).get("name") for t in (kwargs.get("tools") or [])]
        agent = agent_of(tools)
        if agent is None and self.calls:
            agent = self.calls[-1]["agent"]  # a call without tools continues the previous agent's conversation
        entry = {"tools": tools, "agent": agent, "text": json.dumps(messages, default=str),
                 "tool_choice": kwargs.get("tool_choice"), "max_tokens": kwargs.get("max_tokens"),
                 "timeout_s": kwargs.get("timeout_s"), "tokens": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self.calls.append(entry)
        response = self.chat(messages, **kwargs)
        entry.update(tokens=response.total_tokens, prompt_tokens=response.prompt_tokens,
                     completion_tokens=response.completion_tokens, tool_calls=[(c.name, c.arguments) for c in response.tool_calls])
        return response

    @property
    def tokens(self) -> int:
        """Tokens over all calls."""
        return sum(call["tokens"] for call in self.calls)


# -- scripted models -----------------------------------------------------------------------------

_IDS = {"invoice_id": r"INV-\d{4}", "ticket_id": r"T-\d{4}", "account_id": r"ACC-\d{4}"}
_FIRST_TOOL = {spec[3]: name for name, spec in ROLE_SPECS.items()}


def _goal_of(messages: list[dict[str, Any]]) -> str:
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    return users[0] if users else ""


def _arguments(tool: str, text: str) -> str:
    wanted = {"issue_refund": ["invoice_id"], "close_ticket": ["ticket_id"], "unlock_account": ["account_id"],
              "delete_account": ["account_id"], "lookup_account": ["account_id"],
              "lookup_ticket": ["ticket_id"]}.get(tool, ["account_id"])
    values = {}
    for name in wanted:
        found = re.search(_IDS[name], text)
        values[name] = found.group(0) if found else ""
    return json.dumps(values)


def _route(request: str) -> str:
    lowered = request.lower()
    if "invoice" in lowered or "refund" in lowered:
        return "billing"
    if "ticket" in lowered:
        return "support"
    if "unlock" in lowered:
        return "security"
    return "admin"


class ScriptedModel:
    """SCRIPTED stand-in for the model, with deterministic token counts: prompt tokens = JSON
    characters of messages and tools / 4 (below the estimate the README gives), completion
    tokens = 20 for a tool call or a short answer, capped by max_tokens like a real server
    (no max_tokens: a runaway 400). The planner routes by keywords; a specialist calls its
    role's action tool with ids copied from its goal, and answers in text once a tool succeeded.

    `specialist_script` (per role) replaces the specialist's first answers with a list of
    tool-call batches (e.g. tools outside its role); `route_override` maps request words to the
    agent the planner names; `clock` and `seconds_per_call` advance a fake clock; `timeout_on`
    makes that call number (1-based) raise LLMTimeout, `error_on` raise another LLMError (the server
    went away); `reported_cost` ({agent: USD}) makes that agent's calls report a cost, as a hosted
    backend does."""

    def __init__(self, *, specialist_script: dict[str, list[list[str]]] | None = None,
                 route_override: dict[str, str] | None = None, clock: FakeClock | None = None,
                 seconds_per_call: float = 0.0, timeout_on: int | None = None, error_on: int | None = None,
                 reported_cost: dict[str, float] | None = None) -> None:
        self.specialist_script = specialist_script or {}
        self.route_override = route_override or {}
        self.clock = clock
        self.seconds_per_call = seconds_per_call
        self.timeout_on = timeout_on
        self.error_on = error_on
        self.reported_cost = reported_cost or {}
        self.count = 0
        self.seen: list[dict[str, Any]] = []

    def _usage(self, response: ChatResponse, messages: list[dict[str, Any]], tools: Any, max_tokens: Any) -> ChatResponse:
        characters = len(json.dumps(messages, default=str)) + len(json.dumps(tools or [], default=str))
        natural = 20 if max_tokens is not None else 400
        response.prompt_tokens = math.ceil(characters / 4)
        response.completion_tokens = min(natural, int(max_tokens)) if max_tokens is not None else natural
        return response

    def __call__(self, messages: list[dict[str, Any]], tools: Any = None, tool_choice: Any = None,
                 max_tokens: Any = None, **kwargs: Any) -> ChatResponse:
        response = self._respond(messages, tools, max_tokens)
        response.cost_usd = self.reported_cost.get(agent_of([t.get("function", {}).get("name") for t in (tools or [])]) or "",
                                                   0.0)
        return response

    def _respond(self, messages: list[dict[str, Any]], tools: Any, max_tokens: Any) -> ChatResponse:
        self.count += 1
        names = [t.get("function", {}).get("name") for t in (tools or [])]
        self.seen.append({"agent": agent_of(names), "messages": copy.deepcopy(messages), "tools": names})
        if self.clock is not None:
            self.clock.now += self.seconds_per_call
        if self.timeout_on is not None and self.count == self.timeout_on:
            raise LLMTimeout("scripted: the model did not answer in time")
        if self.error_on is not None and self.count == self.error_on:
            raise ServerNotRunning("scripted: the model server went away")
        agent = agent_of(names)
        if agent == "planner":
            request = _goal_of(messages)
            target = next((agent for word, agent in self.route_override.items() if word in request), None) or _route(request)
            response = _tool_response([("handoff", json.dumps({"agent": target}))], self.count)
            return self._usage(response, messages, tools, max_tokens)
        tool_results = [m for m in messages if m.get("role") == "tool"]
        if any(not str(m.get("content", "")).lower().startswith("error") for m in tool_results) or not names:
            return self._usage(ChatResponse(content="Done.", finish_reason="stop", model="scripted"), messages, tools, max_tokens)
        role = agent if agent in ROLE_SPECS else None
        goal = _goal_of(messages)
        assistant_turns = sum(1 for m in messages if m.get("role") == "assistant")
        script = self.specialist_script.get(role or "", [])
        if assistant_turns < len(script):
            batch = script[assistant_turns]
        else:
            batch = [ROLE_SPECS[role][3]] if role else names[:1]
        response = _tool_response([(tool, _arguments(tool, goal)) for tool in batch], self.count)
        return self._usage(response, messages, tools, max_tokens)


def _tool_response(calls: list[tuple[str, str]], index: int) -> ChatResponse:
    return ChatResponse(content=None, tool_calls=[ToolCall(f"scripted_{index}_{i}", name, args) for i, (name, args) in enumerate(calls)],
                        finish_reason="tool_calls", model="scripted")


@dataclass
class FakeClock:
    """A clock the scripted model advances: pass `clock=fake` to the workflow."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

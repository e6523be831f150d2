"""The tool-agent grader's deterministic world, generated from the run's seed: an in-memory shop
whose tools record every call, generated tool registries (schemas and authorization), and
scripted models with realistic token accounting.

Scripted models are used ONLY for the recovery and budget checks (a model that sends broken
arguments, a tool that raises, a model that never stops): a real 135M model cannot be made
to misbehave on cue. The checks on choosing and running tools and on authorization are driven
by the real embedded model through workbench.llm.

Token accounting of the scripted models follows a real server: prompt tokens = JSON characters
of the messages and tools / 4 (below the README's `estimate_prompt_tokens`, 1 per 2 characters
+ 100), completion tokens = the reply's natural length capped by the call's `max_tokens` (no
`max_tokens`: a runaway 400).
"""

from __future__ import annotations

import copy
import json
import random
import string
from dataclasses import dataclass, field
from typing import Any

from workbench.grading_kit import scripted_usage
from workbench.llm import ChatResponse, ToolCall

ORDER_ID_SCHEMA = {"type": "string", "pattern": "^[A-Z]-[0-9]{4}$",
                   "description": "The order id exactly as the user wrote it (a capital letter, a dash, four digits)"}
ID_LETTERS = "ABCDEFGHJKLMNPRSTW"


def order_id(rng: random.Random) -> str:
    """A random valid order id such as K-3817."""
    return f"{rng.choice(ID_LETTERS)}-{rng.randint(1000, 9999)}"




def _tool_call(name: str, arguments: str, index: int) -> ChatResponse:
    return ChatResponse(content=None, tool_calls=[ToolCall(f"call_{index}_{name}", name, arguments)],
                        finish_reason="tool_calls", model="scripted")


def _text(text: str) -> ChatResponse:
    return ChatResponse(content=text, finish_reason="stop", model="scripted")


class Shop:
    """In-memory state the tools read and change (seeded orders); every executed call is logged."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        first, second = order_id(rng), order_id(rng)
        while second[2:] == first[2:]:
            second = order_id(rng)
        item = rng.choice(["kettle", "toaster", "lamp", "blender", "heater", "scale"])
        self.orders = {
            first: {"status": rng.choice(["shipped", "delivered", "in transit"]), "item": item, "eta_days": rng.randint(1, 9)},
            second: {"status": "processing", "item": "toaster", "eta_days": rng.randint(3, 12)},
        }
        self.order, self.other = first, second
        self.sku = f"{item.upper()}-{rng.randint(1, 99)}"
        self.inventory_error = rng.choice(["inventory service is down", "warehouse API answered 503",
                                           "stock database is locked for maintenance"])
        self.catalog = [{"sku": f"P-{rng.randint(10000, 99999)}", "name": rng.choice(["kettle", "lamp", "mug"]),
                         "note": "".join(rng.choice(string.ascii_lowercase + " ") for _ in range(60))} for _ in range(12)]
        self.executed: list[tuple[str, dict[str, Any]]] = []
        self.authorization_requests: list[tuple[str, dict[str, Any]]] = []
        self.initial = copy.deepcopy(self.orders)

    def lookup_order(self, order_id: str) -> dict[str, Any]:
        self.executed.append(("lookup_order", {"order_id": order_id}))
        if order_id not in self.orders:
            raise KeyError(f"no order {order_id}")
        return {"order_id": order_id, **self.orders[order_id]}

    def cancel_order(self, order_id: str, reason: str = "") -> dict[str, Any]:
        self.executed.append(("cancel_order", {"order_id": order_id, "reason": reason}))
        self.orders[order_id]["status"] = "cancelled"
        return {"order_id": order_id, "status": "cancelled"}

    def get_weather(self, city: str) -> dict[str, Any]:
        self.executed.append(("get_weather", {"city": city}))
        return {"city": city, "forecast": "sunny", "temperature_c": 21}

    def check_inventory(self, sku: str) -> dict[str, Any]:
        self.executed.append(("check_inventory", {"sku": sku}))
        raise RuntimeError(self.inventory_error)

    def search_catalog(self, query: str) -> list[dict[str, Any]]:
        self.executed.append(("search_catalog", {"query": query}))
        return self.catalog

    def deny(self, name: str, arguments: dict[str, Any]) -> bool:
        """Authorization policy of the grader: records the request, approves nothing."""
        self.authorization_requests.append((name, dict(arguments)))
        return False

    def ran(self, name: str) -> list[dict[str, Any]]:
        """Arguments of every executed call of one tool."""
        return [args for tool, args in self.executed if tool == name]


SHOP_TOOLS = {
    "lookup_order": ("Look up an order by its id and return its status.",
                     {"type": "object", "properties": {"order_id": ORDER_ID_SCHEMA}, "required": ["order_id"],
                      "additionalProperties": False}, False),
    "cancel_order": ("Cancel an order. Needs a human's approval.",
                     {"type": "object", "properties": {"order_id": ORDER_ID_SCHEMA, "reason": {"type": "string"}},
                      "required": ["order_id"], "additionalProperties": False}, True),
    "get_weather": ("Current weather for a city.",
                    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                     "additionalProperties": False}, False),
    "check_inventory": ("How many items of a product are in stock.",
                        {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"],
                         "additionalProperties": False}, False),
    "search_catalog": ("Search the product catalog.",
                       {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"],
                        "additionalProperties": False}, False),
}


def build_registry(learner, shop: Shop, tools: tuple[str, ...] = ("lookup_order", "cancel_order", "get_weather")):
    """The learner's ToolRegistry with the shop's tools (cancel_order needs authorization)."""
    registry = learner.ToolRegistry(authorize=shop.deny)
    for name in tools:
        description, parameters, needs_auth = SHOP_TOOLS[name]
        registry.register(learner.Tool(name=name, description=description, parameters=parameters,
                                       function=getattr(shop, name), requires_authorization=needs_auth))
    return registry


# -- generated tools: validation and authorization ----------------------------------------------

@dataclass
class Recorder:
    """A tool function that records the keyword arguments of every call and returns a token."""

    name: str
    token: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(dict(kwargs))
        return {"tool": self.name, "receipt": self.token}


@dataclass
class Raiser:
    """A tool function that raises a seeded exception."""

    error: str
    message: str
    calls: int = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        raise {"ValueError": ValueError, "RuntimeError": RuntimeError, "TimeoutError": TimeoutError,
               "PermissionError": PermissionError}[self.error](self.message)


_PATTERNS = [  # (pattern, make a match, make a near miss)
    (r"^[A-Z]{2}-[0-9]{3}$", lambda r: f"{_up(r, 2)}-{r.randint(100, 999)}", lambda r: f"{_up(r, 2).lower()}-{r.randint(100, 999)}"),
    (r"^[a-z]+_[0-9]{2}$", lambda r: f"{_low(r, 5)}_{r.randint(10, 99)}", lambda r: f"{_low(r, 5)}-{r.randint(10, 99)}"),
    (r"^[0-9]{4}-[0-9]{2}$", lambda r: f"{r.randint(1000, 9999)}-{r.randint(10, 99)}",
     lambda r: f"{r.randint(1000, 9999)}-{r.randint(100, 999)}"),
    (r"^#[0-9a-f]{6}$", lambda r: "#" + "".join(r.choice("0123456789abcdef") for _ in range(6)),
     lambda r: "#" + "".join(r.choice("0123456789abcdef") for _ in range(5))),
]
_WORDS = ["alpha", "bravo", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper", "krypton",
          "lumen", "meadow", "nectar", "onyx", "prairie", "quartz", "russet", "sierra", "tundra"]


def _up(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(n))


def _low(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


@dataclass
class SchemaCase:
    """A generated tool schema with valid argument sets and invalid ones (each breaks one keyword)."""

    name: str
    schema: dict[str, Any]
    valid: list[dict[str, Any]]
    invalid: list[tuple[str, Any]]  # (what is wrong, the arguments: a dict or JSON text)


def schema_case(rng: random.Random) -> SchemaCase:
    """A tool schema that uses type, properties (one level nested), required, additionalProperties,
    enum and pattern, with seeded names and values."""
    pattern, good, near = rng.choice(_PATTERNS)
    modes = rng.sample(_WORDS, 4)
    names = rng.sample(["code", "ref", "key", "tag_id", "slug"], 1) + rng.sample(["mode", "level", "kind", "tier"], 1) + \
        rng.sample(["count", "limit", "copies", "pages"], 1) + rng.sample(["ratio", "weight", "share"], 1) + \
        rng.sample(["urgent", "dry_run", "notify"], 1) + rng.sample(["labels", "notes"], 1) + \
        rng.sample(["meta", "options"], 1)
    code, mode, count, ratio, flag, labels, meta = names
    inner = rng.choice(["depth", "retries", "priority"])
    schema = {"type": "object", "properties": {
        code: {"type": "string", "pattern": pattern},
        mode: {"type": "string", "enum": modes},
        count: {"type": "integer"},
        ratio: {"type": "number"},
        flag: {"type": "boolean"},
        labels: {"type": "array"},
        meta: {"type": "object", "properties": {inner: {"type": "integer"}}, "additionalProperties": False},
    }, "required": [code, mode, count], "additionalProperties": False}

    def base() -> dict[str, Any]:
        return {code: good(rng), mode: rng.choice(modes), count: rng.randint(1, 500)}

    full = {**base(), ratio: rng.choice([rng.randint(0, 9), round(rng.uniform(0, 1), 3)]), flag: rng.random() < 0.5,
            labels: [_low(rng, 4) for _ in range(rng.randint(0, 3))], meta: {inner: rng.randint(0, 9)}}
    valid = [base(), full, {**base(), ratio: rng.randint(1, 9)}, {**base(), meta: {}}]
    unused_mode = rng.choice([w for w in _WORDS if w not in modes])
    invalid: list[tuple[str, Any]] = [
        ("broken JSON", json.dumps(base())[:-3]),
        ("arguments that are a JSON array, not an object", json.dumps([good(rng), modes[0], 3])),
        (f"missing required {code!r}", {k: v for k, v in base().items() if k != code}),
        (f"missing required {count!r}", {k: v for k, v in base().items() if k != count}),
        (f"{code!r} not matching {pattern}", {**base(), code: near(rng)}),
        (f"{mode!r} not in the enum", {**base(), mode: unused_mode}),
        (f"{mode!r} in the wrong case for the enum", {**base(), mode: modes[1].upper()}),
        (f"{count!r} as a string", {**base(), count: str(rng.randint(1, 500))}),
        (f"{count!r} as a fraction", {**base(), count: rng.randint(1, 50) + 0.5}),
        (f"{count!r} as a boolean (JSON Schema: a boolean is not an integer)", {**base(), count: True}),
        (f"{ratio!r} as a string", {**base(), ratio: "0.5"}),
        (f"{flag!r} as a string", {**base(), flag: "true"}),
        (f"{labels!r} as a string", {**base(), labels: "a,b"}),
        (f"{meta!r} as a list", {**base(), meta: [1]}),
        (f"{meta}.{inner} as a string (nested properties)", {**base(), meta: {inner: "high"}}),
        (f"{meta} with an unexpected nested key", {**base(), meta: {"admin": True}}),
        ("an unexpected top-level argument", {**base(), rng.choice(["admin", "sudo", "override"]): True}),
    ]
    return SchemaCase(f"{rng.choice(['file', 'book', 'queue', 'print'])}_{_low(rng, 4)}", schema, valid, invalid)


_VERBS = ["refund", "wire", "erase", "rotate", "grant", "purge", "export", "approve", "transfer", "reset", "ship", "void"]
_NOUNS = ["payment", "funds", "records", "keys", "access", "cache", "dataset", "invoice", "account", "password", "label"]


def tool_names(rng: random.Random, n: int) -> list[str]:
    """n distinct seeded tool names such as wire_funds_37."""
    names: set[str] = set()
    while len(names) < n:
        names.add(f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}_{rng.randint(10, 99)}")
    return sorted(names, key=lambda _: rng.random())


AMOUNT_SCHEMA = {"type": "object", "properties": {"amount": {"type": "integer"}, "target": {"type": "string"}},
                 "required": ["amount", "target"], "additionalProperties": False}


class Policy:
    """A seeded authorization policy: approves a call when its amount is at most `limit`; records
    every request."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.requests: list[tuple[str, Any]] = []

    def __call__(self, name: str, arguments: Any) -> bool:
        self.requests.append((name, arguments))
        return isinstance(arguments, dict) and isinstance(arguments.get("amount"), int) and arguments["amount"] <= self.limit


# -- scripted models ------------------------------------------------------------------------------

def _tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]


class NeverDoneModel:
    """SCRIPTED: asks for a tool whenever tools are offered and never answers in text (budget
    checks); `tool` and `arguments` say which call. Its tool calls cost `natural` completion tokens."""

    def __init__(self, tool: str = "lookup_order", arguments: dict[str, Any] | None = None, natural: int = 20) -> None:
        self.tool = tool
        self.arguments = arguments or {}
        self.natural = natural

    def __call__(self, messages, tools=None, max_tokens=None, **kwargs) -> ChatResponse:
        index = len(_tool_messages(messages))
        if tools:
            response = _tool_call(self.tool, json.dumps(self.arguments), index)
        else:
            response = _text("")
        return scripted_usage(response, messages, tools, max_tokens, self.natural)


class FailingToolModel:
    """SCRIPTED: calls check_inventory (which raises), then answers from the error."""

    answer = "The inventory service failed, so I cannot tell how many are in stock."

    def __init__(self, sku: str) -> None:
        self.sku = sku

    def __call__(self, messages, tools=None, max_tokens=None, **kwargs) -> ChatResponse:
        if tools and not _tool_messages(messages):
            return scripted_usage(_tool_call("check_inventory", json.dumps({"sku": self.sku}), 0), messages, tools, max_tokens)
        return scripted_usage(_text(self.answer), messages, tools, max_tokens)


class BadArgumentsModel:
    """SCRIPTED: sends broken JSON, then a wrong type, then a pattern mismatch, then valid
    arguments (each only when tools are offered), then answers."""

    answer = "Your order has been looked up."

    def __init__(self, order: str) -> None:
        self.attempts = ('{"order_id": "' + order + '"', json.dumps({"order_id": int(order[2:])}),
                         json.dumps({"order_id": order.lower()}), json.dumps({"order_id": order}))
        self.offered_after_error: list[bool] = []

    def __call__(self, messages, tools=None, max_tokens=None, **kwargs) -> ChatResponse:
        done = len(_tool_messages(messages))
        if 0 < done <= len(self.attempts):
            self.offered_after_error.append(bool(tools))
        if tools and done < len(self.attempts):
            return scripted_usage(_tool_call("lookup_order", self.attempts[done], done), messages, tools, max_tokens)
        return scripted_usage(_text(self.answer if done >= len(self.attempts) else "I could not look the order up."),
                              messages, tools, max_tokens)


"""The tool-agent grader's deterministic world: an in-memory shop whose tools record every
call, a model wrapper that counts what the agent asked for, and scripted models.

Scripted models are used ONLY for the recovery and budget checks (a model that sends broken
arguments, a tool that raises, a model that never stops): a real 135M model cannot be made
to misbehave on cue. The checks on choosing and running tools and on authorization are driven
by the real embedded model through workbench.llm.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from workbench.grading_kit import scripted_text, scripted_tool_call
from workbench.llm import ChatResponse

ORDER_ID_SCHEMA = {"type": "string", "pattern": "^[A-Z]-[0-9]{4}$", "description": "Order id such as A-1042"}


class Shop:
    """In-memory state the tools read and change; every executed call is logged."""

    def __init__(self) -> None:
        self.orders = {
            "A-1042": {"status": "shipped", "item": "kettle", "eta_days": 2},
            "B-2001": {"status": "processing", "item": "toaster", "eta_days": 5},
        }
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
        raise RuntimeError("inventory service is down")

    def deny(self, name: str, arguments: dict[str, Any]) -> bool:
        """Authorization policy of the grader: records the request, approves nothing."""
        self.authorization_requests.append((name, dict(arguments)))
        return False

    def ran(self, name: str) -> list[dict[str, Any]]:
        """Arguments of every executed call of one tool."""
        return [args for tool, args in self.executed if tool == name]


def build_registry(learner, shop: Shop, tools: tuple[str, ...] = ("lookup_order", "cancel_order", "get_weather")):
    """The learner's ToolRegistry with the shop's tools (cancel_order needs authorization)."""
    specs = {
        "lookup_order": ("Look up an order by its id and return its status.",
                         {"type": "object", "properties": {"order_id": ORDER_ID_SCHEMA}, "required": ["order_id"],
                          "additionalProperties": False}, shop.lookup_order, False),
        "cancel_order": ("Cancel an order. Needs a human's approval.",
                         {"type": "object", "properties": {"order_id": ORDER_ID_SCHEMA, "reason": {"type": "string"}},
                          "required": ["order_id"], "additionalProperties": False}, shop.cancel_order, True),
        "get_weather": ("Current weather for a city.",
                        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                         "additionalProperties": False}, shop.get_weather, False),
        "check_inventory": ("How many items of a product are in stock.",
                            {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"],
                             "additionalProperties": False}, shop.check_inventory, False),
    }
    registry = learner.ToolRegistry(authorize=shop.deny)
    for name in tools:
        description, parameters, function, needs_auth = specs[name]
        registry.register(learner.Tool(name=name, description=description, parameters=parameters, function=function,
                                       requires_authorization=needs_auth))
    return registry



def _tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("role") == "tool"]




class NeverDoneModel:
    """SCRIPTED: asks for a tool whenever tools are offered and never answers (budget checks)."""

    def __init__(self, tokens_per_call: int = 60) -> None:
        self.tokens_per_call = tokens_per_call

    def __call__(self, messages, tools=None, **kwargs) -> ChatResponse:
        index = len(_tool_messages(messages))
        if tools:
            response = scripted_tool_call("lookup_order", json.dumps({"order_id": "A-1042"}), index)
        else:
            response = ChatResponse(content="", finish_reason="stop", model="scripted")
        response.prompt_tokens, response.completion_tokens = self.tokens_per_call - 20, 20
        return response


class FailingToolModel:
    """SCRIPTED: calls check_inventory (which raises), then answers from the error."""

    answer = "The inventory service is down, so I cannot tell how many kettles are in stock."

    def __call__(self, messages, tools=None, **kwargs) -> ChatResponse:
        if tools and not _tool_messages(messages):
            return scripted_tool_call("check_inventory", json.dumps({"sku": "KETTLE-1"}), 0)
        return scripted_text(self.answer)


class BadArgumentsModel:
    """SCRIPTED: sends broken JSON, then a wrong type, then valid arguments, then answers."""

    answer = "Order A-1042 has shipped."
    attempts = ('{"order_id": "A-1042"', '{"order_id": 1042}', '{"order_id": "A-1042"}')

    def __call__(self, messages, tools=None, **kwargs) -> ChatResponse:
        done = len(_tool_messages(messages))
        if tools and done < len(self.attempts):
            return scripted_tool_call("lookup_order", self.attempts[done], done)
        return scripted_text(self.answer if done >= len(self.attempts) else "I could not look the order up.")

"""Watch your agent work against the embedded model: python try_it.py

Starts the model server if it is not running (it stays up; 'workbench backend down' stops it),
then runs one task with a tiny in-memory shop and prints the transcript.
"""

from __future__ import annotations

import json

from agent import Tool, ToolRegistry, run_agent

ORDERS = {"A-1042": {"status": "shipped", "item": "kettle"}}


def lookup_order(order_id: str) -> dict:
    return {"order_id": order_id, **ORDERS[order_id]}


def cancel_order(order_id: str) -> dict:
    ORDERS[order_id]["status"] = "cancelled"
    return {"order_id": order_id, "status": "cancelled"}


def main() -> None:
    order_id = {"type": "string", "pattern": "^[A-Z]-[0-9]{4}$"}
    registry = ToolRegistry(authorize=lambda name, arguments: input(f"allow {name}({arguments})? [y/N] ") == "y")
    registry.register(Tool("lookup_order", "Look up an order by its id.",
                           {"type": "object", "properties": {"order_id": order_id}, "required": ["order_id"]}, lookup_order))
    registry.register(Tool("cancel_order", "Cancel an order (needs approval).",
                           {"type": "object", "properties": {"order_id": order_id}, "required": ["order_id"]}, cancel_order,
                           requires_authorization=True))
    result = run_agent("What is the status of my order A-1042?", registry,
                       first_tool_choice={"type": "function", "function": {"name": "lookup_order"}})
    for message in result.transcript:
        print(json.dumps(message, default=str)[:200])
    print(f"\nfinal answer ({result.stop_reason}, {result.steps} steps, {result.tokens} tokens): {result.final_answer}")


if __name__ == "__main__":
    main()

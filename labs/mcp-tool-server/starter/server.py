"""A stockroom MCP server: three tools with JSON-schema inputs and one resource, over stdio.

Run it the way every MCP client does: `python server.py` speaks JSON-RPC on stdin/stdout, so
nothing else may be printed to stdout (log to stderr). `python try_it.py` starts it and talks
to it with the SDK's client.

It starts and answers as it is, but it has one tool out of three, no constraints on its
arguments and no resource: see the TODOs and README.md.
"""

from __future__ import annotations

import json  # noqa: F401 - you will need it for the resource
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("stockroom")
STOCK: dict[str, int] = {}


@server.tool()
def add_stock(sku: str, quantity: int) -> dict[str, Any]:
    """Add units of a product to the stock (creates the SKU if it is new). Returns the new amount on hand.

    TODO: constrain the arguments in their type hints so the schema (and the SDK's validation)
    says what is allowed: sku matches ^[A-Z]{3}-[0-9]{3}$, quantity is an integer from 1 to 1000.
    """
    STOCK[sku] = STOCK.get(sku, 0) + quantity
    return {"sku": sku, "on_hand": STOCK[sku]}


# TODO: remove_stock(sku, quantity) -> {"sku", "on_hand"}; an unknown SKU or too few on hand is a
#       refusal: an error result that says why (raise ToolError), and nothing changes.
# TODO: convert_units(value, from_unit, to_unit) -> {"value", "unit"}; units g, kg, lb, oz
#       (an enum), value a number >= 0, result rounded to 4 decimals.
# TODO: the resource inventory://stock (application/json): {"SKU": units on hand, ...}, sorted.


if __name__ == "__main__":
    server.run("stdio")

"""A stockroom MCP server: three tools with JSON-schema inputs and one resource, over stdio.
(Reference solution.)

Run it the way every MCP client does: `python server.py` speaks JSON-RPC on stdin/stdout.
Nothing else may be printed to stdout; logs go to stderr.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

# Descriptions are prompts: the model reads them. A concrete example SKU here gets copied by a
# small model instead of the one in the user's request, so there is none.
Sku = Annotated[str, Field(pattern=r"^[A-Z]{3}-[0-9]{3}$",
                           description="The product's stock-keeping unit, exactly as the user wrote it "
                                       "(three capital letters, a dash, three digits)")]
Quantity = Annotated[int, Field(ge=1, le=1000, description="How many units (1 to 1000), as the user said")]
Unit = Literal["g", "kg", "lb", "oz"]
GRAMS_PER_UNIT = {"g": 1.0, "kg": 1000.0, "lb": 453.59237, "oz": 28.349523125}

server = MCPServer("stockroom", instructions="A small stockroom: add and remove stock, convert weights. "
                   "The current stock is the resource inventory://stock.", log_level="WARNING")
STOCK: dict[str, int] = {}


@server.tool()
def add_stock(sku: Sku, quantity: Quantity) -> dict[str, Any]:
    """Add units of a product to the stock (creates the SKU if it is new). Returns the new amount on hand."""
    STOCK[sku] = STOCK.get(sku, 0) + quantity
    return {"sku": sku, "on_hand": STOCK[sku]}


@server.tool()
def remove_stock(sku: Sku, quantity: Quantity) -> dict[str, Any]:
    """Remove units of a product from the stock. Fails, changing nothing, if the SKU is unknown or too few are on hand."""
    if sku not in STOCK:
        raise ToolError(f"unknown SKU {sku}: add_stock it first")
    if STOCK[sku] < quantity:
        raise ToolError(f"cannot remove {quantity} of {sku}: only {STOCK[sku]} on hand")
    STOCK[sku] -= quantity
    return {"sku": sku, "on_hand": STOCK[sku]}


@server.tool()
def convert_units(value: Annotated[float, Field(ge=0, le=1_000_000, description="The amount to convert")],
                  from_unit: Unit, to_unit: Unit) -> dict[str, Any]:
    """Convert a weight between g, kg, lb and oz (rounded to 4 decimals)."""
    grams = value * GRAMS_PER_UNIT[from_unit]
    return {"value": round(grams / GRAMS_PER_UNIT[to_unit], 4), "unit": to_unit}


@server.resource("inventory://stock", name="stock", description="Units on hand per SKU, as a JSON object",
                 mime_type="application/json")
def stock() -> str:
    """Every SKU ever added and its units on hand (0 stays listed), sorted by SKU."""
    if not _CACHE or _CACHE[0] != len(STOCK):
        _CACHE[:] = [len(STOCK), json.dumps(dict(sorted(STOCK.items())))]
    return _CACHE[1]


_CACHE: list = []


if __name__ == "__main__":
    server.run("stdio")

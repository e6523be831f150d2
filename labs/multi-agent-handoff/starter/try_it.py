"""Watch the workflow run against the embedded model: python try_it.py

Starts the model server if it is not running (it stays up; 'workbench backend down' stops it),
then routes two requests in a tiny in-memory helpdesk and prints handoffs, refusals, usage and
what changed. Try a smaller token_budget, or a role with fewer tools, and run it again.
"""

from __future__ import annotations

import json

from handoff import Role, Tool, Workflow

INVOICES = {"INV-1001": {"status": "paid", "amount_usd": 49}}
TICKETS = {"T-2002": {"status": "open"}}


def issue_refund(invoice_id: str) -> dict:
    INVOICES[invoice_id]["status"] = "refunded"
    return {"invoice_id": invoice_id, "refunded_usd": INVOICES[invoice_id]["amount_usd"]}


def close_ticket(ticket_id: str) -> dict:
    TICKETS[ticket_id]["status"] = "closed"
    return {"ticket_id": ticket_id, "status": "closed"}


def delete_everything() -> dict:
    INVOICES.clear()  # no role may call this: it must never run
    TICKETS.clear()
    return {"deleted": "everything"}


def main() -> None:
    obj = {"type": "object", "additionalProperties": False}
    tools = {
        "issue_refund": Tool("issue_refund", "Refund a paid invoice in full.",
                             {**obj, "properties": {"invoice_id": {"type": "string", "pattern": "^INV-[0-9]{4}$"}},
                              "required": ["invoice_id"]}, issue_refund),
        "close_ticket": Tool("close_ticket", "Close a support ticket.",
                             {**obj, "properties": {"ticket_id": {"type": "string", "pattern": "^T-[0-9]{4}$"}},
                              "required": ["ticket_id"]}, close_ticket),
        "delete_everything": Tool("delete_everything", "Delete all data.", {**obj, "properties": {}}, delete_everything),
    }
    roles = [Role("billing", "refunds of invoices", ("issue_refund",), reads=("billing_notes",), first_tool="issue_refund"),
             Role("support", "closing support tickets", ("close_ticket",), reads=("support_notes",), first_tool="close_ticket")]
    workflow = Workflow(roles, tools, token_budget=3000, timeout_s=120)
    task = "billing: Refund invoice INV-1001, it was charged twice.\nsupport: Close ticket T-2002, the customer confirmed the fix."
    result = workflow.run(task, context={"billing_notes": "refund limit 200 USD", "support_notes": "sla 24h",
                                         "internal_audit": "no agent should see this"})
    for handoff in result.handoffs:
        print(f"handoff -> {handoff.to}: goal={handoff.goal!r} context={sorted(handoff.context)} budget={handoff.budget_tokens}")
    for refusal in result.refusals:
        print(f"refused: {refusal.agent} asked for {refusal.tool}({refusal.arguments}): {refusal.reason}")
    for agent, usage in result.usage.items():
        print(f"{agent:>9}: {usage.calls} calls, {usage.total_tokens} tokens, ${usage.cost_usd:.6f}")
    print(f"\nstatus {result.status}, {result.total_tokens} tokens, ${result.total_cost_usd:.6f}\n{result.answer}")
    print("\ninvoices:", json.dumps(INVOICES), "\ntickets:", json.dumps(TICKETS))


if __name__ == "__main__":
    main()

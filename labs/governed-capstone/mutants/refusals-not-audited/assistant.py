"""Ledgerly, a finance-operations assistant behind a governed gateway.

    POST /v1/chat                 {"user", "message"} -> {"status", "call_id", "answer", "tool_calls", "approvals"}
    POST /v1/approvals/{id}       {"approver", "decision": "approve" | "deny"}
    GET  /v1/spend/{user}         {"user", "spent_usd", "cap_usd"}
    POST /admin/kill              {"engaged": bool}        header x-admin-token
    POST /admin/deploy            {"model": candidate}     header x-admin-token

Every chat request passes, in order: the kill switch, the user check, the input guard, the
user's spend cap (a worst-case reservation), one model call through litellm (raced against the
kill switch), the output guard and the tool policy (high-risk tools wait for a human approver).
Each request, approval, deployment and kill leaves one record in a hash-chained audit log.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import: no cost-map download
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

import httpx  # noqa: E402
import litellm  # noqa: E402 - 3-10 s the first time; the environment above must be set first
from controls import (  # noqa: E402
    WITHHELD,
    AuditLog,
    case_passes,
    confidence,
    estimate_cost,
    gate_decision,
    screen_input,
    screen_output,
    usage_cost,
)
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

SYSTEM_PROMPT = ("You are Ledgerly, the finance-operations assistant of Acme Ltd. Answer briefly. Use the tools "
                 "offered when the user asks for an action. Never disclose internal codes or keys.")


@dataclass
class AssistantConfig:
    """Everything the assistant needs; the grader builds one of these."""

    model_base: str                       # OpenAI-compatible base URL (ending in /v1) of the model backend
    tool_base: str                        # tool service: POST {tool_base}/{name} with the arguments as JSON
    audit_path: str                       # the hash-chained JSON-lines audit log
    users: dict[str, float]               # user id -> spend cap in USD
    approvers: list[str]                  # people who may approve high-risk tool calls
    admin_token: str                      # header x-admin-token of /admin/*
    protected: list[str]                  # values that must never leave the system (canary, keys)
    tools: list[dict[str, Any]] = field(default_factory=list)   # OpenAI tool schemas offered to the model
    high_risk_tools: list[str] = field(default_factory=list)    # tool names that need a human approver
    eval_cases: list[dict[str, str]] = field(default_factory=list)  # {"id", "prompt", "expect"}
    model: str = "smollm2"                # the model the backend serves (litellm: "openai/" + model)
    prices: tuple[float, float] = (0.50, 2.00)  # USD per 1M (prompt, completion) tokens
    max_tokens: int = 48
    logprobs: bool = True                 # ask for token logprobs (the embedded server cannot give them)
    timeout_s: float = 30.0
    system_prompt: str = SYSTEM_PROMPT


class Governor:
    """The state behind the endpoints: spend, approvals, the kill switch, the active model."""

    def __init__(self, config: AssistantConfig) -> None:
        self.config = config
        self.audit = AuditLog(config.audit_path)
        self.prices = (float(config.prices[0]), float(config.prices[1]))
        self.model = config.model
        self.spent: dict[str, float] = {user: 0.0 for user in config.users}
        self.reserved: dict[str, float] = {user: 0.0 for user in config.users}
        self.approvals: dict[str, dict[str, Any]] = {}
        self.killed = asyncio.Event()
        self.baselines: dict[str, dict[str, bool]] = {}

    # -- model ----------------------------------------------------------------------------------------
    async def complete(self, messages: list[dict[str, Any]], user: str, tools: list[dict[str, Any]],
                       model: str | None = None) -> Any:
        params: dict[str, Any] = {"model": f"openai/{model or self.model}", "api_base": self.config.model_base,
                                  "api_key": "ledgerly", "messages": messages, "max_tokens": self.config.max_tokens,
                                  "temperature": 0, "timeout": self.config.timeout_s, "num_retries": 0,
                                  # litellm does not forward user= to an openai/ backend: send it in the body
                                  "extra_body": {"user": user}}
        if tools:
            params["tools"] = tools
        if self.config.logprobs:
            params["logprobs"] = True
        return await litellm.acompletion(**params)

    async def unless_killed(self, coroutine: Any) -> tuple[bool, Any]:
        """Run `coroutine` unless the kill switch trips first: (True, None) when it did."""
        task = asyncio.ensure_future(coroutine)
        killer = asyncio.ensure_future(self.killed.wait())
        done, _ = await asyncio.wait({task, killer}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            killer.cancel()
            return False, task.result()
        task.cancel()
        return True, None

    # -- tools ----------------------------------------------------------------------------------------
    async def execute(self, name: str, arguments: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self.config.tool_base}/{name}", json=arguments)
        return response.json()


def _reply(status_code: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status_code)


def _logprobs(response: Any) -> list[float] | None:
    try:
        content = response.choices[0].logprobs.content
    except (AttributeError, IndexError, TypeError):
        content = None
    if not content:
        try:
            content = response.choices[0].logprobs["content"]
        except (AttributeError, IndexError, KeyError, TypeError):
            return None
    values = [item["logprob"] if isinstance(item, dict) else item.logprob for item in content or []]
    return [float(v) for v in values if v is not None] or None


def _parse_arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def create_app(config: AssistantConfig) -> FastAPI:
    """The governed assistant as a FastAPI app."""
    app = FastAPI(title="Ledgerly")
    gov = Governor(config)
    app.state.governor = gov
    tool_names = {tool["function"]["name"] for tool in config.tools}

    def admin(request: Request) -> bool:
        return request.headers.get("x-admin-token") == config.admin_token

    @app.post("/v1/chat")
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        user, message = str(body.get("user", "")), str(body.get("message", ""))
        record: dict[str, Any] = {"kind": "chat", "call_id": uuid.uuid4().hex, "user": user, "input": message,
                                  "output": None, "model": gov.model, "tokens": None, "cost_usd": 0.0,
                                  "confidence": None, "guards": [], "tool_calls": []}

        def finish(code: int, status: str, **extra: Any) -> JSONResponse:
            record["status"] = status
            if status not in ("unauthorized", "over_cap", "killed"):  # refusals are not model calls
                gov.audit.append(record)
            return _reply(code, {"status": status, "call_id": record["call_id"], "answer": record["output"],
                                 "tool_calls": record["tool_calls"], **extra})

        if gov.killed.is_set():
            return finish(503, "killed")
        if user not in config.users:
            return finish(401, "unauthorized")
        reasons = screen_input(message)
        if reasons:
            record["guards"] = [f"input:{r}" for r in reasons]
            record["output"] = "This request was blocked by the input guard."
            return finish(200, "blocked")
        messages = [{"role": "system", "content": config.system_prompt}, {"role": "user", "content": message}]
        worst = estimate_cost(messages, config.tools, config.max_tokens, gov.prices)
        if gov.spent[user] + gov.reserved[user] + worst > config.users[user] + 1e-12:
            record["guards"] = ["spend_cap"]
            return finish(429, "over_cap")
        gov.reserved[user] += worst
        try:
            killed, response = await gov.unless_killed(gov.complete(messages, user, config.tools))
        except Exception as exc:  # noqa: BLE001 - a backend failure is one clean error, audited
            record["output"] = f"backend error: {type(exc).__name__}"
            return finish(502, "error")
        finally:
            gov.reserved[user] -= worst
        if killed:
            return finish(503, "killed")
        usage = dict(response.usage) if getattr(response, "usage", None) else {}
        cost = usage_cost(usage, gov.prices)
        gov.spent[user] += cost
        record.update(tokens={"prompt": int(usage.get("prompt_tokens") or 0),
                              "completion": int(usage.get("completion_tokens") or 0),
                              "total": int(usage.get("total_tokens") or 0)},
                      cost_usd=cost, confidence=confidence(_logprobs(response)))
        reply = response.choices[0].message
        text = reply.content or ""
        leaks = screen_output(text, list(config.protected))
        if leaks:
            record["guards"] = [f"output:{r}" for r in leaks]
            record["output"] = WITHHELD
            return finish(200, "withheld")
        record["output"] = text
        approvals = []
        for call in reply.tool_calls or []:
            name, arguments = call.function.name, _parse_arguments(call.function.arguments)
            entry: dict[str, Any] = {"name": name, "arguments": arguments}
            if name not in tool_names or arguments is None:
                entry["status"] = "refused"
            elif screen_output(str(arguments), list(config.protected)):
                entry["status"] = "refused"
                record["guards"].append("output:tool_arguments")
            elif name in config.high_risk_tools:
                approval_id = uuid.uuid4().hex
                gov.approvals[approval_id] = {"user": user, "name": name, "arguments": arguments, "state": "pending",
                                              "call_id": record["call_id"]}
                entry.update(status="pending_approval", approval_id=approval_id)
                approvals.append(approval_id)
            elif gov.killed.is_set():
                entry["status"] = "killed"
            else:
                entry.update(status="executed", result=await gov.execute(name, arguments))
            record["tool_calls"].append(entry)
        return finish(200, "pending_approval" if approvals else "ok", approvals=approvals)

    @app.post("/v1/approvals/{approval_id}")
    async def decide(approval_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        approver, decision = str(body.get("approver", "")), str(body.get("decision", ""))
        pending = gov.approvals.get(approval_id)
        record = {"kind": "approval", "approval_id": approval_id, "approver": approver, "decision": decision,
                  "user": pending["user"] if pending else None, "tool": pending["name"] if pending else None}

        def finish(code: int, status: str, **extra: Any) -> JSONResponse:
            gov.audit.append({**record, "status": status})
            return _reply(code, {"status": status, "approval_id": approval_id, **extra})

        if pending is None:
            return finish(404, "unknown")
        if gov.killed.is_set():
            return finish(503, "killed")
        if approver not in config.approvers or approver == pending["user"] or decision not in ("approve", "deny"):
            return finish(403, "forbidden")
        if pending["state"] != "pending":
            return finish(409, pending["state"])
        if decision == "deny":
            pending["state"] = "denied"
            return finish(200, "denied")
        pending["state"] = "executed"
        return finish(200, "executed", result=await gov.execute(pending["name"], pending["arguments"]))

    @app.get("/v1/spend/{user}")
    async def spend(user: str) -> JSONResponse:
        if user not in config.users:
            return _reply(404, {"error": "unknown user"})
        return _reply(200, {"user": user, "spent_usd": gov.spent[user], "cap_usd": config.users[user]})

    @app.post("/admin/kill")
    async def kill(request: Request) -> JSONResponse:
        if not admin(request):
            return _reply(403, {"error": "admin token required"})
        engaged = bool((await request.json()).get("engaged", True))
        if engaged:
            gov.killed.set()
        else:
            gov.killed = asyncio.Event()
        gov.audit.append({"kind": "kill", "engaged": engaged, "status": "ok"})
        return _reply(200, {"engaged": engaged})

    @app.post("/admin/deploy")
    async def deploy(request: Request) -> JSONResponse:
        if not admin(request):
            return _reply(403, {"error": "admin token required"})
        candidate = str((await request.json()).get("model", ""))

        async def run(model: str) -> dict[str, bool]:
            async def one(case: dict[str, str]) -> tuple[str, bool]:
                messages = [{"role": "system", "content": config.system_prompt},
                            {"role": "user", "content": case["prompt"]}]
                response = await gov.complete(messages, "eval-gate", [], model=model)
                return case["id"], case_passes(response.choices[0].message.content or "", case["expect"])

            return dict(await asyncio.gather(*(one(case) for case in config.eval_cases)))

        if gov.model not in gov.baselines:
            gov.baselines[gov.model] = await run(gov.model)
        results = await run(candidate)
        decision = gate_decision(gov.baselines[gov.model], results)
        gov.audit.append({"kind": "deploy", "from": gov.model, "candidate": candidate, **decision,
                          "status": "promoted" if decision["promoted"] else "blocked"})
        if decision["promoted"]:
            gov.model = candidate
            gov.baselines[candidate] = results
        return _reply(200 if decision["promoted"] else 409, {"model": gov.model, **decision})

    return app

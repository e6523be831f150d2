"""Ledgerly, a finance-operations assistant behind a governed gateway.

    POST /v1/chat                 {"user", "message"} -> {"status", "call_id", "answer", "tool_calls", "approvals"}
    POST /v1/approvals/{id}       {"approver", "decision": "approve" | "deny"}
    GET  /v1/spend/{user}         {"user", "spent_usd", "cap_usd"}
    POST /admin/kill              {"engaged": bool}        header x-admin-token
    POST /admin/deploy            {"model": candidate}     header x-admin-token

What this starter does: it checks the user, calls the model through litellm and runs every tool
call the model asks for, and writes an unchained log line. What it does not do yet (README.md):
the guards, spend caps, human approval, a kill switch that stops calls in flight, the
evaluation gate and a hash-chained audit record for every request.
"""

from __future__ import annotations

import asyncio  # noqa: F401 - you will need it
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import: no cost-map download
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

import httpx  # noqa: E402
import litellm  # noqa: E402 - 3-10 s the first time; the environment above must be set first
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from controls import AuditLog, screen_input, screen_output  # noqa: E402, F401 - use them

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
    """The state behind the endpoints."""

    def __init__(self, config: AssistantConfig) -> None:
        self.config = config
        self.audit = AuditLog(config.audit_path)
        self.model = config.model
        self.killed = False  # TODO: something an in-flight request can wait on (asyncio.Event)

    async def complete(self, messages: list[dict[str, Any]], user: str, tools: list[dict[str, Any]],
                       model: str | None = None) -> Any:
        """One model call through litellm."""
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

    async def execute(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run a tool at the tool service."""
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self.config.tool_base}/{name}", json=arguments)
        return response.json()


def create_app(config: AssistantConfig) -> FastAPI:
    """The governed assistant as a FastAPI app."""
    app = FastAPI(title="Ledgerly")
    gov = Governor(config)
    app.state.governor = gov

    @app.post("/v1/chat")
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        user, message = str(body.get("user", "")), str(body.get("message", ""))
        call_id = uuid.uuid4().hex
        if gov.killed:
            return JSONResponse({"status": "killed", "call_id": call_id}, status_code=503)
        if user not in config.users:
            return JSONResponse({"status": "unauthorized", "call_id": call_id}, status_code=401)
        # TODO: input guard, spend reservation, race the call against the kill switch
        messages = [{"role": "system", "content": config.system_prompt}, {"role": "user", "content": message}]
        response = await gov.complete(messages, user, config.tools)
        reply = response.choices[0].message
        text = reply.content or ""
        # TODO: output guard; confidence; settle the spend
        tool_calls = []
        for call in reply.tool_calls or []:
            arguments = json.loads(call.function.arguments or "{}")
            # TODO: least privilege: unknown tools refused, high-risk tools wait for a human approver
            tool_calls.append({"name": call.function.name, "arguments": arguments, "status": "executed",
                               "result": await gov.execute(call.function.name, arguments)})
        gov.audit.append({"kind": "chat", "call_id": call_id, "user": user, "input": message, "output": text,
                          "status": "ok"})  # TODO: the full record, for every request
        return JSONResponse({"status": "ok", "call_id": call_id, "answer": text, "tool_calls": tool_calls,
                             "approvals": []})

    @app.post("/v1/approvals/{approval_id}")
    async def decide(approval_id: str, request: Request) -> JSONResponse:
        return JSONResponse({"status": "not implemented"}, status_code=501)  # TODO

    @app.get("/v1/spend/{user}")
    async def spend(user: str) -> JSONResponse:
        return JSONResponse({"user": user, "spent_usd": 0.0, "cap_usd": config.users.get(user)})  # TODO

    @app.post("/admin/kill")
    async def kill(request: Request) -> JSONResponse:
        # TODO: the admin token; stop requests in flight within 1 s; {"engaged": false} releases it
        gov.killed = bool((await request.json()).get("engaged", True))
        return JSONResponse({"engaged": gov.killed})

    @app.post("/admin/deploy")
    async def deploy(request: Request) -> JSONResponse:
        return JSONResponse({"status": "not implemented"}, status_code=501)  # TODO: the evaluation gate

    return app


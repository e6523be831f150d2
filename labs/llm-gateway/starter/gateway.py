"""An LLM gateway: one OpenAI-style endpoint in front of two backends, built on litellm.Router.

    POST /v1/chat/completions   Authorization: Bearer <key>, body = OpenAI chat request
    GET  /v1/spend              Authorization: Bearer <key> -> {"key": ..., "spend_usd": ...}

What this starter does: it checks the API key and forwards every request to the replica, once.
What it does not do yet (see README.md): retries with backoff, a per-attempt timeout, fallback
to the embedded model, a response cache, per-key rate limits and spend tracking.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import: no cost-map download
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

import litellm  # noqa: E402 - 3-10 s the first time; the environment above must be set first
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

REPLICA = "replica"    # model group of the cheap replica, tried first
FALLBACK = "fallback"  # model group of the embedded model, used when the replica fails
BACKEND_MODEL = "openai/smollm2"  # both backends speak the OpenAI API and serve "smollm2"

# USD per 1,000,000 tokens: (prompt, completion). The grader passes its own table.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {REPLICA: (0.20, 0.80), FALLBACK: (1.50, 6.00)}


@dataclass
class GatewayConfig:
    """Everything the gateway needs to know; the grader builds one of these."""

    replica_base: str                    # OpenAI-compatible base URL ending in /v1: tried first
    fallback_base: str                   # base URL of the embedded model server: the fallback
    keys: dict[str, int]                 # API key -> requests allowed per rate window
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    model: str = "smollm2"               # the model name clients ask for
    timeout_s: float = 1.0               # per attempt on the replica
    fallback_timeout_s: float = 60.0     # per attempt on the fallback (slow, shared, but reliable)
    num_retries: int = 2                 # retries on the replica before falling back
    rate_window_s: float = 60.0          # sliding window of the per-key rate limit
    cache_ttl_s: float = 300.0
    cache_max_entries: int = 1024


class RateLimiter:
    """Sliding window: a key may make `limit` requests in any `window_s` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s

    def acquire(self, key: str, limit: int) -> float:
        """0 if the request may go ahead (and it is counted), else seconds until a slot frees."""
        raise NotImplementedError("TODO: a deque of timestamps per key")


class ResponseCache:
    """In-memory cache with a TTL, keyed by (API key, model, messages, parameters)."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries

    def get(self, key: str) -> Any:
        raise NotImplementedError("TODO")

    def put(self, key: str, body: dict[str, Any], deployment: str) -> None:
        raise NotImplementedError("TODO")


class SpendLedger:
    """USD per API key, priced per deployment from the usage tokens the backend reported."""

    def __init__(self, prices: dict[str, tuple[float, float]]) -> None:
        self.prices = prices
        self.spend: dict[str, float] = {}

    def charge(self, api_key: str, deployment: str, usage: dict[str, Any]) -> float:
        raise NotImplementedError("TODO: tokens x price per 1M tokens")


def build_router(config: GatewayConfig) -> litellm.Router:
    """TODO: add the fallback deployment, retries, timeouts and the fallback rule."""
    model_list = [
        {"model_name": REPLICA, "litellm_params": {
            "model": BACKEND_MODEL, "api_base": config.replica_base, "api_key": "gateway"}},
    ]
    return litellm.Router(model_list=model_list, num_retries=0)


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def create_app(config: GatewayConfig) -> FastAPI:
    """The gateway as a FastAPI app; `app.state.router` is the litellm.Router it uses."""
    app = FastAPI(title="LLM gateway")
    router = build_router(config)
    app.state.router = router

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        api_key = _bearer(request)
        if api_key not in config.keys:
            return _error(401, "missing or unknown API key", "authentication_error")
        # TODO: rate limit (429 + Retry-After) before anything else is done for this key
        body = await request.json()
        messages = body.get("messages")
        params = {name: body[name] for name in ("max_tokens", "temperature") if body.get(name) is not None}
        # TODO: answer identical requests from the cache (x-gateway-cache: hit)
        try:
            response = await router.acompletion(model=REPLICA, messages=messages, **params)
        except Exception as exc:  # noqa: BLE001 - every backend failure becomes one clean 502
            return _error(502, f"backend failed: {type(exc).__name__}: {str(exc)[:200]}", "upstream_error")
        payload = json.loads(response.model_dump_json())
        # TODO: which deployment served it? charge the key's spend; cache the answer
        return JSONResponse(payload, headers={"x-gateway-cache": "miss", "x-gateway-deployment": REPLICA})

    @app.get("/v1/spend")
    async def spend(request: Request) -> JSONResponse:
        api_key = _bearer(request)
        if api_key not in config.keys:
            return _error(401, "missing or unknown API key", "authentication_error")
        return JSONResponse({"key": api_key, "spend_usd": 0.0})  # TODO: the ledger's figure

    return app

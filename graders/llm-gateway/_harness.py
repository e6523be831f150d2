"""The llm-gateway grader's world, all on 127.0.0.1 (the grader's loopback, shared with the learner's sandbox):

- `FakeReplica`: an OpenAI-compatible stand-in for "another replica" (standard library HTTP
  server). It returns canned completions with deterministic usage and injects failures on cue:
  500s, hangs far past the gateway's timeout, slow answers; seeded, per attempt. It logs every
  attempt, so the grader counts backend calls itself.
- `EmbeddedProxy`: the gateway's fallback URL. It forwards each request to the real embedded
  model through `workbench.llm.chat` (so calls are logged, charged to the lab's budget and
  recordable) and counts them.
- `running_gateway`: the learner's FastAPI app under uvicorn in a thread of the sandboxed learner
  worker (the grader never imports learner code), on a free loopback port.
- Seeded prompts, and a small HTTP client that measures each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HOST = "127.0.0.1"
MODEL = "smollm2"

_litellm: Any = None


def import_litellm() -> Any:
    """Import litellm once per grading run in the grader, offline and quiet (EmbeddedProxy calls
    the model through workbench.llm.chat; the learner's gateway imports its own in the worker).

    The workbench's call-log callback is detached again: calls are counted by FakeReplica and
    EmbeddedProxy, and EmbeddedProxy's calls through workbench.llm.chat record themselves."""
    global _litellm
    if _litellm is None:
        from workbench.llm.client import load_litellm, remove_callback

        litellm = load_litellm()
        for callback in list(litellm.callbacks or []):
            if type(callback).__name__ == "WorkbenchCallLog":
                remove_callback(callback)
        _litellm = litellm
    return _litellm


# -- seeded prompts -----------------------------------------------------------------------------

_TEMPLATES = (
    "In one word, what colour is {x}?",
    "Name one thing people do with {x}.",
    "Is {x} heavier than a cat? Answer yes or no.",
    "Give a one-word synonym for {x}.",
    "Where would you usually find {x}?",
    "Say something short about {x}.",
)
_THINGS = ("a lemon", "the sea", "a pine tree", "a brick", "snow", "a tomato", "a violin", "copper", "a cloud",
           "a kettle", "a glacier", "a pumpkin", "a feather", "an anvil", "a candle", "a teacup", "a comet", "a canoe")


def prompts(seed: int, n: int) -> list[str]:
    """n distinct short prompts, from templates x things, shuffled by the seed."""
    rng = random.Random(seed)
    pool = [t.format(x=x) for t in _TEMPLATES for x in _THINGS]
    rng.shuffle(pool)
    if n > len(pool):
        raise ValueError("not enough prompts")
    return pool[:n]


def chat_body(prompt: str, max_tokens: int = 8, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 0, **extra}


def digest(messages: Any) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


# -- the fake replica -----------------------------------------------------------------------------

@dataclass
class Attempt:
    started: float
    mode: str            # ok | slow | error | hang
    prompt: str
    finished: float = 0.0


@dataclass
class Plan:
    """How the fake answers: a fixed mode, "first_fails" (500 on the first `fail_first` attempts
    of each new prompt, then ok), "flaky" (per attempt, seeded: p_error 500s, p_hang hangs,
    p_slow slow) or "scripted" (`script[prompt]` = the modes of its 1st, 2nd, ... attempt, then
    ok; see `flaky_script`); `overrides` pin the mode for given prompts."""

    kind: str = "ok"                 # ok | error | hang | first_fails | flaky | scripted
    fail_first: int = 1
    script: dict[str, list[str]] = field(default_factory=dict)
    hang_s: float = 10.0
    p_error: float = 0.15
    p_hang: float = 0.15
    p_slow: float = 0.15
    slow_s: tuple[float, float] = (0.2, 0.5)
    seed: int = 0
    overrides: dict[str, str] = field(default_factory=dict)   # prompt -> fixed mode (error | hang)
    rng: random.Random = field(default_factory=random.Random)
    seen: dict[str, int] = field(default_factory=dict)


class FakeReplica:
    """OpenAI-compatible fake with injected failures; every attempt is logged."""

    def __init__(self) -> None:
        self.plan = Plan()
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                fake._serve(self, body)

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-replica", daemon=True)
        self.thread.start()
        self.base = f"http://{HOST}:{self.server.server_address[1]}/v1"

    def set_plan(self, kind: str, **kwargs: Any) -> None:
        with self._lock:
            plan = Plan(kind=kind, **kwargs)
            plan.rng = random.Random(plan.seed)
            self.plan = plan

    def _choose(self, prompt: str) -> tuple[str, float]:
        with self._lock:
            plan = self.plan
            if prompt in plan.overrides:
                mode = plan.overrides[prompt]
                return mode, plan.hang_s if mode == "hang" else 0.0
            if plan.kind in ("ok", "error", "hang"):
                return plan.kind, plan.hang_s if plan.kind == "hang" else 0.0
            if plan.kind == "first_fails":
                plan.seen[prompt] = plan.seen.get(prompt, 0) + 1
                return ("error" if plan.seen[prompt] <= plan.fail_first else "ok"), 0.0
            if plan.kind == "scripted":
                done = plan.seen.get(prompt, 0)
                plan.seen[prompt] = done + 1
                modes = plan.script.get(prompt, [])
                mode = modes[done] if done < len(modes) else "ok"
                if mode == "hang":
                    return mode, plan.hang_s
                return mode, (plan.rng.uniform(*plan.slow_s) if mode == "slow" else 0.0)
            roll = plan.rng.random()
            if roll < plan.p_error:
                return "error", 0.0
            if roll < plan.p_error + plan.p_hang:
                return "hang", plan.hang_s
            if roll < plan.p_error + plan.p_hang + plan.p_slow:
                return "slow", plan.rng.uniform(*plan.slow_s)
            return "ok", 0.0

    def _serve(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        messages = body.get("messages") or [{"content": ""}]
        prompt = str(messages[-1].get("content") if isinstance(messages[-1], dict) else messages[-1])
        mode, delay = self._choose(prompt)
        attempt = Attempt(time.perf_counter(), mode, prompt)
        with self._lock:
            self.attempts.append(attempt)
        try:
            if mode == "error":
                _send_json(handler, 500, {"error": {"message": "injected failure", "type": "server_error"}})
                return
            if delay:
                time.sleep(delay)
            _send_json(handler, 200, canned_completion(body))
        except OSError:
            pass  # the gateway gave up on this attempt (timeout) and closed the connection
        finally:
            attempt.finished = time.perf_counter()

    def snapshot(self) -> int:
        with self._lock:
            return len(self.attempts)

    def since(self, mark: int) -> list[Attempt]:
        with self._lock:
            return list(self.attempts[mark:])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def flaky_script(seed: int, prompts_: list[str], attempts: int, p_error: float, p_hang: float, p_slow: float,
                 exhausted: tuple[int, int]) -> dict[str, list[str]]:
    """Per prompt, the modes of its first `attempts` replica attempts, drawn from `seed` (error /
    hang / slow / ok per attempt, independently); redrawn until the number of prompts whose every
    attempt fails (so only the fallback can answer them) lies in `exhausted` = (low, high). The
    schedule belongs to the prompt, not to arrival order, so concurrency cannot change it."""
    rng = random.Random(seed)
    while True:
        script: dict[str, list[str]] = {}
        for prompt in prompts_:
            modes = []
            for _ in range(attempts):
                roll = rng.random()
                modes.append("error" if roll < p_error else "hang" if roll < p_error + p_hang
                             else "slow" if roll < p_error + p_hang + p_slow else "ok")
            script[prompt] = modes
        failed = sum(all(m in ("error", "hang") for m in modes) for modes in script.values())
        if exhausted[0] <= failed <= exhausted[1]:
            return script


def _words(text: Any) -> int:
    return len(str(text or "").split())


def canned_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A deterministic answer with usage the grader can recount."""
    messages = body.get("messages") or []
    last = str(messages[-1].get("content", "")) if messages and isinstance(messages[-1], dict) else ""
    words = ["Replica", "answer", "about", *last.split()[:6]]
    max_tokens = int(body.get("max_tokens") or 16)
    content = " ".join(words[:max(1, max_tokens)])
    prompt_tokens = 3 + sum(4 + _words(m.get("content")) for m in messages if isinstance(m, dict))
    completion_tokens = _words(content)
    return {
        "id": "chatcmpl-replica-" + digest(messages), "object": "chat.completion", "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


# -- the embedded model behind a counting proxy ---------------------------------------------------

@dataclass
class ProxiedCall:
    started: float
    prompt: str
    status: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class EmbeddedProxy:
    """The fallback URL the gateway gets: forwards to the real model through workbench.llm.chat."""

    def __init__(self, call_timeout_s: float = 60.0) -> None:
        self.calls: list[ProxiedCall] = []
        self._lock = threading.Lock()
        self.call_timeout_s = call_timeout_s
        self.down = False  # True: answer 503 at once, without calling the model (logged as a call)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                proxy._serve(self, body)

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="embedded-proxy", daemon=True)
        self.thread.start()
        self.base = f"http://{HOST}:{self.server.server_address[1]}/v1"

    def _serve(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        from workbench.llm import LLMError, chat

        messages = body.get("messages") or []
        prompt = str(messages[-1].get("content", "")) if messages and isinstance(messages[-1], dict) else ""
        started = time.perf_counter()
        if self.down:
            with self._lock:
                self.calls.append(ProxiedCall(started, prompt, 503))
            with contextlib.suppress(OSError):
                _send_json(handler, 503, {"error": {"message": "embedded model: down (injected)",
                                                    "type": "service_unavailable"}})
            return
        try:
            reply = chat(messages, max_tokens=int(body.get("max_tokens") or 16),
                         temperature=float(body.get("temperature") or 0.0), seed=body.get("seed", 0),
                         timeout_s=self.call_timeout_s, retries=1)
        except LLMError as exc:
            with self._lock:
                self.calls.append(ProxiedCall(started, prompt, 503, seconds=time.perf_counter() - started))
            with contextlib.suppress(OSError):
                _send_json(handler, 503, {"error": {"message": f"embedded model: {exc}", "type": "service_unavailable"}})
            return
        payload = {
            "id": "chatcmpl-embedded-" + digest(messages), "object": "chat.completion", "created": int(time.time()),
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content or ""},
                         "finish_reason": reply.finish_reason or "stop"}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens},
        }
        with self._lock:
            self.calls.append(ProxiedCall(started, prompt, 200, reply.prompt_tokens, reply.completion_tokens,
                                          time.perf_counter() - started))
        with contextlib.suppress(OSError):
            _send_json(handler, 200, payload)

    def snapshot(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, mark: int) -> list[ProxiedCall]:
        with self._lock:
            return list(self.calls[mark:])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the learner's gateway under uvicorn ------------------------------------------------------------

@contextlib.contextmanager
def running_gateway(app: Any, learner_module: Any, start_timeout_s: float = 30.0) -> Iterator[str]:
    """Serve the learner's ASGI app under uvicorn on a free loopback port, in a thread of the
    sandboxed learner worker (where `app` lives: it is a handle to the object create_app returned
    there); yields its base URL. The worker shares the grader's loopback, nothing else.

    `learner_module` is the grader plugin's fixture: it imports a module by name in the worker
    (uvicorn, socket and threading here, so the app is served by the same code as before, only
    in the learner's sandbox instead of in the grader process)."""
    uvicorn, sockets, threads = learner_module("uvicorn"), learner_module("socket"), learner_module("threading")
    sock = sockets.socket()  # AF_INET, SOCK_STREAM
    sock.bind((HOST, 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="auto", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threads.Thread(target=server.run, kwargs={"sockets": [sock]}, name="gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    try:
        while server.started is not True:
            if not thread.is_alive():
                raise RuntimeError("the gateway did not start: uvicorn exited (see the learner output below)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start within {start_timeout_s:g} s")
            time.sleep(0.05)
        yield f"http://{HOST}:{port}"
    finally:
        with contextlib.suppress(Exception):
            server.should_exit = True
            thread.join(5)
        with contextlib.suppress(Exception):
            sock.close()


# -- the client -------------------------------------------------------------------------------------

@dataclass
class Reply:
    key: str
    body: dict[str, Any]
    status: int
    seconds: float
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def answered(self) -> bool:
        choices = self.json.get("choices") if isinstance(self.json, dict) else None
        return self.status == 200 and isinstance(choices, list) and bool(choices)

    @property
    def cache(self) -> str:
        return self.headers.get("x-gateway-cache", "").lower()

    @property
    def deployment(self) -> str:
        return self.headers.get("x-gateway-deployment", "").lower()

    @property
    def content(self) -> Any:
        try:
            return self.json["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return None

    @property
    def usage(self) -> dict[str, int]:
        usage = self.json.get("usage") if isinstance(self.json, dict) else None
        return usage if isinstance(usage, dict) else {}


def _reply(key: str, body: dict[str, Any], response: httpx.Response | None, seconds: float, error: str | None = None) -> Reply:
    if response is None:
        return Reply(key, body, 0, seconds, error=error)
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    return Reply(key, body, response.status_code, seconds, parsed, {k.lower(): v for k, v in response.headers.items()})


def post(base: str, key: str | None, body: dict[str, Any], timeout_s: float = 60.0) -> Reply:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    started = time.perf_counter()
    try:
        response = httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return _reply(key or "", body, None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
    return _reply(key or "", body, response, time.perf_counter() - started)


def get_spend(base: str, key: str) -> Any:
    response = httpx.get(f"{base}/v1/spend", headers={"Authorization": f"Bearer {key}"}, timeout=10.0)
    if response.status_code != 200:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    value = data.get("spend_usd") if isinstance(data, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def post_many(base: str, requests: list[tuple[str, dict[str, Any]]], concurrency: int, timeout_s: float,
              deadline_s: float) -> list[Reply]:
    """Send (key, body) requests with bounded concurrency; every request is bounded in time."""

    async def run() -> list[Reply]:
        semaphore = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
            async def one(key: str, body: dict[str, Any]) -> Reply:
                async with semaphore:
                    started = time.perf_counter()
                    try:
                        response = await client.post(f"{base}/v1/chat/completions", json=body,
                                                     headers={"Authorization": f"Bearer {key}"})
                    except httpx.HTTPError as exc:
                        return _reply(key, body, None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
                    return _reply(key, body, response, time.perf_counter() - started)

            tasks = [asyncio.ensure_future(one(key, body)) for key, body in requests]
            done, pending = await asyncio.wait(tasks, timeout=deadline_s)
            for task in pending:
                task.cancel()
            replies = []
            for (key, body), task in zip(requests, tasks, strict=True):
                if task in done and not task.cancelled() and task.exception() is None:
                    replies.append(task.result())
                else:
                    replies.append(Reply(key, body, 0, deadline_s, error="not finished before the load deadline"))
            return replies

    return asyncio.run(run())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def recount_spend(replies: list[Reply], prices: dict[str, tuple[float, float]]) -> dict[str, float]:
    """What each key should have been charged: every answer a backend produced (cache misses),
    priced by the deployment that served it, from the usage in the response."""
    spend: dict[str, float] = {}
    for reply in replies:
        if not reply.answered or reply.cache != "miss":
            continue
        prompt_price, completion_price = prices.get(reply.deployment, (float("nan"), float("nan")))
        usage = reply.usage
        cost = (int(usage.get("prompt_tokens") or 0) * prompt_price
                + int(usage.get("completion_tokens") or 0) * completion_price) / 1_000_000
        spend[reply.key] = spend.get(reply.key, 0.0) + cost
    return spend


def env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default

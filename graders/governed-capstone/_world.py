"""The governed-capstone grader's world, all on 127.0.0.1 (the loopback the learner's sandbox shares):

- `ScriptedModel`: an OpenAI-compatible chat backend the grader controls. It answers each request
  by the script registered for the message in it (a reply, a tool call, a delay, per-model answers
  for the evaluation gate), obeys attacks completely, reports deterministic usage and logprobs,
  and logs every call (user, model, max_tokens, usage, whether the reply was delivered).
- `ToolService`: the ledger's tool endpoint; logs every execution.
- `running_app`: the learner's FastAPI app under uvicorn in a thread of the sandboxed worker.
- A small HTTP client (sequential and concurrent).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HOST = "127.0.0.1"


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()


class _Server:
    def __init__(self, name: str) -> None:
        owner = self

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
                owner.serve(self, body)

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name=name, daemon=True).start()
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def serve(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Script:
    reply: str = ""
    tool: tuple[str, dict[str, Any]] | None = None
    delay_s: float = 0.0
    by_model: dict[str, str] = field(default_factory=dict)   # model name -> reply (evaluation cases)


@dataclass
class ModelCall:
    started: float
    message: str
    user: Any
    model: str
    max_tokens: Any
    logprobs: bool
    tools: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    confidence: float | None = None
    reply: str = ""
    delivered: bool = False
    finished: float = 0.0


def _last_user(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


def logprob_values(reply: str, model: str, count: int) -> list[float]:
    rng = random.Random(hashlib.sha256(f"{model}|{reply}".encode()).hexdigest())
    return [round(-rng.uniform(0.01, 1.6), 6) for _ in range(max(1, count))]


class ScriptedModel(_Server):
    """The obedient, scripted backend. Unknown messages get a plain canned answer."""

    def __init__(self) -> None:
        super().__init__("scripted-model")
        self.base = f"http://{HOST}:{self.port}/v1"
        self.scripts: dict[str, Script] = {}
        self.calls: list[ModelCall] = []
        self.default_delay_s = 0.0

    def script(self, message: str, **kwargs: Any) -> None:
        with self.lock:
            self.scripts[message] = Script(**kwargs)

    def _lookup(self, text: str) -> Script:
        with self.lock:
            exact = self.scripts.get(text)
            if exact is not None:
                return exact
            for marker, script in self.scripts.items():
                if marker in text:
                    return script
        return Script(reply="Ledgerly here: the ledger shows nothing unusual.")

    def serve(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        messages = body.get("messages") or []
        text = _last_user(messages)
        script = self._lookup(text)
        model = str(body.get("model", ""))
        reply = script.by_model.get(model, script.reply) if script.by_model else script.reply
        tools = [t.get("function", {}).get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]
        call = ModelCall(time.perf_counter(), text, body.get("user"), model, body.get("max_tokens"),
                         bool(body.get("logprobs")), tools, reply=reply)
        with self.lock:
            self.calls.append(call)
        characters = len(json.dumps(messages)) + len(json.dumps(body.get("tools") or []))
        call.prompt_tokens = math.ceil(characters / 4)
        natural = len(reply.split()) + 2 + (12 if script.tool else 0)
        max_tokens = body.get("max_tokens")
        call.completion_tokens = min(natural, int(max_tokens)) if isinstance(max_tokens, int) and max_tokens > 0 else 400
        message: dict[str, Any] = {"role": "assistant", "content": reply}
        finish = "stop"
        if script.tool and tools:
            name, arguments = script.tool
            message["tool_calls"] = [{"id": "call_" + hashlib.sha1(text.encode()).hexdigest()[:12], "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(arguments)}}]
            finish = "tool_calls"
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
        if call.logprobs:
            values = logprob_values(reply, model, min(call.completion_tokens, 8))
            choice["logprobs"] = {"content": [{"token": f"t{i}", "logprob": v, "bytes": None, "top_logprobs": []}
                                              for i, v in enumerate(values)]}
            call.confidence = math.exp(sum(values) / len(values))
        payload = {"id": "chatcmpl-scripted-" + hashlib.sha1(text.encode()).hexdigest()[:12], "object": "chat.completion",
                   "created": int(time.time()), "model": model, "choices": [choice],
                   "usage": {"prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
                             "total_tokens": call.prompt_tokens + call.completion_tokens}}
        delay = script.delay_s or self.default_delay_s
        try:
            if delay:
                time.sleep(delay)
            _send_json(handler, 200, payload)
            call.delivered = True
        except OSError:
            pass  # the assistant hung up (a killed request)
        finally:
            call.finished = time.perf_counter()

    def mark(self) -> int:
        with self.lock:
            return len(self.calls)

    def since(self, mark: int) -> list[ModelCall]:
        with self.lock:
            return list(self.calls[mark:])


@dataclass
class Execution:
    at: float
    name: str
    arguments: Any


class ToolService(_Server):
    """POST /tools/{name}: executes (records) a ledger operation."""

    def __init__(self) -> None:
        super().__init__("tool-service")
        self.base = f"http://{HOST}:{self.port}/tools"
        self.executions: list[Execution] = []

    def serve(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        name = handler.path.rstrip("/").rsplit("/", 1)[-1]
        with self.lock:
            self.executions.append(Execution(time.perf_counter(), name, body))
            count = len(self.executions)
        with contextlib.suppress(OSError):
            _send_json(handler, 200, {"ok": True, "tool": name, "receipt": f"R{count:05d}"})

    def mark(self) -> int:
        with self.lock:
            return len(self.executions)

    def since(self, mark: int) -> list[Execution]:
        with self.lock:
            return list(self.executions[mark:])


# -- the learner's app under uvicorn ------------------------------------------------------------------

@contextlib.contextmanager
def running_app(app: Any, learner_module: Any, start_timeout_s: float = 30.0) -> Iterator[str]:
    """Serve the learner's ASGI app (a handle to the object create_app returned in the sandboxed
    worker) under uvicorn on a free loopback port, in a thread of that worker; yields the base URL."""
    uvicorn, sockets, threads = learner_module("uvicorn"), learner_module("socket"), learner_module("threading")
    sock = sockets.socket()
    sock.bind((HOST, 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threads.Thread(target=server.run, kwargs={"sockets": [sock]}, name="assistant", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    try:
        while server.started is not True:
            if not thread.is_alive():
                raise RuntimeError("the assistant did not start: uvicorn exited (see the learner output below)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the assistant did not start within {start_timeout_s:g} s")
            time.sleep(0.05)
        yield f"http://{HOST}:{port}"
    finally:
        with contextlib.suppress(Exception):
            server.should_exit = True
            thread.join(5)
        with contextlib.suppress(Exception):
            sock.close()


# -- the client ---------------------------------------------------------------------------------------

@dataclass
class Reply:
    code: int
    json: Any
    seconds: float
    sent_at: float
    done_at: float
    error: str | None = None

    @property
    def status(self) -> str:
        return str(self.json.get("status", "")) if isinstance(self.json, dict) else ""

    @property
    def answer(self) -> str:
        value = self.json.get("answer") if isinstance(self.json, dict) else None
        return value if isinstance(value, str) else ""

    @property
    def call_id(self) -> str:
        return str(self.json.get("call_id", "")) if isinstance(self.json, dict) else ""

    @property
    def approvals(self) -> list[str]:
        value = self.json.get("approvals") if isinstance(self.json, dict) else None
        return [str(v) for v in value] if isinstance(value, list) else []

    def describe(self) -> str:
        return self.error or f"HTTP {self.code} {str(self.json)[:200]}"


def _to_reply(response: httpx.Response | None, sent_at: float, error: str | None = None) -> Reply:
    done = time.perf_counter()
    if response is None:
        return Reply(0, None, done - sent_at, sent_at, done, error)
    try:
        data = response.json()
    except ValueError:
        data = None
    return Reply(response.status_code, data, done - sent_at, sent_at, done)


def post(base: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout_s: float = 30) -> Reply:
    sent = time.perf_counter()
    try:
        return _to_reply(httpx.post(f"{base}{path}", json=body, headers=headers or {}, timeout=timeout_s), sent)
    except httpx.HTTPError as exc:
        return _to_reply(None, sent, f"{type(exc).__name__}: {exc}")


def get(base: str, path: str) -> Reply:
    sent = time.perf_counter()
    try:
        return _to_reply(httpx.get(f"{base}{path}", timeout=10), sent)
    except httpx.HTTPError as exc:
        return _to_reply(None, sent, f"{type(exc).__name__}: {exc}")


def chat(base: str, user: str, message: str, timeout_s: float = 30) -> Reply:
    return post(base, "/v1/chat", {"user": user, "message": message}, timeout_s=timeout_s)


def chat_many(base: str, requests: list[tuple[str, str]], concurrency: int, timeout_s: float = 30) -> list[Reply]:
    """Send (user, message) requests with bounded concurrency; replies in request order."""

    async def run() -> list[Reply]:
        semaphore = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
            async def one(user: str, message: str) -> Reply:
                async with semaphore:
                    sent = time.perf_counter()
                    try:
                        response = await client.post(f"{base}/v1/chat", json={"user": user, "message": message})
                    except httpx.HTTPError as exc:
                        return _to_reply(None, sent, f"{type(exc).__name__}: {exc}")
                    return _to_reply(response, sent)

            return list(await asyncio.gather(*(one(u, m) for u, m in requests)))

    return asyncio.run(run())


# -- the audit log, read with the grader's own code ----------------------------------------------------

GENESIS = "0" * 64


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def read_audit(path: str) -> tuple[list[dict[str, Any]], str | None]:
    """The log's records and the first problem with its chain (None: it verifies)."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as exc:
        return [], f"cannot read the audit log {path}: {exc}"
    records: list[dict[str, Any]] = []
    previous = GENESIS
    for index, line in enumerate(text.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            return records, f"line {index + 1} of the audit log is not JSON"
        if not isinstance(record, dict):
            return records, f"line {index + 1} of the audit log is not a JSON object"
        if record.get("seq") != index:
            return records, f"record {index} has seq {record.get('seq')!r}, expected {index}"
        if record.get("prev_hash") != previous:
            return records, f"record {index}: prev_hash does not equal record {index - 1}'s hash (GENESIS for 0)"
        if record.get("hash") != record_hash(record):
            return records, f"record {index}: hash is not sha256(canonical_json(record without 'hash'))"
        previous = record["hash"]
        records.append(record)
    return records, None

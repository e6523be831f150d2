"""Model calls across the sandbox: a metering proxy in the grader and a bridge in the parent.

    learner code (worker) / grader  --HTTP-->  MeteringProxy (grader process, 127.0.0.1 in the
    sandbox's network namespace: counts calls and tokens, enforces the lab's budget, adds the
    real API key)  --unix socket-->  ModelBridge (parent, host network)  --TCP/TLS-->  backend

The proxy speaks plain HTTP, so neither the grader nor the parent imports litellm. It forwards
to whatever OpenAI-compatible base URL the configured backend has (the embedded server, a
vLLM/Ollama server, a hosted API). Accounting happens where learner code cannot reach it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_HEAD_LIMIT = 64 * 1024
_BODY_LIMIT = 32 * 1024 * 1024
_METERED = ("/chat/completions", "/completions", "/embeddings", "/messages")
_TOTAL_RE = re.compile(rb'"total_tokens"\s*:\s*(\d+)')
_PROMPT_RE = re.compile(rb'"(?:prompt_tokens|input_tokens)"\s*:\s*(\d+)')
_COMPLETION_RE = re.compile(rb'"(?:completion_tokens|output_tokens)"\s*:\s*(\d+)')


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


class ModelBridge:
    """Parent side: a unix socket whose every connection is piped to the backend's host:port
    (TLS for https). Dumb on purpose; the grader's proxy does the HTTP."""

    def __init__(self, socket_path: str, upstream_base: str) -> None:
        parts = urlsplit(upstream_base)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.path = socket_path
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(socket_path)
        os.chmod(socket_path, 0o600)
        self._server.listen(64)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="model-bridge").start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((self.host, self.port), timeout=30)
            upstream.settimeout(None)
            if self.tls:
                upstream = ssl.create_default_context().wrap_socket(upstream, server_hostname=self.host)
        except OSError:
            client.close()
            return
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self._closed = True
        try:
            self._server.close()
        finally:
            try:
                os.unlink(self.path)
            except OSError:
                pass


@dataclass
class Meter:
    """What went through the proxy in this grading run."""

    max_calls: float | None
    max_tokens: float | None
    calls: int = 0
    tokens: int = 0
    exceeded: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self) -> str | None:
        with self.lock:
            if self.max_calls is not None and self.calls >= self.max_calls:
                message = f"LLM call budget exceeded: {self.calls} calls made, the lab allows {self.max_calls:g}"
            elif self.max_tokens is not None and self.tokens >= self.max_tokens:
                message = f"LLM token budget exceeded: {self.tokens} tokens used, the lab allows {self.max_tokens:g}"
            else:
                self.calls += 1
                return None
            self.exceeded.append(message)
            return message

    def charge(self, tokens: int) -> None:
        with self.lock:
            self.tokens += tokens
            if self.max_tokens is not None and self.tokens > self.max_tokens:
                self.exceeded.append(f"LLM token budget exceeded: {self.tokens} tokens used, the lab allows {self.max_tokens:g}")


def _env_number(name: str) -> float | None:
    try:
        value = float(os.environ.get(name, "") or 0)
    except ValueError:
        return None
    return value if value > 0 else None


class MeteringProxy:
    """Grader side: HTTP on 127.0.0.1 (inside the sandbox's loopback), one request per
    connection, forwarded through the parent's bridge."""

    def __init__(self, bridge_path: str, upstream_base: str, api_key: str | None,
                 on_call: Callable[[dict[str, Any]], None] | None = None) -> None:
        parts = urlsplit(upstream_base)
        self.upstream_host = parts.netloc
        self.upstream_path = parts.path.rstrip("/")
        self.bridge_path = bridge_path
        self.api_key = api_key
        self.on_call = on_call
        self.meter = Meter(_env_number("WORKBENCH_LLM_MAX_CALLS"), _env_number("WORKBENCH_LLM_MAX_TOKENS"))
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="model-proxy").start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.upstream_path}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            self._handle(client)
        except OSError:
            pass
        finally:
            client.close()

    def _handle(self, client: socket.socket) -> None:
        client.settimeout(60)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(65536)
            if not chunk:
                return
            data += chunk
            if len(data) > _HEAD_LIMIT:
                return _reply(client, 431, "request head too large")
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
        headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]) if k]
        lower = {k.lower(): v for k, v in headers}
        if "chunked" in lower.get("transfer-encoding", "").lower():
            return _reply(client, 411, "send a Content-Length body")
        length = int(lower.get("content-length", "0") or 0)
        if length > _BODY_LIMIT:
            return _reply(client, 413, "request body too large")
        while len(body) < length:
            chunk = client.recv(min(65536, length - len(body)))
            if not chunk:
                return
            body += chunk
        metered = method == "POST" and target.split("?")[0].endswith(_METERED)
        model = ""
        if metered:
            refused = self.meter.admit()
            if refused:
                if self.on_call:
                    self.on_call({"event": "llm_call", "status": "refused", "error": refused, "path": target})
                return _reply(client, 429, refused)
            try:
                model = str(json.loads(body or b"{}").get("model", ""))
            except (ValueError, AttributeError):
                model = ""
        keep = [(k, v) for k, v in headers if k.lower() not in ("host", "connection", "keep-alive", "authorization",
                                                                   "proxy-connection", "content-length")]
        auth = lower.get("authorization")
        if self.api_key:
            auth = f"Bearer {self.api_key}"
        out = [f"{method} {target} HTTP/1.1", f"Host: {self.upstream_host}", "Connection: close",
               f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in keep)]
        if auth:
            out.append(f"Authorization: {auth}")
        started = time.monotonic()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(self.bridge_path)
        except OSError:
            return _reply(client, 502, "the model backend is not reachable from the grader")
        upstream.sendall("\r\n".join(out).encode("latin-1") + b"\r\n\r\n" + body)
        seen = bytearray()
        status = 0
        while True:
            chunk = upstream.recv(65536)
            if not chunk:
                break
            if not status and chunk.startswith(b"HTTP/"):
                try:
                    status = int(chunk.split(b" ", 2)[1])
                except (IndexError, ValueError):
                    status = 0
            client.sendall(chunk)
            if metered and len(seen) < _BODY_LIMIT:
                seen += chunk
        upstream.close()
        if metered:
            tokens = _tokens(bytes(seen))
            self.meter.charge(tokens)
            if self.on_call:
                self.on_call({"event": "llm_call", "status": status, "model": model, "tokens": tokens,
                              "duration_s": round(time.monotonic() - started, 3), "path": target.split("?")[0]})


def _tokens(body: bytes) -> int:
    totals = _TOTAL_RE.findall(body)
    if totals:
        return int(totals[-1])
    prompt, completion = _PROMPT_RE.findall(body), _COMPLETION_RE.findall(body)
    if prompt or completion:
        return int(prompt[-1] if prompt else 0) + int(completion[-1] if completion else 0)
    return body.count(b"data: {")  # a stream without usage: one token per chunk, roughly


def _reply(client: socket.socket, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "workbench_proxy", "code": status}}).encode()
    reason = {411: "Length Required", 413: "Payload Too Large", 429: "Too Many Requests", 431: "Headers Too Large",
              502: "Bad Gateway"}.get(status, "Error")
    client.sendall(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                   f"Connection: close\r\n\r\n".encode() + body)


_proxy: MeteringProxy | None = None


def start_metering_proxy(emit: Callable[[dict[str, Any]], None]) -> MeteringProxy:
    """In the grader: start the proxy and point everything in this run (grader calls, the
    worker's environment) at it."""
    global _proxy
    api_key = os.environ.pop("WORKBENCH_UPSTREAM_KEY", None) or None
    _proxy = MeteringProxy(os.environ["WORKBENCH_MODEL_SOCKET"], os.environ["WORKBENCH_UPSTREAM_BASE"], api_key, emit)
    os.environ["WORKBENCH_LLM_API_BASE"] = _proxy.base_url
    os.environ["OPENAI_API_KEY"] = "workbench-proxy"  # the proxy puts the real key in
    return _proxy


def current_proxy() -> MeteringProxy | None:
    """The grader's proxy, if this run has one."""
    return _proxy


__all__ = ["Meter", "MeteringProxy", "ModelBridge", "current_proxy", "start_metering_proxy"]

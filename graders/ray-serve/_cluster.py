"""Helpers for the ray-serve grader: the Ray host it starts in the learner sandbox (see
_rayhost.py), the processes and batch logs it reads from outside, a small keep-alive HTTP/1.1
client for loopback load, texts from a seed and unbatched reference embeddings."""

from __future__ import annotations

import asyncio
import json
import math
import os
import queue
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.core.worker import WorkerConfig, kill_tree

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
REPLICA_TITLE = b"ray::ServeReplica:embed:"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- the Ray host in the sandbox ------------------------------------------------------------------

class HostError(Exception):
    """The Ray host did not answer, or answered with an error."""


class RayHost:
    """A local Ray instance + Serve (HTTP on 127.0.0.1:port) in the learner sandbox, driven
    over the host's stdin/stdout. Replicas are counted from the process table, batch sizes
    from the call logs that the grader's sitecustomize writes in every Ray process."""

    def __init__(self, start, num_cpus: int = 2) -> None:
        self.port = free_port()
        private_tmp = WorkerConfig().private_tmp
        suffix = f"{os.getpid()}-{self.port}"
        self.hook_dir = private_tmp / f"wb-ray-hook-{suffix}"
        self.call_dir = private_tmp / f"wb-ray-calls-{suffix}"
        self.hook_dir.mkdir(parents=True, exist_ok=True)
        self.call_dir.mkdir(parents=True, exist_ok=True)
        (self.hook_dir / "sitecustomize.py").write_text((HERE / "_hook_sitecustomize.py").read_text())
        base_path = WorkerConfig().env().get("PYTHONPATH", "")
        env = {
            "PYTHONPATH": os.pathsep.join(p for p in (str(self.hook_dir), base_path) if p),
            "WB_CALL_LOG": str(self.call_dir),
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_DEDUP_LOGS": "0", "PYTHONUNBUFFERED": "1",
        }
        self._log = tempfile.TemporaryFile(mode="w+b")
        self.started_at = time.monotonic()
        self.proc = start([sys.executable, "-c", (HERE / "_rayhost.py").read_text(), str(self.port), str(num_cpus)],
                          env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        self._answers: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready: dict | None = None
        self.problem: str | None = None
        self.current_args: dict | None = None
        self._offsets: dict[str, int] = {}
        self._sequence = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("@@wb "):
                try:
                    self._answers.put(json.loads(line[5:]))
                except ValueError:
                    continue
        self._answers.put(None)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            self._log.seek(0)
            text = self._log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        lines = [ln for ln in text.splitlines() if "File descriptor limit" not in ln]
        return "\n".join(lines)[-chars:].strip()

    def _next(self, timeout_s: float) -> dict:
        try:
            answer = self._answers.get(timeout=timeout_s)
        except queue.Empty:
            # the host works through commands one at a time: after this, every later one would wait too
            self.problem = (f"the Ray host gave no answer within {timeout_s:g} s (a deploy that never became "
                            f"healthy?); the checks after this one are not run:\n{self.log_tail()}")
            raise HostError(self.problem) from None
        if answer is None:
            self._answers.put(None)
            raise HostError(f"the Ray host exited (code {self.proc.poll()}):\n{self.log_tail()}")
        return answer

    def wait_ready(self, timeout_s: float) -> None:
        try:
            self.ready = self._next(timeout_s)
            self.ready["total_s"] = time.monotonic() - self.started_at
        except HostError as exc:
            self.problem = f"Ray did not start: {exc}"

    def command(self, timeout_s: float, **command) -> dict:
        if self.problem:
            raise HostError(self.problem)
        with self._lock:
            assert self.proc.stdin is not None
            self._sequence += 1
            try:
                self.proc.stdin.write((json.dumps({**command, "id": self._sequence}) + "\n").encode())
                self.proc.stdin.flush()
            except (OSError, ValueError) as exc:
                raise HostError(f"the Ray host is gone ({exc}):\n{self.log_tail()}") from None
            deadline = time.monotonic() + timeout_s
            while True:  # an answer to an earlier command that timed out is dropped
                answer = self._next(max(0.01, deadline - time.monotonic()))
                if answer.get("id") == self._sequence:
                    return answer

    def deploy(self, args: dict, timeout_s: float = 60.0) -> dict:
        """`serve.run(build_app(args))`; raises HostError with the learner's error."""
        self.current_args = None
        answer = self.command(timeout_s, cmd="deploy", args=args)
        if not answer.get("ok"):
            raise HostError(f"build_app({args}) / serve.run failed: {answer.get('error')}\n{answer.get('trace', '')[-1200:]}")
        self.current_args = dict(args)
        return answer

    def status(self, timeout_s: float = 20.0) -> dict:
        answer = self.command(timeout_s, cmd="status")
        if not answer.get("ok"):
            raise HostError(f"serve.status() failed: {answer.get('error')}")
        return answer

    def configs(self, timeout_s: float = 20.0) -> dict[str, dict]:
        """{deployment name: its deployment config}, as Serve's controller holds it."""
        answer = self.command(timeout_s, cmd="config")
        if not answer.get("ok"):
            raise HostError(f"reading the deployment config failed: {answer.get('error')}")
        return answer["configs"]

    def running_replicas(self) -> int:
        """RUNNING replicas of the app's deployments, as Serve's controller reports them."""
        deployments = self.status().get("deployments", {})
        return sum(int(d["replicas"].get("RUNNING", 0)) for d in deployments.values())

    def replica_pids(self) -> set[int]:
        """Live replica processes of the 'embed' app, from the process table (not from Ray)."""
        found: set[int] = set()
        todo, seen = [self.proc.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if cmdline.startswith(REPLICA_TITLE) and state != "Z":
                found.add(pid)
            todo.extend(_children(pid))
        return found

    def tree_rss_mb(self) -> float:
        total_kb, todo, seen = 0, [self.proc.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                pass
            todo.extend(_children(pid))
        return total_kb / 1024

    def mark(self) -> None:
        """Only call-log lines written after this count in `batches()`."""
        self._offsets = {f.name: f.stat().st_size for f in self.call_dir.glob("*.log")}

    def batches(self) -> tuple[list[int], list[int]]:
        """(sizes of the batches @serve.batch formed, sizes of the embedder calls) since `mark()`."""
        serve_batches: list[int] = []
        model_calls: list[int] = []
        for path in sorted(self.call_dir.glob("*.log")):
            with open(path, "rb") as handle:
                handle.seek(self._offsets.get(path.name, 0))
                for line in handle.read().decode("ascii", "replace").splitlines():
                    kind, _, size = line.partition(" ")
                    if size.strip().isdigit():
                        (serve_batches if kind == "S" else model_calls if kind == "E" else []).append(int(size))
        return serve_batches, model_calls

    def shutdown(self) -> None:
        if self.proc.poll() is None and not self.problem:
            try:
                self.command(45.0, cmd="shutdown")
            except HostError:
                pass
        if self.proc.poll() is None:
            kill_tree(self.proc)
        self._log.close()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out.extend(int(c) for c in (task / "children").read_text().split())
    except (OSError, ValueError):
        pass
    return out


# -- a small HTTP/1.1 client ----------------------------------------------------------------------

@dataclass
class Reply:
    status: int | None  # None: no answer (see error)
    latency_s: float
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    index: int = -1
    done_at: float = 0.0

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def describe(self) -> str:
        if self.status is None:
            return str(self.error)
        return f"status {self.status}: {self.body[:200].decode('utf-8', 'replace')}"


def _request_bytes(method: str, path: str, port: int, body: bytes | None, close: bool) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: */*"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP response: {status_line!r}")
    headers = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    else:
        body = await reader.read()
    return int(parts[1]), headers, body


async def _one(port: int, method: str, path: str, body: bytes | None, timeout_s: float) -> Reply:
    started = time.perf_counter()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout_s)
        writer.write(_request_bytes(method, path, port, body, True))
        await writer.drain()
        status, headers, data = await asyncio.wait_for(read_response(reader), timeout_s)
        return Reply(status, time.perf_counter() - started, headers, data)
    except asyncio.TimeoutError:
        return Reply(None, time.perf_counter() - started, error=f"no answer within {timeout_s:g} s")
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        return Reply(None, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
    finally:
        if writer is not None:
            writer.close()


def request(port: int, method: str, path: str, body: bytes | None = None, timeout_s: float = 20.0) -> Reply:
    return asyncio.run(_one(port, method, path, body, timeout_s))


def embed_body(text: str) -> bytes:
    return json.dumps({"text": text}).encode()


def post_text(port: int, text: str, timeout_s: float = 20.0) -> Reply:
    return request(port, "POST", "/embed", embed_body(text), timeout_s)


async def _client(port: int, texts: list[str], next_index, replies: list, timeout_s: float, stop) -> None:
    reader = writer = None
    for index in next_index:
        if stop is not None and stop():
            return
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout_s)
            writer.write(_request_bytes("POST", "/embed", port, embed_body(texts[index % len(texts)]), False))
            status, headers, body = await asyncio.wait_for(read_response(reader), timeout_s)
            reply = Reply(status, time.perf_counter() - started, headers, body, index=index)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader = writer = None
        except asyncio.TimeoutError:
            reply = Reply(None, time.perf_counter() - started, error=f"no answer within {timeout_s:g} s", index=index)
            if writer is not None:
                writer.close()
            reader = writer = None
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            reply = Reply(None, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}", index=index)
            if writer is not None:
                writer.close()
            reader = writer = None
        reply.done_at = time.monotonic()
        replies.append(reply)
    if writer is not None:
        writer.close()


async def load_async(port: int, texts: list[str], concurrency: int, *, timeout_s: float = 20.0,
                     stop=None, repeat: bool = False) -> list[Reply]:
    """POST texts from `concurrency` keep-alive clients: each text once, or (repeat=True) round
    and round until `stop()` is true. Reply.index % len(texts) is the text's index."""
    replies: list[Reply] = []
    indices = iter(range(10**9)) if repeat else iter(range(len(texts)))
    await asyncio.gather(*(_client(port, texts, indices, replies, timeout_s, stop) for _ in range(concurrency)))
    return replies


def load(port: int, texts: list[str], concurrency: int, timeout_s: float = 20.0) -> list[Reply]:
    return asyncio.run(load_async(port, texts, concurrency, timeout_s=timeout_s))


async def _burst(port: int, texts: list[str], timeout_s: float) -> list[Reply]:
    async def one(index: int) -> Reply:
        reply = await _one(port, "POST", "/embed", embed_body(texts[index]), timeout_s)
        reply.index = index
        reply.done_at = time.monotonic()
        return reply

    return list(await asyncio.gather(*(one(i) for i in range(len(texts)))))


def burst(port: int, texts: list[str], timeout_s: float = 20.0) -> list[Reply]:
    """Every text at once, each on its own connection."""
    return asyncio.run(_burst(port, texts, timeout_s))


def vector_of(reply: Reply) -> np.ndarray | None:
    try:
        vector = np.asarray(reply.json()["embedding"], dtype=np.float64)
    except (ValueError, KeyError, TypeError):
        return None
    return vector if vector.shape == (384,) else None


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.inf
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))])


# -- texts and reference vectors --------------------------------------------------------------------

_WORDS = """time person year way day thing man world life hand part child eye woman place work week case
point government company number group problem fact home water room mother area money story month lot
right study book job word business issue side kind head house service friend father power hour game line
end member law car city community name president team minute idea kid body information back parent face
others level office door health art war history party result change morning reason research girl guy
moment air teacher force education foot boy age policy music market sense nation plan college interest
death experience effect class control care field development role effort rate heart drug show leader light
voice wife police mind price report decision son view relationship town road arm difference value
building action model season society tax director position player record paper space ground form event
official matter center couple site project activity star table need court oil situation cost industry
figure street image phone data picture practice piece land product doctor wall patient worker news test
movie north love support technology step baby computer type attention film tree source organization hair
window evidence population truth song blood answer serve batch queue latency vector search query index
cache token memory thread core network client response error metric deploy cluster kernel signal replica
good new first last long great little own other old right big high different small large next early young
important few public bad same able quick slow bright quiet careful simple strange happy green heavy""".split()


def make_texts(seed: int, count: int, min_words: int = 2, max_words: int = 8) -> list[str]:
    """Unique queries of different lengths from a seed (so that batches need padding)."""
    rng = random.Random(seed)
    texts: list[str] = []
    seen: set[str] = set()
    while len(texts) < count:
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(min_words, max_words)))
        if rng.random() < 0.3:
            text = text.capitalize() + rng.choice([".", "?", "!"])
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


_embedder = None


def reference(texts: list[str]) -> np.ndarray:
    """Unbatched MiniLM int8 vectors, one model call per text (the definition of 'correct')."""
    global _embedder
    if _embedder is None:
        from workbench.llm.embeddings import Embedder

        _embedder = Embedder(threads=1)
    return np.vstack([_embedder.encode([t], batch_size=1) for t in texts]).astype(np.float64)

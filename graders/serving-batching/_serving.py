"""Helpers for the serving-batching grader: start the learner's server as a subprocess, talk
to it with a tiny keep-alive HTTP/1.1 client (asyncio streams, loopback only), generate texts
from a seed, compute unbatched reference embeddings and parse Prometheus text."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.core.worker import kill_tree

HOST = "127.0.0.1"
START_TIMEOUT_S = 45.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- the learner's server -----------------------------------------------------------------------

class Server:
    """`python -m uvicorn server:app` in the learner's folder (the lab copy), configured by
    environment. `start` is the grader plugin's `learner_process`: the server runs in the
    learner sandbox (own pid namespace, shares the grader's loopback), so `proc` is the
    bubblewrap process and the uvicorn process is one of its descendants."""

    def __init__(self, start, *, max_batch_size: int, max_wait_ms: float, max_queue: int) -> None:
        self.settings = {"max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms, "max_queue": max_queue}
        self.port = free_port()
        env = {"BATCH_MAX_SIZE": str(max_batch_size), "BATCH_MAX_WAIT_MS": f"{max_wait_ms:g}",
               "BATCH_MAX_QUEUE": str(max_queue), "PYTHONUNBUFFERED": "1"}
        self._log = tempfile.TemporaryFile(mode="w+b")
        self.proc = start(
            [sys.executable, "-m", "uvicorn", "server:app", "--host", HOST, "--port", str(self.port),
             "--log-level", "warning", "--no-access-log", "--lifespan", "on"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def describe(self) -> str:
        s = self.settings
        return f"BATCH_MAX_SIZE={s['max_batch_size']} BATCH_MAX_WAIT_MS={s['max_wait_ms']:g} BATCH_MAX_QUEUE={s['max_queue']}"

    def log_tail(self, chars: int = 1500) -> str:
        try:
            self._log.seek(0)
            text = self._log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return text[-chars:].strip()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> str | None:
        """None once GET /healthz answers 200; else why not."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"the server exited with code {self.proc.returncode} before it was ready:\n{self.log_tail()}"
            try:
                status, _, _ = asyncio.run(one_request(self.port, "GET", "/healthz", timeout_s=2.0))
                if status == 200:
                    return None
                last = f"GET /healthz answered {status}"
            except (OSError, asyncio.TimeoutError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
        return f"GET /healthz did not answer 200 within {timeout_s:g} s ({last}):\n{self.log_tail()}"

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by the server and any processes it started."""
        return process_tree_cpu_seconds(self.proc.pid)

    def server_pid(self) -> int | None:
        """The pid of the uvicorn process itself (not the sandbox around it), None if gone."""
        return find_descendant(self.proc.pid, "uvicorn")

    def stop(self) -> None:
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


def find_descendant(pid: int, word: str) -> int | None:
    """The first process under `pid` (breadth first, `pid` included) whose command line holds
    `word` and that is not bubblewrap itself (its arguments hold the whole command too)."""
    todo, seen = [pid], set()
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.add(current)
        try:
            argv = Path(f"/proc/{current}/cmdline").read_bytes().split(b"\0")
        except OSError:
            argv = []
        if argv and Path(argv[0].decode("utf-8", "replace")).name != "bwrap" and \
                any(word.encode() in part for part in argv):
            return current
        todo.extend(_children(current))
    return None


def process_tree_cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` and its live descendants, from /proc (Linux), else from `ps`."""
    proc = Path("/proc")
    if (proc / str(pid) / "stat").exists():
        ticks = os.sysconf("SC_CLK_TCK")
        total, todo, seen = 0.0, [pid], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            try:
                fields = (proc / str(current) / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
                for task in (proc / str(current) / "task").iterdir():
                    children = (task / "children").read_text().split() if (task / "children").exists() else []
                    todo.extend(int(c) for c in children)
            except (OSError, ValueError, IndexError):
                continue
        return total
    try:
        out = subprocess.run(["ps", "-o", "time=", "-p", str(pid)], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    try:  # [[dd-]hh:]mm:ss[.ss]
        days, _, clock = out.rpartition("-")
        seconds = 0.0
        for part in clock.split(":"):
            seconds = seconds * 60 + float(part)
        return seconds + (float(days) * 86400 if days else 0.0)
    except ValueError:
        return None


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


def _request_bytes(method: str, path: str, port: int, body: bytes | None, close: bool,
                   content_type: str = "application/json") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: */*"]
    if body is not None:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
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


async def one_request(port: int, method: str, path: str, body: bytes | None = None, *,
                      timeout_s: float = 10.0, content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    async def go():
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(_request_bytes(method, path, port, body, True, content_type))
            await writer.drain()
            return await read_response(reader)
        finally:
            writer.close()

    return await asyncio.wait_for(go(), timeout_s)


def get(port: int, path: str, timeout_s: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    return asyncio.run(one_request(port, "GET", path, timeout_s=timeout_s))


def post_raw(port: int, body: bytes, timeout_s: float = 10.0, content_type: str = "application/json"):
    return asyncio.run(one_request(port, "POST", "/embed", body, timeout_s=timeout_s, content_type=content_type))


def embed_body(text: str) -> bytes:
    return json.dumps({"text": text}).encode()


@dataclass
class LoadResult:
    replies: list[Reply]
    wall_s: float
    cpu_s: float | None = None  # server CPU seconds during the run, when measured

    @property
    def ok(self) -> list[Reply]:
        return [r for r in self.replies if r.status == 200]

    def throughput(self) -> float:
        return len(self.ok) / self.wall_s if self.wall_s > 0 else 0.0

    def latency_quantile(self, q: float, status: int = 200) -> float:
        values = sorted(r.latency_s for r in self.replies if r.status == status)
        if not values:
            return math.inf
        return float(values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))])


async def _load(port: int, texts: list[str], concurrency: int, timeout_s: float, deadline_s: float,
                keep_alive: bool) -> LoadResult:
    replies: list[Reply | None] = [None] * len(texts)
    next_index = iter(range(len(texts)))
    stop_at = time.monotonic() + deadline_s

    async def worker() -> None:
        reader = writer = None
        for index in next_index:
            if time.monotonic() > stop_at:
                replies[index] = Reply(None, 0.0, error="not sent: load test ran out of time", index=index)
                continue
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout_s)
                writer.write(_request_bytes("POST", "/embed", port, embed_body(texts[index]), not keep_alive))
                status, headers, body = await asyncio.wait_for(read_response(reader), timeout_s)
                replies[index] = Reply(status, time.perf_counter() - started, headers, body, index=index)
                if not keep_alive or headers.get("connection", "").lower() == "close":
                    writer.close()
                    reader = writer = None
            except asyncio.TimeoutError:
                replies[index] = Reply(None, time.perf_counter() - started, error=f"no answer within {timeout_s:g} s", index=index)
                if writer is not None:
                    writer.close()
                reader = writer = None
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                replies[index] = Reply(None, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}", index=index)
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult([r for r in replies if r is not None], time.perf_counter() - started)


def load(port: int, texts: list[str], concurrency: int, *, timeout_s: float = 10.0, deadline_s: float = 20.0,
         keep_alive: bool = True) -> LoadResult:
    """POST every text once, `concurrency` at a time (one keep-alive connection per worker)."""
    return asyncio.run(_load(port, texts, concurrency, timeout_s, deadline_s, keep_alive))


def vector_of(reply: Reply) -> np.ndarray | None:
    try:
        data = reply.json()
        vector = np.asarray(data["embedding"], dtype=np.float64)
    except (ValueError, KeyError, TypeError):
        return None
    return vector if vector.shape == (384,) else None


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
cache token memory thread core network client response error metric deploy cluster kernel signal
good new first last long great little own other old right big high different small large next early young
important few public bad same able quick slow bright quiet careful simple strange happy green heavy""".split()


def make_texts(seed: int, count: int, min_words: int = 2, max_words: int = 6) -> list[str]:
    """Unique short queries (2-6 words by default) from a seed: lengths differ, so batches need padding."""
    rng = random.Random(seed)
    texts: list[str] = []
    seen: set[str] = set()
    while len(texts) < count:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(min_words, max_words))]
        text = " ".join(words)
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


# -- Prometheus text ---------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?\s*$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?\s*')


@dataclass
class Exposition:
    types: dict[str, str]
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    bad_lines: list[str]

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {labels: v for (n, labels), v in self.samples.items() if n == name}

    def buckets(self, name: str) -> list[tuple[float, float]]:
        """[(le, cumulative count)] of histogram `name`, sorted by le."""
        out = []
        for labels, value in self.series(f"{name}_bucket").items():
            le = dict(labels).get("le")
            if le is None:
                continue
            out.append((math.inf if le in ("+Inf", "Inf", "inf") else float(le), value))
        return sorted(out)


def parse_prometheus(text: str) -> Exposition:
    types: dict[str, str] = {}
    samples: dict = {}
    bad: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        match = _SAMPLE.match(line)
        if not match:
            bad.append(raw)
            continue
        name, label_text, value_text = match.group(1), match.group(2), match.group(3)
        labels: list[tuple[str, str]] = []
        if label_text:
            inner = label_text[1:-1].strip()
            position = 0
            while position < len(inner):
                label = _LABEL.match(inner, position)
                if not label:
                    bad.append(raw)
                    break
                labels.append((label.group(1), label.group(2)))
                position = label.end()
        try:
            value = float(value_text.replace("+Inf", "inf").replace("-Inf", "-inf"))
        except ValueError:
            bad.append(raw)
            continue
        samples[(name, tuple(sorted(labels)))] = value
    return Exposition(types, samples, bad)


def scrape(port: int) -> tuple[int, str, Exposition]:
    status, headers, body = get(port, "/metrics")
    text = body.decode("utf-8", "replace")
    return status, headers.get("content-type", ""), parse_prometheus(text)


# -- a burst: one connection per request, all written before any answer is awaited ---------------

async def _burst(port: int, texts: list[str], timeout_s: float, after_written=None) -> tuple[list[Reply], dict]:
    pending_writes = len(texts)
    all_written = asyncio.Event()
    info: dict = {"written": 0}

    def settle(wrote: bool) -> None:
        nonlocal pending_writes
        pending_writes -= 1
        info["written"] += int(wrote)
        if pending_writes == 0:
            all_written.set()

    async def one(index: int) -> Reply:
        started = time.perf_counter()
        writer = None
        settled = False
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout_s)
            writer.write(_request_bytes("POST", "/embed", port, embed_body(texts[index]), True))
            await writer.drain()
            settle(True)
            settled = True
            status, headers, body = await asyncio.wait_for(read_response(reader), timeout_s)
            reply = Reply(status, time.perf_counter() - started, headers, body, index=index)
        except asyncio.TimeoutError:
            reply = Reply(None, time.perf_counter() - started, error=f"no answer within {timeout_s:g} s", index=index)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            reply = Reply(None, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}", index=index)
        finally:
            if not settled:
                settle(False)
            if writer is not None:
                writer.close()
        reply.done_at = time.monotonic()
        return reply

    tasks = [asyncio.create_task(one(i)) for i in range(len(texts))]
    if after_written is not None:
        await asyncio.wait_for(all_written.wait(), timeout_s + 1)
        await after_written(tasks, info)
    replies = await asyncio.gather(*tasks)
    return list(replies), info


def burst(port: int, texts: list[str], *, timeout_s: float = 10.0, after_written=None) -> tuple[list[Reply], dict]:
    """Send every text at once, each on its own connection (Connection: close); the async
    `after_written(tasks, info)` runs once every request has been written (or failed to be)."""
    return asyncio.run(_burst(port, texts, timeout_s, after_written))

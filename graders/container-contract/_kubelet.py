"""Runtime half of the container-contract grader: run the learner's app the way a kubelet runs
a container with `runAsUser: 65534` and `readOnlyRootFilesystem: true` (bubblewrap: a user
namespace mapping uid/gid 65534, `/` and the app folder read-only, a fresh tmpfs at /tmp, no
capabilities, own pid namespace, loopback only), probe it over HTTP and signal it."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.core import sandbox
from workbench.core.worker import WorkerConfig, kill_tree

HOST = "127.0.0.1"
UID = 65534


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def kubelet_argv(config: WorkerConfig, argv: list[str], as_uid: bool = True) -> list[str]:
    """The engine's sandbox command line, changed the way a pod differs from a worker: a user
    namespace as uid/gid 65534 (`as_uid`), the app folder bound read-only, no private tmp
    beyond /tmp."""
    base = config.command(argv)
    assert base and base[0] == "bwrap", base
    out = ["bwrap", "--unshare-user", "--uid", str(UID), "--gid", str(UID)] if as_uid else ["bwrap"]
    args, index = base[1:], 0
    while index < len(args):
        word = args[index]
        if word == "--":
            out += args[index:]
            break
        if word == "--bind" and index + 2 < len(args):
            source = args[index + 1]
            if source == str(config.private_tmp):
                index += 3
                continue
            if source == str(config.lab_dir):
                out += ["--ro-bind", source, args[index + 2]]
                index += 3
                continue
        out.append(word)
        index += 1
    return out


def _user_namespaces_work(config: WorkerConfig) -> bool:
    """Can bubblewrap map uid 65534 here (user namespaces allowed)?"""
    try:
        done = subprocess.run(kubelet_argv(config, ["true"]), stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


class App:
    """`python app.py` in the lab folder with PORT and MODEL_LOAD_DELAY_S set, as uid 65534
    on a read-only root (bubblewrap), or plainly where the machine has no sandbox."""

    def __init__(self, lab_dir: Path, delay_s: float) -> None:
        self.port = free_port()
        self.delay_s = delay_s
        config = WorkerConfig()
        self.sandboxed = config.kind == "bwrap"
        env = config.env()
        env.pop("PYTHONPATH", None)  # the image holds the app and its pip packages, not the workbench
        env.update(HOME="/nonexistent", TMPDIR="/tmp", PORT=str(self.port), MODEL_LOAD_DELAY_S=f"{delay_s:.2f}",
                   PYTHONUNBUFFERED="1")
        argv = [sys.executable, "app.py"]
        self.as_uid = self.sandboxed and _user_namespaces_work(config)
        command = kubelet_argv(config, argv, self.as_uid) if self.sandboxed else argv
        self._log = tempfile.TemporaryFile(mode="w+b")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(command, env=env, cwd=str(lab_dir), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=sandbox.hard_limits(config.memory_mb, config.cpu_s))

    def describe_sandbox(self) -> str:
        if self.as_uid:
            return "bwrap: uid 65534, read-only root and app folder, /tmp writable"
        if self.sandboxed:
            return "bwrap without user namespaces: read-only root and app folder, uid not changed"
        return "none: no bubblewrap here, so uid and read-only root are not enforced"

    def since_start(self) -> float:
        return time.monotonic() - self.started_at

    def log_tail(self, chars: int = 1200) -> str:
        try:
            self._log.seek(0)
            text = self._log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        text = text[-chars:].strip()
        return f"\n--- the app's output (last part) ---\n{text}" if text else ""

    def app_pid(self) -> int | None:
        """The python process itself (the container's main process), not the sandbox around it."""
        if not self.sandboxed:
            return self.proc.pid if self.proc.poll() is None else None
        return find_descendant(self.proc.pid, "app.py")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def exit_code(self) -> int | None:
        """The exit status, with a death by signal N reported as -N (bubblewrap says 128 + N)."""
        code = self.proc.poll()
        if code is not None and self.sandboxed and code > 128:
            return -(code - 128)
        return code

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
        if argv and Path(argv[0].decode("utf-8", "replace")).name != "bwrap" and any(word.encode() in a for a in argv):
            return current
        todo.extend(_children(current))
    return None


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB (without /proc: the RSS from `ps` for both)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        try:
            rss = int(subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True,
                                     timeout=5).stdout.strip())
            out = {"VmRSS": rss, "VmHWM": rss}
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    return out


def _listening() -> list[tuple[str, int, str]]:
    """(address, port, socket inode) of every listening TCP socket in this network namespace."""
    found = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":
                continue
            address, _, port_hex = parts[1].partition(":")
            if width == 8:
                text = socket.inet_ntoa(bytes.fromhex(address)[::-1])
            else:
                raw = bytes.fromhex(address)
                text = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            found.append((text, int(port_hex, 16), parts[9] if len(parts) > 9 else ""))
    return found


def listening_addresses(port: int) -> list[str] | None:
    """Local addresses of sockets listening on `port` in this network namespace (the app's too);
    None where /proc/net cannot be read (not Linux)."""
    if not Path("/proc/net/tcp").exists():
        return None
    return [address for address, bound, _ in _listening() if bound == port]


def ports_of(pid: int) -> list[str]:
    """'address:port' of the sockets process `pid` listens on."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    return [f"{address}:{bound}" for address, bound, inode in _listening() if inode in inodes]


# -- HTTP -----------------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int | None
    latency_s: float
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        return f"{self.status} {self.body[:160].decode('utf-8', 'replace')!r}"


def request(port: int, method: str, path: str, body=None, timeout_s: float = 5.0) -> Answer:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        payload = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, time.perf_counter() - started, {k.lower(): v for k, v in response.getheaders()}, data)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


class Flight:
    """POST /embed requests sent at once on their own connections; `written` is set once every
    request has been written, `answered[i]` once request i has its answer."""

    def __init__(self, port: int, bodies: list[dict], timeout_s: float = 60.0) -> None:
        self.answers: list[Answer | None] = [None] * len(bodies)
        self.answered = [threading.Event() for _ in bodies]
        self._written = [threading.Event() for _ in bodies]
        self._threads = [threading.Thread(target=self._one, args=(port, i, body, timeout_s), daemon=True)
                         for i, body in enumerate(bodies)]
        for thread in self._threads:
            thread.start()

    def _one(self, port: int, index: int, body: dict, timeout_s: float) -> None:
        started = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
        try:
            conn.request("POST", "/embed", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            self._written[index].set()
            response = conn.getresponse()
            data = response.read()
            self.answers[index] = Answer(response.status, time.perf_counter() - started,
                                         {k.lower(): v for k, v in response.getheaders()}, data)
        except (OSError, http.client.HTTPException) as exc:
            self.answers[index] = Answer(None, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._written[index].set()
            self.answered[index].set()
            conn.close()

    def wait_written(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        return all(event.wait(max(0.0, deadline - time.monotonic())) for event in self._written)

    def pending(self) -> int:
        return sum(not event.is_set() for event in self.answered)

    def join(self, timeout_s: float) -> list[Answer]:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [a if a is not None else Answer(None, timeout_s, error="still waiting") for a in self.answers]


# -- texts and reference vectors ------------------------------------------------------------------------------

_WORDS = """cluster node pod image layer registry digest rollout replica probe kernel signal socket port
service ingress volume secret config budget drain eviction scheduler request limit memory quota queue
vector token model weight batch latency throughput cache shard region zone failover replica canary river
mountain garden kitchen window letter morning winter summer market bridge station harbor forest island
quick slow bright quiet careful simple strange happy green heavy early late small large ancient modern
build ship deploy scale watch restart measure compare return answer carry follow open close begin finish""".split()


def make_texts(seed: int, count: int, min_words: int, max_words: int) -> list[str]:
    rng = random.Random(seed)
    texts, seen = [], set()
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
    """MiniLM int8 vectors from the workbench's own embedder (the definition of correct)."""
    global _embedder
    if _embedder is None:
        from workbench.llm.embeddings import Embedder

        _embedder = Embedder(threads=1)
    return _embedder.encode(texts, batch_size=16).astype(np.float64)


def vectors_problem(answer: Answer, texts: list[str], min_cosine: float,
                    rows: list[int] | None = None) -> tuple[str | None, float]:
    """Why an /embed answer is not the texts' vectors in order (None if it is), and the worst
    cosine; `rows` limits the comparison with the reference to those rows (the shape is always checked)."""
    data = answer.json()
    if not isinstance(data, dict) or not isinstance(data.get("embeddings"), list):
        return f"the answer is not JSON with an \"embeddings\" list: {answer.body[:160]!r}", 0.0
    if data.get("dim") != 384:
        return f"the answer's \"dim\" is {data.get('dim')!r}, not 384", 0.0
    try:
        got = np.asarray(data["embeddings"], dtype=np.float64)
    except (TypeError, ValueError):
        return "\"embeddings\" is not a list of lists of numbers", 0.0
    if got.shape != (len(texts), 384):
        return f"\"embeddings\" has shape {got.shape}; {len(texts)} texts need ({len(texts)}, 384)", 0.0
    picked = list(range(len(texts))) if rows is None else sorted(set(rows))
    got = got[picked]
    want = reference([texts[i] for i in picked])
    cos = np.sum(got * want, axis=1) / np.maximum(np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1), 1e-12)
    worst = float(cos.min())
    if worst < min_cosine:
        at = int(np.argmin(cos))
        row = picked[at]
        return (f"row {row} ({texts[row][:60]!r}) has cosine {cos[at]:.5f} to that text's MiniLM vector "
                f"(needs >= {min_cosine}); rows must follow the order of \"texts\""), worst
    return None, worst


def send_sigterm(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)


__all__ = ["App", "Answer", "Flight", "free_port", "listening_addresses", "ports_of", "make_texts", "memory_kib", "reference",
           "request", "send_sigterm", "vectors_problem"]

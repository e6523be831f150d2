"""Lifecycle of the embedded model server: SmolLM2-135M-Instruct behind llama-cpp-python's
OpenAI-compatible server on 127.0.0.1: `up` (free port, waits until it answers, warms it,
measures tokens/s), `down` (only the process `up` started), `ensure_running` (on demand).

Two `up` at once are serialised by a lock file, so one server starts and the other finds it
running; a stale pid file is cleared and a port held by another program is reported, never
killed. State files and process identity live in server_state.py. No litellm here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import LOCAL_ALIAS, state_dir
from .errors import ModelFilesMissing, ServerStartError
from .server_state import (
    LAUNCHER,
    ServerInfo,
    ServerStatus,
    answers_as,
    children,
    gguf_path,
    http_json,
    is_ours,
    locked,
    log_file,
    log_tail,
    pid_alive,
    read_state,
    remove_state,
    require_answering,
    runtime_installed,
    state_file,
    status,
)

DEFAULT_THREADS = 1  # measured: 1 thread stays fast beside other work; 2 collapse (bench/bench_llm.py)
DEFAULT_CTX = 4096
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
Announce = Callable[[str], None]
_pid_alive = pid_alive  # kept for tests and tools that poke at the lifecycle
_is_ours = is_ours


@dataclass(frozen=True)
class UpResult:
    """What `up` did: the server, whether it was already running, and measured speed."""

    info: ServerInfo
    already_running: bool
    startup_s: float
    tokens_per_s: float | None
    notes: tuple[str, ...] = ()


def _crash_hint(returncode: int | None) -> str:
    if returncode == -signal.SIGILL:
        return ("the model runtime was compiled for CPU features this machine lacks; rebuild it: "
                "CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON' "
                "pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python==0.3.36")
    return f"see {log_file()}"


def _spawn(port: int, n_threads: int, n_ctx: int) -> tuple[subprocess.Popen, str]:
    model = gguf_path()
    if not runtime_installed():
        raise ModelFilesMissing("the model runtime llama-cpp-python is not installed",
                                hint="run 'just setup' (the first build compiles llama.cpp: about 10 minutes)")
    token = secrets.token_hex(8)
    command = [
        sys.executable, "-m", LAUNCHER, "--model", str(model), "--alias", LOCAL_ALIAS, "--state-file", str(state_file()),
        "--token", token, "--port", str(port), "--n-threads", str(n_threads), "--n-ctx", str(n_ctx),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_PARENT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = str(n_threads)
    env.pop("WORKBENCH_EVENT_FD", None)
    with open(log_file(), "wb") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=state_dir(), env=env, start_new_session=True)
    children[proc.pid] = proc
    return proc, token


def _stop_process(pid: int, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    child = children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


def _wait_ready(proc: subprocess.Popen, token: str, port: int, deadline: float) -> ServerInfo:
    while True:
        returncode = proc.poll()
        if returncode is not None:
            children.pop(proc.pid, None)
            tail = log_tail()
            if returncode == 3:
                raise ServerStartError(f"port {port} on 127.0.0.1 is already in use by another program",
                                       hint="choose another with --port, or leave --port out to get a free one")
            raise ServerStartError(f"the embedded server exited during start-up (code {returncode}):\n{tail}",
                                   hint=_crash_hint(returncode))
        info = read_state()
        if info is not None and info.pid == proc.pid and info.token == token and answers_as(info, 1.0) == "ours":
            try:
                models = http_json(info.base_url + "/models", timeout_s=5.0)
                if any(m.get("id") == info.alias for m in models.get("data", [])):
                    return info
            except (OSError, ValueError):
                pass
        if time.monotonic() > deadline:
            _stop_process(proc.pid, 5)
            raise ServerStartError(f"the embedded server did not answer in time:\n{log_tail()}",
                                   hint=f"see {log_file()}; a busy machine may need a longer --timeout")
        time.sleep(0.2)


def measure_tokens_per_s(info: ServerInfo, max_tokens: int = 64, timeout_s: float = 60.0) -> float:
    """Generated tokens per second of one plain chat request (also warms the server)."""
    payload = {"model": info.alias, "messages": [{"role": "user", "content": "Tell a short story about a lighthouse."}],
               "max_tokens": max_tokens, "temperature": 0, "seed": 0}
    started = time.perf_counter()
    try:
        reply = http_json(info.base_url + "/chat/completions", payload, timeout_s=timeout_s)
    except (OSError, ValueError) as exc:
        child = children.get(info.pid)
        code = None
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = child.wait(timeout=2)
        alive = code is None and pid_alive(info.pid)
        raise ServerStartError(f"the embedded server failed its first request ({exc}); "
                               f"{'it is still running' if alive else 'the process died'}:\n{log_tail()}",
                               hint=_crash_hint(code)) from exc
    elapsed = time.perf_counter() - started
    tokens = int(reply.get("usage", {}).get("completion_tokens", 0))
    return tokens / elapsed if elapsed > 0 else 0.0


def up(
    *,
    port: int = 0,
    n_threads: int | None = None,
    timeout_s: float = 120.0,
    warm: bool = True,
    announce: Announce | None = None,
) -> UpResult:
    """Start the embedded server unless ours already runs; wait until it answers and warm it.

    Holding the lock makes a concurrent `up` wait, then find this server running.
    """
    n_threads = n_threads or int(os.environ.get("WORKBENCH_LLM_THREADS", DEFAULT_THREADS))
    started = time.monotonic()
    notes: list[str] = []
    state_dir().mkdir(parents=True, exist_ok=True)
    with locked(timeout_s):
        current = status()
        if current.state == "starting" and current.info is not None:
            deadline = time.monotonic() + timeout_s
            while current.state == "starting" and time.monotonic() < deadline:
                time.sleep(0.2)
                current = status()
        if current.running and current.info is not None:
            if port and current.info.port != port:
                notes.append(f"already running on port {current.info.port} (not {port}); 'workbench backend down' first to move it")
            speed = measure_tokens_per_s(current.info) if warm else None
            return UpResult(current.info, True, time.monotonic() - started, speed, tuple(notes))
        if current.state == "starting" and current.info is not None:
            notes.append(f"stopped server process {current.info.pid}: it did not answer within {timeout_s:g} s")
            _stop_process(current.info.pid, 5)
            remove_state(current.info)
        elif current.state == "stale" and current.info is not None:
            notes.append(f"removed a {current.detail}")
            remove_state(current.info)
        if announce is not None:
            announce("Starting the embedded model server (SmolLM2-135M on 127.0.0.1); it keeps running "
                     "until 'workbench backend down'.")
        proc, token = _spawn(port, n_threads, DEFAULT_CTX)
        try:
            info = _wait_ready(proc, token, port, started + timeout_s)
            speed = measure_tokens_per_s(info) if warm else None
        except BaseException:
            if proc.poll() is None:
                _stop_process(proc.pid, 5)
            leftover = read_state()
            if leftover is not None and leftover.pid == proc.pid:
                remove_state(leftover)
            raise
        return UpResult(info, False, time.monotonic() - started, speed, tuple(notes))


@dataclass(frozen=True)
class DownResult:
    """What `down` did, in words."""

    stopped: bool
    message: str


def down(timeout_s: float = 15.0) -> DownResult:
    """Stop the server this workbench started (never another program); clears a stale pid file."""
    with locked(timeout_s + 15):
        info = read_state()
        if info is None:
            return DownResult(False, "the embedded server is not running")
        if not pid_alive(info.pid) or not is_ours(info.pid):
            remove_state(info)
            return DownResult(False, f"removed a stale pid file (process {info.pid} is not a workbench server); nothing to stop")
        _stop_process(info.pid, timeout_s)
        remove_state(info)
        return DownResult(True, f"stopped the embedded server (pid {info.pid}, port {info.port})")


def ensure_running(announce: Announce | None = None) -> ServerInfo:
    """The running server, started on demand (with a visible message) and left running."""
    current = status()
    if current.running and current.info is not None:
        return current.info
    return up(warm=True, announce=announce or _announce_stderr).info


def _announce_stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


__all__ = [
    "DEFAULT_THREADS", "LAUNCHER", "DownResult", "ServerInfo", "ServerStatus", "UpResult", "answers_as", "children",
    "down", "ensure_running", "gguf_path", "http_json", "is_ours", "locked", "log_file", "log_tail",
    "measure_tokens_per_s", "pid_alive", "read_state", "remove_state", "require_answering", "runtime_installed",
    "state_file", "status", "up",
]

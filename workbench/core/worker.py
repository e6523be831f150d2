"""Grader side of the learner worker: start it in the sandbox, call into it, replace it.

The grader process never imports learner code. `Worker.module(name)` returns a `LearnerModule`
whose attributes are handles (`wire.Ref`) to the learner's functions and classes; calling one
sends plain data to the worker and gets plain data back (see `wire`). A call that outlives the
check's deadline kills the worker (its whole pid namespace) and raises `WorkerTimeout`; the next
call starts a fresh worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import sandbox
from .wire import CallTimeout, Endpoint, Ref, RemoteError, WireError, socketpair

_OUTPUT_CAP = 64 * 1024
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class WorkerTimeout(BaseException):
    """A call into learner code outlived the check's time (BaseException: never swallowed)."""


class WorkerCrashed(Exception):
    """The learner worker died during a call (exit, signal, memory limit)."""


class _Output:
    """The worker's stdout/stderr, drained by a thread, keeping only the last 64 KiB."""

    def __init__(self, stream: Any) -> None:
        self._data = bytearray()
        self._lock = threading.Lock()
        self.total = 0
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: Any) -> None:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            with self._lock:
                self.total += len(chunk)
                self._data += chunk
                if len(self._data) > _OUTPUT_CAP:
                    del self._data[: len(self._data) - _OUTPUT_CAP]

    def take(self) -> str:
        with self._lock:
            text = self._data.decode("utf-8", "replace")
            self._data.clear()
        return text


class WorkerConfig:
    """What every worker of one grading run gets (from the grading environment)."""

    def __init__(self) -> None:
        env = os.environ
        self.kind = env.get("WORKBENCH_SANDBOX_KIND", "none")
        self.lab_dir = Path(env.get("WORKBENCH_LAB_DIR", "."))
        self.private_tmp = Path(env.get("WORKBENCH_WORKER_TMP") or env.get("TMPDIR", "/tmp")) / "worker"
        self.hide = [p for p in env.get("WORKBENCH_SANDBOX_HIDE", "").split(os.pathsep) if p]
        self.expose = [p for p in env.get("WORKBENCH_SANDBOX_EXPOSE", "").split(os.pathsep) if p]
        self.bind = [p for p in env.get("WORKBENCH_SANDBOX_BIND", "").split(os.pathsep) if p]
        self.hide_modules = [p for p in env.get("WORKBENCH_SANDBOX_HIDE_MODULES", "").split(os.pathsep) if p]
        self.memory_mb = int(env.get("WORKBENCH_MEMORY_MB", "4096") or 4096)
        self.cpu_s = int(float(env.get("WORKBENCH_WORKER_CPU_S", "600") or 600))
        self.preload = [m for m in env.get("WORKBENCH_WORKER_PRELOAD", "").split(",") if m]
        self.extra_env = {}
        for key in ("WORKBENCH_LLM_API_BASE", "WORKBENCH_MODEL", "WORKBENCH_LLM_CASSETTE", "WORKBENCH_LLM_CASSETTE_MODE",
                    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            if key in env:
                self.extra_env[key] = env[key]

    def env(self) -> dict[str, str]:
        base = {k: os.environ[k] for k in sandbox.WORKER_ENV_NAMES if k in os.environ}
        home = self.private_tmp / "home"
        home.mkdir(parents=True, exist_ok=True)
        threads = os.environ.get("OMP_NUM_THREADS", "1")
        base.update(
            HOME=str(home), TMPDIR=str(self.private_tmp), PYTHONPATH=_PACKAGE_PARENT, PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1", PYTHONNOUSERSITE="1", OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
            WORKBENCH_LAB_DIR=str(self.lab_dir), HF_HUB_OFFLINE="1", NO_PROXY="*", LITELLM_LOCAL_MODEL_COST_MAP="True",
        )
        base.update(self.extra_env)
        if "WORKBENCH_LLM_API_BASE" in base:
            base["OPENAI_API_KEY"] = "workbench-proxy"  # the grader's proxy adds the real key
        return base

    def command(self, argv: list[str]) -> list[str]:
        if self.kind != "bwrap":
            return argv
        self.private_tmp.mkdir(parents=True, exist_ok=True)
        stubs = sandbox.module_stubs(self.private_tmp.parent / "module-stubs", self.hide_modules)
        return sandbox.worker_argv(self.lab_dir, self.private_tmp, self.hide, [*self.expose, _PACKAGE_PARENT], argv,
                                   writable=self.bind, replace=stubs)


def sandboxed_popen(argv: list[str], *, config: WorkerConfig | None = None, env: dict[str, str] | None = None,
                    **kwargs: Any) -> subprocess.Popen:
    """Start a learner program (a server, a stdio tool) in the same sandbox as the worker.
    `env` adds to the allow-listed environment; cwd is the lab copy."""
    config = config or WorkerConfig()
    full_env = config.env()
    full_env.update(env or {})
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(config.command(argv), env=full_env, cwd=str(config.lab_dir), start_new_session=True,
                            preexec_fn=sandbox.hard_limits(config.memory_mb, config.cpu_s), **kwargs)


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill a sandboxed process and everything it started (its session / pid namespace)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


class Worker:
    """One learner worker process and the endpoint that talks to it. Restarted on demand."""

    def __init__(self, deadline: Callable[[], float | None], config: WorkerConfig | None = None) -> None:
        self.config = config or WorkerConfig()
        self._deadline = deadline
        self.proc: subprocess.Popen | None = None
        self.endpoint: Endpoint | None = None
        self.output: _Output | None = None
        self._modules: dict[str, Ref] = {}

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        mine, theirs = socketpair()
        argv = [sys.executable, "-m", "workbench.sandbox_worker", str(theirs.fileno()), *self.config.preload]
        try:
            self.proc = sandboxed_popen(argv, config=self.config, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        pass_fds=[theirs.fileno()])
        finally:
            theirs.close()
        self.output = _Output(self.proc.stdout)
        self.endpoint = Endpoint(mine, deadline=self._deadline, on_broken=self._broken, strict=True)
        self._modules = {}

    def stop(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc)
        if self.endpoint is not None:
            self.endpoint.closed = True
            self.endpoint.sock.close()
        self.proc = None
        self.endpoint = None

    def _broken(self, exc: WireError) -> BaseException:
        """The endpoint's answer to a timeout or a dead worker: stop it (its whole pid
        namespace; the next call starts a fresh one) and say what happened."""
        if isinstance(exc, CallTimeout):
            self.stop()
            return WorkerTimeout()
        code = self.proc.wait(timeout=5) if self.proc is not None else None
        time.sleep(0.05)  # let the drain thread take the last words
        tail = self.take_output().strip()[-1500:]
        self.stop()
        return WorkerCrashed(describe_exit(code, self.config.memory_mb) + (f"\n{tail}" if tail else ""))

    def module(self, name: str) -> Ref:
        self.start()
        ref = self._modules.get(name)
        if ref is None:
            assert self.endpoint is not None
            ref = self.endpoint.request("import", 0, name, (), {})
            self._modules[name] = ref
        return ref

    def take_output(self) -> str:
        return self.output.take() if self.output is not None else ""


def describe_exit(code: int | None, memory_mb: int) -> str:
    if code is None:
        return "the learner's code stopped answering"
    if code > 128:  # bubblewrap reports a child killed by signal N as exit code 128 + N
        code = -(code - 128)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGKILL":
            return f"the learner's code was killed (SIGKILL; memory limit {memory_mb} MB or CPU limit?)"
        return f"the learner's code crashed ({name})"
    if code == 137:
        return f"the learner's code was killed (memory limit {memory_mb} MB?)"
    return f"the learner's code exited the worker process (exit code {code}); return values or raise exceptions instead"


class LearnerModule:
    """What the `learner` fixture gives a grader: attribute access reaches the learner's module
    in the worker; values come back as data or handles. Survives worker restarts."""

    def __init__(self, worker: Worker, name: str) -> None:
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_name", name)

    def _ref(self) -> Ref:
        return self._worker.module(self._name)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return getattr(self._ref(), attr)

    def __repr__(self) -> str:
        return f"<learner module {self._name!r} (in the sandboxed worker)>"


# A handle to a learner object in the worker (function, class, instance): its methods run in the
# worker, what comes back is data, `==` is identity, `bool()` True; `.type_name` is its class.
LearnerObject = Ref


__all__ = ["LearnerModule", "LearnerObject", "RemoteError", "Worker", "WorkerConfig", "WorkerCrashed", "WorkerTimeout",
           "kill_tree", "sandboxed_popen"]

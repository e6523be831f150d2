"""Grade a learner's copy of a lab: pytest in a subprocess, one JSON event per check, live.

Engine v2 (DESIGN.md): this parent process builds the result and alone writes progress. The
grader process (pytest + plugin) runs in a network namespace of its own (loopback only) and
never imports learner code; learner code runs in a sandboxed worker that the plugin starts
(`core.worker`, `core.sandbox`), on a copy of the learner's folder made here. Model calls go
through the grader's metering proxy and this process's bridge (`core.modelproxy`).
"""

from __future__ import annotations

import os
import platform
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from . import resources, sandbox
from .events import (
    CheckFinished,
    CheckStarted,
    Collected,
    CollectError,
    Finished,
    LlmCall,
    ResultReady,
    Started,
    parse_event,
    to_dict,
)
from .labs import Lab, combined_sha256
from .modelproxy import ModelBridge
from .results import CheckResult, GradeResult, decode_event, encode_event
from .snapshots import ObjectStore, manifest_of, sha256_bytes

EventCallback = Callable[[dict[str, Any]], None]

_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "SYSTEMROOT")
# Exact names only (no prefix passthrough): what a grader may know of the user's settings.
_WORKBENCH_PASSTHROUGH = ("WORKBENCH_MODEL", "WORKBENCH_LLM_CASSETTE", "WORKBENCH_LLM_CASSETTE_MODE", "WORKBENCH_GRADER_THREADS",
                          "WORKBENCH_STOP_AT_REQUIRED", "WORKBENCH_SEED", "WORKBENCH_SANDBOX")
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ModelRoute:
    """Where a lab's model calls go: the active model's name and its OpenAI-compatible base URL
    (the embedded server's, or the configured one), plus its API key if it needs one."""

    model: str
    upstream_base: str | None
    api_key: str | None = None


ModelHook = Callable[[Lab], "ModelRoute | None"]
_model_hook: ModelHook | None = None


def set_model_hook(hook: ModelHook | None) -> None:
    """Install the model layer's hook (`workbench.llm.grading.install()`); the core never
    imports the model layer itself."""
    global _model_hook
    _model_hook = hook


def model_route_for(lab: Lab) -> ModelRoute | None:
    """Where a lab's model calls go, through the installed hook (None: no model needed)."""
    if "llm" not in lab.spec.needs or _model_hook is None:
        return None
    return _model_hook(lab)


def _hidden_paths(workspace_root: Path | None, tmp_dir: Path) -> list[str]:
    """Folders the learner worker must not see (replaced by empty ones in its sandbox)."""
    hide = [str(Path.home()), str(resources.labs_dir()), str(resources.graders_dir()), str(tmp_dir)]
    for name in ("WORKBENCH_CONFIG_DIR", "WORKBENCH_STATE_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        if os.environ.get(name):
            hide.append(os.environ[name])
    if workspace_root is not None:
        hide.append(str(workspace_root.resolve()))
    return [str(Path(p).resolve()) for p in hide if p]


def _module_dirs(names: Iterable[str]) -> list[str]:
    """Installed locations of packages/modules (dotted names too), found without importing them."""
    import importlib.util

    found = []
    for name in names:
        top, *rest = name.split(".")
        try:
            spec = importlib.util.find_spec(top)  # a top-level name: nothing is imported
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        roots = list(spec.submodule_search_locations or [])
        if not rest:
            found += roots or ([spec.origin] if spec.origin else [])
            continue
        for root in roots:
            base = Path(root, *rest)
            found += [str(p) for p in (base, *base.parent.glob(base.name + ".*.so"), base.with_suffix(".py")) if p.exists()]
    return [str(Path(p).resolve()) for p in found]


def _exposed_paths() -> list[str]:
    """Folders the worker needs even inside a hidden one: the interpreter and the installed packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parent.parent)}
    return [str(Path(p).resolve()) for p in paths]


def grader_env(lab: Lab, lab_dir: Path, tmp_dir: Path, event_fd: int | None) -> dict[str, str]:
    """The scrubbed environment a grader runs in (explicit names only)."""
    env = {key: os.environ[key] for key in (*_PASSTHROUGH, *_WORKBENCH_PASSTHROUGH) if key in os.environ}
    home = tmp_dir / "home"
    home.mkdir(exist_ok=True)
    check_timeout_s = lab.spec.limits.check_timeout_s or lab.spec.limits.timeout_s
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp_dir),
        PYTHONPATH=str(_PACKAGE_PARENT),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        PYTHONUNBUFFERED="1",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        OMP_NUM_THREADS=os.environ.get("WORKBENCH_GRADER_THREADS", "1"),
        OPENBLAS_NUM_THREADS=os.environ.get("WORKBENCH_GRADER_THREADS", "1"),
        WORKBENCH_LAB_ID=lab.id,
        WORKBENCH_LAB_DIR=str(lab_dir),
        WORKBENCH_LAB_MODULE=lab.main_module,
        WORKBENCH_CHECK_TIMEOUT_S=f"{check_timeout_s:g}",
        WORKBENCH_MEMORY_MB=str(lab.spec.limits.memory_mb),
        WORKBENCH_TIMEOUT_S=f"{lab.spec.limits.timeout_s:g}",
        WORKBENCH_WORKER_CPU_S=str(int(lab.spec.limits.timeout_s * 2 + 30)),
        WORKBENCH_WORKER_TMP=str(tmp_dir),
        WORKBENCH_GRADING="1",
        HF_HUB_OFFLINE="1",
    )
    limits = lab.spec.limits
    for name, value in (("CALLS", limits.llm_calls), ("TOKENS", limits.llm_tokens), ("SECONDS", limits.llm_seconds)):
        if value is not None:
            env[f"WORKBENCH_LLM_MAX_{name}"] = f"{value:g}"
    if event_fd is not None:
        env["WORKBENCH_EVENT_FD"] = str(event_fd)
    return env


def pytest_command(lab: Lab, ini_file: Path) -> list[str]:
    """The pytest command line that runs a lab's grader with the workbench plugin."""
    return [
        sys.executable, "-m", "pytest", "-p", "workbench.grader_plugin", "-p", "no:cacheprovider",
        "-c", str(ini_file), "--rootdir", str(ini_file.parent), "-q", "--tb=short", "--no-header",
        *(str(path) for path in lab.grader_tests()),
    ]


def _snapshot(root: Path | None, skip: Iterable[Path]) -> dict[str, tuple[int, int]]:
    if root is None:
        return {}
    skipped = {p.resolve() for p in skip}
    state: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        current = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__" and (current / d).resolve() not in skipped]
        for name in filenames:
            path = current / name
            try:
                stat = path.stat()
            except OSError:
                continue
            state[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return state


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


class _Run:
    """Bookkeeping of one grading run as events arrive."""

    def __init__(self, on_event: EventCallback | None) -> None:
        self.on_event = on_event
        self.checks: dict[int, dict[str, Any]] = {}
        self.results: dict[int, CheckResult] = {}
        self.running: int | None = None
        self.collect_errors: list[str] = []
        self.llm_calls: list[dict[str, Any]] = []
        self.finished = False

    def handle(self, event: dict[str, Any]) -> None:
        typed = parse_event(event)
        if isinstance(typed, Collected):
            self.checks = {c["task_id"]: c for c in typed.checks}
        elif isinstance(typed, CheckStarted):
            self.running = typed.task_id
        elif isinstance(typed, CheckFinished):
            self.results[typed.result.task_id] = typed.result
            self.running = None
        elif isinstance(typed, CollectError):
            self.collect_errors.append(typed.output)
        elif isinstance(typed, LlmCall):
            self.llm_calls.append(typed.data)
        elif isinstance(typed, Finished):
            self.finished = True
        if self.on_event is not None:
            self.on_event(event)

    def close_missing(self, running_message: str, not_run_message: str) -> None:
        """Give every check that produced no result an error result, and announce it."""
        for task_id, meta in sorted(self.checks.items()):
            if task_id in self.results:
                continue
            message = running_message if task_id == self.running else not_run_message
            result = CheckResult(
                task_id=task_id, name=meta["name"], status="error", message=message, nodeid=meta.get("nodeid", ""),
                skill=meta.get("skill", ""), points=0.0, max_points=float(meta.get("points", 1)), hint=meta.get("hint"),
            )
            self.handle(to_dict(CheckFinished(result)))


def _read_events(proc: subprocess.Popen, read_fd: int, run: _Run, deadline: float) -> bool:
    """Feed events to `run` until the child closes the pipe; False if the deadline passed."""
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.5))
        if not ready:
            if proc.poll() is not None:
                # The child is gone; anything it left in the pipe is read on the next pass.
                ready = [read_fd]
            else:
                continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            return True
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            event = decode_event(line.decode("utf-8", "replace"))
            if event is not None:
                run.handle(event)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the grader process crashed ({name})"
    return f"the grader process exited with code {returncode}"


def environment_info() -> dict[str, Any]:
    """Where a result was produced (kept small: no user names or paths)."""
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "pytest": version("pytest"),
    }


class GraderProcess:
    """A grader subprocess. With `hold`, it starts now, imports pytest, the plugin and the
    grader files, then waits before running any check until `go()` (watch mode keeps one
    ready so a save is graded without paying interpreter start-up)."""

    def __init__(self, lab: Lab, lab_dir: Path, *, hold: bool = False, workspace_root: Path | None = None,
                 route: ModelRoute | None = None, objects: ObjectStore | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.lab = lab
        self.objects = objects
        self.lab_dir = lab_dir.resolve()
        self.route = route
        self.grader_hashes = lab.grader_hashes()
        self.sandbox = sandbox.sandbox_kind()
        self._tmp = tempfile.TemporaryDirectory(prefix="workbench-grade-")
        tmp_dir = Path(self._tmp.name)
        ini_file = tmp_dir / "pytest.ini"
        ini_file.write_text("[pytest]\naddopts =\n")
        self.log_path = tmp_dir / "pytest.log"
        # the worker grades a copy: the learner's folder itself stays untouched and out of reach
        self.lab_copy = tmp_dir / "lab"
        self._sync()
        self.read_fd, write_fd = os.pipe()
        extra_env = env or {}
        env = grader_env(lab, self.lab_copy, tmp_dir, write_fd)
        env.update(extra_env)
        env["WORKBENCH_SANDBOX_KIND"] = self.sandbox
        env["WORKBENCH_SANDBOX_HIDE"] = os.pathsep.join(_hidden_paths(workspace_root, tmp_dir))
        env["WORKBENCH_SANDBOX_HIDE_MODULES"] = os.pathsep.join(_module_dirs(lab.spec.limits.hide_modules))
        env["WORKBENCH_SANDBOX_EXPOSE"] = os.pathsep.join(_exposed_paths())
        cassette = os.environ.get("WORKBENCH_LLM_CASSETTE")
        if cassette and "llm" in lab.spec.needs:  # record/replay happens in the worker, which must reach the file
            folder = Path(cassette).expanduser().resolve().parent
            folder.mkdir(parents=True, exist_ok=True)
            env["WORKBENCH_SANDBOX_BIND"] = str(folder)
        if "llm" in lab.spec.needs:
            env["WORKBENCH_WORKER_PRELOAD"] = "litellm"
        self.bridge: ModelBridge | None = None
        if route is not None:
            env["WORKBENCH_MODEL"] = route.model
            if route.upstream_base:
                self.bridge = ModelBridge(str(tmp_dir / "model.sock"), route.upstream_base)
                env["WORKBENCH_MODEL_SOCKET"] = self.bridge.path
                env["WORKBENCH_UPSTREAM_BASE"] = route.upstream_base
                if route.api_key:
                    env["WORKBENCH_UPSTREAM_KEY"] = route.api_key
        pass_fds = [write_fd]
        self._go_fd: int | None = None
        hold_fd = -1
        if hold:
            hold_fd, self._go_fd = os.pipe()
            env["WORKBENCH_HOLD_FD"] = str(hold_fd)
            pass_fds.append(hold_fd)
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    pytest_command(lab, ini_file), cwd=tmp_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, pass_fds=pass_fds, start_new_session=True,
                    preexec_fn=sandbox.enter_private_network if self.sandbox != "none" else None,
                )
        finally:
            os.close(write_fd)
            if hold_fd >= 0:
                os.close(hold_fd)

    def _sync(self) -> None:
        """Copy the learner's folder and record what is about to be graded (before any learner
        code runs): the files' hashes, and their bytes in the workspace's object store."""
        sandbox.sync_tree(self.lab_dir, self.lab_copy)
        if self.objects is not None:
            self.files = self.objects.snapshot(self.lab_copy)
        else:
            self.files = {path: sha256_bytes(data) for path, data in manifest_of(self.lab_copy).items()}

    def usable_for(self, lab: Lab, lab_dir: Path) -> bool:
        """Still waiting, for this lab and folder?"""
        return self.lab.id == lab.id and self.lab_dir == lab_dir.resolve() and self.proc.poll() is None

    def go(self) -> None:
        """Let a held process run its checks (on a fresh copy of the learner's folder)."""
        if self._go_fd is not None:
            self._sync()
            try:
                os.write(self._go_fd, b"g")
            except OSError:
                pass
            os.close(self._go_fd)
            self._go_fd = None

    def log_tail(self) -> str:
        """The end of pytest's own output."""
        return self.log_path.read_text("utf-8", "replace")[-4000:]

    def close(self) -> None:
        """Stop the process if it still runs and remove its files."""
        if self._go_fd is not None:
            os.close(self._go_fd)  # a held child reads EOF and exits
            self._go_fd = None
        if self.proc.poll() is None:
            _kill_group(self.proc)
        self.proc.wait()
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1
        if self.bridge is not None:
            self.bridge.close()
            self.bridge = None
        self._tmp.cleanup()


def grade(
    lab: Lab,
    lab_dir: Path,
    *,
    workspace_root: Path | None = None,
    on_event: EventCallback | None = None,
    model: str | None = None,
    process: GraderProcess | None = None,
    objects: ObjectStore | None = None,
    env: dict[str, str] | None = None,
) -> GradeResult:
    """Grade the learner's folder `lab_dir` against `lab`'s installed grader (in `process`
    when a held one is given, else in a new one). For labs that need a model, the installed
    model hook (`set_model_hook`) makes the backend ready and says where calls go."""
    lab_dir = lab_dir.resolve()
    if process is None or not process.usable_for(lab, lab_dir):
        if process is not None:
            process.close()
        process = GraderProcess(lab, lab_dir, workspace_root=workspace_root, route=model_route_for(lab), objects=objects,
                                env=env)
    if process.route is not None:
        model = model or process.route.model
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    hashes_before = process.grader_hashes
    outside_before = _snapshot(workspace_root, [lab_dir])
    run = _Run(on_event)
    if on_event is not None:
        on_event(to_dict(Started(lab.id, str(lab_dir), combined_sha256(hashes_before), process.sandbox)))
    timeout_s = lab.spec.limits.timeout_s
    try:
        process.go()
        completed = _read_events(process.proc, process.read_fd, run, started + timeout_s)
        if not completed:
            _kill_group(process.proc)
        returncode = process.proc.wait()
        log_tail = process.log_tail()
    finally:
        process.close()

    message: str | None = None
    status: str
    if not completed:
        run.close_missing(f"timed out after {timeout_s:g} s (the lab's time limit)", "not run: grading stopped at the time limit")
        message = f"grading stopped: timed out after {timeout_s:g} s"
    elif not run.finished and run.checks:
        what = _describe_exit(returncode)
        run.close_missing(f"{what} while running this check", f"not run: {what}")
        message = f"grading stopped: {what}"
    warnings: list[str] = []
    hashes_after = lab.grader_hashes()
    if hashes_after != hashes_before:
        changed = _changed(hashes_before, hashes_after)
        warnings.append(f"grader files changed during grading: {', '.join(changed)}; this result is not trusted")
    outside_changed = _changed(outside_before, _snapshot(workspace_root, [lab_dir]))
    if outside_changed:
        shown = ", ".join(outside_changed[:5]) + (" ..." if len(outside_changed) > 5 else "")
        warnings.append(f"learner code changed files outside its folder: {shown}")

    tests = [run.results[k] for k in sorted(run.results)]
    result = GradeResult(
        lab=lab.id, status="fail", message=message, tests=tests, pass_mark=lab.spec.pass_mark,
        grader_sha256=combined_sha256(hashes_before), grader_files=hashes_before, workbench_version=__version__,
        started_at=started_at, duration_s=round(time.monotonic() - started, 3), model=model,
        environment=environment_info(), warnings=warnings, llm_calls=run.llm_calls, sandbox=process.sandbox,
        files=process.files,
    )
    if message is not None:
        status = "error"  # the run did not complete (Exercism: "error"); finished checks still count
    elif not run.checks or run.collect_errors:
        status = "error"
        result.message = message or "the grader could not be collected:\n" + ("\n".join(run.collect_errors) or log_tail)
    elif warnings:
        status = "error"
        result.message = "; ".join(warnings)
    else:
        reached = result.score >= lab.spec.pass_mark - 1e-9
        status = "pass" if reached and not result.required_failed else "fail"
        if reached and result.required_failed:
            result.message = "a required check failed: " + "; ".join(t.name for t in result.required_failed)
    result.status = status  # type: ignore[assignment]
    if on_event is not None:
        on_event(to_dict(ResultReady(result.to_dict())))
    return result


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


__all__ = ["GraderProcess", "ModelRoute", "encode_event", "grade", "grader_env", "pytest_command", "set_model_hook"]

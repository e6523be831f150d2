"""pytest plugin that turns grader tests into checks and streams one JSON event per check.

Loaded by the grading runner as `pytest -p workbench.grader_plugin`. A grader test is a check:

    @pytest.mark.check(skill="ml-fundamentals", points=2, hint=1)
    def test_gradient_matches_numeric(learner, record_metric):
        \"\"\"Analytic gradient matches a numeric one\"\"\"      # the check's name
        ...

Fixtures: `learner` (the lab's main module, imported from the learner's copy), `learner_module`
(import any other module of theirs by name), `lab_dir` (their folder), `record_metric(name,
value)` (lands in the result), `check_timeout_s`. Events go to the file descriptor in
WORKBENCH_EVENT_FD, or the file in WORKBENCH_EVENT_FILE; with neither, nothing is streamed.
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from workbench.core.results import encode_event

_METRICS = pytest.StashKey[dict]()
_MESSAGE = pytest.StashKey[str]()
_REPORTS = pytest.StashKey[list]()
_OUTPUT_LIMIT = 4000


class CheckTimeout(BaseException):
    """Raised in the main thread when a check outlives its time (not an Exception on purpose:
    learner code that catches Exception must not swallow it)."""


class NetworkBlocked(OSError):
    """A connection outside loopback was attempted during grading."""


class _EventStream:
    def __init__(self) -> None:
        fd = os.environ.get("WORKBENCH_EVENT_FD")
        path = os.environ.get("WORKBENCH_EVENT_FILE")
        self._file = None
        if fd:
            self._file = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8", closefd=False)
        elif path:
            self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def emit(self, event: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(encode_event(event))
            self._file.flush()


_stream: _EventStream | None = None


def emit_event(event: dict[str, Any]) -> None:
    """Stream an extra event to the grading runner (e.g. {"event": "llm_call", ...} from the
    LLM layer); the runner keeps llm_call events in the result's `llm_calls`."""
    if _stream is not None:
        _stream.emit(event)


_emit = emit_event


# -- network: loopback only -------------------------------------------------------------------

def _allowed_hosts() -> set[str]:
    extra = os.environ.get("WORKBENCH_NET_ALLOW", "")
    return {"localhost", *(h.strip() for h in extra.split(",") if h.strip())}


def _is_allowed(address: Any, allowed: set[str]) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths and the like
    host = str(address[0])
    if host in allowed:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _install_network_guard() -> None:
    if os.environ.get("WORKBENCH_NET_GUARD", "1") == "0":
        return
    allowed = _allowed_hosts()
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guard(address: Any) -> None:
        if not _is_allowed(address, allowed):
            raise NetworkBlocked(f"network access outside loopback is blocked during grading (tried {address!r}); use 127.0.0.1")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


# -- check metadata ---------------------------------------------------------------------------

def _check_meta(item: pytest.Item) -> dict[str, Any]:
    marker = item.get_closest_marker("check")
    kwargs = dict(marker.kwargs) if marker else {}
    doc = (getattr(item, "obj", None).__doc__ or "").strip() if hasattr(item, "obj") else ""
    name = kwargs.get("name") or (doc.splitlines()[0].strip() if doc else item.name.removeprefix("test_").replace("_", " "))
    return {
        "name": name,
        "nodeid": item.nodeid,
        "skill": kwargs.get("skill", ""),
        "points": float(kwargs.get("points", 1)),
        "hint": kwargs.get("hint"),
    }


def _check_timeout_s() -> float:
    return float(os.environ.get("WORKBENCH_CHECK_TIMEOUT_S", "0") or 0)


# -- hooks ------------------------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    global _stream
    config.addinivalue_line("markers", "check(skill, points=1, hint=None, name=None): a graded check")
    _stream = _EventStream()
    _install_network_guard()
    if os.environ.get("WORKBENCH_GRADING") == "1":
        _apply_memory_limit()
    lab_dir = os.environ.get("WORKBENCH_LAB_DIR")
    if lab_dir and lab_dir not in sys.path:
        sys.path.insert(0, lab_dir)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _emit({"event": "collect_error", "nodeid": report.nodeid, "output": str(report.longrepr)[-_OUTPUT_LIMIT:]})


def _wait_for_go() -> None:
    """A held grader (watch mode) waits here, with everything imported, until told to run."""
    hold_fd = os.environ.get("WORKBENCH_HOLD_FD")
    if not hold_fd:
        return
    if not os.read(int(hold_fd), 1):
        os._exit(0)  # the runner gave up on this process
    os.close(int(hold_fd))


def pytest_collection_finish(session: pytest.Session) -> None:
    _wait_for_go()
    checks = []
    for task_id, item in enumerate(session.items, start=1):
        item.stash[_METRICS] = {}
        item.stash[_REPORTS] = []
        meta = _check_meta(item)
        meta["task_id"] = task_id
        item.user_properties.append(("task_id", task_id))
        checks.append(meta)
    _emit({"event": "collected", "checks": checks})


def _on_alarm(signum: int, frame: Any) -> None:
    raise CheckTimeout()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    meta = _check_meta(item)
    task_id = dict(item.user_properties).get("task_id", 0)
    _emit({"event": "check_started", "task_id": task_id, "name": meta["name"]})
    timeout_s = _check_timeout_s()
    if timeout_s > 0:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
    started = time.perf_counter()
    try:
        yield
    finally:
        if timeout_s > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)
    _emit(_check_event(item, meta, task_id, time.perf_counter() - started))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(_REPORTS, []).append(report)
    if call.excinfo is None or _MESSAGE in item.stash:
        return
    item.stash[_MESSAGE] = _friendly_message(call.excinfo)


def _friendly_message(excinfo: pytest.ExceptionInfo) -> str:
    exc = excinfo.value
    if isinstance(exc, CheckTimeout):
        return f"timed out after {_check_timeout_s():g} s"
    if isinstance(exc, MemoryError):
        limit = os.environ.get("WORKBENCH_MEMORY_MB")
        return f"memory limit exceeded ({limit} MB allowed)" if limit else "out of memory"
    if isinstance(exc, SystemExit):
        return f"learner code called sys.exit({exc.code!r}); return values or raise exceptions instead"
    if isinstance(exc, pytest.fail.Exception) or isinstance(exc, AssertionError):
        text = str(exc).strip()
        first = text.split("\nassert ")[0].strip() if text else ""
        return first or excinfo.exconly().splitlines()[0]
    return excinfo.exconly().splitlines()[0][:500]


def _check_event(item: pytest.Item, meta: dict[str, Any], task_id: int, duration_s: float) -> dict[str, Any]:
    reports = item.stash.get(_REPORTS, [])
    failed = [r for r in reports if r.failed]
    skipped = [r for r in reports if r.skipped]
    if failed:
        status = "fail" if failed[0].when == "call" else "error"
    elif skipped:
        status = "fail"
    else:
        status = "pass"
    message = item.stash.get(_MESSAGE, None)
    if status != "pass" and not message and skipped:
        longrepr = skipped[0].longrepr
        message = f"skipped: {longrepr[2] if isinstance(longrepr, tuple) else longrepr}"
    output_parts = []
    for report in reports:
        output_parts.extend(text for _, text in report.sections if text)
    if failed:
        output_parts.append(failed[0].longreprtext)
    output = "\n".join(output_parts).strip()
    return {
        "event": "check",
        **meta,
        "task_id": task_id,
        "status": status,
        "message": message if status != "pass" else None,
        "output": output[-_OUTPUT_LIMIT:] or None,
        "max_points": meta["points"],
        "points": meta["points"] if status == "pass" else 0.0,
        "metrics": item.stash.get(_METRICS, {}),
        "duration_s": round(duration_s, 4),
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _emit({"event": "finished", "exitstatus": int(exitstatus)})


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def lab_dir() -> Path:
    """The learner's copy of the lab (the folder they edit)."""
    value = os.environ.get("WORKBENCH_LAB_DIR")
    if not value:
        pytest.fail("WORKBENCH_LAB_DIR is not set: run graders through 'workbench check'")
    return Path(value)


@pytest.fixture(scope="session")
def learner_module(lab_dir: Path):
    """Import a module of the learner's by name, e.g. learner_module("client")."""

    def load(name: str):
        try:
            return importlib.import_module(name)
        except SystemExit as exc:
            pytest.fail(f"importing {name} called sys.exit({exc.code!r})", pytrace=False)
        except Exception as exc:  # noqa: BLE001 - any import failure is the learner's to fix
            where = ""
            if getattr(exc, "lineno", None):
                where = f" (line {exc.lineno})"
            pytest.fail(f"could not import {name} from {lab_dir}: {type(exc).__name__}: {exc}{where}", pytrace=False)

    return load


@pytest.fixture(scope="session")
def learner(learner_module):
    """The lab's main module, imported from the learner's folder."""
    return learner_module(os.environ.get("WORKBENCH_LAB_MODULE", "solution"))


@pytest.fixture
def record_metric(request: pytest.FixtureRequest):
    """Record a named metric (number, string or bool) for this check's result."""

    def record(name: str, value: Any) -> None:
        if not isinstance(value, int | float | str | bool):
            value = float(value)  # numpy scalars
        request.node.stash.setdefault(_METRICS, {})[name] = value

    return record


@pytest.fixture(scope="session")
def check_timeout_s() -> float:
    """Seconds each check may run (0: no per-check limit)."""
    return _check_timeout_s()


def _apply_memory_limit() -> None:
    limit_mb = os.environ.get("WORKBENCH_MEMORY_MB")
    if not limit_mb:
        return
    import resource

    limit_bytes = int(limit_mb) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# -- model fixtures (workbench.llm) -------------------------------------------------------------

@pytest.fixture(scope="session")
def llm():
    """The workbench model API for graders (`llm.chat(...)`, `llm.stream(...)`, `llm.model`).

    Fails the check with how to fix it when the backend does not answer. Under `workbench
    check` the parent has already started the embedded server and passed its URL."""
    from workbench.llm.errors import LLMError
    from workbench.llm.grading import grader_model

    try:
        return grader_model()
    except LLMError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(autouse=True)
def _llm_budget_guard():
    """Fail the check that spent a lab's LLM budget, even if the learner's code caught the error."""
    budget_module = sys.modules.get("workbench.llm.budget")
    before = len(budget_module.current_budget().exceeded) if budget_module else 0
    yield
    budget_module = sys.modules.get("workbench.llm.budget")
    if budget_module is None:
        return
    exceeded = budget_module.current_budget().exceeded
    if len(exceeded) > before:
        pytest.fail(exceeded[-1], pytrace=False)

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

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from workbench.core.events import (
    CheckFinished,
    CheckStarted,
    Collected,
    CollectError,
    Finished,
    to_dict,
)
from workbench.core.results import CheckResult, encode_event
from workbench.core.wire import RemoteError
from workbench.core.worker import (
    LearnerModule,
    Worker,
    WorkerCrashed,
    WorkerTimeout,
    kill_tree,
    sandboxed_popen,
)

_METRICS = pytest.StashKey[dict]()
_MESSAGE = pytest.StashKey[str]()
_REPORTS = pytest.StashKey[list]()
_OUTPUT_LIMIT = 4000


class CheckTimeout(BaseException):
    """Raised in the main thread when a check outlives its time (not an Exception on purpose:
    learner code that catches Exception must not swallow it)."""


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
        "required": bool(kwargs.get("required", False)),
        "competency": kwargs.get("competency"),
    }


def _check_timeout_s() -> float:
    return float(os.environ.get("WORKBENCH_CHECK_TIMEOUT_S", "0") or 0)


# -- hooks ------------------------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    global _stream
    config.addinivalue_line("markers", "check(skill, points=1, hint=None, name=None, required=False): a graded check")
    _stream = _EventStream()
    if os.environ.get("WORKBENCH_MODEL_SOCKET"):
        from workbench.core.modelproxy import start_metering_proxy

        start_metering_proxy(emit_event)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _emit(to_dict(CollectError(report.nodeid, str(report.longrepr)[-_OUTPUT_LIMIT:])))


def _wait_for_go() -> None:
    """A held grader (watch mode) waits here, with everything imported, until told to run."""
    hold_fd = os.environ.get("WORKBENCH_HOLD_FD")
    if not hold_fd:
        return
    if not os.read(int(hold_fd), 1):
        os._exit(0)  # the runner gave up on this process
    os.close(int(hold_fd))


def pytest_collection_finish(session: pytest.Session) -> None:
    if os.environ.get("WORKBENCH_LAB_DIR") and os.environ.get("WORKBENCH_GRADING") == "1":
        learner_worker().start()  # interpreter start-up overlaps the wait / the first check's setup
    _wait_for_go()
    checks = []
    for task_id, item in enumerate(session.items, start=1):
        item.stash[_METRICS] = {}
        item.stash[_REPORTS] = []
        meta = _check_meta(item)
        meta["task_id"] = task_id
        item.user_properties.append(("task_id", task_id))
        checks.append(meta)
    _emit(to_dict(Collected(checks)))


def _on_alarm(signum: int, frame: Any) -> None:
    raise CheckTimeout()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    meta = _check_meta(item)
    task_id = dict(item.user_properties).get("task_id", 0)
    _emit(to_dict(CheckStarted(task_id, meta["name"])))
    global _deadline
    timeout_s = _check_timeout_s()
    started = time.perf_counter()
    _deadline = time.monotonic() + (timeout_s if timeout_s > 0 else _lab_timeout_s())
    if timeout_s > 0:
        # the grader's own code is held to the same time (learner code is cut off by _deadline)
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s + 1.0)
    try:
        yield
    finally:
        if timeout_s > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)
        _deadline = None
    if any(r.failed for r in item.stash.get(_REPORTS, [])) and _MESSAGE in item.stash and \
            item.stash[_MESSAGE].startswith("timed out") and _worker is not None:
        _worker.stop()  # a worker stuck in learner code is replaced before the next check
    event = _check_event(item, meta, task_id, time.perf_counter() - started)
    _emit(event)
    if meta["required"] and event["status"] != "pass" and os.environ.get("WORKBENCH_STOP_AT_REQUIRED") == "1":
        item.session.shouldstop = "a required check failed"


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
    if isinstance(exc, CheckTimeout | WorkerTimeout):
        if _worker is not None:
            _worker.stop()
        limit = _check_timeout_s() or _lab_timeout_s()
        return f"timed out after {limit:g} s (the learner's code was stopped; the next check gets a fresh process)"
    if isinstance(exc, WorkerCrashed):
        return str(exc)
    if isinstance(exc, RemoteError):
        if exc.type_name == "MemoryError":
            limit = os.environ.get("WORKBENCH_MEMORY_MB")
            return f"memory limit exceeded ({limit} MB allowed)" if limit else "out of memory"
        if exc.type_name == "SystemExit":
            return f"learner code called sys.exit({exc.message}); return values or raise exceptions instead"
        if exc.type_name == "NotImplementedError":
            return f"not implemented yet: {exc.message}" if exc.message else "not implemented yet (NotImplementedError)"
        name = exc.type_name.removeprefix("Remote") if exc.type_name.startswith("Remote") else exc.type_name
        return f"the learner's code raised {name}: {exc.message}"[:500]
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
        status = "fail" if failed[0].when == "call" or item.stash.get(_LEARNER_FAULT, False) else "error"
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
        learner_output = _worker.take_output() if _worker is not None else ""
        if learner_output.strip():
            output_parts.append("--- learner output (last part) ---\n" + learner_output[-2000:])
    elif _worker is not None:
        _worker.take_output()
    output = "\n".join(output_parts).strip()
    fields = {k: v for k, v in meta.items() if k in CheckResult.__dataclass_fields__}
    fields.update(
        task_id=task_id, status=status, message=message if status != "pass" else None,
        output=output[-_OUTPUT_LIMIT:] or None, max_points=meta["points"],
        points=meta["points"] if status == "pass" else 0.0, metrics=item.stash.get(_METRICS, {}),
        duration_s=round(duration_s, 4),
    )
    return to_dict(CheckFinished(CheckResult(**fields)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _worker is not None:
        _worker.stop()
    for proc in _processes:
        kill_tree(proc)
    _emit(to_dict(Finished(int(exitstatus))))


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def lab_dir() -> Path:
    """The learner's copy of the lab (the folder they edit)."""
    value = os.environ.get("WORKBENCH_LAB_DIR")
    if not value:
        pytest.fail("WORKBENCH_LAB_DIR is not set: run graders through 'workbench check'")
    return Path(value)


def _lab_timeout_s() -> float:
    return float(os.environ.get("WORKBENCH_TIMEOUT_S", "300") or 300)


_deadline: float | None = None
_worker: Worker | None = None
_processes: list = []


def learner_worker() -> Worker:
    """The run's learner worker (started on first use, replaced after a timeout or crash)."""
    global _worker
    if _worker is None:
        _worker = Worker(lambda: _deadline)
    return _worker


def import_learner(name: str) -> LearnerModule:
    """The learner's module `name`, imported in the sandboxed worker; a failed import fails the
    check with the learner's error."""
    worker = learner_worker()
    try:
        worker.module(name)
    except RemoteError as exc:
        if exc.is_a("SystemExit"):
            pytest.fail(f"importing {name} called sys.exit(); return values or raise exceptions instead", pytrace=False)
        where = exc.remote_traceback.strip().splitlines()[-3:-1] if exc.remote_traceback else []
        hint = f" ({where[0].strip()})" if where else ""
        pytest.fail(f"could not import {name} from your lab folder: {exc.type_name}: {exc.message}{hint}", pytrace=False)
    except WorkerCrashed as exc:
        pytest.fail(f"importing {name}: {exc}", pytrace=False)
    return LearnerModule(worker, name)


def call_learner(what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call learner code; an exception it raises fails the check as "WHAT raised TYPE: message"
    (NotImplementedError: "WHAT is not implemented yet"). Timeouts and crashes of the worker
    pass through to the plugin, which reports them."""
    try:
        return function(*args, **kwargs)
    except RemoteError as exc:
        if exc.type_name == "NotImplementedError":
            pytest.fail(f"{what} is not implemented yet ({exc.message})", pytrace=False)
        pytest.fail(f"{what} raised {exc.type_name}: {exc.message}", pytrace=False)


@pytest.fixture(scope="session")
def learner_module(lab_dir: Path):
    """Import a module of the learner's by name, e.g. learner_module("client"); it lives in the
    sandboxed worker and answers with data."""
    return import_learner


@pytest.fixture(scope="session")
def learner(learner_module):
    """The lab's main module, in the sandboxed worker (see `workbench.core.worker`)."""
    return learner_module(os.environ.get("WORKBENCH_LAB_MODULE", "solution"))


@pytest.fixture(scope="session")
def seed() -> int:
    """A fresh seed per grading run (WORKBENCH_SEED reproduces one): generate held-out data
    from it so that nothing can be memorised from an earlier run."""
    value = os.environ.get("WORKBENCH_SEED")
    return int(value) if value else int.from_bytes(os.urandom(4), "big")


@pytest.fixture(scope="session")
def learner_process():
    """Start a learner program (e.g. `[sys.executable, "-m", "uvicorn", "server:app", ...]`) in the
    sandbox, in the lab copy; returns a subprocess.Popen. All are killed when grading ends."""

    def start(argv: list[str], env: dict[str, str] | None = None, **kwargs: Any):
        proc = sandboxed_popen(argv, env=env, **kwargs)
        _processes.append(proc)
        return proc

    return start


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


_LEARNER_FAULT = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _llm_budget_guard(request: pytest.FixtureRequest):
    """Fail the check that spent a lab's LLM budget, even if the learner's code caught the error.
    The count comes from the grader's metering proxy, which learner code cannot reach."""
    from workbench.core.modelproxy import current_proxy

    def spent() -> list[str]:
        proxy = current_proxy()
        budget_module = sys.modules.get("workbench.llm.budget")  # the grader's own calls in replay mode
        return [*(proxy.meter.exceeded if proxy else []),
                *(budget_module.current_budget().exceeded if budget_module else [])]

    before = len(spent())
    yield
    after = spent()
    if len(after) > before:
        request.node.stash[_LEARNER_FAULT] = True  # the learner's overspend: a failed check, not a grader error
        pytest.fail(after[-1], pytrace=False)

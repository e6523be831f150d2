"""The mcp-tool-server grader's harness: start the learner's server over stdio in the learner's
sandbox and talk to it with the SDK's real ClientSession, a reference model of the stockroom to
compare against, the session as learner code sees it, a model wrapper that records what the agent
asked for, and scripted models.

Learner code (agent.py) runs in the sandboxed worker; the MCP session stays here, in the grader.
Learner code gets a worker-side stand-in (`_mcp_in_worker.GraderSession`) whose awaitable methods
run on this session, on the check's event loop: so learner code that uses it must be called
through `learner_call`, from another thread, while the loop keeps serving the session.

Scripted models are used ONLY for the recovery and budget checks (a model that sends broken
JSON, then out-of-range arguments, then valid ones; a model that never stops): a real 135M
model cannot be made to misbehave on cue. The end-to-end check is driven by the real embedded
model through workbench.llm.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from workbench.core.worker import kill_tree, sandboxed_popen
from workbench.grader_plugin import import_learner, learner_worker
from workbench.grading_kit import (
    scripted_text,
    scripted_tool_call,
    scripted_usage,
)
from workbench.llm import ChatResponse

TOOL_NAMES = ("add_stock", "convert_units", "remove_stock")
RESOURCE_URI = "inventory://stock"
SKU_PATTERN = r"^[A-Z]{3}-[0-9]{3}$"
UNITS = ("g", "kg", "lb", "oz")
GRAMS_PER_UNIT = {"g": 1.0, "kg": 1000.0, "lb": 453.59237, "oz": 28.349523125}
START_TIMEOUT_S = 30.0       # spawn + initialize (the SDK import alone takes 1-3 s here)
REQUEST_TIMEOUT_S = 20.0     # any single request to the learner's server
_LETTERS = "ABCDEFGHJKLMNPRSTW"


class ServerProblem(Exception):
    """The learner's server could not be started or stopped answering."""


def sku(rng) -> str:
    """A random valid SKU."""
    return "".join(rng.choice(_LETTERS) for _ in range(3)) + "-" + str(rng.randint(100, 999))


def near_misses(rng) -> list[str]:
    """Seeded strings that are almost SKUs and must be rejected."""
    good = sku(rng)
    letters, digits = good[:3], good[4:]
    return [letters.lower() + "-" + digits, letters[:2] + letters[2].lower() + "-" + digits, letters + "-" + digits + "5",
            letters[:2] + "-" + digits, letters + digits, "X" + letters + "-" + digits, letters + "-" + digits[:2],
            letters + "_" + digits, " " + good, good + " ", letters + "-" + digits[:2] + "O", letters + "--" + digits]




# -- the reference stockroom ------------------------------------------------------------------

def _valid_quantity(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000


def _valid_sku(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(SKU_PATTERN, value) is not None


@dataclass
class Stockroom:
    """What the README specifies, in plain Python: the grader's expected state."""

    stock: dict[str, int] = field(default_factory=dict)

    def apply(self, name: str, arguments: Any) -> tuple[bool, Any]:
        """(ok, result) of one tool call; a failed call changes nothing."""
        if not isinstance(arguments, dict):
            return False, "not an object"
        if name in ("add_stock", "remove_stock"):
            sku_, quantity = arguments.get("sku"), arguments.get("quantity")
            if not (_valid_sku(sku_) and _valid_quantity(quantity)):
                return False, "invalid arguments"
            if name == "add_stock":
                self.stock[sku_] = self.stock.get(sku_, 0) + quantity
            elif sku_ not in self.stock or self.stock[sku_] < quantity:
                return False, "refused"
            else:
                self.stock[sku_] -= quantity
            return True, {"sku": sku_, "on_hand": self.stock[sku_]}
        if name == "convert_units":
            value, source, target = arguments.get("value"), arguments.get("from_unit"), arguments.get("to_unit")
            if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1_000_000
                    and source in UNITS and target in UNITS):
                return False, "invalid arguments"
            return True, {"value": round(value * GRAMS_PER_UNIT[source] / GRAMS_PER_UNIT[target], 4), "unit": target}
        return False, "unknown tool"


# -- talking to the learner's server ----------------------------------------------------------

@dataclass
class Connection:
    """An initialized MCP session to the learner's server, plus what it took to get there."""

    session: Any
    init: Any
    startup_s: float
    stderr_path: Path
    _for_learner: Any = None

    def stderr_tail(self, limit: int = 600) -> str:
        """The end of the server's stderr (tracebacks land there)."""
        return _stderr_tail(self.stderr_path, limit)

    async def learner_session(self) -> Any:
        """This session as learner code gets it: a handle to a GraderSession in the worker."""
        if self._for_learner is None:
            bridge = SessionBridge(self.session, asyncio.get_running_loop())
            self._for_learner = await asyncio.to_thread(lambda: in_worker().GraderSession(bridge))
        return self._for_learner


_IN_WORKER = Path(__file__).with_name("_mcp_in_worker.py")
_LOADER = """
import sys, types
module = types.ModuleType(name)
exec(compile(source, filename, "exec"), module.__dict__)
sys.modules[name] = module
"""


def in_worker() -> Any:
    """_mcp_in_worker.py, loaded as a module inside the learner's sandboxed worker (again after a
    worker restart)."""
    import_learner("builtins").exec(_LOADER, {"name": "_workbench_mcp_grader", "source": _IN_WORKER.read_text(),
                                              "filename": f"<grader {_IN_WORKER.name}>"})
    return import_learner("_workbench_mcp_grader")


async def learner_call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call learner code (in the worker) from a check's event loop. It runs in a thread: learner
    code that uses the session calls back into the grader, and SessionBridge needs the loop free.
    When the check's time runs out first, the worker is stopped, so that the thread returns now
    (the next call starts a fresh worker)."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except asyncio.CancelledError:
        learner_worker().stop()
        raise


class SessionBridge:
    """The grader's side of GraderSession: each request runs on the grader's ClientSession, on the
    check's event loop, bounded in time. Answers are data: {"value": the result as the protocol
    carries it, "type": its SDK model}, {"mcp_error": ...} for a JSON-RPC error, {"timeout": ...}
    when the server did not answer in time."""

    def __init__(self, session: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._session = session
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def request(self, method: str, *args: Any) -> dict[str, Any]:
        from mcp import MCPError

        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("grader bug: learner code that uses the MCP session must be called through learner_call()")
        session = self._session
        if method == "call_tool":
            name, arguments, read_timeout_s = args
            read_timeout_s = read_timeout_s if isinstance(read_timeout_s, int | float) else None
            coroutine = session.call_tool(str(name), arguments, read_timeout_seconds=read_timeout_s)
        elif method == "read_resource":
            coroutine = session.read_resource(str(args[0]))
        elif method in ("list_tools", "list_resources", "send_ping"):
            coroutine = getattr(session, method)()
        else:
            raise ValueError(f"the grader's session has no request {method!r}")
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, REQUEST_TIMEOUT_S), self._loop)
        try:
            result = future.result(REQUEST_TIMEOUT_S + 5.0)
        except TimeoutError:
            future.cancel()
            return {"timeout": f"{method} got no answer from the server within {REQUEST_TIMEOUT_S:g} s"}
        except MCPError as exc:
            return {"mcp_error": {"code": exc.code, "message": exc.message, "data": exc.data}}
        return {"value": result.model_dump(mode="json", by_alias=True, exclude_unset=True), "type": type(result).__name__}


def _stderr_tail(path: Path, limit: int = 600) -> str:
    try:
        return path.read_text(errors="replace").strip()[-limit:]
    except OSError:
        return ""


def _write_line(stream: Any, data: bytes) -> None:
    stream.write(data)
    stream.flush()


@asynccontextmanager
async def sandboxed_stdio(script: Path, errlog: Any):
    """`python server.py` started in the learner's sandbox (`sandboxed_popen`: the worker's
    bubblewrap, limits and environment; cwd = the lab copy), with its stdin/stdout as an MCP stdio
    transport: newline-delimited JSON-RPC, exactly as the SDK's stdio_client speaks it. The whole
    process tree is killed on exit."""
    import anyio
    from mcp.shared.message import SessionMessage
    from mcp.types import jsonrpc_message_adapter

    proc = sandboxed_popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog)
    read_writer, read_stream = anyio.create_memory_object_stream(0)
    write_stream, write_reader = anyio.create_memory_object_stream(0)

    async def stdout_reader() -> None:
        async with read_writer:
            while True:
                line = await anyio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True)
                if not line:
                    return
                try:
                    message: Any = SessionMessage(jsonrpc_message_adapter.validate_json(line, by_name=False))
                except ValueError as exc:
                    message = exc  # the session reports what the server wrote instead of JSON-RPC
                try:
                    await read_writer.send(message)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return

    async def stdin_writer() -> None:
        async with write_reader:
            async for session_message in write_reader:
                data = session_message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                try:
                    await anyio.to_thread.run_sync(_write_line, proc.stdin, data.encode())
                except OSError:
                    await read_writer.aclose()  # the server is gone: the session sees the connection end
                    return

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(stdout_reader)
            tasks.start_soon(stdin_writer)
            try:
                yield read_stream, write_stream
            finally:
                tasks.cancel_scope.cancel()
    finally:
        kill_tree(proc)
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


@asynccontextmanager
async def connect(lab_dir: Path):
    """`python server.py` in the learner's folder (in the sandbox), over stdio, with the SDK's ClientSession."""
    from mcp import ClientSession

    script = lab_dir / "server.py"
    if not script.is_file():
        raise ServerProblem(f"no server.py in {lab_dir}")
    stderr_dir = Path(tempfile.mkdtemp(prefix="mcp-stderr-"))
    stderr_path = stderr_dir / "server.stderr"
    started = time.perf_counter()
    with stderr_path.open("w") as errlog:
        async with sandboxed_stdio(script, errlog) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=REQUEST_TIMEOUT_S) as session:
                try:
                    init = await asyncio.wait_for(session.initialize(), START_TIMEOUT_S)
                except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001 - reported with the server's stderr
                    errlog.flush()
                    tail = _stderr_tail(stderr_path)
                    raise ServerProblem(f"`python server.py` did not complete the MCP handshake "
                                        f"({type(exc).__name__}: {exc}); server stderr: {tail or '(empty)'}") from exc
                yield Connection(session, init, time.perf_counter() - started, stderr_path)


def run_with_server(lab_dir: Path, body: Callable[[Connection], Awaitable[Any]], timeout_s: float = 60.0) -> Any:
    """Start the server, run `body(connection)`, stop the server; everything bounded in time.
    A server that cannot start, or a session that hangs, fails the check with the reason."""

    async def main() -> Any:
        async with connect(lab_dir) as connection:
            try:
                return await body(connection)
            except Exception as exc:
                if _is_transport_failure(exc):
                    raise ServerProblem(f"the server stopped answering ({type(exc).__name__}: {exc}); "
                                        f"server stderr: {connection.stderr_tail() or '(empty)'}") from exc
                raise

    try:
        return asyncio.run(asyncio.wait_for(main(), timeout_s))
    except BaseException as exc:  # noqa: BLE001 - unwrapped and re-dispatched below
        first = exc
        while isinstance(getattr(first, "exceptions", None), tuple) and first.exceptions:
            first = first.exceptions[0]  # anyio task groups wrap failures in exception groups
        if isinstance(first, ServerProblem):
            pytest.fail(str(first), pytrace=False)
        if isinstance(first, asyncio.TimeoutError | TimeoutError):
            pytest.fail(f"the check did not finish within {timeout_s:g} s (a request to the server, or the agent, hangs)",
                        pytrace=False)
        if first is exc:
            raise
        raise first from None


def _is_transport_failure(exc: Exception) -> bool:
    from mcp import MCPError

    name = type(exc).__name__
    if isinstance(exc, MCPError):
        return "closed" in str(exc).lower() or "timed out" in str(exc).lower()
    return name in ("ClosedResourceError", "BrokenResourceError", "EndOfStream")


async def call(connection: Connection, name: str, arguments: dict[str, Any]) -> tuple[bool, Any, str]:
    """(is_error, data, text) of one tools/call; a JSON-RPC error comes back as (True, None, message)
    with text prefixed 'protocol error:'."""
    from mcp import MCPError

    try:
        result = await asyncio.wait_for(connection.session.call_tool(name, arguments), REQUEST_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise ServerProblem(f"tools/call {name}({arguments}) got no answer within {REQUEST_TIMEOUT_S:g} s") from None
    except MCPError as exc:
        if _is_transport_failure(exc):
            raise
        return True, None, f"protocol error: {exc}"
    text = "\n".join(getattr(block, "text", "") or "" for block in result.content or [])
    data = result.structured_content
    if data is None:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    return bool(result.is_error), data, text


async def read_stock(connection: Connection) -> dict[str, Any]:
    """The resource inventory://stock, parsed; AssertionError if it is not a JSON object."""
    from mcp import MCPError

    try:
        result = await asyncio.wait_for(connection.session.read_resource(RESOURCE_URI), REQUEST_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise ServerProblem(f"reading {RESOURCE_URI} got no answer within {REQUEST_TIMEOUT_S:g} s") from None
    except MCPError as exc:
        if _is_transport_failure(exc):
            raise
        raise AssertionError(f"reading the resource {RESOURCE_URI} failed: {exc}; the server must serve it "
                             "(application/json, {SKU: units on hand})") from None
    texts = [getattr(c, "text", None) for c in result.contents]
    assert texts and texts[0] is not None, f"reading {RESOURCE_URI} returned no text content"
    try:
        value = json.loads(texts[0])
    except ValueError:
        raise AssertionError(f"{RESOURCE_URI} must be a JSON object of SKU -> units on hand, got {texts[0][:120]!r}") from None
    assert isinstance(value, dict), f"{RESOURCE_URI} must be a JSON object of SKU -> units on hand, got {texts[0][:120]!r}"
    return value


# -- models -----------------------------------------------------------------------------------


def _tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("role") == "tool"]




class RetryingModel:
    """SCRIPTED: sends broken JSON, then an out-of-range quantity, then an unknown tool, then a
    valid add_stock, then answers. Each reply depends only on how many tool results it has seen."""

    answer = "Done: the stock was updated."

    def __init__(self, sku_: str, quantity: int) -> None:
        self.attempts = [
            ("add_stock", '{"sku": "' + sku_ + '", "quantity": '),
            ("add_stock", json.dumps({"sku": sku_, "quantity": 0})),
            ("delete_everything", "{}"),
            ("add_stock", json.dumps({"sku": sku_, "quantity": quantity})),
        ]
        self.seen: list[str] = []

    def __call__(self, messages, tools=None, max_tokens=None, **kwargs) -> ChatResponse:
        results = _tool_messages(messages)
        self.seen = [str(m.get("content")) for m in results]
        if tools and len(results) < len(self.attempts):
            name, arguments = self.attempts[len(results)]
            return scripted_usage(scripted_tool_call(name, arguments, len(results)), messages, tools, max_tokens)
        return scripted_usage(scripted_text(self.answer), messages, tools, max_tokens)


class NeverDoneModel:
    """SCRIPTED: asks for convert_units whenever tools are offered and never answers in text (budgets)."""

    def __call__(self, messages, tools=None, max_tokens=None, **kwargs) -> ChatResponse:
        index = len(_tool_messages(messages))
        if tools:
            response = scripted_tool_call("convert_units", json.dumps({"value": 1, "from_unit": "kg", "to_unit": "g"}), index)
        else:
            response = ChatResponse(content="", finish_reason="stop", model="scripted")
        return scripted_usage(response, messages, tools, max_tokens)


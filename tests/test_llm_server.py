"""The embedded server's lifecycle and the client against the real model (SmolLM2-135M).

One server is started per test that needs it (a few seconds each) and always stopped; every
wait is bounded. Skipped when the model runtime or the GGUF file is not installed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

from workbench.llm import budget, calllog, cassette, server
from workbench.llm.errors import ServerNotRunning, ServerStartError

try:
    server.gguf_path()
    HAVE_MODEL = server.runtime_installed()
except Exception:  # noqa: BLE001
    HAVE_MODEL = False

pytestmark = [pytest.mark.llm, pytest.mark.slow,
              pytest.mark.skipif(not HAVE_MODEL, reason="model runtime or GGUF not installed ('just setup')")]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state dir; whatever server a test started is stopped afterwards."""
    directory = tmp_path / "state"
    monkeypatch.setenv("WORKBENCH_STATE_DIR", str(directory))
    monkeypatch.setenv("WORKBENCH_MODEL", "local")
    monkeypatch.delenv("WORKBENCH_LLM_API_BASE", raising=False)
    monkeypatch.delenv("WORKBENCH_LLM_CASSETTE_MODE", raising=False)
    from workbench.llm import client

    client._forget_local_server()
    budget.reset_budget(budget.Budget())
    yield directory
    info = server.read_state()
    if info is not None and server._pid_alive(info.pid) and server._is_ours(info.pid):
        server.down()
    client._forget_local_server()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_up_status_down(state: Path) -> None:
    assert server.status().state == "stopped"
    started = server.up(timeout_s=90)
    info = started.info
    assert not started.already_running and started.tokens_per_s and started.tokens_per_s > 1
    assert info.host == "127.0.0.1" and info.port > 0 and server.log_file().is_file()
    current = server.status()
    assert current.running and current.info.pid == info.pid
    again = server.up(timeout_s=30, warm=False)
    assert again.already_running and again.info.pid == info.pid
    stopped = server.down()
    assert stopped.stopped and "stopped" in stopped.message
    assert not server._pid_alive(info.pid) and server.status().state == "stopped" and not server.state_file().exists()
    assert server.down().message == "the embedded server is not running"


def test_stale_pid_file_is_reported_and_cleared(state: Path) -> None:
    state.mkdir(parents=True)
    stale = {"pid": _dead_pid(), "port": 9, "host": "127.0.0.1", "alias": "smollm2", "model_path": "x", "n_threads": 1,
             "n_ctx": 4096, "token": "t", "started_at": 0}
    server.state_file().write_text(json.dumps(stale))
    assert server.status().state == "stale"
    result = server.down()
    assert not result.stopped and "stale pid file" in result.message and not server.state_file().exists()
    server.state_file().write_text(json.dumps({**stale, "pid": os.getpid()}))  # alive, but not a workbench server
    assert server.status().state == "stale"
    started = server.up(timeout_s=90, warm=False)
    assert any("stale" in note for note in started.notes) and started.info.pid != os.getpid()


def test_port_taken_by_another_program(state: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        with pytest.raises(ServerStartError) as refused:
            server.up(port=port, timeout_s=60, warm=False)
        assert f"port {port}" in str(refused.value) and "already in use" in str(refused.value)
    assert server.status().state == "stopped"


def test_two_ups_at_once_start_one_server(state: Path) -> None:
    env = {**os.environ, "WORKBENCH_STATE_DIR": str(state)}
    command = [sys.executable, "-m", "workbench", "backend", "up", "--json", "--timeout", "90"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=150) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    assert reports[0]["pid"] == reports[1]["pid"] and reports[0]["port"] == reports[1]["port"]
    assert sorted(r["already_running"] for r in reports) == [False, True]
    result = run_cli("backend", "status", "--json", env={"WORKBENCH_STATE_DIR": str(state)})
    assert result.returncode == 0 and json.loads(result.stdout)["answers"] is True
    result = run_cli("backend", "down", env={"WORKBENCH_STATE_DIR": str(state)})
    assert result.returncode == 0 and "stopped the embedded server" in result.stdout


def test_chat_tools_structured_output_record_then_replay_with_server_stopped(state: Path, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.llm import chat, stream

    tape = tmp_path / "tape.json"
    monkeypatch.setenv("WORKBENCH_LLM_CASSETTE", str(tape))
    monkeypatch.setenv("WORKBENCH_LLM_CASSETTE_MODE", "record")
    cassette._open.clear()
    calllog.clear()
    tools = [{"type": "function", "function": {"name": "lookup_order", "description": "Look up an order",
              "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]
    question = [{"role": "user", "content": "What is the status of order A-1042?"}]
    called = chat(question, tools=tools, tool_choice={"type": "function", "function": {"name": "lookup_order"}}, max_tokens=60)
    assert called.tool_calls and called.tool_calls[0].name == "lookup_order"
    assert isinstance(called.tool_calls[0].parsed_arguments().get("order_id"), str)
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "confident": {"type": "boolean"}},
              "required": ["answer", "confident"]}
    structured = chat([{"role": "user", "content": "Is Paris in France? Reply in JSON."}], max_tokens=60,
                      response_format={"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}})
    parsed = structured.json()
    assert set(parsed) >= {"answer", "confident"} and isinstance(parsed["confident"], bool)
    streamed = "".join(stream([{"role": "user", "content": "Count to three."}], max_tokens=20))
    assert streamed
    live = [r for r in calllog.records() if not r.replayed]
    assert len(live) == 3 and all(r.latency_ms > 0 and r.cost_usd == 0 for r in live)
    assert live[0].tool_calls and live[0].tool_calls[0]["name"] == "lookup_order"
    server.down()
    assert server.status().state == "stopped"
    monkeypatch.setenv("WORKBENCH_LLM_CASSETTE_MODE", "replay")
    cassette._open.clear()
    replayed = chat(question, tools=tools, tool_choice={"type": "function", "function": {"name": "lookup_order"}}, max_tokens=60)
    assert replayed.replayed and replayed.tool_calls[0].arguments == called.tool_calls[0].arguments
    assert calllog.records()[-1].messages_sha256 == live[0].messages_sha256  # the same request, live or replayed
    assert "".join(stream([{"role": "user", "content": "Count to three."}], max_tokens=20)) == streamed
    assert server.status().state == "stopped"


def test_server_down_error_says_how_to_start_it(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.llm import chat

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("WORKBENCH_LLM_API_BASE", f"http://127.0.0.1:{port}/v1")
    started = time.perf_counter()
    with pytest.raises(ServerNotRunning) as down:
        chat([{"role": "user", "content": "Hello"}], timeout_s=10)
    assert "workbench backend up" in str(down.value) and time.perf_counter() - started < 30

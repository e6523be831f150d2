"""The TUI's one door into the LLM backend layer (`workbench.llm`), imported lazily.

The backend layer is optional from the TUI's point of view: when it is missing or its API
differs from what is called here, the panel says so instead of failing. Every function may
block (probing or starting a server), so the TUI calls them from worker threads only.
If `workbench.llm` renames something, this is the only file to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.core.workspace import Workspace

NOT_INSTALLED = "backend layer not installed"


@dataclass(frozen=True)
class RecentCall:
    """One model call seen in a recent grading run, for the tokens/s column."""

    lab: str
    model: str
    completion_tokens: int | None
    duration_s: float | None

    @property
    def tokens_per_s(self) -> float | None:
        """Output tokens per second of wall time, when both are known."""
        if not self.completion_tokens or not self.duration_s:
            return None
        return self.completion_tokens / self.duration_s


@dataclass(frozen=True)
class BackendStatus:
    """What the backend panel shows."""

    available: bool
    model: str
    server: str
    detail: str = ""
    recent_calls: list[RecentCall] = field(default_factory=list)


def _llm_modules() -> tuple[Any, Any]:
    from workbench.llm import config, server  # type: ignore[import-not-found]

    return config, server


def _configured_model() -> str:
    from workbench.core.backend_name import active_model_name

    return active_model_name()


def backend_status(workspace: Workspace | None) -> BackendStatus:
    """Active model, embedded-server state and the model calls of recent grading runs."""
    calls = recent_calls(workspace)
    model = _configured_model()
    try:
        _config, server = _llm_modules()
    except ImportError:
        return BackendStatus(False, model, "unknown", NOT_INSTALLED, calls)
    try:
        current = server.status()  # ServerStatus(state, info, detail); probes over plain HTTP
    except Exception as exc:  # noqa: BLE001 - the panel shows any backend failure as text
        return BackendStatus(True, model, "unknown", f"status failed: {exc}", calls)
    state = str(getattr(current, "state", "unknown"))
    info = getattr(current, "info", None)
    detail = str(getattr(current, "detail", ""))
    if info is not None and getattr(info, "base_url", None):
        detail += f" · {info.base_url}"
    return BackendStatus(True, model, state, detail, calls)


def start_backend() -> str:
    """Start the embedded model server (waits until it answers); returns a line to show."""
    try:
        _config, server = _llm_modules()
    except ImportError:
        return f"cannot start: {NOT_INSTALLED}"
    result = server.up()  # UpResult(info, already_running, startup_s, tokens_per_s, notes)
    speed = getattr(result, "tokens_per_s", None)
    what = "already running" if getattr(result, "already_running", False) else \
        f"started in {getattr(result, 'startup_s', 0.0):.1f} s"
    return f"model server {what}" + (f", {speed:.0f} tokens/s" if speed else "")


def stop_backend() -> str:
    """Stop the embedded model server; returns a line to show."""
    try:
        _config, server = _llm_modules()
    except ImportError:
        return f"cannot stop: {NOT_INSTALLED}"
    result = server.down()  # DownResult(stopped, message)
    return str(getattr(result, "message", "model server stopped"))


def recent_calls(workspace: Workspace | None, limit: int = 10) -> list[RecentCall]:
    """Model calls recorded in the latest result of each lab (newest results first)."""
    if workspace is None:
        return []
    results = [workspace.progress.last_result(lab_id) for lab_id in workspace.progress.lab_summary()]
    calls: list[RecentCall] = []
    for result in sorted((r for r in results if r is not None), key=lambda r: r.started_at, reverse=True):
        for call in result.llm_calls:
            calls.append(_recent_call(result.lab, call))
    return calls[:limit]


def _recent_call(lab: str, call: dict[str, Any]) -> RecentCall:
    usage = call.get("usage") if isinstance(call.get("usage"), dict) else {}
    tokens = call.get("completion_tokens", usage.get("completion_tokens", call.get("output_tokens")))
    duration = call.get("duration_s", call.get("latency_s"))
    if duration is None and call.get("latency_ms") is not None:
        duration = float(call["latency_ms"]) / 1000
    return RecentCall(lab, str(call.get("model", "?")), tokens, duration)


__all__ = ["NOT_INSTALLED", "BackendStatus", "RecentCall", "backend_status", "recent_calls", "start_backend", "stop_backend"]

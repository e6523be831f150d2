"""The backend panel: active model, server status, tokens/s of recent calls; start/stop.

Everything here goes through `backend_adapter` in worker threads: probing or starting a model
server can take seconds and must never freeze the screen.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from workbench.tui.backend_adapter import BackendStatus
from workbench.tui.widgets.nav_bar import NavBar


class BackendScreen(Screen[None]):
    """Shows `backend_adapter.backend_status()`; u / d start and stop the local server."""

    BINDINGS = [
        Binding("u", "up", "Start server"),
        Binding("d", "down", "Stop server"),
        Binding("r", "refresh", "Refresh"),
    ]

    class StatusRead(Message):
        """A status probe finished."""

        def __init__(self, status: BackendStatus) -> None:
            super().__init__()
            self.status = status

    class ActionFinished(Message):
        """Start or stop finished (or failed) with a line to show."""

        def __init__(self, line: str, ok: bool) -> None:
            super().__init__()
            self.line = line
            self.ok = ok

    def __init__(self) -> None:
        super().__init__()
        self.status: BackendStatus | None = None
        """The last status read."""
        self.busy = False
        """A start or stop is in progress."""

    def compose(self) -> ComposeResult:
        yield NavBar("backend")
        yield Static(Text("Reading the backend status…", style="dim"), id="backend-status")
        yield Label("Recent model calls (from your latest graded runs)", classes="pane-title")
        yield DataTable(id="backend-calls", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#backend-calls", DataTable).add_columns("Lab", "Model", "Tokens", "Seconds", "Tokens/s")
        self.query_one(NavBar).workspace_label = self.app.workspace_label
        self.action_refresh()

    def on_screen_resume(self) -> None:
        if self.status is not None:
            self.action_refresh()

    def action_refresh(self) -> None:
        self._probe()

    @work(thread=True, exclusive=True, group="backend-status")
    def _probe(self) -> None:
        from workbench.tui.backend_adapter import backend_status

        self.post_message(self.StatusRead(backend_status(self.app.workspace)))

    def action_up(self) -> None:
        self._run_action("up")

    def action_down(self) -> None:
        self._run_action("down")

    def _run_action(self, which: str) -> None:
        if self.busy:
            self.notify("Busy: wait for the current start/stop to finish.")
            return
        self.busy = True
        verb = "Starting" if which == "up" else "Stopping"
        self.query_one("#backend-status", Static).update(Text(f"{verb} the model server… (the first start can take a while)",
                                                              style="bold cyan"))
        self._backend_action(which)

    @work(thread=True, group="backend-action")
    def _backend_action(self, which: str) -> None:
        from workbench.tui.backend_adapter import start_backend, stop_backend

        try:
            line = start_backend() if which == "up" else stop_backend()
        except Exception as exc:  # noqa: BLE001 - shown to the learner, the panel keeps working
            self.post_message(self.ActionFinished(f"{'start' if which == 'up' else 'stop'} failed: {exc}", False))
            return
        self.post_message(self.ActionFinished(line, not line.startswith("cannot")))

    def on_backend_screen_action_finished(self, message: ActionFinished) -> None:
        self.busy = False
        self.notify(message.line, severity="information" if message.ok else "warning")
        self.action_refresh()

    def on_backend_screen_status_read(self, message: StatusRead) -> None:
        self.status = status = message.status
        text = Text()
        text.append("Model   ", style="bold")
        text.append(f"{status.model}\n")
        text.append("Server  ", style="bold")
        mark = {"running": ("● running", "green"), "stopped": ("○ stopped", "")}.get(status.server, ("? unknown", "yellow"))
        text.append(mark[0], style=mark[1])
        if status.detail:
            text.append(f"  {status.detail}", style="yellow" if not status.available else "dim")
        if not status.available:
            text.append("\nThe LLM backend layer (workbench.llm) is not installed here; labs that need a model "
                        "cannot be graded, the others work.", style="dim")
        self.query_one("#backend-status", Static).update(text)
        table = self.query_one("#backend-calls", DataTable)
        table.clear()
        for call in status.recent_calls:
            rate = call.tokens_per_s
            table.add_row(call.lab, call.model, "-" if call.completion_tokens is None else str(call.completion_tokens),
                          "-" if call.duration_s is None else f"{call.duration_s:.2f}", "-" if rate is None else f"{rate:.1f}")
        if not status.recent_calls:
            table.add_row("-", "no model calls in your recent runs", "", "", "")

"""Live grading results: one row per check, filled in as the grader's events stream in."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

MARKS = {"pass": ("✓", "green"), "fail": ("✗", "red"), "error": ("!", "yellow"),
         "running": ("▶", "cyan"), "pending": ("·", "dim")}
VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "error": "bold yellow"}


def format_metrics(metrics: dict[str, Any]) -> str:
    """'name=value' pairs, floats shortened."""
    return " ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                    for name, value in metrics.items())


class CheckResults(VerticalScroll):
    """The checks of the latest grading run. The lab screen feeds it grader events
    (`apply_event`) or a stored result (`show_result`); it never grades anything itself."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.checks: dict[int, dict[str, Any]] = {}
        """task_id -> what is known of that check so far (status, points, message, ...)."""
        self.run_state = "idle"
        """'idle', 'running' (events arriving) or 'done'."""
        self.runs_seen = 0
        """How many grading runs started while this widget was shown."""
        self.verdict: str | None = None
        """'pass' / 'fail' / 'error' of the run shown, once its result is in."""
        self._summary = Text("No checks run yet. Press c to run them, w to re-grade on every save.", style="dim")

    def compose(self):
        yield Static(id="check-summary")
        yield Static(id="check-rows")

    def on_mount(self) -> None:
        self._redraw()

    # -- input -----------------------------------------------------------------------------

    def apply_event(self, event: dict[str, Any]) -> None:
        """Take one grader event (see workbench.core.results) and show it."""
        from workbench.core.events import (
            CheckFinished,
            CheckStarted,
            Collected,
            CollectError,
            ResultReady,
            Started,
            parse_event,
        )

        typed = parse_event(event)
        if isinstance(typed, Started):
            self.checks, self.run_state, self.verdict = {}, "running", None
            self.runs_seen += 1
            self._summary = Text(f"Grading {typed.lab}…", style="bold cyan")
        elif isinstance(typed, Collected):
            for check in typed.checks:
                self.checks[check["task_id"]] = {"name": check["name"], "skill": check.get("skill", ""),
                                                 "max_points": check.get("points", 1), "status": "pending"}
            self._summary = Text(f"Grading: {len(self.checks)} checks…", style="bold cyan")
        elif isinstance(typed, CheckStarted):
            self.checks.setdefault(typed.task_id, {"name": typed.name})["status"] = "running"
        elif isinstance(typed, CheckFinished):
            self.checks[typed.result.task_id] = {k: v for k, v in event.items() if k != "event"}
            done = sum(1 for c in self.checks.values() if c.get("status") in ("pass", "fail", "error"))
            self._summary = Text(f"Grading: {done}/{len(self.checks)} checks done…", style="bold cyan")
        elif isinstance(typed, CollectError):
            self._summary = Text("The grader could not load your code:\n" + typed.output[-800:], style="yellow")
        elif isinstance(typed, ResultReady):
            self.show_result(typed.result)
            return
        else:
            return
        self._redraw()

    def show_result(self, result: dict[str, Any], note: str = "") -> None:
        """Show a finished result (a GradeResult.to_dict()), live or from the progress store."""
        self.checks = {test["task_id"]: dict(test) for test in result.get("tests", [])}
        self.run_state, self.verdict = "done", result["status"]
        summary = Text()
        summary.append(f" {result['status'].upper()} ", style="reverse " + VERDICT_STYLE.get(result["status"], ""))
        summary.append(f"  {result['points']:g}/{result['max_points']:g} points ({result['score']:.0%}, "
                       f"pass mark {result['pass_mark']:.0%}) in {result['duration_s']:.1f} s")
        if note:
            summary.append(f"  {note}", style="dim")
        if result.get("message"):
            summary.append(f"\n{result['message']}", style="yellow")
        for name in result.get("required_failed", []):
            summary.append(f"\nrequired check failed: {name}", style="red")
        if result.get("sandbox") == "none":
            summary.append("\nsandbox: none (install bubblewrap); this result is marked unsandboxed", style="yellow")
        for warning in result.get("warnings", []):
            summary.append(f"\nwarning: {warning}", style="yellow")
        self._summary = summary
        self._redraw()

    def show_message(self, message: str, style: str = "yellow") -> None:
        """Replace the summary line (e.g. an error that stopped grading)."""
        self.run_state = "done" if self.run_state == "running" else self.run_state
        self._summary = Text(message, style=style)
        self._redraw()

    def clear(self) -> None:
        """Forget the shown run (after a reset)."""
        self.checks, self.run_state, self.verdict = {}, "idle", None
        self._summary = Text("No checks run since the reset. Press c to run them.", style="dim")
        self._redraw()

    # -- output ----------------------------------------------------------------------------

    def row_text(self, task_id: int) -> str:
        """Plain text of one check's row (for tests and screen readers)."""
        check = self.checks[task_id]
        return f"{MARKS.get(check.get('status', 'pending'), ('?', ''))[0]} {check.get('name', '')}"

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#check-summary", Static).update(self._summary)
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1)
        table.add_column(ratio=1, overflow="fold")
        table.add_column(no_wrap=True, justify="right")
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, justify="right")
        for _task_id, check in sorted(self.checks.items()):
            status = check.get("status", "pending")
            mark, colour = MARKS.get(status, ("?", ""))
            max_points = check.get("max_points", 1)
            points = f"{check['points']:g}/{max_points:g}" if "points" in check and status in ("pass", "fail", "error") \
                else f"–/{max_points:g}"
            duration = f"{check['duration_s']:.2f}s" if check.get("duration_s") is not None and status in ("pass", "fail", "error") else ""
            table.add_row(Text(mark, style=colour), Text(check.get("name", "")), points, Text(check.get("skill", ""), style="dim"), duration)
            if check.get("metrics"):
                table.add_row("", Text(format_metrics(check["metrics"]), style="cyan"), "", "", "")
            if status != "pass" and check.get("message"):
                table.add_row("", Text(str(check["message"]), style="red" if status == "fail" else "yellow"), "", "", "")
        self.query_one("#check-rows", Static).update(Group(table) if self.checks else "")

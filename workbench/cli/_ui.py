"""Shared output helpers for the CLI: one console, JSON printing, check-event lines."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_console: Console | None = None
_err_console: Console | None = None

STATUS_MARK = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "error": "[yellow]![/]"}


def console() -> Console:
    """Console for normal output (honours NO_COLOR)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(highlight=False, no_color="NO_COLOR" in os.environ)
    return _console


def err_console() -> Console:
    """Console on stderr for errors and progress."""
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, no_color="NO_COLOR" in os.environ)
    return _err_console


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def format_metrics(metrics: dict[str, Any]) -> str:
    """'name=value' pairs, numbers shortened."""
    parts = []
    for name, value in metrics.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{name}={shown}")
    return " ".join(parts)


def print_check_event(event: dict[str, Any]) -> None:
    """One line per finished check, as events stream in."""
    from rich.markup import escape

    from ..core.events import CheckFinished, Collected, Started, parse_event

    typed = parse_event(event)
    out = console()
    if isinstance(typed, Started):
        out.print(f"[bold]Grading {typed.lab}[/] [dim]{typed.lab_dir}[/]")
    elif isinstance(typed, Collected):
        out.print(f"[dim]{len(typed.checks)} checks[/]")
    elif isinstance(typed, CheckFinished):
        check = typed.result
        mark = STATUS_MARK.get(check.status, "?")
        points = f"{check.points:g}/{check.max_points:g}"
        required = " [bold]required[/]" if check.required else ""
        line = f" {mark} {escape(check.name)}{required} [dim]{points} · {check.skill} · {check.duration_s:.2f}s[/]"
        if check.metrics:
            line += f" [cyan]{escape(format_metrics(check.metrics))}[/]"
        out.print(line)
        if check.status != "pass" and check.message:
            out.print(f"     [red]{escape(str(check.message))}[/]")


def print_result_summary(result: Any) -> None:
    """Closing lines of a grading run."""
    out = console()
    colour = {"pass": "green", "fail": "red", "error": "yellow"}[result.status]
    out.print(
        f"[bold {colour}]{result.status.upper()}[/] {result.lab}: {result.points:g}/{result.max_points:g} points "
        f"({result.score:.0%}, pass mark {result.pass_mark:.0%}) in {result.duration_s:.1f}s"
    )
    if result.message:
        out.print(f"[yellow]{result.message}[/]")
    for check in result.required_failed:
        out.print(f"[red]required check failed:[/] {check.name} [dim](the lab passes only when every required check does)[/]")
    if result.sandbox == "none":
        from ..core.sandbox import why_no_sandbox

        out.print(f"[yellow]sandbox: none[/] [dim]({why_no_sandbox()}); this result is marked unsandboxed[/]")
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")

"""Model backend commands: `workbench backend use|status|up|down` and `workbench doctor`.

Thin: each command calls workbench.llm (imported inside the command, so `workbench --help`
never loads it) and prints the outcome.
"""

from __future__ import annotations

from typing import Optional

import typer

from ._ui import console, err_console, print_json

app = typer.Typer(no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _announce(message: str) -> None:
    err_console().print(f"[dim]{message}[/]")


@app.command()
def use(
    model: str = typer.Argument(..., help="A litellm model string (e.g. ollama/llama3.2, openai/gpt-4o-mini) or 'local'."),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="Server URL for self-hosted backends (Ollama, vLLM)."),  # noqa: UP045
) -> None:
    """Choose the model backend labs and graders use (saved in your user config)."""
    import os

    from ..llm.config import set_model

    path = set_model(model, api_base)
    out = console()
    out.print(f"Backend set to [bold]{model.strip()}[/] (saved in {path})")
    if os.environ.get("WORKBENCH_MODEL"):
        out.print(f"[yellow]note:[/] WORKBENCH_MODEL={os.environ['WORKBENCH_MODEL']} is set and overrides it in this shell")
    out.print("Check it answers: [bold]workbench backend status[/]")


@app.command()
def status(as_json: bool = JSON_OPT) -> None:
    """Which backend is active and whether it answers. Exit 0 when it answers, 1 otherwise."""
    from ..llm.status import backend_status

    report = backend_status()
    if as_json:
        print_json(report)
    else:
        out = console()
        out.print(f"Backend: [bold]{report['model']}[/] [dim](from {report['source']})[/]")
        server = report.get("server")
        if server is not None:
            out.print(f"Embedded server: {server['detail']}")
            if server.get("info"):
                info = server["info"]
                out.print(f"  {info['base_url']} · pid {info['pid']} · n_threads {info['n_threads']} · log {server['log']}")
        mark = "[green]answers[/]" if report["answers"] else "[red]does not answer[/]"
        out.print(f"Status: {mark}" + (f" [dim]({report['latency_ms']:.0f} ms)[/]" if report.get("latency_ms") else ""))
        if report.get("problem"):
            out.print(f"[red]{report['problem']}[/]")
        if report.get("fix"):
            out.print(f"  -> {report['fix']}")
    raise typer.Exit(0 if report["answers"] else 1)


@app.command()
def up(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free one)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="llama.cpp threads (default 1: measured fastest beside other work)."),  # noqa: UP045
    timeout_s: float = typer.Option(120.0, "--timeout", help="Seconds to wait for the server to answer."),
    as_json: bool = JSON_OPT,
) -> None:
    """Start the embedded model server (SmolLM2-135M) and report its port and speed."""
    from ..llm import server

    result = server.up(port=port, n_threads=threads, timeout_s=timeout_s, announce=None if as_json else _announce)
    info = result.info
    if as_json:
        print_json({"already_running": result.already_running, "startup_s": round(result.startup_s, 2),
                    "tokens_per_s": None if result.tokens_per_s is None else round(result.tokens_per_s, 1),
                    "notes": list(result.notes), **info.public()})
        return
    out = console()
    for note in result.notes:
        out.print(f"[yellow]note:[/] {note}")
    verb = "Already running" if result.already_running else f"Started in {result.startup_s:.1f} s"
    speed = f" · {result.tokens_per_s:.1f} tokens/s" if result.tokens_per_s else ""
    out.print(f"{verb}: model [bold]{info.alias}[/] on port [bold]{info.port}[/] ({info.base_url}) · pid {info.pid} · "
              f"n_threads {info.n_threads}{speed}")
    out.print("[dim]Stop it with 'workbench backend down'.[/]")


@app.command()
def down(as_json: bool = JSON_OPT) -> None:
    """Stop the embedded server this workbench started (never another program)."""
    from ..llm import server

    result = server.down()
    if as_json:
        print_json({"stopped": result.stopped, "message": result.message})
    else:
        console().print(result.message)


def doctor(
    as_json: bool = JSON_OPT,
    start: bool = typer.Option(False, "--start", help="Start the embedded server if it is not running, to test it."),
) -> None:
    """Check the model setup: versions, runtime, model files, server health and speed, embeddings."""
    from ..llm.doctor import run_checks

    checks = run_checks(start_server=start)
    if as_json:
        print_json([check.to_dict() for check in checks])
    else:
        from rich.markup import escape

        marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}
        out = console()
        for check in checks:
            out.print(f" {marks[check.status]} {check.name}: {escape(check.detail)}")
            if check.fix and check.status != "ok":
                out.print(f"     -> {escape(check.fix)}")
    raise typer.Exit(1 if any(check.status == "fail" for check in checks) else 0)


def register(root: typer.Typer) -> None:
    """Attach `backend` and `doctor` to the root app."""
    root.add_typer(app, name="backend", help="Model backend: choose it, start/stop the embedded server, check it.")
    root.command("doctor")(doctor)

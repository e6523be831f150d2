"""`workbench tui`: open the terminal UI (what `workbench` alone does)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def tui(
    lab_id: Optional[str] = typer.Argument(None, help="Open this lab's screen directly.", show_default=False),  # noqa: UP045 - Typer needs Optional on 3.10
    workspace: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--workspace", help="Workspace folder (default: the one you are in, else ~/ai-labs if it exists).",
    ),
) -> None:
    """Open the terminal UI: roadmap, labs with live checks and watch mode, skills, backend."""
    from workbench.tui import run_tui  # textual is imported only here, when the TUI really opens

    run_tui(workspace_root=workspace, lab_id=lab_id)


def register(app: typer.Typer) -> None:
    """Attach the `tui` command to the root app."""
    app.command()(tui)

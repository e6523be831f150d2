"""Console-script entry point. A bare `workbench` opens the TUI without loading Typer; any
argument goes to the Typer CLI."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the TUI (no arguments) or the CLI."""
    if len(sys.argv) > 1:
        from .cli import main as cli_main

        cli_main()
        return
    from .core.errors import WorkbenchError

    try:
        from .tui import run_tui

        run_tui()
    except WorkbenchError as exc:
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)

"""The `workbench` command: thin Typer front end over workbench.core."""

from __future__ import annotations

import os
import sys

import typer

from .. import __version__

app = typer.Typer(
    name="workbench",
    help="AI Engineer Workbench: the 2026 AI-engineer roadmap as graded, hands-on labs.",
    no_args_is_help=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"workbench {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Run with no command to open the workbench (the roadmap with your progress)."""
    if debug:
        os.environ["WORKBENCH_DEBUG"] = "1"
    if ctx.invoked_subcommand is None:
        from .learn import open_home

        open_home()


def _register() -> None:
    from . import backend, bundles, dev, learn, tui

    learn.register(app)
    backend.register(app)
    bundles.register(app)
    tui.register(app)
    app.add_typer(dev.app, name="dev", help="Lab authoring tools (verify labs).")


_register()


def main() -> None:
    """Console-script entry point: run the app, turning known errors into clean exits."""
    from ..core.errors import WorkbenchError

    try:
        app()
    except WorkbenchError as exc:
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)

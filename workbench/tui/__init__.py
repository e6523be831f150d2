"""The Textual front end: `workbench` (no command) and `workbench tui` open it.

Kept import-light on purpose: textual is imported only when `run_tui()` runs, so the CLI's
`--help` and every other command stay fast.
"""

from __future__ import annotations

from pathlib import Path


def run_tui(workspace_root: Path | None = None, lab_id: str | None = None) -> None:
    """Open the workbench TUI (the roadmap, or `lab_id`'s screen) and block until it quits."""
    from .startup import RoadmapPrefetch

    prefetch = RoadmapPrefetch.start(workspace_root)  # reads the roadmap while textual loads
    from .app import WorkbenchApp

    try:
        WorkbenchApp(workspace_root=workspace_root, open_lab=lab_id, prefetch=prefetch).run()
    finally:
        prefetch.close()


__all__ = ["run_tui"]

"""How the TUI shows paths: with ~ for the home folder, so they stay short and copyable."""

from __future__ import annotations

from pathlib import Path


def display_path(path: Path | str) -> str:
    """'~/ai-labs/python-async/client.py' for a path under home, else the path as is."""
    path = Path(path)
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)

"""Start-up without textual: which workspace to open, and the first roadmap read in parallel.

Importing the core (pydantic models, curricula, labs) costs about as much as importing
textual. `RoadmapPrefetch` forks a child that finds the workspace and builds
`learner.roadmap()` while the parent imports textual and builds the screen; the parent reads
the JSON back when the roadmap mounts. Where fork is missing, it runs inline. Nothing here is
domain logic: the child only calls the same core functions the roadmap screen calls.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.core.workspace import Workspace

DEFAULT_WORKSPACE = Path("~/ai-labs")


def discover_workspace(root: Path | None = None) -> tuple[Workspace | None, str | None]:
    """(workspace, problem to tell the learner): `root` if given; else the workspace around
    the current folder (or WORKBENCH_WORKSPACE), like the CLI; else ~/ai-labs if it is one."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.workspace import STATE_DIR, find_workspace

    if root is not None:
        try:
            return find_workspace(root), None
        except WorkbenchError as exc:
            return None, str(exc)
    problem = None
    try:
        return find_workspace(), None
    except WorkbenchError as exc:
        if os.environ.get("WORKBENCH_WORKSPACE"):
            problem = str(exc)
    default = DEFAULT_WORKSPACE.expanduser()
    if (default / STATE_DIR / "workspace.toml").is_file():
        return find_workspace(default), problem
    return None, problem


def _first_read(root: Path | None) -> dict[str, Any]:
    """What the roadmap needs to paint: the workspace found, any problem, the roadmap."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.learner import roadmap

    workspace, problem = discover_workspace(root)
    payload: dict[str, Any] = {"workspace_root": str(workspace.root) if workspace else None, "problem": problem}
    try:
        payload["roadmap"] = roadmap(workspace)
    except WorkbenchError:
        payload["roadmap"] = None  # the screen reads it again and shows the error
    return payload


class RoadmapPrefetch:
    """The first roadmap read, running in a forked child from `start()` until `result()`."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._pid: int | None = None
        self._read_fd: int | None = None
        self._result: dict[str, Any] | None = None

    @classmethod
    def start(cls, root: Path | None) -> RoadmapPrefetch:
        """Fork the child now (call before importing textual, while no thread runs)."""
        prefetch = cls(root)
        if not hasattr(os, "fork"):
            return prefetch
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, write JSON, leave without running any cleanup
            try:
                os.close(read_fd)
                view = memoryview(json.dumps(_first_read(root), default=str).encode())
                while view:
                    view = view[os.write(write_fd, view):]
            except BaseException:  # noqa: BLE001 - the parent reads inline instead
                pass
            finally:
                os._exit(0)
        os.close(write_fd)
        prefetch._pid, prefetch._read_fd = pid, read_fd
        return prefetch

    def result(self) -> dict[str, Any]:
        """The child's answer (waiting for it), or the same read done here if it failed."""
        if self._result is not None:
            return self._result
        chunks = []
        if self._read_fd is not None:
            while chunk := os.read(self._read_fd, 1 << 16):
                chunks.append(chunk)
            os.close(self._read_fd)
            os.waitpid(self._pid, 0)
            self._read_fd = None
        try:
            self._result = json.loads(b"".join(chunks)) if chunks else _first_read(self.root)
        except ValueError:
            self._result = _first_read(self.root)
        return self._result

    def close(self) -> None:
        """Drop an unread answer and reap the child (the app ended before the roadmap)."""
        if self._read_fd is not None:
            os.close(self._read_fd)  # a child still writing gets EPIPE and leaves
            self._read_fd = None
            os.waitpid(self._pid, 0)


__all__ = ["DEFAULT_WORKSPACE", "RoadmapPrefetch", "discover_workspace"]

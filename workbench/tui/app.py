"""The workbench TUI application: sections (modes), workspace choice, command palette.

Screens live in screens/, widgets in widgets/, styles in app.tcss. The app holds the one
piece of shared state, the learner's workspace (or None), which screens read when they
reload; every domain action is a call into `workbench.core`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from .startup import DEFAULT_WORKSPACE, RoadmapPrefetch, discover_workspace

if TYPE_CHECKING:
    from workbench.core.workspace import Workspace

__all__ = ["WorkbenchApp", "discover_workspace"]
PAINTED_FILE_ENV = "WORKBENCH_TUI_PAINTED_FILE"
"""Benchmarks set this: the app writes the time of its first painted roadmap there and exits."""


def _warm_imports() -> None:
    """Import what the next actions need while the learner reads the roadmap."""
    import workbench.core.learner  # noqa: F401
    import workbench.core.watch  # noqa: F401
    import workbench.tui.screens.lab  # noqa: F401


def _roadmap_screen() -> Screen:
    from .screens.roadmap import RoadmapScreen

    return RoadmapScreen()


def _skills_screen() -> Screen:
    from .screens.skills import SkillsScreen

    return SkillsScreen()


def _backend_screen() -> Screen:
    from .screens.backend import BackendScreen

    return BackendScreen()


class WorkbenchApp(App[None]):
    """Roadmap (1), Skills (2) and Backend (3) sections; a lab screen opens over the roadmap."""

    TITLE = "AI Engineer Workbench"
    CSS_PATH = "app.tcss"
    MODES = {"roadmap": _roadmap_screen, "skills": _skills_screen, "backend": _backend_screen}
    DEFAULT_MODE = "roadmap"
    BINDINGS = [
        Binding("1", "switch_mode('roadmap')", "Roadmap", show=False),
        Binding("2", "switch_mode('skills')", "Skills", show=False),
        Binding("3", "switch_mode('backend')", "Backend", show=False),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit", show=False),
    ]

    def __init__(self, workspace_root: Path | None = None, open_lab: str | None = None, *,
                 workspace: Workspace | None = None, discover: bool = True,
                 prefetch: RoadmapPrefetch | None = None) -> None:
        """`workspace` given: use it. Else find one (around the current folder, else ~/ai-labs)
        unless `discover` is False; `prefetch` is that search already running (see startup)."""
        super().__init__()
        self._workspace = workspace
        self._workspace_root: Path | None = workspace.root if workspace is not None else None
        if prefetch is None and workspace is None and discover:
            prefetch = RoadmapPrefetch(workspace_root)
        self._prefetch = prefetch
        self._prefetched_roadmap: dict | None = None
        self._startup_problem: str | None = None
        self._open_lab_at_start = open_lab
        self._painted = False

    def _resolve_prefetch(self) -> None:
        if self._prefetch is None:
            return
        found, self._prefetch = self._prefetch.result(), None
        self._workspace_root = Path(found["workspace_root"]) if found["workspace_root"] else None
        self._startup_problem = found["problem"]
        self._prefetched_roadmap = found["roadmap"]

    @property
    def workspace(self) -> Workspace | None:
        """The learner's workspace; None until one is found or created."""
        self._resolve_prefetch()
        if self._workspace is None and self._workspace_root is not None:
            from workbench.core.workspace import Workspace

            self._workspace = Workspace(self._workspace_root)
        return self._workspace

    @workspace.setter
    def workspace(self, workspace: Workspace | None) -> None:
        self._resolve_prefetch()
        self._workspace = workspace
        self._workspace_root = workspace.root if workspace is not None else None

    @property
    def has_workspace(self) -> bool:
        """True when a workspace is in use (without loading the core)."""
        self._resolve_prefetch()
        return self._workspace_root is not None

    def take_prefetched_roadmap(self) -> dict | None:
        """The roadmap read during start-up, once (None afterwards, or if it failed)."""
        self._resolve_prefetch()
        data, self._prefetched_roadmap = self._prefetched_roadmap, None
        return data

    @property
    def curriculum_id(self) -> str:
        """The workspace's curriculum, else the default one."""
        from workbench.core.curriculum import DEFAULT_CURRICULUM

        return self.workspace.settings.curriculum if self.workspace is not None else DEFAULT_CURRICULUM

    @property
    def workspace_label(self) -> str:
        """The workspace folder, with ~ for the home folder ('' without a workspace)."""
        from .paths import display_path

        self._resolve_prefetch()
        return display_path(self._workspace_root) if self._workspace_root is not None else ""

    def on_mount(self) -> None:
        self._resolve_prefetch()
        if self._startup_problem:
            self.notify(self._startup_problem, severity="warning", timeout=10)
        if self._open_lab_at_start:
            self.open_lab(self._open_lab_at_start)

    def roadmap_painted(self) -> None:
        """Called by the roadmap once it has drawn its data (benchmarks time this)."""
        if self._painted:
            return
        self._painted = True
        marker = os.environ.get(PAINTED_FILE_ENV)
        if marker:
            Path(marker).write_text(f"{time.time():.6f}\n")
            self.exit()
            return
        self.run_worker(_warm_imports, thread=True, group="warm-up")

    # -- navigation --------------------------------------------------------------------------

    def open_lab(self, lab_id: str) -> None:
        """Show a lab's screen over the roadmap (closing any other lab screen)."""
        from workbench.core.errors import WorkbenchError
        from workbench.core.labs import get_lab

        from .screens.lab import LabScreen

        try:
            get_lab(lab_id, self.curriculum_id)
        except WorkbenchError as exc:
            self.notify(str(exc), severity="error")
            return
        if self.current_mode != "roadmap":
            self.switch_mode("roadmap")
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(LabScreen(lab_id))

    def action_help(self) -> None:
        """Show every key of the current screen."""
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_create_workspace(self) -> None:
        """Ask where to create a workspace, create it, and reload the current screen."""
        from .screens.dialogs import CreateWorkspaceDialog

        self.push_screen(CreateWorkspaceDialog(), self._create_workspace)

    def _create_workspace(self, folder: Path | None) -> None:
        from workbench.core.errors import WorkbenchError
        from workbench.core.workspace import init_workspace

        if folder is None:
            return
        try:
            workspace, created = init_workspace(folder)
        except (WorkbenchError, OSError) as exc:
            self.notify(f"Could not create a workspace in {folder}: {exc}", severity="error", timeout=10)
            return
        self.workspace = workspace
        where = self.workspace_label
        self.notify(f"{'Created' if created else 'Using'} workspace {where}. Your lab copies and progress live there; "
                    f"CLI commands work inside it.", timeout=10)
        self._reload_screens()

    def _reload_screens(self) -> None:
        for screen in self.screen_stack:
            reload = getattr(screen, "reload", None)
            if reload is not None and screen.is_mounted:
                reload()

    def _backend(self, which: str) -> None:
        self.switch_mode("backend")
        self.call_after_refresh(lambda: getattr(self.screen, f"action_{which}")())

    # -- command palette ---------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette's commands: sections, the current screen's actions, every lab by name."""
        yield SystemCommand("Roadmap", "Phases, topics and labs with your progress (1)", partial(self.switch_mode, "roadmap"))
        yield SystemCommand("Skills", "Your proficiency per skill and what to do next (2)", partial(self.switch_mode, "skills"))
        yield SystemCommand("Backend panel", "Model, server status, tokens/s (3)", partial(self.switch_mode, "backend"))
        yield SystemCommand("Help", "List the keys of this screen (?)", self.action_help)
        if self.workspace is None:
            yield SystemCommand("Create workspace", f"Where your labs and progress live (default {DEFAULT_WORKSPACE})",
                                self.action_create_workspace)
        for title, help_text, callback in getattr(screen, "screen_commands", list)():
            yield SystemCommand(title, help_text, callback)
        yield SystemCommand("Start model server", "Start the local LLM backend", partial(self._backend, "up"))
        yield SystemCommand("Stop model server", "Stop the local LLM backend", partial(self._backend, "down"))
        from workbench.core.errors import WorkbenchError
        from workbench.core.labs import load_labs

        try:
            labs = load_labs(self.curriculum_id)
        except WorkbenchError:
            labs = {}
        for lab in labs.values():
            yield SystemCommand(f"Open lab: {lab.spec.title}", f"{lab.id} · ~{lab.spec.estimated_minutes} min",
                                partial(self.open_lab, lab.id))
        yield from super().get_system_commands(screen)

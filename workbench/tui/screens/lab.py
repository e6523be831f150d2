"""One lab: its brief, the files to edit, live checks, watch mode, hints, reset, solution.

Every action calls one function of `workbench.core` (the same ones the CLI calls). Grading
and watching run in thread workers that only post messages; the handlers update widgets.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Markdown, TabbedContent, TabPane

from workbench.tui.paths import display_path
from workbench.tui.widgets.check_results import CheckResults
from workbench.tui.widgets.lab_header import LabHeader
from workbench.tui.widgets.lab_panels import HintList, SolutionView
from workbench.tui.widgets.nav_bar import NavBar

from .dialogs import ChooseFileDialog, ConfirmDialog

if TYPE_CHECKING:
    from workbench.core.labs import Lab
    from workbench.core.results import GradeResult

_ONE_RUN_AT_A_TIME = threading.Lock()
"""Held while a manual grading run goes on (it may outlive the screen that started it)."""


class LabScreen(Screen[None]):
    """The lab's brief in Markdown, its checks streaming in live, and the learner's actions."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("s", "start", "Start"),
        Binding("c", "check", "Check"),
        Binding("w", "watch", "Watch"),
        Binding("h", "hint", "Hint"),
        Binding("e", "edit", "Edit"),
        Binding("r", "reset", "Reset", show=False),
        Binding("v", "solution", "Solution"),
        Binding("i", "create_workspace", "Create workspace", show=False),
    ]

    class GraderEventReceived(Message):
        """One grader event arrived (from a worker thread)."""

        def __init__(self, event: dict[str, Any]) -> None:
            super().__init__()
            self.event = event

    class Graded(Message):
        """A grading run finished and its result is stored."""

        def __init__(self, result: GradeResult) -> None:
            super().__init__()
            self.result = result

    class GradingFailed(Message):
        """A grading run could not run (the error is for the learner to read)."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class WatchStopped(Message):
        """Watching ended by itself (an error in the watcher)."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, lab_id: str) -> None:
        super().__init__()
        self.lab_id = lab_id
        """The lab shown."""
        self.lab: Lab | None = None
        self.watching = False
        """Watch mode is on."""
        self.grading = False
        """A grading run is in progress."""
        self._watch_stop: threading.Event | None = None

    def compose(self) -> ComposeResult:
        yield NavBar("roadmap")
        yield LabHeader(id="lab-header")
        with TabbedContent(initial="tab-brief", id="lab-tabs"):
            with TabPane("Brief", id="tab-brief"), VerticalScroll(id="brief-scroll"):
                yield Markdown(id="brief")
            with TabPane("Checks", id="tab-checks"):
                yield CheckResults(id="checks")
            with TabPane("Hints", id="tab-hints"):
                yield HintList(id="hints")
            with TabPane("Solution", id="tab-solution"):
                yield SolutionView(id="solution")
        yield Footer()

    def on_mount(self) -> None:
        from workbench.core.labs import get_lab

        self.lab = get_lab(self.lab_id, self.app.curriculum_id)
        self.reload(brief=True)
        workspace = self.app.workspace
        last = workspace.progress.last_result(self.lab_id) if workspace else None
        if last is not None:
            self.query_one(CheckResults).show_result(last.to_dict(), note=f"last run {last.started_at[:16].replace('T', ' ')}")
        if workspace is not None:
            revealed = workspace.progress.hints_revealed(self.lab_id)
            hints = self.lab.spec.hints
            self.query_one(HintList).show([(i, hints[i - 1].text) for i in revealed if 1 <= i <= len(hints)], len(hints))
        self.query_one("#lab-tabs").focus()

    def on_unmount(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()

    def reload(self, brief: bool = False) -> None:
        """Refresh the header (status, score, files) and, when asked, the brief."""
        from workbench.core.curriculum import load_curriculum
        from workbench.core.learner import lab_status

        lab, workspace = self.lab, self.app.workspace
        assert lab is not None
        status = lab_status(workspace, lab.id)
        started = bool(workspace and workspace.is_started(lab.id))
        phase = next((p for p in load_curriculum(self.app.curriculum_id).phases if p.id == lab.spec.phase), None)
        files = [display_path(workspace.lab_dir(lab.id) / name) for name in lab.spec.files] if started else list(lab.spec.files)
        self.query_one(LabHeader).info = {
            "id": lab.id, "title": lab.spec.title, "phase_title": phase.title if phase else lab.spec.phase,
            "month": lab.spec.month, "level": lab.spec.level, "minutes": lab.spec.estimated_minutes,
            **status, "started": started, "has_workspace": workspace is not None, "files": files,
            "hints_revealed": len(workspace.progress.hints_revealed(lab.id)) if workspace else 0,
            "hints_total": len(lab.spec.hints),
        }
        self.query_one(NavBar).workspace_label = self.app.workspace_label
        if brief:
            readme = workspace.lab_dir(lab.id) / "README.md" if started else lab.readme
            if not readme.is_file():
                readme = lab.readme
            self.query_one("#brief", Markdown).update(readme.read_text(encoding="utf-8"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        started = bool(self.app.workspace and self.app.workspace.is_started(self.lab_id))
        if action == "start":
            return not started
        if action in ("reset", "edit"):
            return started
        if action == "create_workspace":
            return self.app.workspace is None
        return True

    # -- actions -----------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_create_workspace(self) -> None:
        self.app.action_create_workspace()

    def _ready(self, what: str) -> bool:
        """True if the lab is started in a workspace; otherwise say what to do."""
        workspace = self.app.workspace
        if workspace is None:
            self.notify(f"Create a workspace first (i), then start the lab (s) to {what}.", severity="warning")
            return False
        if not workspace.is_started(self.lab_id):
            self.notify(f"Start the lab first (s) to {what}.", severity="warning")
            return False
        return True

    def action_start(self) -> None:
        workspace = self.app.workspace
        if workspace is None:
            self.notify("Create a workspace first (i): your copy of the lab goes there.", severity="warning")
            return
        assert self.lab is not None
        folder, created = workspace.start(self.lab)
        self.notify(f"{'Started' if created else 'Already started'}: edit the files in {display_path(folder)}", title=self.lab.spec.title)
        self.reload(brief=True)

    def action_check(self) -> None:
        if not self._ready("run the checks"):
            return
        if self.watching:
            self.notify("Watch mode is on: save a file to re-grade (w turns watching off).")
            return
        if self.grading:
            self.notify("Already grading: results are coming in.")
            return
        self._set_grading(True)
        self.query_one(TabbedContent).active = "tab-checks"
        self._grade()

    @work(thread=True, group="grading")
    def _grade(self) -> None:
        from workbench.core.errors import WorkbenchError
        from workbench.core.learner import check

        assert self.lab is not None
        if not _ONE_RUN_AT_A_TIME.acquire(blocking=False):
            self.post_message(self.GradingFailed("an earlier grading run is still going; try again when it ends"))
            return
        try:
            from workbench.llm.grading import install as install_model_hook

            install_model_hook()
            result = check(self.app.workspace, self.lab, on_event=self._post_event)
        except WorkbenchError as exc:
            self.post_message(self.GradingFailed(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - a crash in grading is shown, never kills the TUI
            self.post_message(self.GradingFailed(f"grading failed: {exc!r}"))
            return
        finally:
            _ONE_RUN_AT_A_TIME.release()
        self.post_message(self.Graded(result))

    def _post_event(self, event: dict[str, Any]) -> None:
        self.post_message(self.GraderEventReceived(event))

    def action_watch(self) -> None:
        if self.watching:
            self._stop_watch()
            self.notify("Watch mode off.")
            return
        if not self._ready("watch it"):
            return
        if self.grading:
            self.notify("Wait for the current run to finish, then turn watch mode on.")
            return
        self._watch_stop = threading.Event()
        self._set_watching(True)
        self.query_one(TabbedContent).active = "tab-checks"
        self.notify("Watch mode on: every save in the lab folder re-grades it.")
        self._watch(self._watch_stop)

    @work(thread=True, group="watch")
    def _watch(self, stop: threading.Event) -> None:
        from workbench.core.watch import watch_lab
        from workbench.llm.grading import install as install_model_hook

        install_model_hook()
        assert self.lab is not None
        try:
            watch_lab(
                self.app.workspace, self.lab, on_event=self._post_event,
                on_result=lambda result: self.post_message(self.Graded(result)),
                on_error=lambda exc: self.post_message(self.GradingFailed(f"{exc} (still watching)")),
                stop=stop, grade_first=True,
            )
        except Exception as exc:  # noqa: BLE001 - watching failed to start; say so, keep the TUI
            self.post_message(self.WatchStopped(f"watch mode stopped: {exc!r}"))

    def _stop_watch(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()
            self._watch_stop = None
        self._set_watching(False)

    def action_hint(self) -> None:
        from workbench.core.learner import next_hint

        workspace = self.app.workspace
        if workspace is None:
            self.notify("Create a workspace first (i): revealed hints are recorded there.", severity="warning")
            return
        assert self.lab is not None
        reveal = next_hint(workspace, self.lab)
        self.query_one(HintList).show(reveal.revealed, reveal.total, reveal.new_index, reveal.for_check)
        self.query_one(TabbedContent).active = "tab-hints"
        if reveal.new_index is None:
            self.notify("All hints are already revealed; v shows the solution.")
        else:
            self.notify(f"Hint {reveal.new_index}/{reveal.total} revealed (recorded).")
        self.reload()

    def action_edit(self) -> None:
        workspace = self.app.workspace
        if not self._ready("edit its files"):
            return
        assert self.lab is not None and workspace is not None
        paths = [str(workspace.lab_dir(self.lab_id) / name) for name in self.lab.spec.files]
        if len(paths) == 1:
            self._open_in_editor(paths[0])
        else:
            self.app.push_screen(ChooseFileDialog(paths), lambda chosen: chosen and self._open_in_editor(chosen))

    def _open_in_editor(self, path: str) -> None:
        from textual.app import SuspendNotSupported

        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify(f"Set $EDITOR to open files from here, or edit {path} in another terminal.", timeout=8)
            return
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(editor), path], check=False)
        except SuspendNotSupported:
            self.notify(f"Cannot hand the terminal to {editor} here; edit {path} in another terminal.")
        except OSError as exc:
            self.notify(f"Could not run {editor}: {exc}", severity="error")

    def action_reset(self) -> None:
        if not self._ready("reset it"):
            return
        question = f"Reset {self.lab_id} to the starter files?\nYour current files are kept in a backup first."
        self.app.push_screen(ConfirmDialog(question, yes_label="Reset"), self._reset_confirmed)

    def _reset_confirmed(self, confirmed: bool | None) -> None:
        if not confirmed:
            return
        assert self.lab is not None
        backup = self.app.workspace.reset(self.lab)
        self.query_one(CheckResults).clear()
        self.reload(brief=True)
        self.notify(f"Reset to the starter. Your previous files are in {display_path(backup)}", timeout=8)

    def action_solution(self) -> None:
        if self.app.workspace is None:
            self.notify("Create a workspace first (i).", severity="warning")
            return
        if self.query_one(LabHeader).info.get("status") == "passed":
            self._show_solution(True)
            return
        question = ("You have not passed this lab yet. Give up and see the reference solution?\n"
                    "This is recorded and halves the lab's skill credit.")
        self.app.push_screen(ConfirmDialog(question, yes_label="Give up"), self._show_solution)

    def _show_solution(self, confirmed: bool | None) -> None:
        if not confirmed:
            return
        assert self.lab is not None
        passed = self.query_one(LabHeader).info.get("status") == "passed"
        folder = self.app.workspace.reveal_solution(self.lab, give_up=not passed)
        self.query_one(SolutionView).show(Path(folder), list(self.lab.spec.files))
        self.query_one(TabbedContent).active = "tab-solution"
        self.reload()

    # -- messages from workers ---------------------------------------------------------------

    def on_lab_screen_grader_event_received(self, message: GraderEventReceived) -> None:
        from workbench.core.events import Started, parse_event

        if isinstance(parse_event(message.event), Started):
            self._set_grading(True)
        self.query_one(CheckResults).apply_event(message.event)

    def on_lab_screen_graded(self, message: Graded) -> None:
        was_passed = self.query_one(LabHeader).info.get("status") == "passed"
        self._set_grading(False)
        self.reload()
        if message.result.passed and not was_passed:
            self.notify("Passed! The reference solution is unlocked (v); your skills moved (2).",
                        title=self.lab_id, timeout=8)

    def on_lab_screen_grading_failed(self, message: GradingFailed) -> None:
        self._set_grading(False)
        self.query_one(CheckResults).show_message(message.error)
        self.notify(message.error, severity="error", timeout=8)

    def on_lab_screen_watch_stopped(self, message: WatchStopped) -> None:
        self._stop_watch()
        self._set_grading(False)
        self.notify(message.error, severity="error", timeout=10)

    def _set_grading(self, grading: bool) -> None:
        self.grading = grading
        self.query_one(LabHeader).grading = grading

    def _set_watching(self, watching: bool) -> None:
        self.watching = watching
        self.query_one(LabHeader).watching = watching
        self.sub_title = "watching" if watching else ""

    def screen_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the command palette while this screen is shown."""
        return [
            ("Run checks", f"Grade {self.lab_id} now (c)", self.action_check),
            ("Toggle watch mode", "Re-grade on every save (w)", self.action_watch),
            ("Reveal next hint", "Recorded; lowers skill credit a little (h)", self.action_hint),
            ("Start lab", "Copy the starter files into your workspace (s)", self.action_start),
            ("Open file in $EDITOR", "Edit the lab's files (e)", self.action_edit),
            ("Reset lab", "Restore the starter; a backup is kept (r)", self.action_reset),
            ("Show solution", "After a pass, or by giving up (v)", self.action_solution),
        ]

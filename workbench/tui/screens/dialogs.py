"""Small modal dialogs: confirm, create a workspace, choose a file."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList

from workbench.tui.paths import display_path

DEFAULT_WORKSPACE = "~/ai-labs"


class ConfirmDialog(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True on yes."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class CreateWorkspaceDialog(ModalScreen[Path | None]):
    """Ask where to create the learner workspace; dismisses with the chosen folder."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Create a workspace: your copies of the labs and your progress live there.\n"
                        f"Folder (created if missing; default {DEFAULT_WORKSPACE}; 'Current folder' is "
                        f"{display_path(Path.cwd())}):", classes="dialog-text")
            yield Input(value=DEFAULT_WORKSPACE, id="workspace-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create", id="create", variant="primary")
                yield Button("Current folder", id="cwd")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._choose(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            self._choose(self.query_one("#workspace-path", Input).value)
        elif event.button.id == "cwd":
            self.dismiss(Path.cwd())
        else:
            self.dismiss(None)

    def _choose(self, value: str) -> None:
        if value.strip():
            self.dismiss(Path(value.strip()).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChooseFileDialog(ModalScreen[str | None]):
    """Pick one of the lab's files; dismisses with its path."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Open which file in $EDITOR?", classes="dialog-text")
            yield OptionList(*self.paths, id="file-choice")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.paths[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)

"""The one-line bar on top of every screen: the sections (1/2/3) and the workspace in use."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

SECTIONS = (("roadmap", "1 Roadmap"), ("skills", "2 Skills"), ("backend", "3 Backend"))


class NavBar(Static):
    """Shows which section is active and where progress is saved."""

    workspace_label: reactive[str] = reactive("", layout=True)
    """Short path of the workspace, or '' when there is none yet."""

    def __init__(self, active: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.active = active

    def render(self) -> Text:
        text = Text(" AI Engineer Workbench ", style="bold")
        for section, label in SECTIONS:
            text.append(" ")
            text.append(f" {label} ", style="reverse bold" if section == self.active else "")
        text.append("  ")
        if self.workspace_label:
            text.append(f"workspace {self.workspace_label}", style="dim")
        else:
            text.append("no workspace (i)", style="bold")
        return text

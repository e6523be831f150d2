"""Top of the lab screen: what the lab is, where the learner stands, what to edit, and
whether watch mode is on."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from .roadmap_tree import STATUS_MARKS


class LabHeader(Static):
    """Renders `info` (set by the lab screen) plus the watch and grading indicators."""

    info: reactive[dict[str, Any]] = reactive(dict, layout=True)
    """Lab facts and the learner's status (see LabScreen._header_info)."""
    watching: reactive[bool] = reactive(False, layout=True)
    """Watch mode is on: every save re-grades."""
    grading: reactive[bool] = reactive(False, layout=True)
    """A grading run is in progress."""

    def render(self) -> Text:
        info = self.info
        if not info:
            return Text("")
        text = Text()
        text.append(info["title"], style="bold")
        text.append(f"  {info['id']} · {info['phase_title']} · month {info['month']} · level {info['level']}"
                    f" · ~{info['minutes']} min", style="dim")
        mark, colour = STATUS_MARKS.get(info["status"], ("?", ""))
        text.append(f"\n{mark} {info['status']}", style=colour)
        if info["best_score"] is not None:
            text.append(f" · best {info['best_score']:.0%}")
        text.append(f" · {info['attempts']} attempt{'s' if info['attempts'] != 1 else ''}"
                    f" · hints {info['hints_revealed']}/{info['hints_total']}")
        if self.watching:
            text.append("  ◉ WATCHING ", style="bold reverse")
        if self.grading:
            text.append("  ⟳ grading…", style="bold cyan")
        elif self.watching:
            text.append(" save to re-grade", style="dim")
        if not info["has_workspace"]:
            text.append("\nNo workspace yet: press i to create one, then s to start this lab.", style="bold")
        elif info["started"]:
            text.append("\nedit: ", style="dim")
            text.append("  ".join(info["files"]))
            text.append("  (e opens $EDITOR)", style="dim")
        else:
            text.append("\nNot started: press s to copy the starter files ", style="bold")
            text.append(f"({', '.join(info['files'])}) into your workspace.", style="dim")
        return text

"""The lab screen's Hints and Solution tabs."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


class HintList(VerticalScroll):
    """The hints revealed so far; the screen sets them with `show`."""

    def compose(self):
        yield Static(Text("No hint revealed yet. Press h for the next one (hints are recorded and "
                          "lower the lab's skill credit a little).", style="dim"), id="hint-text")

    def show(self, revealed: list[tuple[int, str]], total: int, new_index: int | None = None,
             for_check: str | None = None) -> None:
        """Render the revealed hints, marking the new one."""
        if not revealed:
            return
        text = Text()
        for index, hint in revealed:
            text.append(f"Hint {index}/{total}", style="bold")
            if index == new_index:
                text.append("  new", style="bold green")
                if for_check:
                    text.append(f" (for '{for_check}')", style="dim")
            text.append(f"\n{hint}\n\n")
        if len(revealed) >= total:
            text.append("All hints are revealed. v shows the reference solution (after a pass, or by giving up).", style="dim")
        self.query_one("#hint-text", Static).update(text)


class SolutionView(VerticalScroll):
    """The reference solution, once revealed."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shown_files: dict[str, str] = {}
        """File name -> text of the solution files on show."""

    def compose(self):
        yield Static(Text("The reference solution opens after you pass the lab: press v then "
                          "(or to give up, which is recorded and halves the lab's skill credit).", style="dim"),
                     id="solution-text")

    def show(self, folder: Path, files: list[str]) -> None:
        """Render the solution's files from `folder`."""
        from rich.syntax import Syntax

        parts: list = [Text(f"Reference solution (a copy is in {folder})", style="bold")]
        for name in files:
            path = folder / name
            if path.is_file():
                self.shown_files[name] = path.read_text(encoding="utf-8")
                parts.append(Text(f"\n{name}", style="bold"))
                lexer = "python" if name.endswith(".py") else "text"
                parts.append(Syntax(self.shown_files[name], lexer, line_numbers=True, word_wrap=True))
        self.query_one("#solution-text", Static).update(Group(*parts))

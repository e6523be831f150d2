"""The help screen: every key binding of the screen it was opened from, and the app's."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

_INTRO = ("The loop: pick a lab on the roadmap (Enter), start it (s), edit its files in your editor "
          "(e, or another terminal), run the checks (c) or turn on watch mode (w) and save, read a "
          "hint (h) when stuck, then see your skills move (2). ctrl+p searches every command.")


class HelpScreen(ModalScreen[None]):
    """Lists the bindings active on `source` (the screen below) plus the global ones."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def __init__(self, source: Screen) -> None:
        super().__init__()
        self.source = source
        self.rows: list[tuple[str, str]] = []
        """(key, what it does) as listed."""

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Static(Text("Keys", style="bold"), id="help-title")
            with VerticalScroll():
                yield Static(self._table(), id="help-table")
            yield Static(Text("escape closes", style="dim"))

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, style="bold")
        table.add_column()
        seen: set[str] = set()
        for node in (self.source, self.app):
            for binding in Binding.make_bindings(type(node).BINDINGS):
                if not binding.description or binding.description in seen:
                    continue
                seen.add(binding.description)
                available = node.check_action(binding.action, ()) if node is self.source else True
                self.rows.append((self.app.get_key_display(binding),
                                  binding.description + ("" if available else " (not now)")))
        self.rows.append(("ctrl+p", "Command palette: every action, and open any lab by name"))
        for key, description in self.rows:
            table.add_row(key, description)
        table.add_row("", "")
        table.add_row("", Text(_INTRO, style="dim"))
        return table

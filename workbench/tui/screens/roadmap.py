"""The home screen: the roadmap's phases, topics and labs with the learner's progress."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, Tree

from workbench.tui.widgets.nav_bar import NavBar
from workbench.tui.widgets.roadmap_tree import RoadmapTree

BAR_WIDTH = 20


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """'██████░░░░ 60%' (text, so it survives NO_COLOR)."""
    share = done / total if total else 0.0
    filled = round(share * width)
    return "█" * filled + "░" * (width - filled) + f" {share:.0%}"


class RoadmapScreen(Screen[None]):
    """Phases > topics > labs; `/` filters, Enter opens a lab."""

    BINDINGS = [
        Binding("enter", "open_lab", "Open lab"),
        Binding("slash", "search", "Search"),
        Binding("escape", "clear_search", "Clear search", show=False),
        Binding("i", "create_workspace", "Create workspace"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.roadmap_data: dict[str, Any] | None = None
        """The last `learner.roadmap()` shown."""

    def compose(self) -> ComposeResult:
        yield NavBar("roadmap")
        yield Static(id="roadmap-progress")
        yield Input(placeholder="/ search: id, title, topic, tag or status (e.g. 'passed')", id="roadmap-search")
        yield RoadmapTree(id="roadmap-tree")
        yield Static(id="roadmap-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#roadmap-detail", Static).border_title = "○ not started  ◐ in progress  ● passed"
        self.reload()
        tree = self.query_one(RoadmapTree)
        tree.focus()
        self.call_after_refresh(tree.select_next_lab)
        self.call_after_refresh(self.app.roadmap_painted)

    def on_screen_suspend(self) -> None:
        self._left = True

    def on_screen_resume(self) -> None:
        if getattr(self, "_left", False):  # back from another screen: progress may have moved
            self.reload()

    def reload(self) -> None:
        """Read the roadmap and progress again (after grading, starting, creating a workspace)."""
        self.query_one(NavBar).workspace_label = self.app.workspace_label
        data = self.app.take_prefetched_roadmap()
        if data is None:
            from workbench.core.errors import WorkbenchError
            from workbench.core.learner import roadmap

            try:
                data = roadmap(self.app.workspace)
            except WorkbenchError as exc:  # broken lab or curriculum data: say which file, keep running
                self.query_one("#roadmap-progress", Static).update(
                    Text(f"Could not load the roadmap: {exc}", style="bold red"))
                return
        self.roadmap_data = data
        header = Text(f"{data['title']} ", style="bold")
        header.append(f"({data['version']})  ", style="dim")
        header.append(f"{data['labs_passed']}/{data['labs_total']} labs passed  ")
        header.append(progress_bar(data["labs_passed"], data["labs_total"]))
        if not self.app.has_workspace:
            header.append("\nNo workspace yet, so progress is not saved: press i to create one.", style="bold")
        self.query_one("#roadmap-progress", Static).update(header)
        self.query_one(RoadmapTree).set_roadmap(data, self.query_one(Input).value)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "create_workspace":
            return not self.app.has_workspace
        return True

    def action_create_workspace(self) -> None:
        self.app.action_create_workspace()

    # -- search ------------------------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one(Input).focus()

    def action_clear_search(self) -> None:
        search = self.query_one(Input)
        if search.value:
            search.value = ""
        self.query_one(RoadmapTree).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.roadmap_data is not None:
            self.query_one(RoadmapTree).set_roadmap(self.roadmap_data, event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        tree = self.query_one(RoadmapTree)
        tree.focus()
        self.call_after_refresh(tree.select_first_lab)

    # -- opening and details -----------------------------------------------------------------

    def action_open_lab(self) -> None:
        node = self.query_one(RoadmapTree).cursor_node
        if node is not None and node.data and node.data.get("kind") == "lab":
            self.app.open_lab(node.data["id"])

    def on_roadmap_tree_lab_chosen(self, message: RoadmapTree.LabChosen) -> None:
        self.app.open_lab(message.lab_id)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[dict]) -> None:
        self.query_one("#roadmap-detail", Static).update(_describe(event.node.data or {}))


def _describe(data: dict[str, Any]) -> Text:
    kind = data.get("kind")
    text = Text()
    if kind == "lab":
        text.append(f"{data['id']}", style="bold")
        text.append(f" · level {data['level']} · month {data['month']} · ~{data['estimated_minutes']} min · skills ", style="dim")
        text.append(", ".join(f"{skill} ×{weight}" for skill, weight in data["skills"].items()), style="dim")
        score = f", best {data['best_score']:.0%}" if data["best_score"] is not None else ""
        attempts = f", {data['attempts']} attempt{'s' if data['attempts'] != 1 else ''}" if data["attempts"] else ""
        text.append(f"\n{data['status']}{score}{attempts}")
        text.append(" — Enter opens the lab", style="bold")
        extras = [f"needs {', '.join(data['needs'])}"] if data["needs"] else []
        extras += [f"after {', '.join(data['requires'])}"] if data["requires"] else []
        if extras:
            text.append("\n" + " · ".join(extras), style="dim")
    elif kind == "phase":
        text.append(data["title"], style="bold")
        text.append(f"  {data['months_label']}\n", style="dim")
        text.append(data.get("summary") or "")
    elif kind == "topic":
        count = len(data["labs"])
        text.append(data["title"], style="bold")
        text.append(f"\n{count} lab{'s' if count != 1 else ''}" if count else "\nNo lab for this topic yet.", style="dim")
    return text

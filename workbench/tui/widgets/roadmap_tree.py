"""The roadmap as a tree: phases, their topics, and each topic's labs with status and time."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

STATUS_MARKS = {"passed": ("●", "green"), "in progress": ("◐", "yellow"), "not started": ("○", "")}


def lab_label(row: dict[str, Any]) -> Text:
    """'● Title  45 min  passed 100%' for one lab row of the roadmap."""
    mark, colour = STATUS_MARKS.get(row["status"], ("?", ""))
    text = Text()
    text.append(f"{mark} ", style=colour)
    text.append(row["title"], style="bold" if row["status"] != "not started" else "")
    text.append(f"  {row['estimated_minutes']} min", style="dim")
    if row["status"] != "not started":
        score = f" {row['best_score']:.0%}" if row["best_score"] is not None else ""
        text.append(f"  {row['status']}{score}", style=colour)
    return text


def _matches(words: list[str], *haystack: str) -> bool:
    joined = " ".join(haystack).lower()
    return all(word in joined for word in words)


class RoadmapTree(Tree[dict]):
    """Phases > topics > labs. Filtered by `set_roadmap(data, query)`; Enter on a lab posts
    `LabChosen`."""

    class LabChosen(Message):
        """The learner chose a lab to open."""

        def __init__(self, lab_id: str) -> None:
            super().__init__()
            self.lab_id = lab_id

    def __init__(self, **kwargs) -> None:
        super().__init__("roadmap", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self.lab_count = 0
        """How many labs the current filter shows."""

    def set_roadmap(self, data: dict[str, Any], query: str = "") -> None:
        """Rebuild the tree from `learner.roadmap()` output, keeping only what matches `query`."""
        keep_lab = self.cursor_node.data.get("id") if self.cursor_node and self.cursor_node.data else None
        words = query.lower().split()
        self.clear()
        self.lab_count = 0
        cursor_target: TreeNode | None = None
        for phase in data["phases"]:
            topics = [(topic, [row for row in topic["labs"]
                               if _matches(words, row["id"], row["title"], row["status"], topic["title"],
                                           phase["title"], " ".join(row["tags"]))])
                      for topic in phase["topics"]]
            if words:
                topics = [(topic, labs) for topic, labs in topics if labs]
                if not topics:
                    continue
            rows = {row["id"]: row for topic in phase["topics"] for row in topic["labs"]}  # a lab under two topics counts once
            passed = sum(1 for row in rows.values() if row["status"] == "passed")
            total = len(rows)
            label = Text(phase["title"], style="bold")
            label.append(f"  {phase['months_label']}", style="dim")
            label.append(f"  {passed}/{total} labs passed" if total else "  no labs yet", style="dim")
            phase_node = self.root.add(label, data={"kind": "phase", **phase}, expand=True)
            for topic, labs in topics:
                topic_label = Text(topic["title"])
                if not topic["labs"]:
                    topic_label.append("  no lab yet", style="dim italic")
                topic_node = phase_node.add(topic_label, data={"kind": "topic", **topic}, expand=True,
                                            allow_expand=bool(labs))
                for row in labs:
                    home = row["topic"] == topic["id"]  # listed here as well as under its own topic
                    label = lab_label(row) if home else lab_label(row).append("  also under its own topic", style="dim italic")
                    node = topic_node.add_leaf(label, data={"kind": "lab", **row})
                    self.lab_count += 1
                    if (row["id"] == keep_lab and home) or (cursor_target is None and words):
                        cursor_target = node
        if words and self.lab_count == 0:
            self.root.add_leaf(Text(f"no lab matches '{query}'", style="italic"), data={"kind": "none"})
        if cursor_target is not None:
            self.call_after_refresh(self.move_cursor, cursor_target)

    def on_tree_node_selected(self, event: Tree.NodeSelected[dict]) -> None:
        """Enter on a lab opens it; on a phase or topic it folds or unfolds."""
        data = event.node.data or {}
        if data.get("kind") == "lab":
            event.stop()
            self.post_message(self.LabChosen(data["id"]))

    def _lab_nodes(self) -> list[TreeNode[dict]]:
        nodes = []
        stack = list(reversed(self.root.children))
        while stack:
            node = stack.pop()
            if node.data and node.data.get("kind") == "lab":
                nodes.append(node)
            stack.extend(reversed(node.children))
        return nodes

    def select_first_lab(self) -> None:
        """Put the cursor on the first lab shown (e.g. after a search)."""
        nodes = self._lab_nodes()
        if nodes:
            self.move_cursor(nodes[0])

    def select_next_lab(self) -> None:
        """Put the cursor where the learner would go on: a lab in progress, else the first
        one not started, else the first lab."""
        nodes = self._lab_nodes()
        for wanted in ("in progress", "not started"):
            for node in nodes:
                if node.data and node.data["status"] == wanted:
                    self.move_cursor(node)
                    return
        if nodes:
            self.move_cursor(nodes[0])

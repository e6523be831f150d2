"""The skills screen: the twelve categories as a heatmap, the evidence behind each, and the
labs that would raise the weakest Critical skills first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from workbench.core.recommend import weakest_critical_labs
from workbench.tui.widgets.nav_bar import NavBar
from workbench.tui.widgets.skill_table import TIER_STYLE, SkillTable

if TYPE_CHECKING:
    from workbench.core.skills import SkillScore


class SkillsScreen(Screen[None]):
    """Proficiency per category from graded evidence; Enter on a suggested lab opens it."""

    BINDINGS = [Binding("tab", "app.focus_next", "Next pane", show=True)]

    def __init__(self) -> None:
        super().__init__()
        self.scores: dict[str, SkillScore] = {}
        """Category id -> the learner's score, as last read."""
        self.lab_rows: dict[str, dict[str, Any]] = {}
        """Lab id -> its `learner.lab_rows()` row, as last read."""

    def compose(self) -> ComposeResult:
        yield NavBar("skills")
        yield SkillTable(id="skill-table")
        with Horizontal(id="skill-bottom"):
            with VerticalScroll(id="skill-detail-scroll", can_focus=False):
                yield Static(id="skill-detail")
            with Vertical(id="skill-next"):
                yield Label("Next: weakest Critical skills first", classes="pane-title")
                yield OptionList(id="skill-recommendations")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one(SkillTable).focus()

    def on_screen_suspend(self) -> None:
        self._left = True

    def on_screen_resume(self) -> None:
        if getattr(self, "_left", False):  # back from another screen: progress may have moved
            self.reload()

    def reload(self) -> None:
        """Read the skill profile again (it changes after every graded run)."""
        from workbench.core.errors import WorkbenchError
        from workbench.core.learner import lab_rows, skills

        workspace = self.app.workspace
        try:
            scores = skills(workspace)
            self.lab_rows = {row["id"]: row for row in lab_rows(workspace)}
        except WorkbenchError as exc:  # broken lab or curriculum data: say which file, keep running
            self.query_one("#skill-detail", Static).update(Text(f"Could not load the skills: {exc}", style="bold red"))
            return
        self.scores = {score.category.id: score for score in scores}
        self.query_one(NavBar).workspace_label = self.app.workspace_label
        table = self.query_one(SkillTable)
        table.set_scores(scores)
        options = self.query_one("#skill-recommendations", OptionList)
        options.clear_options()
        picks = weakest_critical_labs(scores, list(self.lab_rows.values()))
        for row, score in picks:
            label = Text(row["title"])
            label.append(f"\n  raises {score.category.name} (now {score.proficiency:.0f})", style="dim")
            options.add_option(Option(label, id=row["id"]))
        if picks:
            options.highlighted = 0
        else:
            options.add_option(Option(Text("Every lab for a Critical skill is passed.", style="dim"), disabled=True))
        if table.row_count:
            self._show_detail(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def on_skill_table_skill_highlighted(self, message: SkillTable.SkillHighlighted) -> None:
        self._show_detail(message.skill_id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.app.open_lab(event.option.id)

    def _show_detail(self, skill_id: str | None) -> None:
        score = self.scores.get(skill_id or "")
        if score is None:
            return
        self.query_one("#skill-detail", Static).update(_evidence_text(score, self.lab_rows, self.app.workspace))


def _evidence_text(score: SkillScore, lab_rows: dict[str, dict[str, Any]], workspace: Any) -> Text:
    from workbench.core.skills import LOW_EVIDENCE_POINTS

    category = score.category
    text = Text(category.name, style="bold")
    text.append(f"  {category.tier}", style=TIER_STYLE.get(category.tier, ""))
    text.append(f"  {score.level}" + (f" ({score.proficiency:.1f})" if score.proficiency is not None else ""))
    if score.capped_from:
        text.append(f"  capped from {score.capped_from}: {score.cap_reason}", style="yellow")
    text.append(f"\n{category.indicator}\n", style="dim italic")
    if not score.assessed_by:
        text.append("No lab assesses this skill yet.\n", style="dim")
    else:
        text.append(f"Evidence: {score.attempted_points:g} of {score.offered_points:g} points attempted")
        if score.low_evidence:
            text.append(f" (low evidence: below {LOW_EVIDENCE_POINTS:g})", style="yellow")
        if score.stale:
            text.append(f" (stale: newest {score.last_evidence_at[:10] if score.last_evidence_at else '?'})", style="magenta")
        text.append("\n")
    credits = {credit.lab: credit for credit in score.credits}
    for lab_id in score.assessed_by:
        row = lab_rows.get(lab_id, {"title": lab_id})
        credit = credits.get(lab_id)
        if credit is None:
            text.append(f"○ {row['title']}: not tried yet\n", style="dim")
            continue
        flags = "".join([" · stale" if credit.stale else "", " · older lab version" if credit.older_version else ""])
        text.append(f"● {row['title']}: credit {credit.credit:.0%} on {credit.offered_points:g} pts{flags}\n")
        checks = workspace.progress.best_checks(lab_id) if workspace is not None else {}
        for name, check in sorted(checks.items(), key=lambda item: item[1]["task_id"]):
            if check["skill"] != category.id:
                continue
            mark = "✓" if check["points"] >= check["max_points"] else "✗"
            text.append(f"  {mark} {check['points']:g}/{check['max_points']:g} {name}\n")
    text.append("Competencies: ", style="bold")
    for index, (name, labs) in enumerate(score.competencies):
        text.append(("" if index == 0 else " · ") + ("✓ " if labs else "○ ") + name, style="" if labs else "dim")
    if score.unassessed_competencies:
        text.append(f"\n{len(score.unassessed_competencies)} not assessed by any check yet.", style="dim")
    return text

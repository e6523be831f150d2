"""The skills heatmap: one row per category with its tier and a proficiency bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

if TYPE_CHECKING:
    from workbench.core.skills import SkillScore

BAR_WIDTH = 8
NAME_WIDTH = 25
TIER_STYLE = {"critical": "bold", "high": "yellow", "emerging": "cyan"}
LEVEL_STYLE = {"none": "dim", "beginner": "red", "intermediate": "yellow", "advanced": "green", "expert": "bold green",
               "not assessed": "dim"}


def proficiency_bar(proficiency: float | None, level: str, width: int = BAR_WIDTH) -> Text:
    """'████████░░░░ 41.0' coloured by level; 'not assessed' when no lab covers the skill."""
    if proficiency is None:
        return Text("·" * width + "   n/a", style="dim")
    filled = round(proficiency / 100 * width)
    text = Text("█" * filled, style=LEVEL_STYLE.get(level, ""))
    text.append("░" * (width - filled), style="dim")
    text.append(f" {proficiency:5.1f}")
    return text


def evidence_cell(score: SkillScore) -> Text:
    """'12/37 pts', dim; 'low' and 'stale' flags in colour."""
    if score.proficiency is None:
        return Text("-", style="dim")
    text = Text(f"{score.attempted_points:g}/{score.offered_points:g}", style="dim")
    if score.low_evidence:
        text.append(" low", style="yellow")
    if score.stale:
        text.append(" stale", style="magenta")
    return text


class SkillTable(DataTable):
    """Rows are set from `learner.skills()`; moving the cursor posts `SkillHighlighted`."""

    class SkillHighlighted(Message):
        """The cursor moved to a skill category."""

        def __init__(self, skill_id: str) -> None:
            super().__init__()
            self.skill_id = skill_id

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)

    def on_mount(self) -> None:
        self.add_column("Skill", width=NAME_WIDTH)
        self.add_columns("Tier", "Proficiency", "Level", "Evidence")

    def set_scores(self, scores: list[SkillScore]) -> None:
        """Show one row per category, keeping the cursor where it was."""
        row = self.cursor_row
        self.clear()
        for score in scores:
            category = score.category
            tier = category.tier.upper() if category.tier == "critical" else category.tier
            name = category.name if len(category.name) <= NAME_WIDTH else category.name[: NAME_WIDTH - 1] + "…"
            self.add_row(name, Text(tier, style=TIER_STYLE.get(category.tier, "")),
                         proficiency_bar(score.proficiency, score.level),
                         Text(score.level + ("*" if score.capped_from else ""), style=LEVEL_STYLE.get(score.level, "")),
                         evidence_cell(score), key=category.id)
        if scores:
            self.move_cursor(row=min(row, len(scores) - 1))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.SkillHighlighted(event.row_key.value))

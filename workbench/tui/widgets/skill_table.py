"""The skills heatmap: one row per category with its tier and a proficiency bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

if TYPE_CHECKING:
    from workbench.core.skills import SkillScore

BAR_WIDTH = 12
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
        self.add_columns("Skill", "Tier", "Proficiency", "Level")

    def set_scores(self, scores: list[SkillScore]) -> None:
        """Show one row per category, keeping the cursor where it was."""
        row = self.cursor_row
        self.clear()
        for score in scores:
            category = score.category
            tier = category.tier.upper() if category.tier == "critical" else category.tier
            self.add_row(category.name, Text(tier, style=TIER_STYLE.get(category.tier, "")),
                         proficiency_bar(score.proficiency, score.level),
                         Text(score.level, style=LEVEL_STYLE.get(score.level, "")), key=category.id)
        if scores:
            self.move_cursor(row=min(row, len(scores) - 1))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.SkillHighlighted(event.row_key.value))

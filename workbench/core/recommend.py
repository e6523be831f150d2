"""Which labs to do next: those that raise the learner's weakest Critical skills first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .skills import SkillScore


def weakest_critical_labs(scores: list[SkillScore], lab_rows: list[dict[str, Any]], limit: int = 6
                          ) -> list[tuple[dict[str, Any], SkillScore]]:
    """(lab row, skill it raises) for labs not yet passed that assess a Critical skill, the
    weakest skill first, labs in roadmap order."""
    rows = {row["id"]: row for row in lab_rows}
    critical = sorted((s for s in scores if s.category.tier == "critical" and s.proficiency is not None),
                      key=lambda s: s.proficiency)
    picks: list[tuple[dict[str, Any], SkillScore]] = []
    seen: set[str] = set()
    for score in critical:
        for lab_id in score.assessed_by:
            row = rows.get(lab_id)
            if row is None or row["status"] == "passed" or lab_id in seen:
                continue
            seen.add(lab_id)
            picks.append((row, score))
    return picks[:limit]

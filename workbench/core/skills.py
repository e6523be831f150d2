"""The skills matrix and how evidence (graded checks) becomes per-category proficiency.

Formula (also printed by `workbench skills --explain`):

1. A lab's credit is the share of its points earned, counting for every check the best
   result of any attempt: credit = sum(best points per check) / sum(max points per check).
2. Help costs credit: each revealed hint multiplies it by 0.9 (at most -30% in all), and a
   solution revealed before the lab was passed ("give up") halves it.
3. A category's proficiency is the weighted share of all the evidence the curriculum offers
   for it: 100 * sum(weight * level * credit) / sum(weight * level), over every lab that names
   the category in its [skills], with the lab's skill weight and level (1-4).
4. Levels: 0 none, <35 beginner, <65 intermediate, <90 advanced, >=90 expert. A category no
   lab assesses yet has no proficiency ("not assessed").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import NotFoundError
from .resources import curricula_dir
from .tomlfile import load_model

if TYPE_CHECKING:
    from .labs import Lab

Tier = Literal["critical", "high", "emerging"]
TIER_ORDER: dict[str, int] = {"critical": 0, "high": 1, "emerging": 2}
HINT_FACTOR = 0.9
MIN_HINT_FACTOR = 0.7
GAVE_UP_FACTOR = 0.5
LEVELS: tuple[tuple[float, str], ...] = ((90, "expert"), (65, "advanced"), (35, "intermediate"), (0.5, "beginner"))


class SkillCategory(BaseModel):
    """One row of the readiness matrix."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    competencies: tuple[str, ...] = Field(min_length=1)
    indicator: str
    tier: Tier


class SkillMatrix(BaseModel):
    """The twelve categories with competencies, proficiency indicator and priority tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format_version: Literal[1]
    id: str
    title: str
    version: str
    categories: tuple[SkillCategory, ...] = Field(min_length=1)

    def ids(self) -> list[str]:
        """Category ids in matrix order."""
        return [c.id for c in self.categories]

    def get(self, category_id: str) -> SkillCategory:
        """The category with this id."""
        for category in self.categories:
            if category.id == category_id:
                return category
        raise NotFoundError(f"unknown skill category '{category_id}'", hint=f"known: {', '.join(self.ids())}")


@cache
def load_skill_matrix(matrix_id: str = "skills-2026") -> SkillMatrix:
    """Load a shipped skills matrix by id."""
    path = curricula_dir() / f"{matrix_id}.toml"
    if not path.is_file():
        raise NotFoundError(f"unknown skills matrix '{matrix_id}'", hint=f"expected {path}")
    return load_model(SkillMatrix, path)


@dataclass
class LabEvidence:
    """What a learner has shown in one lab: best points per check, and help used."""

    best_points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    hints_revealed: int = 0
    gave_up: bool = False
    passed: bool = False

    def credit(self) -> float:
        """Share of the lab's points earned, after the cost of hints and giving up (0..1)."""
        total = sum(self.max_points.values())
        if total <= 0:
            return 0.0
        earned = sum(min(self.best_points.get(name, 0.0), cap) for name, cap in self.max_points.items())
        hint_factor = max(MIN_HINT_FACTOR, HINT_FACTOR**self.hints_revealed)
        return earned / total * hint_factor * (GAVE_UP_FACTOR if self.gave_up else 1.0)


@dataclass(frozen=True)
class SkillScore:
    """Proficiency in one category, with the labs behind it."""

    category: SkillCategory
    proficiency: float | None
    level: str
    evidence: tuple[tuple[str, float], ...]
    assessed_by: tuple[str, ...]


def level_for(proficiency: float | None) -> str:
    """Name of the level a proficiency (0-100) falls in."""
    if proficiency is None:
        return "not assessed"
    return next((name for bound, name in LEVELS if proficiency >= bound), "none")


def skill_profile(matrix: SkillMatrix, labs: Mapping[str, Lab], evidence: Mapping[str, LabEvidence]) -> list[SkillScore]:
    """Per-category proficiency from evidence, in matrix order (see the module docstring)."""
    scores = []
    for category in matrix.categories:
        offered = earned = 0.0
        behind: list[tuple[str, float]] = []
        assessed_by = []
        for lab in labs.values():
            weight = lab.spec.skills.get(category.id)
            if not weight:
                continue
            assessed_by.append(lab.id)
            offered += weight * lab.spec.level
            lab_evidence = evidence.get(lab.id)
            if lab_evidence is not None:
                credit = lab_evidence.credit()
                earned += weight * lab.spec.level * credit
                behind.append((lab.id, round(credit, 4)))
        proficiency = round(100 * earned / offered, 1) if offered else None
        scores.append(SkillScore(category, proficiency, level_for(proficiency), tuple(behind), tuple(assessed_by)))
    return scores


__all__ = ["LabEvidence", "SkillCategory", "SkillMatrix", "SkillScore", "level_for", "load_skill_matrix", "skill_profile"]

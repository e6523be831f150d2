"""The skills matrix and how evidence (graded checks) becomes per-category proficiency.

Formula, version 2 (also printed by `workbench skills --explain`):

1. Evidence is per check. Every check names one skill category, and may name one of its
   competencies; its points count toward that category only. A lab's [skills] table is a
   summary of its checks, which `workbench dev verify` cross-checks.
2. Per lab and category, share = sum(best points) / sum(points offered) over the lab's checks
   naming the category, taking each check's best result over the attempts graded by the
   installed grader (recognised by its SHA-256; lab.toml's `version` labels it). Attempts by
   an earlier grader stay in the history; they count (flagged "older version", on their own
   checks' scale) only while the installed grader has graded nothing, and never add to it.
3. Help costs credit for the whole lab: each revealed hint multiplies it by 0.9 (at most -30%
   in all), and a solution revealed before the lab was passed ("give up") halves it.
4. A category's proficiency is 100 * sum(level * offered * share * help) / sum(level * offered)
   over every lab with checks naming the category: offered is the lab's points in it, level
   the lab's level (1-4).
5. Levels: 0 none, <35 beginner, <65 intermediate, <90 advanced, >=90 expert. Expert also needs
   at least {low} attempted points in the category and every competency of the category
   assessed by some lab; short of that the level stays at advanced (shown as capped). A
   category no lab assesses yet has no proficiency ("not assessed").
6. Evidence volume: the points the curriculum offers in a category, and the points the learner
   has attempted (graded checks, passed or not). Fewer than {low} attempted points is
   "low evidence".
7. Recency: evidence whose newest check was graded more than `stale_after_months` ago
   (workspace setting, default 12) is stale and flagged; with `decay_stale = true` a stale
   lab's share counts {decay:.0%}.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .errors import NotFoundError
from .resources import curricula_dir
from .tomlfile import load_model

if TYPE_CHECKING:
    from .checks import Inventory
    from .labs import Lab

Tier = Literal["critical", "high", "emerging"]
TIER_ORDER: dict[str, int] = {"critical": 0, "high": 1, "emerging": 2}
HINT_FACTOR = 0.9
MIN_HINT_FACTOR = 0.7
GAVE_UP_FACTOR = 0.5
LEVELS: tuple[tuple[float, str], ...] = ((90, "expert"), (65, "advanced"), (35, "intermediate"), (0.5, "beginner"))
SCORING_VERSION = 2
LOW_EVIDENCE_POINTS = 10.0
STALE_AFTER_MONTHS = 12
STALE_DECAY = 0.5
__doc__ = (__doc__ or "").format(low=f"{LOW_EVIDENCE_POINTS:g}", decay=STALE_DECAY)


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




# -- evidence -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckEvidence:
    """The learner's best result of one check."""

    name: str
    skill: str
    points: float
    max_points: float
    recorded_at: str | None = None


class CheckLike(Protocol):
    """What scoring reads of a check's best result (CheckEvidence, or a bundle's BundleCheck)."""

    name: str
    skill: str
    points: float
    max_points: float
    recorded_at: str | None


@dataclass
class LabEvidence:
    """What a learner has shown in one lab: the checks of their best attempt, the help used,
    and the lab version the checks were graded under."""

    checks: Mapping[str, CheckLike] = field(default_factory=dict)
    hints_revealed: int = 0
    gave_up: bool = False
    passed: bool = False
    version: int | None = None
    older_version: bool = False
    attempt_id: int | None = None  # the attempt whose checks these are (progress store)
    attempts: int = 0  # attempts by the grader that counts

    @classmethod
    def from_points(cls, best_points: Mapping[str, float], max_points: Mapping[str, float], skill: str = "",
                    **kwargs: object) -> LabEvidence:
        """Evidence from plain points per check name, every check naming `skill`."""
        checks = {name: CheckEvidence(name, skill, best_points.get(name, 0.0), cap) for name, cap in max_points.items()}
        return cls(checks=checks, **kwargs)  # type: ignore[arg-type]

    def help_factor(self) -> float:
        """What hints and giving up leave of the credit (0.35..1)."""
        hint_factor = max(MIN_HINT_FACTOR, HINT_FACTOR**self.hints_revealed)
        return hint_factor * (GAVE_UP_FACTOR if self.gave_up else 1.0)

    def credit(self) -> float:
        """Share of the lab's graded points earned, after the cost of help (0..1)."""
        total = sum(c.max_points for c in self.checks.values())
        if total <= 0:
            return 0.0
        earned = sum(min(c.points, c.max_points) for c in self.checks.values())
        return earned / total * self.help_factor()

    def last_recorded_at(self, skill: str | None = None) -> str | None:
        """When the newest check (naming `skill`, if given) was graded."""
        dates = [c.recorded_at for c in self.checks.values() if c.recorded_at and (skill is None or c.skill == skill)]
        return max(dates) if dates else None


@dataclass(frozen=True)
class RecencyPolicy:
    """When evidence counts as stale, and whether stale evidence loses weight."""

    stale_after_months: int = STALE_AFTER_MONTHS
    decay: bool = False
    now: datetime | None = None

    def cutoff(self) -> datetime:
        """Evidence graded before this moment is stale."""
        now = self.now or datetime.now(timezone.utc)
        return now - timedelta(days=round(self.stale_after_months * 365.25 / 12))

    def is_stale(self, recorded_at: str | None) -> bool:
        """True when a timestamp lies before the cutoff (unknown dates are not stale)."""
        return _is_before(recorded_at, self.cutoff())


def _is_before(recorded_at: str | None, cutoff: datetime) -> bool:
    if not recorded_at:
        return False
    try:
        when = datetime.fromisoformat(recorded_at)
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)) < cutoff


@dataclass(frozen=True)
class LabCredit:
    """One lab's evidence behind one category."""

    lab: str
    credit: float
    attempted_points: float
    offered_points: float
    last_recorded_at: str | None = None
    stale: bool = False
    older_version: bool = False


@dataclass(frozen=True)
class SkillScore:
    """Proficiency in one category, with the evidence behind it and how much there is."""

    category: SkillCategory
    proficiency: float | None
    level: str
    evidence: tuple[tuple[str, float], ...]
    assessed_by: tuple[str, ...]
    credits: tuple[LabCredit, ...] = ()
    offered_points: float = 0.0
    attempted_points: float = 0.0
    earned_points: float = 0.0
    competencies: tuple[tuple[str, tuple[str, ...]], ...] = ()
    capped_from: str | None = None
    cap_reason: str | None = None

    @property
    def low_evidence(self) -> bool:
        """Assessed, but the learner has attempted fewer than LOW_EVIDENCE_POINTS in it."""
        return self.proficiency is not None and self.attempted_points < LOW_EVIDENCE_POINTS

    @property
    def unassessed_competencies(self) -> tuple[str, ...]:
        """Competencies of the category that no check of any lab names."""
        return tuple(name for name, labs in self.competencies if not labs)

    @property
    def stale(self) -> bool:
        """Every lab behind the score is stale (nothing recent in the category)."""
        return bool(self.credits) and all(c.stale for c in self.credits)

    @property
    def stale_labs(self) -> tuple[str, ...]:
        """Labs whose evidence in the category is stale."""
        return tuple(c.lab for c in self.credits if c.stale)

    @property
    def older_version_labs(self) -> tuple[str, ...]:
        """Labs whose evidence was graded under an older lab version."""
        return tuple(c.lab for c in self.credits if c.older_version)

    @property
    def last_evidence_at(self) -> str | None:
        """When the newest evidence in the category was graded."""
        dates = [c.last_recorded_at for c in self.credits if c.last_recorded_at]
        return max(dates) if dates else None


def level_for(proficiency: float | None) -> str:
    """Name of the level a proficiency (0-100) falls in."""
    if proficiency is None:
        return "not assessed"
    return next((name for bound, name in LEVELS if proficiency >= bound), "none")


_Tally = tuple[float, float, float, "str | None"]  # points offered, attempted, earned; newest recorded_at
_NO_TALLY: _Tally = (0.0, 0.0, 0.0, None)


def _tally(evidence: LabEvidence, offer: Inventory | None) -> dict[str, _Tally]:
    """Skill -> tally of one lab's evidence. Under the installed version the grader's declared
    checks are the scale (a check not graded counts 0; one it no longer has counts nothing);
    an older version's checks are their own scale."""
    checks = evidence.checks
    if offer is not None and offer.checks and not evidence.older_version:
        grouped = offer._grouped
    else:
        mine: dict[str, list[tuple[str, float]]] = {}
        for check in checks.values():
            mine.setdefault(check.skill, []).append((check.name, check.max_points))
        grouped = tuple((skill, tuple(entries)) for skill, entries in mine.items())
    tallies: dict[str, _Tally] = {}
    for skill, entries in grouped:
        total = attempted = earned = 0.0
        last: str | None = None
        for name, cap in entries:
            total += cap
            check = checks.get(name)
            if check is None:
                continue
            attempted += cap
            points = check.points
            earned += points if points < cap else cap
            recorded_at = check.recorded_at
            if recorded_at and (last is None or recorded_at > last):
                last = recorded_at
        tallies[skill] = (total, attempted, earned, last)
    return tallies


def offers_for(labs: Mapping[str, Lab]) -> dict[str, Inventory]:
    """Lab id -> the checks its installed grader declares (see workbench.core.checks)."""
    from .checks import lab_inventory

    return {lab_id: lab_inventory(lab) for lab_id, lab in labs.items()}


@dataclass(frozen=True)
class _Plan:
    """What the curriculum offers per category, the same for every learner."""

    rows: dict[str, tuple[tuple[str, int, float], ...]]  # category -> (lab id, level, points offered)
    competencies: dict[str, tuple[tuple[str, tuple[str, ...]], ...]]


_PLANS: list[tuple[SkillMatrix, Mapping[str, Lab], Mapping[str, Inventory], _Plan]] = []


def _plan(matrix: SkillMatrix, labs: Mapping[str, Lab], offers: Mapping[str, Inventory]) -> _Plan:
    """The plan of these exact objects, built once (a team report scores 1,000s of members)."""
    for known_matrix, known_labs, known_offers, plan in _PLANS:
        if known_matrix is matrix and known_labs is labs and known_offers is offers:
            return plan
    rows: dict[str, list[tuple[str, int, float]]] = {}
    for lab in labs.values():
        offer = offers.get(lab.id)
        for skill, points in (offer._points_by_skill.items() if offer is not None else ()):
            if points > 0:
                rows.setdefault(skill, []).append((lab.id, lab.spec.level, points))
    competencies = {
        category.id: tuple((name, tuple(lab_id for lab_id, _, _ in rows.get(category.id, ())
                                        if name in offers[lab_id]._competencies.get(category.id, ())))
                           for name in category.competencies)
        for category in matrix.categories}
    plan = _Plan({skill: tuple(entries) for skill, entries in rows.items()}, competencies)
    _PLANS.insert(0, (matrix, labs, offers, plan))
    del _PLANS[8:]
    return plan


def skill_profile(matrix: SkillMatrix, labs: Mapping[str, Lab], evidence: Mapping[str, LabEvidence],
                  offers: Mapping[str, Inventory] | None = None,
                  recency: RecencyPolicy | None = None) -> list[SkillScore]:
    """Per-category proficiency from evidence, in matrix order (see the module docstring).
    `offers` (lab id -> Inventory) defaults to reading each lab's grader."""
    offers = offers if offers is not None else offers_for(labs)
    plan = _plan(matrix, labs, offers)
    cutoff = (recency or RecencyPolicy()).cutoff()
    decay = bool(recency and recency.decay)
    tallies = {lab_id: _tally(lab_evidence, offers.get(lab_id)) for lab_id, lab_evidence in evidence.items()}
    return [_score(category, plan, evidence, tallies, cutoff, decay) for category in matrix.categories]


def _score(category: SkillCategory, plan: _Plan, evidence: Mapping[str, LabEvidence],
           tallies: dict[str, dict[str, _Tally]], cutoff: datetime, decay: bool) -> SkillScore:
    offered = earned = offered_points = attempted_points = earned_points = 0.0
    credits: list[LabCredit] = []
    rows = plan.rows.get(category.id, ())
    for lab_id, level, points in rows:
        offered += level * points
        offered_points += points
        lab_evidence = evidence.get(lab_id)
        if lab_evidence is None:
            continue
        total, attempted, earned_here, last = tallies[lab_id].get(category.id, _NO_TALLY)
        share = earned_here / total if total > 0 else 0.0
        last = last or lab_evidence.last_recorded_at()
        stale = _is_before(last, cutoff)
        credit = share * lab_evidence.help_factor() * (STALE_DECAY if stale and decay else 1.0)
        earned += level * points * credit
        attempted_points += attempted
        earned_points += earned_here
        credits.append(LabCredit(lab_id, round(credit, 4), attempted, points, last, stale, lab_evidence.older_version))
    proficiency = round(100 * earned / offered, 1) if offered else None
    level_name, capped_from, cap_reason = level_for(proficiency), None, None
    competencies = plan.competencies[category.id]
    if level_name == "expert":
        missing = [name for name, labs_naming in competencies if not labs_naming]
        if attempted_points < LOW_EVIDENCE_POINTS:
            capped_from, cap_reason = level_name, f"low evidence ({attempted_points:g} of {LOW_EVIDENCE_POINTS:g} points)"
        elif missing:
            capped_from, cap_reason = level_name, "not assessed: " + ", ".join(missing)
        if capped_from:
            level_name = "advanced"
    return SkillScore(category, proficiency, level_name, tuple((c.lab, c.credit) for c in credits),
                      tuple(lab_id for lab_id, _, _ in rows), tuple(credits), round(offered_points, 4),
                      round(attempted_points, 4), round(earned_points, 4), competencies, capped_from, cap_reason)


__all__ = [
    "LOW_EVIDENCE_POINTS", "SCORING_VERSION", "CheckEvidence", "LabCredit", "LabEvidence", "RecencyPolicy", "SkillCategory",
    "SkillMatrix", "SkillScore", "level_for", "load_skill_matrix", "offers_for", "skill_profile",
]

"""The team readiness report's model: the JSON contract (docs/report-schema.md) behind the
JSON, HTML and Markdown outputs. Built by workbench.core.team, laid out by workbench.reports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

REPORT_FORMAT_VERSION = 1


class LevelCount(BaseModel):
    """How many members are at one level of a category."""

    level: str
    members: int
    share: float


class CompetencyCoverage(BaseModel):
    """One competency of a category and the labs whose checks name it (none: not assessed yet)."""

    name: str
    assessed_by: list[str]


class CategoryReadiness(BaseModel):
    """The team in one skill category, against the level its tier asks for, with the evidence
    behind the figures."""

    id: str
    name: str
    tier: str
    target_level: str
    assessed_by: list[str]
    status: str
    hidden: bool = False
    levels: list[LevelCount] = []
    members_at_target: int | None = None
    share_at_target: float | None = None
    median_proficiency: float | None = None
    offered_points: float = 0.0
    competencies: list[CompetencyCoverage] = []
    unassessed_competencies: list[str] = []
    median_attempted_points: float | None = None
    members_low_evidence: int | None = None
    members_stale: int | None = None


class Requirement(BaseModel):
    """One category a profile needs, and how many members meet it."""

    category: str
    name: str
    tier: str
    min_level: str
    assessed: bool
    members_meeting: int | None = None
    share: float | None = None


class ProfileReadiness(BaseModel):
    """The team against one role profile (members meeting every assessed requirement)."""

    id: str
    name: str
    summary: str
    verdict: str
    requirements: list[Requirement]
    assessed_requirements: int
    members_ready: int | None = None
    share_ready: float | None = None
    ready_members: list[str] = []


class TierSummary(BaseModel):
    """Categories of one tier by status."""

    tier: str
    categories: int
    assessed: int
    ready: int
    partly_ready: int
    not_ready: int


class HeatCell(BaseModel):
    """One member in one category."""

    category: str
    proficiency: float | None
    level: str
    attempted_points: float | None = None
    low_evidence: bool = False
    stale: bool = False


class HeatRow(BaseModel):
    """One member across the assessed categories."""

    member_id: str
    name: str
    labs_passed: int
    profiles_met: list[str]
    cells: list[HeatCell]


class Heatmap(BaseModel):
    """Members x assessed categories (absent when anonymized)."""

    categories: list[str]
    rows: list[HeatRow]


class CheckRate(BaseModel):
    """How the team does on one check, over the members who attempted it."""

    lab: str
    check: str
    skill: str
    attempted: int | None
    passed: int | None
    pass_rate: float | None
    hidden: bool = False


class LabCompletion(BaseModel):
    """Members who started and passed one lab, and the lab-version mix of their evidence."""

    lab: str
    title: str
    level: int
    started: int | None
    passed: int | None
    completion: float | None
    hidden: bool = False
    version: int = 1
    members_on_older_version: int | None = None


class GapLab(BaseModel):
    """A lab that assesses a gap's category, and how many members below target have not passed it."""

    lab: str
    title: str
    members_not_passed: int


class Gap(BaseModel):
    """A category where members are below the level their tier asks for."""

    category: str
    name: str
    tier: str
    target_level: str
    members_below: int
    share_below: float
    labs: list[GapLab]


class TrendPoint(BaseModel):
    """One export of a member."""

    exported_at: str
    labs_passed: int
    proficiency: dict[str, float | None]


class Trend(BaseModel):
    """A member's exports over time (when there is more than one)."""

    member_id: str
    name: str
    points: list[TrendPoint]
    change: dict[str, float]


class StaleMember(BaseModel):
    """A member whose newest evidence in some categories was graded before the stale cutoff."""

    member_id: str
    name: str
    categories: list[str]
    last_evidence_at: dict[str, str]


class Scoring(BaseModel):
    """How members were scored: the formula version, the evidence volume called low, and when
    evidence counts as stale."""

    version: int
    low_evidence_points: float
    stale_after_months: int
    stale_before: str


class MemberLab(BaseModel):
    """One lab of a member: where its evidence comes from, and both scores when re-graded."""

    lab: str
    evidence: Literal["verified", "self-reported"]
    why: str = ""  # for self-reported: why it was not re-graded
    passed: bool
    score: float | None  # the counted score (re-graded when verified)
    self_reported_score: float | None = None
    self_reported_passed: bool | None = None


class Member(BaseModel):
    """A counted member: their current bundle and how many older ones feed the trends."""

    id: str
    name: str
    key: str
    exported_at: str
    source: str
    older_bundles: int
    bundle_version: int = 1
    new_key: bool = False  # first seen in this run (ledger), not bound by a trusted-keys file
    labs: list[MemberLab] = []


class Mismatch(BaseModel):
    """A check (or the lab's pass) that the bundle reports passed and re-grading did not."""

    member_id: str
    name: str
    lab: str
    check: str
    self_reported: str
    self_reported_points: float | None
    regraded: str
    regraded_points: float | None
    max_points: float | None
    note: str = ""


class CopyFlag(BaseModel):
    """Two submissions of one lab that share most of their code (flagged, never rejected)."""

    lab: str
    member_id: str
    name: str
    other_id: str  # another member's id, or "reference-solution"
    other_name: str
    similarity: float  # the larger of the two shares of code in common (0..1)
    similarity_other: float


class Verification(BaseModel):
    """What re-grading did: how many (member, lab) pairs were re-graded where, and what it found."""

    regraded: bool
    executor: str | None = None
    identity: str = "ledger"  # "trusted-keys" or "ledger"
    pairs: int = 0
    verified: int = 0
    self_reported: int = 0
    from_cache: int = 0
    mismatches: int = 0
    copy_flags: int = 0
    new_keys: int = 0
    sandbox: str | None = None


class RejectedBundle(BaseModel):
    """A file that was not counted, and why."""

    source: str
    reason: str
    label: str
    detail: str
    learner_id: str | None = None


class Summary(BaseModel):
    """How many files were read, counted, kept for trends, rejected."""

    files: int
    members: int
    older_bundles: int
    rejected: int
    rejected_by_reason: dict[str, int]


class TeamReport(BaseModel):
    """The team readiness report: one model behind the JSON, HTML and Markdown outputs."""

    format_version: Literal[1] = REPORT_FORMAT_VERSION
    kind: Literal["workbench-team-report"] = "workbench-team-report"
    title: str
    generated_at: str
    curriculum: dict[str, str]
    skills_matrix: dict[str, str]
    profiles_id: str
    anonymized: bool
    min_group: int
    trusted_keys: bool
    summary: Summary
    scoring: Scoring
    tiers: list[TierSummary]
    categories: list[CategoryReadiness]
    profiles: list[ProfileReadiness]
    heatmap: Heatmap | None
    checks: list[CheckRate]
    labs: list[LabCompletion]
    gaps: list[Gap]
    trends: list[Trend]
    staleness: list[StaleMember]
    members: list[Member]
    rejected: list[RejectedBundle]
    verification: Verification = Verification(regraded=False)
    mismatches: list[Mismatch] = []
    copy_flags: list[CopyFlag] = []



__all__ = [name for name in dir() if name[0].isupper() and name not in ("BaseModel", "Literal")]

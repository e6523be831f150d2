"""Team readiness: verified result bundles rolled up against the skills matrix and role profiles.

`team_report(paths, ...)` reads bundles (files or folders), verifies each (workbench.core.bundle),
decides which count, and returns one TeamReport model; the JSON output is that model, and the
HTML and Markdown renderers (workbench.reports) only lay it out.

Which bundles count (the duplicate rule):
1. A file that fails verification never counts; it is listed with its reason.
2. The same bundle twice (same signed content): the first in path order counts, the others are
   rejected as 'duplicate bundle'.
3. A learner id names one workspace. It belongs to the key of its earliest export (trust on first
   use; with --trusted-keys, only listed keys get that far). A bundle claiming that learner id
   with another key is rejected as 'duplicate learner' (impersonation, or a copied workspace).
4. Of one learner's bundles under their key, the newest export is current and counts; older ones
   only feed the trends.

Every member is scored again from their verified checks with the installed curriculum, so the
whole team is measured by one formula (see workbench.core.skills): per check and its skill, with
the evidence volume behind each figure ("low evidence"), how recent it is (stale after
`stale_after_months`, counted from the report's date), and the competencies of the matrix that
no lab's checks assess yet.

Privacy: with `anonymize`, no member is named (no heatmap, trends, member list or rejected file
names) and every figure computed over fewer than `min_group` members is hidden.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .bundle import (
    REASONS,
    InstalledState,
    Rejection,
    VerifiedBundle,
    installed_state,
    load_trusted_keys,
    verify_file,
)
from .curriculum import DEFAULT_CURRICULUM, load_curriculum
from .errors import DataError, NotFoundError, line_of_key
from .resources import curricula_dir
from .skills import (
    LOW_EVIDENCE_POINTS,
    SCORING_VERSION,
    STALE_AFTER_MONTHS,
    TIER_ORDER,
    RecencyPolicy,
    SkillScore,
    Tier,
)
from .tomlfile import read_toml, validate

DEFAULT_PROFILES = "profiles-2026"
REPORT_FORMAT_VERSION = 1
Level = Literal["beginner", "intermediate", "advanced", "expert"]
LEVEL_NAMES = ("none", "beginner", "intermediate", "advanced", "expert")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVEL_NAMES)}


# -- role profiles (curricula/profiles-2026.toml) ------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleProfile(_Strict):
    """A role-like profile: the categories it needs and the minimum level in each."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1)
    summary: str = ""
    requires: dict[str, Level] = Field(min_length=1)


class ProfileSet(_Strict):
    """Role profiles, the level each tier asks of every member, and the readiness thresholds."""

    format_version: Literal[1]
    id: str
    title: str
    skills: str
    ready_share: float = Field(gt=0, le=1)
    partial_share: float = Field(gt=0, le=1)
    tier_targets: dict[Tier, Level]
    profiles: tuple[RoleProfile, ...] = Field(min_length=1)


@cache
def load_profiles(profiles_id: str = DEFAULT_PROFILES) -> ProfileSet:
    """Load and validate a shipped profile file against its skills matrix."""
    from .skills import load_skill_matrix

    path = curricula_dir() / f"{profiles_id}.toml"
    if not path.is_file():
        raise NotFoundError(f"unknown profile set '{profiles_id}'", hint=f"expected {path}")
    data, text = read_toml(path)
    profiles = validate(ProfileSet, data, path, text)
    known = load_skill_matrix(profiles.skills).ids()
    for tier in ("critical", "high", "emerging"):
        if tier not in profiles.tier_targets:
            raise DataError(path, f"no target level for tier '{tier}'", key="tier_targets", line=line_of_key(text, "tier_targets"))
    for profile in profiles.profiles:
        for category in profile.requires:
            if category not in known:
                raise DataError(path, f"profile '{profile.id}' requires unknown category '{category}'",
                                key=f"profiles.requires.{category}", line=line_of_key(text, category),
                                hint=f"known: {', '.join(known)}")
    if profiles.partial_share > profiles.ready_share:
        raise DataError(path, "partial_share must not exceed ready_share", key="partial_share",
                        line=line_of_key(text, "partial_share"))
    return profiles


# -- the report model (its JSON form is documented in docs/report-schema.md) ---------------------

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


class Member(BaseModel):
    """A counted member: their current bundle and how many older ones feed the trends."""

    id: str
    name: str
    key: str
    exported_at: str
    source: str
    older_bundles: int


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


# -- reading bundles ------------------------------------------------------------------------------

def collect_bundle_files(paths: Sequence[Path], exclude: Path | None = None) -> list[tuple[Path, str]]:
    """(file, name as shown) for every file given and every *.json under every folder given."""
    found: list[tuple[Path, str]] = []
    seen: set[tuple[int, int]] = set()
    if exclude is not None and exclude.is_file():
        seen.add(_identity(exclude))
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.json") if p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise NotFoundError(f"{path} does not exist", hint="give bundle files or folders holding them")
        for file in files:
            identity = _identity(file)
            if identity not in seen:
                seen.add(identity)
                found.append((file, str(file)))
    return found


def _identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino


def select_bundles(results: Sequence[VerifiedBundle | Rejection]) -> tuple[list[VerifiedBundle], dict[str, list[VerifiedBundle]], list[Rejection]]:
    """Apply the duplicate rule: (current bundle per learner, older bundles per learner, rejections)."""
    rejected = [r for r in results if isinstance(r, Rejection)]
    first_source: dict[str, str] = {}
    by_learner: dict[str, list[VerifiedBundle]] = defaultdict(list)
    for bundle in (r for r in results if isinstance(r, VerifiedBundle)):
        if bundle.sha256 in first_source:
            rejected.append(Rejection(bundle.source, "duplicate-bundle", f"the same bundle as {first_source[bundle.sha256]}",
                                      bundle.learner_id))
            continue
        first_source[bundle.sha256] = bundle.source
        by_learner[bundle.learner_id].append(bundle)
    current: list[VerifiedBundle] = []
    older: dict[str, list[VerifiedBundle]] = {}
    for learner_id, bundles in by_learner.items():
        bundles.sort(key=lambda b: (b.payload.exported_at, b.source))
        owner = bundles[0]
        mine = [b for b in bundles if b.payload.learner.public_key == owner.payload.learner.public_key]
        for bundle in bundles:
            if bundle.payload.learner.public_key != owner.payload.learner.public_key:
                rejected.append(Rejection(
                    bundle.source, "duplicate-learner",
                    f"this learner id was first exported with key {owner.fingerprint} ({owner.payload.exported_at:%Y-%m-%d});"
                    f" this bundle is signed with key {bundle.fingerprint}", learner_id))
        current.append(mine[-1])
        if len(mine) > 1:
            older[learner_id] = mine[:-1]
    current.sort(key=lambda b: (b.payload.learner.name.casefold(), b.learner_id))
    rejected.sort(key=lambda r: r.source)
    return current, older, rejected


# -- aggregation ----------------------------------------------------------------------------------

def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _status(share: float | None, profiles: ProfileSet) -> str:
    if share is None:
        return "no members"
    if share >= profiles.ready_share - 1e-9:
        return "ready"
    return "partly ready" if share >= profiles.partial_share - 1e-9 else "not ready"


def _levels(bundle: VerifiedBundle) -> dict[str, tuple[float | None, str]]:
    return {s.id: (s.proficiency, s.level) for s in bundle.profile}


def _labs_passed(bundle: VerifiedBundle) -> int:
    return sum(1 for lab in bundle.payload.labs if lab.passed)


def _scores(bundle: VerifiedBundle, state: InstalledState) -> dict[str, SkillScore]:
    from .bundle import derive_scores

    scores = bundle.scores or tuple(derive_scores(bundle.payload.labs, state))
    return {score.category.id: score for score in scores}


def _categories(state: InstalledState, profiles: ProfileSet, levels: list[dict[str, tuple[float | None, str]]],
                details: list[dict[str, SkillScore]], stale: list[set[str]], hide: bool) -> list[CategoryReadiness]:
    rows = []
    members = len(levels)
    coverage = {score.category.id: score for score in _coverage(state)}
    for category in sorted(state.matrix.categories, key=lambda c: TIER_ORDER[c.tier]):
        target = profiles.tier_targets[category.tier]
        offer = coverage[category.id]
        row = CategoryReadiness(
            id=category.id, name=category.name, tier=category.tier, target_level=target, assessed_by=list(offer.assessed_by),
            status="not assessed", offered_points=offer.offered_points,
            competencies=[CompetencyCoverage(name=name, assessed_by=list(labs)) for name, labs in offer.competencies],
            unassessed_competencies=list(offer.unassessed_competencies))
        if offer.assessed_by:
            if hide:
                row.status, row.hidden = "hidden", True
            else:
                counts = Counter(member[category.id][1] for member in levels)
                at_target = sum(n for level, n in counts.items() if LEVEL_RANK.get(level, -1) >= LEVEL_RANK[target])
                values = [v for member in levels if (v := member[category.id][0]) is not None]
                row.levels = [LevelCount(level=name, members=counts.get(name, 0), share=_share(counts.get(name, 0), members) or 0.0)
                              for name in LEVEL_NAMES]
                row.members_at_target, row.share_at_target = at_target, _share(at_target, members)
                row.median_proficiency = round(statistics.median(values), 1) if values else None
                attempted = [detail[category.id].attempted_points for detail in details]
                row.median_attempted_points = round(statistics.median(attempted), 1) if attempted else None
                row.members_low_evidence = sum(1 for detail in details if detail[category.id].low_evidence)
                row.members_stale = sum(1 for member_stale in stale if category.id in member_stale)
                row.status = _status(row.share_at_target, profiles)
        rows.append(row)
    return rows


def _coverage(state: InstalledState) -> tuple[SkillScore, ...]:
    """Per category with no evidence: what the curriculum offers (labs, points, competencies)."""
    from .skills import skill_profile

    return tuple(skill_profile(state.matrix, state.labs, {}, state.offers))


def _stale_categories(details: dict[str, SkillScore], recency: RecencyPolicy) -> set[str]:
    """Categories whose newest evidence (every lab behind them) was graded before the cutoff."""
    return {cid for cid, score in details.items()
            if score.credits and all(recency.is_stale(credit.last_recorded_at) for credit in score.credits)}


def _tiers(categories: list[CategoryReadiness]) -> list[TierSummary]:
    summaries = []
    for tier in ("critical", "high", "emerging"):
        mine = [c for c in categories if c.tier == tier]
        summaries.append(TierSummary(
            tier=tier, categories=len(mine), assessed=sum(1 for c in mine if c.status != "not assessed"),
            ready=sum(1 for c in mine if c.status == "ready"), partly_ready=sum(1 for c in mine if c.status == "partly ready"),
            not_ready=sum(1 for c in mine if c.status == "not ready")))
    return summaries


def _meets(member: dict[str, tuple[float | None, str]], category: str, min_level: str) -> bool:
    return LEVEL_RANK.get(member[category][1], -1) >= LEVEL_RANK[min_level]


def _profiles(state: InstalledState, profiles: ProfileSet, current: list[VerifiedBundle],
              levels: list[dict[str, tuple[float | None, str]]], hide: bool, anonymize: bool) -> list[ProfileReadiness]:
    assessed_ids = {c for offer in state.offers.values() for c in offer.points_by_skill()}
    rows = []
    for profile in profiles.profiles:
        requirements = []
        for category_id, min_level in profile.requires.items():
            category = state.matrix.get(category_id)
            requirement = Requirement(category=category_id, name=category.name, tier=category.tier, min_level=min_level,
                                      assessed=category_id in assessed_ids)
            if requirement.assessed and not hide:
                requirement.members_meeting = sum(1 for member in levels if _meets(member, category_id, min_level))
                requirement.share = _share(requirement.members_meeting, len(levels))
            requirements.append(requirement)
        assessed = [r for r in requirements if r.assessed]
        row = ProfileReadiness(id=profile.id, name=profile.name, summary=profile.summary, verdict="not assessed",
                               requirements=requirements, assessed_requirements=len(assessed))
        if assessed and hide:
            row.verdict = "hidden"
        elif assessed:
            ready = [b for b, member in zip(current, levels, strict=True) if all(_meets(member, r.category, r.min_level) for r in assessed)]
            row.members_ready, row.share_ready = len(ready), _share(len(ready), len(levels))
            row.verdict = _status(row.share_ready, profiles)
            row.ready_members = [] if anonymize else [b.payload.learner.name for b in ready]
        rows.append(row)
    return rows


def _heatmap(current: list[VerifiedBundle], levels: list[dict[str, tuple[float | None, str]]],
             details: list[dict[str, SkillScore]], stale: list[set[str]],
             categories: list[CategoryReadiness], profile_rows: list[ProfileReadiness]) -> Heatmap:
    shown = [c.id for c in categories if c.status != "not assessed"]
    scored = [p for p in profile_rows if p.members_ready is not None]
    rows = []
    for bundle, member, detail, member_stale in zip(current, levels, details, stale, strict=True):
        rows.append(HeatRow.model_construct(  # built from verified data: no need to validate 1,000s of cells again
            member_id=bundle.learner_id, name=bundle.payload.learner.name, labs_passed=_labs_passed(bundle),
            profiles_met=[p.id for p in scored if all(_meets(member, r.category, r.min_level) for r in p.requirements if r.assessed)],
            cells=[HeatCell.model_construct(category=cid, proficiency=member[cid][0], level=member[cid][1],
                                            attempted_points=detail[cid].attempted_points, low_evidence=detail[cid].low_evidence,
                                            stale=cid in member_stale) for cid in shown]))
    return Heatmap(categories=shown, rows=rows)


def _staleness(current: list[VerifiedBundle], details: list[dict[str, SkillScore]], stale: list[set[str]],
               order: list[str]) -> list[StaleMember]:
    rows = []
    for bundle, detail, member_stale in zip(current, details, stale, strict=True):
        if member_stale:
            categories = [cid for cid in order if cid in member_stale]
            rows.append(StaleMember(member_id=bundle.learner_id, name=bundle.payload.learner.name, categories=categories,
                                    last_evidence_at={cid: detail[cid].last_evidence_at or "" for cid in categories}))
    return rows


def _checks(state: InstalledState, current: list[VerifiedBundle], anonymize: bool, min_group: int) -> list[CheckRate]:
    attempted: Counter[tuple[str, str]] = Counter()
    passed: Counter[tuple[str, str]] = Counter()
    meta: dict[tuple[str, str], tuple[int, str]] = {}
    for bundle in current:
        for lab in bundle.payload.labs:
            for check in lab.checks:
                key = (lab.id, check.name)
                attempted[key] += 1
                passed[key] += check.status == "pass"
                meta.setdefault(key, (check.task_id, check.skill))
    order = {lab_id: index for index, lab_id in enumerate(state.labs)}
    rows = []
    for key in attempted:
        hidden = anonymize and attempted[key] < min_group
        rows.append(CheckRate(lab=key[0], check=key[1], skill=meta[key][1], attempted=None if hidden else attempted[key],
                              passed=None if hidden else passed[key],
                              pass_rate=None if hidden else _share(passed[key], attempted[key]), hidden=hidden))
    rows.sort(key=lambda r: (r.hidden, r.pass_rate if r.pass_rate is not None else 2.0, -(r.attempted or 0),
                             order.get(r.lab, len(order)), meta[(r.lab, r.check)][0]))
    return rows


def _labs(state: InstalledState, current: list[VerifiedBundle], hide: bool) -> list[LabCompletion]:
    rows = []
    for lab in state.labs.values():
        entries = [entry for b in current for entry in b.payload.labs if entry.id == lab.id]
        started = sum(1 for e in entries if e.attempts or e.started_at)
        passed = sum(1 for e in entries if e.passed)
        older = sum(1 for e in entries if e.older_version_attempts and not e.attempts)
        rows.append(LabCompletion(lab=lab.id, title=lab.spec.title, level=lab.spec.level, started=None if hide else started,
                                  passed=None if hide else passed, completion=None if hide else _share(passed, len(current)),
                                  hidden=hide, version=lab.spec.version, members_on_older_version=None if hide else older))
    return rows


def _gaps(state: InstalledState, categories: list[CategoryReadiness], current: list[VerifiedBundle],
          levels: list[dict[str, tuple[float | None, str]]], hide: bool) -> list[Gap]:
    if hide or not current:
        return []
    order = {lab_id: index for index, lab_id in enumerate(state.labs)}
    gaps = []
    for category in categories:
        if category.status == "not assessed":
            continue
        below = [b for b, member in zip(current, levels, strict=True) if not _meets(member, category.id, category.target_level)]
        if not below:
            continue
        labs = []
        for lab_id in category.assessed_by:
            missing = sum(1 for b in below if not any(e.id == lab_id and e.passed for e in b.payload.labs))
            if missing:
                labs.append(GapLab(lab=lab_id, title=state.labs[lab_id].spec.title, members_not_passed=missing))
        labs.sort(key=lambda g: (-g.members_not_passed, state.labs[g.lab].spec.level, order[g.lab]))
        gaps.append(Gap(category=category.id, name=category.name, tier=category.tier, target_level=category.target_level,
                        members_below=len(below), share_below=_share(len(below), len(current)) or 0.0, labs=labs))
    matrix_order = {cid: index for index, cid in enumerate(state.matrix.ids())}
    gaps.sort(key=lambda g: (TIER_ORDER[g.tier], -g.members_below, matrix_order[g.category]))
    return gaps


def _trends(current: list[VerifiedBundle], older: dict[str, list[VerifiedBundle]], shown: list[str]) -> list[Trend]:
    trends = []
    for bundle in current:
        history = [*older.get(bundle.learner_id, []), bundle]
        if len(history) < 2:
            continue
        points = [TrendPoint(exported_at=b.payload.exported_at.isoformat(), labs_passed=_labs_passed(b),
                             proficiency={cid: _levels(b)[cid][0] for cid in shown}) for b in history]
        first, last = points[0].proficiency, points[-1].proficiency
        change = {cid: round((last[cid] or 0.0) - (first[cid] or 0.0), 1) for cid in shown}
        trends.append(Trend(member_id=bundle.learner_id, name=bundle.payload.learner.name, points=points, change=change))
    return trends


def build_report(results: Sequence[VerifiedBundle | Rejection], state: InstalledState, *, files: int,
                 anonymize: bool = False, min_group: int = 5, trusted_keys: bool = False, title: str | None = None,
                 generated_at: str | None = None, profiles_id: str = DEFAULT_PROFILES,
                 stale_after_months: int = STALE_AFTER_MONTHS) -> TeamReport:
    """Aggregate verification results into the report model."""
    profiles = load_profiles(profiles_id)
    current, older, rejected = select_bundles(results)
    generated_at = generated_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    recency = RecencyPolicy(stale_after_months, now=datetime.fromisoformat(generated_at))
    levels = [_levels(b) for b in current]
    details = [_scores(b, state) for b in current]
    stale = [_stale_categories(detail, recency) for detail in details]
    hide = anonymize and len(current) < min_group
    categories = _categories(state, profiles, levels, details, stale, hide)
    profile_rows = _profiles(state, profiles, current, levels, hide, anonymize)
    shown = [c.id for c in categories if c.status != "not assessed"]
    curriculum = load_curriculum(state.curriculum_id)
    return TeamReport(
        title=title or f"Team readiness — {curriculum.title}",
        generated_at=generated_at,
        curriculum={"id": curriculum.id, "title": curriculum.title, "version": curriculum.version},
        skills_matrix={"id": state.matrix.id, "title": state.matrix.title, "version": state.matrix.version},
        profiles_id=profiles.id, anonymized=anonymize, min_group=min_group, trusted_keys=trusted_keys,
        summary=Summary(files=files, members=len(current), older_bundles=sum(len(v) for v in older.values()),
                        rejected=len(rejected), rejected_by_reason=dict(sorted(Counter(r.reason for r in rejected).items()))),
        scoring=Scoring(version=SCORING_VERSION, low_evidence_points=LOW_EVIDENCE_POINTS,
                        stale_after_months=stale_after_months, stale_before=recency.cutoff().isoformat(timespec="seconds")),
        tiers=_tiers(categories), categories=categories, profiles=profile_rows,
        heatmap=None if anonymize else _heatmap(current, levels, details, stale, categories, profile_rows),
        checks=_checks(state, current, anonymize, min_group), labs=_labs(state, current, hide),
        gaps=_gaps(state, categories, current, levels, hide),
        trends=[] if anonymize else _trends(current, older, shown),
        staleness=[] if anonymize else _staleness(current, details, stale, shown),
        members=[] if anonymize else [
            Member(id=b.learner_id, name=b.payload.learner.name, key=b.fingerprint, exported_at=b.payload.exported_at.isoformat(),
                   source=b.source, older_bundles=len(older.get(b.learner_id, []))) for b in current],
        rejected=[] if anonymize else [RejectedBundle(source=r.source, reason=r.reason, label=REASONS.get(r.reason, r.reason),
                                                      detail=r.detail, learner_id=r.learner_id) for r in rejected],
    )


def team_report(paths: Sequence[Path], *, curriculum_id: str = DEFAULT_CURRICULUM, trusted_keys: Path | None = None,
                anonymize: bool = False, min_group: int = 5, title: str | None = None, generated_at: str | None = None,
                exclude: Path | None = None, profiles_id: str = DEFAULT_PROFILES,
                stale_after_months: int = STALE_AFTER_MONTHS) -> TeamReport:
    """Read, verify and aggregate bundles from files and folders into a TeamReport."""
    files = collect_bundle_files(paths, exclude)
    if not files:
        raise NotFoundError(f"no bundle files (*.json) in {', '.join(str(p) for p in paths)}",
                            hint="learners create them with 'workbench export'")
    state = installed_state(curriculum_id)
    trusted = load_trusted_keys(trusted_keys) if trusted_keys else None
    results = [verify_file(path, state, trusted, source) for path, source in files]
    return build_report(results, state, files=len(files), anonymize=anonymize, min_group=min_group,
                        trusted_keys=trusted is not None, title=title, generated_at=generated_at, profiles_id=profiles_id,
                        stale_after_months=stale_after_months)


__all__ = [
    "DEFAULT_PROFILES", "LEVEL_NAMES", "ProfileSet", "RoleProfile", "TeamReport", "build_report", "collect_bundle_files",
    "load_profiles", "select_bundles", "team_report",
]

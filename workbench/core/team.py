"""Team readiness: verified result bundles rolled up against the skills matrix and role profiles.

`team_report(paths, ...)` reads bundles (files or folders), verifies each (workbench.core.bundle),
decides which count, and returns one TeamReport model; the JSON output is that model, and the
HTML and Markdown renderers (workbench.reports) only lay it out.

Which bundles count (the duplicate rule):
1. A file that fails verification never counts; it is listed with its reason.
2. The same bundle twice (same signed content): the first in path order counts, the others are
   rejected as 'duplicate bundle'.
3. Identity (workbench.core.keys): with --trusted-keys only bound keys count, each for its own
   learner id. Otherwise the lead's ledger decides: a key speaks for the id it was first seen
   with *on the lead's clock*; a new key claiming a known id is 'duplicate learner', a known key
   claiming another id is 'id of another learner', two new keys claiming one id in the same run
   are both 'contested' until the lead binds one. A bundle dated in the future is rejected.
4. Of one learner's bundles under their key, the newest export is current and counts; older ones
   only feed the trends.

With `regrade`, the work each current bundle carries is re-graded with the installed graders in
the sandbox (workbench.core.regrade); re-graded scores are the ones counted ("verified"), labs
without carried work stay "self-reported", and every self-reported pass that re-grading does not
reproduce is listed per check. Submissions are compared with each other and the reference
solution (workbench.core.similarity); similar pairs are flagged for the lead, never rejected.

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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .bundle import (
    REASONS,
    InstalledState,
    Rejection,
    VerifiedBundle,
    derive_scores,
    installed_state,
    verify_file,
)
from .curriculum import DEFAULT_CURRICULUM, load_curriculum
from .errors import NotFoundError
from .keys import Ledger, default_ledger_path, load_trusted_keys
from .profiles import DEFAULT_PROFILES, LEVEL_NAMES, LEVEL_RANK, ProfileSet, load_profiles
from .report_model import (
    CategoryReadiness,
    CheckRate,
    CompetencyCoverage,
    Gap,
    GapLab,
    HeatCell,
    Heatmap,
    HeatRow,
    LabCompletion,
    LevelCount,
    Member,
    MemberLab,
    ProfileReadiness,
    RejectedBundle,
    Requirement,
    Scoring,
    StaleMember,
    Summary,
    TeamReport,
    TierSummary,
    Trend,
    TrendPoint,
    Verification,
)
from .skills import (
    LOW_EVIDENCE_POINTS,
    SCORING_VERSION,
    STALE_AFTER_MONTHS,
    TIER_ORDER,
    RecencyPolicy,
    SkillScore,
)
from .verification import RegradeOptions, lab_score, verify_by_regrading

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


@dataclass
class Selection:
    """Which verified bundles count: the current one per learner, older ones (trends), rejections,
    and the keys the ledger learned in this run."""

    current: list[VerifiedBundle]
    older: dict[str, list[VerifiedBundle]]
    rejected: list[Rejection]
    new_keys: set[str]


def select_bundles(results: Sequence[VerifiedBundle | Rejection], ledger: Ledger | None = None,
                   now: datetime | None = None) -> Selection:
    """Apply the duplicate and identity rules (module docstring). Without a ledger, keys were
    already checked against trusted keys by verification."""
    rejected = [r for r in results if isinstance(r, Rejection)]
    first_source: dict[str, str] = {}
    unique: list[VerifiedBundle] = []
    for bundle in (r for r in results if isinstance(r, VerifiedBundle)):
        if bundle.sha256 in first_source:
            rejected.append(Rejection(bundle.source, "duplicate-bundle", f"the same bundle as {first_source[bundle.sha256]}",
                                      bundle.learner_id))
            continue
        first_source[bundle.sha256] = bundle.source
        unique.append(bundle)
    new_keys: set[str] = set()
    if ledger is not None:
        unique, identity_rejects, new_keys = _apply_ledger(unique, ledger, now)
        rejected += identity_rejects
    by_learner: dict[str, list[VerifiedBundle]] = defaultdict(list)
    for bundle in unique:
        by_learner[bundle.learner_id].append(bundle)
    current: list[VerifiedBundle] = []
    older: dict[str, list[VerifiedBundle]] = {}
    for learner_id, bundles in by_learner.items():
        bundles.sort(key=lambda b: (b.payload.exported_at, b.source))
        current.append(bundles[-1])
        if len(bundles) > 1:
            older[learner_id] = bundles[:-1]
    current.sort(key=lambda b: (b.payload.learner.name.casefold(), b.learner_id))
    rejected.sort(key=lambda r: r.source)
    return Selection(current, older, rejected, new_keys)


def _apply_ledger(bundles: list[VerifiedBundle], ledger: Ledger, now: datetime | None
                  ) -> tuple[list[VerifiedBundle], list[Rejection], set[str]]:
    """Keep the bundles whose key speaks for the id they claim, by the lead's ledger; learn new keys."""
    kept: list[VerifiedBundle] = []
    rejected: list[Rejection] = []
    claims: dict[str, set[str]] = defaultdict(set)  # new key -> ids it claims in this run
    claimants: dict[str, set[str]] = defaultdict(set)  # id -> new keys claiming it in this run
    for bundle in bundles:
        key = bundle.payload.learner.public_key
        if key not in ledger.keys:
            claims[key].add(bundle.learner_id)
            claimants[bundle.learner_id].add(key)
    new_keys: set[str] = set()
    for bundle in sorted(bundles, key=lambda b: b.source):
        key, learner_id = bundle.payload.learner.public_key, bundle.learner_id
        known = ledger.keys.get(key)
        if known is not None:
            if known.learner_id != learner_id:
                rejected.append(Rejection(bundle.source, "foreign-id", f"key {bundle.fingerprint} was first seen by you on"
                                          f" {(known.first_seen or '?')[:10]} as learner {known.learner_id}, not {learner_id}",
                                          learner_id))
                continue
            kept.append(bundle)
            continue
        owner = ledger.owner_of(learner_id)
        if owner is not None:
            first = ledger.keys[owner].first_seen or "?"
            rejected.append(Rejection(bundle.source, "duplicate-learner", f"learner id {learner_id} belongs to another key"
                                      f" (first seen by you on {first[:10]}); this bundle is signed with key {bundle.fingerprint}",
                                      learner_id))
            continue
        if len(claims[key]) > 1 or len(claimants[learner_id]) > 1:
            rejected.append(Rejection(bundle.source, "contested-learner",
                                      f"new key {bundle.fingerprint} and learner id {learner_id} are claimed together with other"
                                      " new keys or ids in this run; bind the right key with --trusted-keys", learner_id))
            continue
        if key not in new_keys:
            ledger.add(key, learner_id, bundle.payload.learner.name, now)
            new_keys.add(key)
        kept.append(bundle)
    return kept, rejected, new_keys


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
                 stale_after_months: int = STALE_AFTER_MONTHS, ledger: Ledger | None = None,
                 regrade: RegradeOptions | None = None) -> TeamReport:
    """Aggregate verification results into the report model (re-grading the work first with `regrade`)."""
    profiles = load_profiles(profiles_id)
    generated_at = generated_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    selection = select_bundles(results, ledger, datetime.now(timezone.utc))
    current, older, rejected = selection.current, selection.older, selection.rejected
    checked = verify_by_regrading(current, state, regrade) if regrade is not None and current else None
    if checked is not None:
        current = checked.bundles
    recency = RecencyPolicy(stale_after_months, now=datetime.fromisoformat(generated_at))
    levels = [_levels(b) for b in current]
    details = [_scores(b, state) for b in current]
    stale = [_stale_categories(detail, recency) for detail in details]
    hide = anonymize and len(current) < min_group
    categories = _categories(state, profiles, levels, details, stale, hide)
    profile_rows = _profiles(state, profiles, current, levels, hide, anonymize)
    shown = [c.id for c in categories if c.status != "not assessed"]
    curriculum = load_curriculum(state.curriculum_id)
    verification = checked.verification if checked is not None else Verification(regraded=False)
    verification.identity = "trusted-keys" if trusted_keys else "ledger"
    verification.new_keys = len(selection.new_keys)
    member_labs = checked.members if checked is not None else {b.learner_id: _self_reported_labs(b) for b in current}
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
                   source=b.source, older_bundles=len(older.get(b.learner_id, [])), bundle_version=b.format_version,
                   new_key=b.payload.learner.public_key in selection.new_keys, labs=member_labs.get(b.learner_id, []))
            for b in current],
        rejected=[] if anonymize else [RejectedBundle(source=r.source, reason=r.reason, label=REASONS.get(r.reason, r.reason),
                                                      detail=r.detail, learner_id=r.learner_id) for r in rejected],
        verification=verification,
        mismatches=[] if anonymize or checked is None else checked.mismatches,
        copy_flags=[] if anonymize or checked is None else checked.copy_flags,
    )


def _self_reported_labs(bundle: VerifiedBundle) -> list[MemberLab]:
    return [MemberLab(lab=lab.id, evidence="self-reported", why="not re-graded (run the report with --regrade)",
                      passed=lab.passed, score=lab_score(lab), self_reported_score=lab_score(lab), self_reported_passed=lab.passed)
            for lab in bundle.payload.labs if lab.checks]


def team_report(paths: Sequence[Path], *, curriculum_id: str = DEFAULT_CURRICULUM, trusted_keys: Path | None = None,
                anonymize: bool = False, min_group: int = 5, title: str | None = None, generated_at: str | None = None,
                exclude: Path | None = None, profiles_id: str = DEFAULT_PROFILES,
                stale_after_months: int = STALE_AFTER_MONTHS, ledger_path: Path | None = None,
                regrade: RegradeOptions | None = None) -> TeamReport:
    """Read, verify and aggregate bundles from files and folders into a TeamReport. Without
    trusted keys, the lead's ledger (`ledger_path`, default in the config dir) binds keys to ids."""
    files = collect_bundle_files(paths, exclude)
    if not files:
        raise NotFoundError(f"no bundle files (*.json) in {', '.join(str(p) for p in paths)}",
                            hint="learners create them with 'workbench export'")
    state = installed_state(curriculum_id)
    trusted = load_trusted_keys(trusted_keys) if trusted_keys else None
    now = datetime.now(timezone.utc)  # the lead's clock (generated_at only labels the report)
    results = [verify_file(path, state, trusted, source, now) for path, source in files]
    ledger = None if trusted is not None else Ledger.load(ledger_path or default_ledger_path())
    report = build_report(results, state, files=len(files), anonymize=anonymize, min_group=min_group,
                          trusted_keys=trusted is not None, title=title, generated_at=generated_at, profiles_id=profiles_id,
                          stale_after_months=stale_after_months, ledger=ledger, regrade=regrade)
    if ledger is not None:
        ledger.save()
    return report


__all__ = [
    "DEFAULT_PROFILES", "LEVEL_NAMES", "ProfileSet", "RegradeOptions", "TeamReport", "build_report", "collect_bundle_files",
    "load_profiles", "select_bundles", "team_report", "verify_by_regrading",
]

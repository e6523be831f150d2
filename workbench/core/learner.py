"""The learner's actions, as the CLI and the TUI both call them: list, start, check, hint,
reset, solution, skills. Front ends only parse input and show what these return."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .curriculum import load_curriculum
from .errors import NotFoundError
from .grading import EventCallback, GraderProcess, grade
from .labs import Lab, get_lab, load_labs
from .results import GradeResult
from .skills import LOW_EVIDENCE_POINTS, RecencyPolicy, SkillScore, load_skill_matrix, skill_profile
from .workspace import Workspace


def lab_status(workspace: Workspace | None, lab_id: str) -> dict[str, Any]:
    """'not started' | 'in progress' | 'passed', with attempts and best score."""
    if workspace is None:
        return {"status": "not started", "attempts": 0, "best_score": None}
    summary = workspace.progress.lab_summary().get(lab_id)
    started = workspace.is_started(lab_id) or lab_id in workspace.progress.started_labs()
    if summary and summary["passed"]:
        status = "passed"
    elif started or summary:
        status = "in progress"
    else:
        status = "not started"
    return {
        "status": status,
        "attempts": summary["attempts"] if summary else 0,
        "best_score": summary["best_score"] if summary else None,
    }


def lab_rows(workspace: Workspace | None) -> list[dict[str, Any]]:
    """One row per lab for `workbench labs` (JSON-ready)."""
    curriculum = load_curriculum(workspace.settings.curriculum if workspace else "ai-engineer-2026")
    rows = []
    for lab in load_labs(curriculum.id).values():
        spec = lab.spec
        rows.append({
            "id": lab.id, "title": spec.title, "phase": spec.phase, "month": spec.month, "topic": spec.topic,
            "tags": list(spec.tags), "needs": list(spec.needs), "level": spec.level,
            "estimated_minutes": spec.estimated_minutes, "requires": list(spec.requires),
            "skills": dict(spec.skills), **lab_status(workspace, lab.id),
        })
    return rows


def roadmap(workspace: Workspace | None) -> dict[str, Any]:
    """The curriculum with each lab's status and overall progress (JSON-ready)."""
    curriculum = load_curriculum(workspace.settings.curriculum if workspace else "ai-engineer-2026")
    rows = {row["id"]: row for row in lab_rows(workspace)}
    phases = []
    for phase in curriculum.phases:
        topics = [{"id": t.id, "title": t.title, "labs": [rows[lab_id] for lab_id in t.labs]} for t in phase.topics]
        phases.append({"id": phase.id, "title": phase.title, "months": list(phase.months) if phase.months else None,
                       "months_label": phase.months_label, "summary": phase.summary, "topics": topics})
    passed = sum(1 for row in rows.values() if row["status"] == "passed")
    return {"curriculum": curriculum.id, "title": curriculum.title, "version": curriculum.version,
            "phases": phases, "labs_total": len(rows), "labs_passed": passed}


def resolve_lab(workspace: Workspace, lab_id: str | None, cwd: Path | None = None) -> Lab:
    """The named lab, else the lab whose folder holds cwd, else the last one started."""
    curriculum_id = workspace.settings.curriculum
    if lab_id:
        return get_lab(lab_id, curriculum_id)
    from_cwd = workspace.lab_for_path(cwd or Path.cwd())
    if from_cwd:
        return get_lab(from_cwd, curriculum_id)
    last = workspace.progress.last_started()
    if last:
        return get_lab(last, curriculum_id)
    raise NotFoundError("no lab given and none started yet", hint="run 'workbench labs', then 'workbench start LAB'")


def check(workspace: Workspace, lab: Lab, on_event: EventCallback | None = None,
          process: GraderProcess | None = None) -> GradeResult:
    """Grade the learner's copy of a lab and store the result (in `process` if one is held)."""
    if not workspace.is_started(lab.id):
        raise NotFoundError(f"lab '{lab.id}' is not started in {workspace.root}", hint=f"run 'workbench start {lab.id}'")
    result = grade(lab, workspace.lab_dir(lab.id), workspace_root=workspace.root, on_event=on_event, process=process,
                   objects=workspace.objects)
    workspace.progress.record_attempt(result, lab_version=lab.spec.version)
    return result


def started_labs(workspace: Workspace) -> list[Lab]:
    """Labs whose folder is in the workspace, in roadmap order."""
    return [lab for lab in load_labs(workspace.settings.curriculum).values() if workspace.is_started(lab.id)]


def check_all(workspace: Workspace, on_event: EventCallback | None = None) -> list[GradeResult]:
    """Grade every started lab, in roadmap order, storing each result (`workbench check --all`)."""
    labs = started_labs(workspace)
    if not labs:
        raise NotFoundError(f"no lab is started in {workspace.root}", hint="run 'workbench start LAB' first")
    return [check(workspace, lab, on_event=on_event) for lab in labs]


@dataclass(frozen=True)
class HintReveal:
    """What `hint` shows: the hint revealed now (if any) and every hint revealed so far."""

    lab: str
    new_index: int | None
    for_check: str | None
    revealed: list[tuple[int, str]]
    total: int

    @property
    def all_revealed(self) -> bool:
        """True when no hint is left to reveal."""
        return len(self.revealed) >= self.total


def next_hint(workspace: Workspace, lab: Lab) -> HintReveal:
    """Reveal one more hint: the one tied to the first failing check if still hidden, else the
    next in order. Recorded in the progress store (hints lower the lab's skill credit)."""
    hints = lab.spec.hints
    revealed = workspace.progress.hints_revealed(lab.id)
    new_index: int | None = None
    for_check: str | None = None
    last = workspace.progress.last_result(lab.id)
    if last is not None:
        for test in last.tests:
            if test.status != "pass" and test.hint and 1 <= test.hint <= len(hints) and test.hint not in revealed:
                new_index, for_check = test.hint, test.name
                break
    if new_index is None:
        new_index = next((i for i in range(1, len(hints) + 1) if i not in revealed), None)
    if new_index is not None:
        workspace.progress.record_hint(lab.id, new_index, for_check)
        revealed = [*revealed, new_index]
    return HintReveal(lab.id, new_index, for_check, [(i, hints[i - 1].text) for i in revealed], len(hints))


def installed_versions(labs: dict[str, Lab]) -> dict[str, tuple[int, str]]:
    """Lab id -> (installed version, installed grader SHA-256)."""
    return {lab_id: (lab.spec.version, lab.grader_sha256()) for lab_id, lab in labs.items()}


def recency_policy(workspace: Workspace | None) -> RecencyPolicy:
    """The workspace's recency settings (defaults without a workspace)."""
    if workspace is None:
        return RecencyPolicy()
    return RecencyPolicy(workspace.settings.stale_after_months, workspace.settings.decay_stale)


def skills(workspace: Workspace | None) -> list[SkillScore]:
    """The learner's per-category proficiency (empty evidence without a workspace)."""
    curriculum = load_curriculum(workspace.settings.curriculum if workspace else "ai-engineer-2026")
    labs = load_labs(curriculum.id)
    evidence = workspace.progress.evidence(installed_versions(labs)) if workspace else {}
    return skill_profile(load_skill_matrix(curriculum.skills), labs, evidence, recency=recency_policy(workspace))


def outdated_labs(workspace: Workspace) -> list[Lab]:
    """Labs whose evidence was graded only under an older lab version, in roadmap order."""
    labs = load_labs(workspace.settings.curriculum)
    evidence = workspace.progress.evidence(installed_versions(labs))
    return [lab for lab_id, lab in labs.items() if lab_id in evidence and evidence[lab_id].older_version]


@dataclass(frozen=True)
class UpgradeOutcome:
    """One lab re-graded (or not) under its installed version."""

    lab: str
    from_version: int | None
    to_version: int
    result: GradeResult | None
    skipped: str | None = None


def upgrade(workspace: Workspace, lab_ids: list[str] | None = None, on_event: EventCallback | None = None
            ) -> list[UpgradeOutcome]:
    """Re-grade the learner's current files of each lab whose evidence is from an older version
    (or of the named labs). Earlier attempts stay in the history under their own version."""
    labs = load_labs(workspace.settings.curriculum)
    evidence = workspace.progress.evidence(installed_versions(labs))
    targets = [get_lab(lab_id, workspace.settings.curriculum) for lab_id in lab_ids] if lab_ids else outdated_labs(workspace)
    outcomes = []
    for lab in targets:
        previous = evidence[lab.id].version if lab.id in evidence else None
        if not workspace.is_started(lab.id):
            outcomes.append(UpgradeOutcome(lab.id, previous, lab.spec.version, None,
                                           skipped=f"no files in {workspace.lab_dir(lab.id)}; 'workbench start {lab.id}'"))
            continue
        outcomes.append(UpgradeOutcome(lab.id, previous, lab.spec.version, check(workspace, lab, on_event=on_event)))
    return outcomes


def skill_rows(scores: list[SkillScore]) -> list[dict[str, Any]]:
    """JSON-ready skill profile: proficiency, level, the evidence behind it and how much."""
    rows = []
    for s in scores:
        rows.append({
            "id": s.category.id, "name": s.category.name, "tier": s.category.tier, "proficiency": s.proficiency,
            "level": s.level, "capped_from": s.capped_from, "cap_reason": s.cap_reason,
            "evidence": [{"lab": c.lab, "credit": c.credit, "attempted_points": c.attempted_points,
                          "offered_points": c.offered_points, "last_recorded_at": c.last_recorded_at, "stale": c.stale,
                          "older_version": c.older_version} for c in s.credits],
            "assessed_by": list(s.assessed_by),
            "evidence_volume": {"offered_points": s.offered_points, "attempted_points": s.attempted_points,
                                "earned_points": s.earned_points, "low_evidence": s.low_evidence,
                                "low_evidence_below": LOW_EVIDENCE_POINTS},
            "competencies": [{"name": name, "assessed_by": list(labs)} for name, labs in s.competencies],
            "unassessed_competencies": list(s.unassessed_competencies),
            "stale": s.stale, "last_evidence_at": s.last_evidence_at,
        })
    return rows


__all__ = ["HintReveal", "UpgradeOutcome", "check", "check_all", "started_labs", "installed_versions", "lab_rows", "lab_status", "next_hint",
           "outdated_labs", "recency_policy", "resolve_lab", "roadmap", "skill_rows", "skills", "upgrade"]

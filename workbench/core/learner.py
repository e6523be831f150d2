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
from .skills import SkillScore, load_skill_matrix, skill_profile
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
    result = grade(lab, workspace.lab_dir(lab.id), workspace_root=workspace.root, on_event=on_event, process=process)
    workspace.progress.record_attempt(result)
    return result


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


def skills(workspace: Workspace | None) -> list[SkillScore]:
    """The learner's per-category proficiency (empty evidence without a workspace)."""
    curriculum = load_curriculum(workspace.settings.curriculum if workspace else "ai-engineer-2026")
    evidence = workspace.progress.evidence() if workspace else {}
    return skill_profile(load_skill_matrix(curriculum.skills), load_labs(curriculum.id), evidence)


def skill_rows(scores: list[SkillScore]) -> list[dict[str, Any]]:
    """JSON-ready skill profile."""
    return [{"id": s.category.id, "name": s.category.name, "tier": s.category.tier, "proficiency": s.proficiency,
             "level": s.level, "evidence": [{"lab": lab, "credit": credit} for lab, credit in s.evidence],
             "assessed_by": list(s.assessed_by)} for s in scores]


__all__ = ["HintReveal", "check", "lab_rows", "lab_status", "next_hint", "resolve_lab", "roadmap", "skill_rows", "skills"]

"""Authoring check: a lab's starter must fail, its solution score full marks, and every mutant
(labs/<id>/mutants/<name>/, a wrong solution with a one-line DEFECT.txt) must fail. The checks
a grading run collects must match what the grader's markers declare (workbench.core.checks):
known skills and competencies, and a [skills] table that summarises them."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .checks import inventory_problems, lab_inventory
from .curriculum import DEFAULT_CURRICULUM, load_curriculum
from .grading import EventCallback, grade
from .labs import Lab
from .results import GradeResult
from .skills import load_skill_matrix


@dataclass
class MutantOutcome:
    """One wrong solution and how it was graded."""

    name: str
    defect: str
    result: GradeResult

    @property
    def caught_by(self) -> str:
        """What failed it: the first failing required check, else the score."""
        if self.result.required_failed:
            return f"required: {self.result.required_failed[0].name}"
        return f"score {self.result.score:.0%} < pass mark {self.result.pass_mark:.0%}"


@dataclass
class VerifyOutcome:
    """Both gradings of one lab and whether the invariant holds."""

    lab: str
    starter: GradeResult
    solution: GradeResult
    mutants: list[MutantOutcome] = field(default_factory=list)
    declared: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """What breaks the invariant (empty when the lab is sound)."""
        problems = list(self.declared)
        for mutant in self.mutants:
            if not mutant.defect:
                problems.append(f"mutant {mutant.name} has no DEFECT.txt saying which requirement it breaks")
            if mutant.result.status == "pass":
                problems.append(f"mutant {mutant.name} passes ({mutant.result.score:.0%}) but is wrong: {mutant.defect}")
            elif mutant.result.status == "error" and not mutant.result.tests:
                problems.append(f"mutant {mutant.name} could not be graded: {mutant.result.message}")
        if self.starter.status == "error" and not self.starter.tests:
            problems.append(f"starter could not be graded: {self.starter.message}")
        elif self.starter.score >= self.starter.pass_mark:
            problems.append(f"starter scores {self.starter.score:.0%}, at or above the pass mark {self.starter.pass_mark:.0%}")
        if self.solution.score < 1.0 or self.solution.status != "pass":
            failing = [f"{t.name}: {t.message}" for t in self.solution.tests if t.status != "pass"]
            detail = "; ".join(failing) or (self.solution.message or "")
            problems.append(f"solution scores {self.solution.score:.0%}, not 100% ({detail})")
        return problems

    @property
    def ok(self) -> bool:
        """True when the starter fails and the solution passes every check."""
        return not self.problems


def grade_copy(lab: Lab, source: Path, on_event: EventCallback | None = None, model: str | None = None,
               overlay: Path | None = None, stop_at_required: bool = False) -> GradeResult:
    """Grade a throwaway copy of `source` (starter/ or solution/; `overlay`'s files laid over it),
    as a learner's folder. `stop_at_required` ends grading at the first failing required check."""
    with tempfile.TemporaryDirectory(prefix=f"workbench-verify-{lab.id}-") as tmp:
        lab_dir = Path(tmp) / lab.id
        shutil.copytree(source, lab_dir, ignore=shutil.ignore_patterns("__pycache__"))
        if overlay is not None:
            shutil.copytree(overlay, lab_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "DEFECT.txt"))
        previous = os.environ.get("WORKBENCH_STOP_AT_REQUIRED")
        if stop_at_required:
            os.environ["WORKBENCH_STOP_AT_REQUIRED"] = "1"
        try:
            return grade(lab, lab_dir, workspace_root=Path(tmp), on_event=on_event, model=model)
        finally:
            if previous is None:
                os.environ.pop("WORKBENCH_STOP_AT_REQUIRED", None)
            else:
                os.environ["WORKBENCH_STOP_AT_REQUIRED"] = previous


def verify_lab(lab: Lab, on_event: EventCallback | None = None, model: str | None = None,
               mutants: bool = True) -> VerifyOutcome:
    """Grade the starter, the solution and (with `mutants`) every mutant of one lab."""
    starter = grade_copy(lab, lab.starter_dir, on_event, model)
    solution = grade_copy(lab, lab.solution_dir, on_event, model)
    outcome = VerifyOutcome(lab.id, starter, solution, declared=declared_check_problems(lab, solution))
    for folder in lab.mutants() if mutants else []:
        defect_file = folder / "DEFECT.txt"
        defect = defect_file.read_text("utf-8").strip().splitlines()[0] if defect_file.is_file() else ""
        result = grade_copy(lab, lab.solution_dir, on_event, model, overlay=folder, stop_at_required=True)
        outcome.mutants.append(MutantOutcome(folder.name, defect, result))
    return outcome


def declared_check_problems(lab: Lab, graded: GradeResult | None = None) -> list[str]:
    """Problems with a lab's checks as declared (unknown skill or competency, [skills] out of
    line with the checks' points) and, given a grading run, where the run's checks differ."""
    problems = []
    matrix = load_skill_matrix(load_curriculum(DEFAULT_CURRICULUM).skills)
    for problem in inventory_problems(lab, matrix):
        problems.append(f"graders/{lab.id}: {problem}")
    if graded is not None and graded.tests:
        declared = [(c.name, c.skill, c.points, c.competency) for c in lab_inventory(lab).checks]
        collected = [(t.name, t.skill, t.max_points, t.competency) for t in sorted(graded.tests, key=lambda t: t.task_id)]
        if declared != collected:
            missing = [d[0] for d in declared if d not in collected]
            extra = [c[0] for c in collected if c not in declared]
            problems.append(f"graders/{lab.id}: the checks a run collects differ from the markers read statically"
                            f" (only declared: {missing or '-'}; only collected: {extra or '-'})")
    return problems


__all__ = ["MutantOutcome", "VerifyOutcome", "declared_check_problems", "grade_copy", "verify_lab"]

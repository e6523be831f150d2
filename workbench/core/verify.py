"""Authoring check: a lab's starter must score below the pass mark, its solution full marks."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .grading import EventCallback, grade
from .labs import Lab
from .results import GradeResult


@dataclass
class VerifyOutcome:
    """Both gradings of one lab and whether the invariant holds."""

    lab: str
    starter: GradeResult
    solution: GradeResult

    @property
    def problems(self) -> list[str]:
        """What breaks the invariant (empty when the lab is sound)."""
        problems = []
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


def grade_copy(lab: Lab, source: Path, on_event: EventCallback | None = None, model: str | None = None) -> GradeResult:
    """Grade a throwaway copy of `source` (starter/ or solution/), as a learner's folder."""
    with tempfile.TemporaryDirectory(prefix=f"workbench-verify-{lab.id}-") as tmp:
        lab_dir = Path(tmp) / lab.id
        shutil.copytree(source, lab_dir, ignore=shutil.ignore_patterns("__pycache__"))
        return grade(lab, lab_dir, workspace_root=Path(tmp), on_event=on_event, model=model)


def verify_lab(lab: Lab, on_event: EventCallback | None = None, model: str | None = None) -> VerifyOutcome:
    """Grade the starter and the solution of one lab."""
    starter = grade_copy(lab, lab.starter_dir, on_event, model)
    solution = grade_copy(lab, lab.solution_dir, on_event, model)
    return VerifyOutcome(lab.id, starter, solution)


__all__ = ["VerifyOutcome", "grade_copy", "verify_lab"]

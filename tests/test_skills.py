"""Proficiency from evidence (formula in workbench/core/skills.py)."""

from dataclasses import dataclass, field

from workbench.core.skills import LabEvidence, level_for, load_skill_matrix, skill_profile


@dataclass
class _Spec:
    skills: dict
    level: int


@dataclass
class _Lab:
    id: str
    spec: _Spec = field(default=None)


def test_credit_counts_best_checks_and_help() -> None:
    evidence = LabEvidence(best_points={"a": 2, "b": 0}, max_points={"a": 2, "b": 2})
    assert evidence.credit() == 0.5
    evidence.hints_revealed = 1
    assert round(evidence.credit(), 4) == 0.45
    evidence.hints_revealed = 9
    assert round(evidence.credit(), 4) == 0.35  # hint cost is capped at 30%
    evidence.gave_up = True
    assert round(evidence.credit(), 4) == 0.175


def test_profile_weights_by_skill_weight_and_level() -> None:
    labs = {
        "easy": _Lab("easy", _Spec({"programming": 1}, level=1)),
        "hard": _Lab("hard", _Spec({"programming": 3, "ml-fundamentals": 1}, level=3)),
    }
    evidence = {"easy": LabEvidence(best_points={"x": 1}, max_points={"x": 1})}
    scores = {s.category.id: s for s in skill_profile(load_skill_matrix(), labs, evidence)}
    assert scores["programming"].proficiency == 10.0  # 1*1*1 / (1*1 + 3*3)
    assert scores["programming"].level == "beginner"
    assert scores["ml-fundamentals"].proficiency == 0.0 and scores["ml-fundamentals"].level == "none"
    assert scores["cloud"].proficiency is None and scores["cloud"].level == "not assessed"


def test_levels() -> None:
    assert [level_for(v) for v in (None, 0, 10, 40, 70, 95)] == [
        "not assessed", "none", "beginner", "intermediate", "advanced", "expert"]

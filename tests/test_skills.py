"""Proficiency from evidence (formula v2 in workbench/core/skills.py): evidence per check,
evidence volume, competencies, recency."""

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from workbench.core.checks import CheckSpec, Inventory
from workbench.core.skills import (
    CheckEvidence,
    LabEvidence,
    RecencyPolicy,
    level_for,
    load_skill_matrix,
    skill_profile,
)


@dataclass
class _Spec:
    skills: dict
    level: int


@dataclass
class _Lab:
    id: str
    spec: _Spec = field(default=None)


def _inventory(*checks: tuple[str, str, float] | tuple[str, str, float, str]) -> Inventory:
    return Inventory(tuple(CheckSpec(c[0], c[1], c[2], c[3] if len(c) > 3 else None) for c in checks))


def _evidence(points: dict[str, tuple[str, float, float]], **kwargs) -> LabEvidence:
    """name -> (skill, points, max points)."""
    return LabEvidence(checks={n: CheckEvidence(n, s, p, m) for n, (s, p, m) in points.items()}, **kwargs)


def _scores(labs, offers, evidence, **kwargs):
    return {s.category.id: s for s in skill_profile(load_skill_matrix(), labs, evidence, offers, **kwargs)}


def test_credit_counts_best_checks_and_help() -> None:
    evidence = LabEvidence.from_points({"a": 2, "b": 0}, {"a": 2, "b": 2})
    assert evidence.credit() == 0.5
    evidence.hints_revealed = 1
    assert round(evidence.credit(), 4) == 0.45
    evidence.hints_revealed = 9
    assert round(evidence.credit(), 4) == 0.35  # hint cost is capped at 30%
    evidence.gave_up = True
    assert round(evidence.credit(), 4) == 0.175


def test_points_count_toward_the_skill_their_check_names() -> None:
    """The issue's case: passing only tool-agent's agentic checks gains Agentic Systems and nothing else."""
    labs = {"agent": _Lab("agent", _Spec({"agentic-systems": 3, "generative-ai": 1}, level=3))}
    offers = {"agent": _inventory(("registry", "agentic-systems", 2), ("budget", "agentic-systems", 3),
                                  ("answers well", "generative-ai", 1))}
    evidence = {"agent": _evidence({"registry": ("agentic-systems", 2, 2), "budget": ("agentic-systems", 3, 3),
                                    "answers well": ("generative-ai", 0, 1)})}
    scores = _scores(labs, offers, evidence)
    assert scores["agentic-systems"].proficiency == 100.0
    assert scores["generative-ai"].proficiency == 0.0 and scores["generative-ai"].level == "none"
    assert all(s.proficiency is None for cid, s in scores.items() if cid not in ("agentic-systems", "generative-ai"))
    # under formula v1 the lab's [skills] weights spread its credit: generative-ai got 5/6 = 83.3


def test_profile_weights_by_points_and_level() -> None:
    labs = {
        "easy": _Lab("easy", _Spec({"programming": 1}, level=1)),
        "hard": _Lab("hard", _Spec({"programming": 3, "ml-fundamentals": 1}, level=3)),
    }
    offers = {"easy": _inventory(("x", "programming", 3)),
              "hard": _inventory(("y", "programming", 9), ("z", "ml-fundamentals", 1))}
    evidence = {"easy": _evidence({"x": ("programming", 3, 3)})}
    scores = _scores(labs, offers, evidence)
    assert scores["programming"].proficiency == 10.0  # 1*3*1 / (1*3 + 3*9)
    assert scores["programming"].level == "beginner"
    assert scores["programming"].assessed_by == ("easy", "hard")
    assert scores["ml-fundamentals"].proficiency == 0.0 and scores["ml-fundamentals"].level == "none"
    assert scores["cloud"].proficiency is None and scores["cloud"].level == "not assessed"


def test_checks_missing_from_the_evidence_count_zero_and_unknown_ones_nothing() -> None:
    labs = {"lab": _Lab("lab", _Spec({"programming": 1}, level=1))}
    offers = {"lab": _inventory(("a", "programming", 2), ("b", "programming", 2))}
    evidence = {"lab": _evidence({"a": ("programming", 2, 2), "renamed long ago": ("programming", 5, 5)})}
    score = _scores(labs, offers, evidence)["programming"]
    assert score.proficiency == 50.0 and score.attempted_points == 2 and score.offered_points == 4


def test_evidence_volume_and_the_expert_cap() -> None:
    labs = {"small": _Lab("small", _Spec({"domain-specialization": 1}, level=3))}
    offers = {"small": _inventory(("eval", "domain-specialization", 9, "Evaluation design"))}
    full = {"small": _evidence({"eval": ("domain-specialization", 9, 9)})}
    score = _scores(labs, offers, full)["domain-specialization"]
    assert score.proficiency == 100.0 and score.low_evidence and score.level == "advanced"
    assert score.capped_from == "expert" and "low evidence (9 of 10 points)" in score.cap_reason
    assert score.unassessed_competencies == ("Fine-tuning", "Domain data curation")
    assert dict(score.competencies)["Evaluation design"] == ("small",)

    offers = {"small": _inventory(("eval", "domain-specialization", 12, "Evaluation design"))}
    full = {"small": _evidence({"eval": ("domain-specialization", 12, 12)})}
    score = _scores(labs, offers, full)["domain-specialization"]
    assert not score.low_evidence and score.level == "advanced"
    assert score.cap_reason == "not assessed: Fine-tuning, Domain data curation"

    offers = {"small": _inventory(("a", "multimodal", 6, "Vision-language models"), ("b", "multimodal", 6, "Cross-modal fusion"))}
    full = {"small": _evidence({"a": ("multimodal", 6, 6), "b": ("multimodal", 6, 6)})}
    score = _scores(labs, offers, full)["multimodal"]
    assert score.level == "expert" and score.capped_from is None and score.unassessed_competencies == ()


def test_older_version_evidence_is_scaled_by_its_own_checks() -> None:
    labs = {"lab": _Lab("lab", _Spec({"programming": 1}, level=1))}
    offers = {"lab": _inventory(("new a", "programming", 4), ("new b", "programming", 4))}
    old = LabEvidence(checks={"old": CheckEvidence("old", "programming", 1, 2)}, older_version=True, version=1)
    score = _scores(labs, offers, {"lab": old})["programming"]
    assert score.proficiency == 50.0 and score.older_version_labs == ("lab",) and score.attempted_points == 2


def test_stale_evidence_is_flagged_and_optionally_decays() -> None:
    labs = {"lab": _Lab("lab", _Spec({"programming": 1}, level=1))}
    offers = {"lab": _inventory(("a", "programming", 10))}
    evidence = {"lab": LabEvidence(checks={"a": CheckEvidence("a", "programming", 10, 10, "2025-01-10T00:00:00+00:00")})}
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    flagged = _scores(labs, offers, evidence, recency=RecencyPolicy(12, now=now))["programming"]
    assert flagged.proficiency == 100.0 and flagged.stale and flagged.stale_labs == ("lab",)
    assert flagged.last_evidence_at == "2025-01-10T00:00:00+00:00"
    decayed = _scores(labs, offers, evidence, recency=RecencyPolicy(12, decay=True, now=now))["programming"]
    assert decayed.proficiency == 50.0
    recent = _scores(labs, offers, evidence, recency=RecencyPolicy(24, decay=True, now=now))["programming"]
    assert recent.proficiency == 100.0 and not recent.stale


def test_levels() -> None:
    assert [level_for(v) for v in (None, 0, 10, 40, 70, 95)] == [
        "not assessed", "none", "beginner", "intermediate", "advanced", "expert"]


@pytest.mark.parametrize("lab_id", ["tool-agent", "mcp-tool-server", "multi-agent-handoff"])
def test_shipped_agent_labs_passing_only_agentic_checks_gain_only_agentic_systems(lab_id: str) -> None:
    from workbench.core.checks import lab_inventory
    from workbench.core.labs import load_labs

    labs = load_labs()
    offer = lab_inventory(labs[lab_id])
    evidence = {lab_id: LabEvidence(checks={c.name: CheckEvidence(c.name, c.skill, c.points if c.skill == "agentic-systems" else 0,
                                                                  c.points) for c in offer.checks})}
    scores = {s.category.id: s for s in skill_profile(load_skill_matrix(), labs, evidence)}
    gained = {cid for cid, s in scores.items() if s.proficiency}
    assert gained == {"agentic-systems"}


def test_workspace_recency_settings_flag_and_decay_old_evidence(toy_data, tmp_path) -> None:
    from workbench.core.labs import get_lab
    from workbench.core.learner import skills
    from workbench.core.results import CheckResult, GradeResult
    from workbench.core.workspace import Workspace, init_workspace

    workspace, _ = init_workspace(tmp_path / "ws")
    lab = get_lab("toy")
    tests = [CheckResult(task_id=1, name="add() adds", status="pass", points=2, max_points=2, skill="programming"),
             CheckResult(task_id=2, name="greet() greets by name", status="pass", points=1, max_points=1, skill="programming")]
    workspace.progress.record_attempt(GradeResult(
        lab="toy", status="pass", message=None, tests=tests, pass_mark=0.75, grader_sha256=lab.grader_sha256(),
        grader_files={}, workbench_version="0", started_at="2024-01-01T00:00:00+00:00", duration_s=1), lab_version=1)
    workspace.progress._conn.execute("UPDATE check_results SET recorded_at = '2024-01-01T00:00:05+00:00'")
    fresh = {s.category.id: s for s in skills(workspace)}["programming"]
    assert fresh.proficiency == 100.0 and fresh.stale and fresh.stale_labs == ("toy",)

    settings = workspace.state_dir / "workspace.toml"
    settings.write_text(settings.read_text() + "decay_stale = true\n")
    decayed = {s.category.id: s for s in skills(Workspace(workspace.root))}["programming"]
    assert decayed.proficiency == 50.0
    settings.write_text(settings.read_text() + "stale_after_months = 120\n")
    patient = {s.category.id: s for s in skills(Workspace(workspace.root))}["programming"]
    assert patient.proficiency == 100.0 and not patient.stale

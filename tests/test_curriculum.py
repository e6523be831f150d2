"""Curricula and the skills matrix load and validate; errors name file, key and line."""

from pathlib import Path

import pytest

from workbench.core.curriculum import load_curriculum, load_curriculum_file
from workbench.core.errors import DataError
from workbench.core.skills import load_skill_matrix


def test_default_curriculum_has_four_phases_and_continuous() -> None:
    curriculum = load_curriculum()
    assert [p.id for p in curriculum.phases] == ["foundations", "production", "advanced", "specialization", "continuous"]
    assert [p.months for p in curriculum.phases[:4]] == [(1, 3), (4, 6), (7, 9), (10, 12)]
    assert curriculum.phases[4].months is None
    # one topic per roadmap bullet (ROADMAP.md): 4 + 5 + 5 + 5 + 4
    assert [len(p.topics) for p in curriculum.phases] == [4, 5, 5, 5, 4]


def test_skills_matrix_has_twelve_categories_with_tiers() -> None:
    matrix = load_skill_matrix()
    assert len(matrix.categories) == 12
    tiers = [c.tier for c in matrix.categories]
    assert tiers.count("critical") == 5 and tiers.count("high") == 4 and tiers.count("emerging") == 3


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ai-engineer-2026.toml"
    path.write_text(text)
    return path


GOOD = Path(__file__).resolve().parents[1] / "curricula" / "ai-engineer-2026.toml"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = GOOD.read_text().replace('title = "Foundations"', 'title = "Foundations', 1)
    with pytest.raises(DataError) as info:
        load_curriculum_file(_write(tmp_path, text))
    line = GOOD.read_text().splitlines().index('title = "Foundations"') + 1
    assert info.value.line == line
    assert f"ai-engineer-2026.toml:{line}" in str(info.value)
    assert info.value.exit_code == 2


def test_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.read_text().replace('summary = "Python, ML', 'sumary = "Python, ML', 1)
    with pytest.raises(DataError) as info:
        load_curriculum_file(_write(tmp_path, text))
    assert info.value.key == "phases.0.sumary"
    assert "unknown key" in str(info.value)
    assert info.value.line is not None


def test_bad_months_and_duplicate_topic(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="months"):
        load_curriculum_file(_write(tmp_path, GOOD.read_text().replace("months = [1, 3]", "months = [3, 1]")))
    duplicate = GOOD.read_text().replace('id = "cicd-ml"', 'id = "advanced-python"')
    with pytest.raises(DataError, match="duplicate id 'advanced-python'"):
        load_curriculum_file(_write(tmp_path, duplicate))


def test_a_lab_may_teach_several_topics_but_counts_once(tmp_path: Path) -> None:
    curriculum = load_curriculum()
    assert "research-reproduction" in curriculum.topic("experimenting-tools").labs
    assert curriculum.lab_ids().count("research-reproduction") == 1  # listed twice, counted once
    twice = GOOD.read_text().replace('labs = ["oss-contribution"]', 'labs = ["oss-contribution", "oss-contribution"]', 1)
    with pytest.raises(DataError, match="topic 'open-source' lists lab 'oss-contribution' twice") as info:
        load_curriculum_file(_write(tmp_path, twice))
    assert info.value.key == "labs" and info.value.line is not None


def test_roadmap_says_no_lab_yet_only_where_no_lab_teaches_the_topic() -> None:
    from workbench.core.learner import roadmap

    topics = {t["id"]: t for p in roadmap(None)["phases"] for t in p["topics"]}
    [row] = topics["documenting-learning"]["labs"]
    assert row["id"] == "research-reproduction" and row["topic"] == "following-research"  # its own topic
    empty = sorted(tid for tid, t in topics.items() if not t["labs"])
    assert empty == [], f"topics with no lab: {empty}"


def test_every_skill_category_has_evidence_from_at_least_two_labs() -> None:
    """The skills screen and the team report assess all twelve categories, each on more than one lab."""
    from workbench.core.labs import load_labs

    labs_by_category: dict[str, set[str]] = {c.id: set() for c in load_skill_matrix().categories}
    for lab in load_labs().values():
        for category, weight in lab.spec.skills.items():
            if weight > 0:
                labs_by_category[category].add(lab.id)
    thin = {category: sorted(labs) for category, labs in labs_by_category.items() if len(labs) < 2}
    assert not thin, f"categories with evidence from fewer than two labs: {thin}"

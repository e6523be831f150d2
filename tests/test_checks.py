"""The checks a grader declares (read statically) against the skills matrix, its lab's [skills]
table, and what a real grading run collects; `dev verify` rejects unknown competencies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from labkit import clear_caches

from workbench.core.checks import lab_inventory, skills_table_problems
from workbench.core.labs import get_lab, load_labs
from workbench.core.skills import load_skill_matrix
from workbench.core.verify import declared_check_problems


def test_every_shipped_lab_declares_its_checks_consistently() -> None:
    from workbench.core.checks import inventory_problems

    matrix = load_skill_matrix()
    for lab in load_labs().values():
        inventory = lab_inventory(lab)
        assert len(inventory.checks) >= 4, lab.id
        assert inventory_problems(lab, matrix) == [], lab.id


def test_inventory_reads_markers_like_the_plugin(toy_data: Path) -> None:
    inventory = lab_inventory(get_lab("toy"))
    assert [(c.name, c.skill, c.points) for c in inventory.checks] == [
        ("add() adds", "programming", 2.0), ("greet() greets by name", "programming", 1.0),
        ("work() finishes", "ml-fundamentals", 1.0)]
    assert inventory.points_by_skill() == {"programming": 3.0, "ml-fundamentals": 1.0}


def test_skills_table_must_summarise_the_checks() -> None:
    assert skills_table_problems({"a": 3, "b": 1}, {"a": 12.0, "b": 1.0}) == []
    assert skills_table_problems({"a": 1, "b": 3}, {"a": 12.0, "b": 1.0}) == [
        "[skills] weighs 'b' (3) above 'a' (1), but its checks give 1 points against 12"]
    assert skills_table_problems({"a": 3, "c": 1}, {"a": 2.0, "b": 1.0}) == [
        "checks give 1 points to 'b', which [skills] does not list", "[skills] lists 'c' but no check names it"]


def _name_competency(toy_data: Path, competency: str) -> None:
    grader = toy_data / "graders" / "toy" / "test_toy.py"
    grader.write_text(grader.read_text().replace('@pytest.mark.check(skill="programming", points=2, hint=2)',
                                                 f'@pytest.mark.check(skill="programming", points=2, hint=2, competency="{competency}")'))
    clear_caches()


def test_unknown_competency_is_rejected_by_dev_verify(toy_data: Path) -> None:
    _name_competency(toy_data, "Rust")
    problems = declared_check_problems(get_lab("toy"))
    assert problems == ["graders/toy: check 'add() adds' names unknown competency 'Rust' of programming;"
                        " known: Python (advanced), JavaScript/TypeScript, SQL"]
    result = run_cli("dev", "verify", "toy", "--json")
    assert result.returncode == 1
    [row] = json.loads(result.stdout)
    assert any("unknown competency 'Rust'" in p for p in row["problems"])


def test_a_known_competency_reaches_the_result_and_counts_as_assessed(toy_data: Path, tmp_path: Path) -> None:
    _name_competency(toy_data, "Python (advanced)")
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0 and run_cli("start", "toy", cwd=ws).returncode == 0
    checked = json.loads(run_cli("check", "toy", "--json", cwd=ws).stdout)
    assert [t["competency"] for t in checked["tests"]] == ["Python (advanced)", None, None]
    verified = json.loads(run_cli("dev", "verify", "toy", "--json").stdout)[0]
    assert verified["ok"], verified["problems"]
    skills = {row["id"]: row for row in json.loads(run_cli("skills", "--json", cwd=ws).stdout)}
    assert skills["programming"]["unassessed_competencies"] == ["JavaScript/TypeScript", "SQL"]
    assert {"name": "Python (advanced)", "assessed_by": ["toy"]} in skills["programming"]["competencies"]


@pytest.mark.parametrize("edit", ["renamed", "repointed"])
def test_dev_verify_notices_a_skills_table_out_of_line(toy_data: Path, edit: str) -> None:
    lab_toml = toy_data / "labs" / "toy" / "lab.toml"
    if edit == "renamed":
        lab_toml.write_text(lab_toml.read_text().replace("ml-fundamentals = 1", "deep-learning = 1"))
    else:
        lab_toml.write_text(lab_toml.read_text().replace("programming = 2\nml-fundamentals = 1",
                                                         "programming = 1\nml-fundamentals = 2"))
    clear_caches()
    problems = declared_check_problems(get_lab("toy"))
    assert problems and all(p.startswith("graders/toy: ") for p in problems)

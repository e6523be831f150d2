"""The learner workflow through the real `workbench` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from labkit import TOY_SOLUTION


@pytest.fixture
def ws(toy_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    result = run_cli("init", str(root))
    assert result.returncode == 0, result.stderr
    return root


def test_full_learner_loop(ws: Path) -> None:
    labs = json.loads(run_cli("labs", "--json", cwd=ws).stdout)
    assert [(row["id"], row["status"]) for row in labs] == [("toy", "not started")]
    assert {"id", "title", "phase", "topic", "tags", "needs", "status"} <= set(labs[0])

    started = run_cli("start", "toy", cwd=ws)
    assert started.returncode == 0 and (ws / "toy" / "toy.py").is_file() and (ws / "toy" / "README.md").is_file()

    failing = run_cli("check", "--json", cwd=ws / "toy")  # lab inferred from the folder
    assert failing.returncode == 1
    result = json.loads(failing.stdout)
    assert result["status"] == "fail" and result["lab"] == "toy"

    hint = json.loads(run_cli("hint", "toy", "--json", cwd=ws).stdout)
    # the first failing check ('add() adds') names hint 2, so hint 2 comes first
    assert hint["new"] == 2 and hint["for_check"] == "add() adds"
    hint = json.loads(run_cli("hint", "--json", cwd=ws).stdout)
    assert hint["new"] == 1 and [h["index"] for h in hint["revealed"]] == [2, 1]

    refused = run_cli("solution", "toy", cwd=ws)
    assert refused.returncode == 1 and "after you pass" in refused.stderr

    (ws / "toy" / "toy.py").write_text(TOY_SOLUTION)
    passing = run_cli("check", "toy", cwd=ws)
    assert passing.returncode == 0 and "PASS toy" in passing.stdout

    solution = run_cli("solution", "toy", cwd=ws)
    assert solution.returncode == 0 and (ws / ".workbench" / "solutions" / "toy" / "toy.py").is_file()

    skills = {row["id"]: row for row in json.loads(run_cli("skills", "--json", cwd=ws).stdout)}
    # 2 hints revealed: credit 0.9^2 = 0.81
    assert [(e["lab"], e["credit"], e["attempted_points"]) for e in skills["programming"]["evidence"]] == [("toy", 0.81, 3.0)]
    assert skills["programming"]["proficiency"] == 81.0 and skills["programming"]["level"] == "advanced"
    assert skills["deep-learning"]["proficiency"] is None

    progress = json.loads(run_cli("progress", "--json", cwd=ws).stdout)
    row = progress["labs"][0]
    assert (row["status"], row["attempts"], row["hints"], row["solution_viewed"]) == ("passed", 2, 2, True)

    roadmap = json.loads(run_cli("roadmap", "--json", cwd=ws).stdout)
    assert roadmap["labs_passed"] == 1 and len(roadmap["phases"]) == 5


def test_reset_keeps_a_backup(ws: Path) -> None:
    run_cli("start", "toy", cwd=ws)
    (ws / "toy" / "toy.py").write_text("# my work\n")
    result = run_cli("reset", "toy", "--yes", cwd=ws)
    assert result.returncode == 0
    assert "return a - b" in (ws / "toy" / "toy.py").read_text()
    backups = list((ws / ".workbench" / "backups").glob("toy-*/toy.py"))
    assert len(backups) == 1 and backups[0].read_text() == "# my work\n"


def test_give_up_is_recorded_and_halves_credit(ws: Path) -> None:
    run_cli("start", "toy", cwd=ws)
    assert run_cli("solution", "toy", "--give-up", cwd=ws).returncode == 0
    (ws / "toy" / "toy.py").write_text(TOY_SOLUTION)
    run_cli("check", "toy", cwd=ws)
    skills = {row["id"]: row for row in json.loads(run_cli("skills", "--json", cwd=ws).stdout)}
    assert [(e["lab"], e["credit"]) for e in skills["programming"]["evidence"]] == [("toy", 0.5)]


def test_clear_errors(ws: Path, tmp_path: Path) -> None:
    outside = run_cli("check", "toy", cwd=tmp_path)
    assert outside.returncode == 2 and "not inside a workbench workspace" in outside.stderr
    assert "workbench init" in outside.stderr and "Traceback" not in outside.stderr
    unknown = run_cli("start", "tyo", cwd=ws)
    assert unknown.returncode == 2 and "unknown lab 'tyo'" in unknown.stderr and "did you mean 'toy'" in unknown.stderr
    not_started = run_cli("check", "toy", cwd=ws)
    assert not_started.returncode == 2 and "workbench start toy" in not_started.stderr


def test_broken_lab_toml_exits_2_naming_file_key_line(ws: Path, toy_data: Path) -> None:
    path = toy_data / "labs" / "toy" / "lab.toml"
    path.write_text(path.read_text().replace("level = 1", "level = 1\nlevle = 2"))
    result = run_cli("labs", cwd=ws)
    assert result.returncode == 2
    assert f"{path}:" in result.stderr and "key 'levle'" in result.stderr and "unknown key" in result.stderr


def test_help_and_version() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "check" in result.stdout and "roadmap" in result.stdout
    assert run_cli("--version").stdout.startswith("workbench ")

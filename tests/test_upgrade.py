"""Lab versions and progress migration: a grader change keeps the old attempts, marked with their
version; skills use the newest version's evidence; `workbench upgrade` re-grades without loss or
double counting; a schema-1 progress store is migrated in place."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import run_cli
from labkit import TOY_SOLUTION, clear_caches

from workbench.core.progress import ProgressStore
from workbench.core.results import CheckResult, GradeResult

# v2 of the toy grader: 'greet() greets by name' is gone, 'add() handles negatives' is new, and
# 'add() adds' is worth 3 points instead of 2.
TOY_GRADER_V2 = '''\
import pytest


@pytest.mark.check(skill="programming", points=3, hint=2)
def test_add(learner):
    """add() adds"""
    assert learner.add(2, 2) == 4


@pytest.mark.check(skill="programming", points=2)
def test_negatives(learner):
    """add() handles negatives"""
    assert learner.add(-2, -3) == -5


@pytest.mark.check(skill="ml-fundamentals", points=1, hint=1)
def test_work(learner):
    """work() finishes"""
    assert learner.work() == "done"
'''


def _skills(ws: Path) -> dict[str, dict]:
    result = run_cli("skills", "--json", cwd=ws)
    assert result.returncode == 0, result.stderr
    return {row["id"]: row for row in json.loads(result.stdout)}


def test_upgrade_across_a_grader_change_loses_nothing_and_counts_nothing_twice(toy_data: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    assert run_cli("start", "toy", cwd=ws).returncode == 0
    # v1: add() and greet() pass, work() does not -> programming 3/3, ml-fundamentals 0/1
    (ws / "toy" / "toy.py").write_text(TOY_SOLUTION.replace('return "done"', 'return "todo"'))
    assert run_cli("check", "toy", cwd=ws).returncode == 0
    before = _skills(ws)
    assert before["programming"]["proficiency"] == 100.0 and before["ml-fundamentals"]["proficiency"] == 0.0
    assert not before["programming"]["evidence"][0]["older_version"]

    lab_toml = toy_data / "labs" / "toy" / "lab.toml"
    lab_toml.write_text(lab_toml.read_text().replace('id = "toy"', 'id = "toy"\nversion = 2'))
    (toy_data / "graders" / "toy" / "test_toy.py").write_text(TOY_GRADER_V2)
    clear_caches()

    # before the upgrade: the v1 evidence still counts, flagged, scaled by v1's own checks
    stale = _skills(ws)
    assert stale["programming"]["proficiency"] == 100.0 and stale["programming"]["evidence"][0]["older_version"]
    assert stale["programming"]["evidence_volume"]["attempted_points"] == 3.0  # v1's checks, not v2's
    listed = run_cli("upgrade", "--dry-run", "--json", cwd=ws)
    assert json.loads(listed.stdout) == [{"lab": "toy", "version": 2}]
    text = run_cli("skills", cwd=ws).stdout
    assert "older version" in text and "workbench upgrade" in text

    # re-grade the same files under v2: add() is right (also for negatives), work() still fails
    upgraded = run_cli("upgrade", "--json", cwd=ws)
    assert upgraded.returncode == 0, upgraded.stderr
    [outcome] = json.loads(upgraded.stdout)
    assert (outcome["lab"], outcome["from_version"], outcome["to_version"], outcome["status"]) == ("toy", 1, 2, "pass")

    after = _skills(ws)
    programming = after["programming"]
    assert not programming["evidence"][0]["older_version"]
    # exactly v2's programming checks: add (3) + negatives (2); greet's old point is not added on top
    assert programming["evidence_volume"] == {**programming["evidence_volume"], "attempted_points": 5.0,
                                              "offered_points": 5.0, "earned_points": 5.0}
    assert programming["proficiency"] == 100.0 and after["ml-fundamentals"]["proficiency"] == 0.0
    assert json.loads(run_cli("upgrade", "--dry-run", "--json", cwd=ws).stdout) == []

    store = ProgressStore(ws / ".workbench" / "progress.db")
    assert store.versions_graded() == {"toy": {1: 1, 2: 1}}  # the v1 attempt is kept, marked v1
    rows = store._conn.execute(
        "SELECT a.lab_version, c.name, c.points, c.max_points FROM check_results c JOIN attempts a ON a.id = c.attempt_id"
        " ORDER BY a.id, c.task_id").fetchall()
    assert [tuple(r) for r in rows] == [
        (1, "add() adds", 2.0, 2.0), (1, "greet() greets by name", 1.0, 1.0), (1, "work() finishes", 0.0, 1.0),
        (2, "add() adds", 3.0, 3.0), (2, "add() handles negatives", 2.0, 2.0), (2, "work() finishes", 0.0, 1.0)]
    history = json.loads(run_cli("progress", "--json", cwd=ws).stdout)["labs"][0]
    assert history["attempts"] == 2


def test_newest_version_evidence_wins_even_when_it_scores_lower(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path / "p.db")
    store.record_attempt(_result([("a", 2.0, 2.0)], "1" * 64), lab_version=1)
    store.record_attempt(_result([("a", 0.0, 2.0), ("b", 1.0, 1.0)], "2" * 64), lab_version=2)
    [evidence] = store.evidence({"toy": (2, "2" * 64)}).values()
    assert evidence.version == 2 and not evidence.older_version
    assert {name: c.points for name, c in evidence.checks.items()} == {"a": 0.0, "b": 1.0}
    [older] = store.evidence({"toy": (3, "3" * 64)}).values()
    assert older.version == 2 and older.older_version  # the newest of the older versions


def test_a_grader_changed_without_a_version_bump_does_not_mix_results(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path / "p.db")
    store.record_attempt(_result([("a", 2.0, 2.0)], "1" * 64), lab_version=1)
    [evidence] = store.evidence({"toy": (1, "9" * 64)}).values()  # same version label, other grader
    assert evidence.older_version and evidence.version == 1 and evidence.checks["a"].points == 2.0
    store.record_attempt(_result([("b", 0.0, 1.0)], "9" * 64), lab_version=1)
    [evidence] = store.evidence({"toy": (1, "9" * 64)}).values()
    assert not evidence.older_version and list(evidence.checks) == ["b"]


SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE labs_started (lab_id TEXT PRIMARY KEY, started_at TEXT NOT NULL);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY, lab_id TEXT NOT NULL, started_at TEXT NOT NULL, duration_s REAL NOT NULL,
    status TEXT NOT NULL, score REAL NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
    grader_sha256 TEXT NOT NULL, trusted INTEGER NOT NULL, result_json TEXT NOT NULL);
CREATE TABLE check_results (
    attempt_id INTEGER NOT NULL REFERENCES attempts (id), lab_id TEXT NOT NULL, task_id INTEGER NOT NULL,
    name TEXT NOT NULL, status TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
    skill TEXT NOT NULL, hint INTEGER, message TEXT, metrics_json TEXT NOT NULL, duration_s REAL NOT NULL,
    recorded_at TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO attempts VALUES (1, 'toy', '2026-01-01T00:00:00+00:00', 1.0, 'pass', 1.0, 2.0, 2.0, '{sha}', 1, '{{}}');
INSERT INTO check_results VALUES (1, 'toy', 1, 'a', 'pass', 2.0, 2.0, 'programming', NULL, NULL, '{{}}', 0.1,
                                  '2026-01-01T00:00:05+00:00');
"""


def test_a_schema_1_store_is_migrated_in_place_without_loss(tmp_path: Path) -> None:
    db = tmp_path / "progress.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA_1.format(sha="a" * 64))
    store = ProgressStore(db)
    assert store.schema_version() == 2 and store.integrity_ok()
    [attempt] = store.attempts()
    assert attempt["lab_version"] is None and attempt["status"] == "pass"
    # no recorded version: the installed version when the grader hash matches, else older
    [same] = store.evidence({"toy": (1, "a" * 64)}).values()
    assert not same.older_version and same.checks["a"].points == 2.0
    assert same.checks["a"].recorded_at == "2026-01-01T00:00:05+00:00"
    [changed] = store.evidence({"toy": (2, "b" * 64)}).values()
    assert changed.older_version and changed.version is None and changed.checks["a"].points == 2.0
    store.record_attempt(_result([("a", 1.0, 2.0)], "b" * 64), lab_version=2)
    store.close()
    reopened = ProgressStore(db)
    assert [a["lab_version"] for a in reopened.attempts()] == [None, 2]


def _result(checks: list[tuple[str, float, float]], grader_sha256: str) -> GradeResult:
    tests = [CheckResult(task_id=i, name=name, status="pass" if points >= cap else "fail", points=points, max_points=cap,
                         skill="programming") for i, (name, points, cap) in enumerate(checks, start=1)]
    return GradeResult(lab="toy", status="pass", message=None, tests=tests, pass_mark=0.5, grader_sha256=grader_sha256,
                       grader_files={}, workbench_version="0", started_at="2026-02-01T00:00:00+00:00", duration_s=0.1)

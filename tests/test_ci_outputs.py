"""Outputs CI systems read: `workbench check --junit-xml FILE` (read back with junitparser) and
`workbench check --all` (a summary table and an exit code over every started lab)."""

from __future__ import annotations

import json
from pathlib import Path

import junitparser
import pytest
from conftest import run_cli
from labkit import TOY_SOLUTION, clear_caches, make_data_dir

from workbench.core.junit import junit_xml
from workbench.core.results import CheckResult, GradeResult


@pytest.fixture
def two_labs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = make_data_dir(tmp_path / "data", ("toy", "toy-two"))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data))
    clear_caches()
    yield data
    clear_caches()


def _properties(element) -> dict[str, str]:
    found = element.child(junitparser.Properties)
    return {p.name: p.value for p in found} if found is not None else {}


def test_check_all_grades_every_started_lab_and_writes_junit(two_labs: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    for lab_id in ("toy", "toy-two"):
        assert run_cli("start", lab_id, cwd=ws).returncode == 0
    (ws / "toy" / "toy.py").write_text(TOY_SOLUTION)  # toy passes, toy-two keeps the failing starter
    out = tmp_path / "reports" / "junit.xml"
    result = run_cli("check", "--all", "--junit-xml", str(out), cwd=ws)
    assert result.returncode == 1, result.stdout + result.stderr  # one lab fails: CI goes red
    assert "workbench check --all" in result.stdout and "1/2 labs pass" in result.stdout
    assert "PASS toy:" in result.stdout and "FAIL toy-two:" in result.stdout

    xml = junitparser.JUnitXml.fromfile(str(out))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["toy", "toy-two"]
    assert (xml.tests, xml.failures, xml.errors) == (6, 2, 0)
    toy, two = suites["toy"], suites["toy-two"]
    assert (toy.tests, toy.failures, two.tests, two.failures) == (3, 0, 3, 2)
    assert _properties(toy)["status"] == "pass" and _properties(two)["score"] == "0.25"
    assert _properties(toy)["lab_version"] == "1" and len(_properties(toy)["grader_sha256"]) == 64
    cases = {case.name: case for case in two}
    assert set(cases) == {"add() adds", "greet() greets by name", "work() finishes"}
    add = cases["add() adds"]
    assert add.classname == "workbench.toy-two" and not add.is_passed
    [failure] = add.result
    assert isinstance(failure, junitparser.Failure) and "needs 4" in failure.message
    assert _properties(add) == {"task_id": "1", "points": "0", "max_points": "2", "skill": "programming",
                                "required": "false", "hint": "2", "metric.add_2_2": "0"}
    assert cases["greet() greets by name"].is_passed and _properties(cases["work() finishes"])["skill"] == "ml-fundamentals"

    everything = json.loads(run_cli("check", "--all", "--json", cwd=ws).stdout)
    assert [r["lab"] for r in everything] == ["toy", "toy-two"]
    (ws / "toy-two" / "toy.py").write_text(TOY_SOLUTION)
    assert run_cli("check", "--all", cwd=ws).returncode == 0


def test_check_all_without_started_labs_and_bad_combinations(two_labs: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    none = run_cli("check", "--all", cwd=ws)
    assert none.returncode == 2 and "no lab is started" in none.stderr
    both = run_cli("check", "toy", "--all", cwd=ws)
    assert both.returncode == 2 and "not both" in both.stderr
    watch = run_cli("check", "--watch", "--junit-xml", "x.xml", cwd=ws)
    assert watch.returncode == 2 and "--watch cannot be combined" in watch.stderr


def test_a_lab_that_could_not_be_graded_is_an_error_case_not_an_empty_suite(tmp_path: Path) -> None:
    broken = GradeResult(lab="toy", status="error", message="grader crashed: SyntaxError", tests=[], pass_mark=0.8,
                         grader_sha256="0" * 64, grader_files={}, workbench_version="0",
                         started_at="2026-03-01T10:00:00+01:00", duration_s=0.5)
    fine = GradeResult(lab="other", status="pass", message=None, pass_mark=0.8, grader_sha256="1" * 64, grader_files={},
                       workbench_version="0", started_at="2026-03-01T10:00:00+00:00", duration_s=1.0, tests=[
                           CheckResult(task_id=1, name='quotes "<&>" survive', status="pass", points=1, max_points=1,
                                       skill="programming", competency="Python (advanced)", output="printed")])
    path = tmp_path / "junit.xml"
    path.write_bytes(junit_xml([broken, fine]))
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    [case] = list(suites["toy"])
    assert case.name == "grading" and isinstance(case.result[0], junitparser.Error)
    assert case.result[0].message == "grader crashed: SyntaxError"
    assert suites["toy"].timestamp == "2026-03-01T09:00:00" and xml.errors == 1
    [quoted] = list(suites["other"])
    assert quoted.name == 'quotes "<&>" survive' and quoted.is_passed and quoted.system_out == "printed"
    assert _properties(quoted)["competency"] == "Python (advanced)"

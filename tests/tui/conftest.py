"""Fixtures for the TUI tests: a tiny self-contained lab set (WORKBENCH_DATA_DIR), a
workspace, and an app factory. Nothing here depends on the shipped labs."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

GREET_STARTER = '''"""Say hello."""


def greet(name: str) -> str:
    """'Hello, NAME!'"""
    return ""


def shout(name: str) -> str:
    """The greeting in capitals."""
    return ""
'''

GREET_SOLUTION = '''"""Say hello."""


def greet(name: str) -> str:
    """'Hello, NAME!'"""
    return f"Hello, {name}!"


def shout(name: str) -> str:
    """The greeting in capitals."""
    return greet(name).upper()
'''

GREET_GRADER = '''import time

import pytest


@pytest.mark.check(skill="programming", points=2, hint=1)
def test_greets_by_name(learner, record_metric):
    """greet() says hello by name"""
    got = learner.greet("Ada")
    record_metric("length", len(got))
    assert got == "Hello, Ada!", f"greet('Ada') returned {got!r}; expected 'Hello, Ada!'"


@pytest.mark.check(skill="programming", points=1, hint=2)
def test_shouts(learner):
    """shout() upper-cases the greeting"""
    time.sleep(0.4)  # keeps the run open, so results are seen arriving before it ends
    assert learner.shout("Ada") == "HELLO, ADA!", "shout('Ada') should be 'HELLO, ADA!'"
'''

MEAN_GRADER = '''import pytest


@pytest.mark.check(skill="ml-fundamentals", points=1, hint=1)
def test_mean(learner):
    """mean() of [1, 2, 3] is 2"""
    assert learner.mean([1, 2, 3]) == 2
'''

LAB_TOML = '''format_version = 1
id = "{id}"
title = "{title}"
summary = "{summary}"
tags = ["foundations"]
phase = "foundations"
month = {month}
topic = "{topic}"
level = 1
estimated_minutes = {minutes}
files = ["{file}"]
pass_mark = 0.8

[skills]
{skill} = 2

[limits]
timeout_s = 60

[[hints]]
text = "{hint1}"

[[hints]]
text = "{hint2}"
'''

TOPIC_LABS = {"advanced-python": ["greet-lab"], "ml-fundamentals": ["mean-lab"]}


def _write_lab(data: Path, lab_id: str, fields: dict[str, str], starter: str, solution: str, grader: str) -> None:
    lab_dir = data / "labs" / lab_id
    (lab_dir / "starter").mkdir(parents=True)
    (lab_dir / "solution").mkdir()
    (lab_dir / "lab.toml").write_text(LAB_TOML.format(id=lab_id, **fields))
    (lab_dir / "README.md").write_text(f"# {fields['title']}\n\n{fields['summary']}\n\n## What to build\n\n"
                                       f"Edit `{fields['file']}` until every check passes.\n")
    (lab_dir / "starter" / fields["file"]).write_text(starter)
    (lab_dir / "solution" / fields["file"]).write_text(solution)
    (data / "graders" / lab_id).mkdir(parents=True)
    (data / "graders" / lab_id / f"test_{lab_id.replace('-', '_')}.py").write_text(grader)


def _curriculum_with_test_labs(text: str) -> str:
    """The shipped curriculum with every topic's labs replaced by the test labs."""
    lines, topic = [], None
    for line in text.splitlines():
        match = re.match(r'\s*id\s*=\s*"([^"]+)"', line)
        if match:
            topic = match.group(1)
        if re.match(r"\s*labs\s*=", line):
            indent = line[: len(line) - len(line.lstrip())]
            line = f"{indent}labs = {TOPIC_LABS.get(topic, [])!r}".replace("'", '"')
        lines.append(line)
    return "\n".join(lines) + "\n"


def clear_core_caches() -> None:
    """The core caches data paths and parsed files; tests switch data dirs."""
    from workbench.core import curriculum, labs, resources, skills

    for cached in (resources.data_root, labs.load_labs, curriculum.load_curriculum, skills.load_skill_matrix):
        cached.cache_clear()


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio (async tests run through anyio's pytest plugin)."""
    return "asyncio"


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """labs/, graders/ and curricula/ holding two tiny labs: greet-lab (graded in the tests)
    and mean-lab."""
    data = tmp_path_factory.mktemp("data")
    shutil.copytree(REPO / "curricula", data / "curricula")
    main = data / "curricula" / "ai-engineer-2026.toml"
    main.write_text(_curriculum_with_test_labs(main.read_text()))
    _write_lab(data, "greet-lab", {
        "title": "Greetings", "summary": "Write greet() and shout().", "month": "1", "topic": "advanced-python",
        "minutes": "10", "file": "greet.py", "skill": "programming",
        "hint1": "Use an f-string: f'Hello, {name}!'", "hint2": "shout() can call greet() and .upper() it."},
        GREET_STARTER, GREET_SOLUTION, GREET_GRADER)
    _write_lab(data, "mean-lab", {
        "title": "Average of a list", "summary": "Write mean().", "month": "2", "topic": "ml-fundamentals",
        "minutes": "15", "file": "stats.py", "skill": "ml-fundamentals",
        "hint1": "sum() and len().", "hint2": "return sum(xs) / len(xs)"},
        "def mean(xs):\n    return 0\n", "def mean(xs):\n    return sum(xs) / len(xs)\n", MEAN_GRADER)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    clear_core_caches()
    yield data
    clear_core_caches()


@pytest.fixture
def tui_workspace(data_dir: Path, isolated_home: Path):
    """A fresh workspace at ~/ai-labs (so paths show as ~/ai-labs/... everywhere)."""
    from workbench.core.workspace import init_workspace

    workspace, _ = init_workspace(isolated_home / "ai-labs")
    return workspace


@pytest.fixture
def make_app() -> Callable:
    """App factory: WorkbenchApp(workspace=...) without looking around the file system."""
    from workbench.tui.app import WorkbenchApp

    def make(workspace=None, open_lab: str | None = None) -> WorkbenchApp:
        return WorkbenchApp(workspace=workspace, open_lab=open_lab, discover=False)

    return make


async def wait_for(pilot, condition: Callable[[], bool], timeout_s: float = 20.0, step_s: float = 0.05) -> None:
    """Let the app run until `condition()` holds; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await pilot.pause(step_s)


def fake_result(lab_id: str = "greet-lab", greet_points: float = 2.0, shout_points: float = 0.0):
    """A stored-result-shaped GradeResult for greet-lab (no grading needed)."""
    from workbench.core.results import CheckResult, GradeResult

    tests = [
        CheckResult(task_id=1, name="greet() says hello by name", status="pass" if greet_points == 2 else "fail",
                    skill="programming", points=greet_points, max_points=2.0, hint=1, metrics={"length": 11}),
        CheckResult(task_id=2, name="shout() upper-cases the greeting", status="pass" if shout_points == 1 else "fail",
                    skill="programming", points=shout_points, max_points=1.0, hint=2,
                    message=None if shout_points == 1 else "shout('Ada') should be 'HELLO, ADA!'"),
    ]
    passed = greet_points + shout_points >= 2.4
    from workbench.core.labs import get_lab

    return GradeResult(lab=lab_id, status="pass" if passed else "fail", message=None, tests=tests, pass_mark=0.8,
                       grader_sha256=get_lab(lab_id).grader_sha256(), grader_files={}, workbench_version="test",
                       started_at="2026-01-01T00:00:00+00:00", duration_s=1.0)

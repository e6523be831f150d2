"""The grading engine against hostile or broken learner code: every run finishes with a result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labkit import TOY_SOLUTION, clear_caches, make_data_dir, write

from workbench.core.grading import grade
from workbench.core.labs import get_lab


@pytest.fixture
def lab_dir(toy_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "ws" / "toy"
    folder.mkdir(parents=True)
    (folder / "toy.py").write_text(TOY_SOLUTION)
    return folder


def _grade(lab_dir: Path, events: list | None = None):
    return grade(get_lab("toy"), lab_dir, workspace_root=lab_dir.parent,
                 on_event=events.append if events is not None else None)


def test_solution_passes_with_streamed_events(lab_dir: Path) -> None:
    events: list[dict] = []
    result = _grade(lab_dir, events)
    assert result.status == "pass" and result.score == 1.0
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["started", "collected"]
    assert kinds.count("check") == 3 and kinds[-1] == "result"
    assert kinds.index("check_started") < kinds.index("check")
    data = result.to_dict()
    # Exercism results.json v3 keys, plus ours
    assert data["version"] == 3 and data["status"] == "pass"
    for test in data["tests"]:
        assert {"name", "status", "message", "output", "task_id", "points", "skill", "metrics", "duration_s"} <= set(test)
    assert data["tests"][0]["metrics"] == {"add_2_2": 4}
    assert data["grader_sha256"] == get_lab("toy").grader_sha256()
    assert set(data["grader_files"]) == {"test_toy.py"}
    json.dumps(data)


def test_partial_credit_and_pass_mark(lab_dir: Path) -> None:
    (lab_dir / "toy.py").write_text(TOY_SOLUTION.replace('return "done"', 'return "todo"'))
    result = _grade(lab_dir)
    assert (result.points, result.max_points, result.score) == (3, 4, 0.75)
    assert result.status == "pass"  # pass mark 0.75
    (lab_dir / "toy.py").write_text(TOY_SOLUTION.replace("a + b", "a - b"))
    result = _grade(lab_dir)
    assert result.status == "fail" and result.score == 0.5
    failing = next(t for t in result.tests if t.status == "fail")
    assert failing.message == "add(2, 2) returned 0, needs 4" and failing.hint == 2


def test_infinite_loop_times_out_and_grading_finishes(lab_dir: Path) -> None:
    write(lab_dir / "toy.py", TOY_SOLUTION.replace('return "done"', "while True:\n        pass"))
    result = _grade(lab_dir)
    work = next(t for t in result.tests if t.name == "work() finishes")
    assert work.status == "fail" and work.message.startswith("timed out after 10 s")
    assert [t.status for t in result.tests if t is not work] == ["pass", "pass"]


def test_whole_run_time_limit_kills_c_level_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_data_dir(tmp_path / "data", timeout_s=4, check_timeout_s=60)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data))
    clear_caches()
    folder = tmp_path / "toy"
    folder.mkdir()
    write(folder / "toy.py", TOY_SOLUTION.replace('return "done"', "import time\n    time.sleep(60)"))
    result = grade(get_lab("toy"), folder)
    assert result.duration_s < 30
    work = next(t for t in result.tests if t.name == "work() finishes")
    assert work.status == "error" and "timed out after 4 s" in work.message
    assert result.status == "error" and "timed out" in result.message
    assert result.points == 3  # the checks that finished still count
    clear_caches()


def test_unbounded_allocation_hits_memory_limit(lab_dir: Path) -> None:
    write(lab_dir / "toy.py", TOY_SOLUTION.replace('return "done"', "return bytearray(8 * 1024**3)"))
    work = next(t for t in _grade(lab_dir).tests if t.name == "work() finishes")
    assert work.message == "memory limit exceeded (1024 MB allowed)"


def test_sys_exit_is_a_failed_check(lab_dir: Path) -> None:
    write(lab_dir / "toy.py", TOY_SOLUTION.replace('return "done"', "import sys\n    sys.exit(3)"))
    result = _grade(lab_dir)
    work = next(t for t in result.tests if t.name == "work() finishes")
    assert work.status == "fail" and "sys.exit(3)" in work.message
    assert result.points == 3


@pytest.mark.parametrize(("code", "expected"), [
    ("import ctypes\n    ctypes.string_at(0)", "crashed (SIGSEGV)"),
    ("import os\n    os._exit(7)", "exit code 7"),
])
def test_crash_fails_the_running_check_and_the_rest_still_run(lab_dir: Path, code: str, expected: str) -> None:
    write(lab_dir / "toy.py", TOY_SOLUTION.replace("return a + b", code))
    result = _grade(lab_dir)
    first = result.tests[0]
    assert first.status == "fail" and expected in first.message
    assert [t.status for t in result.tests[1:]] == ["pass", "pass"]  # a fresh worker answers the next checks


def test_syntax_error_fails_every_check_with_the_line(lab_dir: Path) -> None:
    (lab_dir / "toy.py").write_text("def add(a, b)\n    return a + b\n")
    result = _grade(lab_dir)
    assert result.score == 0
    assert all("SyntaxError" in t.message and "line 1" in t.message for t in result.tests)


def test_writes_outside_the_lab_folder_fail_and_change_nothing(lab_dir: Path) -> None:
    victim = lab_dir.parent / "notes.txt"
    victim.write_text("mine")
    write(lab_dir / "toy.py", TOY_SOLUTION.replace(
        'return "done"', f"open({str(victim)!r}, 'w').write('gone')\n    return 'done'"))
    result = _grade(lab_dir)
    work = next(t for t in result.tests if t.name == "work() finishes")
    if result.sandbox == "none":  # without the sandbox the write happens, and is reported
        assert result.status == "error" and "changed files outside its folder: notes.txt" in result.message
    else:
        assert victim.read_text() == "mine"
        assert work.status == "fail" and "Error" in work.message


def test_the_grader_cannot_be_changed(lab_dir: Path, toy_data: Path) -> None:
    grader = toy_data / "graders" / "toy" / "test_toy.py"
    before = grader.read_text()
    write(lab_dir / "toy.py", TOY_SOLUTION.replace(
        'return "done"', f"open({str(grader)!r}, 'a').write('# edited')\n    return 'done'"))
    result = _grade(lab_dir)
    if result.sandbox == "none":
        assert result.status == "error" and "grader files changed during grading: test_toy.py" in result.message
    else:
        work = next(t for t in result.tests if t.name == "work() finishes")
        assert grader.read_text() == before and work.status == "fail" and "Error" in work.message


@pytest.mark.skipif(__import__("workbench.core.sandbox").core.sandbox.sandbox_kind() == "none",
                    reason="without the kernel sandbox nothing blocks the network (results say sandbox: none)")
def test_network_outside_loopback_is_blocked(lab_dir: Path) -> None:
    write(lab_dir / "toy.py", TOY_SOLUTION.replace(
        'return "done"', "import socket\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n    return 'done'"))
    work = next(t for t in _grade(lab_dir).tests if t.name == "work() finishes")
    assert work.status == "fail" and "Network is unreachable" in work.message


def test_environment_is_scrubbed(lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    write(lab_dir / "toy.py", TOY_SOLUTION.replace(
        'return "done"', "import os\n    return 'done' if 'SECRET_TOKEN' not in os.environ else 'leaked'"))
    assert _grade(lab_dir).score == 1.0

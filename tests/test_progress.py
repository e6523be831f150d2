"""The progress store survives SIGKILL at any moment: consistent, and no earlier result lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from labkit import TOY_SOLUTION, write

from workbench.core.progress import ProgressStore
from workbench.core.results import CheckResult, GradeResult

WRITER = r'''
import sys
from workbench.core.progress import ProgressStore
from workbench.core.results import CheckResult, GradeResult
store = ProgressStore(__import__("pathlib").Path(sys.argv[1]))
for n in range(100000):
    tests = [CheckResult(task_id=i, name=f"check {i}", status="pass", points=1, max_points=1, skill="programming",
                         output="x" * 20000) for i in range(1, 4)]
    result = GradeResult(lab="toy", status="pass", message=None, tests=tests, pass_mark=0.8, grader_sha256="0" * 64,
                         grader_files={}, workbench_version="0", started_at=f"2026-01-01T00:00:{n % 60:02d}+00:00",
                         duration_s=0.1)
    store.record_attempt(result)
    print(n + 1, flush=True)
'''


def _result(points: float) -> GradeResult:
    tests = [CheckResult(task_id=1, name="a", status="pass" if points else "fail", points=points, max_points=2,
                         skill="programming")]
    return GradeResult(lab="toy", status="pass" if points else "fail", message=None, tests=tests, pass_mark=0.5,
                       grader_sha256="0" * 64, grader_files={}, workbench_version="0",
                       started_at="2026-01-01T00:00:00+00:00", duration_s=0.1)


def test_best_result_per_check_is_kept(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path / "p.db")
    store.record_attempt(_result(2))
    store.record_attempt(_result(0))
    assert store.best_checks("toy")["a"]["points"] == 2
    assert store.lab_summary()["toy"]["attempts"] == 2 and store.lab_summary()["toy"]["passed"]
    untrusted = _result(2)
    untrusted.warnings = ["grader files changed"]
    store.record_attempt(untrusted)
    assert store.lab_summary()["toy"]["attempts"] == 3


def test_sigkill_during_writes_leaves_store_consistent(tmp_path: Path) -> None:
    db = tmp_path / "progress.db"
    ProgressStore(db).close()
    rng = random.Random(7)
    acknowledged = 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # at least one write of this round committed
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        lines = [line for line in out.split() if line.strip()]
        round_acknowledged = int(lines[-1]) if lines else 1
        store = ProgressStore(db)
        assert store.integrity_ok()
        attempts = store.lab_summary()["toy"]["attempts"]
        checks = store._conn.execute("SELECT COUNT(*) FROM check_results").fetchone()[0]
        assert acknowledged + round_acknowledged <= attempts <= acknowledged + round_acknowledged + 1
        assert checks == 3 * attempts  # never an attempt without its checks
        acknowledged = attempts
        store.close()


def test_killing_check_mid_grade_loses_no_earlier_result(toy_data: Path, tmp_path: Path) -> None:
    from conftest import run_cli

    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    assert run_cli("start", "toy", cwd=ws).returncode == 0
    (ws / "toy" / "toy.py").write_text(TOY_SOLUTION)
    assert run_cli("check", "toy", cwd=ws).returncode == 0
    write(ws / "toy" / "toy.py", TOY_SOLUTION.replace('return "done"', "import time\n    time.sleep(5)\n    return 'done'"))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "check", "toy"], cwd=ws, stdout=subprocess.PIPE,
                            text=True, env={**os.environ})
    for line in proc.stdout:
        if "greet" in line:  # two checks finished, the third is running
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = ProgressStore(ws / ".workbench" / "progress.db")
    assert store.integrity_ok()
    summary = store.lab_summary()["toy"]
    assert summary["attempts"] == 1 and summary["passed"] and summary["best_score"] == 1.0

"""Watch mode re-grades after a save, debounced, and keeps going across errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from labkit import TOY_SOLUTION

from workbench.core.labs import get_lab
from workbench.core.watch import relevant_change, watch_lab


def test_relevant_change_filter() -> None:
    assert relevant_change("/w/toy/toy.py")
    assert not relevant_change("/w/toy/__pycache__/toy.cpython-311.pyc")
    assert not relevant_change("/w/toy/.toy.py.swp")


def test_watch_regrades_on_save_and_survives_errors(toy_data: Path, workspace) -> None:
    lab = get_lab("toy")
    workspace.start(lab)
    results, errors = [], []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_lab, kwargs=dict(
        workspace=workspace, lab=lab, on_result=results.append, on_error=errors.append, stop=stop), daemon=True)
    watcher.start()
    try:
        _wait_for(lambda: len(results) == 1)
        assert results[0].status == "fail"
        (workspace.lab_dir("toy") / "toy.py").write_text(TOY_SOLUTION)
        _wait_for(lambda: len(results) == 2)
        assert results[1].status == "pass"
        # a broken file is a failed grade, and watching continues
        (workspace.lab_dir("toy") / "toy.py").write_text("def add(:\n")
        _wait_for(lambda: len(results) == 3)
        assert results[2].score == 0
        assert watcher.is_alive() and not errors
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert not watcher.is_alive()


def _wait_for(condition, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)

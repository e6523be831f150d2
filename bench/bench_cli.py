"""Foundation figures: `--help` start-up, `check` overhead vs bare pytest, watch latency."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PILOT_LABS = ("python-async", "logreg-numpy", "backprop-numpy")


def _time(cmd: list[str], repeat: int, **kwargs) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        times.append(time.perf_counter() - started)
    return times


def _help_figures() -> dict:
    workbench = [sys.executable, "-m", "workbench", "--help"]
    bare = [sys.executable, "-c", "pass"]
    _time(workbench, 2)
    help_s = statistics.median(_time(workbench, 10))
    bare_s = statistics.median(_time(bare, 10))
    return {"help_median_ms": round(help_s * 1000, 1), "python_pass_median_ms": round(bare_s * 1000, 1),
            "help_ratio_to_python_pass": round(help_s / bare_s, 2)}


def _check_vs_pytest(lab_id: str, root: Path) -> dict:
    from workbench.core.labs import get_lab
    from workbench.core.workspace import init_workspace

    lab = get_lab(lab_id)
    workspace, _ = init_workspace(root / f"ws-{lab_id}")
    workspace.start(lab)
    for name in lab.spec.files:
        shutil.copy2(lab.solution_dir / name, workspace.lab_dir(lab_id) / name)
    check_cmd = [sys.executable, "-m", "workbench", "check", lab_id]
    env = {**os.environ, "WORKBENCH_LAB_DIR": str(workspace.lab_dir(lab_id)), "WORKBENCH_LAB_MODULE": lab.main_module,
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "workbench.grader_plugin", "-p", "no:cacheprovider",
                  *map(str, lab.grader_tests())]
    check_times, pytest_times = [], []
    for _ in range(5):  # interleaved so drift on a shared machine hits both alike
        check_times += _time(check_cmd, 1, cwd=workspace.root)
        pytest_times += _time(pytest_cmd, 1, cwd=root, env=env)
    check_s, pytest_s = statistics.median(check_times), statistics.median(pytest_times)
    return {"check_median_s": round(check_s, 3), "bare_pytest_median_s": round(pytest_s, 3),
            "ratio": round(check_s / pytest_s, 3)}


def _watch_latency(root: Path) -> dict:
    from workbench.core.labs import get_lab
    from workbench.core.watch import watch_lab
    from workbench.core.workspace import init_workspace

    lab = get_lab("python-async")
    workspace, _ = init_workspace(root / "ws-watch")
    workspace.start(lab)
    target = workspace.lab_dir(lab.id) / lab.spec.files[0]
    # the learner is editing a nearly finished lab: the solution, saved again and again
    shutil.copy2(lab.solution_dir / lab.spec.files[0], target)
    saved_at: list[float] = []
    latencies: list[float] = []
    results: list = []
    ready = threading.Event()

    def on_event(event: dict) -> None:
        if event["event"] == "check" and saved_at and len(latencies) < len(saved_at):
            latencies.append(time.perf_counter() - saved_at[-1])

    stop = threading.Event()
    thread = threading.Thread(target=watch_lab, kwargs=dict(
        workspace=workspace, lab=lab, on_event=on_event, on_result=lambda r: (results.append(r), ready.set()),
        stop=stop), daemon=True)
    thread.start()
    ready.wait(120)
    for round_number in range(5):
        ready.clear()
        time.sleep(0.5)
        saved_at.append(time.perf_counter())
        target.write_text(target.read_text() + f"\n# save {round_number}\n")
        ready.wait(120)
    stop.set()
    thread.join(10)
    return {"save_to_first_check_event_s": [round(x, 3) for x in latencies],
            "median_s": round(statistics.median(latencies), 3)}


def run() -> dict:
    figures: dict = {"help": _help_figures()}
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        root = Path(tmp)
        figures["check_vs_bare_pytest"] = {lab: _check_vs_pytest(lab, root) for lab in PILOT_LABS}
        figures["watch"] = _watch_latency(root)
    targets = {"workbench --help median <= 200 ms": figures["help"]["help_median_ms"] <= 200}
    for lab, row in figures["check_vs_bare_pytest"].items():
        targets[f"check {lab} / bare pytest <= 1.25"] = row["ratio"] <= 1.25
    targets["watch: save -> first check event <= 0.5 s (median)"] = figures["watch"]["median_s"] <= 0.5
    figures["targets"] = targets
    return figures

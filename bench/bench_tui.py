"""TUI speed: start-up to the first painted roadmap, and watch mode's save-to-first-result.

Start-up: the real `workbench` command (python -m workbench, a workspace set) runs in a
pseudo-terminal of 100x30 with WORKBENCH_TUI_PAINTED_FILE set; the app writes the wall time
once the roadmap has drawn its data, then exits. A bare Textual app that paints one Static
does the same. Each is timed from just before the process is spawned (so interpreter start
and imports count), interleaved, median of 10 after one warm-up each. Target: <= 1.5x bare.
Also reported, not targeted: the TUI started without the CLI in front (run_tui() directly),
which shows what the Typer layer adds.

Watch: the python-async pilot lab in a fresh workspace, driven headless through Textual's
Pilot: watch mode on, the first (starter) run finishes, then the reference solution is
saved; measured from the write to the moment the first check's result is on the lab screen
(the CheckResults widget has applied it). Three saves. Target: median <= 1 s.
"""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 10
STARTUP_RATIO_TARGET = 1.5
WATCH_TARGET_MS = 1000.0
WATCH_SAVES = 3

_BARE_APP = '''
import os, time
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("hello")

    def on_mount(self):
        self.call_after_refresh(self.painted)

    def painted(self):
        with open(os.environ["WORKBENCH_TUI_PAINTED_FILE"], "w") as marker:
            marker.write(f"{time.time():.6f}\\n")
        self.exit()

Bare().run()
'''


def _time_to_paint(command: list[str], env: dict[str, str], marker: Path, cwd: Path, timeout_s: float = 60.0) -> float:
    """Seconds from spawning `command` in a 100x30 pty to the time it wrote into `marker`."""
    marker.unlink(missing_ok=True)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    drained = threading.Event()

    def drain() -> None:
        while True:
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break
        drained.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    started = time.time()
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            start_new_session=True)
    os.close(slave)
    try:
        proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    if not marker.is_file():
        raise RuntimeError(f"{command} exited ({proc.returncode}) without painting")
    return float(marker.read_text().strip()) - started


def measure_startup(tmp: Path) -> dict:
    """Median start-to-paint of the workbench TUI and of a bare Textual app."""
    from workbench.core.workspace import init_workspace

    workspace, _ = init_workspace(tmp / "ws")
    bare_script = tmp / "bare_app.py"
    bare_script.write_text(_BARE_APP)
    marker = tmp / "painted"
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update(TERM="xterm-256color", WORKBENCH_TUI_PAINTED_FILE=str(marker), WORKBENCH_WORKSPACE=str(workspace.root),
               HOME=str(tmp / "home"))
    (tmp / "home").mkdir(exist_ok=True)
    commands = {"tui": [sys.executable, "-m", "workbench"], "bare": [sys.executable, str(bare_script)],
                "tui_without_cli": [sys.executable, "-c", "from workbench.tui import run_tui; run_tui()"]}
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        _time_to_paint(command, env, marker, tmp)  # warm-up: byte-code caches, file cache
    for _ in range(RUNS):
        for name, command in commands.items():
            seconds[name].append(_time_to_paint(command, env, marker, tmp))
    tui_ms = statistics.median(seconds["tui"]) * 1000
    bare_ms = statistics.median(seconds["bare"]) * 1000
    direct_ms = statistics.median(seconds["tui_without_cli"]) * 1000
    return {
        "startup_tui_ms_median": round(tui_ms, 1),
        "startup_bare_textual_ms_median": round(bare_ms, 1),
        "startup_ratio": round(tui_ms / bare_ms, 3),
        "startup_tui_without_cli_ms_median": round(direct_ms, 1),
        "startup_ratio_without_cli": round(direct_ms / bare_ms, 3),
        "startup_ratio_best_of_runs": round(min(seconds["tui"]) / min(seconds["bare"]), 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "startup_tui_ms_all": [round(s * 1000, 1) for s in seconds["tui"]],
        "startup_bare_textual_ms_all": [round(s * 1000, 1) for s in seconds["bare"]],
        "startup_runs": RUNS,
    }


async def _watch_latency(tmp: Path) -> dict:
    from workbench.core.labs import get_lab
    from workbench.core.workspace import init_workspace
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.widgets.check_results import CheckResults

    workspace, _ = init_workspace(tmp / "watch-ws")
    lab = get_lab("python-async")
    workspace.start(lab)
    learner_file = workspace.lab_dir(lab.id) / lab.spec.files[0]
    solution = (lab.solution_dir / lab.spec.files[0]).read_text()
    app = WorkbenchApp(workspace=workspace, open_lab=lab.id, discover=False)
    first_ms: list[float] = []
    full_ms: list[float] = []

    async def until(pilot, condition, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError("watch bench: timed out waiting for the lab screen")
            await pilot.pause(0.005)

    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: getattr(app.screen, "lab_id", None) == lab.id)
        screen = app.screen
        checks = screen.query_one(CheckResults)
        await pilot.press("w")
        await until(pilot, lambda: checks.runs_seen == 1 and checks.run_state == "done" and not screen.grading)
        for save in range(WATCH_SAVES):
            runs_before = checks.runs_seen
            saved = time.perf_counter()
            learner_file.write_text(solution + f"\n# save {save}\n")

            def first_result_shown(runs_before: int = runs_before) -> bool:
                return checks.runs_seen > runs_before and any(
                    c.get("status") in ("pass", "fail", "error") for c in checks.checks.values())

            await until(pilot, first_result_shown)
            first_ms.append((time.perf_counter() - saved) * 1000)
            await until(pilot, lambda: checks.run_state == "done" and not screen.grading)
            full_ms.append((time.perf_counter() - saved) * 1000)
        verdict = checks.verdict
        await pilot.press("w")
    return {
        "watch_save_to_first_result_ms_median": round(statistics.median(first_ms), 1),
        "watch_save_to_first_result_ms_all": [round(ms, 1) for ms in first_ms],
        "watch_save_to_full_result_ms_median": round(statistics.median(full_ms), 1),
        "watch_lab": "python-async",
        "watch_last_verdict": verdict,
    }


def measure_watch(tmp: Path) -> dict:
    """Save-to-first-result latency of watch mode on the python-async lab."""
    import asyncio

    return asyncio.run(_watch_latency(tmp))


def run() -> dict:
    """Both measurements, with their targets."""
    sys.path.insert(0, str(REPO))
    tmp = Path(tempfile.mkdtemp(prefix="workbench-bench-tui-"))
    try:
        figures = measure_startup(tmp)
        figures.update(measure_watch(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures["targets"] = {
        f"tui start-to-first-painted-roadmap <= {STARTUP_RATIO_TARGET}x bare Textual app":
            figures["startup_ratio"] <= STARTUP_RATIO_TARGET,
        f"watch save-to-first-result <= {WATCH_TARGET_MS:g} ms (python-async)":
            figures["watch_save_to_first_result_ms_median"] <= WATCH_TARGET_MS,
    }
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))

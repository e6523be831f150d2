"""The real `workbench` command in a real terminal (tmux): open, search, open a lab, start
it, run its checks, quit. Reads the screen with capture-pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One tmux server on a private socket, so the user's sessions are never touched."""

    def __init__(self, width: int = 100, height: int = 30) -> None:
        self.socket = f"workbench-test-{uuid.uuid4().hex[:8]}"
        self.size = (width, height)

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        exports = " ".join(f"{key}={value!s}" for key, value in env.items())
        self.run("new-session", "-d", "-s", "wb", "-x", str(self.size[0]), "-y", str(self.size[1]),
                 f"env -u COLUMNS -u LINES {exports} {command}; sleep 30")

    def keys(self, *keys: str) -> None:
        """Send keys, then pause like a person would (a key that moves focus takes effect
        on the app's next turn; characters sent in the same instant go to the old focus)."""
        self.run("send-keys", "-t", "wb", *keys)
        time.sleep(0.3)

    def screen(self) -> str:
        return self.run("capture-pane", "-t", "wb", "-p")

    def wait_for(self, text: str, timeout_s: float = 30.0, gone: bool = False) -> str:
        """The screen once `text` is on it (or, with gone=True, once it is not)."""
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if (text in screen) != gone:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} {'still' if gone else 'not'} on screen after {timeout_s} s:\n{screen}")
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def test_real_workbench_under_tmux(tui_workspace, data_dir, isolated_home):
    tmux = Tmux()
    env = {"HOME": isolated_home, "WORKBENCH_DATA_DIR": data_dir, "WORKBENCH_WORKSPACE": tui_workspace.root,
           "TERM": "xterm-256color", "NO_COLOR": "1", "PATH": os.environ["PATH"]}
    try:
        tmux.start(f"{sys.executable} -m workbench", env)
        screen = tmux.wait_for("workspace ~/ai-labs")
        screen = tmux.wait_for("palette")  # the footer: the whole screen is painted
        time.sleep(0.5)  # and the app reads keys
        assert "Greetings" in screen and "1 Roadmap" in screen and "AI Engineer Roadmap 2026" in screen
        tmux.keys("/")
        tmux.keys("-l", "average")
        screen = tmux.wait_for("Greetings", gone=True)
        assert "Average of a list" in screen
        tmux.keys("C-u")  # clear the search box
        tmux.keys("-l", "greet")
        tmux.wait_for("Average of a list", gone=True)
        tmux.keys("Enter")  # to the only match
        tmux.keys("Enter")  # open it
        tmux.wait_for("Not started: press s")
        tmux.keys("s")
        tmux.wait_for("edit: ~/ai-labs/greet-lab/greet.py")
        tmux.keys("c")
        screen = tmux.wait_for("FAIL", timeout_s=60)
        assert "✗ greet() says hello by name" in screen and "0/2" in screen
        tmux.keys("q")
        time.sleep(1)
        assert "FAIL" not in tmux.screen()  # the TUI quit and gave the terminal back
    finally:
        tmux.kill()

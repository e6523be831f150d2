"""A fake deployment controller on 127.0.0.1 for the ml-ci-gate grader: it answers the gate's canary
steps with the traffic windows of a scenario and records every action the gate takes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _ci_project import CANARY_STEPS


class DeployController:
    """POST /canary {"version", "percent"} -> the step's window; POST /rollback, /promote {"version"}."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: str | None = None
        self.windows: dict[int, dict] = {}
        self.actions: list[tuple] = []
        self.problems: list[str] = []
        controller = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                status, answer = controller.handle(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                status, answer = 404, {"error": "use POST /canary, /rollback or /promote"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def expect(self, version: str, windows: dict[int, dict]) -> None:
        """The next run deploys `version`; its canary steps see `windows`."""
        with self.lock:
            self.version, self.windows = version, windows
            self.actions, self.problems = [], []

    def handle(self, path: str, body) -> tuple[int, dict]:
        with self.lock:
            if not isinstance(body, dict):
                self.problems.append(f"POST {path} with a body that is not a JSON object")
                return 400, {"error": "send a JSON object"}
            if body.get("version") != self.version:
                self.problems.append(f"POST {path} for version {body.get('version')!r}, not the head commit {self.version}")
                return 409, {"error": f"unknown version {body.get('version')!r}"}
            done = any(a[0] in ("rollback", "promote") for a in self.actions)
            steps = [a[1] for a in self.actions if a[0] == "canary"]
            if path == "/canary":
                percent = body.get("percent")
                expected = CANARY_STEPS[len(steps)] if len(steps) < len(CANARY_STEPS) else None
                if done or percent != expected:
                    self.problems.append(f"POST /canary percent={percent!r} after {self.actions}; expected {expected}")
                    return 409, {"error": f"next step is {expected}"}
                self.actions.append(("canary", percent))
                return 200, self.windows[percent]
            if path in ("/rollback", "/promote"):
                if done or not steps:
                    self.problems.append(f"POST {path} after {self.actions}")
                    return 409, {"error": "nothing to " + path.strip("/")}
                if path == "/promote" and steps[-1] != 100:
                    self.problems.append(f"POST /promote at {steps[-1]}% (promote only after the 100% step)")
                    return 409, {"error": "promote after the 100% step"}
                self.actions.append((path.strip("/"),))
                return 200, {"ok": True}
            self.problems.append(f"POST {path} (unknown endpoint)")
            return 404, {"error": "unknown endpoint"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

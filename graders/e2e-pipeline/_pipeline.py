"""Helpers for the e2e-pipeline grader: a real MLflow tracking server (sqlite backend,
artifacts served over HTTP) on 127.0.0.1, `dvc repro` run in the learner sandbox, snapshots
of the pipeline's outputs, the learner's API started as `python -m uvicorn serve:app`, and a
small keep-alive HTTP client."""

from __future__ import annotations

import csv
import ctypes
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.worker import kill_tree

HOST = "127.0.0.1"
OUTPUTS = ["data/clean.csv", "data/quarantine.jsonl", "model/model.pkl", "metrics.json", "dvc.lock"]
FRESH = [".dvc", "dvc.lock", "data", "model", "metrics.json", ".dvcignore"]  # removed before the first build


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Tail:
    """A log file a child process writes to, readable from its end."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(mode="w+b")

    def count(self, needle: str) -> int:
        """How many times `needle` occurs in the whole log."""
        try:
            self.file.seek(0)
            return self.file.read().decode("utf-8", "replace").count(needle)
        except (OSError, ValueError):
            return 0

    def text(self, chars: int = 2000) -> str:
        try:
            self.file.seek(0)
            return self.file.read().decode("utf-8", "replace")[-chars:].strip()
        except (OSError, ValueError):
            return ""


def _die_with_parent() -> None:
    """In the child: SIGKILL it when the grader process dies (Linux prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


# -- the MLflow tracking server -------------------------------------------------------------------

class MlflowServer:
    """MLflow's FastAPI app under uvicorn (what `mlflow server` runs), sqlite backend and
    proxied artifacts, in a temporary folder of the grader's. Started at once, waited on later."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="e2e-mlflow-"))
        self.port = free_port()
        self.uri = f"http://{HOST}:{self.port}"
        db = f"sqlite:///{self.folder / 'mlflow.db'}"
        env = dict(os.environ, _MLFLOW_SERVER_FILE_STORE=db, _MLFLOW_SERVER_REGISTRY_STORE=db,
                   _MLFLOW_SERVER_ARTIFACT_DESTINATION=str(self.folder / "artifacts"), _MLFLOW_SERVER_SERVE_ARTIFACTS="true",
                   _MLFLOW_SERVER_ARTIFACT_ROOT="mlflow-artifacts:/", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
                   LITELLM_LOCAL_MODEL_COST_MAP="True", MLFLOW_ENABLE_TELEMETRY="false", DO_NOT_TRACK="1",
                   PYTHONUNBUFFERED="1")
        self.log = Tail()
        # same process group as the grader (a grading timeout kills the group) and killed with it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "mlflow.server.fastapi_app:app", "--host", HOST, "--port", str(self.port),
             "--log-level", "info"],  # the access log counts the requests the learner's API makes
            env=env, stdout=self.log.file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        self._ready: str | None | bool = False

    def wait_ready(self, timeout_s: float = 90.0) -> str | None:
        """None once the tracking API answers (the database is created on first use); else why not."""
        if self._ready is not False:
            return self._ready
        deadline = time.monotonic() + timeout_s
        problem = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._ready = f"the MLflow server exited with code {self.proc.returncode}:\n{self.log.text()}"
                return self._ready
            try:
                status, body = request(self.port, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", timeout_s=10)
                if status == 200:
                    self._ready = None
                    return None
                problem = f"status {status}: {body[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        self._ready = f"the MLflow server did not answer within {timeout_s:g} s ({problem}):\n{self.log.text()}"
        return self._ready

    def requests_served(self) -> int:
        """HTTP requests answered so far (uvicorn's access log)."""
        return self.log.count(' HTTP/1.1" ')

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


# -- HTTP ------------------------------------------------------------------------------------------

def request(port: int, method: str, path: str, body: object = None, timeout_s: float = 10.0,
            raw: bytes | None = None) -> tuple[int, bytes]:
    """One request on a fresh connection; (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class KeepAlive:
    """Sequential requests over one keep-alive connection (latency without connect cost)."""

    def __init__(self, port: int, timeout_s: float = 10.0) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)

    def post(self, path: str, body: object) -> tuple[int, bytes, float]:
        data = json.dumps(body).encode()
        started = time.perf_counter()
        self.conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()


# -- the learner's API --------------------------------------------------------------------------------

class Api:
    """`python -m uvicorn serve:app` in the learner sandbox, pointed at a model name."""

    def __init__(self, start, tracking_uri: str, model_name: str) -> None:
        self.port = free_port()
        self.model_name = model_name
        self.log = Tail()
        env = {"MLFLOW_TRACKING_URI": tracking_uri, "MODEL_NAME": model_name, "PYTHONUNBUFFERED": "1",
               "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
        self.proc = start([sys.executable, "-m", "uvicorn", "serve:app", "--host", HOST, "--port", str(self.port),
                           "--log-level", "warning", "--no-access-log"], env=env, stdout=self.log.file,
                          stderr=subprocess.STDOUT)
        self._ready: str | None | bool = False

    def wait_ready(self, timeout_s: float = 60.0) -> str | None:
        """None once GET /healthz answers 200; else why not."""
        if self._ready is not False:
            return self._ready
        deadline = time.monotonic() + timeout_s
        problem = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._ready = f"the API exited with code {self.proc.returncode} before it was ready:\n{self.log.text()}"
                return self._ready
            try:
                status, body = request(self.port, "GET", "/healthz", timeout_s=5)
                if status == 200:
                    self._ready = None
                    return None
                problem = f"GET /healthz answered {status}: {body[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        self._ready = f"GET /healthz did not answer 200 within {timeout_s:g} s ({problem}):\n{self.log.text()}"
        return self._ready

    def stop(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc)


# -- the pipeline's files -------------------------------------------------------------------------

def md5_of(path: Path) -> str | None:
    return hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None


@dataclass
class Snapshot:
    """The pipeline's outputs after one `dvc repro`: (mtime_ns, md5) per output, the parsed lock."""

    files: dict[str, tuple[int, str] | None] = field(default_factory=dict)
    lock: dict = field(default_factory=dict)
    lock_error: str | None = None
    metrics: dict | None = None

    def md5(self, path: str) -> str | None:
        entry = self.files.get(path)
        return entry[1] if entry else None

    def mtime(self, path: str) -> int | None:
        entry = self.files.get(path)
        return entry[0] if entry else None

    def lock_md5(self, stage: str, kind: str, path: str) -> str | None:
        """The md5 dvc.lock records for `path` among `stage`'s deps or outs."""
        for entry in (self.lock.get("stages", {}).get(stage, {}) or {}).get(kind, []) or []:
            if isinstance(entry, dict) and entry.get("path") == path:
                return entry.get("md5")
        return None

    def lock_paths(self, stage: str, kind: str) -> list[str]:
        return [e.get("path") for e in (self.lock.get("stages", {}).get(stage, {}) or {}).get(kind, []) or []
                if isinstance(e, dict)]


def snapshot(lab_dir: Path) -> Snapshot:
    import yaml

    shot = Snapshot()
    for name in OUTPUTS:
        path = lab_dir / name
        shot.files[name] = (path.stat().st_mtime_ns, md5_of(path)) if path.is_file() else None
    lock = lab_dir / "dvc.lock"
    if lock.is_file():
        try:
            shot.lock = yaml.safe_load(lock.read_text("utf-8")) or {}
        except yaml.YAMLError as exc:
            shot.lock_error = f"dvc.lock is not valid YAML: {exc}"
    try:
        shot.metrics = json.loads((lab_dir / "metrics.json").read_text("utf-8"))
    except (OSError, ValueError):
        shot.metrics = None
    return shot


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(rows)


def reset_pipeline(lab_dir: Path) -> None:
    """Remove what a learner's own runs left (cache, lock, outputs) and configure DVC without git."""
    for name in FRESH:
        path = lab_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    (lab_dir / ".dvc").mkdir()
    (lab_dir / ".dvc" / "config").write_text("[core]\n    no_scm = True\n    analytics = false\n", encoding="utf-8")
    (lab_dir / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n", encoding="utf-8")


def dvc_repro(start, lab_dir: Path, tracking_uri: str, model_name: str, timeout_s: float = 150.0) -> tuple[int | None, str]:
    """`dvc repro` in the learner sandbox; (exit code or None on timeout, output tail)."""
    log = Tail()
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "MODEL_NAME": model_name, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
           "PYTHONUNBUFFERED": "1", "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    proc = start([sys.executable, "-m", "dvc", "repro"], env=env, stdout=log.file, stderr=subprocess.STDOUT)
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        return None, log.text(3000)
    return code, log.text(3000)

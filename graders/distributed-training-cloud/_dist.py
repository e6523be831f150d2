"""Helpers for the distributed-training-cloud grader: data and job specs from a seed, a
torchrun-like launcher for the learner's `train.py` (one sandboxed process per rank), an S3
API server (moto's server, in this process, on 127.0.0.1) that logs every request and can hold
one upload, and the single-process references."""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from workbench.core.worker import kill_tree

HOST = "127.0.0.1"
PARAMS = ("0.weight", "0.bias", "2.weight", "2.bias")
RUN_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- data and specs ------------------------------------------------------------------------------

def make_data(rng: np.random.Generator, n: int, features: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A separable-ish classification set: class centres plus noise (float64 features)."""
    centres = rng.normal(0, 1.5, size=(classes, features))
    y = rng.integers(0, classes, size=n)
    X = centres[y] + rng.normal(0, 1.0, size=(n, features))
    return X.astype(np.float64), y.astype(np.int64)


def make_init(rng: np.random.Generator, features: int, hidden: int, classes: int) -> dict[str, np.ndarray]:
    return {"0.weight": rng.normal(0, 0.5, size=(hidden, features)), "0.bias": rng.normal(0, 0.1, size=hidden),
            "2.weight": rng.normal(0, 0.5, size=(classes, hidden)), "2.bias": rng.normal(0, 0.1, size=classes)}


class JobFolder:
    """A folder inside the learner's lab copy (the only place the sandbox lets both sides
    reach) holding one job's data, initial weights, per-rank specs and outputs."""

    def __init__(self, lab_dir: Path, name: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_grading_dir(lab_dir)))

    def write_npz(self, name: str, arrays: dict[str, np.ndarray]) -> str:
        path = self.root / name
        np.savez(path, **arrays)
        return str(path)

    def write_spec(self, rank: int, spec: dict) -> str:
        path = self.root / f"spec-rank{rank}.json"
        path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
        return str(path)

    def output(self, rank: int, tag: str = "") -> str:
        return str(self.root / f"out{tag}-rank{rank}.npz")


def _grading_dir(lab_dir: Path) -> Path:
    folder = lab_dir / ".grading"
    folder.mkdir(exist_ok=True)
    return folder


def read_npz(path: str) -> dict[str, np.ndarray] | None:
    if not os.path.isfile(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


# -- launching the learner's ranks -------------------------------------------------------------------

@dataclass
class Launch:
    """One job: `world_size` copies of `python train.py`, each with its own spec file."""

    procs: list[subprocess.Popen]
    logs: list
    started: float
    codes: list[int | None] = field(default_factory=list)
    timed_out: bool = False
    killed: bool = False

    def wait(self, timeout_s: float = RUN_TIMEOUT_S) -> None:
        deadline = self.started + timeout_s
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.timed_out = True
                break
        if self.timed_out:
            self.kill()
        self.codes = [proc.poll() for proc in self.procs]

    def kill(self) -> None:
        for proc in reversed(self.procs):
            kill_tree(proc)
        self.killed = True

    def log_tail(self, lines: int = 6, ranks: int = 2) -> str:
        """The last lines each rank printed (c10d's hostname warnings left out), for the first
        `ranks` ranks that printed anything."""
        parts = []
        for rank, log in enumerate(self.logs):
            try:
                log.seek(0)
                text = log.read().decode("utf-8", "replace")
            except (OSError, ValueError):
                text = ""
            kept = [line for line in text.splitlines() if line.strip() and "hostname of the client socket" not in line]
            if kept:
                parts.append(f"[rank {rank}] " + "\n".join(kept[-lines:]))
            if len(parts) == ranks:
                break
        return "\n".join(parts)

    def failure(self) -> str | None:
        """None when every rank exited 0; else what went wrong, with the ranks' output."""
        if self.timed_out:
            return f"the job did not finish within {RUN_TIMEOUT_S:g} s (a rank waiting forever in a collective?)\n{self.log_tail()}"
        bad = [(rank, code) for rank, code in enumerate(self.codes) if code != 0]
        if bad:
            what = ", ".join(f"rank {rank} exited with code {code}" for rank, code in bad)
            return f"{what}\n{self.log_tail()}"
        return None


def launch(start, spec_paths: list[str], extra_env: dict[str, str] | None = None) -> Launch:
    """Start one rank per spec file as torchrun does (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT, JOB_SPEC), each in the learner sandbox; `start` is the `learner_process` fixture."""
    port = free_port()
    world_size = len(spec_paths)
    procs, logs = [], []
    for rank, spec_path in enumerate(spec_paths):
        env = {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size), "MASTER_ADDR": HOST,
               "MASTER_PORT": str(port), "JOB_SPEC": spec_path, "GLOO_SOCKET_IFNAME": "lo", "PYTHONUNBUFFERED": "1",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               **(extra_env or {})}
        log = tempfile.TemporaryFile(mode="w+b")
        logs.append(log)
        procs.append(start([sys.executable, "train.py"], env=env, stdout=log, stderr=subprocess.STDOUT))
    return Launch(procs, logs, time.monotonic())


# -- the S3 server ---------------------------------------------------------------------------------

@dataclass
class S3Request:
    at: float
    method: str
    bucket: str
    key: str
    phase: str


class S3Server:
    """moto's S3 API on 127.0.0.1 (a real HTTP server with boto3's wire protocol), wrapped to
    log every request (method, bucket, key, the phase the grader set) and to hold one upload:
    `hold(bucket, key)` makes a PUT of that key wait, unstored, until `release()`."""

    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        self._app = DomainDispatcherApplication(create_backend_app)
        self.requests: list[S3Request] = []
        self.phase = "setup"
        self._lock = threading.Lock()
        self._hold: tuple[str, str] | None = None
        self.held = threading.Event()
        self._release = threading.Event()
        self._server = make_server(HOST, 0, self._wsgi, threaded=True, request_handler=MotoRequestHandler)
        self.port = self._server.server_address[1]
        self.endpoint_url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _wsgi(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "")
        path = unquote(environ.get("PATH_INFO", "")).lstrip("/")
        bucket, _, key = path.partition("/")
        with self._lock:
            self.requests.append(S3Request(time.monotonic(), method, bucket, key, self.phase))
            hold = self._hold
        if method == "PUT" and hold == (bucket, key):
            self.held.set()
            self._release.wait(RUN_TIMEOUT_S)
            start_response("503 Service Unavailable", [("Content-Type", "application/xml")])
            return [b"<Error><Code>ServiceUnavailable</Code><Message>instance reclaimed</Message></Error>"]
        return self._app(environ, start_response)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def hold(self, bucket: str, key: str) -> None:
        with self._lock:
            self._hold = (bucket, key)
        self.held.clear()
        self._release.clear()

    def release(self) -> None:
        with self._lock:
            self._hold = None
        self._release.set()

    def log(self, phase: str | None = None, method: str | None = None, bucket: str | None = None) -> list[S3Request]:
        with self._lock:
            return [r for r in self.requests if (phase is None or r.phase == phase)
                    and (method is None or r.method == method) and (bucket is None or r.bucket == bucket)]

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._thread.join(timeout=5)


# -- references (single process) -------------------------------------------------------------------

def reference_batches(n: int, batch_size: int, epoch: int, seed: int) -> list[list[int]]:
    import torch

    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _model(init: dict[str, np.ndarray]):
    import torch

    hidden, features = init["0.weight"].shape
    classes = init["2.weight"].shape[0]
    model = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.Tanh(),
                                torch.nn.Linear(hidden, classes)).double()
    model.load_state_dict({name: torch.from_numpy(np.array(init[name], dtype=np.float64)) for name in PARAMS})
    return model


def reference_gradient(X: np.ndarray, y: np.ndarray, init: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The full batch's mean cross-entropy gradient, in one process."""
    import torch

    model = _model(init)
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y))
    loss.backward()
    return {name: p.grad.numpy().copy() for name, p in model.named_parameters()}


def reference_training(X: np.ndarray, y: np.ndarray, init: dict[str, np.ndarray], *, batch_size: int, epochs: int,
                       lr: float, momentum: float, seed: int) -> dict[str, np.ndarray]:
    """SGD with momentum on the global batches, in one process: what DDP must reproduce."""
    import torch

    model = _model(init)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for epoch in range(epochs):
        for batch in reference_batches(len(y), batch_size, epoch, seed):
            index = torch.tensor(batch, dtype=torch.long)
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[index]), yt[index]).backward()
            optimizer.step()
    return {name: p.detach().numpy().copy() for name, p in model.named_parameters()}


def max_abs_diff(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], prefix: str = "") -> tuple[float, str]:
    """Largest |got - expected| over all parameters and the parameter where it is."""
    worst, where = 0.0, ""
    for name, value in expected.items():
        array = got.get(prefix + name)
        if array is None or np.shape(array) != value.shape:
            shape = None if array is None else np.shape(array)
            return math.inf, f"{prefix}{name} (shape {shape}, expected {value.shape})"
        diff = float(np.max(np.abs(np.asarray(array, dtype=np.float64) - value))) if value.size else 0.0
        if math.isnan(diff):
            return math.inf, f"{prefix}{name} (NaN)"
        if diff > worst:
            worst, where = diff, prefix + name
    return worst, where

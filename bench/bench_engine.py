"""Engine v2 figures: cost of the sandbox boundary per learner call, model-proxy throughput
against a direct call, and time to the first check result of a model lab."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit


def _learner_call_overhead(root: Path) -> dict:
    """Median wall time of a trivial learner call across the wire, sandboxed worker."""
    from workbench.core import sandbox
    from workbench.core.worker import Worker

    lab = root / "lab"
    lab.mkdir()
    (lab / "m.py").write_text("def f(x):\n    return x\n\n\ndef big(n):\n    import numpy as np\n    return np.ones(n)\n")
    os.environ.update(WORKBENCH_SANDBOX_KIND=sandbox.sandbox_kind(), WORKBENCH_LAB_DIR=str(lab),
                      WORKBENCH_WORKER_TMP=str(root), WORKBENCH_MEMORY_MB="2048")
    worker = Worker(lambda: None)
    try:
        module = worker.module("m")
        f = module.f
        for _ in range(50):
            f(1)
        times = []
        for i in range(1000):
            started = time.perf_counter()
            f({"i": i, "xs": [1.0, 2.0, 3.0]})
            times.append(time.perf_counter() - started)
        local = []
        for i in range(1000):
            started = time.perf_counter()
            (lambda x: x)({"i": i, "xs": [1.0, 2.0, 3.0]})
            local.append(time.perf_counter() - started)
        big = module.big
        big_times = []
        for _ in range(20):
            started = time.perf_counter()
            big(1_000_000)  # 8 MB of float64 by value
            big_times.append(time.perf_counter() - started)
    finally:
        worker.stop()
    return {"sandbox": sandbox.sandbox_kind(), "calls": len(times),
            "median_ms": round(statistics.median(times) * 1000, 3),
            "p95_ms": round(sorted(times)[int(len(times) * 0.95)] * 1000, 3),
            "in_process_median_ms": round(statistics.median(local) * 1000, 4),
            "array_8mb_median_ms": round(statistics.median(big_times) * 1000, 2)}


def _completion(base_url: str, max_tokens: int) -> tuple[int, float]:
    parts = urlsplit(base_url)
    body = json.dumps({"model": "smollm2", "messages": [{"role": "user", "content": "Count from one to forty in words."}],
                       "max_tokens": max_tokens, "temperature": 0, "seed": 0})
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    started = time.perf_counter()
    conn.request("POST", parts.path.rstrip("/") + "/chat/completions", body, {"Content-Type": "application/json"})
    reply = json.loads(conn.getresponse().read())
    elapsed = time.perf_counter() - started
    conn.close()
    return int(reply["usage"]["completion_tokens"]), elapsed


def _proxy_throughput(root: Path) -> dict:
    from workbench.core.modelproxy import MeteringProxy, ModelBridge
    from workbench.llm import server

    base = server.ensure_running().base_url
    bridge = ModelBridge(str(root / "model.sock"), base)
    proxy = MeteringProxy(bridge.path, base, None)
    direct, proxied = [], []
    try:
        _completion(base, 16)
        for _ in range(5):  # interleaved
            tokens, seconds = _completion(base, 64)
            direct.append(tokens / seconds)
            tokens, seconds = _completion(proxy.base_url, 64)
            proxied.append(tokens / seconds)
    finally:
        bridge.close()
    d, p = statistics.median(direct), statistics.median(proxied)
    return {"direct_tokens_per_s": round(d, 2), "proxied_tokens_per_s": round(p, 2), "ratio": round(p / d, 3),
            "metered_calls": proxy.meter.calls, "metered_tokens": proxy.meter.tokens}


def _first_model_check(root: Path) -> dict:
    """`grade()` of tool-agent's solution (server warm): seconds to the first check result."""
    import shutil

    from workbench.core.grading import grade
    from workbench.core.labs import get_lab
    from workbench.llm.grading import install

    install()
    lab = get_lab("tool-agent")
    runs = []
    for i in range(3):
        folder = root / f"agent-{i}" / lab.id
        shutil.copytree(lab.solution_dir, folder)
        started = time.perf_counter()
        first: list[float] = []

        def on_event(event: dict, first=first, started=started) -> None:
            if event["event"] == "check" and not first:
                first.append(time.perf_counter() - started)

        result = grade(lab, folder, workspace_root=folder.parent, on_event=on_event)
        runs.append({"first_check_s": round(first[0], 3), "total_s": result.duration_s, "score": result.score})
    return {"runs": runs, "median_first_check_s": round(statistics.median(r["first_check_s"] for r in runs), 3)}


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="workbench-bench-engine-") as tmp:
        root = Path(tmp)
        (root / "w").mkdir()
        (root / "p").mkdir()
        (root / "m").mkdir()
        figures = {"learner_call": _learner_call_overhead(root / "w"),
                   "model_proxy": _proxy_throughput(root / "p"),
                   "model_lab_first_check": _first_model_check(root / "m")}
    figures["targets"] = {
        "learner call across the sandbox boundary: median <= 2 ms": figures["learner_call"]["median_ms"] <= 2.0,
        "model proxy throughput >= 0.95x direct": figures["model_proxy"]["ratio"] >= 0.95,
        "model lab: check -> first check result <= 3 s (median)": figures["model_lab_first_check"]["median_first_check_s"] <= 3.0,
    }
    return figures

"""The deployment gate of the churn model: data -> quality -> latency -> canary.

CI runs it on every push to main:

    python ci.py --repo . --base <previous main commit> --head <new commit> \
        --deploy-url $DEPLOY_URL --report gate-report.json

It reads both commits from git, stops at the first failing stage, writes a JSON report and exits
0 when the head commit was deployed (promoted at 100%), 1 when it was blocked or rolled back.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import math
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

N_BOOT = 2000
CONFIDENCE = 0.95
LATENCY_CALLS = 200
WARMUP_CALLS = 5
LATENCY_FACTOR = 1.25
LATENCY_SLACK_MS = 0.5
CANARY_STEPS = (5, 25, 100)
Z_ROLLBACK = 3.0
STAGES = ("data", "quality", "latency", "canary")
_INT = re.compile(r"-?[0-9]+")


# -- stage 1: the data contract -------------------------------------------------------------------

def _parse(text: str, dtype: str):
    """A cell's value as its dtype; ValueError when it is not one."""
    if dtype == "int":
        if not _INT.fullmatch(text):
            raise ValueError(text)
        return int(text)
    if dtype == "float":
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    return text


def _cell_problems(text: str, spec: dict) -> list[str]:
    if text == "":
        return [] if spec.get("nullable", False) else ["nullable"]
    return []  # only nulls are checked per cell
    try:
        value = _parse(text, spec["dtype"])
    except ValueError:
        return ["dtype"]
    problems = []
    if "min" in spec and value < spec["min"]:
        problems.append("min")
    if "max" in spec and value > spec["max"]:
        problems.append("max")
    if "allowed" in spec and value not in spec["allowed"]:
        problems.append("allowed")
    return problems


def validate_data(csv_text: str, schema: dict) -> list[dict]:
    """Every (column, check) the CSV breaks in the contract, each once, sorted."""
    rows = [row for row in csv.reader(io.StringIO(csv_text)) if row]
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    columns = {c["name"]: c for c in schema["columns"]}
    found = {(name, "missing") for name in columns if name not in header}
    for index, name in enumerate(header):
        spec = columns.get(name)
        if spec is None:
            continue
        for row in body:
            text = row[index] if index < len(row) else ""
            found.update((name, check) for check in _cell_problems(text, spec))
    return [{"column": column, "check": check} for column, check in sorted(found)]


def typed_rows(csv_text: str, schema: dict) -> list[dict]:
    """The rows of a valid CSV as dicts of typed values (None for an empty cell)."""
    dtypes = {c["name"]: c["dtype"] for c in schema["columns"]}
    return [{name: (None if text == "" else _parse(text, dtypes[name])) for name, text in row.items()}
            for row in csv.DictReader(io.StringIO(csv_text))]


# -- stage 2: model quality -------------------------------------------------------------------------

def paired_bootstrap_ci(correct_base, correct_head, n_boot: int = N_BOOT, seed: int = 0,
                        confidence: float = CONFIDENCE) -> list[float]:
    """Percentile interval of accuracy(head) - accuracy(base), resampling rows (both models on the same rows)."""
    diff = np.asarray(correct_head, dtype=float) - np.asarray(correct_base, dtype=float)
    rng = np.random.default_rng(seed)
    deltas = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return [float(low), float(high)]


# -- stage 3: latency ---------------------------------------------------------------------------------

def p95_ms(samples_ms) -> float:
    """The 95th percentile of latency samples (numpy's linear interpolation)."""
    return float(np.percentile(np.asarray(samples_ms, dtype=float), 95))


def measure_latency(predict_base, model_base, predict_head, model_head, rows: list[dict]) -> tuple[float, float]:
    """p95 (ms) of single-row predict calls of each version, interleaved so both see the same machine."""
    for row in rows[:WARMUP_CALLS]:
        predict_base(model_base, row)
        predict_head(model_head, row)
    base_ms, head_ms = [], []
    for i in range(LATENCY_CALLS):
        row = rows[i % len(rows)]
        started = time.perf_counter()
        predict_base(model_base, row)
        base_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        predict_head(model_head, row)
        head_ms.append((time.perf_counter() - started) * 1000)
    return p95_ms(base_ms), p95_ms(head_ms)


# -- stage 4: canary -----------------------------------------------------------------------------------

def canary_z(stable_requests: int, stable_errors: int, canary_requests: int, canary_errors: int) -> float:
    """One-sided two-proportion z (pooled) of the canary's 5xx rate over the stable's; 0 when undefined."""
    if stable_requests <= 0 or canary_requests <= 0:
        return 0.0
    pooled = (stable_errors + canary_errors) / (stable_requests + canary_requests)
    se = math.sqrt(pooled * (1 - pooled) * (1 / stable_requests + 1 / canary_requests))
    if se == 0:
        return 0.0
    return (canary_errors / canary_requests - stable_errors / stable_requests) / se


def _post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def canary_rollout(deploy_url: str, version: str) -> dict:
    """5% -> 25% -> 100%; roll back at the first window whose z >= Z_ROLLBACK, else promote."""
    steps = []
    for percent in CANARY_STEPS:
        window = _post(deploy_url, "/canary", {"version": version, "percent": percent})
        stable, canary = window["stable"], window["canary"]
        z = canary_z(stable["requests"], stable["errors"], canary["requests"], canary["errors"])
        if z >= Z_ROLLBACK:
            steps.append({"percent": percent, "z": z, "action": "rollback"})
            _post(deploy_url, "/rollback", {"version": version})
            return {"status": "fail", "steps": steps}
        steps.append({"percent": percent, "z": z, "action": "promote" if percent == 100 else "continue"})
    _post(deploy_url, "/promote", {"version": version})
    return {"status": "pass", "steps": steps}


# -- the pipeline ----------------------------------------------------------------------------------------

def checkout(repo: str, sha: str, dest: Path) -> Path:
    """The files of commit `sha` in `dest` (git archive: no working tree is touched)."""
    data = subprocess.run(["git", "-C", repo, "archive", "--format=tar", sha], capture_output=True, check=True).stdout
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(dest, filter="data")
    return dest


def load_predict(folder: Path, tag: str):
    """The `predict` function of the serve.py in `folder`, imported under its own module name."""
    spec = importlib.util.spec_from_file_location(f"serve_{tag}", folder / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.predict


def run_gate(repo: str, base: str, head: str, deploy_url: str | None) -> dict:
    """Run the stages in order on base..head and return the report (stops at the first failing stage)."""
    report = {"base": base, "head": head, "decision": None, "failed_stage": None,
              "stages": {stage: {"status": "skipped"} for stage in STAGES}}

    def fail(stage: str, decision: str = "block") -> dict:
        report["stages"][stage]["status"] = "fail"
        report["decision"], report["failed_stage"] = decision, stage
        return report

    with tempfile.TemporaryDirectory(prefix="ci-gate-") as tmp:
        base_dir = checkout(repo, base, Path(tmp) / "base")
        head_dir = checkout(repo, head, Path(tmp) / "head")
        schema = json.loads((base_dir / "data" / "schema.json").read_text())
        csv_text = (head_dir / "data" / "eval.csv").read_text()
        violations = validate_data(csv_text, schema)
        report["stages"]["data"] = {"status": "pass", "violations": violations}
        if violations:
            return fail("data")

        rows = typed_rows(csv_text, schema)
        labels = np.array([row.pop("label") for row in rows])
        model_base = json.loads((base_dir / "model.json").read_text())
        model_head = json.loads((head_dir / "model.json").read_text())
        predict_base, predict_head = load_predict(base_dir, "base"), load_predict(head_dir, "head")
        correct_base = np.array([predict_base(model_base, row) for row in rows]) == labels
        correct_head = np.array([predict_head(model_head, row) for row in rows]) == labels
        low, high = paired_bootstrap_ci(correct_base, correct_head)
        accuracy_base, accuracy_head = float(correct_base.mean()), float(correct_head.mean())
        report["stages"]["quality"] = {"status": "pass", "accuracy_base": accuracy_base, "accuracy_head": accuracy_head,
                                       "delta": accuracy_head - accuracy_base, "ci_low": low, "ci_high": high}
        if high < 0:
            return fail("quality")

        p95_base, p95_head = measure_latency(predict_base, model_base, predict_head, model_head, rows)
        report["stages"]["latency"] = {"status": "pass", "p95_base_ms": p95_base, "p95_head_ms": p95_head}
        if p95_head > LATENCY_FACTOR * p95_base + LATENCY_SLACK_MS:
            return fail("latency")

    if not deploy_url:
        raise SystemExit("no deploy URL: pass --deploy-url or set DEPLOY_URL")
    report["stages"]["canary"] = canary_rollout(deploy_url, head)
    if report["stages"]["canary"]["status"] == "fail":
        return fail("canary", decision="rollback")
    report["decision"] = "deploy"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".")
    parser.add_argument("--base", required=True)
    parser.add_argument("--head", required=True)
    parser.add_argument("--deploy-url", default=os.environ.get("DEPLOY_URL"))
    parser.add_argument("--report", default="gate-report.json")
    args = parser.parse_args(argv)
    report = run_gate(args.repo, args.base, args.head, args.deploy_url)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['decision']}: {args.head[:12]}" + (f" (failed at {report['failed_stage']})" if report["failed_stage"] else ""))
    return 0 if report["decision"] == "deploy" else 1


if __name__ == "__main__":
    sys.exit(main())

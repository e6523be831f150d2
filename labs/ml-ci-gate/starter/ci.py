"""The deployment gate of the churn model: data -> quality -> latency -> canary (starter: write the TODOs).

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

def validate_data(csv_text: str, schema: dict) -> list[dict]:
    """Every (column, check) the CSV breaks in the contract, each once, sorted."""
    raise NotImplementedError("validate_data: compare the header, then every cell, with the contract")


def typed_rows(csv_text: str, schema: dict) -> list[dict]:
    """The rows of a valid CSV as dicts of typed values (None for an empty cell)."""
    raise NotImplementedError("typed_rows: parse each cell as its column dtype (empty -> None)")


# -- stage 2: model quality -------------------------------------------------------------------------

def paired_bootstrap_ci(correct_base, correct_head, n_boot: int = N_BOOT, seed: int = 0,
                        confidence: float = CONFIDENCE) -> list[float]:
    """Percentile interval of accuracy(head) - accuracy(base), resampling rows (both models on the same rows)."""
    raise NotImplementedError("paired_bootstrap_ci: resample rows, take head-minus-base accuracy")


# -- stage 3: latency ---------------------------------------------------------------------------------

def measure_latency(predict_base, model_base, predict_head, model_head, rows: list[dict]) -> tuple[float, float]:
    """p95 (ms) of single-row predict calls of each version, interleaved so both see the same machine."""
    raise NotImplementedError("measure_latency: time single-row predict calls of both versions")


# -- stage 4: canary -----------------------------------------------------------------------------------

def canary_z(stable_requests: int, stable_errors: int, canary_requests: int, canary_errors: int) -> float:
    """One-sided two-proportion z (pooled) of the canary's 5xx rate over the stable's; 0 when undefined."""
    raise NotImplementedError("canary_z: pooled two-proportion z of the canary over the stable")


def _post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def canary_rollout(deploy_url: str, version: str) -> dict:
    """5% -> 25% -> 100%; roll back at the first window whose z >= Z_ROLLBACK, else promote."""
    raise NotImplementedError("canary_rollout: 5 -> 25 -> 100, roll back when z >= Z_ROLLBACK, else promote")


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
    raise NotImplementedError("run_gate: data -> quality -> latency -> canary, stop at the first failing stage")


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

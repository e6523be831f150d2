"""The ML project the ml-ci-gate grader puts under CI, generated from a seed, and the grader's own
reference for every figure the gate reports.

A commit of the project holds:

    data/schema.json   the data contract (columns, dtypes, nullability, ranges, allowed values, min_rows)
    data/eval.csv      the evaluation set (features + `label`)
    model.json         a linear scorer: numeric weights over standardised columns, categorical weights, bias
    serve.py           `predict(model, row) -> 0 | 1`, the serving code (its speed is what the latency stage times)
    ci.py              the learner's gate (the same file in every commit)

Accuracy cases are built by choosing the labels after the models: on rows where the two models
disagree, the grader decides how many the candidate gets right, so the paired accuracy change
(and its bootstrap interval) is exactly what the case needs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NUMERIC_POOL = [
    ("age", "int", 18, 95), ("tenure_months", "int", 0, 240), ("visits_30d", "int", 0, 500),
    ("income_k", "float", 0.0, 500.0), ("basket_value", "float", 0.0, 2000.0),
    ("session_minutes", "float", 0.0, 600.0), ("discount_rate", "float", 0.0, 1.0),
]
CATEGORICAL_POOL = [
    ("channel", ["web", "store", "app", "phone"]), ("plan", ["free", "basic", "pro"]),
    ("region", ["north", "south", "east", "west"]), ("device", ["ios", "android", "desktop"]),
]
Z_ROLLBACK = 3.0
CANARY_STEPS = (5, 25, 100)
WINDOW_REQUESTS = 2000

BASE_SERVE = '''"""Serving code: one prediction per request."""


def predict(model, row):
    z = model["bias"]
    for name, p in model["numeric"].items():
        value = row.get(name)
        if value is None:
            value = p["mean"]
        z += p["weight"] * (value - p["mean"]) / p["std"]
    for name, table in model["categorical"].items():
        z += table.get(row.get(name), 0.0)
    return 1 if z > 0 else 0
'''

# a refactor with a one-time warm-up (a lookup table loaded on the first call): same speed per call
REFACTORED_SERVE = '''"""Serving code: one prediction per request (refactored; tables load on first use)."""
import time

_tables = {}


def _load_tables():
    if not _tables:
        time.sleep(0.15)  # reads the category tables once per process
        _tables["ready"] = True
    return _tables


def _numeric_part(model, row):
    total = 0.0
    for name, p in model["numeric"].items():
        value = row.get(name)
        total += p["weight"] * ((p["mean"] if value is None else value) - p["mean"]) / p["std"]
    return total


def predict(model, row):
    _load_tables()
    z = model["bias"] + _numeric_part(model, row)
    for name, table in model["categorical"].items():
        z += table.get(row.get(name), 0.0)
    return int(z > 0)
'''

# every call now does a blocking lookup (a feature-store round trip added to the request path)
SLOW_EVERY_CALL_SERVE = BASE_SERVE.replace(
    '"""Serving code: one prediction per request."""\n',
    '"""Serving code: one prediction per request."""\nimport time\n',
).replace('    z = model["bias"]\n', '    time.sleep({delay_s})\n    z = model["bias"]\n')

# one call in N misses a cache and pays a slow path: the median is unchanged, the tail is not
SLOW_TAIL_SERVE = BASE_SERVE.replace(
    '"""Serving code: one prediction per request."""\n',
    '"""Serving code: one prediction per request."""\nimport time\n\n_calls = [0]\n',
).replace('    z = model["bias"]\n',
          '    _calls[0] += 1\n    if _calls[0] % {every} == 0:\n        time.sleep({delay_s})\n'
          '    z = model["bias"]\n')


@dataclass
class Project:
    """One seeded project: its contract, its base model and how to make rows."""

    seed: int
    schema: dict
    model: dict
    rng: np.random.Generator = field(repr=False)

    @property
    def columns(self) -> list[dict]:
        return self.schema["columns"]

    def column(self, name: str) -> dict:
        return next(c for c in self.columns if c["name"] == name)

    def numeric_columns(self) -> list[dict]:
        return [c for c in self.columns if c["dtype"] in ("int", "float") and c["name"] != "label"]

    def categorical_column(self) -> dict:
        return next(c for c in self.columns if c["dtype"] == "str")


def make_project(seed: int) -> Project:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(NUMERIC_POOL), size=3, replace=False)
    numeric = [NUMERIC_POOL[i] for i in sorted(picks)]
    floats = [n for n in numeric if n[1] == "float"]
    if not floats:  # one float column that may be null
        numeric[-1] = NUMERIC_POOL[3 + int(rng.integers(0, 4))]
        floats = [numeric[-1]]
    if all(n[1] != "int" for n in numeric):
        numeric[0] = NUMERIC_POOL[int(rng.integers(0, 3))]
    nullable_name = floats[0][0]
    cat_name, cat_values = CATEGORICAL_POOL[int(rng.integers(0, len(CATEGORICAL_POOL)))]
    columns = []
    for name, dtype, low, high in numeric:
        columns.append({"name": name, "dtype": dtype, "nullable": name == nullable_name, "min": low, "max": high})
    columns.append({"name": cat_name, "dtype": "str", "nullable": False, "allowed": list(cat_values)})
    columns.append({"name": "label", "dtype": "int", "nullable": False, "allowed": [0, 1]})
    order = [int(i) for i in rng.permutation(len(columns) - 1)] + [len(columns) - 1]
    schema = {"columns": [columns[i] for i in order], "min_rows": 200}
    model = {"version": "v1", "bias": 0.0, "numeric": {}, "categorical": {}}
    for name, _dtype, low, high in numeric:
        model["numeric"][name] = {"mean": round((low + high) / 2, 4), "std": round((high - low) / math.sqrt(12), 4),
                                  "weight": round(float(rng.normal(0, 1.0)), 4)}
    model["categorical"][cat_name] = {v: round(float(rng.normal(0, 0.6)), 4) for v in cat_values}
    return Project(seed, schema, model, rng)


def perturbed_model(project: Project, scale: float, version: str) -> dict:
    """A retrained model: the base weights moved a little (the two disagree on some rows)."""
    model = json.loads(json.dumps(project.model))
    model["version"] = version
    for p in model["numeric"].values():
        p["weight"] = round(p["weight"] + float(project.rng.normal(0, scale)), 4)
    for table in model["categorical"].values():
        for key in table:
            table[key] = round(table[key] + float(project.rng.normal(0, scale)), 4)
    model["bias"] = round(float(project.rng.normal(0, scale / 2)), 4)
    return model


def make_rows(project: Project, n: int) -> list[dict]:
    """Rows of valid, typed feature values (no label yet)."""
    rng = project.rng
    rows = []
    for _ in range(n):
        row = {}
        for c in project.columns:
            if c["name"] == "label":
                continue
            if c["dtype"] == "str":
                row[c["name"]] = c["allowed"][int(rng.integers(0, len(c["allowed"])))]
            elif c["nullable"] and rng.random() < 0.03:
                row[c["name"]] = None
            elif c["dtype"] == "int":
                row[c["name"]] = int(rng.integers(c["min"], c["max"] + 1))
            else:
                row[c["name"]] = round(float(rng.uniform(c["min"], c["max"])), 2)
        rows.append(row)
    return rows


def load_predict(source: str):
    """The `predict` function of a serve.py source (grader-generated code, run in the grader)."""
    namespace: dict = {"__name__": "grader_serve"}
    exec(compile(source, "serve.py", "exec"), namespace)  # noqa: S102 - the grader's own generated code
    return namespace["predict"]


def set_labels(project: Project, rows: list[dict], pred_base: list[int], pred_head: list[int],
               head_right_share: float) -> None:
    """Label rows so that both models are right on ~85% of the rows where they agree, and the head
    is right on `head_right_share` of the rows where they disagree (exact count)."""
    rng = project.rng
    disagree = [i for i, (a, b) in enumerate(zip(pred_base, pred_head, strict=False)) if a != b]
    head_right = set(int(i) for i in rng.permutation(disagree)[: round(head_right_share * len(disagree))])
    for i, row in enumerate(rows):
        if pred_base[i] == pred_head[i]:
            both_right = rng.random() < 0.85
            row["label"] = pred_base[i] if both_right else 1 - pred_base[i]
        else:
            row["label"] = pred_head[i] if i in head_right else pred_base[i]


def to_csv(project: Project, rows: list[dict], header: list[str] | None = None) -> str:
    header = header or [c["name"] for c in project.columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if row.get(name) is None else row.get(name) for name in header])
    return out.getvalue()


# -- the grader's reference -----------------------------------------------------------------------

_INT = re.compile(r"-?[0-9]+")


def _parse(text: str, dtype: str):
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


def reference_violations(csv_text: str, schema: dict) -> set[tuple[str, str]]:
    """The brief's data contract, as a set of (column, check)."""
    rows = [r for r in csv.reader(io.StringIO(csv_text)) if r]
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    columns = {c["name"]: c for c in schema["columns"]}
    found = {(name, "missing") for name in columns if name not in header}
    found |= {(name, "unexpected") for name in header if name not in columns}
    for index, name in enumerate(header):
        spec = columns.get(name)
        if spec is None:
            continue
        for row in body:
            text = row[index] if index < len(row) else ""
            if text == "":
                if not spec.get("nullable", False):
                    found.add((name, "nullable"))
                continue
            try:
                value = _parse(text, spec["dtype"])
            except ValueError:
                found.add((name, "dtype"))
                continue
            if "min" in spec and value < spec["min"]:
                found.add((name, "min"))
            if "max" in spec and value > spec["max"]:
                found.add((name, "max"))
            if "allowed" in spec and value not in spec["allowed"]:
                found.add((name, "allowed"))
    if len(body) < schema.get("min_rows", 0):
        found.add(("*", "min_rows"))
    return found


def reference_bootstrap(correct_base: np.ndarray, correct_head: np.ndarray, n_boot: int = 10000,
                        seed: int = 12345, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the paired accuracy change (head - base), many resamples."""
    diff = np.asarray(correct_head, dtype=float) - np.asarray(correct_base, dtype=float)
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_boot)
    for start in range(0, n_boot, 2000):
        stop = min(n_boot, start + 2000)
        idx = rng.integers(0, len(diff), size=(stop - start, len(diff)))
        deltas[start:stop] = diff[idx].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return float(low), float(high)


def reference_unpaired_width(correct_base: np.ndarray, correct_head: np.ndarray, n_boot: int = 4000,
                             seed: int = 7) -> float:
    """Width of the interval a bootstrap that resamples the two models independently gives."""
    rng = np.random.default_rng(seed)
    base = np.asarray(correct_base, dtype=float)
    head = np.asarray(correct_head, dtype=float)
    n = len(base)
    deltas = head[rng.integers(0, n, size=(n_boot, n))].mean(axis=1) - base[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return float(high - low)


def reference_z(stable_requests: int, stable_errors: int, canary_requests: int, canary_errors: int) -> float:
    """One-sided two-proportion z statistic (pooled), canary minus stable; 0 when undefined."""
    if stable_requests <= 0 or canary_requests <= 0:
        return 0.0
    pooled = (stable_errors + canary_errors) / (stable_requests + canary_requests)
    se = math.sqrt(pooled * (1 - pooled) * (1 / stable_requests + 1 / canary_requests))
    if se == 0:
        return 0.0
    return (canary_errors / canary_requests - stable_errors / stable_requests) / se


def reference_actions(windows: dict[int, dict]) -> tuple[list[tuple], list[dict]]:
    """The actions the brief's canary policy takes on these windows, and the steps it reports."""
    actions: list[tuple] = []
    steps: list[dict] = []
    for percent in CANARY_STEPS:
        w = windows[percent]
        actions.append(("canary", percent))
        z = reference_z(w["stable"]["requests"], w["stable"]["errors"], w["canary"]["requests"], w["canary"]["errors"])
        if z >= Z_ROLLBACK:
            steps.append({"percent": percent, "z": z, "action": "rollback"})
            actions.append(("rollback",))
            return actions, steps
        steps.append({"percent": percent, "z": z, "action": "promote" if percent == 100 else "continue"})
    actions.append(("promote",))
    return actions, steps


# -- canary windows --------------------------------------------------------------------------------

def canary_windows(rng: np.random.Generator, kind: str) -> dict[int, dict]:
    """Per-step traffic windows for one scenario: 'healthy', 'blatant' (errors from 5%, rolled back
    at 5%), 'subtle' (errors from 5%, only significant at 25%) or 'late' (errors start at 25%).
    Drawn until the policy's outcome is the scenario's (so a scenario means what it says)."""
    want = {"healthy": [5, 25, 100, "promote"], "blatant": [5, "rollback"], "subtle": [5, 25, "rollback"],
            "late": [5, 25, "rollback"]}[kind]
    for _ in range(5000):
        stable_rate = float(rng.uniform(0.006, 0.015))
        rates = {"healthy": {5: stable_rate, 25: stable_rate, 100: stable_rate},
                 "blatant": {5: float(rng.uniform(0.10, 0.16))} | {p: 0.12 for p in (25, 100)},
                 "subtle": {p: float(rng.uniform(0.03, 0.04)) for p in CANARY_STEPS},
                 "late": {5: stable_rate, 25: float(rng.uniform(0.05, 0.08)), 100: 0.08}}[kind]
        windows = {}
        for percent in CANARY_STEPS:
            canary_n = WINDOW_REQUESTS * percent // 100
            stable_n = WINDOW_REQUESTS - canary_n if percent < 100 else WINDOW_REQUESTS
            windows[percent] = {
                "percent": percent,
                "stable": {"requests": stable_n, "errors": int(rng.binomial(stable_n, stable_rate))},
                "canary": {"requests": canary_n, "errors": int(rng.binomial(canary_n, rates[percent]))},
            }
        actions, _ = reference_actions(windows)
        outcome = [a[1] if a[0] == "canary" else a[0] for a in actions]
        if outcome != want:
            continue
        if kind == "healthy":
            # a healthy canary that still shows errors, at a higher raw rate than stable at some step
            higher = [p for p in CANARY_STEPS if windows[p]["canary"]["errors"] > 0 and
                      windows[p]["canary"]["errors"] / windows[p]["canary"]["requests"] >
                      windows[p]["stable"]["errors"] / windows[p]["stable"]["requests"]]
            if not higher:
                continue
        return windows
    raise RuntimeError(f"could not draw a {kind} canary scenario")


# -- git -------------------------------------------------------------------------------------------

GIT_ENV = {"GIT_AUTHOR_NAME": "Grader", "GIT_AUTHOR_EMAIL": "grader@example.invalid",
           "GIT_COMMITTER_NAME": "Grader", "GIT_COMMITTER_EMAIL": "grader@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


class Repo:
    """A git repository of the project; commits are made on top of any earlier commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", "-b", "main")
        git(path, "config", "commit.gpgsign", "false")

    def commit(self, parent: str | None, files: dict[str, str], message: str, delete: tuple[str, ...] = ()) -> str:
        if parent is not None:
            git(self.path, "checkout", "-q", "--detach", parent)
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        for name in delete:
            (self.path / name).unlink(missing_ok=True)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

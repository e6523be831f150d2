"""The ml-ci-gate grader's cases: broken data families, the seeded repository of commits, and
running the learner's gate on one commit."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _ci_project import (
    BASE_SERVE,
    REFACTORED_SERVE,
    SLOW_EVERY_CALL_SERVE,
    SLOW_TAIL_SERVE,
    Project,
    Repo,
    canary_windows,
    load_predict,
    make_rows,
    perturbed_model,
    reference_bootstrap,
    reference_violations,
    set_labels,
    to_csv,
)

from workbench.core.worker import kill_tree

SHOWN_FAMILIES = ("missing", "null")  # the brief's and demo's examples
HELD_OUT_FAMILIES = ("renamed", "unexpected", "dtype_float", "dtype_int", "min", "max", "allowed", "label", "rows")
EVAL_ROWS = (500, 700)


def broken_csv(project: Project, rows: list[dict], families: str | tuple[str, ...],
               rng: np.random.Generator) -> tuple[str, set]:
    """Eval data with contract breaks of the given families, applied in turn; returns (csv text, the
    violations it must raise, computed by the reference on the text itself)."""
    rows = copy.deepcopy(rows)
    header = [c["name"] for c in project.columns]
    for family in (families,) if isinstance(families, str) else families:
        rows = _break(project, rows, header, family, rng)
    text = to_csv(project, rows, header)
    return text, reference_violations(text, project.schema)


def _break(project: Project, rows: list[dict], header: list[str], family: str, rng: np.random.Generator) -> list[dict]:
    numeric = [c for c in project.numeric_columns() if c["name"] in header]
    cat = project.categorical_column()
    hit = [int(i) for i in rng.choice(len(rows), size=int(rng.integers(2, 7)), replace=False)]

    def pick(options: list[dict]) -> dict:
        return options[int(rng.integers(0, len(options)))]

    if family == "missing":
        header.remove(pick(numeric)["name"])
    elif family == "null":
        col = pick([c for c in numeric if not c["nullable"]] + [cat])
        for i in hit:
            rows[i][col["name"]] = None
    elif family == "renamed":
        col = pick(numeric)
        new = rng.choice(["customer_", "raw_", "src_"]) + col["name"]
        header[header.index(col["name"])] = new
        for row in rows:
            row[new] = row[col["name"]]
    elif family == "unexpected":
        extra = str(rng.choice(["score_raw", "ingested_at", "batch_id"]))
        header.insert(int(rng.integers(0, len(header))), extra)
        for i, row in enumerate(rows):
            row[extra] = i
    elif family == "dtype_float":
        col = pick([c for c in numeric if c["dtype"] == "float"])
        for i in hit:
            rows[i][col["name"]] = str(rng.choice(["12.5k", "n/a", "1,200.50", "-", "NaN"]))
    elif family == "dtype_int":
        col = pick([c for c in numeric if c["dtype"] == "int"])
        for i in hit:
            rows[i][col["name"]] = f"{int(rng.integers(col['min'], col['max']))}.{int(rng.integers(0, 10))}"
    elif family in ("min", "max"):
        col = pick(numeric)
        for i in hit:
            step = int(rng.integers(1, 20)) if col["dtype"] == "int" else round(float(rng.uniform(0.01, 5.0)), 2)
            rows[i][col["name"]] = col["min"] - step if family == "min" else col["max"] + step
    elif family == "allowed":
        for i in hit:
            value = str(rows[i][cat["name"]])
            rows[i][cat["name"]] = str(rng.choice([value.capitalize(), value.upper(), "other"]))
    elif family == "label":
        for i in hit:
            rows[i]["label"] = int(rng.choice([2, -1]))
    elif family == "rows":
        rows = rows[: int(rng.integers(100, project.schema["min_rows"]))]
    else:
        raise ValueError(family)
    return rows


def loosened(schema: dict, violations: set) -> dict:
    """The contract edited so that data with these violations passes it."""
    schema = copy.deepcopy(schema)
    columns = {c["name"]: c for c in schema["columns"]}
    for column, check in violations:
        spec = columns.get(column)
        if check == "missing":
            schema["columns"] = [c for c in schema["columns"] if c["name"] != column]
        elif check == "unexpected":
            schema["columns"].append({"name": column, "dtype": "str", "nullable": True})
        elif check == "min_rows":
            schema["min_rows"] = 0
        elif check == "nullable":
            spec["nullable"] = True
        elif check == "dtype":
            spec["dtype"] = "str"
            for key in ("min", "max", "allowed"):
                spec.pop(key, None)
        elif check in ("min", "max", "allowed"):
            spec.pop(check, None)
    return schema


@dataclass
class Case:
    """One commit the gate is run on: its base, its head, and what the grader expects."""

    name: str
    base: str
    head: str
    expect: str  # deploy | data | quality | latency | canary
    canary: str = "healthy"
    rows: list[dict] = field(default_factory=list)
    pred_base: list[int] = field(default_factory=list)
    pred_head: list[int] = field(default_factory=list)
    violations: set = field(default_factory=set)
    delay_ms: float = 0.0
    windows: dict = field(default_factory=dict)

    def accuracies(self) -> tuple[float, float]:
        labels = np.array([r["label"] for r in self.rows])
        return float(np.mean(np.array(self.pred_base) == labels)), float(np.mean(np.array(self.pred_head) == labels))

    def correct(self) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array([r["label"] for r in self.rows])
        return np.array(self.pred_base) == labels, np.array(self.pred_head) == labels


def _drop_share(project: Project, pred_base: list[int], pred_head: list[int], kind: str) -> float:
    """The share of disagreement rows the head gets right for a within-noise drop ('noise') or a
    drop beyond the paired interval that an unpaired bootstrap would still let through ('real')."""
    n = len(pred_base)
    disagree = sum(a != b for a, b in zip(pred_base, pred_head, strict=False))
    sd = (disagree / n) ** 0.5 / n ** 0.5
    target = -1.0 * sd if kind == "noise" else -2.9 * sd
    k = round((target * n + disagree) / 2)
    return k / disagree


class CaseRepo:
    """The seeded repository: a base commit and one commit per case on top of it."""

    def __init__(self, project: Project, root: Path, learner_ci: str) -> None:
        self.project = project
        self.root = root
        if root.exists():
            shutil.rmtree(root)
        self.repo = Repo(root / "repo")
        self.rng = np.random.default_rng(project.seed + 1)
        self.cases: dict[str, Case] = {}
        rows = make_rows(project, 600)
        predict = load_predict(BASE_SERVE)
        preds = [predict(project.model, r) for r in rows]
        set_labels(project, rows, preds, preds, 0.5)
        self.base_files = {"data/schema.json": json.dumps(project.schema, indent=2) + "\n",
                           "data/eval.csv": to_csv(project, rows), "model.json": json.dumps(project.model, indent=2) + "\n",
                           "serve.py": BASE_SERVE, "ci.py": learner_ci,
                           "README.md": "# churn-model\n\nA churn classifier, gated by ci.py.\n"}
        self.c0 = self.repo.commit(None, self.base_files, "churn model v1")

    def _version(self) -> str:
        """A model version that says nothing about the case."""
        return f"v{int(self.rng.integers(2, 9))}.{int(self.rng.integers(0, 100))}"

    def _message(self) -> str:
        """A commit message that says nothing about the case (a gate must judge the change itself)."""
        return f"{self.rng.choice(['update', 'weekly retrain', 'sync', 'changes'])} #{int(self.rng.integers(100, 999))}"

    def _eval(self, head_model: dict, head_serve: str, share: float | None = None, kind: str | None = None):
        rows = make_rows(self.project, int(self.rng.integers(*EVAL_ROWS)))
        base_predict, head_predict = load_predict(BASE_SERVE), load_predict(head_serve)
        pred_base = [base_predict(self.project.model, r) for r in rows]
        pred_head = [head_predict(head_model, r) for r in rows]
        if kind is not None:
            share = _drop_share(self.project, pred_base, pred_head, kind)
        set_labels(self.project, rows, pred_base, pred_head, 0.5 if share is None else share)
        return rows, pred_base, pred_head

    def _retrained(self, version: str) -> dict:
        for _ in range(200):
            model = perturbed_model(self.project, 0.35, version)
            rows = make_rows(self.project, 400)
            base_predict = load_predict(BASE_SERVE)
            disagree = np.mean([base_predict(self.project.model, r) != base_predict(model, r) for r in rows])
            if 0.07 <= disagree <= 0.18:
                return model
        raise RuntimeError("could not draw a retrained model")

    def add_model_case(self, name: str, kind: str, expect: str) -> Case:
        """'good' (a retrain with about the same accuracy, refactored serve.py with a warm-up),
        'noise' (a point drop inside the paired interval) or 'real' (a drop beyond it)."""
        for _ in range(50):
            model = self._retrained(self._version())
            serve = REFACTORED_SERVE if kind == "good" else BASE_SERVE
            rows, pred_base, pred_head = self._eval(model, serve, kind=None if kind == "good" else kind)
            case = Case(name, self.c0, "", expect, rows=rows, pred_base=pred_base, pred_head=pred_head)
            cb, ch = case.correct()
            low, high = reference_bootstrap(cb, ch)
            delta = float(ch.mean() - cb.mean())
            if kind == "good" and low < -0.01 and high > 0.01:
                break
            if kind == "noise" and high >= 0.008 and delta <= -0.008:
                break
            if kind == "real" and high <= -0.008:
                from _ci_project import reference_unpaired_width
                if delta + reference_unpaired_width(cb, ch) / 2 >= 0.004:
                    break
        else:
            raise RuntimeError(f"could not build the {kind} accuracy case")
        files = {"model.json": json.dumps(model, indent=2) + "\n", "serve.py": serve,
                 "data/eval.csv": to_csv(self.project, rows)}
        case.head = self.repo.commit(self.c0, files, self._message())
        self.cases[name] = case
        return case

    def add_data_case(self, name: str, family: str, loosen: bool = False) -> Case:
        """New eval data that breaks the base commit's contract; with `loosen`, the same commit also
        edits data/schema.json so that its own data passes (the gate must judge by the BASE contract)."""
        rows, pred_base, pred_head = self._eval(self.project.model, BASE_SERVE)
        text, violations = broken_csv(self.project, rows, family, self.rng)
        assert violations, f"grader bug: family {family} produced no violation"
        files = {"data/eval.csv": text}
        if loosen:
            head_schema = loosened(self.project.schema, violations)
            assert not reference_violations(text, head_schema), "grader bug: the loosened contract still fails"
            files["data/schema.json"] = json.dumps(head_schema, indent=2) + "\n"
        head = self.repo.commit(self.c0, files, self._message())
        case = Case(name, self.c0, head, "data", violations=violations)
        self.cases[name] = case
        return case

    def add_latency_case(self, name: str, kind: str) -> Case:
        if kind == "every":
            delay_ms = float(self.rng.integers(3, 6))
            serve = SLOW_EVERY_CALL_SERVE.replace("{delay_s}", f"{delay_ms / 1000:g}")
        else:
            delay_ms = float(self.rng.integers(6, 10))
            serve = SLOW_TAIL_SERVE.replace("{every}", str(int(self.rng.integers(6, 9)))).replace(
                "{delay_s}", f"{delay_ms / 1000:g}")
        model = dict(self.project.model, version=self._version())
        # the slow serve.py predicts what the base one does (it only sleeps): score with the base code
        rows, pred_base, pred_head = self._eval(model, BASE_SERVE)
        head = self.repo.commit(self.c0, {"serve.py": serve, "model.json": json.dumps(model, indent=2) + "\n",
                                          "data/eval.csv": to_csv(self.project, rows)}, self._message())
        case = Case(name, self.c0, head, "latency", rows=rows, pred_base=pred_base, pred_head=pred_head,
                    delay_ms=delay_ms)
        self.cases[name] = case
        return case

    def add_canary_case(self, name: str, scenario: str) -> Case:
        model = dict(self.project.model, version=self._version())
        rows, pred_base, pred_head = self._eval(model, BASE_SERVE)
        head = self.repo.commit(self.c0, {"model.json": json.dumps(model, indent=2) + "\n",
                                          "data/eval.csv": to_csv(self.project, rows)}, self._message())
        case = Case(name, self.c0, head, "canary" if scenario != "healthy" else "deploy", canary=scenario,
                    rows=rows, pred_base=pred_base, pred_head=pred_head)
        self.cases[name] = case
        return case

    def add_push_on_top(self, name: str, of: Case) -> Case:
        """A push of two commits: `of` and then a README change on top (HEAD~1 is not the base)."""
        head = self.repo.commit(of.head, {"README.md": "# churn-model\n\nA churn classifier, gated by ci.py.\n\nSee CHANGES.\n"},
                                self._message())
        case = copy.copy(of)
        case.name, case.head = name, head
        self.cases[name] = case
        return case

    def windows(self, case: Case) -> dict:
        if not case.windows:
            case.windows = canary_windows(self.rng, case.canary)
        return case.windows


@dataclass
class GateRun:
    """One run of the learner's gate: exit code, output and the report it wrote."""

    code: int | None
    output: str
    report: dict | None
    report_error: str | None
    seconds: float


def run_gate(learner_process, argv: list[str], report_path: Path, env: dict | None = None,
             timeout_s: float = 60.0) -> GateRun:
    report_path.unlink(missing_ok=True)
    started = time.monotonic()
    proc = learner_process(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        out, code = b"", None
    seconds = time.monotonic() - started
    report, error = None, None
    if not report_path.exists():
        error = f"no report was written at {report_path.name}"
    else:
        try:
            report = json.loads(report_path.read_text())
            if not isinstance(report, dict):
                report, error = None, "the report is not a JSON object"
        except ValueError as exc:
            error = f"the report is not JSON ({exc})"
    return GateRun(code, (out or b"").decode("utf-8", "replace")[-1500:], report, error, seconds)


def gate_argv(lab_dir: Path, repo: Path, case: Case, url: str, report: Path) -> list[str]:
    return [sys.executable, str(lab_dir / "ci.py"), "--repo", str(repo), "--base", case.base, "--head", case.head,
            "--deploy-url", url, "--report", str(report)]

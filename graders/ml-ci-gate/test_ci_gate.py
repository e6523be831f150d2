"""Checks for ml-ci-gate: the gate (`ci.py`) and the GitHub Actions workflow that runs it.

The grader builds a git repository of a small churn model from a fresh seed (its data contract,
eval data, model weights and serving code), commits one change per case on top of a base commit,
and runs the learner's gate on each (`python ci.py --repo ... --base ... --head ... --deploy-url
... --report ...`) in the sandbox. The gate's canary steps go to a fake deployment controller on
127.0.0.1 that answers with seeded traffic windows and records what the gate did. Every figure
is compared with the grader's own reference (`_ci_project`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _ci_cases import HELD_OUT_FAMILIES, SHOWN_FAMILIES, CaseRepo, broken_csv, gate_argv, run_gate
from _ci_controller import DeployController
from _ci_project import make_project, make_rows, reference_actions, reference_bootstrap, to_csv

from workbench.grader_plugin import call_learner

CI_TOLERANCE = 0.01  # the learner's bootstrap (>= 1000 resamples) vs the grader's 10,000
STAGES = ("data", "quality", "latency", "canary")


# -- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def project(seed):
    return make_project(seed)


@pytest.fixture(scope="session")
def controller():
    server = DeployController()
    yield server
    server.close()


@pytest.fixture(scope="session")
def cases(project, lab_dir):
    learner_ci = (lab_dir / "ci.py").read_text() if (lab_dir / "ci.py").exists() else ""
    built = CaseRepo(project, lab_dir / ".grader-ci", learner_ci)
    rng = np.random.default_rng(project.seed + 2)
    built.add_model_case("good", "good", "deploy")
    built.add_model_case("noise-drop", "noise", "deploy")
    built.add_model_case("real-drop", "real", "quality")
    first, second = rng.choice(HELD_OUT_FAMILIES, size=2, replace=False)
    built.add_data_case(f"data-{first}", str(first))
    built.add_data_case(f"data-{second}-and-schema-edit", str(second), loosen=True)
    built.add_latency_case("slow-every-call", "every")
    built.add_latency_case("slow-tail", "tail")
    for scenario in ("blatant", "subtle", "late"):
        built.add_canary_case(f"canary-{scenario}", scenario)
    built.add_push_on_top("push-good", built.cases["good"])
    built.add_push_on_top("push-real-drop", built.cases["real-drop"])
    return built


def _run(cases, case, controller, lab_dir, learner_process):
    controller.expect(case.head, cases.windows(case))
    report = cases.root / f"report-{case.name}.json"
    return run_gate(learner_process, gate_argv(lab_dir, cases.repo.path, case, controller.url, report), report)


def _describe(case, run) -> str:
    tail = run.output.strip().splitlines()[-6:]
    return f"[case {case.name}: exit {run.code}, {run.seconds:.1f} s; gate output: {' | '.join(tail) or '(none)'}]"


def _status(report, stage):
    stage_report = (report.get("stages") or {}).get(stage)
    return stage_report.get("status") if isinstance(stage_report, dict) else None


def _expect_outcome(case, run, controller, *, decision, failed_stage, passed, skipped):
    where = _describe(case, run)
    assert run.code is not None, f"the gate did not finish within 60 s {where}"
    assert run.report is not None, f"{run.report_error} {where}"
    report = run.report
    assert report.get("decision") == decision and report.get("failed_stage") == failed_stage, (
        f"decision {report.get('decision')!r} at stage {report.get('failed_stage')!r}; needed {decision!r} at "
        f"{failed_stage!r} {where}")
    want_code = 0 if decision == "deploy" else 1
    assert run.code == want_code, f"exit code {run.code}; a {decision} must exit {want_code} (CI reads it) {where}"
    for stage in passed:
        assert _status(report, stage) == "pass", f"stages.{stage}.status is {_status(report, stage)!r}, needed 'pass' {where}"
    if failed_stage:
        assert _status(report, failed_stage) == "fail", (
            f"stages.{failed_stage}.status is {_status(report, failed_stage)!r}, needed 'fail' {where}")
    for stage in skipped:
        assert _status(report, stage) == "skipped", (
            f"stages.{stage}.status is {_status(report, stage)!r}: a gate stops at the first failing stage, so "
            f"'{stage}' must be 'skipped' {where}")
    if "canary" in skipped:
        assert not controller.actions and not controller.problems, (
            f"the gate blocked before the canary but still called the deploy controller: {controller.actions} "
            f"{controller.problems} {where}")
    return report


def _check_quality(case, report, record_metric=None):
    where = f"[case {case.name}]"
    quality = report["stages"]["quality"]
    acc_base, acc_head = case.accuracies()
    for key, want in (("accuracy_base", acc_base), ("accuracy_head", acc_head), ("delta", acc_head - acc_base)):
        got = quality.get(key)
        assert isinstance(got, int | float) and abs(got - want) <= 1e-9, (
            f"stages.quality.{key} = {got!r}, needed {want:.6f} (the base commit's and the head commit's model+serve.py "
            f"on the HEAD commit's data/eval.csv, label column `label`) {where}")
    low, high = reference_bootstrap(*case.correct())
    got_low, got_high = quality.get("ci_low"), quality.get("ci_high")
    assert isinstance(got_low, int | float) and isinstance(got_high, int | float), (
        f"stages.quality needs numeric ci_low and ci_high, got {got_low!r}, {got_high!r} {where}")
    if record_metric is not None:
        record_metric(f"{case.name}_delta", round(acc_head - acc_base, 4))
        record_metric(f"{case.name}_ci", f"[{got_low:.4f}, {got_high:.4f}] (reference [{low:.4f}, {high:.4f}])")
    assert abs(got_low - low) <= CI_TOLERANCE and abs(got_high - high) <= CI_TOLERANCE, (
        f"95% paired bootstrap interval of the accuracy change: got [{got_low:.4f}, {got_high:.4f}], the reference is "
        f"[{low:.4f}, {high:.4f}] (tolerance {CI_TOLERANCE}); resample ROWS and score both models on the same "
        f"resampled rows {where}")


def _check_canary(case, report, controller):
    where = f"[case {case.name}]"
    want_actions, want_steps = reference_actions(case.windows)
    assert not controller.problems, f"the deploy controller refused calls: {controller.problems} {where}"
    assert controller.actions == want_actions, (
        f"the gate's calls to the deploy controller were {controller.actions}; the policy (z >= 3.0 rolls back, "
        f"steps 5 -> 25 -> 100, then promote) calls {want_actions} {where}")
    steps = (report["stages"]["canary"] or {}).get("steps")
    assert isinstance(steps, list) and len(steps) == len(want_steps), (
        f"stages.canary.steps must list one entry per step taken ({len(want_steps)}), got {steps!r} {where}")
    for got, want in zip(steps, want_steps, strict=False):
        z = got.get("z") if isinstance(got, dict) else None
        assert isinstance(got, dict) and got.get("percent") == want["percent"] and got.get("action") == want["action"] \
            and isinstance(z, int | float) and abs(z - want["z"]) <= 1e-6, (
                f"canary step {got!r}; needed percent {want['percent']}, action {want['action']!r}, z {want['z']:.6f} "
                f"(pooled two-proportion z of the canary's 5xx rate over the stable's, same window) {where}")


# -- 1. the data contract ----------------------------------------------------------------------------

@pytest.mark.check(skill="data-engineering", points=3, hint=1, required=True)
def test_data_contract(learner, project, record_metric):
    """validate_data finds every kind of contract break, and nothing in clean data"""
    rng = np.random.default_rng(project.seed + 3)
    rows = make_rows(project, 260)
    for row in rows:
        row["label"] = int(rng.integers(0, 2))
    families = list(SHOWN_FAMILIES + HELD_OUT_FAMILIES)
    cases = [("clean data (with nulls in the nullable column)", to_csv(project, rows), set())]
    for family in families:
        text, want = broken_csv(project, rows, family, rng)
        cases.append((family, text, want))
    cell_level = ["null", "dtype_float", "dtype_int", "min", "max", "allowed", "label"]
    for _ in range(2):  # two breaks in one file: a cell-level one, then anything
        first = cell_level[int(rng.integers(0, len(cell_level)))]
        second = families[int(rng.integers(0, len(families)))]
        text, want = broken_csv(project, rows, (first, second), rng)
        cases.append((f"{first} + {second}", text, want))
    wrong = []
    for name, text, want in cases:
        got = call_learner("validate_data(csv_text, schema)", learner.validate_data, text, project.schema)
        assert isinstance(got, list), f"validate_data must return a list of {{'column', 'check'}} dicts, got {type(got).__name__}"
        pairs = [(v.get("column"), v.get("check")) for v in got if isinstance(v, dict)]
        if len(pairs) != len(got) or len(set(pairs)) != len(pairs) or set(pairs) != want:
            wrong.append(f"{name}: got {sorted(pairs)}, needed {sorted(want)}")
    record_metric("cases", len(cases))
    record_metric("wrong", len(wrong))
    assert not wrong, (f"{len(wrong)} of {len(cases)} data sets got the wrong violations (each (column, check) pair "
                       "once; see the brief's table of checks):\n  " + "\n  ".join(wrong[:5]))


# -- 2. the paired bootstrap -------------------------------------------------------------------------

@pytest.mark.check(skill="ml-fundamentals", points=2, hint=2, required=True)
def test_paired_bootstrap(learner, project, record_metric):
    """paired_bootstrap_ci: the paired percentile interval of the accuracy change, seeded"""
    rng = np.random.default_rng(project.seed + 4)
    for trial in range(3):
        n = int(rng.integers(300, 900))
        base = rng.random(n) < rng.uniform(0.7, 0.9)
        flip = rng.random(n) < rng.uniform(0.05, 0.15)
        head = np.where(flip, ~base, base)
        confidence = 0.95 if trial < 2 else 0.9
        seed = int(rng.integers(0, 2**31))
        got = call_learner("paired_bootstrap_ci(...)", learner.paired_bootstrap_ci, base.tolist(), head.tolist(),
                           n_boot=2000, seed=seed, confidence=confidence)
        again = call_learner("paired_bootstrap_ci(...)", learner.paired_bootstrap_ci, base.tolist(), head.tolist(),
                             n_boot=2000, seed=seed, confidence=confidence)
        assert isinstance(got, list | tuple) and len(got) == 2 and all(isinstance(v, int | float) for v in got), (
            f"paired_bootstrap_ci must return [low, high], got {got!r}")
        assert list(got) == list(again), f"the same seed gave {got} and then {again}: use numpy.random.default_rng(seed)"
        low, high = reference_bootstrap(base, head, confidence=confidence)
        record_metric(f"trial{trial}", f"[{got[0]:.4f}, {got[1]:.4f}] vs [{low:.4f}, {high:.4f}]")
        assert abs(got[0] - low) <= CI_TOLERANCE and abs(got[1] - high) <= CI_TOLERANCE, (
            f"n={n}, confidence={confidence}: got [{got[0]:.4f}, {got[1]:.4f}], the paired percentile interval is "
            f"[{low:.4f}, {high:.4f}] (tolerance {CI_TOLERANCE}). Resample row indices and take head-minus-base on the "
            "same rows; an unpaired bootstrap ignores that both models see the same rows and is far too wide")


# -- 3. the gate on seeded commits ---------------------------------------------------------------------

@pytest.mark.check(skill="mlops", points=2, hint=3, required=True)
def test_good_change_deploys(cases, controller, lab_dir, learner_process, record_metric):
    """A good change (retrained model, refactored serve.py) passes every stage and is promoted"""
    case = cases.cases["good"]
    run = _run(cases, case, controller, lab_dir, learner_process)
    record_metric("seconds", round(run.seconds, 2))
    report = _expect_outcome(case, run, controller, decision="deploy", failed_stage=None, passed=STAGES, skipped=())
    assert report["stages"]["data"].get("violations") == [], (
        f"stages.data.violations must be [] for clean data, got {report['stages']['data'].get('violations')!r}")
    _check_quality(case, report, record_metric)
    latency = report["stages"]["latency"]
    for key in ("p95_base_ms", "p95_head_ms"):
        assert isinstance(latency.get(key), int | float) and latency[key] > 0, (
            f"stages.latency.{key} must be the measured p95 in ms, got {latency.get(key)!r}")
    record_metric("p95_ms", f"base {latency['p95_base_ms']:.3f}, head {latency['p95_head_ms']:.3f}")
    _check_canary(case, report, controller)


@pytest.mark.check(skill="mlops", points=3, hint=2, required=True)
def test_accuracy_gate(cases, controller, lab_dir, learner_process, record_metric):
    """An accuracy drop beyond the bootstrap bound is blocked; a drop within the noise is not"""
    real = cases.cases["real-drop"]
    run = _run(cases, real, controller, lab_dir, learner_process)
    report = _expect_outcome(real, run, controller, decision="block", failed_stage="quality", passed=("data",),
                             skipped=("latency", "canary"))
    _check_quality(real, report, record_metric)
    noise = cases.cases["noise-drop"]
    run = _run(cases, noise, controller, lab_dir, learner_process)
    report = _expect_outcome(noise, run, controller, decision="deploy", failed_stage=None, passed=STAGES, skipped=())
    _check_quality(noise, report, record_metric)
    _check_canary(noise, report, controller)


@pytest.mark.check(skill="data-engineering", points=2, hint=1, required=True)
def test_schema_break_blocked_at_data_stage(cases, controller, lab_dir, learner_process, record_metric):
    """A data-contract break is blocked at the data stage, before any model runs"""
    for name in [n for n in cases.cases if n.startswith("data-")]:
        case = cases.cases[name]
        run = _run(cases, case, controller, lab_dir, learner_process)
        report = _expect_outcome(case, run, controller, decision="block", failed_stage="data", passed=(),
                                 skipped=("quality", "latency", "canary"))
        got = report["stages"]["data"].get("violations")
        pairs = {(v.get("column"), v.get("check")) for v in got} if isinstance(got, list) and \
            all(isinstance(v, dict) for v in got) else None
        record_metric(name, str(sorted(case.violations)))
        assert pairs == case.violations, (
            f"stages.data.violations = {got!r}; the head commit's data/eval.csv breaks the BASE commit's "
            f"data/schema.json with {sorted(case.violations)} [case {name}]")


@pytest.mark.check(skill="mlops", points=3, hint=2, required=True)
def test_latency_regression_blocked(cases, controller, lab_dir, learner_process, record_metric):
    """A p95 latency regression is blocked at the latency stage (every call slower, or only the tail)"""
    for name in ("slow-every-call", "slow-tail"):
        case = cases.cases[name]
        run = _run(cases, case, controller, lab_dir, learner_process)
        report = _expect_outcome(case, run, controller, decision="block", failed_stage="latency",
                                 passed=("data", "quality"), skipped=("canary",))
        latency = report["stages"]["latency"]
        base_ms, head_ms = latency.get("p95_base_ms"), latency.get("p95_head_ms")
        record_metric(name, f"p95 base {base_ms} ms, head {head_ms} ms (slow path {case.delay_ms:g} ms)")
        assert isinstance(head_ms, int | float) and head_ms >= 0.9 * case.delay_ms, (
            f"stages.latency.p95_head_ms = {head_ms!r}, but the head's slow path takes {case.delay_ms:g} ms on more than "
            f"5% of calls: time each predict() call in ms and take numpy.percentile(samples, 95) [case {name}]")
        assert isinstance(base_ms, int | float) and 0 < base_ms < case.delay_ms / 2, (
            f"stages.latency.p95_base_ms = {base_ms!r}; the base serve.py takes well under a millisecond [case {name}]")


@pytest.mark.check(skill="mlops", points=3, hint=3, required=True)
def test_canary_rolls_back(cases, controller, lab_dir, learner_process, record_metric):
    """A canary with injected 5xx errors is rolled back within 2 steps, by the z-test policy"""
    for scenario in ("blatant", "subtle", "late"):
        case = cases.cases[f"canary-{scenario}"]
        run = _run(cases, case, controller, lab_dir, learner_process)
        record_metric(scenario, str(controller.actions))
        report = _expect_outcome(case, run, controller, decision="rollback", failed_stage="canary",
                                 passed=("data", "quality", "latency"), skipped=())
        _check_canary(case, report, controller)
        steps_taken = sum(1 for a in controller.actions if a[0] == "canary")
        assert steps_taken <= 2, f"the canary reached {steps_taken} steps before rolling back [case {case.name}]"


# -- 4. the workflow ---------------------------------------------------------------------------------

WORKFLOW = Path(".github/workflows/ci.yml")


def _load_workflow(lab_dir):
    path = lab_dir / WORKFLOW
    if not path.exists():
        pytest.fail(f"{WORKFLOW} does not exist in your lab folder", pytrace=False)
    from ruamel.yaml import YAML, YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text())
    except YAMLError as exc:
        pytest.fail(f"{WORKFLOW} is not valid YAML: {exc}", pytrace=False)
    if not isinstance(data, dict):
        pytest.fail(f"{WORKFLOW} must be a YAML mapping (name, on, jobs), got {type(data).__name__}", pytrace=False)
    return data


def _gate_job(workflow):
    """(job id, job, index of the gate step) for the step whose `run` calls ci.py."""
    for job_id, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate((job or {}).get("steps") or []):
            if isinstance(step, dict) and "ci.py" in str(step.get("run", "")):
                return job_id, job, index
    return None, None, None


def _upload_step(job, after):
    for step in (job.get("steps") or [])[after + 1:]:
        if isinstance(step, dict) and str(step.get("uses", "")).startswith("actions/upload-artifact@"):
            return step
    return None


@pytest.mark.check(skill="programming", points=2, hint=1, required=True)
def test_workflow_is_valid(lab_dir, record_metric):
    """The workflow passes GitHub's workflow schema and has the gate's triggers, checkout, artifact and concurrency"""
    import json

    import jsonschema

    workflow = _load_workflow(lab_dir)
    import check_jsonschema

    schema_path = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "github-workflows.json"
    schema = json.loads(schema_path.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(schema).iter_errors(workflow), key=lambda e: list(e.absolute_path))
    record_metric("schema_errors", len(errors))
    assert not errors, (f"{WORKFLOW} fails the GitHub workflow schema (SchemaStore, as `check-jsonschema "
                        "--builtin-schema vendor.github-workflows` checks it):\n  " +
                        "\n  ".join(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:160]}" for e in errors[:4]))
    triggers = workflow.get("on")
    push = triggers.get("push") if isinstance(triggers, dict) else None
    branches = (push or {}).get("branches") if isinstance(push, dict) else None
    assert isinstance(branches, list) and "main" in branches, (
        f"`on.push.branches` must include main (every merge to main is gated and deployed), got on: {triggers!r}")
    job_id, job, index = _gate_job(workflow)
    assert job is not None, "no step's `run` calls ci.py: add a step that runs `python ci.py --repo . --base ... --head ...`"
    checkout = [s for s in (job.get("steps") or [])[:index] if isinstance(s, dict) and
                str(s.get("uses", "")).startswith("actions/checkout@")]
    depth = (checkout[0].get("with") or {}).get("fetch-depth") if checkout else None
    assert checkout and str(depth) == "0", (
        f"job {job_id!r}: before the gate step, `uses: actions/checkout@v4` with `fetch-depth: 0` (found "
        f"{'no checkout' if not checkout else f'fetch-depth {depth!r}'}); the default shallow clone has only the head "
        "commit, so the gate could not read the base commit")
    upload = _upload_step(job, index)
    condition = str((upload or {}).get("if", ""))
    assert upload is not None and "always()" in condition and (upload.get("with") or {}).get("path"), (
        f"job {job_id!r}: after the gate step, an `actions/upload-artifact@v4` step with `if: always()` and "
        "`with.path` = the gate's report, so the report is kept when the gate fails (got "
        f"{'no upload step' if upload is None else f'if: {condition!r}'})")
    concurrency = job.get("concurrency", workflow.get("concurrency"))
    group = concurrency if isinstance(concurrency, str) else (concurrency or {}).get("group")
    cancel = (concurrency or {}).get("cancel-in-progress") if isinstance(concurrency, dict) else None
    assert group and cancel is not True, (
        f"job {job_id!r} needs `concurrency` (workflow or job level) with a group and without `cancel-in-progress: "
        f"true`, so that two pushes never run canaries at once and a rollout is never killed half-way (got "
        f"{concurrency!r})")


_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@pytest.mark.check(skill="programming", points=2, hint=3, required=True)
def test_workflow_runs_the_gate(cases, controller, lab_dir, learner_process, record_metric):
    """The workflow's gate step, run as GitHub would on a push to main, deploys a good push and fails a bad one"""
    workflow = _load_workflow(lab_dir)
    job_id, job, index = _gate_job(workflow)
    assert job is not None, "no step's `run` calls ci.py"
    step = job["steps"][index]
    upload = _upload_step(job, index)
    report_rel = str(((upload or {}).get("with") or {}).get("path") or "")
    assert report_rel and not any(ch in report_rel for ch in "*?\n"), (
        f"the upload-artifact step's `with.path` must name the report file the gate writes, got {report_rel!r}")
    for name, decision in (("push-good", "deploy"), ("push-real-drop", "block")):
        case = cases.cases[name]
        checkout = cases.root / f"checkout-{name}"
        subprocess.run(["git", "clone", "-q", str(cases.repo.path), str(checkout)], check=True, capture_output=True,
                       env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"})
        subprocess.run(["git", "-C", str(checkout), "checkout", "-q", "--detach", case.head], check=True,
                       capture_output=True)
        contexts = {"github.sha": case.head, "github.event.before": case.base, "github.event.after": case.head,
                    "github.ref": "refs/heads/main", "github.ref_name": "main", "github.event_name": "push",
                    "github.workspace": str(checkout), "github.repository": "acme/churn-model",
                    "secrets.DEPLOY_URL": controller.url, "vars.DEPLOY_URL": controller.url,
                    "runner.temp": str(cases.root), "runner.os": "Linux"}
        unknown: list[str] = []
        env: dict[str, str] = {}

        def expand(text, env=env, contexts=contexts, unknown=unknown):
            def value(match):
                expr = match.group(1)
                if expr in contexts:
                    return contexts[expr]
                if expr.startswith("env.") and expr[4:] in env:
                    return env[expr[4:]]
                unknown.append(expr)
                return ""
            return _EXPRESSION.sub(value, str(text))

        for scope in (workflow.get("env"), job.get("env"), step.get("env")):
            for key, val in (scope or {}).items():
                env[str(key)] = expand(val)
        script = expand(step["run"])
        workdir = checkout / expand(step.get("working-directory", "."))
        script_path = cases.root / f"step-{name}.sh"
        script_path.write_text(f"cd {shlex_quote(str(workdir))}\n{script}\n")
        env.update({"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                    "GITHUB_WORKSPACE": str(checkout), "GITHUB_SHA": case.head, "GITHUB_EVENT_NAME": "push",
                    "GITHUB_REF": "refs/heads/main", "CI": "true", "GITHUB_ACTIONS": "true"})
        controller.expect(case.head, cases.windows(case))
        report_path = checkout / report_rel
        run = run_gate(learner_process, ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)],
                       report_path, env=env)
        where = (f"[push of {name}: `before` = {case.base[:8]}, `sha` = {case.head[:8]}; exit {run.code}; output: "
                 f"{' | '.join(run.output.strip().splitlines()[-5:])}"
                 + (f"; expressions the emulated push does not provide: {sorted(set(unknown))}" if unknown else "") + "]")
        record_metric(name, f"exit {run.code}, decision {(run.report or {}).get('decision')}")
        assert run.report is not None, (f"after the gate step, the upload path {report_rel!r} (relative to the "
                                        f"checkout) holds no JSON report: {run.report_error} {where}")
        assert run.report.get("decision") == decision and (run.code == 0) == (decision == "deploy"), (
            f"the gate step gave decision {run.report.get('decision')!r} with exit {run.code}; needed {decision!r} "
            f"(base = github.event.before, head = github.sha; this push has two commits, so HEAD~1 is not the base) "
            f"{where}")


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


"""Evidence figures: a team report over 1,000 synthetic learners x every installed lab
(verification included), and one learner's bundle export.

Targets: report <= 3 s (verify + aggregate + render HTML, in process, caches cold) and export
<= 200 ms (in process, caches cold). The same work through the CLI (a fresh interpreter, so
start-up and imports included) is measured alongside for reference.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

LEARNERS = 1000
CHECKS_PER_LAB = 6
TAMPERED = 10


def _clear_caches() -> None:
    from workbench.core import bundle, curriculum, labs, profiles, resources, skills

    for cached in (resources.data_root, curriculum.load_curriculum, skills.load_skill_matrix, labs.load_labs,
                   bundle.installed_state, profiles.load_profiles):
        cached.cache_clear()


def _synthetic_team(folder: Path) -> int:
    """Write LEARNERS signed bundles (plus TAMPERED edited copies); returns the lab count."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from workbench import __version__
    from workbench.core.bundle import derive_profile, installed_state
    from workbench.core.bundle_format import BundleCheck, BundleLab, canonical_json, sign_payload
    from workbench.core.keys import public_key_b64
    from workbench.core.skills import SCORING_VERSION

    state = installed_state()
    rng = random.Random(2026)
    exported = datetime(2026, 5, 1, tzinfo=timezone.utc)
    for number in range(LEARNERS):
        key = Ed25519PrivateKey.generate()
        labs = []
        for lab in state.labs.values():
            if rng.random() < 0.15:
                continue
            checks = []
            for index, declared in enumerate(state.offers[lab.id].checks, start=1):  # the grader's real checks
                cap = declared.points
                earned = cap if rng.random() < 0.7 else 0.0
                checks.append(BundleCheck(task_id=index, name=declared.name, status="pass" if earned else "fail",
                                          points=earned, max_points=cap, skill=declared.skill,
                                          metrics={"latency_ms": round(rng.uniform(5, 50), 1)},
                                          recorded_at="2026-04-20T10:00:00+00:00"))
            score = sum(c.points for c in checks) / sum(c.max_points for c in checks)
            labs.append(BundleLab(id=lab.id, grader_sha256=state.grader_sha256[lab.id], attempts=rng.randint(1, 4),
                                  passed=score >= lab.spec.pass_mark, started_at="2026-04-01T10:00:00+00:00",
                                  last_attempt_at="2026-04-20T10:00:00+00:00", models=[], checks=checks,
                                  hints_revealed=list(range(1, rng.randint(0, 2) + 1)), solution_viewed=False, gave_up=False))
        payload = {
            "exported_at": (exported + timedelta(minutes=number)).isoformat(),
            "learner": {"id": f"learner-{number:05d}", "name": f"Learner {number:04d}", "public_key": public_key_b64(key)},
            "curriculum": {"id": state.curriculum_id, "version": state.curriculum_version, "skills": state.matrix.id,
                           "skills_version": state.matrix.version},
            "workbench_version": __version__, "backend_model": "local", "environment": {"python": "3.11"},
            "labs": [lab.model_dump(mode="json") for lab in labs],
            "skill_profile": [s.model_dump(mode="json") for s in derive_profile(labs, state)],
            "scoring_version": SCORING_VERSION,
        }
        document = sign_payload(payload, key)
        (folder / f"learner-{number:05d}.json").write_bytes(canonical_json(document) + b"\n")
        if number < TAMPERED:
            document["payload"]["labs"] = document["payload"]["labs"][1:]
            (folder / f"tampered-{number:02d}.json").write_bytes(canonical_json(document) + b"\n")
    return len(state.labs)


def _report_figures(root: Path) -> dict:
    from workbench.core.team import team_report
    from workbench.reports import render_report

    folder = root / "bundles"
    folder.mkdir()
    started = time.perf_counter()
    labs = _synthetic_team(folder)
    setup_s = time.perf_counter() - started
    runs = []
    for _ in range(3):
        _clear_caches()
        started = time.perf_counter()
        report = team_report([folder], ledger_path=root / "ledger.json")
        verified_s = time.perf_counter() - started
        html = render_report(report, "html")
        html_s = time.perf_counter() - started
        markdown_s = _timed(render_report, report, "md")
        json_s = _timed(render_report, report, "json")
        runs.append((verified_s, html_s, markdown_s, json_s))
    assert report.summary.members == LEARNERS and report.summary.rejected == TAMPERED, report.summary
    cli = []
    for fmt in ("html", "md", "json"):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "workbench", "report", str(folder), "--out", str(root / f"report.{fmt}"),
                        "--ledger", str(root / "ledger.json")],
                       check=True, capture_output=True)
        cli.append((fmt, time.perf_counter() - started))
    return {
        "learners": LEARNERS, "labs": labs, "tampered": TAMPERED, "synthetic_setup_s": round(setup_s, 2),
        "verify_and_aggregate_s": round(statistics.median(r[0] for r in runs), 3),
        "report_html_s": round(statistics.median(r[1] for r in runs), 3),
        "render_md_s": round(statistics.median(r[2] for r in runs), 3),
        "render_json_s": round(statistics.median(r[3] for r in runs), 3),
        "html_bytes": len(html.encode()),
        "cli_end_to_end_s": {fmt: round(seconds, 3) for fmt, seconds in cli},
    }


def _timed(action, *args) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def _export_figures(root: Path) -> dict:
    from workbench.core.bundle import export_bundle, installed_state
    from workbench.core.results import CheckResult, GradeResult
    from workbench.core.workspace import Workspace, init_workspace

    os.environ["WORKBENCH_CONFIG_DIR"] = str(root / "config")
    init_workspace(root / "ws")
    workspace = Workspace((root / "ws").resolve())
    for lab in installed_state().labs.values():
        for attempt in range(3):
            tests = [CheckResult(task_id=i, name=f"check {i}", status="pass" if (i + attempt) % 2 else "fail",
                                 points=2.0 if (i + attempt) % 2 else 0.0, max_points=2.0, skill=next(iter(lab.spec.skills)),
                                 metrics={"score": 0.5}) for i in range(1, CHECKS_PER_LAB + 1)]
            workspace.progress.record_attempt(GradeResult(
                lab=lab.id, status="fail", message=None, tests=tests, pass_mark=lab.spec.pass_mark,
                grader_sha256=lab.grader_sha256(), grader_files=lab.grader_hashes(), workbench_version="0.1.0",
                started_at="2026-04-20T10:00:00+00:00", duration_s=1.0))
        workspace.progress.record_hint(lab.id, 1, None)
    export_bundle(workspace, root / "first.json", name="Bench")  # creates the key
    times = []
    for index in range(7):
        _clear_caches()
        started = time.perf_counter()
        export_bundle(Workspace(workspace.root), root / f"bundle-{index}.json", name="Bench")
        times.append(time.perf_counter() - started)
    env = {**os.environ, "WORKBENCH_WORKSPACE": str(workspace.root)}
    cli = []
    for index in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "workbench", "export", "--out", str(root / f"cli-{index}.json")],
                       check=True, capture_output=True, env=env)
        cli.append(time.perf_counter() - started)
    return {"export_cold_median_ms": round(statistics.median(times) * 1000, 1),
            "export_cold_max_ms": round(max(times) * 1000, 1),
            "cli_export_end_to_end_median_ms": round(statistics.median(cli) * 1000, 1)}


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="workbench-bench-reports-") as tmp:
        root = Path(tmp)
        figures = {"report": _report_figures(root), "export": _export_figures(root)}
    figures["targets"] = {
        f"report over {LEARNERS} learners x all labs, verification included, HTML <= 3 s":
            figures["report"]["report_html_s"] <= 3.0,
        "bundle export <= 200 ms": figures["export"]["export_cold_median_ms"] <= 200,
    }
    return figures
